"""The TopK sparse autoencoder of METHODS A3 (Gao et al. 2024; the paper's eq. 1-3):

    z = ReLU(TopK(W_enc (x - b_pre) [+ b_enc])),    x_hat = W_dec z + b_pre,    L = ||x - x_hat||^2

Only K of the n latents are non-zero per input, so everything after the encoder's dense matmul is done on the
K active indices: the decoder is an `embedding_bag` over the active rows of W_dec (forward and backward), and
the encoder's backward (a custom autograd function) touches only the K active columns — B·K·d work instead
of B·n·d. Layout follows SAELens: W_enc [d_in, d_sae], W_dec [d_sae, d_in] (each row a feature's unit-norm
decoder direction), b_dec = b_pre. Internally the encoder is held as W_enc.T ([d_sae, d_in]) so that its active
rows can be gathered too.

An SAE trained elsewhere (lmscope.sae_checkpoints.released_saes) may normalise its input before the encoder, as
SAELens's `normalize_activations` does: `input_norm` "constant_norm_rescale" scales each x to norm sqrt(d_in),
"layer_norm" standardises it over its d_in entries (eps 1e-5 on the standard deviation), before b_pre is
subtracted; decode() then reconstructs that normalised input. SAEs trained here use "none".
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

SAELENS_LAYOUT = "6.0.0"  # the SAELens config layout save() writes

# Initial norm of the encoder's rows. Gao et al.'s reference code (openai/sparse_autoencoder) keeps nn.Linear's
# default encoder init (rows of norm ~1/sqrt(3)) and sets the decoder to its transpose normalised to unit norm.
# Measured on the tiny LM's activations (n/d=16, K=32, 100 steps): unit-norm encoder rows reach test FVU 0.074,
# rows of norm 1/sqrt(3) reach 0.057 (benchmarks/README.md).
ENCODER_INIT_NORM = 3 ** -0.5


class _TopKEncode(torch.autograd.Function):
    """vals, idx = ReLU(TopK(F.linear(x, W, b))) with a sparse backward.

    With `k_aux` > 0, also the top `k_aux` pre-activations among the latents in `dead` (AuxK), appended after
    the K main ones, so that one backward pass serves both.

    With `select_dtype` bfloat16 the dense matmul (the B·n·d step that bounds the speed) runs in bfloat16 only to
    choose the active latents; their values are then computed exactly in float32 from the K (+ k_aux) chosen
    rows (B·K·d), so that reconstruction and gradients keep full precision and only near-ties can pick
    differently."""

    @staticmethod
    def forward(ctx, x, weight, bias, k, dead, k_aux, select_dtype=None):
        if select_dtype is None:
            pre = F.linear(x, weight, bias)
        else:
            pre = F.linear(x.to(select_dtype), weight.to(select_dtype),
                           None if bias is None else bias.to(select_dtype))
        vals, idx = pre.topk(k, dim=-1, sorted=False)
        if k_aux:
            aux_vals, aux_idx = pre.masked_fill(~dead, float("-inf")).topk(k_aux, dim=-1, sorted=False)
            vals, idx = torch.cat([vals, aux_vals], -1), torch.cat([idx, aux_idx], -1)
        if select_dtype is not None:  # exact values of the chosen latents (-inf stays -inf: no dead latent left)
            vals = torch.where(torch.isneginf(vals), vals.to(x.dtype), _chosen_preactivations(x, weight, bias, idx))
        vals = vals.relu()  # also turns the -inf of too few dead latents into 0 (no gradient)
        ctx.save_for_backward(x, weight, idx, vals)
        ctx.has_bias = bias is not None
        ctx.mark_non_differentiable(idx)
        return vals, idx

    @staticmethod
    def backward(ctx, grad_vals, _grad_idx):
        x, weight, idx, vals = ctx.saved_tensors
        g = grad_vals * (vals > 0)  # through the ReLU
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = F.embedding_bag(idx, weight, per_sample_weights=g.to(weight.dtype), mode="sum")
        if ctx.needs_input_grad[1]:
            rows = torch.arange(len(x), device=x.device).repeat_interleave(idx.shape[1])
            sel = torch.sparse_coo_tensor(torch.stack([idx.flatten(), rows]), g.flatten().to(x.dtype),
                                          (weight.shape[0], len(x)), check_invariants=False)
            grad_w = torch.sparse.mm(sel, x).to(weight.dtype)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = torch.zeros(weight.shape[0], dtype=g.dtype, device=g.device).index_add_(0, idx.flatten(),
                                                                                           g.flatten())
        return grad_x, grad_w, grad_b, None, None, None, None


def _chosen_preactivations(x, weight, bias, idx, max_bytes: int = 2 ** 28) -> torch.Tensor:
    """[B, K] float32 pre-activations of the latents `idx` only, in row blocks whose gathered weights [rows, K, d]
    stay under `max_bytes` (a whole 32k-token batch at K = 32, d = 2,048 would gather 8.6 GB)."""
    rows = max(1, max_bytes // (idx.shape[1] * x.shape[1] * x.element_size()))
    out = torch.cat([torch.einsum("bd,bkd->bk", x[s:s + rows], weight[idx[s:s + rows]])
                     for s in range(0, len(x), rows)]) if len(x) else x.new_zeros(idx.shape)
    return out + bias[idx] if bias is not None else out


class TopKSAE(nn.Module):
    def __init__(self, d_in: int, d_sae: int, k: int, encoder_bias: bool = False, seed: int | None = None):
        super().__init__()
        if not 0 < k <= d_sae:
            raise ValueError(f"k must be in 1..d_sae ({d_sae}), got {k}")
        self.d_in, self.d_sae, self.k = d_in, d_sae, k
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        w_dec = torch.randn(d_sae, d_in, generator=gen)
        w_dec /= w_dec.norm(dim=1, keepdim=True)
        self.W_dec = nn.Parameter(w_dec)  # [d_sae, d_in], unit-norm rows
        # W_enc.T, initially the decoder's directions: W_dec = W_enc^T up to the scale ENCODER_INIT_NORM
        self.W_enc_t = nn.Parameter(w_dec * ENCODER_INIT_NORM)
        self.b_enc = nn.Parameter(torch.zeros(d_sae)) if encoder_bias else None
        self.b_pre = nn.Parameter(torch.zeros(d_in))
        self.select_dtype: torch.dtype | None = None  # bfloat16: choose the active latents in bf16 (_TopKEncode)
        self.input_norm = "none"  # or constant_norm_rescale, layer_norm (an SAE trained elsewhere: see above)

    @property
    def W_enc(self) -> torch.Tensor:
        """[d_in, d_sae], the paper's and SAELens's layout."""
        return self.W_enc_t.T

    def encoder_input(self, x: torch.Tensor) -> torch.Tensor:
        """x as the encoder's matmul takes it: normalised by `input_norm` (SAELens's run_time_activation_norm_fn_in),
        then less b_pre."""
        if self.input_norm == "constant_norm_rescale":
            x = x * (self.d_in ** 0.5 / x.norm(dim=-1, keepdim=True))
        elif self.input_norm == "layer_norm":
            x = x - x.mean(dim=-1, keepdim=True)
            x = x / (x.std(dim=-1, keepdim=True) + 1e-5)
        return x - self.b_pre

    def denormalize(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        """decode()'s output x_hat in the scale of the input x: decode() reconstructs the encoder's normalised
        input, so `input_norm` is undone as SAELens's run_time_activation_norm_fn_out does (times the norm over
        sqrt(d_in); for layer_norm times the standard deviation, plus the mean). What a model is given back when
        the SAE is spliced into it (spliced_quality.py)."""
        if self.input_norm == "constant_norm_rescale":
            return x_hat * (x.norm(dim=-1, keepdim=True) / self.d_in ** 0.5)
        if self.input_norm == "layer_norm":
            return x_hat * (x.std(dim=-1, keepdim=True) + 1e-5) + x.mean(dim=-1, keepdim=True)
        return x_hat

    def encode(self, x: torch.Tensor, dead: torch.Tensor | None = None,
               k_aux: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """(values, indices) of the K active latents, [batch, K] each (then the AuxK ones when k_aux > 0)."""
        k_aux = min(k_aux, int(dead.sum())) if dead is not None else 0
        return _TopKEncode.apply(self.encoder_input(x), self.W_enc_t, self.b_enc, self.k, dead, k_aux,
                                 self.select_dtype)

    def decode(self, vals: torch.Tensor, idx: torch.Tensor, bias: bool = True) -> torch.Tensor:
        out = F.embedding_bag(idx, self.W_dec, per_sample_weights=vals.to(self.W_dec.dtype), mode="sum")
        return out + self.b_pre if bias else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(*self.encode(x))

    def dense_latents(self, x: torch.Tensor) -> torch.Tensor:
        """z as a dense [batch, d_sae] tensor (for analysis, not training)."""
        vals, idx = self.encode(x)
        return torch.zeros(len(x), self.d_sae, dtype=vals.dtype, device=x.device).scatter_(-1, idx, vals)

    @torch.no_grad()
    def remove_parallel_gradient(self) -> None:
        """Project each decoder row's gradient onto the plane orthogonal to the row (Gao et al.), so that a step
        changes the direction and not the (unit) norm, to first order."""
        if self.W_dec.grad is not None:
            w = self.W_dec
            self.W_dec.grad -= (self.W_dec.grad * w).sum(1, keepdim=True) * w

    @torch.no_grad()
    def normalize_decoder(self) -> None:
        self.W_dec /= self.W_dec.norm(dim=1, keepdim=True)

    # --- SAELens layout --------------------------------------------------------------------------------------

    def save(self, directory, metadata: dict) -> None:
        """sae_weights.safetensors + cfg.json as SAELens's `SAE.load_from_disk` reads them ("topk" architecture;
        a zero b_enc where this SAE has none, which is the same function).

        `metadata.sae_lens_version` names the config layout written (SAELens 6); without it SAELens converts
        the file as a pre-6 config and drops the metadata."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        b_enc = self.b_enc if self.b_enc is not None else torch.zeros(self.d_sae)
        tensors = {"W_enc": self.W_enc, "W_dec": self.W_dec, "b_enc": b_enc, "b_dec": self.b_pre}
        save_file({k: v.detach().float().contiguous().cpu() for k, v in tensors.items()},
                  directory / "sae_weights.safetensors")
        cfg = {"architecture": "topk", "d_in": self.d_in, "d_sae": self.d_sae, "k": self.k, "dtype": "float32",
               "device": "cpu", "apply_b_dec_to_input": True, "normalize_activations": self.input_norm,
               "reshape_activations": "none", "rescale_acts_by_decoder_norm": False,
               "metadata": {"sae_lens_version": SAELENS_LAYOUT, **metadata}}
        (directory / "cfg.json").write_text(json.dumps(cfg, indent=2))

    @classmethod
    def load(cls, directory) -> TopKSAE:
        directory = Path(directory)
        cfg = json.loads((directory / "cfg.json").read_text())
        tensors = load_file(directory / "sae_weights.safetensors")
        encoder_bias = bool(tensors["b_enc"].abs().max() > 0)
        sae = cls(cfg["d_in"], cfg["d_sae"], cfg["k"], encoder_bias=encoder_bias)
        with torch.no_grad():
            sae.W_enc_t.copy_(tensors["W_enc"].T)
            sae.W_dec.copy_(tensors["W_dec"])
            sae.b_pre.copy_(tensors["b_dec"])
            if encoder_bias:
                sae.b_enc.copy_(tensors["b_enc"])
        sae.input_norm = cfg.get("normalize_activations", "none")
        return sae


@torch.no_grad()
def geometric_median(points: torch.Tensor, tol: float = 1e-6, max_iter: int = 200) -> torch.Tensor:
    """The point minimising the sum of Euclidean distances to `points` ([n, d]), by Weiszfeld's iteration:
    y <- sum(x_i / |x_i - y|) / sum(1 / |x_i - y|), from the mean, until y moves less than tol·(1 + |y|)."""
    points = points.double()
    y = points.mean(0)
    for _ in range(max_iter):
        dist = (points - y).norm(dim=1).clamp_min(1e-12)
        w = 1 / dist
        new = (w[:, None] * points).sum(0) / w.sum()
        if (new - y).norm() <= tol * (1 + y.norm()):
            y = new
            break
        y = new
    return y.float()
