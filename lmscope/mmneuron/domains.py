"""Visual question answering samples per image domain, from three kinds of source, in one table format.

Every source yields the same records, written per split as parquet:

    id, domain, source, images (PNG or original bytes, one per frame), question,
    answers (distinct answers), answer_counts (annotators per answer: VQAv2's ten, else 1),
    choices (option texts for multiple choice, in letter order; empty otherwise), kind (open|yesno|count|choice)

For multiple choice the answer is the right option's letter. Sources (config `domains.{domain}.sources`):
  synthetic  the generator in lmscope.mmneuron.synthetic_images (the embedded default)
  folder     images plus a JSONL or parquet of records
  hf         a Hugging Face dataset with configurable name, splits and column mapping (VQAv2, PMC-VQA, DocVQA,
             LingoQA, RS-VQA in presets/mmneuron.yaml); a directory written by `save_to_disk` loads offline

Every image is decoded once while preparing: an unreadable one drops its sample, which is counted and named in the
log and in the stats, and never stops a run.
"""

from __future__ import annotations

import io
import json
import logging
import random
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import polars as pl
from PIL import Image

from lmscope.atomic import atomic_path
from lmscope.errors import InputError
from lmscope.mmneuron import synthetic_images

log = logging.getLogger(__name__)

SPLITS = ("train", "validation")
KINDS = ("open", "yesno", "count", "choice")
SCHEMA = {"id": pl.String, "domain": pl.String, "source": pl.String, "images": pl.List(pl.Binary),
          "question": pl.String, "answers": pl.List(pl.String), "answer_counts": pl.List(pl.Int64),
          "choices": pl.List(pl.String), "kind": pl.String}
LETTER_PREFIX = re.compile(r"^\s*\(?[A-Z]\s*[:.)]\s*")


class BadImage(Exception):
    """An image that cannot be decoded."""


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def checked(blob: bytes) -> bytes:
    """The bytes unchanged when they decode as an image, else BadImage."""
    try:
        with Image.open(io.BytesIO(blob)) as image:
            image.load()
    except Exception as error:  # PIL raises many types for broken files
        raise BadImage(str(error)) from error
    return blob


def open_images(blobs: list[bytes]) -> list[Image.Image]:
    return [Image.open(io.BytesIO(b)).convert("RGB") for b in blobs]


def counted_answers(value) -> tuple[list[str], list[int]]:
    """Distinct answers and how many annotators gave each, from a string, a list of strings (one per
    annotator, VQAv2) or a list of {answer: ..} records."""
    if value is None:
        return [], []
    if isinstance(value, str):
        value = [value]
    texts = [v["answer"] if isinstance(v, dict) else v for v in value]
    counts = Counter(str(t).strip() for t in texts if t is not None and str(t).strip())
    return list(counts), list(counts.values())


def record(domain: str, source: str, ident: str, images: list[bytes], question: str, answers: list[str],
           counts: list[int], choices: list[str], kind: str) -> dict:
    if not answers:
        raise InputError(f"{source}: sample {ident} has no answer")
    if kind not in KINDS:
        raise InputError(f"{source}: sample {ident} has kind {kind!r}, not one of {', '.join(KINDS)}")
    return {"id": ident, "domain": domain, "source": source, "images": images, "question": question,
            "answers": answers, "answer_counts": counts, "choices": choices, "kind": kind}


# --- sources: each yields (id, record or BadImage) -------------------------------------------------------------

def synthetic(domain: str, split: str, spec: dict, name: str) -> Iterator[tuple[str, dict]]:
    for index in range(spec[split]):
        s = synthetic_images.sample(domain, split, index, spec["seed"], spec["image_size"], spec["frames"],
                                    spec["shuffle_choices"])
        ident = f"{domain}-{split}-{index}"
        yield ident, record(domain, name, ident, [png(im) for im in s.images], s.question, s.answers,
                            [1] * len(s.answers), s.choices, s.kind)


