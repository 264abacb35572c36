"""An SAE spliced into its model (issue 22; SAELens's and SAEBench's core evaluation): what it costs the model
when the layer's output is replaced by the SAE's reconstruction, on test documents.

At every position after BOS (never replaced: the SAEs never read it) the output h of the module whose output is
hidden_states[layer] (activations.layer_module: the embeddings, block layer - 1, or the final norm) becomes

    h_hat = |h| * SAE(h / |h|)      the stores hold L2-normalised rows, so the SAE reads unit vectors
    h_hat = SAE(h)                  with activations.normalize false

(an SAE that normalises its own input gives its output back in the input's scale: TopKSAE.denormalize), or 0
(zero ablation). Over the next-token predictions at positions 1..T-1 (each sees a replaced vector; BOS's own
prediction cannot change):

    CE loss score = (CE_zero - CE_sae) / (CE_zero - CE_clean)    1: the SAE costs nothing; 0: as bad as zeros
    KL score      = (KL_zero - KL_sae) / KL_zero,    KL_x = mean over predictions of KL(p_clean || p_x)
    loss delta    = CE_sae - CE_clean

and on the SAE's input x at positions 1..T: explained variance 1 - SSE / SST (SST about the mean vector of the
evaluated tokens, pooled as in the training metrics; SAEBench now averages a per-token ratio instead), MSE (per
token, summed over dimensions), cosine, L2 ratio, L0, L1, and per feature the share of tokens it fires on,
whence the dead (never) and dense (more than `dense_threshold`, 10%) fractions. core.json carries SAEBench's
core-eval layout and keys (sae_bench.evals.core.eval_output) with these values; a table lists them across
checkpoints.

Memory: one batch of documents, three [batch, T, vocab] float32 logits at a time, and [d_sae] counters.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import polars as pl
import torch
import torch.nn.functional as F
import zarr

from lmscope.atomic import atomic_path
from lmscope.logs import progress
from lmscope.models import load_causal_lm, resolve_device, resolve_dtype
from lmscope.sae_checkpoints.activations import layer_module
from lmscope.sae_checkpoints.sae import TopKSAE
from lmscope.sampling import seeded_sample
from lmscope.tables import markdown, write_csv, write_markdown

log = logging.getLogger(__name__)


@contextmanager
def replaced_output(module: torch.nn.Module, replace):
    """While open, `module`'s output at positions 1.. (BOS kept) is `replace(h)` of its output h there."""
    def hook(_module, _args, output):
        hidden = output[0] if isinstance(output, tuple) else output
        new = hidden.clone()
        new[:, 1:] = replace(hidden[:, 1:]).to(hidden.dtype)
        return (new, *output[1:]) if isinstance(output, tuple) else new

    handle = module.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


