"""Checks a JSON schema cannot express: split fractions that sum to 1, files that exist, names that refer to
each other. Run after the schema (which fills in defaults), so every key here is present.

Each failure is a `ConfigError` whose message starts with the config key, e.g.
`config key corpora[0].split: fractions sum to 1.1, not 1`.
"""

from __future__ import annotations

from pathlib import Path

from lmscope.errors import InputError


class ConfigError(InputError):
    def __init__(self, key: str, message: str):
        super().__init__(f"config key {key}: {message}")
        self.key = key


def key_name(path) -> str:
    """`corpora[0].split.train` for the JSON path ('corpora', 0, 'split', 'train')."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def config_message(error: Exception) -> str:
    """The paragraph for a config that fails: a ConfigError's own message, or for the schema's failure (a
    WorkflowError raised while handling jsonschema's ValidationError) the key and what is wrong with it."""
    cause = error.__context__
    if not isinstance(error, ConfigError) and hasattr(cause, "absolute_path"):
        return schema_message(cause)
    return str(error)


def schema_message(error) -> str:
    """One paragraph for a JSON-schema ValidationError (what snakemake's validate raises): the key, what is wrong
    with it, what the key is for, and for an unknown key the keys that are allowed there."""
    key = key_name(error.absolute_path)
    where = f"config key {key}" if key else "config"
    message = f"{where}: {error.message}"
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties" and "properties" in schema:
        message += f"; allowed here: {', '.join(sorted(schema['properties']))}"
    elif schema.get("description"):
        message += f" ({key.rsplit('.', 1)[-1] or 'it'}: {schema['description']})"
    return message


def _unique(items: list, what: str, key: str) -> None:
    seen = set()
    for i, name in enumerate(items):
        if name in seen:
            raise ConfigError(f"{key}[{i}].name", f"{what} name {name!r} is used twice")
        seen.add(name)


def checkpoint_name(entry: int | dict) -> str:
    """The `{ckpt}` name of a checkpoint entry: `step-N` for a step of a model trained here."""
    return f"step-{entry}" if isinstance(entry, int) else entry["name"]


def check(config: dict, workdir: str | Path = ".") -> None:
    workdir = Path(workdir)
    corpora = {c["name"]: c for c in config["corpora"]}
    _unique([c["name"] for c in config["corpora"]], "corpus", "corpora")
    _unique([m["name"] for m in config["models"]], "model", "models")

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
        _unique([checkpoint_name(c) for c in ckpts], "checkpoint", f"{key}.checkpoints")
        train = model.get("train")
        for j, entry in enumerate(ckpts):
            ckey = f"{key}.checkpoints[{j}]"
            if train is not None and not isinstance(entry, int):
                raise ConfigError(ckey, "a model trained here (train: is set) takes step numbers as checkpoints")
            if train is None and isinstance(entry, int):
                raise ConfigError(ckey, "a step number needs train: (a model trained here); otherwise give "
                                        "{name, path} or {name, repo, revision}")
            if train is not None and entry > train["steps"]:
                raise ConfigError(ckey, f"step {entry} is after the last training step ({train['steps']})")
            if isinstance(entry, dict) and "path" in entry and not (workdir / entry["path"]).is_dir():
                raise ConfigError(f"{ckey}.path", f"no such directory: {entry['path']}")
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

    first = config["models"][0]
    names = [checkpoint_name(c) for c in first["checkpoints"]]
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
    _check_branch_b(config, workdir)


def _check_branch_b(config: dict, workdir: Path) -> None:
    """Domains and VLMs: unique names, a synthetic source only for a domain the generator draws, folder sources
    on disk, hub columns that say where the image and the answers are, a trained VLM's sizes that fit."""
    from lmscope.synthetic_images import DOMAINS

    _unique([d["name"] for d in config.get("domains", [])], "domain", "domains")
    _unique([v["name"] for v in config.get("vlms", [])], "VLM", "vlms")
    for i, domain in enumerate(config.get("domains", [])):
        judge = domain.get("judge") or {}
        if "path" in judge and not (workdir / judge["path"] / "config.json").is_file():
            raise ConfigError(f"domains[{i}].judge.path", f"no classifier at {judge['path']} (no config.json)")
        for j, source in enumerate(domain["sources"]):
            key = f"domains[{i}].sources[{j}]"
            if source["kind"] == "synthetic" and domain["name"] not in DOMAINS:
                raise ConfigError(f"domains[{i}].name", f"{domain['name']!r} has a synthetic source, but the "
                                                        f"generator draws only {', '.join(DOMAINS)}")
            if source["kind"] == "folder":
                if not (workdir / source["path"]).is_dir():
                    raise ConfigError(f"{key}.path", f"no such directory: {source['path']}")
                if not (workdir / source["path"] / source["records"]).is_file():
                    raise ConfigError(f"{key}.records", f"no such file: {source['path']}/{source['records']}")
            if source["kind"] == "hf":
                columns = source["columns"]
                if ("image" in columns) == ("images" in columns):
                    raise ConfigError(f"{key}.columns", "name exactly one of image (one per question) and images "
                                                        "(several frames)")
                if not ({"answers", "answer_letter"} & set(columns)):
                    raise ConfigError(f"{key}.columns", "name answers, or answer_letter with choices")
    for i, vlm in enumerate(config.get("vlms", [])):
        train = vlm.get("train")
        if "path" in vlm and not (workdir / vlm["path"] / "config.json").is_file():
            raise ConfigError(f"vlms[{i}].path", f"no model at {vlm['path']} (no config.json)")
        if train is not None:
            if train["image_size"] % train["patch_size"]:
                raise ConfigError(f"vlms[{i}].train.patch_size", "must divide image_size")
            if train["hidden_size"] % train["num_heads"]:
                raise ConfigError(f"vlms[{i}].train.num_heads", "must divide hidden_size")
            if train["vision_hidden"] % 4:
                raise ConfigError(f"vlms[{i}].train.vision_hidden", "must be a multiple of 4 (4 heads)")
            sizes = {s.get("image_size") for d in config["domains"] for s in d["sources"] if s["kind"] == "synthetic"}
            if sizes - {train["image_size"]}:
                raise ConfigError(f"vlms[{i}].train.image_size", f"{train['image_size']} differs from the synthetic "
                                                                 f"sources' image_size {sorted(sizes)}")


def sort_keys(value) -> None:
    """Sort the keys of every mapping in `value`, in place. Snakemake compares a rule's params with the last
    run's by their text, so the same config written with its keys in another order (a YAML dump sorts them;
    people do not) would rerun everything. Lists keep their order: theirs is meaningful."""
    if isinstance(value, dict):
        items = sorted(value.items())
        value.clear()
        value.update(items)
        for v in value.values():
            sort_keys(v)
    elif isinstance(value, list):
        for v in value:
            sort_keys(v)
