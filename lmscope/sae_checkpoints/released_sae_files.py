"""What a folder holding an SAE trained elsewhere says about it, read from its config and its safetensors header
alone (no weights, no torch): which of the three layouts it is, d_in, the number of latents and K. The config
checks read local folders with it before any job starts; lmscope.sae_checkpoints.released_saes builds the SAE.

    saelens   cfg.json + sae_weights.safetensors    W_enc [d_in, d_sae], b_enc, W_dec [d_sae, d_in], b_dec
    sparsify  cfg.json + sae.safetensors            encoder.weight [n, d_in], encoder.bias, W_dec [n, d_in], b_dec
              (one such folder per hookpoint; EleutherAI's sparsify, SparseCoder.save_to_disk)
    llmjp     config.json + model.safetensors       encoder.weight [n, d_in], encoder.bias, decoder.weight [d_in, n],
              (GitHub llm-jp/llm-jp-sae, model.py's  b_dec
              TopKSAE.save_pretrained)

Every problem is an InputError naming the file, for the caller to prefix with its config key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from safetensors import safe_open

from lmscope.errors import InputError

FORMATS = ("saelens", "sparsify", "llmjp")
FILES = {"saelens": ("cfg.json", "sae_weights.safetensors"), "sparsify": ("cfg.json", "sae.safetensors"),
         "llmjp": ("config.json", "model.safetensors")}
# SAELens architectures lmscope's TopKSAE computes exactly: topk, and standard (ReLU of every latent = TopK with
# K = d_sae). jumprelu's per-latent thresholds and gated's two paths are not a TopK.
SAELENS_ARCHITECTURES = ("topk", "standard")
# SAELens normalize_activations: the two that rescale each input (sae.py's input_norm), and the two that leave
# it as it is when SAELens loads a folder (load_from_disk; expected_average_only_in's factor is folded into the
# weights only for SAEs of its pretrained registry)
SAELENS_NORMS = ("none", "expected_average_only_in", "constant_norm_rescale", "layer_norm")


@dataclass(frozen=True)
class Layout:
    format: str
    d_in: int
    d_sae: int
    k: int
    config: dict      # the config file as read
    weights: Path     # the safetensors file


def detect_format(directory: Path) -> str:
    """The layout whose weights file the folder holds; a folder of hookpoint folders (a sparsify repo) or of
    nothing recognised is an error that says what is there."""
    found = [fmt for fmt in FORMATS if (directory / FILES[fmt][1]).is_file()]
    if len(found) == 1:
        return found[0]
    if found:
        raise InputError(f"{directory}: holds the weights of several layouts ({', '.join(found)}); set format")
    inner = sorted(p.name for p in directory.iterdir() if p.is_dir() and (p / "cfg.json").is_file()) \
        if directory.is_dir() else []
    hint = (f"; it holds SAE folders {', '.join(inner[:5])}: point path (or subfolder) at one of them" if inner
            else "")
    expected = "; ".join(" + ".join(FILES[fmt]) + f" ({fmt})" for fmt in FORMATS)
    raise InputError(f"{directory}: no recognised SAE files (expected {expected}){hint}")


def describe(directory, fmt: str = "auto") -> Layout:
    """The folder's layout, checked: its files exist, its config names a supported SAE, its safetensors file
    holds every tensor the format needs at the shapes the config implies, and K is at most the latents."""
    directory = Path(directory)
    fmt = detect_format(directory) if fmt == "auto" else fmt
    if fmt not in FORMATS:
        raise InputError(f"unknown SAE format {fmt!r} (one of auto, {', '.join(FORMATS)})")
    config_path, weights = (directory / name for name in FILES[fmt])
    for path in (config_path, weights):
        if not path.is_file():
            raise InputError(f"{path}: no such file (a {fmt} SAE folder holds {' + '.join(FILES[fmt])})")
    try:
        config = json.loads(config_path.read_text())
    except json.JSONDecodeError as error:
        raise InputError(f"{config_path}: not JSON ({error})") from None
    shapes = tensor_shapes(weights)
    d_in, d_sae, k, expected = {"saelens": _saelens, "sparsify": _sparsify, "llmjp": _llmjp}[fmt](config, config_path)
    for name, shape in expected.items():
        if name not in shapes:
            raise InputError(f"{weights}: no tensor {name!r} (a {fmt} SAE needs {', '.join(expected)}; "
                             f"the file holds {', '.join(sorted(shapes)) or 'none'})")
        if shapes[name] != shape:
            raise InputError(f"{weights}: tensor {name!r} has shape {shapes[name]}, but {config_path.name} "
                             f"implies {shape}")
    if not 0 < k <= d_sae:
        raise InputError(f"{config_path}: k = {k} active latents, but the SAE has {d_sae} latents")
    return Layout(fmt, d_in, d_sae, k, config, weights)


def check_width(layout: Layout, d_model: int) -> None:
    """The SAE reads vectors of the model's layer width, or an InputError naming its file."""
    if layout.d_in != d_model:
        raise InputError(f"{layout.weights} is an SAE of d_in = {layout.d_in}, but the model's layer has width "
                         f"{d_model}")