def _read_records(path: Path) -> list[dict]:
    if path.suffix == ".jsonl":
        rows = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise InputError(f"{path}, line {number}: not JSON ({error.msg})") from None
        return rows
    if path.suffix == ".parquet":
        return pl.read_parquet(path).to_dicts()
    raise InputError(f"{path}: records must be .jsonl or .parquet")


def _split_of(row: dict, ident: str, spec: dict) -> str:
    """The record's own split, else a seeded draw with the configured validation share."""
    if row.get("split"):
        return row["split"]
    return "validation" if random.Random(f"{spec['seed']}/{ident}").random() < spec["validation_share"] else "train"


def folder(domain: str, split: str, spec: dict, name: str) -> Iterator[tuple[str, dict | BadImage]]:
    root = Path(spec["path"])
    records = root / spec["records"]
    for number, row in enumerate(_read_records(records), 1):
        ident = str(row.get("id", f"{records.name}:{number}"))
        if row.get("domain", domain) != domain or _split_of(row, ident, spec) != split:
            continue
        files = row.get("images") or ([row["image"]] if row.get("image") else [])
        if not files or not row.get("question"):
            raise InputError(f"{records}, record {ident}: needs image (or images) and question")
        try:
            blobs = [checked((root / f).read_bytes()) for f in files]
        except (OSError, BadImage) as error:
            yield ident, BadImage(f"{error}")
            continue
        answers, counts = counted_answers(row.get("answers", row.get("answer")))
        if isinstance(row.get("answers"), list) and row.get("answer_counts"):
            counts = list(row["answer_counts"])
        choices = [LETTER_PREFIX.sub("", c) for c in row.get("choices") or []]
        kind = row.get("kind") or ("choice" if choices else "open")
        if not answers:
            raise InputError(f"{records}, record {ident}: no answer (give answers: a list of strings, or answer)")
        yield ident, record(domain, name, ident, blobs, row["question"], answers, counts, choices, kind)


def _load_hf(spec: dict, hf_split: str):
    import datasets  # optional (the hf extra), 2 s to import here: loaded only for an hf source

    path = Path(spec["path"])
    if (path / "dataset_dict.json").exists() or (path / "state.json").exists():  # written by save_to_disk
        data = datasets.load_from_disk(str(path))
        return data[hf_split] if isinstance(data, datasets.DatasetDict) else data
    return datasets.load_dataset(spec["path"], spec.get("name"), split=hf_split, revision=spec.get("revision"),
                                 streaming=True)


def _raw_images(data, column: str):
    """The dataset with its image column left undecoded, so a broken image is ours to skip."""
    import datasets  # optional (the hf extra), 2 s to import here: loaded only for an hf source

    feature = data.features[column] if data.features else None
    if isinstance(feature, datasets.Image):
        return data.cast_column(column, datasets.Image(decode=False))
    inner = getattr(feature, "feature", None)
    if isinstance(inner, datasets.Image):
        return data.cast_column(column, datasets.List(datasets.Image(decode=False)))
    return data


def _image_bytes(value, root: Path | None) -> bytes:
    if isinstance(value, dict):
        if value.get("bytes"):
            return value["bytes"]
        value = value.get("path")
    if isinstance(value, str):
        return (root / value if root else Path(value)).read_bytes()
    raise BadImage(f"no image data ({type(value).__name__})")


