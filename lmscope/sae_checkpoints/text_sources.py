"""Where documents come from: the synthetic world, local JSONL / Parquet files, or a Hugging Face dataset.

Every source yields `RawDocument`s in one shape, so the rest of the corpus stage does not care where text came
from. A record that cannot be used (bad JSON, no text, a language outside the corpus) is skipped and counted in
`SourceStats`, never fatal: one bad line in a million must not stop a run, but the count tells the user.
Records are read one at a time, so a source of any size (a Wikipedia dump) is never held whole.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

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
        for doc in synthetic_text.iter_documents(spec["n_documents"], spec["seed"], **world):
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


def row_groups(path, columns: list[str] | None = None) -> Iterator[pa.Table]:
    """A Parquet file one row group at a time. (ParquetFile.iter_batches, which looks the same, held more the
    longer the file: its peak RSS grew by 56 MB from a 12k- to a 49k-row file of corpus_tokens' staged windows,
    measured; reading row groups stayed flat.)"""
    file = pq.ParquetFile(path)
    for group in range(file.num_row_groups):
        yield file.read_row_group(group, columns=columns)


def _iter_parquet(spec: dict, key: str) -> Iterator[dict]:
    """A local Parquet file, read a row group at a time."""
    path = _require_file(spec, key)
    try:
        file = pq.ParquetFile(path)
    except pa.ArrowException as e:
        raise SourceError(f"{key}.path: {path} is not a readable Parquet file: {e}") from None
    fields = {"text_field": spec["text_field"]}
    if spec.get("lang_field"):
        fields["lang_field"] = spec["lang_field"]
    for field_key, column in fields.items():
        if column not in file.schema_arrow.names:
            raise SourceError(f"{key}.{field_key}: {path} has no column {column!r}")
    rows = (row for table in row_groups(path, columns=list(fields.values()))
            for batch in table.to_batches(max_chunksize=10_000) for row in batch.to_pylist())
    yield from _records(((f"row{i}", row) for i, row in enumerate(rows)), spec, path.name)


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


def expected_records(specs: list[dict]) -> int | None:
    """How many records the sources will yield, for a progress bar's ETA: known where every source says (the
    synthetic source's count; a file's or dataset's `max_documents`, an upper bound), else None."""
    counts = [spec["n_documents"] * len(synthetic_text.LANGUAGES) if spec["kind"] == "synthetic"
              else spec.get("max_documents") for spec in specs]
    return None if None in counts else sum(counts)


class SeenIds:
    """The ids seen so far, as 64-bit digests: recent ones in a set, older ones merged into a sorted array, so
    that the duplicate check holds ~8 bytes a document (~20 MB for the paper's 2.6M, twice that while merging; a
    set of the ids would hold ~110, measured). Two different ids share a digest with probability n^2 / 2^65,
    about 2e-7 at 2.6M; the cost would be one document skipped as a duplicate."""

    MERGE_EVERY = 100_000  # recent digests in the set (~70 bytes each) before they are merged into the array

    def __init__(self):
        self.merged = np.zeros(0, dtype=np.uint64)
        self.recent: set[int] = set()

    @staticmethod
    def digest(source_id: str) -> int:
        return int.from_bytes(hashlib.blake2b(source_id.encode(), digest_size=8).digest(), "little")

    def __contains__(self, digest: int) -> bool:
        if digest in self.recent:
            return True
        # bisect in Python: 2.5 us; np.searchsorted of one Python int converts the whole array first (8 ms)
        i = bisect.bisect_left(self.merged, digest)
        return bool(i < len(self.merged) and self.merged[i] == digest)

    def add(self, digest: int) -> None:
        self.recent.add(digest)
        if len(self.recent) >= self.MERGE_EVERY:
            recent = np.sort(np.fromiter(self.recent, dtype=np.uint64, count=len(self.recent)))
            self.merged = np.insert(self.merged, np.searchsorted(self.merged, recent), recent)
            self.recent.clear()


def read_sources(specs: list[dict], languages: list[str], max_chars: int,
                 corpus_key: str) -> tuple[list[RawDocument], dict]:
    """All of `iter_documents` as a list, with the statistics: for a corpus small enough to hold (tests)."""
    stats: dict[str, dict] = {}
    docs = list(iter_documents(specs, languages, max_chars, corpus_key, stats))
    return docs, stats


def iter_documents(specs: list[dict], languages: list[str], max_chars: int, corpus_key: str,
                   stats: dict[str, dict]) -> Iterator[RawDocument]:
    """The documents of a corpus's sources one by one, in source order; `stats` gets each source's counts
    under its config key as that source ends.

    Skipped and counted: unreadable records, missing or empty text, a language not in `languages`, an id seen
    before. Texts longer than `max_chars` are cut (only a document's start is used downstream), and planted
    spans beyond the cut are dropped. Held across the whole corpus: one id digest per document (`SeenIds`).
    """
    seen = SeenIds()
    for i, spec in enumerate(specs):
        key = f"{corpus_key}.sources[{i}]"
        st = SourceStats()
        for rec in iter_source(spec, key):
            lang, digest = rec.get("lang"), SeenIds.digest(rec["source_id"])
            st.read[str(lang)] += 1
            if "error" in rec:
                reason = "unreadable"
            elif not isinstance(rec["text"], str) or not rec["text"].strip():
                reason = "empty text"
            elif lang not in languages:
                reason = f"language {lang!r} not in {languages}"
            elif digest in seen:
                reason = "duplicate id"
            else:
                reason = None
            if reason:
                st.skipped[reason] += 1
                if sum(st.skipped.values()) <= 10:
                    log.warning("%s: skipped %s: %s", key, rec["source_id"], rec.get("error", reason))
                continue
            seen.add(digest)
            text = rec["text"][:max_chars]
            st.kept[lang] += 1
            yield RawDocument(rec["source_id"], lang, text, [s for s in rec.get("spans", []) if s.end <= len(text)])
        log.info("%s (%s): kept %s, skipped %s", key, spec["kind"], dict(st.kept), dict(st.skipped))
        stats[key] = st.as_dict()
