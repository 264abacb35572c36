"""The corpus stage (METHODS A1): splits by document, first-64-token windows after BOS, a 1:1 language balance,
and planted concept labels aligned to token positions.

Order of work, and why:
1. `assign_splits` — by document, seeded, stratified by language, before any tokenizer is trained, so a BPE
   trained here sees only the training split.
2. `tokenize_windows` — each document's first `tokens_per_doc` tokens after BOS; shorter documents are skipped
   and counted (the paper feeds exactly BOS + 64).
3. `balance_languages` — within each split, the larger language is subsampled (seeded) to the smaller one, so
   every split is one to one after the length filter.
"""

from __future__ import annotations

import json
import logging
import random
from collections import Counter
from dataclasses import dataclass

import numpy as np
import polars as pl
import zarr
from zarr.codecs import BloscCodec

from lmscope.atomic import atomic_path
from lmscope.errors import InputError
from lmscope.sae_checkpoints.synthetic_text import Span
from lmscope.sae_checkpoints.text_sources import RawDocument, read_sources
from lmscope.tokenizer import bos_id, load_tokenizer, train_bpe

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")


def assign_splits(langs: list[str], fractions: dict[str, float], seed: int) -> list[str]:
    """A split name per document. Within each language, a seeded permutation is cut at the cumulative
    fractions, so every split gets the same language mix and the result does not depend on document order
    across languages."""
    out = [""] * len(langs)
    for lang in sorted(set(langs)):
        idx = [i for i, lg in enumerate(langs) if lg == lang]
        random.Random(f"{seed}:{lang}").shuffle(idx)
        n_train = round(fractions["train"] * len(idx))
        n_val = round(fractions["validation"] * len(idx))
        for rank, i in enumerate(idx):
            out[i] = "train" if rank < n_train else "validation" if rank < n_train + n_val else "test"
    return out


@dataclass
class Windows:
    """Tokenised documents that are long enough: rows of `tokens` are [BOS, t_1 .. t_n]."""

    keep: list[int]  # indices into the input documents
    tokens: np.ndarray  # int32 [len(keep), 1 + tokens_per_doc]
    offsets: list[list[tuple[int, int]]]  # character span of each t_1 .. t_n
    skipped_short: Counter  # per language


def tokenize_windows(docs: list[RawDocument], tokenizer, tokens_per_doc: int, bos: int,
                     batch_size: int = 1000) -> Windows:
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


def balance_languages(langs: list[str], splits: list[str], languages: list[str], seed: int,
                      corpus_key: str) -> list[int]:
    """Indices to keep so that each split has equally many documents of every language (original order kept)."""
    keep: list[int] = []
    for split in SPLITS:
        by_lang = {lg: [i for i, (l2, s) in enumerate(zip(langs, splits)) if l2 == lg and s == split]
                   for lg in languages}
        if not any(by_lang.values()):
            continue
        n = min(len(v) for v in by_lang.values())
        if n == 0:
            empty = [lg for lg, v in by_lang.items() if not v]
            raise InputError(f"{corpus_key}: no {split} documents in {empty} are long enough to balance the "
                             f"languages one to one; add documents or set balance: false")
        rng = random.Random(f"{seed}:balance:{split}")
        for lg in languages:
            keep += rng.sample(by_lang[lg], n)
    return sorted(keep)


def align_concepts(doc: RawDocument, offsets: list[tuple[int, int]]) -> list[tuple[int, object]]:
    """(position, span) for every token that overlaps a planted span; position 0 is the first token after BOS.

    Byte-level tokens may carry a leading space or cover part of a multi-byte character; overlap (not
    containment) makes both count for the span they touch."""
    out = []
    spans = sorted(doc.spans, key=lambda s: s.start)
    for pos, (start, end) in enumerate(offsets):
        for span in spans:
            if span.start >= end:
                break
            if start < span.end and end > span.start:
                out.append((pos, span))
                break
    return out


