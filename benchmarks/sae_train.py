"""TopK SAE training: lmscope against SAELens and EleutherAI's sparsify (PyPI eai-sparsify).

The same activations (a Zarr store from extract_activations, random unit vectors, or sparse synthetic rows), the
same d, n, K, batch, steps, learning rate and the very same batches for every library; each trains with its own
TopK step (encoder, TopK, decoder, loss, backward, its own decoder-norm handling) under torch.optim.Adam with a
constant learning rate, no AuxK. FVU is measured by one function for all, on held-out rows, in float32.

Precision (`--precision`, on CUDA): lmscope takes its own sae.precision (tf32: TF32 matmuls; bf16: the active
latents chosen by a bfloat16 matmul, their values in float32), as train_sae does; the peers get TF32 matmuls for
tf32 and bf16, and bf16 autocast for bf16 (SAELens's `autocast` option; sparsify's forward autocasts to bf16 on
CUDA whatever is asked). On a CPU, fp32 and tf32 are the same.

    python benchmarks/sae_train.py --store results/activations/tinyllama/step-1000/train.zarr \
        --heldout results/activations/tinyllama/step-1000/test.zarr --expansion 16 --k 32 --batch 2048 --steps 100
    python benchmarks/sae_train.py --d 2048 --expansion 16 --k 32 --batch 32768 --steps 200 --device cuda \
        --data sparse --precision bf16
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.machinery
import importlib.util
import sys
import time
import types

import numpy as np
import torch
import torch.nn.functional as F

from growth_table import row
from lmscope.sae_checkpoints.sae import TopKSAE

PRECISIONS = ("fp32", "tf32", "bf16")


def peer_precision(precision: str, device: torch.device) -> contextlib.ExitStack:
    """Around a peer library's step: TF32 matmuls on CUDA for tf32 and bf16, and bf16 autocast for bf16."""
    stack = contextlib.ExitStack()
    if device.type == "cuda" and precision in ("tf32", "bf16"):
        before = torch.get_float32_matmul_precision()
        torch.set_float32_matmul_precision("high")
        stack.callback(torch.set_float32_matmul_precision, before)
    if precision == "bf16":
        stack.enter_context(torch.autocast(device.type, dtype=torch.bfloat16))
    return stack


def lmscope_step(d, n, k, lr, device, precision="fp32", encoder_bias=False):
    from lmscope.sae_checkpoints.sae_training import matmul_precision

    sae = TopKSAE(d, n, k, encoder_bias=encoder_bias, seed=0).to(device)
    opt = torch.optim.Adam(sae.parameters(), lr=lr)

    def step(x):
        sae.select_dtype = torch.bfloat16 if precision == "bf16" else None  # as sae_training.Candidate
        with matmul_precision(precision, torch.device(device)):
            loss = (sae(x) - x).pow(2).sum(-1).mean()
            loss.backward()
            sae.remove_parallel_gradient()
            opt.step()
            opt.zero_grad(set_to_none=True)
            sae.normalize_decoder()

    def reconstruct(x):
        sae.select_dtype = None  # evaluated as train_sae evaluates and saves it
        return sae(x)

    return step, reconstruct


def stub_missing(name: str) -> None:
    """Let `import name` succeed with a do-nothing module when the package is not installed: SAELens imports
    wandb (a 20 MB wheel) at the top of modules its TopK training step never uses, so the GPU run carries none."""
    if name in sys.modules or importlib.util.find_spec(name) is not None:
        return

    class Stub(types.ModuleType):
        def __getattr__(self, attr):
            if attr.startswith("__"):
                raise AttributeError(attr)
            return Stub(f"{self.__name__}.{attr}")

        def __call__(self, *args, **kwargs):
            return Stub(self.__name__)

        def __or__(self, other):
            return self

        __ror__ = __or__

        def __getitem__(self, item):
            return self

    stub = Stub(name)
    stub.__spec__ = importlib.machinery.ModuleSpec(name, None)  # find_spec finds it; its metadata, none
    sys.modules[name] = stub


def saelens_step(d, n, k, lr, device, precision="fp32"):
    stub_missing("wandb")
    from sae_lens import TopKTrainingSAE, TopKTrainingSAEConfig
    from sae_lens.saes.sae import TrainStepInput

    sae = TopKTrainingSAE(TopKTrainingSAEConfig(d_in=d, d_sae=n, k=k, aux_loss_coefficient=0.0,
                                                device=str(device)))
    opt = torch.optim.Adam(sae.parameters(), lr=lr)
    coefficients = sae.get_coefficients()
    device = torch.device(device)

    def step(x):
        with peer_precision(precision, device):
            out = sae.training_forward_pass(TrainStepInput(sae_in=x, coefficients=coefficients,
                                                           dead_neuron_mask=None, n_training_steps=0,
                                                           is_logging_step=False))
        out.loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step, lambda x: sae.decode(sae.encode(x))


