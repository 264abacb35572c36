"""Train TopK SAEs on one checkpoint's activations (METHODS A3): the whole learning-rate grid side by side.

Every learning rate has its own SAE, optimiser and schedule, all from the same initialisation; each batch from
the shuffled reader is given to every one of them in turn, so the data is read once for the whole grid and
every candidate sees exactly the batches it would have seen alone. Fig. 2's sweep shares passes the same way:
the SAEs of one n/d and several K (same shape, same batches) are one grid of K x learning rate. The loop, top
to bottom:

    b_pre <- geometric median of a sample of training rows
    for each batch:  for each learning rate:  loss = |x - x_hat|^2 (+ AuxK)  -> backward
                     -> remove the gradient parallel to each decoder row -> Adam -> renormalise the rows
    every eval_every steps: validation MSE of every candidate (the curves)
    every checkpoint_every steps: save the whole state, so a killed job resumes where it was
    the best candidate by validation MSE is the checkpoint's SAE; its metrics on validation and test

Warm start (sae.init: previous, SAE-Track): every candidate starts from the previous checkpoint's SAE, all its
weights and b_pre (no geometric median), so that feature i of one checkpoint's SAE descends from feature i of the
previous one and indices stay aligned along the chain (feature_matching.py counts how many keep theirs).

A learning rate whose loss becomes NaN or inf leaves the grid at that step (a warning, and metrics["diverged"]):
one rate too high should not lose the others; the job fails only when every rate diverges. The curve points
measure a fixed seeded sample of whole validation documents drawn evenly across the split, not its first rows:
a split is ordered by source, and with one source per language its first rows are all one language.

Same seed, same data, CPU -> the same weights (and resuming gives the same weights as not stopping).
`precision` decides the encoder's dense matmul, the step that bounds the speed (benchmarks/README.md): fp32;
tf32 (the default: float32 with TF32 tensor-core matmuls on CUDA, exactly fp32 on a CPU); bf16 (the active latents
chosen by a bfloat16 matmul, their values exact in float32: sae.py).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import polars as pl
import torch
import zarr

from lmscope.atomic import atomic_path
from lmscope.errors import InputError
from lmscope.logs import progress as progress_bar
from lmscope.models import resolve_device
from lmscope.sae_checkpoints.activation_store import CheckedStore
from lmscope.sae_checkpoints.figures import sae_curves
from lmscope.sae_checkpoints.sae import TopKSAE, geometric_median
from lmscope.sae_checkpoints.shuffled_batches import ShuffledBatches
from lmscope.sampling import seeded_sample

log = logging.getLogger(__name__)


@dataclass
class SAETrainConfig:
    expansion_factor: int = 16
    k: int = 32
    batch_tokens: int = 32768
    warmup_steps: int = 1000
    epochs: float = 1.0
    lr_grid: list[float] = field(default_factory=lambda: [5e-5, 1e-4, 2e-4, 4e-4])
    lr_schedule: str = "constant"  # after warm-up: constant | linear (to 0) | cosine (to 0)
    encoder_bias: bool = False
    auxk: bool = False
    k_aux: int = 512
    auxk_coefficient: float = 1 / 32
    dead_tokens: int = 10_000_000  # AuxK: a latent is dead after this many tokens without firing
    median_sample: int = 16384
    eval_every: int = 200
    eval_tokens: int = 65536  # validation tokens per curve point
    checkpoint_every: int = 500
    seed: int = 0
    precision: str = "tf32"  # fp32 | tf32 | bf16: the encoder matmul's (module docstring)


def lr_factor(step: int, warmup: int, total: int, schedule: str) -> float:
    """Multiplier of the base learning rate at `step` (0-based): linear warm-up, then the schedule."""
    if step < warmup:
        return (step + 1) / warmup
    if schedule == "constant" or total <= warmup:
        return 1.0
    progress = (step - warmup) / (total - warmup)
    return 1 - progress if schedule == "linear" else 0.5 * (1 + math.cos(math.pi * progress))


def sample_rows(store: zarr.Array, n: int, seed: int) -> torch.Tensor:
    """About `n` training rows from whole chunks picked at random: cheap even when the store is huge."""
    rng = np.random.default_rng(seed)
    rows, got = [], 0
    for c in rng.permutation(math.ceil(store.shape[0] / store.chunks[0])):
        block = store[c * store.chunks[0]:(c + 1) * store.chunks[0]]
        rows.append(block)
        got += len(block)
        if got >= n:
            break
    return torch.from_numpy(np.concatenate(rows)[:n].astype(np.float32))


def curve_sample(store: CheckedStore, eval_tokens: int, seed: int) -> torch.Tensor:
    """The validation rows every curve point is measured on (float32, on the CPU): all rows in order when
    `eval_tokens` covers the split, else eval_tokens // tokens_per_doc whole documents (at least one; rows
    doc × T .. (doc + 1) × T, T the store's attrs["tokens_per_doc"], 1 when absent) drawn with `seed`, in document
    order. Read once and held in memory: eval_tokens × d × 4 bytes (the default 65,536 rows: 256 KiB per
    dimension, 512 MiB at d = 2,048)."""
    n_rows = store.shape[0]
    if eval_tokens >= n_rows:
        return torch.from_numpy(np.asarray(store[:], dtype=np.float32))
    per_doc = int(store.attrs.get("tokens_per_doc", 1))
    n_docs = n_rows // per_doc
    docs = seeded_sample(n_docs, max(1, eval_tokens // per_doc), seed)
    rows = (docs[:, None] * per_doc + np.arange(per_doc)).ravel()
    return torch.from_numpy(np.asarray(store[rows], dtype=np.float32))  # orthogonal: each chunk decoded once


def sequential_batches(store_path, batch_tokens: int, device) -> Iterator[torch.Tensor]:
    """A split's rows in order (evaluation needs no shuffle), in batches of `batch_tokens` rows: read a chunk at a
    time, but encoded no larger than a training step, so that evaluation's pre-activations (rows x latents) are
    never bigger than training's — a chunk of 16,384 rows at n = 2,048 would be 128 MB at every curve point and
    make the job's peak memory the luck of the allocator."""
    store = CheckedStore(store_path)
    stop = store.shape[0]
    for start in range(0, stop, store.chunks[0]):
        block = torch.from_numpy(store[start:min(start + store.chunks[0], stop)].astype(np.float32))
        for batch in block.split(batch_tokens):
            yield batch.to(device)