class Tally:
    """Sums over the evaluated tokens, merged batch by batch; `metrics()` turns them into the table's values."""

    def __init__(self, d_sae: int, device):
        self.sums: dict[str, float] = {}
        self.fired = torch.zeros(d_sae, dtype=torch.long, device=device)
        self.sum_x = None

    def add(self, **values) -> None:
        for key, value in values.items():
            self.sums[key] = self.sums.get(key, 0.0) + float(value)

    def reconstruction(self, x: torch.Tensor, x_hat: torch.Tensor, vals: torch.Tensor, idx: torch.Tensor) -> None:
        """x, x_hat: [tokens, d] the SAE's input and reconstruction; vals, idx: its active latents."""
        self.sum_x = x.sum(0) if self.sum_x is None else self.sum_x + x.sum(0)
        norm_in, norm_out = x.norm(dim=1), x_hat.norm(dim=1)
        active = vals > 0
        self.fired.index_add_(0, idx[active], torch.ones_like(idx[active]))
        self.add(tokens=len(x), sse=(x - x_hat).pow(2).sum(), sum_x2=x.pow(2).sum(),
                 cossim=F.cosine_similarity(x, x_hat, dim=1).sum(), l2_in=norm_in.sum(), l2_out=norm_out.sum(),
                 l2_ratio=(norm_out / norm_in.clamp_min(1e-4)).sum(), x_hat2=x_hat.pow(2).sum(),
                 x_dot_x_hat=(x * x_hat).sum(), l0=active.sum(), l1=vals.clamp_min(0).sum())

    def metrics(self, dense_threshold: float) -> dict:
        s, n = self.sums, self.sums["tokens"]
        sst = s["sum_x2"] - float(self.sum_x.pow(2).sum()) / n
        density = (self.fired.float() / n).cpu()
        ce_clean, ce_sae, ce_zero = (s[f"ce_{k}"] / s["predictions"] for k in ("clean", "sae", "zero"))
        kl_sae, kl_zero = s["kl_sae"] / s["predictions"], s["kl_zero"] / s["predictions"]
        return {
            "ce_loss_clean": ce_clean, "ce_loss_sae": ce_sae, "ce_loss_zero": ce_zero,
            "ce_loss_score": _ratio(ce_zero - ce_sae, ce_zero - ce_clean), "ce_loss_delta": ce_sae - ce_clean,
            "kl_sae": kl_sae, "kl_zero": kl_zero, "kl_score": _ratio(kl_zero - kl_sae, kl_zero),
            "explained_variance": 1 - s["sse"] / sst, "mse": s["sse"] / n, "cossim": s["cossim"] / n,
            "l2_norm_in": s["l2_in"] / n, "l2_norm_out": s["l2_out"] / n, "l2_ratio": s["l2_ratio"] / n,
            "relative_reconstruction_bias": _ratio(s["x_hat2"], s["x_dot_x_hat"]),
            "l0": s["l0"] / n, "l1": s["l1"] / n,
            "dead_fraction": float((density == 0).float().mean()),
            "dense_fraction": float((density > dense_threshold).float().mean()), "dense_threshold": dense_threshold,
            "freq_over_1_percent": float((density > 0.01).float().mean()),
            "freq_over_10_percent": float((density > 0.1).float().mean()),
            "normalized_freq_over_1_percent": _density_share(density, 0.01),
            "normalized_freq_over_10_percent": _density_share(density, 0.1),
            "tokens": int(n), "predictions": int(s["predictions"]),
        }


def _ratio(numerator: float, denominator: float) -> float | None:
    """numerator / denominator; None (null in the JSON) where it is undefined, e.g. a score whose zero ablation
    costs nothing, or the reconstruction bias of an SAE that outputs 0."""
    return numerator / denominator if denominator else None


def _density_share(density: torch.Tensor, above: float) -> float:
    """SAEBench's normalized_freq_over: the share of all firings that features denser than `above` make."""
    total = float(density.sum())
    return float(density[density > above].sum()) / total if total > 0 else 0.0


def _kl(clean_logp: torch.Tensor, logp: torch.Tensor) -> torch.Tensor:
    """Sum over predictions of KL(p_clean || p)."""
    return F.kl_div(logp, clean_logp, log_target=True, reduction="sum")


@torch.no_grad()
def evaluate_batch(model, module: torch.nn.Module, sae: TopKSAE, ids: torch.Tensor, normalized: bool,
                   tally: Tally) -> None:
    """One batch of windows [batch, 1 + T] (BOS first): clean, spliced and zero-ablated passes into `tally`."""
    def through_sae(h: torch.Tensor) -> torch.Tensor:
        h = h.float()
        norm = h.norm(dim=-1, keepdim=True)
        x = (h / norm.clamp_min(1e-12) if normalized else h).reshape(-1, h.shape[-1])
        vals, idx = sae.encode(x)
        x_hat = sae.denormalize(x, sae.decode(vals, idx))
        tally.reconstruction(x, x_hat, vals, idx)
        x_hat = x_hat.view(h.shape)
        return x_hat * norm if normalized else x_hat

    def next_token_logp() -> torch.Tensor:
        logits = model(input_ids=ids, use_cache=False).logits[:, 1:-1].float()
        return logits.log_softmax(-1).flatten(0, 1)

    targets = ids[:, 2:].flatten()
    clean = next_token_logp()
    with replaced_output(module, through_sae):
        spliced = next_token_logp()
    with replaced_output(module, torch.zeros_like):
        zero = next_token_logp()
    tally.add(predictions=len(targets), ce_clean=F.nll_loss(clean, targets, reduction="sum"),
              ce_sae=F.nll_loss(spliced, targets, reduction="sum"), ce_zero=F.nll_loss(zero, targets, reduction="sum"),
              kl_sae=_kl(clean, spliced), kl_zero=_kl(clean, zero))


