"""Per-domain activation counts of every MLP neuron of a VLM (METHODS B2), written as one Zarr store per domain.

Each sample is fed alone with the identification prompt `<image>\\n{question}` — forward only, so no padding is
ever counted. The samples are the split's in a seeded random order, one question per image by default (the
reference shuffles and keeps one question per image), until the budget is met (lmscope.mmneuron.sample_plan):
{samples: N} — the reference stops at 10K image-question pairs for both of the paper's models — or {tokens: N,
module: lm | vision}. A domain that runs out before its budget is recorded as exhausted and said in the log.

    counts.zarr/{group}     int64 [layers, neurons]: tokens on which each neuron was > 0
    attrs                   groups, tokens (per group: positions the module saw), lm_tokens, samples, budget,
                            exhausted, candidates, too_long, seed, distinct_images
"""

from __future__ import annotations

import logging
from functools import partial

import numpy as np
import torch
import zarr

from lmscope.atomic import atomic_path
from lmscope.errors import InputError
from lmscope.mmneuron.mlp_neurons import NeuronHooks
from lmscope.mmneuron.sample_plan import planned
from lmscope.mmneuron.samples import read_rows
from lmscope.mmneuron.vlm_inputs import identification_inputs, on_device
from lmscope.models import load_vlm, resolve_device, resolve_dtype

log = logging.getLogger(__name__)


@torch.no_grad()
def count(model, processor, family: str, rows, frames: str, device: torch.device, dtype: torch.dtype) -> dict:
    """Counts over every record of `rows`, each fed alone."""
    hooks = NeuronHooks(model)
    samples = 0
    try:
        for row in rows:
            with hooks.counting():
                model(**on_device(identification_inputs(family, processor, row, frames), device, dtype))
            samples += 1
    finally:
        hooks.remove()
    if samples == 0:
        raise InputError("no samples to count neurons on")
    counts = {g: np.stack([layers[i].numpy() for i in sorted(layers)]) for g, layers in hooks.counts.items()}
    return {"counts": counts, "tokens": dict(hooks.tokens), "samples": samples}


def write(result: dict, path: str) -> None:
    with atomic_path(path) as tmp:
        root = zarr.open_group(str(tmp), mode="w")
        for group, counts in result["counts"].items():
            root.create_array(group, data=counts.astype(np.int64))
        root.attrs.update({k: v for k, v in result.items() if k != "counts"} | {"groups": list(result["counts"])})


def read_attrs(path: str) -> dict:
    """The attrs of one counts.zarr: what its counts rest on, without the counts."""
    return dict(zarr.open_group(str(path), mode="r").attrs)


def read(path: str) -> tuple[dict[str, np.ndarray], dict]:
    """(counts per group, attrs) of one counts.zarr."""
    root = zarr.open_group(str(path), mode="r")
    attrs = dict(root.attrs)  # the groups are listed there: Snakemake leaves a timestamp file in the store
    return {name: root[name][...] for name in attrs["groups"]}, attrs


def run(*, samples: str, counts: str, model: dict, frames: str, budget: dict, split: str, seed: int,
        distinct_images: bool, context_overflow: str, device: str, dtype: str, domain: str, threads: int) -> dict:
    """counts.zarr of one VLM (`model`: {name, path} or {name, repo, revision}) on the `split` of one domain's
    samples directory, with `threads` torch threads; the samples are chosen and checked against the context
    before the model is loaded."""
    torch.set_num_threads(threads)
    processor, family, chosen = planned(model, samples, split, partial(identification_inputs, frames=frames), budget,
                                        domain, context_overflow, seed, distinct_images)
    if chosen.exhausted:
        log.warning("%s: ran out of samples (%d of %d candidates%s) short of the budget %s", domain,
                    len(chosen.positions), chosen.candidates, ", one per image" if distinct_images else "", budget)
    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    vlm = load_vlm(model, dev, dt)
    result = count(vlm, processor, family, read_rows(samples, split, chosen.positions), frames, dev, dt)
    result |= {"lm_tokens": chosen.tokens["lm"], "vision_tokens": chosen.tokens["vision"], "budget": budget,
               "exhausted": chosen.exhausted, "candidates": chosen.candidates, "too_long": len(chosen.too_long),
               "seed": seed, "distinct_images": distinct_images}
    if result["tokens"].get("lm", chosen.tokens["lm"]) != chosen.tokens["lm"]:
        log.warning("%s: the language model saw %d positions, %d were planned", domain, result["tokens"]["lm"],
                    chosen.tokens["lm"])
    log.info("%s: %d samples, %d language-model tokens, tokens per group %s", domain, result["samples"],
             result["lm_tokens"], result["tokens"])
    write(result, counts)
    return result
