"""SAEs trained elsewhere, as lmscope's TopKSAE: one function per layout, each encoding exactly as its own library
does, so that every rule after the SAE (top texts, language, granularity, pages) reads them as it reads an SAE
trained here. The files are read with safetensors and json alone: neither SAELens nor sparsify is needed.

    saelens   z = ReLU(TopK((norm(x) - b_dec) W_enc + b_enc))    (SAE.encode: process_sae_in normalises x by
              normalize_activations, then subtracts b_dec when apply_b_dec_to_input; the TopK activation keeps the
              K largest pre-activations and applies ReLU to them; "standard" is ReLU of every latent, K = d_sae).
              rescale_acts_by_decoder_norm multiplies each pre-activation by its decoder row's norm: folded into
              W_enc, b_enc (and W_dec divided), as SAELens's fold_W_dec_norm does. apply_b_dec_to_input false is
              folded into b_enc (b_enc + b_dec W_enc), so that the encoder's b_pre stays b_dec for the decoder.
    sparsify  z = TopK(ReLU(encoder(x - b_dec)))      (SparseCoder.encode -> fused_encoder)
    llmjp     z = TopK(ReLU(encoder(x - b_dec)))      (llm-jp-sae model.py, TopKSAE.encode)

ReLU before or after TopK gives the same code: TopK of the ReLU'd values picks the same positive latents, and a
latent it keeps at 0 is 0 either way. The folds change float rounding only (tests compare to 1e-5).

What each expects as input (EXPECTED_INPUT), against lmscope's stores, which hold L2-normalised rows unless
activations.normalize is false:
- llmjp: L2-normalised activations. The authors' train.py divides every batch by its norm (their earlier code's
  `--nl` option defaulted to "Scalar", the same division), so their released SAEs meet lmscope's stores as they are.
- sparsify: raw activations (its trainer normalises nothing); set activations.normalize: false.
- saelens: with constant_norm_rescale or layer_norm the SAE rescales each input itself, so any scale meets it;
  with none (lmscope's own) or expected_average_only_in (a factor SAELens folds in only for its registry's SAEs),
  whatever it was trained on, which the files do not say: the README says how to choose.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file

from lmscope.atomic import atomic_path
from lmscope.errors import InputError
from lmscope.hub import snapshot
from lmscope.sae_checkpoints.disk_preflight import hidden_size
from lmscope.sae_checkpoints.released_sae_files import Layout, check_width, describe
from lmscope.sae_checkpoints.sae import TopKSAE

# what each format's SAEs were trained on: "normalized" (L2, as lmscope's stores), "raw", or None (not known
# from the files, or any scale: the SAE normalises its input itself)
EXPECTED_INPUT = {"llmjp": "normalized", "sparsify": "raw", "saelens": None}


def load(directory, fmt: str = "auto") -> TopKSAE:
    """The SAE in `directory`, its layout checked (released_sae_files.describe) and read by its format's loader."""
    layout = describe(directory, fmt)
    return LOADERS[layout.format](layout)


def _tensors(layout: Layout) -> dict[str, torch.Tensor]:
    return {name: t.float() for name, t in load_file(layout.weights).items()}


def _topk_sae(layout: Layout, w_enc_t, b_enc, w_dec, b_dec) -> TopKSAE:
    sae = TopKSAE(layout.d_in, layout.d_sae, layout.k, encoder_bias=True)
    with torch.no_grad():
        for param, value in ((sae.W_enc_t, w_enc_t), (sae.b_enc, b_enc), (sae.W_dec, w_dec), (sae.b_pre, b_dec)):
            param.copy_(value)
    return sae


def load_saelens(layout: Layout) -> TopKSAE:
    """A SAELens SAE folder (cfg.json + sae_weights.safetensors), as SAE.load_from_disk and its encode read it."""
    t, cfg = _tensors(layout), layout.config
    w_enc, b_enc, w_dec, b_dec = t["W_enc"], t["b_enc"], t["W_dec"], t["b_dec"]
    if cfg.get("architecture") == "topk" and cfg.get("rescale_acts_by_decoder_norm", False):
        norms = w_dec.norm(dim=1)
        w_enc, b_enc, w_dec = w_enc * norms, b_enc * norms, w_dec / norms[:, None]
    if not cfg.get("apply_b_dec_to_input", True):
        b_enc = b_enc + b_dec @ w_enc
    sae = _topk_sae(layout, w_enc.T, b_enc, w_dec, b_dec)
    norm = cfg.get("normalize_activations", "none")
    sae.input_norm = norm if norm in ("constant_norm_rescale", "layer_norm") else "none"
    return sae


def load_sparsify(layout: Layout) -> TopKSAE:
    """A sparsify SAE folder (cfg.json + sae.safetensors: one hookpoint), as SparseCoder.load_from_disk reads it."""
    t = _tensors(layout)
    return _topk_sae(layout, t["encoder.weight"], t["encoder.bias"], t["W_dec"], t["b_dec"])


def load_llmjp(layout: Layout) -> TopKSAE:
    """An llm-jp-sae folder (config.json + model.safetensors of their TopKSAE.save_pretrained)."""
    t = _tensors(layout)
    return _topk_sae(layout, t["encoder.weight"], t["encoder.bias"], t["decoder.weight"].T, t["b_dec"])


LOADERS = {"saelens": load_saelens, "sparsify": load_sparsify, "llmjp": load_llmjp}


def source_folder(source: dict, key: str) -> Path:
    """The local folder of a checkpoint's `sae:` entry: its path, or the hub repo's (subfolder) files in the
    Hugging Face cache, fetched once."""
    if "path" in source:
        return Path(source["path"])
    return snapshot(source["repo"], source.get("revision", "main"), key, source.get("subfolder"))


def run(*, source: dict, key: str, d_model: int | dict, normalized: bool, sae) -> None:
    """Rule load_sae: the SAE a checkpoint entry names (`source`: {path} or {repo, revision, subfolder}, with
    format), checked against the model (`d_model`: its layer width, or what disk_preflight.hidden_size reads it
    from) and the stores (`normalized`: activations.normalize), saved in lmscope's layout at `sae`."""
    folder = source_folder(source, key)  # a hub repo it cannot fetch is an InputError naming the key already
    if isinstance(d_model, dict):  # a model not trained here: its config.json says
        d_model = hidden_size(d_model)
    try:
        layout = describe(folder, source.get("format", "auto"))
        check_width(layout, d_model)
    except InputError as error:
        raise InputError(f"{key}: {error}") from None
    expects = EXPECTED_INPUT[layout.format]
    if expects is not None and (expects == "normalized") != normalized:
        raise InputError(f"{key}: {layout.weights} is a {layout.format} SAE, trained on {expects} activations, but "
                         f"activations.normalize is {str(normalized).lower()}; set activations.normalize: "
                         f"{str(not normalized).lower()} (README, Released SAEs)")
    model = LOADERS[layout.format](layout)
    origin = {k: v for k, v in source.items() if k in ("path", "repo", "revision", "subfolder")}
    with atomic_path(sae) as tmp:
        model.save(tmp, {"released": {**origin, "format": layout.format}})