def spliced_metrics(model, layer: int, sae: TopKSAE, tokens: zarr.Array, docs: int, seed: int, batch_docs: int,
                    normalized: bool, dense_threshold: float, key: str = "layer") -> dict:
    """The metrics above over `docs` test documents of `tokens` (the corpus's tokens.zarr)."""
    start, stop = tokens.attrs["split_offsets"]["test"]
    rows = start + seeded_sample(stop - start, docs, seed)
    device = next(model.parameters()).device
    module = layer_module(model, layer, key)
    tally = Tally(sae.d_sae, device)
    bar = progress(len(rows), "spliced documents")
    for b in range(0, len(rows), batch_docs):
        ids = torch.from_numpy(np.asarray(tokens[rows[b:b + batch_docs]], dtype=np.int64)).to(device)
        evaluate_batch(model, module, sae, ids, normalized, tally)
        bar.update(len(ids))
    bar.close()
    return {**tally.metrics(dense_threshold), "docs": len(rows), "layer": layer, "normalized": normalized}


def max_other_cosine(weights: torch.Tensor, block: int = 1024) -> torch.Tensor:
    """[n] each row's largest cosine with any other row of `weights` [n, d], `block` rows at a time."""
    unit = F.normalize(weights.float(), dim=1)
    out = torch.empty(len(unit), device=unit.device)
    for s in range(0, len(unit), block):
        sims = unit[s:s + block] @ unit.T
        sims[torch.arange(len(sims)), torch.arange(s, s + len(sims))] = -torch.inf
        out[s:s + block] = sims.max(1).values
    return out


