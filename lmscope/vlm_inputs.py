"""A prompt and its images as a VLM's processor takes them, on the model's device.

LLaVA models take one `<image>` placeholder per frame. InstructBLIP's processor places its query tokens itself
and takes one image per prompt, so the frames of a multi-frame question (LingoQA) are tiled side by side.
"""

from __future__ import annotations

import torch
from PIL import Image


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