@torch.no_grad()
def evaluate(sae: TopKSAE, batches: Iterator[torch.Tensor]) -> dict:
    """MSE (mean over tokens of |x - x_hat|^2), FVU = SSE / total variance, explained variance, L0 and the
    fraction of latents that never fire on these rows."""
    sse, n, l0 = 0.0, 0, 0.0
    sum_x = sum_x2 = None
    fired = None
    for x in batches:
        vals, idx = sae.encode(x)
        x_hat = sae.decode(vals, idx)
        sse += (x - x_hat).pow(2).sum().item()
        sum_x = x.double().sum(0) if sum_x is None else sum_x + x.double().sum(0)
        sum_x2 = x.double().pow(2).sum().item() + (sum_x2 or 0.0)
        l0 += (vals > 0).sum().item()
        f = torch.zeros(sae.d_sae, dtype=torch.bool, device=x.device)
        f[idx[vals > 0]] = True
        fired = f if fired is None else fired | f
        n += len(x)
    total = sum_x2 - (sum_x.pow(2).sum().item() / n)
    fvu = sse / total
    return {"tokens": n, "mse": sse / n, "fvu": fvu, "explained_variance": 1 - fvu, "l0": l0 / n,
            "dead_fraction": 1 - fired.float().mean().item()}


@contextmanager
def matmul_precision(precision: str, device: torch.device):
    """TF32 matmuls for the duration on CUDA when `precision` is tf32 (restored after); nothing elsewhere."""
    if device.type != "cuda" or precision != "tf32":
        yield
        return
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)