def tensor_shapes(path: Path) -> dict[str, list[int]]:
    """{name: shape} from a safetensors file's header (no tensor is read)."""
    try:
        with safe_open(path, framework="numpy") as f:
            return {name: list(f.get_slice(name).get_shape()) for name in f.keys()}
    except Exception as error:  # safetensors raises its own SafetensorError for a damaged header
        raise InputError(f"{path}: not a readable safetensors file ({error})") from None


def _field(config: dict, name: str, path: Path):
    if name not in config:
        raise InputError(f"{path}: no {name!r}")
    return config[name]


def _saelens(config, path):
    arch = config.get("architecture", "standard")  # SAELens's default for configs written before it was stored
    if arch not in SAELENS_ARCHITECTURES:
        raise InputError(f"{path}: architecture {arch!r}; lmscope analyses SAEs whose code is a TopK of ReLU "
                         f"latents ({', '.join(SAELENS_ARCHITECTURES)})")
    norm = config.get("normalize_activations", "none")
    if norm not in SAELENS_NORMS:
        raise InputError(f"{path}: normalize_activations {norm!r} is not supported (one of "
                         f"{', '.join(SAELENS_NORMS)})")
    d_in, d_sae = int(_field(config, "d_in", path)), int(_field(config, "d_sae", path))
    k = int(_field(config, "k", path)) if arch == "topk" else d_sae
    return d_in, d_sae, k, {"W_enc": [d_in, d_sae], "b_enc": [d_sae], "W_dec": [d_sae, d_in], "b_dec": [d_in]}


def _sparsify(config, path):
    for key, bad, why in (("activation", "groupmax", "a max per group of latents, not a TopK"),
                          ("transcode", True, "a transcoder predicts another module's output"),
                          ("skip_connection", True, "lmscope's SAE has no skip connection")):
        if config.get(key) == bad:
            raise InputError(f"{path}: {key} is {bad!r} ({why}); lmscope analyses TopK sparse autoencoders")
    d_in, k = int(_field(config, "d_in", path)), int(_field(config, "k", path))
    n = int(config.get("num_latents") or d_in * config.get("expansion_factor", 32))  # as SparseCoder.__init__
    return d_in, n, k, {"encoder.weight": [n, d_in], "encoder.bias": [n], "W_dec": [n, d_in], "b_dec": [d_in]}


def _llmjp(config, path):
    d_in, n, k = (int(_field(config, key, path)) for key in ("d_in", "num_latents", "k"))
    return d_in, n, k, {"encoder.weight": [n, d_in], "encoder.bias": [n], "decoder.weight": [d_in, n],
                        "b_dec": [d_in]}
