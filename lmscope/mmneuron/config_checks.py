"""Branch B's config checks that a JSON schema cannot express: domains and their sources, judges and VLMs. Each
failure is a ConfigError naming the key."""

from __future__ import annotations

from pathlib import Path

from lmscope.config import ConfigError, unique
from lmscope.mmneuron.synthetic_images import DOMAINS


def check(config: dict, workdir: str | Path = ".") -> None:
    """Domains and VLMs: unique names, a synthetic source only for a domain the generator draws, folder sources
    on disk, hub columns that say where the image and the answers are, a trained VLM's sizes that fit."""
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