def warm_start(sae: TopKSAE, previous: TopKSAE) -> None:
    """Copy the previous checkpoint's SAE into `sae` (sae.init: previous); an SAE it cannot continue is an
    InputError naming the key."""
    why = None
    if (previous.d_in, previous.d_sae) != (sae.d_in, sae.d_sae):
        why = f"it has {previous.d_sae} latents of width {previous.d_in}, this one {sae.d_sae} of width {sae.d_in}"
    elif previous.input_norm != "none":
        why = f"it normalises its input ({previous.input_norm}), which SAEs trained here do not"
    elif previous.b_enc is not None and sae.b_enc is None:
        why = "it has an encoder bias and sae.encoder_bias is false"
    if why:
        raise InputError(f"config key sae.init: previous, but the previous checkpoint's SAE cannot be continued: "
                         f"{why}; set sae.init: fresh")
    sae.load_state_dict({**sae.state_dict(), **{k: v.to(sae.W_dec.device) for k, v in previous.state_dict().items()}})


class Candidate:
    """One (K, learning rate) of the grid: its SAE, optimiser and curve."""

    def __init__(self, lr: float, cfg: SAETrainConfig, d_in: int, b_pre: torch.Tensor, total_steps: int, device,
                 init: TopKSAE | None = None):
        self.lr, self.k = lr, cfg.k
        d_sae = cfg.expansion_factor * d_in
        if cfg.k > d_sae:
            raise InputError(f"config key sae.k (or sae.sweep.k): K={cfg.k} active latents asked for, but the SAE "
                             f"has only {d_sae} (expansion_factor {cfg.expansion_factor} x width {d_in} of the activations)")
        self.sae = TopKSAE(d_in, d_sae, cfg.k, cfg.encoder_bias, seed=cfg.seed).to(device)
        self.sae.select_dtype = torch.bfloat16 if cfg.precision == "bf16" else None
        with torch.no_grad():
            self.sae.b_pre.copy_(b_pre)
            if init is not None:
                warm_start(self.sae, init)
        self.opt = torch.optim.Adam(self.sae.parameters(), lr=lr)
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, lambda s: lr_factor(s, cfg.warmup_steps, total_steps, cfg.lr_schedule))
        self.last_fired = torch.zeros(self.sae.d_sae, dtype=torch.long, device=device)  # tokens since firing
        self.diverged_at: int | None = None  # the step (as train_log.csv counts) whose loss was NaN or inf

    def step(self, x: torch.Tensor, cfg: SAETrainConfig) -> float:
        """One update on batch `x`; the batch's MSE. A non-finite MSE is returned without an update: the
        caller drops the candidate."""
        dead = self.last_fired >= cfg.dead_tokens if cfg.auxk else None
        vals, idx = self.sae.encode(x, dead=dead, k_aux=cfg.k_aux if cfg.auxk else 0)
        main_vals, main_idx = vals[:, :self.k], idx[:, :self.k]
        x_hat = self.sae.decode(main_vals, main_idx)
        loss = (x - x_hat).pow(2).sum(-1).mean()
        if not torch.isfinite(loss):
            return loss.item()
        total = loss
        if vals.shape[1] > self.k:  # AuxK: dead latents reconstruct what the live ones missed (Gao et al.)
            residual = (x - x_hat).detach()
            aux = self.sae.decode(vals[:, self.k:], idx[:, self.k:], bias=False)
            aux_loss = (residual - aux).pow(2).sum(-1).mean() / residual.pow(2).sum(-1).mean().clamp_min(1e-12)
            total = loss + cfg.auxk_coefficient * torch.nan_to_num(aux_loss)
        total.backward()
        self.sae.remove_parallel_gradient()
        self.opt.step()
        self.sched.step()
        self.opt.zero_grad(set_to_none=True)
        self.sae.normalize_decoder()
        with torch.no_grad():
            fired = torch.zeros_like(self.last_fired, dtype=torch.bool)
            fired[main_idx[main_vals > 0]] = True
            self.last_fired = torch.where(fired, 0, self.last_fired + len(x))
        return loss.item()

    def state(self) -> dict:
        return {"sae": self.sae.state_dict(), "opt": self.opt.state_dict(), "sched": self.sched.state_dict(),
                "last_fired": self.last_fired}

    def load_state(self, state: dict) -> None:
        self.sae.load_state_dict(state["sae"])
        self.opt.load_state_dict(state["opt"])
        self.sched.load_state_dict(state["sched"])
        self.last_fired = state["last_fired"]