@dataclass
class Corpus:
    documents: pl.DataFrame  # doc_id, source_id, lang, split, text — row doc_id is row doc_id of tokens
    tokens: np.ndarray  # int32 [docs, 1 + tokens_per_doc], BOS first
    concepts: pl.DataFrame  # doc_id, position, concept_id, concept_type, lang, surface
    stats: dict


def build(docs: list[RawDocument], splits: list[str], tokenizer, tokens_per_doc: int, bos: int,
          languages: list[str], balance: bool, seed: int, corpus_key: str) -> Corpus:
    """Windows, balance and labels for documents already split; rows ordered train, validation, test."""
    win = tokenize_windows(docs, tokenizer, tokens_per_doc, bos)
    kept_docs = [docs[i] for i in win.keep]
    kept_splits = [splits[i] for i in win.keep]
    rows = list(range(len(kept_docs)))
    if balance:
        rows = balance_languages([d.lang for d in kept_docs], kept_splits, languages, seed, corpus_key)
    order = sorted(rows, key=lambda r: SPLITS.index(kept_splits[r]))

    documents = pl.DataFrame({
        "doc_id": np.arange(len(order), dtype=np.int64),
        "source_id": [kept_docs[r].source_id for r in order],
        "lang": [kept_docs[r].lang for r in order],
        "split": [kept_splits[r] for r in order],
        "text": [kept_docs[r].text for r in order],
    })
    concept_rows = []
    for doc_id, r in enumerate(order):
        for pos, span in align_concepts(kept_docs[r], win.offsets[r]):
            concept_rows.append((doc_id, pos, span.concept_id, span.concept_type, span.lang, span.surface))
    concepts = pl.DataFrame(concept_rows, orient="row", schema={
        "doc_id": pl.Int64, "position": pl.Int32, "concept_id": pl.String, "concept_type": pl.String,
        "lang": pl.String, "surface": pl.String})

    counts = documents.group_by("split", "lang").len().sort("split", "lang")
    stats = {
        "documents_in": len(docs),
        "skipped_short": dict(win.skipped_short),
        "dropped_for_balance": len(kept_docs) - len(order),
        "documents": {f"{s}/{lg}": n for s, lg, n in counts.iter_rows()},
        "split_offsets": {s: [int(i) for i in _range_of(documents, s)] for s in SPLITS},
        "tokens_per_doc": tokens_per_doc,
        "bos_token_id": bos,
        "labelled_tokens": len(concept_rows),
    }
    log.info("%s: %d documents in, %s too short, %d dropped to balance, %s kept", corpus_key, len(docs),
             dict(win.skipped_short), stats["dropped_for_balance"], stats["documents"])
    return Corpus(documents, win.tokens[order] if order else win.tokens[:0], concepts, stats)


def _range_of(documents: pl.DataFrame, split: str) -> tuple[int, int]:
    """[start, stop) rows of `split` (rows are grouped by split)."""
    ids = documents.filter(pl.col("split") == split)["doc_id"]
    return (int(ids.min()), int(ids.max()) + 1) if len(ids) else (0, 0)


def write(corpus: Corpus, documents_path, tokens_path, concepts_path, stats_path, attrs: dict) -> None:
    """The corpus artifacts of DESIGN.md, each written whole or not at all."""
    n, width = corpus.tokens.shape
    with atomic_path(tokens_path) as tmp:
        arr = zarr.create_array(store=str(tmp), shape=(n, width), chunks=(max(1, min(n, 16384)), width),
                                dtype="int32", compressors=BloscCodec(cname="zstd", clevel=3, shuffle="shuffle"))
        if n:
            arr[:] = corpus.tokens
        arr.attrs.update({**attrs, "split_offsets": corpus.stats["split_offsets"],
                          "bos_token_id": corpus.stats["bos_token_id"], "tokens_per_doc": width - 1})
    for frame, path in ((corpus.documents, documents_path), (corpus.concepts, concepts_path)):
        with atomic_path(path) as tmp:
            frame.write_parquet(tmp)
    with atomic_path(stats_path) as tmp:
        tmp.write_text(json.dumps(corpus.stats, indent=2, ensure_ascii=False))


