"""Extract one layer's activations to a Zarr store (METHODS A1-A2): hidden_states[L] of every document's window,
BOS dropped, each vector L2-normalised, row = doc * tokens_per_doc + position.

Only what is needed is computed: a forward hook on block L raises `_Stop` with its output, so later blocks
and the LM head never run. Writing overlaps computing: a background thread gathers rows into whole Zarr
chunks and compresses and writes them while the model works on the next batch.
"""

from __future__ import annotations

import errno
import json
import logging
import queue
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import torch
import zarr
from zarr.codecs import BloscCodec, ZstdCodec

from lmscope.atomic import atomic_path
from lmscope.errors import InputError
from lmscope.logs import progress
from lmscope.models import load_causal_lm, resolve_device, resolve_dtype

log = logging.getLogger(__name__)

CHUNK_BYTES = 4 << 20  # ~4 MB chunks: large enough for fast sequential reads, small enough for random ones
STORE_DTYPES = {"float16": np.float16, "float32": np.float32}
TORCH_DTYPES = {"float16": torch.float16, "float32": torch.float32}
# Bytes on disk per raw byte, by compression: what a store's size is estimated at before it is written (the zstd
# ratio measured on the tiny LM's float16 rows, 1.11: benchmarks/README.md, Compression of activations)
COMPRESSED_SHARE = {"zstd": 0.90, "lz4": 1.0, "none": 1.0}
HEADROOM = 1.05  # free space asked for beyond an estimate: its error, and the small files written beside the stores


def compressor(name: str):
    """Activations barely compress (measured on the tiny LM's float16 rows: zstd level 3 saves 10%, lz4 with byte
    shuffle nothing); zstd is the default because at paper scale disk is the limit, lz4 and none read faster."""
    return {"zstd": ZstdCodec(level=3), "lz4": BloscCodec(cname="lz4", clevel=5, shuffle="shuffle"),
            "none": None}[name]


class _Stop(Exception):
    def __init__(self, output: torch.Tensor):
        self.output = output


def layer_module(model, layer: int, key: str = "layer") -> torch.nn.Module:
    """The module whose output is hidden_states[layer]: the embeddings for 0, block L for 0 < L < N, and the
    final norm for L = N (transformers' last hidden state is already normalised)."""
    base = model.base_model
    blocks = base.layers
    n = len(blocks)
    if not 0 <= layer <= n:
        raise InputError(f"{key}: layer {layer} is outside 0..{n} for this model ({n} blocks)")
    if layer == 0:
        return base.get_input_embeddings()
    if layer < n:
        return blocks[layer - 1]
    for name in ("norm", "final_layer_norm", "ln_f"):
        if hasattr(base, name):
            return getattr(base, name)
    raise InputError(f"{key}: cannot find the final norm of {type(base).__name__}")


class LayerReader:
    """Runs the base model (no LM head) only up to `layer` and returns hidden_states[layer]."""

    def __init__(self, model, layer: int, key: str = "layer"):
        self.base = model.base_model
        self.module = layer_module(model, layer, key)

    def _hook(self, module, args, output):
        raise _Stop(output[0] if isinstance(output, tuple) else output)

    @torch.inference_mode()
    def __call__(self, input_ids: torch.Tensor) -> torch.Tensor:
        handle = self.module.register_forward_hook(self._hook)
        try:
            self.base(input_ids=input_ids, use_cache=False)
        except _Stop as stop:
            return stop.output
        finally:
            handle.remove()
        raise RuntimeError("the forward pass never reached the hooked layer")


def window_activations(hidden: torch.Tensor, normalize: bool) -> torch.Tensor:
    """[batch, 1 + T, d] -> [batch * T, d] in float32: BOS dropped, optionally each vector scaled to unit norm."""
    x = hidden[:, 1:].float()
    if normalize:
        x = torch.nn.functional.normalize(x, dim=-1)
    return x.reshape(-1, x.shape[-1])


class ChunkWriter:
    """Appends rows to a Zarr array from a background thread, always writing whole chunks (no partial chunk is
    read back and rewritten). An error in the thread is raised in the caller at the next put() or close()."""

    def __init__(self, array: zarr.Array, max_pending: int = 4):
        self.array, self.chunk_rows = array, array.chunks[0]
        self.queue: queue.Queue = queue.Queue(maxsize=max_pending)
        self.error: BaseException | None = None
        self.rows_written = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        pending, n_pending = [], 0
        try:
            while (rows := self.queue.get()) is not None:
                pending.append(rows)
                n_pending += len(rows)
                while n_pending >= self.chunk_rows:
                    block = np.concatenate(pending)
                    self._write(block[:self.chunk_rows])
                    pending, n_pending = [block[self.chunk_rows:]], len(block) - self.chunk_rows
            if n_pending:
                self._write(np.concatenate(pending))
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            self.error = e
            while self.queue.get() is not None:  # unblock a producer waiting on a full queue
                pass

    def _write(self, block: np.ndarray) -> None:
        self.array[self.rows_written:self.rows_written + len(block)] = block
        self.rows_written += len(block)

    def put(self, rows: np.ndarray) -> None:
        if self.error:
            raise self.error
        self.queue.put(rows)

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()
        if self.error:
            raise self.error


