"""TopK SAE training: lmscope against SAELens and EleutherAI's sparsify (PyPI eai-sparsify).

The same activations (a Zarr store from extract_activations, or random unit vectors), the same d, n, K,
batch, steps, learning rate and the very same batches for every library; each trains with its own TopK step
(encoder, TopK, decoder, loss, backward, its own decoder-norm handling) under torch.optim.Adam with a constant
learning rate, no AuxK. FVU is measured by one function for all, on held-out rows.

    python benchmarks/sae_train.py --store results/activations/tinyllama/step-1000/train.zarr \
        --heldout results/activations/tinyllama/step-1000/test.zarr --expansion 16 --k 32 --batch 2048 --steps 100
    python benchmarks/sae_train.py --d 2048 --expansion 16 --k 32 --batch 32768 --steps 200 --device cuda
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import zarr

from lmscope.sae_checkpoints.sae import TopKSAE


def lmscope_step(d, n, k, lr, device, encoder_bias=False):
    sae = TopKSAE(d, n, k, encoder_bias=encoder_bias, seed=0).to(device)
    opt = torch.optim.Adam(sae.parameters(), lr=lr)

    def step(x):
        loss = (sae(x) - x).pow(2).sum(-1).mean()
        loss.backward()
        sae.remove_parallel_gradient()
        opt.step()
        opt.zero_grad(set_to_none=True)
        sae.normalize_decoder()

    return step, lambda x: sae(x)


def saelens_step(d, n, k, lr, device):
    from sae_lens import TopKTrainingSAE, TopKTrainingSAEConfig
    from sae_lens.saes.sae import TrainStepInput

    sae = TopKTrainingSAE(TopKTrainingSAEConfig(d_in=d, d_sae=n, k=k, aux_loss_coefficient=0.0,
                                                device=str(device)))
    opt = torch.optim.Adam(sae.parameters(), lr=lr)
    coefficients = sae.get_coefficients()

    def step(x):
        out = sae.training_forward_pass(TrainStepInput(sae_in=x, coefficients=coefficients, dead_neuron_mask=None,
                                                       n_training_steps=0, is_logging_step=False))
        out.loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step, lambda x: sae.decode(sae.encode(x))


def sparsify_step(d, n, k, lr, device):
    from sparsify import SparseCoder, SparseCoderConfig

    sae = SparseCoder(d, SparseCoderConfig(expansion_factor=n // d, k=k), device=device)
    opt = torch.optim.Adam(sae.parameters(), lr=lr)

    def step(x):
        sae(x).fvu.backward()
        sae.remove_gradient_parallel_to_decoder_directions()
        opt.step()
        opt.zero_grad(set_to_none=True)
        sae.set_decoder_norm_to_unit_norm()

    return step, lambda x: sae(x).sae_out


LIBRARIES = {"lmscope": lmscope_step, "lmscope+b_enc": lambda *a: lmscope_step(*a, encoder_bias=True),
             "sae_lens": saelens_step, "sparsify": sparsify_step}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", help="training activations (Zarr); random unit vectors when not given")
    ap.add_argument("--heldout", help="held-out activations for FVU (Zarr)")
    ap.add_argument("--d", type=int, default=128, help="with random data")
    ap.add_argument("--expansion", type=int, default=16)
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--batch", type=int, default=2048)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--libraries", nargs="+", default=list(LIBRARIES), choices=list(LIBRARIES))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

    rng = np.random.default_rng(0)
    n_rows = args.batch * min(args.steps, 50)  # batches cycle after 50 distinct ones
    if args.store:
        store = zarr.open_array(args.store, mode="r")
        data = torch.from_numpy(store[:min(n_rows, store.shape[0])].astype(np.float32))
        heldout = torch.from_numpy(zarr.open_array(args.heldout, mode="r")[:20_000].astype(np.float32))
    else:
        data = torch.from_numpy(rng.standard_normal((n_rows + 20_000, args.d), dtype=np.float32))
        data /= data.norm(dim=1, keepdim=True)
        data, heldout = data[:n_rows], data[n_rows:]
    d, n = data.shape[1], data.shape[1] * args.expansion
    perm = torch.from_numpy(rng.permutation(len(data)))
    batches = [data[perm[i:i + args.batch]].to(dev) for i in range(0, len(data) - args.batch + 1, args.batch)]
    heldout = heldout.to(dev)

    for name in args.libraries:
        torch.manual_seed(0)
        step, reconstruct = LIBRARIES[name](d, n, args.k, args.lr, dev)
        step(batches[0])  # warm-up (kernels, allocator); then the timed steps
        sync()
        t0 = time.perf_counter()
        for i in range(args.steps):
            step(batches[i % len(batches)])
        sync()
        rate = args.steps * args.batch / (time.perf_counter() - t0)
        with torch.no_grad():
            x_hat = torch.cat([reconstruct(heldout[i:i + 4096]).float() for i in range(0, len(heldout), 4096)])
            fvu = ((heldout - x_hat).pow(2).sum() / (heldout - heldout.mean(0)).pow(2).sum()).item()
        print(f"| {name} | d={d}, n={n}, K={args.k} | {args.batch} | {args.steps} | {args.device} "
              f"({args.threads} threads) | {rate:,.0f} | {fvu:.4f} |", flush=True)


if __name__ == "__main__":
    main()
