"""A prompt and its images as a VLM's processor takes them, on the model's device: the one place that builds VLM
inputs, for counting neurons (the identification prompt) and for answering (the evaluation prompt).

LLaVA models take one `<image>` placeholder per frame. InstructBLIP's processor places its query tokens itself
and takes one image per prompt, so the frames of a multi-frame question (LingoQA) are tiled side by side.
"""

from __future__ import annotations

import torch
from PIL import Image

from lmscope.mmneuron import prompts
from lmscope.mmneuron.domains import open_images


def tiled(frames: list[Image.Image]) -> Image.Image:
    """Frames side by side in one image."""
    width, height = sum(f.width for f in frames), max(f.height for f in frames)
    out = Image.new("RGB", (width, height))
    x = 0
    for f in frames:
        out.paste(f, (x, 0))
        x += f.width
    return out


def processed(family: str, processor, images: list[Image.Image], text: str):
    """Processor outputs (CPU tensors) for one prompt with its images."""
    if family == "instructblip":
        return processor(images=tiled(images) if len(images) > 1 else images[0], text=text, return_tensors="pt")
    return processor(images=images, text=text, return_tensors="pt")


def on_device(inputs, device: torch.device, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Inputs moved to the model: pixel values (floating) in the model's dtype, ids and masks as they are."""
    return {k: (v.to(device, dtype) if v.is_floating_point() else v.to(device)) for k, v in inputs.items()}


def identification_inputs(family: str, processor, images: list[Image.Image], question: str):
    """Processor outputs (CPU tensors) for the identification prompt: one placeholder per frame, or the frames
    tiled for InstructBLIP. Left on the CPU: neuron counting reads their length before the model sees them."""
    return processed(family, processor, images, prompts.identification(question, len(images), family))


def evaluation_inputs(family: str, processor, row: dict, role: str, device: torch.device, dtype: torch.dtype):
    """The evaluation prompt of table 5 for one record (a row of a domain's samples), as model inputs."""
    images = open_images(row["images"])
    text = prompts.evaluation(family, row["question"], row["choices"] or None, role, len(images))
    return on_device(processed(family, processor, images, text), device, dtype)