# --- stage entry points (one per rule) -------------------------------------------------------------------------

def run_documents(*, sources: list[dict], languages: list[str], max_chars: int, split: dict[str, float], seed: int,
                  key: str, documents, spans, stats) -> None:
    """Rule corpus_documents: read every source, assign splits; text with its split (`documents`), planted spans
    and the sources' counts (`stats`). `key` is the corpus's config key, for messages."""
    docs, source_stats = read_sources(sources, languages, max_chars, key)
    if not docs:
        raise InputError(f"{key}.sources: no usable documents (see the counts in the log)")
    splits = assign_splits([d.lang for d in docs], split, seed)
    frame = pl.DataFrame({"source_id": [d.source_id for d in docs], "lang": [d.lang for d in docs],
                          "split": splits, "text": [d.text for d in docs]})
    span_frame = pl.DataFrame(
        [(d.source_id, s.start, s.end, s.concept_id, s.concept_type, s.lang, s.surface) for d in docs for s in d.spans],
        orient="row", schema={"source_id": pl.String, "start": pl.Int32, "end": pl.Int32, "concept_id": pl.String,
                              "concept_type": pl.String, "lang": pl.String, "surface": pl.String})
    for df, path in ((frame, documents), (span_frame, spans)):
        with atomic_path(path) as tmp:
            df.write_parquet(tmp)
    with atomic_path(stats) as tmp:
        split_sizes = dict(frame.group_by("split").len().sort("split").iter_rows())
        tmp.write_text(json.dumps({"sources": source_stats, "split": split_sizes}, indent=2, ensure_ascii=False))


def read_collected(documents_path, spans_path) -> tuple[list[RawDocument], list[str]]:
    frame = pl.read_parquet(documents_path)
    spans: dict[str, list[Span]] = {}
    for row in pl.read_parquet(spans_path).iter_rows(named=True):
        spans.setdefault(row.pop("source_id"), []).append(Span(**row))
    docs = [RawDocument(sid, lang, text, spans.get(sid, []))
            for sid, lang, text in frame.select("source_id", "lang", "text").iter_rows()]
    return docs, frame["split"].to_list()


def run_tokenizer(*, sources, tokenizer, vocab_size: int, min_frequency: int) -> None:
    """Rule corpus_tokenizer: a byte-level BPE on the training split of `sources` only, saved in Hugging Face
    layout to the directory `tokenizer`."""
    texts = pl.read_parquet(sources).filter(pl.col("split") == "train")["text"].to_list()
    tok = train_bpe(texts, vocab_size, min_frequency)
    with atomic_path(tokenizer) as tmp:
        tok.save_pretrained(tmp)
    log.info("trained a byte-level BPE of %d tokens on %d training documents", len(tok), len(texts))


def run_tokens(*, sources, spans, documents, tokens, concepts, stats, tokenizer: dict, bos_token_id: int | None,
               tokens_per_doc: int, languages: list[str], balance: bool, seed: int, key: str) -> None:
    """Rule corpus_tokens: windows, balance and token-aligned labels; the corpus artifacts of DESIGN.md."""
    docs, splits = read_collected(sources, spans)
    tok = load_tokenizer(tokenizer)
    bos = bos_id(tok, bos_token_id, f"{key}.tokenizer")
    built = build(docs, splits, tok, tokens_per_doc, bos, languages, balance, seed, key)
    write(built, documents, tokens, concepts, stats,
          attrs={"corpus": key, "tokenizer": tokenizer, "row": "one document: BOS then its first "
                 f"{tokens_per_doc} tokens; rows follow documents.parquet doc_id"})
