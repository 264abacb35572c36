"""The corpus stage (METHODS A1): splits by document, first-64-token windows after BOS, a 1:1 language balance,
and planted concept labels aligned to token positions.

Order of work, and why:
1. `assign_split_codes` — by document, seeded, stratified by language, before any tokenizer is trained, so a BPE
   trained here sees only the training split.
2. `tokenize_windows` — each document's first `tokens_per_doc` tokens after BOS; shorter documents are skipped
   and counted (the paper feeds exactly BOS + 64).
3. `balance_languages` — within each split, the larger language is subsampled (seeded) to the smaller one, so
   every split is one to one after the length filter.

Every stage streams: text and tokens pass through in row groups of `ROW_GROUP_DOCUMENTS`, and what is held for
the whole corpus is a few bytes per document (a language code, a split code, an id digest), so that the paper's
2.6M Wikipedia documents need no more memory than the embedded default's 6,000.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import tempfile
from array import array
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import zarr
from zarr.codecs import BloscCodec

from lmscope.atomic import atomic_path
from lmscope.errors import InputError
from lmscope.logs import progress
from lmscope.sae_checkpoints.synthetic_text import Span
from lmscope.sae_checkpoints.text_sources import RawDocument, expected_records, iter_documents, row_groups
from lmscope.tokenizer import bos_id, load_tokenizer, train_bpe

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")

# Documents per Parquet row group, and so the most text any stage holds at once: at the paper's max_chars of
# 2,000 a group of Wikipedia openings is ~40 MB of UTF-8.
ROW_GROUP_DOCUMENTS = 10_000
# Documents tokenised per call: their full token lists and offsets (~600 per Wikipedia opening) are held briefly.
TOKENIZE_BATCH = 1_000
# Rows per chunk of tokens.zarr (16,384 windows of BOS + 64 int32 are 4.3 MB).
TOKEN_CHUNK_ROWS = 16_384

STRING = pa.large_string()  # the type polars writes and reads back, so these files look like polars-written ones
SPANS_SCHEMA = pa.schema([("source_id", STRING), ("start", pa.int32()), ("end", pa.int32()),
                          ("concept_id", STRING), ("concept_type", STRING), ("lang", STRING), ("surface", STRING)])
UNSPLIT_SCHEMA = pa.schema([("source_id", STRING), ("lang", STRING), ("text", STRING)])
DOCUMENTS_SCHEMA = pa.schema([("doc_id", pa.int64()), ("source_id", STRING), ("lang", STRING), ("split", STRING),
                              ("text", STRING)])
CONCEPT = pa.struct([("position", pa.int32()), ("concept_id", STRING), ("concept_type", STRING), ("lang", STRING),
                     ("surface", STRING)])
CONCEPTS_SCHEMA = pa.schema([("doc_id", pa.int64()), *((f.name, f.type) for f in CONCEPT)])


def assign_split_codes(lang_codes: np.ndarray, languages: Sequence[str], fractions: dict[str, float],
                       seed: int) -> np.ndarray:
    """An index into SPLITS per document (int8), from an index into `languages` per document.

    Within each language, a seeded permutation is cut at the cumulative fractions, so every split gets the same
    language mix and the result does not depend on document order across languages. It takes one byte per
    document, not the documents, and holds ~8 more bytes per document of the language it shuffles (~10 MB for
    the paper's 1.3M documents a language): the permutation needs every document's position at once."""
    out = np.zeros(len(lang_codes), dtype=np.int8)
    for code, lang in enumerate(languages):
        positions = np.flatnonzero(lang_codes == code)
        order = array("q", range(len(positions)))  # shuffled in place like a list of the same length: same swaps
        random.Random(f"{seed}:{lang}").shuffle(order)
        shuffled = positions[np.frombuffer(order, dtype=np.int64)]
        n_train = round(fractions["train"] * len(positions))
        n_val = round(fractions["validation"] * len(positions))
        out[shuffled[n_train:n_train + n_val]] = SPLITS.index("validation")
        out[shuffled[n_train + n_val:]] = SPLITS.index("test")
    return out


def assign_splits(langs: list[str], fractions: dict[str, float], seed: int) -> list[str]:
    """A split name per document, for documents held as a list (tests, small corpora): `assign_split_codes`."""
    languages = sorted(set(langs))
    codes = assign_split_codes(np.array([languages.index(lg) for lg in langs], dtype=np.int8), languages, fractions,
                               seed)
    return [SPLITS[c] for c in codes]


@dataclass
class Windows:
    """Tokenised documents that are long enough: rows of `tokens` are [BOS, t_1 .. t_n]."""

    keep: list[int]  # indices into the input documents
    tokens: np.ndarray  # int32 [len(keep), 1 + tokens_per_doc]
    offsets: list[list[tuple[int, int]]]  # character span of each t_1 .. t_n
    skipped_short: Counter  # per language


def tokenize_windows(docs: list[RawDocument], tokenizer, tokens_per_doc: int, bos: int,
                     batch_size: int = TOKENIZE_BATCH) -> Windows:
    """Tokenise without the tokenizer's own special tokens (some add BOS, some do not), then put `bos` first.

    Token offsets are kept only for documents with planted labels (they align labels to tokens), so that a
    Wikipedia-sized corpus holds nothing per token but the ids."""
    keep, blocks, offsets, short = [], [], [], Counter()
    fast = getattr(tokenizer, "is_fast", False)
    for start in range(0, len(docs), batch_size):
        batch = docs[start:start + batch_size]
        want_offsets = fast and any(d.spans for d in batch)
        enc = tokenizer([d.text for d in batch], add_special_tokens=False, return_offsets_mapping=want_offsets)
        block = []
        for j, ids in enumerate(enc["input_ids"]):
            if len(ids) < tokens_per_doc:
                short[batch[j].lang] += 1
                continue
            keep.append(start + j)
            block.append(ids[:tokens_per_doc])
            offsets.append([tuple(o) for o in enc["offset_mapping"][j][:tokens_per_doc]] if want_offsets else [])
        if block:
            ids = np.asarray(block, dtype=np.int32)
            blocks.append(np.concatenate([np.full((len(block), 1), bos, dtype=np.int32), ids], axis=1))
    tokens = np.concatenate(blocks) if blocks else np.zeros((0, tokens_per_doc + 1), dtype=np.int32)
    return Windows(keep, tokens, offsets, short)


def balance_languages(lang_codes: np.ndarray, languages: Sequence[str], split: str, seed: int,
                      corpus_key: str) -> np.ndarray:
    """Positions (sorted) among one split's documents to keep so that every language has equally many.

    Takes an index into `languages` per document of the split, not the documents; sampling positions of each
    language's documents draws exactly what sampling the documents themselves would. `random.sample` holds a
    pool of ~36 bytes a document of the language it samples (~40 MB for the paper's training split), briefly."""
    by_lang = [np.flatnonzero(lang_codes == code) for code in range(len(languages))]
    if not any(len(positions) for positions in by_lang):
        return np.zeros(0, dtype=np.int64)
    n = min(len(positions) for positions in by_lang)
    if n == 0:
        empty = [lg for lg, positions in zip(languages, by_lang) if not len(positions)]
        raise InputError(f"{corpus_key}: no {split} documents in {empty} are long enough to balance the "
                         f"languages one to one; add documents or set balance: false")
    rng = random.Random(f"{seed}:balance:{split}")
    return np.sort(np.concatenate([positions[rng.sample(range(len(positions)), n)] for positions in by_lang]))


def align_concepts(doc: RawDocument, offsets: list[tuple[int, int]]) -> list[tuple[int, object]]:
    """(position, span) for every token that overlaps a planted span; position 0 is the first token after BOS.

    Byte-level tokens may carry a leading space or cover part of a multi-byte character; overlap (not
    containment) makes both count for the span they touch. A token across two mentions (まれで in 生まれで:
    born, then the particle) counts for the one it covers most, the first of equals."""
    out = []
    spans = sorted(doc.spans, key=lambda s: s.start)
    for pos, (start, end) in enumerate(offsets):
        best, best_overlap = None, 0
        for span in spans:
            if span.start >= end:
                break
            overlap = min(end, span.end) - max(start, span.start)
            if overlap > best_overlap:
                best, best_overlap = span, overlap
        if best is not None:
            out.append((pos, best))
    return out


def _write_rows(writer: pq.ParquetWriter, rows: list[tuple]) -> None:
    """Row tuples in the writer's column order, as one row group."""
    if rows:
        writer.write_table(pa.table([list(column) for column in zip(*rows)], schema=writer.schema))


# --- corpus_documents -------------------------------------------------------------------------------------------

def _write_unsplit(docs: Iterator[RawDocument], languages: list[str], unsplit_path: Path, spans_path: Path,
                   total: int | None) -> np.ndarray:
    """Pass 1 of corpus_documents: the documents in row groups without their split, and their planted spans in
    document order (corpus_tokens relies on that order); returns an index into `languages` per document."""
    code_of = {lang: code for code, lang in enumerate(languages)}
    lang_codes = array("b")
    rows: list[tuple] = []
    span_rows: list[tuple] = []
    bar = progress(total, "reading sources", unit="doc")
    with pq.ParquetWriter(unsplit_path, UNSPLIT_SCHEMA) as doc_writer, \
            pq.ParquetWriter(spans_path, SPANS_SCHEMA, compression="zstd") as span_writer:
        for doc in docs:
            lang_codes.append(code_of[doc.lang])
            rows.append((doc.source_id, doc.lang, doc.text))
            span_rows += [(doc.source_id, s.start, s.end, s.concept_id, s.concept_type, s.lang, s.surface)
                          for s in doc.spans]
            bar.update()
            if len(rows) == ROW_GROUP_DOCUMENTS:
                _write_rows(doc_writer, rows)
                _write_rows(span_writer, span_rows)
                rows, span_rows = [], []
        _write_rows(doc_writer, rows)
        _write_rows(span_writer, span_rows)
    bar.close()
    return np.frombuffer(lang_codes, dtype=np.int8)


def _add_splits(unsplit_path: Path, split_codes: np.ndarray, documents_path: Path) -> None:
    """Pass 2 of corpus_documents: each row group again, with its documents' split as the third column."""
    names = pa.array(SPLITS, type=STRING)
    bar = progress(len(split_codes), "adding splits", unit="doc")
    start = 0
    with pq.ParquetWriter(documents_path, UNSPLIT_SCHEMA.insert(2, pa.field("split", STRING)),
                          compression="zstd") as writer:
        for table in row_groups(unsplit_path):
            codes = split_codes[start:start + table.num_rows]
            writer.write_table(table.add_column(2, "split", names.take(pa.array(codes))))
            start += table.num_rows
            bar.update(table.num_rows)
    bar.close()


# --- corpus_tokens ----------------------------------------------------------------------------------------------

def _spans_by_document(spans_path) -> Iterator[tuple[str, list[Span]]]:
    """(source_id, spans) for each document that has any, in file order, a batch of rows at a time."""
    current, group = None, []
    batches = (batch for table in row_groups(spans_path) for batch in table.to_batches(max_chunksize=10_000))
    for batch in batches:
        for row in batch.to_pylist():
            source_id = row.pop("source_id")
            if source_id != current and group:
                yield current, group
                group = []
            current = source_id
            group.append(Span(**row))
    if group:
        yield current, group


def _document_batches(sources_path, spans_path) -> Iterator[tuple[pa.Table, list[RawDocument]]]:
    """The documents a batch at a time, each with its planted spans: corpus_documents writes spans in document
    order, so walking both files side by side pairs them without holding either."""
    span_groups = _spans_by_document(spans_path)
    pending = next(span_groups, None)
    batches = (batch for table in row_groups(sources_path) for batch in table.to_batches(max_chunksize=TOKENIZE_BATCH))
    for batch in batches:
        docs = []
        for source_id, lang, text in zip(*(batch[c].to_pylist() for c in ("source_id", "lang", "text"))):
            spans = []
            if pending is not None and pending[0] == source_id:
                spans, pending = pending[1], next(span_groups, None)
            docs.append(RawDocument(source_id, lang, text, spans))
        yield pa.Table.from_batches([batch]), docs
    if pending is not None:
        raise RuntimeError(f"{spans_path}: spans of {pending[0]!r} match no document in the order of {sources_path}")


@dataclass
class StagedSplits:
    """Pass 1 of corpus_tokens: per split, a file of its long-enough documents in source order (source_id, lang,
    text, window, concepts) and an index into the corpus's languages per document, all the balance needs."""

    files: dict[str, Path]
    lang_codes: dict[str, np.ndarray]  # int8, one per row of the split's file
    documents_in: int
    skipped_short: Counter  # per language


def _stage_windows(sources, spans, tokenizer, tokens_per_doc: int, bos: int, languages: list[str],
                   staging: Path) -> StagedSplits:
    """Tokenise a batch at a time and append each split's long-enough documents, with their windows and their
    token-aligned labels, to the split's staging file."""
    width = 1 + tokens_per_doc
    schema = UNSPLIT_SCHEMA.append(pa.field("window", pa.list_(pa.int32(), width))).append(
        pa.field("concepts", pa.list_(CONCEPT)))
    files = {split: staging / f"{split}.parquet" for split in SPLITS}
    lang_codes = {split: array("b") for split in SPLITS}
    pending: dict[str, list[pa.Table]] = {split: [] for split in SPLITS}  # a row group's worth per split
    short: Counter = Counter()
    documents_in = pq.ParquetFile(sources).metadata.num_rows
    bar = progress(documents_in, "tokenising", unit="doc")
    with contextlib.ExitStack() as stack:
        writers = {split: stack.enter_context(pq.ParquetWriter(path, schema)) for split, path in files.items()}
        for table, docs in _document_batches(sources, spans):
            win = tokenize_windows(docs, tokenizer, tokens_per_doc, bos)
            short.update(win.skipped_short)
            bar.update(len(docs))
            if not win.keep:
                continue
            concepts = [[{"position": pos, "concept_id": s.concept_id, "concept_type": s.concept_type,
                          "lang": s.lang, "surface": s.surface} for pos, s in align_concepts(docs[i], offsets)]
                        for i, offsets in zip(win.keep, win.offsets)]
            kept = table.take(pa.array(win.keep))
            staged = kept.select(["source_id", "lang", "text"]).append_column(
                "window", pa.FixedSizeListArray.from_arrays(pa.array(win.tokens.ravel()), width)).append_column(
                "concepts", pa.array(concepts, type=pa.list_(CONCEPT)))
            split_codes = pc.index_in(kept["split"], value_set=pa.array(SPLITS, type=STRING)).to_numpy()
            kept_langs = pc.index_in(kept["lang"], value_set=pa.array(languages, type=STRING)).to_numpy()
            for code, split in enumerate(SPLITS):
                rows = np.flatnonzero(split_codes == code)
                if not len(rows):
                    continue
                pending[split].append(staged.take(pa.array(rows)))
                lang_codes[split].frombytes(kept_langs[rows].astype(np.int8).tobytes())
                if sum(t.num_rows for t in pending[split]) >= ROW_GROUP_DOCUMENTS:
                    writers[split].write_table(pa.concat_tables(pending[split]))
                    pending[split] = []
        for split, tables in pending.items():
            if tables:
                writers[split].write_table(pa.concat_tables(tables))
    bar.close()
    return StagedSplits(files, {s: np.frombuffer(c, dtype=np.int8) for s, c in lang_codes.items()}, documents_in,
                        short)


def _chosen_rows(path: Path, chosen: np.ndarray) -> Iterator[pa.Table]:
    """The rows at `chosen` (sorted positions) of a staged file, in order, a row group at a time."""
    start = 0
    for table in row_groups(path):
        lo, hi = np.searchsorted(chosen, [start, start + table.num_rows])
        if hi > lo:
            yield table.take(pa.array(chosen[lo:hi] - start))
        start += table.num_rows


class _ChunkAlignedRows:
    """Rows appended to a Zarr array a whole chunk at a time: a chunk written in parts would be decompressed and
    compressed again for every part."""

    def __init__(self, array: zarr.Array):
        self.array, self.pending, self.written = array, [], 0

    def append(self, rows: np.ndarray) -> None:
        self.pending.append(rows)
        chunk = self.array.chunks[0]
        self._write(sum(len(r) for r in self.pending) // chunk * chunk)

    def close(self) -> None:
        self._write(sum(len(r) for r in self.pending))

    def _write(self, n: int) -> None:
        if n == 0:
            return
        rows = np.concatenate(self.pending)
        self.array[self.written:self.written + n] = rows[:n]
        self.pending, self.written = [rows[n:]], self.written + n


def _write_corpus(staged: StagedSplits, chosen: dict[str, np.ndarray], width: int, bos: int, documents_path: Path,
                  tokens_path: Path, concepts_path: Path, attrs: dict) -> dict:
    """Pass 2 of corpus_tokens: the chosen rows of each split's staging file, train, validation then test, into
    the artifacts of DESIGN.md (doc_id = row of tokens.zarr); returns the split offsets and labelled tokens."""
    n = sum(len(rows) for rows in chosen.values())
    array_out = zarr.create_array(store=str(tokens_path), shape=(n, width),
                                  chunks=(max(1, min(n, TOKEN_CHUNK_ROWS)), width), dtype="int32",
                                  compressors=BloscCodec(cname="zstd", clevel=3, shuffle="shuffle"))
    token_rows = _ChunkAlignedRows(array_out)
    split_offsets, labelled, doc_id = {}, 0, 0
    bar = progress(n, "writing the corpus", unit="doc")
    with pq.ParquetWriter(documents_path, DOCUMENTS_SCHEMA, compression="zstd") as doc_writer, \
            pq.ParquetWriter(concepts_path, CONCEPTS_SCHEMA, compression="zstd") as concept_writer:
        for split in SPLITS:
            first = doc_id
            for table in _chosen_rows(staged.files[split], chosen[split]):
                doc_ids = np.arange(doc_id, doc_id + table.num_rows, dtype=np.int64)
                doc_writer.write_table(pa.table([doc_ids, table["source_id"], table["lang"],
                                                 pa.repeat(pa.scalar(split, STRING), table.num_rows),
                                                 table["text"]], schema=DOCUMENTS_SCHEMA))
                concepts = pc.list_flatten(table["concepts"])
                parents = pc.list_parent_indices(table["concepts"]).to_numpy()
                concept_writer.write_table(pa.table([doc_ids[parents], *concepts.flatten()], schema=CONCEPTS_SCHEMA))
                token_rows.append(pc.list_flatten(table["window"]).to_numpy().reshape(-1, width))
                labelled += len(concepts)
                doc_id += table.num_rows
                bar.update(table.num_rows)
            split_offsets[split] = [first, doc_id] if doc_id > first else [0, 0]
    token_rows.close()
    bar.close()
    array_out.attrs.update({**attrs, "split_offsets": split_offsets, "bos_token_id": bos, "tokens_per_doc": width - 1})
    return {"split_offsets": split_offsets, "labelled_tokens": labelled}


# --- stage entry points (one per rule) -------------------------------------------------------------------------

def run_documents(*, sources: list[dict], languages: list[str], max_chars: int, split: dict[str, float], seed: int,
                  key: str, documents, spans, stats) -> None:
    """Rule corpus_documents: read every source, assign splits; text with its split (`documents`), planted spans
    and the sources' counts (`stats`). `key` is the corpus's config key, for messages.

    Two passes, so that no text is held beyond a row group: the documents stream from the sources into a file
    without splits, then each row group is copied with its split added, because a document's split depends on
    how many documents its language has in all, known only at the end. Held for the whole corpus: a language
    code and a split code per document and the id digests of `iter_documents`, ~10 bytes a document (~30 MB for
    the paper's 2.6M; ~25 more a document of one language while its split is drawn), which is what a seeded
    split by language and the duplicate check need."""
    source_stats: dict[str, dict] = {}
    with atomic_path(documents) as documents_tmp, atomic_path(spans) as spans_tmp:
        # beside the temporary output, so that atomic_path's clean-up of a killed run's temporaries takes it too
        unsplit = documents_tmp.with_name(f"{documents_tmp.name}.unsplit")
        try:
            lang_codes = _write_unsplit(iter_documents(sources, languages, max_chars, key, source_stats),
                                        languages, unsplit, spans_tmp, expected_records(sources))
            if not len(lang_codes):
                raise InputError(f"{key}.sources: no usable documents (see the counts in the log)")
            split_codes = assign_split_codes(lang_codes, languages, split, seed)
            _add_splits(unsplit, split_codes, documents_tmp)
        finally:
            unsplit.unlink(missing_ok=True)
    sizes = dict(zip(SPLITS, np.bincount(split_codes, minlength=len(SPLITS)).tolist()))
    split_sizes = {name: sizes[name] for name in sorted(SPLITS) if sizes[name]}
    with atomic_path(stats) as tmp:
        tmp.write_text(json.dumps({"sources": source_stats, "split": split_sizes}, indent=2, ensure_ascii=False))


def run_tokenizer(*, sources, tokenizer, vocab_size: int, min_frequency: int) -> None:
    """Rule corpus_tokenizer: a byte-level BPE on the training split of `sources` only, saved in Hugging Face
    layout to the directory `tokenizer`. The texts stream to the trainer a row group at a time; it keeps only
    its counts of pre-tokenised words, which grow with the vocabulary of the corpus, not its length."""
    n_train = pl.scan_parquet(sources).filter(pl.col("split") == "train").select(pl.len()).collect().item()
    bar = progress(n_train, "training documents read", unit="doc")
    tok = train_bpe(_training_texts(sources, bar), vocab_size, min_frequency)
    bar.close()
    with atomic_path(tokenizer) as tmp:
        tok.save_pretrained(tmp)
    log.info("trained a byte-level BPE of %d tokens on %d training documents", len(tok), n_train)


def _training_texts(sources, bar) -> Iterator[str]:
    """The training split's texts in file order, a row group at a time."""
    for table in row_groups(sources, columns=["split", "text"]):
        texts = table.filter(pc.equal(table["split"], "train"))["text"].to_pylist()
        bar.update(len(texts))
        yield from texts


def run_tokens(*, sources, spans, documents, tokens, concepts, stats, tokenizer: dict, bos_token_id: int | None,
               tokens_per_doc: int, languages: list[str], balance: bool, seed: int, key: str) -> None:
    """Rule corpus_tokens: windows, balance and token-aligned labels; the corpus artifacts of DESIGN.md.

    Two passes, so that no window or text is held beyond a batch: the first tokenises and stages each split's
    long-enough documents in source order; the second draws the balance from a language code per document and
    copies the chosen rows, train, validation then test, into the artifacts."""
    tok = load_tokenizer(tokenizer)
    bos = bos_id(tok, bos_token_id, f"{key}.tokenizer")
    with atomic_path(tokens) as tokens_tmp, atomic_path(documents) as documents_tmp, \
            atomic_path(concepts) as concepts_tmp, \
            tempfile.TemporaryDirectory(dir=tokens_tmp.parent, prefix=f".{Path(tokens).name}.tmp-") as staging:
        # (named like tokens' temporary, so that atomic_path removes it after a killed run)
        staged = _stage_windows(sources, spans, tok, tokens_per_doc, bos, languages, Path(staging))
        chosen = {split: balance_languages(codes, languages, split, seed, key) if balance
                  else np.arange(len(codes)) for split, codes in staged.lang_codes.items()}
        written = _write_corpus(staged, chosen, 1 + tokens_per_doc, bos, documents_tmp, tokens_tmp, concepts_tmp,
                                attrs={"corpus": key, "tokenizer": tokenizer, "row": "one document: BOS then its "
                                       f"first {tokens_per_doc} tokens; rows follow documents.parquet doc_id"})
    n_kept = sum(len(codes) for codes in staged.lang_codes.values())
    counts = {f"{split}/{lang}": n for split in sorted(SPLITS) for lang, n in sorted(zip(languages, np.bincount(
        staged.lang_codes[split][chosen[split]], minlength=len(languages)).tolist())) if n}
    summary = {
        "documents_in": staged.documents_in,
        "skipped_short": dict(staged.skipped_short),
        "dropped_for_balance": n_kept - sum(len(rows) for rows in chosen.values()),
        "documents": counts,
        "split_offsets": written["split_offsets"],
        "tokens_per_doc": tokens_per_doc,
        "bos_token_id": bos,
        "labelled_tokens": written["labelled_tokens"],
    }
    log.info("%s: %d documents in, %s too short, %d dropped to balance, %s kept", key, staged.documents_in,
             summary["skipped_short"], summary["dropped_for_balance"], counts)
    with atomic_path(stats) as tmp:
        tmp.write_text(json.dumps(summary, indent=2, ensure_ascii=False))
