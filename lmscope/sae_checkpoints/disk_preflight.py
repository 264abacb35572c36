"""Before any extraction starts, one check that the disk holds every activation store the run plans to write.

Extraction jobs running side by side each see the same free space, so a check inside each job passes for all of
them and the disk fills hours later. This one sums the stores first. A store is [documents x tokens_per_doc, d]
of the store dtype: the rows per split from the corpus's tokens.zarr, d from the model (the train block of a
model trained here, else the config.json of its last checkpoint: a model's checkpoints share one architecture).
How much zstd saves is known only once written, so a store is estimated at its raw size times
`COMPRESSED_SHARE` (measured on the tiny LM's float16 rows), and the disk must hold that plus 5% (`HEADROOM`).

A store that exists with the planned shape and dtype is complete (outputs appear whole) and counts nothing: it is
either kept, or replaced by a rerun only after Snakemake has removed it. With `activations.keep` true every store
stays, so the missing ones count together; with false a checkpoint's stores are deleted once their readers are
done, and a run that takes turns on one GPU finishes those readers before extracting the next checkpoint (their
Snakemake priority is higher), so only the largest checkpoint's missing stores count (README, Disk for
activations, says where that does not hold).
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import zarr
from transformers import AutoConfig

from lmscope.atomic import atomic_path
from lmscope.errors import InputError
from lmscope.hub import from_pretrained
from lmscope.models import checkpoint_source
from lmscope.sae_checkpoints.activations import COMPRESSED_SHARE, HEADROOM, STORE_DTYPES, disk_free, human_bytes

log = logging.getLogger(__name__)


def hidden_size(model: dict) -> int:
    """d of a model: `hidden_size` as given (a model trained here), or read from the config.json of `config`, a
    checkpoint entry {name, path} or {name, repo, revision}."""
    if "hidden_size" in model:
        return model["hidden_size"]
    entry = model["config"]
    source, revision = checkpoint_source(entry)
    return from_pretrained(AutoConfig, source, revision, f"checkpoint {entry['name']}").hidden_size


def is_complete(path: str, shape: tuple[int, int], dtype: np.dtype) -> bool:
    """Whether a store with this shape and dtype is at `path` (one from another corpus or model is replaced)."""
    if not Path(path).exists():
        return False
    store = zarr.open_array(path, mode="r")
    return store.shape == shape and store.dtype == dtype


def planned(models: dict, tokens: list[str], store_dtype: str, compression: str) -> list[dict]:
    """Every store of `models` ({model: {tokens, hidden_size | config, checkpoints: {ckpt: {split: path}}}}),
    with its shape, estimated bytes on disk and whether it is already complete."""
    windows = {}
    for path in tokens:
        array = zarr.open_array(path, mode="r")
        windows[str(path)] = (array.attrs["split_offsets"], array.shape[1] - 1)
    dtype = np.dtype(STORE_DTYPES[store_dtype])
    stores = []
    for name, model in models.items():
        offsets, per_doc = windows[model["tokens"]]
        d = hidden_size(model)
        for ckpt, paths in model["checkpoints"].items():
            for split, path in paths.items():
                start, stop = offsets[split]
                shape = ((stop - start) * per_doc, d)
                stores.append({"model": name, "checkpoint": ckpt, "split": split, "path": path, "shape": list(shape),
                               "bytes": math.ceil(shape[0] * d * dtype.itemsize * COMPRESSED_SHARE[compression]),
                               "complete": is_complete(path, shape, dtype)})
    return stores


def needed_bytes(stores: list[dict], keep: bool) -> tuple[int, str]:
    """The bytes the missing stores need at their peak, and what that peak is, in words."""
    missing = [s for s in stores if not s["complete"]]
    if keep:
        return sum(s["bytes"] for s in missing), f"{len(missing)} stores not yet written"
    by_checkpoint: dict[str, list[dict]] = {}
    for store in missing:
        by_checkpoint.setdefault(f"{store['model']}/{store['checkpoint']}", []).append(store)
    if not by_checkpoint:
        return 0, "no store to write"
    largest, group = max(by_checkpoint.items(), key=lambda item: sum(s["bytes"] for s in item[1]))
    return sum(s["bytes"] for s in group), (f"{len(group)} stores of {largest}, the largest checkpoint not yet "
                                            f"written (activations.keep: false holds one checkpoint's at a time)")


def run(*, tokens, preflight, models: dict, keep: bool, store_dtype: str, compression: str) -> None:
    """Rule activations_preflight: stop with the path, the bytes needed and the bytes free when the disk of
    `preflight` (results/activations) cannot hold the stores still to be written; else write the plan there."""
    stores = planned(models, list(tokens), store_dtype, compression)
    needed, what = needed_bytes(stores, keep)
    needed = math.ceil(needed * HEADROOM)
    disk, free = disk_free(Path(preflight))
    disk = disk.resolve()
    share = COMPRESSED_SHARE[compression]
    raw = "its raw size" if share == 1 else f"{share:.2f} of its raw size"
    log.info("%s: %s need %s (each store at %s, + 5%%); %s free", disk, what, human_bytes(needed), raw,
             human_bytes(free))
    if needed > free:
        hint = ""
        if keep:
            one = needed_bytes(stores, keep=False)[0] * HEADROOM
            hint = f", or set activations.keep: false to hold one checkpoint's stores at a time ({human_bytes(one)})"
        raise InputError(f"{disk}: the activation stores need about {human_bytes(needed)} ({needed:,} bytes: {what}, "
                         f"each at {raw} with {compression}, + 5%) but only {human_bytes(free)} ({free:,} bytes) are "
                         f"free on that disk; free space or run from a larger disk{hint}")
    with atomic_path(preflight) as tmp:
        tmp.write_text(json.dumps({"disk": str(disk), "free_bytes": free, "needed_bytes": needed, "keep": keep,
                                   "peak": what, "stores": stores}, indent=2))
