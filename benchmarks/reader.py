"""Is the shuffled reader fast enough that SAE training never waits for it?

Three numbers on one activation store (float16, chunked and compressed as extract_activations writes it):
  reader   tokens/s of ShuffledBatches alone, batches handed over on the device;
  step     tokens/s of a TopK SAE training step alone, on batches already on the device;
  fed      tokens/s of the same step fed by the reader — training waits if this is below `step`.
The SAE step is lmscope's own (lmscope.sae.TopKSAE: sparse decoder and encoder backward, decoder-gradient
projection, Adam, decoder renormalisation).

    python benchmarks/reader.py --d 128 --rows 1000000 --batch 4096
    python benchmarks/reader.py --d 2048 --rows 200000 --batch 4096
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import zarr

from lmscope.sae_checkpoints.activations import chunk_rows_for, compressor
from lmscope.sae_checkpoints.shuffled_batches import ShuffledBatches
from lmscope.sae_checkpoints.sae import TopKSAE


def write_store(path: Path, rows: int, d: int, compression: str) -> None:
    arr = zarr.create_array(store=str(path), shape=(rows, d), dtype="float16",
                            chunks=(chunk_rows_for(d, 2, 64), d),
                            compressors=compressor(compression))
    rng = np.random.default_rng(0)
    step = arr.chunks[0] * 8
    for start in range(0, rows, step):
        x = rng.standard_normal((min(step, rows - start), d), dtype=np.float32)
        arr[start:start + len(x)] = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float16)


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
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "train.zarr"
        write_store(store, args.rows, args.d, args.compression)
        reader = ShuffledBatches([store], args.batch, seed=0, device=dev)

        t0, n = time.perf_counter(), 0
        for batch in reader.epoch(0):
            n += len(batch)
        sync()
        read_rate = n / (time.perf_counter() - t0)

        sae = TopKSAE(args.d, args.expansion * args.d, args.k, seed=0).to(dev)
        opt = torch.optim.Adam(sae.parameters(), lr=1e-4)

        def step(x: torch.Tensor) -> None:
            (sae(x) - x).pow(2).sum(-1).mean().backward()
            sae.remove_parallel_gradient()
            opt.step()
            opt.zero_grad(set_to_none=True)
            sae.normalize_decoder()

        # distinct batches, as the reader hands over (one reused tensor would stay cache-hot)
        xs = [torch.randn(args.batch, args.d, device=dev) for _ in range(8)]
        step(xs[0])  # warm-up
        sync()
        t0 = time.perf_counter()
        for i in range(args.steps):
            step(xs[i % len(xs)])
        sync()
        step_rate = args.steps * args.batch / (time.perf_counter() - t0)

        t0, n = time.perf_counter(), 0
        for i, batch in enumerate(reader.epoch(1)):
            if i == args.steps:
                break
            step(batch)
            n += len(batch)
        sync()
        fed_rate = n / (time.perf_counter() - t0)

    print(f"| d={args.d}, n={args.expansion * args.d}, K={args.k} | {args.batch} | {args.rows:,} "
          f"| {args.compression} | {args.device} ({args.threads} threads) | {read_rate:,.0f} | {step_rate:,.0f} | {fed_rate:,.0f} | "
          f"{fed_rate / step_rate:.2f} |")


if __name__ == "__main__":
    main()