def train_grid(train_store, validation_store, cfg: SAETrainConfig, device: str | torch.device = "cpu",
               state_path: str | Path | None = None, stop_after: int | None = None,
               progress: Callable[[int, int], None] | None = None,
               ks: Sequence[int] | None = None, init: TopKSAE | None = None) -> tuple[list[Candidate], list[dict]]:
    """Train one SAE per learning rate (and per K of `ks`, default cfg.k alone) on `train_store`, every one on
    the same batches of one pass; return the candidates (K-major) and the training log (rows name their K when
    there are several). `progress(tokens read, tokens in all)` is called after every step. With `init` (the
    previous checkpoint's SAE) every candidate starts from its weights (warm start).

    A candidate whose loss becomes NaN or inf stops there (its `diverged_at` is set, its log rows end the step
    before); when every one has, an InputError names sae.lr_grid. With `state_path`, the whole state is saved
    there every `checkpoint_every` steps and loaded at start when it matches this configuration, so an
    interrupted run resumes. `stop_after` ends the run early after that many steps (with the state saved): how
    tests simulate an interruption."""
    device = torch.device(device)
    reader = ShuffledBatches([train_store], cfg.batch_tokens, seed=cfg.seed, device=device)
    steps_per_epoch = len(reader)
    total_steps = max(1, math.ceil(cfg.epochs * steps_per_epoch))
    d_in = reader.d
    b_pre = (init.b_pre.detach() if init is not None
             else geometric_median(sample_rows(reader.arrays[0], cfg.median_sample, cfg.seed))).to(device)
    ks = list(ks or [cfg.k])
    candidates = [Candidate(lr, replace(cfg, k=k), d_in, b_pre, total_steps, device, init)
                  for k in ks for lr in cfg.lr_grid]
    validation = CheckedStore(validation_store)
    curve = curve_sample(validation, cfg.eval_tokens, cfg.seed).to(device).split(cfg.batch_tokens)
    rows: list[dict] = []
    start = 0
    fingerprint = {"cfg": asdict(cfg), "ks": ks, "train_store": str(train_store), "rows": reader.n_rows,
                   "warm_start": init is not None}
    if state_path and Path(state_path).is_file():
        state = torch.load(state_path, map_location=device, weights_only=False)
        if state["fingerprint"] == fingerprint:
            for cand, s, diverged_at in zip(candidates, state["candidates"],
                                            state.get("diverged_at", [None] * len(candidates))):
                cand.load_state(s)
                cand.diverged_at = diverged_at
            rows, start = state["rows"], state["step"]
            log.info("resuming from step %d of %d (%s)", start, total_steps, state_path)
        else:
            log.info("ignoring %s: it was saved for another configuration", state_path)

    def save_state(step: int) -> None:
        with atomic_path(state_path) as tmp:
            torch.save({"fingerprint": fingerprint, "step": step, "rows": rows,
                        "candidates": [c.state() for c in candidates],
                        "diverged_at": [c.diverged_at for c in candidates]}, tmp)

    tokens_total = min(total_steps * cfg.batch_tokens, math.ceil(cfg.epochs * reader.n_rows))
    with matmul_precision(cfg.precision, device):
        step = start
        while step < total_steps:
            epoch, skip = divmod(step, steps_per_epoch)
            for i, x in enumerate(reader.epoch(epoch)):
                if i < skip:
                    continue  # resuming inside an epoch: the reader is deterministic, so skip what was seen
                alive = [cand for cand in candidates if cand.diverged_at is None]
                losses = [cand.step(x, cfg) for cand in alive]
                step += 1
                for cand, loss in zip(alive, losses):
                    if not math.isfinite(loss):
                        cand.diverged_at = step
                        log.warning("learning rate %g diverged at step %d (SAE loss %s): dropped from the grid",
                                    cand.lr, step, loss)
                if all(cand.diverged_at is not None for cand in candidates):
                    where = ", ".join(f"lr {c.lr:g} at step {c.diverged_at}" for c in candidates)
                    raise InputError(f"config key sae.lr_grid: every learning rate diverged (the SAE loss became "
                                     f"NaN or inf: {where}); lower them, or, if even small rates diverge, check the "
                                     f"activation store for non-finite values")
                curve_point = step % cfg.eval_every == 0 or step == total_steps
                for cand, loss in zip(alive, losses):
                    if cand.diverged_at is not None:
                        continue  # its rows end the step before
                    val = math.nan
                    if curve_point:
                        val = evaluate(cand.sae, iter(curve))["mse"]
                    rows.append({"step": step, **({"k": cand.k} if len(ks) > 1 else {}), "lr": cand.lr,
                                 "lr_now": cand.sched.get_last_lr()[0], "train_mse": loss, "val_mse": val})
                if progress:
                    progress(min(step * cfg.batch_tokens, tokens_total), tokens_total)
                if state_path and (step % cfg.checkpoint_every == 0 or step == stop_after):
                    save_state(step)
                if step == total_steps or step == stop_after:
                    break
            if step == stop_after:
                break
    for cand in candidates:
        cand.sae.select_dtype = None  # evaluated and saved as the float32 model analysis will read
    return candidates, rows


