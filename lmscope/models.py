"""Load a checkpoint — a step of a model trained here, a local directory, or a hub repo at a revision — with one
function, `from_pretrained` underneath, and choose device and dtype.

A model trained here is saved with `save_pretrained`, so it takes exactly the path a hub checkpoint takes.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import (AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText, AutoProcessor,
                          InstructBlipProcessor)

from lmscope.errors import InputError
from lmscope.hub import from_pretrained

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_device(device: str = "auto") -> torch.device:
    """`auto` is CUDA when present, else CPU; asking for CUDA where there is none is an error, not a fallback."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"config key device: {device!r} asked for, but torch sees no CUDA device")
    return torch.device(device)


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """`auto` is bfloat16 on CUDA and float32 on CPU (METHODS conventions)."""
    if dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return DTYPES[dtype]


def checkpoint_source(entry: dict) -> tuple[str, str | None]:
    """(path or repo id, revision) of a checkpoint entry {path} or {repo, revision}."""
    if "path" in entry:
        path = Path(entry["path"])
        if not (path / "config.json").is_file():
            raise InputError(f"checkpoint {entry.get('name', path)}: no model at {path} (no config.json)")
        return str(path), None
    return entry["repo"], entry.get("revision", "main")


def load_causal_lm(entry: dict, device: torch.device, dtype: torch.dtype):
    """A causal LM in eval mode on `device`, from a checkpoint entry {path} or {repo, revision}."""
    source, revision = checkpoint_source(entry)
    model = from_pretrained(AutoModelForCausalLM, source, revision, f"checkpoint {entry.get('name', source)}",
                            dtype=dtype)
    return model.to(device).eval()


def vlm_config(entry: dict):
    """A VLM's config alone (sizes and context), read before the weights are loaded."""
    source, revision = checkpoint_source(entry)
    return from_pretrained(AutoConfig, source, revision, f"VLM {entry.get('name', source)}")


def load_processor(entry: dict, model_type: str):
    """A VLM's processor. InstructBLIP's is built as InstructBlipProcessor whatever processor_class the hub's
    files name: Salesforce/instructblip-vicuna-7b's processor_config.json names InstructBlipVideoProcessor, which
    AutoProcessor would build, and its pixel values are 5-D video frames the image model does not take."""
    source, revision = checkpoint_source(entry)
    loader = InstructBlipProcessor if model_type == "instructblip" else AutoProcessor
    return from_pretrained(loader, source, revision, f"VLM {entry.get('name', source)}")


def load_vlm(entry: dict, device: torch.device, dtype: torch.dtype):
    """A vision-language model in eval mode on `device`, from {path} (e.g. the tiny LLaVA trained here) or
    {repo, revision}. Its processor comes apart (load_processor): the stages build every input with it before
    the weights are loaded."""
    source, revision = checkpoint_source(entry)
    model = from_pretrained(AutoModelForImageTextToText, source, revision, f"VLM {entry.get('name', source)}",
                            dtype=dtype)
    return model.to(device).eval()