def core_json(metrics: dict, sae: TopKSAE, cfg: dict, model: str, ckpt: str, batch_docs: int, context_size: int,
              llm_dtype: str) -> dict:
    """SAEBench's core eval output (eval_type_id "core"): its config keys, its metric categories and keys."""
    m = metrics
    return {
        "eval_type_id": "core",
        "eval_config": {"model_name": model, "llm_dtype": llm_dtype, "batch_size_prompts": batch_docs,
                        "n_eval_reconstruction_batches": -(-m["docs"] // batch_docs),
                        "n_eval_sparsity_variance_batches": -(-m["docs"] // batch_docs),
                        "dataset": "the corpus's test split", "context_size": context_size, "compute_kl": True,
                        "compute_ce_loss": True, "compute_l2_norms": True, "compute_sparsity_metrics": True,
                        "compute_variance_metrics": True, "compute_featurewise_density_statistics": True,
                        "compute_featurewise_weight_based_metrics": True,
                        "exclude_special_tokens_from_reconstruction": True, "verbose": False},
        "eval_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"lmscope/{model}/{ckpt}")),
        "datetime_epoch_millis": int(time.time() * 1000),
        "eval_result_metrics": {
            "model_behavior_preservation": {"kl_div_score": m["kl_score"], "kl_div_with_ablation": m["kl_zero"],
                                            "kl_div_with_sae": m["kl_sae"]},
            "model_performance_preservation": {"ce_loss_score": m["ce_loss_score"],
                                               "ce_loss_with_ablation": m["ce_loss_zero"],
                                               "ce_loss_with_sae": m["ce_loss_sae"],
                                               "ce_loss_without_sae": m["ce_loss_clean"]},
            "reconstruction_quality": {"explained_variance": m["explained_variance"], "mse": m["mse"],
                                       "cossim": m["cossim"]},
            "shrinkage": {"l2_norm_in": m["l2_norm_in"], "l2_norm_out": m["l2_norm_out"], "l2_ratio": m["l2_ratio"],
                          "relative_reconstruction_bias": m["relative_reconstruction_bias"]},
            "sparsity": {"l0": m["l0"], "l1": m["l1"]},
            "token_stats": {"total_tokens_eval_reconstruction": m["tokens"],
                            "total_tokens_eval_sparsity_variance": m["tokens"]},
            "misc_metrics": {
                "average_max_encoder_cosine_sim": float(max_other_cosine(sae.W_enc_t.detach()).mean()),
                "average_max_decoder_cosine_sim": float(max_other_cosine(sae.W_dec.detach()).mean()),
                "frac_alive": 1 - m["dead_fraction"], "freq_over_1_percent": m["freq_over_1_percent"],
                "freq_over_10_percent": m["freq_over_10_percent"],
                "normalized_freq_over_1_percent": m["normalized_freq_over_1_percent"],
                "normalized_freq_over_10_percent": m["normalized_freq_over_10_percent"]},
        },
        "eval_result_details": [],
        "eval_result_unstructured": {},
        "sae_bench_commit_hash": "none (lmscope's own implementation)",
        "sae_lens_id": ckpt,
        "sae_lens_release_id": model,
        "sae_lens_version": cfg.get("metadata", {}).get("sae_lens_version"),
        "sae_cfg_dict": cfg,
    }


def run(*, sae, tokens, metrics, core, checkpoint: dict, layer: int, key: str, normalized: bool, docs: int,
        seed: int, batch_docs: int, dense_threshold: float, device: str, dtype: str, model: str, ckpt: str,
        threads: int) -> None:
    """Rule sae_quality: metrics.json and SAEBench's core.json of one checkpoint's SAE spliced into its model."""
    torch.set_num_threads(threads)
    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    lm = load_causal_lm(checkpoint, dev, torch_dtype)
    autoencoder = TopKSAE.load(sae).to(dev)
    token_rows = zarr.open_array(str(tokens), mode="r")
    values = spliced_metrics(lm, layer, autoencoder, token_rows, docs, seed, batch_docs, normalized,
                             dense_threshold, key)
    log.info("CE loss score %.4f (clean %.4f, SAE %.4f, zero %.4f), KL %.4f, explained variance %.4f",
             values["ce_loss_score"], values["ce_loss_clean"], values["ce_loss_sae"], values["ce_loss_zero"],
             values["kl_sae"], values["explained_variance"])
    cfg = json.loads((Path(sae) / "cfg.json").read_text())
    with atomic_path(metrics) as tmp:
        tmp.write_text(json.dumps(values, indent=2))
    with atomic_path(core) as tmp:
        tmp.write_text(json.dumps(core_json(values, autoencoder, cfg, model, ckpt, batch_docs, token_rows.shape[1],
                                            str(torch_dtype).removeprefix("torch.")), indent=2))


TABLE_COLUMNS = ("ce_loss_clean", "ce_loss_sae", "ce_loss_zero", "ce_loss_score", "ce_loss_delta", "kl_sae",
                 "kl_score", "explained_variance", "l0", "dead_fraction", "dense_fraction")


def run_table(*, metrics: list, csv, md, checkpoints: list[str]) -> None:
    """Rule sae_quality_table: one row per checkpoint (training order) of the spliced metrics, as CSV and
    markdown."""
    rows = []
    for ckpt, path in zip(checkpoints, metrics):
        values = json.loads(Path(path).read_text())
        rows.append({"checkpoint": ckpt, **{c: values[c] for c in TABLE_COLUMNS}})
    write_csv(pl.DataFrame(rows), csv)
    shown = [{k: v if k == "checkpoint" or v is None else f"{v:.4g}" for k, v in row.items()} for row in rows]
    write_markdown(markdown(pl.DataFrame(shown)), md)  # four significant digits: a loss delta is small
