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
from pathlib import Path

import numpy as np
import polars as pl
import torch
import zarr

from lmscope.atomic import atomic_path
from lmscope.errors import InputError
from lmscope.mmneuron.domains import open_images
from lmscope.mmneuron.mlp_neurons import NeuronHooks
from lmscope.mmneuron.vlm_inputs import identification_inputs, on_device
from lmscope.models import load_vlm, resolve_device, resolve_dtype

log = logging.getLogger(__name__)


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


def run(*, samples: str, counts: str, model: dict, budget: int, split: str, device: str, dtype: str, domain: str,
        threads: int) -> dict:
    """counts.zarr of one VLM (`model`: {name, path} or {name, repo, revision}) on the `split` of one domain's
    samples directory, with `threads` torch threads."""
    torch.set_num_threads(threads)
    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    vlm, processor, family = load_vlm(model, dev, dt)
    result = count(vlm, processor, family, pl.read_parquet(Path(samples) / f"{split}.parquet"), budget, dev, dt)
    if result["exhausted"]:
        log.warning("%s: ran out of samples after %d language-model tokens, short of the budget %d", domain,
                    result["lm_tokens"], budget)
    log.info("%s: %d samples, %d language-model tokens, tokens per group %s", domain, result["samples"],
             result["lm_tokens"], result["tokens"])
    write(result, counts)
    return result