def hook_name(layer: int, n_layers: int | None = None) -> str:
    """TransformerLens's name for hidden_states[layer], as SAELens metadata expects it."""
    if layer == 0:
        return "blocks.0.hook_resid_pre"
    if n_layers is not None and layer == n_layers:
        return "ln_final.hook_normalized"
    return f"blocks.{layer - 1}.hook_resid_post"


def fit(train_store, validation_store, test_store, cfg: SAETrainConfig, device="cpu", state_path=None,
        progress=None, init: TopKSAE | None = None) -> tuple[Candidate, dict, list[dict]]:
    """Train the grid and pick the candidate with the lowest validation MSE (on the whole split).

    Returns the best candidate, the metrics (validation and test for every learning rate that did not diverge,
    which won and, only when some did, "diverged": {lr: step}) and the training log."""
    candidates, rows = train_grid(train_store, validation_store, cfg, device, state_path, progress=progress,
                                  init=init)
    best, metrics = select(candidates, cfg, validation_store, test_store, device)
    return best, metrics, rows


def select(candidates: list[Candidate], cfg: SAETrainConfig, validation_store, test_store,
           device) -> tuple[Candidate, dict]:
    """The candidate (of one K) with the lowest validation MSE, and fit()'s metrics for that grid."""
    metrics = {"lr_grid": {}, "config": asdict(cfg)}
    diverged = {f"{c.lr:g}": c.diverged_at for c in candidates if c.diverged_at is not None}
    if diverged:  # absent otherwise: a grid where every rate trains writes what it always did
        metrics["diverged"] = diverged
    candidates = [c for c in candidates if c.diverged_at is None]
    if not candidates:
        raise InputError(f"config key sae.lr_grid: every learning rate diverged for K={cfg.k} ({diverged}); lower "
                         f"them")
    for cand in candidates:
        metrics["lr_grid"][f"{cand.lr:g}"] = {
            split: evaluate(cand.sae, sequential_batches(store, cfg.batch_tokens, device))
            for split, store in (("validation", validation_store), ("test", test_store))}
    best = min(candidates, key=lambda c: metrics["lr_grid"][f"{c.lr:g}"]["validation"]["mse"])
    metrics.update(best_lr=best.lr, **metrics["lr_grid"][f"{best.lr:g}"])
    log.info("K=%d: best learning rate %g: validation MSE %.5f, test FVU %.4f, dead %.3f", cfg.k, best.lr,
             metrics["validation"]["mse"], metrics["test"]["fvu"], metrics["test"]["dead_fraction"])
    return best, metrics