def hf(domain: str, split: str, spec: dict, name: str) -> Iterator[tuple[str, dict | BadImage]]:
    columns = spec["columns"]
    hf_split = spec["splits"][split]
    image_column = columns.get("images") or columns["image"]
    data = _load_hf(spec, hf_split)
    choice_spec = columns.get("choices", [])
    wanted = [c for key, c in columns.items() if key != "choices"] + (
        choice_spec if isinstance(choice_spec, list) else [choice_spec])
    if data.column_names is not None and (missing := [c for c in wanted if c not in data.column_names]):
        raise InputError(f"{name} ({spec['path']}, split {hf_split}): no column {', '.join(map(repr, missing))}; "
                         f"it has {', '.join(data.column_names)}")
    data = _raw_images(data, image_column)
    root = Path(spec["image_root"]) if spec.get("image_root") else None
    limit = spec.get("limit", {}).get(split)
    for number, row in enumerate(data):
        if limit is not None and number >= limit:
            break
        ident = str(row[columns["id"]]) if columns.get("id") else f"{hf_split}:{number}"
        values = row[image_column] if columns.get("images") else [row[image_column]]
        try:
            blobs = [checked(_image_bytes(v, root)) for v in values]
        except (OSError, BadImage) as error:
            yield ident, BadImage(str(error))
            continue
        choice_columns = columns.get("choices")
        if isinstance(choice_columns, list):
            choices = [LETTER_PREFIX.sub("", str(row[c])) for c in choice_columns]
        else:
            choices = [LETTER_PREFIX.sub("", str(c)) for c in row[choice_columns]] if choice_columns else []
        if columns.get("answer_letter"):
            answers, counts = [str(row[columns["answer_letter"]]).strip()], [1]
        else:
            answers, counts = counted_answers(row[columns["answers"]])
        kind = "choice" if choices else spec["answer_kind"]
        yield ident, record(domain, name, f"{name}:{ident}", blobs, str(row[columns["question"]]), answers,
                            counts, choices, kind)


SOURCES = {"synthetic": synthetic, "folder": folder, "hf": hf}


def prepare(domain: str, spec: dict, name: str, out_dir: str | Path) -> dict:
    """Write {split}.parquet and stats.json of one source; returns the stats (samples and skipped per split)."""
    out_dir = Path(out_dir)
    stats = {"domain": domain, "source": name, "kind": spec["kind"], "splits": {}}
    with atomic_path(out_dir) as tmp:
        tmp.mkdir(parents=True)
        for split in SPLITS:
            rows, skipped = [], []
            for ident, item in SOURCES[spec["kind"]](domain, split, spec, name):
                if isinstance(item, BadImage):
                    log.warning("%s %s: skipped sample %s, unreadable image: %s", domain, name, ident, item)
                    skipped.append(ident)
                else:
                    rows.append(item)
            pl.DataFrame(rows, schema=SCHEMA).write_parquet(tmp / f"{split}.parquet")
            stats["splits"][split] = {"samples": len(rows), "skipped": len(skipped), "skipped_ids": skipped}
            log.info("%s %s %s: %d samples, %d skipped", domain, name, split, len(rows), len(skipped))
        (tmp / "stats.json").write_text(json.dumps(stats, indent=1))
    return stats


def merge(domain: str, source_dirs: list[str], out_dir: str | Path) -> None:
    """One domain's splits from all its sources, in config order, with the sources' stats side by side."""
    out_dir = Path(out_dir)
    with atomic_path(out_dir) as tmp:
        tmp.mkdir(parents=True)
        for split in SPLITS:
            parts = [pl.read_parquet(Path(d) / f"{split}.parquet") for d in source_dirs]
            table = pl.concat(parts) if parts else pl.DataFrame(schema=SCHEMA)
            if table.height == 0:
                raise InputError(f"domain {domain}: no {split} samples from its sources")
            table.write_parquet(tmp / f"{split}.parquet")
        stats = [json.loads((Path(d) / "stats.json").read_text()) for d in source_dirs]
        (tmp / "stats.json").write_text(json.dumps({"domain": domain, "sources": stats}, indent=1))


def run_source(*, source: dict, source_samples: str, domain: str, index: str) -> dict:
    """Rules domains_synthetic, domains_folder, domains_hf: the `index`-th source of a domain (named by its kind
    and index, e.g. synthetic0) prepared into `source_samples`."""
    return prepare(domain, source, f"{source['kind']}{index}", source_samples)


def run_merge(*, sources: list[str], samples: str, domain: str) -> None:
    """Rule domains_merge: a domain's prepared sources, in config order, merged into `samples`."""
    merge(domain, sources, samples)
