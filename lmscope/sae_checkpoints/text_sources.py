"""Where documents come from: the synthetic world, local JSONL / Parquet files, or a Hugging Face dataset.

Every source yields `RawDocument`s in one shape, so the rest of the corpus stage does not care where text came
from. A record that cannot be used (bad JSON, no text, a language outside the corpus) is skipped and counted in
`SourceStats`, never fatal: one bad line in a million must not stop a run, but the count tells the user.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from lmscope.errors import InputError
from lmscope.sae_checkpoints import synthetic_text

log = logging.getLogger(__name__)


@dataclass
class RawDocument:
    source_id: str  # unique within the corpus: where the document came from
    lang: str
    text: str
    spans: list[synthetic_text.Span] = field(default_factory=list)  # planted labels (synthetic source only)


@dataclass
class SourceStats:
    """Per source: documents read, kept, and skipped by reason."""

    read: Counter = field(default_factory=Counter)
    kept: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict:
        return {"read": dict(self.read), "kept": dict(self.kept), "skipped": dict(self.skipped)}


class SourceError(InputError):
    """A source that cannot be read at all (missing file, unknown dataset): names the config key."""


def iter_source(spec: dict, key: str) -> Iterator[dict]:
    """Records of one source as dicts with `source_id`, `lang`, `text` (and `spans` for synthetic).

    `key` is the source's config key (e.g. "corpora[0].sources[1]"), used in error messages.
    """
    kind = spec["kind"]
    if kind == "synthetic":
        world = spec.get("world", {})
        for doc in synthetic_text.generate(spec["n_documents"], spec["seed"], **world):
            yield {"source_id": doc.doc_id, "lang": doc.lang, "text": doc.text, "spans": doc.spans}
        return
    if kind == "jsonl":
        yield from _iter_jsonl(spec, key)
    elif kind == "parquet":
        yield from _iter_parquet(spec, key)
    elif kind == "hf":
        yield from _iter_hf(spec, key)
    else:
        raise SourceError(f"{key}.kind: unknown source kind {kind!r}")


def _records(rows: Iterator[tuple[str, object]], spec: dict, name: str) -> Iterator[dict]:
    """Map raw rows (id, row dict or parse error) to records with the configured text and language fields."""
    text_field, lang_field, fixed_lang = spec["text_field"], spec.get("lang_field"), spec.get("lang")
    for i, (row_id, row) in enumerate(rows):
        if "max_documents" in spec and i >= spec["max_documents"]:
            return
        if isinstance(row, Exception):
            yield {"source_id": f"{name}:{row_id}", "error": f"unreadable ({row})"}
            continue
        yield {"source_id": f"{name}:{row_id}",
               "lang": fixed_lang if fixed_lang else row.get(lang_field),
               "text": row.get(text_field)}


def _require_file(spec: dict, key: str) -> Path:
    path = Path(spec["path"])
    if not path.is_file():
        raise SourceError(f"{key}.path: no such file: {path}")
    return path


def _iter_jsonl(spec: dict, key: str) -> Iterator[dict]:
    path = _require_file(spec, key)

    def rows():
        with open(path, encoding="utf-8", errors="replace") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    if not isinstance(row, dict):
                        raise ValueError("not a JSON object")
                    yield f"line{lineno}", row
                except ValueError as e:
                    yield f"line{lineno}", e

    yield from _records(rows(), spec, path.name)


def _iter_parquet(spec: dict, key: str) -> Iterator[dict]:
    path = _require_file(spec, key)
    columns = [spec["text_field"]] + ([spec["lang_field"]] if spec.get("lang_field") else [])
    try:
        frame = pl.read_parquet(path, columns=columns, n_rows=spec.get("max_documents"))
    except pl.exceptions.ColumnNotFoundError as e:
        raise SourceError(f"{key}: {path} has no column {e}") from None
    yield from _records(((f"row{i}", row) for i, row in enumerate(frame.iter_rows(named=True))), spec, path.name)


def _iter_hf(spec: dict, key: str) -> Iterator[dict]:
    """A Hugging Face dataset, streamed, so that a Wikipedia dump is never downloaded whole."""
    import datasets  # optional (lmscope[hf]): only a corpus with a hub source needs it

    try:
        ds = datasets.load_dataset(spec["dataset"], spec.get("subset"), split=spec["split"], streaming=True,
                                   revision=spec.get("revision"))
    except Exception as e:  # datasets raises many types (hub, file-not-found, config): name the key either way
        raise SourceError(f"{key}.dataset: cannot load {spec['dataset']!r}"
                          f"{' / ' + spec['subset'] if spec.get('subset') else ''}: {e}") from e
    name = spec["dataset"].rstrip("/").split("/")[-1] + (f"/{spec['subset']}" if spec.get("subset") else "")
    yield from _records(((row.get("id", i), row) for i, row in enumerate(ds)), spec, name)


def read_sources(specs: list[dict], languages: list[str], max_chars: int,
                 corpus_key: str) -> tuple[list[RawDocument], dict]:
    """All documents of a corpus's sources, in source order, with per-source statistics.

    Skipped and counted: unreadable records, missing or empty text, a language not in `languages`.
    Texts longer than `max_chars` are cut (only a document's start is used downstream), and planted spans
    beyond the cut are dropped.
    """
    docs: list[RawDocument] = []
    seen: set[str] = set()
    stats: dict[str, dict] = {}
    for i, spec in enumerate(specs):
        key = f"{corpus_key}.sources[{i}]"
        st = SourceStats()
        for rec in iter_source(spec, key):
            lang = rec.get("lang")
            st.read[str(lang)] += 1
            if "error" in rec:
                reason = "unreadable"
            elif not isinstance(rec["text"], str) or not rec["text"].strip():
                reason = "empty text"
            elif lang not in languages:
                reason = f"language {lang!r} not in {languages}"
            elif rec["source_id"] in seen:
                reason = "duplicate id"
            else:
                reason = None
            if reason:
                st.skipped[reason] += 1
                if sum(st.skipped.values()) <= 10:
                    log.warning("%s: skipped %s: %s", key, rec["source_id"], rec.get("error", reason))
                continue
            seen.add(rec["source_id"])
            text = rec["text"][:max_chars]
            spans = [s for s in rec.get("spans", []) if s.end <= len(text)]
            docs.append(RawDocument(rec["source_id"], lang, text, spans))
            st.kept[lang] += 1
        log.info("%s (%s): kept %s, skipped %s", key, spec["kind"], dict(st.kept), dict(st.skipped))
        stats[key] = st.as_dict()
    return docs, stats
