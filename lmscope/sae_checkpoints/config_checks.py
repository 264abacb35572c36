"""Branch A's config checks that a JSON schema cannot express: corpora, models and their checkpoints (with the
local files of released SAEs they name), SAE sizes, the matching baseline, pinned example features and labelling
sheets. Each failure is a ConfigError naming the key."""

from __future__ import annotations

from pathlib import Path

from lmscope.config import ConfigError, unique
from lmscope.errors import InputError
from lmscope.sae_checkpoints.released_sae_files import check_width, describe


def step_number(entry: int | dict) -> int | None:
    """The step of a checkpoint entry of a model trained here (N or {step: N, sae}), else None."""
    return entry if isinstance(entry, int) else entry.get("step")


def checkpoint_name(entry: int | dict) -> str:
    """The `{ckpt}` name of a checkpoint entry: `step-N` for a step of a model trained here."""
    step = step_number(entry)
    return f"step-{step}" if step is not None else entry["name"]


def check_released_sae(sae: dict, key: str, d_model: int | None, workdir: Path) -> None:
    """A checkpoint's `sae:` in a local folder: its files, layout and K (released_sae_files.describe), and its
    d_in against the model's width where that is known before any job (a model trained here). A hub SAE is
    checked by its job, once fetched."""
    if "path" not in sae:
        return
    directory = workdir / sae["path"]
    if not directory.is_dir():
        raise ConfigError(f"{key}.path", f"no such directory: {sae['path']}")
    try:
        layout = describe(directory, sae.get("format", "auto"))
        if d_model is not None:
            check_width(layout, d_model)
    except InputError as error:
        raise ConfigError(key, str(error)) from None


def check(config: dict, workdir: str | Path = ".") -> None:
    """Corpora, models, SAE sizes, pinned examples and labelling sheets (the schema has filled in defaults)."""
    workdir = Path(workdir)
    corpora = {c["name"]: c for c in config["corpora"]}
    unique([c["name"] for c in config["corpora"]], "corpus", "corpora")
    unique([m["name"] for m in config["models"]], "model", "models")

    for i, corpus in enumerate(config["corpora"]):
        key = f"corpora[{i}]"
        total = sum(corpus["split"].values())
        if abs(total - 1) > 1e-6:
            raise ConfigError(f"{key}.split", f"fractions sum to {total:g}, not 1")
        if corpus["split"]["train"] == 0:
            raise ConfigError(f"{key}.split.train", "the training split cannot be empty")
        for j, source in enumerate(corpus["sources"]):
            if source["kind"] in ("jsonl", "parquet") and not (workdir / source["path"]).is_file():
                raise ConfigError(f"{key}.sources[{j}].path", f"no such file: {source['path']}")
        tok = corpus["tokenizer"]
        if tok["kind"] == "pretrained" and "path" in tok and not (workdir / tok["path"]).is_dir():
            raise ConfigError(f"{key}.tokenizer.path", f"no such directory: {tok['path']}")

    for i, model in enumerate(config["models"]):
        key = f"models[{i}]"
        if model["corpus"] not in corpora:
            raise ConfigError(f"{key}.corpus", f"no corpus named {model['corpus']!r} (have {sorted(corpora)})")
        ckpts = model["checkpoints"]
        unique([checkpoint_name(c) for c in ckpts], "checkpoint", f"{key}.checkpoints")
        train = model.get("train")
        for j, entry in enumerate(ckpts):
            ckey = f"{key}.checkpoints[{j}]"
            step = step_number(entry)
            if train is not None and step is None:
                raise ConfigError(ckey, "a model trained here (train: is set) takes step numbers as checkpoints "
                                        "(N, or {step: N, sae} to analyse a released SAE)")
            if train is None and step is not None:
                raise ConfigError(ckey, "a step number needs train: (a model trained here); otherwise give "
                                        "{name, path} or {name, repo, revision}")
            if train is not None and step > train["steps"]:
                raise ConfigError(ckey, f"step {step} is after the last training step ({train['steps']})")
            if isinstance(entry, dict) and "path" in entry and not (workdir / entry["path"]).is_dir():
                raise ConfigError(f"{ckey}.path", f"no such directory: {entry['path']}")
            if isinstance(entry, dict) and "sae" in entry:
                check_released_sae(entry["sae"], f"{ckey}.sae", train["hidden_size"] if train else None, workdir)
        if train is not None:
            if model["layer"] > train["num_layers"]:
                raise ConfigError(f"{key}.layer", f"layer {model['layer']} > num_layers {train['num_layers']}")
            if train["hidden_size"] % train["num_heads"]:
                raise ConfigError(f"{key}.train.num_heads", "must divide hidden_size")
            if train["seq_len"] < corpora[model["corpus"]]["tokens_per_doc"] + 1:
                raise ConfigError(f"{key}.train.seq_len", "must hold BOS + tokens_per_doc of its corpus")
            sae = config["sae"]
            pairs = [("sae.k", sae["expansion_factor"], sae["k"])] + [
                ("sae.sweep.k", n, k) for n in sae["sweep"]["expansion_factors"] for k in sae["sweep"]["k"]]
            for sae_key, expansion, k in pairs:
                if k > expansion * train["hidden_size"]:
                    raise ConfigError(sae_key, f"K={k} active latents, but an SAE on {model['name']} with "
                                               f"expansion factor {expansion} has only {expansion * train['hidden_size']}"
                                               f" (hidden_size {train['hidden_size']} of {key}.train)")

    matching = config["matching"]
    if matching["baseline_seed"] == config["sae"]["seed"]:
        raise ConfigError("matching.baseline_seed", f"equals sae.seed ({config['sae']['seed']}): the seed baseline "
                                                    f"needs a second SAE that differs in its seed")
    if matching["by"] == "decoder_cosine" and config["sae"]["init"] != "previous":
        raise ConfigError("matching.by", "decoder_cosine compares decoder directions, which SAEs of different "
                                         "checkpoints share only when each starts from the previous one: set "
                                         "sae.init: previous, or match by correlation")

    first = config["models"][0]
    names = [checkpoint_name(c) for c in first["checkpoints"]]
    chosen = config["examples"]["checkpoints"]
    for i, ckpt in enumerate(chosen):
        if ckpt not in names:
            raise ConfigError(f"examples.checkpoints[{i}]", f"{ckpt!r} is not a checkpoint of the first model "
                                                            f"{first['name']!r} (have {names})")
    if [names.index(c) for c in chosen] != sorted(names.index(c) for c in chosen):
        raise ConfigError("examples.checkpoints", f"{chosen} are not in training order ({names})")
    for ckpt in config["examples"]["pinned"]:
        if ckpt not in names:
            raise ConfigError(f"examples.pinned.{ckpt}", f"not a checkpoint of the first model "
                                                         f"{first['name']!r} (have {names})")
    for ckpt, path in config["granularity"]["sheets"].items():
        if ckpt not in names:
            raise ConfigError(f"granularity.sheets.{ckpt}", f"not a checkpoint of the first model "
                                                            f"{first['name']!r} (have {names})")
        if not (workdir / path).is_file():
            raise ConfigError(f"granularity.sheets.{ckpt}", f"no such file: {path}")