def chunk_rows_for(d: int, itemsize: int, tokens_per_doc: int) -> int:
    """Rows per chunk: about CHUNK_BYTES, and a whole number of documents."""
    docs = max(1, CHUNK_BYTES // (d * itemsize * tokens_per_doc))
    return docs * tokens_per_doc


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000:
            return f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} TB"


def disk_free(path: Path) -> tuple[Path, int]:
    """The nearest existing folder of `path` (which may not exist yet) and the free bytes of its disk."""
    probe = Path(path).parent
    while not probe.exists():
        probe = probe.parent
    return probe, shutil.disk_usage(probe).free


def check_disk(path: Path, needed: int) -> None:
    """Refuse to start when the disk that will hold `path` cannot take `needed` bytes (plus 5%): the preflight
    checked every store at once, but other jobs may have written since, side by side."""
    free = disk_free(path)[1]
    if needed * HEADROOM > free:
        raise OSError(errno.ENOSPC, f"{path}: this store needs about {human_bytes(needed)} (uncompressed) but only "
                      f"{human_bytes(free)} are free on that disk; free space or run from a larger disk")


def store_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def extract(model, tokens: zarr.Array, split: str, layer: int, out_path, *, normalize: bool = True,
            store_dtype: str = "float16", compression: str = "zstd", batch_size: int = 32,
            attrs: dict | None = None, key: str = "layer") -> dict:
    """Write hidden_states[layer] of `split`'s documents to a Zarr store at `out_path`; return throughput.

    `tokens` is the corpus's tokens.zarr ([docs, 1 + T], BOS first; attrs hold the split's row range). The
    store appears at `out_path` only when complete."""
    start, stop = tokens.attrs["split_offsets"][split]
    per_doc = tokens.shape[1] - 1
    d = model.config.hidden_size
    dtype = STORE_DTYPES[store_dtype]
    n_rows = (stop - start) * per_doc
    out_path = Path(out_path)
    check_disk(out_path, n_rows * d * np.dtype(dtype).itemsize)
    reader = LayerReader(model, layer, key)
    device = next(model.parameters()).device

    rows_per_chunk = min(max(n_rows, 1), chunk_rows_for(d, np.dtype(dtype).itemsize, per_doc))

    t0 = time.perf_counter()
    with atomic_path(out_path) as tmp:
        array = zarr.create_array(store=str(tmp), shape=(n_rows, d), chunks=(rows_per_chunk, d), dtype=dtype,
                                  compressors=compressor(compression))
        array.attrs.update({**(attrs or {}), "split": split, "layer": layer,
                            "n_layers": len(model.base_model.layers), "d": d, "tokens_per_doc": per_doc,
                            "normalized": normalize, "dtype": store_dtype, "compression": compression,
                            "doc_id_offset": start,
                            "row": "doc * tokens_per_doc + position; doc_id = doc + doc_id_offset; position 0 "
                                   "is the first token after BOS"})
        writer = ChunkWriter(array)
        try:
            with progress(n_rows, f"{split} activations") as bar:
                for b in range(start, stop, batch_size):
                    ids = torch.from_numpy(tokens[b:min(b + batch_size, stop)].astype(np.int64)).to(device)
                    rows = window_activations(reader(ids), normalize)
                    # cast on the device: a float16 store moves half the bytes to the host
                    writer.put(rows.to(TORCH_DTYPES[store_dtype]).cpu().numpy())
                    bar.update(len(rows))
        finally:
            writer.close()
        written = store_bytes(tmp)
    wall = time.perf_counter() - t0
    stats = {"split": split, "tokens": n_rows, "wall_s": round(wall, 3),
             "tokens_per_s": round(n_rows / wall, 1) if wall else None, "bytes_written": written,
             "bytes_per_token": round(written / n_rows, 2) if n_rows else None, "device": str(device),
             "model_dtype": str(next(model.parameters()).dtype).removeprefix("torch."), "batch_size": batch_size}
    log.info("%s: %d tokens in %.1f s (%.0f tokens/s), %.1f MB", out_path, n_rows, wall,
             stats["tokens_per_s"] or 0, written / 1e6)
    return stats


def run(*, tokens, train, validation, test, throughput, checkpoint: dict, layer: int, key: str, corpus: str,
        normalize: bool, store_dtype: str, compression: str, batch_size: int, device: str, dtype: str, model: str,
        threads: int) -> None:
    """Rule extract_activations: load the checkpoint once, write one store per split (`train`, `validation`,
    `test`), and the throughput of each to `throughput`."""
    torch.set_num_threads(threads)
    dev = resolve_device(device)
    lm = load_causal_lm(checkpoint, dev, resolve_dtype(dtype, dev))
    token_rows = zarr.open_array(str(tokens), mode="r")
    attrs = {"model": model, "checkpoint": checkpoint.get("name", ""), "source": checkpoint, "corpus": corpus}
    stores = {"train": train, "validation": validation, "test": test}
    stats = {split: extract(lm, token_rows, split, layer, path, normalize=normalize, store_dtype=store_dtype,
                            compression=compression, batch_size=batch_size, attrs=attrs, key=key)
             for split, path in stores.items()}
    with atomic_path(throughput) as tmp:
        tmp.write_text(json.dumps(stats, indent=2))