def sparsify_step(d, n, k, lr, device, precision="fp32"):
    from sparsify import SparseCoder, SparseCoderConfig

    sae = SparseCoder(d, SparseCoderConfig(expansion_factor=n // d, k=k), device=device)
    opt = torch.optim.Adam(sae.parameters(), lr=lr)
    device = torch.device(device)

    def step(x):
        with peer_precision(precision, device):
            fvu = sae(x).fvu
        fvu.backward()
        sae.remove_gradient_parallel_to_decoder_directions()
        opt.step()
        opt.zero_grad(set_to_none=True)
        sae.set_decoder_norm_to_unit_norm()

    # encode and decode, not forward: forward autocasts to bf16 on CUDA, FVU is measured in float32
    return step, lambda x: sae.decode(*sae.encode(x)[:2])


LIBRARIES = {"lmscope": lmscope_step,
             "lmscope+b_enc": lambda *a, **kw: lmscope_step(*a, **kw, encoder_bias=True),
             "sae_lens": saelens_step, "sparsify": sparsify_step}


def sparse_rows(n_rows: int, d: int, atoms: int, active: int = 32, seed: int = 0, device="cpu",
                chunk: int = 32768) -> torch.Tensor:
    """[n_rows, d] float32 unit rows with a sparse structure an SAE can find: each is the sum of `active` draws
    from `atoms` random unit directions (atom i drawn with probability ~ 1/sqrt(i)) with Exp(1) weights, plus
    isotropic noise of a tenth of its norm, then normalised (as the workflow's activations are). Seeded: the
    same rows on every call with the same arguments and device."""
    device = torch.device(device)
    gen = torch.Generator(device=device).manual_seed(seed)
    atoms_ = F.normalize(torch.randn(atoms, d, generator=gen, device=device), dim=1)
    cdf = torch.cumsum(torch.arange(1, atoms + 1, device=device, dtype=torch.float32).rsqrt(), 0)
    cdf /= cdf[-1].clone()
    out = []
    for start in range(0, n_rows, chunk):
        m = min(chunk, n_rows - start)
        idx = torch.searchsorted(cdf, torch.rand(m, active, generator=gen, device=device)).clamp_(max=atoms - 1)
        weights = -torch.log1p(-torch.rand(m, active, generator=gen, device=device))
        x = F.normalize(F.embedding_bag(idx, atoms_, per_sample_weights=weights, mode="sum"), dim=1)
        x += 0.1 * d ** -0.5 * torch.randn(m, d, generator=gen, device=device)
        out.append(F.normalize(x, dim=1))
    return torch.cat(out)


def held_out_fvu(reconstruct, heldout: torch.Tensor, block: int = 4096) -> float:
    """Fraction of variance unexplained on `heldout`, reconstructed in float32 blocks."""
    with torch.no_grad():
        x_hat = torch.cat([reconstruct(heldout[i:i + block]).float() for i in range(0, len(heldout), block)])
        return ((heldout - x_hat).pow(2).sum() / (heldout - heldout.mean(0)).pow(2).sum()).item()


def train(runs, batches: list[torch.Tensor], heldout: torch.Tensor, n: int, k: int, lr: float, steps: int,
          warmup: int = 1):
    """For each (library, precision) of `runs`: `warmup` untimed steps, then `steps` timed ones cycling over
    `batches`; yield one dict per run (tokens_per_s, fvu, seconds, peak_gb on CUDA)."""
    device = batches[0].device
    cuda = device.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    d = batches[0].shape[1]
    for name, precision in runs:
        torch.manual_seed(0)
        if cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        step, reconstruct = LIBRARIES[name](d, n, k, lr, device, precision=precision)
        for i in range(warmup):  # kernels, allocator, compilation
            step(batches[i % len(batches)])
        sync()
        t0 = time.perf_counter()
        for i in range(steps):
            step(batches[(warmup + i) % len(batches)])
        sync()
        seconds = time.perf_counter() - t0
        yield dict(library=name, precision=precision, d=d, n=n, k=k, batch=len(batches[0]), steps=steps,
                   tokens_per_s=steps * len(batches[0]) / seconds, seconds=seconds,
                   fvu=held_out_fvu(reconstruct, heldout),
                   peak_gb=torch.cuda.max_memory_allocated() / 2 ** 30 if cuda else None)
        del step, reconstruct


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", help="training activations (Zarr); else --data")
    ap.add_argument("--heldout", help="held-out activations for FVU (Zarr)")
    ap.add_argument("--data", choices=["unit", "sparse"], default="unit",
                    help="without --store: random unit vectors, or sparse_rows (a sparse structure to find)")
    ap.add_argument("--d", type=int, default=128, help="without --store")
    ap.add_argument("--expansion", type=int, default=16)
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--batch", type=int, default=2048)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--precision", choices=PRECISIONS, default="fp32", help="see the module docstring")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--libraries", nargs="+", default=list(LIBRARIES), choices=list(LIBRARIES))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)

    rng = np.random.default_rng(0)
    n_rows = args.batch * min(args.steps, 50)  # batches cycle after 50 distinct ones
    if args.store:
        import zarr

        store = zarr.open_array(args.store, mode="r")
        data = torch.from_numpy(store[:min(n_rows, store.shape[0])].astype(np.float32))
        heldout = torch.from_numpy(zarr.open_array(args.heldout, mode="r")[:20_000].astype(np.float32))
    elif args.data == "sparse":
        data = sparse_rows(n_rows + 20_000, args.d, args.expansion * args.d, args.k, device=dev)
        data, heldout = data[:n_rows], data[n_rows:]
    else:
        data = torch.from_numpy(rng.standard_normal((n_rows + 20_000, args.d), dtype=np.float32))
        data /= data.norm(dim=1, keepdim=True)
        data, heldout = data[:n_rows], data[n_rows:]
    d, n = data.shape[1], data.shape[1] * args.expansion
    perm = torch.from_numpy(rng.permutation(len(data))).to(data.device)
    batches = [data[perm[i:i + args.batch]].to(dev) for i in range(0, len(data) - args.batch + 1, args.batch)]
    heldout = heldout.to(dev)

    shape = f"d={d}, n={n}, K={args.k}" + (f", {args.precision}" if args.precision != "fp32" else "")
    for r in train([(name, args.precision) for name in args.libraries], batches, heldout, n, args.k, args.lr,
                   args.steps):
        print(row(r["library"], shape, args.batch, args.steps, f"{args.device} ({args.threads} threads)",
                  f"{r['tokens_per_s']:,.0f}", f"{r['fvu']:.4f}"), flush=True)


if __name__ == "__main__":
    main()
