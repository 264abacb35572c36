"""Is the shuffled reader fast enough that SAE training never waits for it?

Three numbers on one activation store (float16, chunked and compressed as extract_activations writes it):
  reader   tokens/s of ShuffledBatches alone, batches handed over on the device;
  step     tokens/s of a TopK SAE training step alone, on batches already on the device;
  fed      tokens/s of the same step fed by the reader — training waits if this is below `step`.
The SAE step is lmscope's own (lmscope.sae.TopKSAE: sparse decoder and encoder backward, decoder-gradient
projection, Adam, decoder renormalisation), in its sae.precision (`--precision`, as train_sae runs it).

    python benchmarks/reader.py --d 128 --rows 1000000 --batch 4096
    python benchmarks/reader.py --d 2048 --rows 200000 --batch 4096
    python benchmarks/reader.py --d 2048 --rows 524288 --batch 32768 --steps 12 --device cuda --precision bf16
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import zarr

from growth_table import row
from lmscope.sae_checkpoints.activations import chunk_rows_for, compressor
from lmscope.sae_checkpoints.shuffled_batches import ShuffledBatches
from sae_train import lmscope_step


def write_store(path: Path, rows: int, d: int, compression: str) -> None:
    """Random unit rows in float16. One block of 8 chunks is drawn and written shifted by a different number of
    rows each time (drawing 10^9 normals would take longer than the measurement); no two chunks are equal, and a
    codec sees random data within each chunk, as it does for real activations."""
    arr = zarr.create_array(store=str(path), shape=(rows, d), dtype="float16",
                            chunks=(chunk_rows_for(d, 2, 64), d),
                            compressors=compressor(compression))
    rng = np.random.default_rng(0)
    step = arr.chunks[0] * 8
    x = rng.standard_normal((min(step, rows), d), dtype=np.float32)
    block = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float16)
    for i, start in enumerate(range(0, rows, step)):
        arr[start:start + min(step, rows - start)] = np.roll(block, 37 * i, axis=0)[:rows - start]


def measure(d: int, rows: int, batch: int, expansion: int, k: int, steps: int, device: str, compression: str,
            precision: str = "fp32") -> dict:
    """reader, step and fed tokens/s (module docstring) on a fresh store of `rows` rows."""
    dev = torch.device(device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "train.zarr"
        write_store(store, rows, d, compression)
        reader = ShuffledBatches([store], batch, seed=0, device=dev)

        t0, n = time.perf_counter(), 0
        for x in reader.epoch(0):
            n += len(x)
        sync()
        read_rate = n / (time.perf_counter() - t0)

        step, _ = lmscope_step(d, expansion * d, k, 1e-4, dev, precision=precision)
        # distinct batches, as the reader hands over (one reused tensor would stay cache-hot)
        xs = [torch.randn(batch, d, device=dev) for _ in range(8)]
        for x in xs[:3]:  # warm-up (kernels, allocator)
            step(x)
        sync()
        t0 = time.perf_counter()
        for i in range(steps):
            step(xs[i % len(xs)])
        sync()
        step_rate = steps * batch / (time.perf_counter() - t0)

        t0, n = time.perf_counter(), 0
        for i, x in enumerate(reader.epoch(1)):
            if i == steps:
                break
            step(x)
            n += len(x)
        sync()
        fed_rate = n / (time.perf_counter() - t0)
    return dict(reader=read_rate, step=step_rate, fed=fed_rate)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--d", type=int, default=128)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--expansion", type=int, default=16)
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--steps", type=int, default=20, help="SAE steps timed (alone and fed)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--compression", default="zstd", choices=["zstd", "lz4", "none"])
    ap.add_argument("--precision", default="fp32", choices=["fp32", "tf32", "bf16"])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    r = measure(args.d, args.rows, args.batch, args.expansion, args.k, args.steps, args.device, args.compression,
                args.precision)
    print(row(f"d={args.d}, n={args.expansion * args.d}, K={args.k}", args.batch, f"{args.rows:,}",
              args.compression, f"{args.device} ({args.threads} threads)", f"{r['reader']:,.0f}",
              f"{r['step']:,.0f}", f"{r['fed']:,.0f}", f"{r['fed'] / r['step']:.2f}"))


if __name__ == "__main__":
    main()
