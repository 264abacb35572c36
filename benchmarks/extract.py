"""Tokens/s of lmscope's extraction against a plain transformers forward with output_hidden_states.

Both sides see the same model (random weights: speed does not depend on them), the same token ids, batch,
device and dtype, and both end with the same float16 Zarr store (same chunks, same codec). The plain side is
what a straightforward script does: model(ids, output_hidden_states=True), take hidden_states[L], drop BOS,
normalise, write synchronously. Ours stops the forward after block L, skips the LM head, and writes from a
background thread.

    python benchmarks/extract.py --model tiny
    python benchmarks/extract.py --model llm-jp-3-1.8b --docs 48 --batch 8
    python benchmarks/extract.py --model llm-jp-3-1.8b --device cuda --dtype bfloat16 --docs 4096 --batch 64
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import zarr
from transformers import LlamaConfig, LlamaForCausalLM

from growth_table import row
from lmscope.sae_checkpoints.activations import chunk_rows_for, compressor, extract, window_activations
from lmscope.models import DTYPES

MODELS = {
    # the embedded default's tiny Llama (config.yaml)
    "tiny": (dict(vocab_size=2048, hidden_size=128, intermediate_size=512, num_hidden_layers=4,
                  num_attention_heads=4, num_key_value_heads=4, tie_word_embeddings=True), 2),
    # LLM-jp-3-1.8B's config (hub config.json; the model card's 407,896,064 embedding and 1,459,718,144
    # non-embedding parameters check it), layer 12 as in the paper
    "llm-jp-3-1.8b": (dict(vocab_size=99584, hidden_size=2048, intermediate_size=7168, num_hidden_layers=24,
                           num_attention_heads=16, num_key_value_heads=16, max_position_embeddings=4096,
                           rms_norm_eps=1e-5, tie_word_embeddings=False), 12),
}


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "cpu"


def plain(model, tokens: np.ndarray, layer: int, batch: int, out: Path, compression: str) -> None:
    d = model.config.hidden_size
    per_doc = tokens.shape[1] - 1
    arr = zarr.create_array(store=str(out), shape=(len(tokens) * per_doc, d), dtype="float16",
                            chunks=(chunk_rows_for(d, 2, per_doc), d),
                            compressors=compressor(compression))
    device = next(model.parameters()).device
    with torch.inference_mode():
        for b in range(0, len(tokens), batch):
            ids = torch.from_numpy(tokens[b:b + batch].astype(np.int64)).to(device)
            hidden = model(input_ids=ids, output_hidden_states=True).hidden_states[layer]
            rows = window_activations(hidden, normalize=True).cpu().numpy().astype(np.float16)
            arr[b * per_doc:b * per_doc + len(rows)] = rows


def build_model(name: str, device: str, dtype: str, layers: int | None = None):
    """The random-weight LlamaForCausalLM of MODELS[name] (truncated to `layers` blocks) and its layer."""
    kwargs, layer = MODELS[name]
    if layers:
        kwargs = {**kwargs, "num_hidden_layers": layers}
    torch.manual_seed(0)
    with torch.device(device):
        model = LlamaForCausalLM(LlamaConfig(**kwargs)).to(DTYPES[dtype]).eval()
    return model, layer


def measure(model, layer: int, docs: int, batch: int, compression: str) -> dict:
    """Tokens/s of ours and of the plain forward on `docs` random documents of BOS + 64 tokens (the first batch
    a warm-up for both), and the largest difference between the two stores."""
    vocab = model.config.vocab_size
    device = next(model.parameters()).device
    rng = np.random.default_rng(0)
    ids = rng.integers(3, vocab, size=(docs, 65)).astype(np.int32)
    ids[:, 0] = 1
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        tokens = zarr.create_array(store=str(tmp / "tokens.zarr"), shape=ids.shape, chunks=ids.shape, dtype="int32")
        tokens[:] = ids
        # the first batch is the warm-up (allocator, kernels); then one timed run of each side
        tokens.attrs["split_offsets"] = {"train": [0, docs], "warm": [0, min(batch, docs)]}
        n_tokens = docs * 64
        ours_kwargs = dict(batch_size=batch, compression=compression)
        extract(model, tokens, "warm", layer, tmp / "warm.zarr", **ours_kwargs)
        plain(model, ids[:batch], layer, batch, tmp / "warm_plain.zarr", compression)
        sync()
        t0 = time.perf_counter()
        extract(model, tokens, "train", layer, tmp / "ours.zarr", **ours_kwargs)
        sync()
        ours = n_tokens / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        plain(model, ids, layer, batch, tmp / "plain.zarr", compression)
        sync()
        base = n_tokens / (time.perf_counter() - t0)
        same = np.abs(zarr.open_array(str(tmp / "ours.zarr"))[:].astype(np.float32)
                      - zarr.open_array(str(tmp / "plain.zarr"))[:].astype(np.float32)).max()
    return dict(tokens=n_tokens, ours=ours, plain=base, max_diff=float(same))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=MODELS, default="tiny")
    ap.add_argument("--layers", type=int, help="truncate the model to this many blocks (memory)")
    ap.add_argument("--docs", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32", choices=DTYPES)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--compression", default="zstd", choices=["zstd", "lz4", "none"])
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    model, layer = build_model(args.model, args.device, args.dtype, args.layers)
    r = measure(model, layer, args.docs, args.batch, args.compression)
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else cpu_name()
    print(row(f"{args.model} ({model.config.num_hidden_layers} blocks, d={model.config.hidden_size})", layer,
              f"{args.device} ({device}, {args.threads} threads)", args.dtype, args.compression, args.batch,
              r["tokens"], f"{r['ours']:,.0f}", f"{r['plain']:,.0f}", f"{r['ours'] / r['plain']:.2f}",
              f"{r['max_diff']:.1e}"))


if __name__ == "__main__":
    main()