def _token_progress(desc: str) -> Callable[[int, int], None]:
    """train_grid's progress callback as a bar in the job's log (tokens/s and an ETA), opened at the first step
    (when the total is known; a resumed run starts where it was)."""
    bar = None

    def advance(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = progress_bar(total, desc)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return advance


def _drop_state(state) -> None:
    """The resume state, once the output it was for is complete."""
    if state and Path(state).exists():
        Path(state).unlink()


def run(*, train, validation, test, previous: list, sae, state, training: dict, device: str, threads: int) -> None:
    """Rule train_sae (and train_sae_seed): the checkpoint's SAE in SAELens layout, metrics.json, train_log.csv
    and loss.pdf, written whole into the directory `sae`; the resume state (`state`) is removed once the output
    is complete. `previous`: the previous checkpoint's SAE directory to start from (sae.init: previous), or []."""
    torch.set_num_threads(threads)
    cfg = SAETrainConfig(**training)
    init = TopKSAE.load(previous[0]) if previous else None
    best, metrics, rows = fit(train, validation, test, cfg, resolve_device(device), state,
                              progress=_token_progress("SAE training"), init=init)
    metrics["init"] = str(previous[0]) if previous else "fresh"
    attrs = dict(zarr.open_array(str(train), mode="r").attrs)
    metadata = {"model_name": attrs.get("model"), "checkpoint": attrs.get("checkpoint"),
                "checkpoint_source": attrs.get("source"), "corpus": attrs.get("corpus"),
                "layer": attrs.get("layer"),
                "hook_name": hook_name(attrs["layer"], attrs.get("n_layers")),
                "context_size": attrs.get("tokens_per_doc", 64) + 1, "prepend_bos": True,
                "bos_dropped": True, "input_l2_normalized": attrs.get("normalized"),
                "learning_rate": best.lr, "trained_by": "lmscope"}
    with atomic_path(sae) as tmp:
        best.sae.save(tmp, metadata)
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2))
        pl.DataFrame(rows).write_csv(tmp / "train_log.csv")
        sae_curves(rows, best.lr, tmp / "loss.pdf", f"{attrs.get('model')} {attrs.get('checkpoint')}: "
                                                     f"n/d={cfg.expansion_factor}, K={cfg.k}")
    _drop_state(state)


def run_sweep(*, train, validation, test, metrics, state, training: dict, ks: list[int], device: str,
              threads: int) -> None:
    """Rule sae_sweep: fig. 2's points of one n/d, every K of `ks` trained in one pass over the data (each with
    the learning-rate grid); {"expansion_factor", "points": {K: that point's metrics}} as one JSON (`metrics`)."""
    torch.set_num_threads(threads)
    cfg = SAETrainConfig(**training)
    dev = resolve_device(device)
    candidates, _ = train_grid(train, validation, cfg, dev, state, progress=_token_progress("sweep training"), ks=ks)
    points = {str(k): select([c for c in candidates if c.k == k], replace(cfg, k=k), validation, test, dev)[1]
              for k in ks}
    with atomic_path(metrics) as tmp:
        tmp.write_text(json.dumps({"expansion_factor": cfg.expansion_factor, "points": points}, indent=2))
    _drop_state(state)
