"""Per-domain activation counts of every MLP neuron of a VLM (METHODS B2), written as one Zarr store per domain.

Each sample is fed alone with the identification prompt `<image>\\n{question}` — forward only, so no padding is
ever counted. A domain stops at the first sample that would take the language model past the token budget
(image and text tokens together), so every domain is counted on at most the same number of tokens; a domain
that runs out of samples first is recorded as such.

    counts.zarr/{group}     int64 [layers, neurons]: tokens on which each neuron was > 0
    attrs                   groups, tokens (per group: positions the module saw), lm_tokens, samples, budget,
                            exhausted
"""

from __future__ import annotations

import logging

import numpy as np
import polars as pl
import torch
import zarr
from PIL import Image

from lmscope import prompts
from lmscope.atomic import atomic_path
from lmscope.domains import open_images
from lmscope.errors import InputError
from lmscope.neurons import NeuronHooks
from lmscope.vlm_inputs import on_device, processed

log = logging.getLogger(__name__)


def identification_inputs(family: str, processor, images: list[Image.Image], question: str):
    """Processor outputs for the identification prompt (lmscope.vlm_inputs: one placeholder per frame, or the
    frames tiled for InstructBLIP)."""
    return processed(family, processor, images, prompts.identification(question, len(images), family))


@torch.no_grad()
def count(model, processor, family: str, table: pl.DataFrame, budget: int, device: torch.device,
          dtype: torch.dtype) -> dict:
    """Count over the table's samples in order until the next one would exceed `budget` language-model tokens."""
    if table.height == 0:
        raise InputError("no samples to count neurons on")
    hooks = NeuronHooks(model)
    lm_tokens = samples = 0
    exhausted = True
    try:
        for row in table.iter_rows(named=True):
            inputs = identification_inputs(family, processor, open_images(row["images"]), row["question"])
            n = int(inputs["input_ids"].shape[1])
            if lm_tokens + n > budget:
                exhausted = False
                break
            with hooks.counting():
                model(**on_device(inputs, device, dtype))
            lm_tokens += n
            samples += 1
    finally:
        hooks.remove()
    if samples == 0:
        raise InputError(f"config key neurons.token_budget: no sample fits in the token budget {budget} (the first "
                         f"needs {n} tokens)")
    counts = {g: np.stack([layers[i].numpy() for i in sorted(layers)]) for g, layers in hooks.counts.items()}
    return {"counts": counts, "tokens": dict(hooks.tokens), "lm_tokens": lm_tokens, "samples": samples,
            "budget": budget, "exhausted": exhausted}


def write(result: dict, path: str) -> None:
    with atomic_path(path) as tmp:
        root = zarr.open_group(str(tmp), mode="w")
        for group, counts in result["counts"].items():
            root.create_array(group, data=counts.astype(np.int64))
        root.attrs.update({k: v for k, v in result.items() if k != "counts"} | {"groups": list(result["counts"])})


def read(path: str) -> tuple[dict[str, np.ndarray], dict]:
    """(counts per group, attrs) of one counts.zarr."""
    root = zarr.open_group(str(path), mode="r")
    attrs = dict(root.attrs)  # the groups are listed there: Snakemake leaves a timestamp file in the store
    return {name: root[name][...] for name in attrs["groups"]}, attrs


def run(model_entry: dict, samples_path: str, out_path: str, budget: int, device: str, dtype: str,
        domain: str) -> dict:
    from lmscope.models import load_vlm, resolve_device, resolve_dtype

    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    model, processor, family = load_vlm(model_entry, dev, dt)
    result = count(model, processor, family, pl.read_parquet(samples_path), budget, dev, dt)
    if result["exhausted"]:
        log.warning("%s: ran out of samples after %d language-model tokens, short of the budget %d", domain,
                    result["lm_tokens"], budget)
    log.info("%s: %d samples, %d language-model tokens, tokens per group %s", domain, result["samples"],
             result["lm_tokens"], result["tokens"])
    write(result, out_path)
    return result
