"""Branch B's config checks that a JSON schema cannot express: domains and their sources, judges and VLMs. Each
failure is a ConfigError naming the key."""

from __future__ import annotations

from pathlib import Path

from lmscope.config import ConfigError, unique
from lmscope.mmneuron.synthetic_images import DOMAINS

BUDGET_MODULES = ("lm", "vision")  # the modules a token budget can count


def budget_of(config: dict, index: int) -> dict:
    """The counting budget of `vlms[index]`, {samples: N} or {tokens: N, module: lm | vision}: its own, else
    neurons.budget. Keys set to null are dropped: Snakemake merges config files key by key, so a budget of one
    kind over one of the other keeps both unless the other's keys are nulled."""
    vlm = config["vlms"][index]
    key = f"vlms[{index}].budget" if vlm.get("budget") else "neurons.budget"
    budget = {k: v for k, v in (vlm.get("budget") or config["neurons"]["budget"]).items() if v is not None}
    if set(budget) == {"samples"} or (set(budget) == {"tokens", "module"} and budget["module"] in BUDGET_MODULES):
        return budget
    raise ConfigError(key, f"{budget} is neither {{samples: N}} nor {{tokens: N, module: "
                           f"{' | '.join(BUDGET_MODULES)}}}; where config files merged a budget of each kind, set "
                           f"the other's keys to null")


def check(config: dict, workdir: str | Path = ".") -> None:
    """Domains and VLMs: unique names, a synthetic source only for a domain the generator draws, folder sources
    and their files on disk, columns that say where the image and the answers are, a trained VLM's sizes that fit."""
    workdir = Path(workdir)
    unique([d["name"] for d in config.get("domains", [])], "domain", "domains")
    unique([v["name"] for v in config.get("vlms", [])], "VLM", "vlms")
    for i, domain in enumerate(config.get("domains", [])):
        judge = domain.get("judge") or {}
        if "path" in judge and not (workdir / judge["path"] / "config.json").is_file():
            raise ConfigError(f"domains[{i}].judge.path", f"no classifier at {judge['path']} (no config.json)")
        for j, source in enumerate(domain["sources"]):
            key = f"domains[{i}].sources[{j}]"
            if source["kind"] == "synthetic" and domain["name"] not in DOMAINS:
                raise ConfigError(f"domains[{i}].name", f"{domain['name']!r} has a synthetic source, but the "
                                                        f"generator draws only {', '.join(DOMAINS)}")
            if source["kind"] in ("folder", "rsvqa") and not (workdir / source["path"]).is_dir():
                raise ConfigError(f"{key}.path", f"no such directory: {source['path']}")
            if source["kind"] == "folder":
                for field in ("records", "images"):
                    files = source.get(field, ".")
                    for file in sorted(set(files.values())) if isinstance(files, dict) else [files]:
                        if not (workdir / source["path"] / file).exists():
                            raise ConfigError(f"{key}.{field}", f"no such file: {source['path']}/{file}")
            if source["kind"] == "rsvqa":
                for theirs in sorted(set(source["splits"].values())):
                    for part in ("questions", "answers"):
                        file = f"{source['prefix']}_split_{theirs}_{part}.json"
                        if not (workdir / source["path"] / file).is_file():
                            raise ConfigError(f"{key}.path", f"no {file} in {source['path']} (RSVQA's "
                                                             f"{{prefix}}_split_{{split}}_{part}.json)")
            if source["kind"] in ("hf", "folder") and (columns := source.get("columns")):
                if ("image" in columns) == ("images" in columns):
                    raise ConfigError(f"{key}.columns", "name exactly one of image (one per question) and images "
                                                        "(several frames)")
                if not ({"answers", "answer_letter"} & set(columns)):
                    raise ConfigError(f"{key}.columns", "name answers, or answer_letter with choices")
    for i, vlm in enumerate(config.get("vlms", [])):
        budget_of(config, i)
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


