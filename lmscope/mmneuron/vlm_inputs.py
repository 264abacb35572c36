"""A prompt and its images as a VLM's processor takes them: the one place that builds VLM inputs, for counting
neurons (the identification prompt) and for answering (the evaluation prompt).

A question with several frames (LingoQA) is shown to every VLM as one image by default (`frames: tile`), the
frames side by side, as the reference code does: LLaVA-NeXT spends about 2.9k language-model positions on each
image, so five separate frames would not fit Vicuna-7B's 4,096. `frames: separate` gives LLaVA models one
`<image>` per frame (the tiny LLaVA trained here learns that way); InstructBLIP's processor places its query
tokens itself and takes one image per prompt, so it always gets the tiled image.
"""

from __future__ import annotations

import torch
from PIL import Image

from lmscope.errors import InputError
from lmscope.mmneuron import prompts
from lmscope.mmneuron.records import open_images

FRAMES = ("tile", "separate")


def tiled(frames: list[Image.Image]) -> Image.Image:
    """Frames side by side in one image."""
    width, height = sum(f.width for f in frames), max(f.height for f in frames)
    out = Image.new("RGB", (width, height))
    x = 0
    for f in frames:
        out.paste(f, (x, 0))
        x += f.width
    return out


def shown(images: list[Image.Image], family: str, frames: str) -> list[Image.Image]:
    """The images the model is given for a question's frames: one tiled image, or the frames as they are."""
    if frames not in FRAMES:
        raise InputError(f"config key vlms[].frames: {frames!r}, not one of {', '.join(FRAMES)}")
    if len(images) > 1 and (frames == "tile" or family == "instructblip"):
        return [tiled(images)]
    return images


def processed(family: str, processor, images: list[Image.Image], text: str):
    """Processor outputs (CPU tensors) for one prompt with its images."""
    if family == "instructblip":
        return processor(images=images[0], text=text, return_tensors="pt")
    return processor(images=images, text=text, return_tensors="pt")


def on_device(inputs, device: torch.device, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Inputs moved to the model: pixel values (floating) in the model's dtype, ids and masks as they are."""
    return {k: (v.to(device, dtype) if v.is_floating_point() else v.to(device)) for k, v in inputs.items()}


def identification_inputs(family: str, processor, row: dict, frames: str):
    """Processor outputs (CPU tensors) for the identification prompt of one record (a row of a domain's
    samples): one placeholder per image shown."""
    images = shown(open_images(row["images"]), family, frames)
    return processed(family, processor, images, prompts.identification(row["question"], len(images), family))


def evaluation_inputs(family: str, processor, row: dict, role: str, frames: str):
    """Processor outputs (CPU tensors) for the evaluation prompt of table 5 for one record."""
    images = shown(open_images(row["images"]), family, frames)
    text = prompts.evaluation(family, row["question"], row["choices"] or None, role, len(images))
    return processed(family, processor, images, text)
