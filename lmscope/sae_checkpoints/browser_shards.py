"""The feature browser's texts, streamed block by block of features into script-tag shards beside the page.

At the paper's scale (32,768 features x 50 texts of 64 tokens) a page holding every text is 150–300 MB, which
browsers do not open. The page (browser.py) holds only an index of the live features; the texts of features
[n * BLOCK_FEATURES, (n + 1) * BLOCK_FEATURES) are in `shard-0000n.js`, loaded when one of them is shown. A shard
is a script calling `lmscopeShard(n, {docs, features})` because a page opened from disk (file://) may not fetch()
or XMLHttpRequest its neighbours, but may load them with <script src>. Each shard stores a text once per document
(its token pieces) and each feature's shading as the positions where it is active with a level 1–255 relative to
the feature's maximum. Beside the shards: `tokens.js`, the token-search index (each text's top-token piece,
counted per feature), loaded on the first token search, and `font.js`, the CJK font cut to every character the
shards show, loaded after the first cards have their texts (until then they show in the system's fonts; the font
of every text would be most of what the page reads first).

Memory is flat in the corpus size and bounded by the number of texts: contexts.parquet (written sorted by
feature, then rank) is read in one pass a record batch at a time; the documents any text shows are read once —
their token rows by orthogonal indexing (each zarr chunk holding one decompressed once), their langs by a
filtered scan of documents.parquet — and decoded into pieces a block at a time, the latest ones kept because
neighbouring blocks often show the same documents.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from lmscope.errors import InputError
from lmscope.fonts import font_face_css
from lmscope.logs import progress
from lmscope.sae_checkpoints.highlight import token_pieces

# 32 features x 50 texts of 64 tokens: a shard of about 0.5 MB (benchmarks/README.md, feature browser), so that
# the first page of 20 cards loads one shard and a page of 20 search results at most 20 (about 10 MB)
BLOCK_FEATURES = 32
BATCH_ROWS = 65_536  # contexts rows read at a time
DOCUMENTS_CACHED = 16_384  # documents kept decoded between blocks (about 5 KB each at 64 tokens)
CONTEXT_COLUMNS = ["feature", "rank", "activation", "doc_id", "position", "activations"]
# a shard's packed arrays and their little-endian types (browser.js views them as Int32Array, Uint16Array, ...):
# positions fit 16 bits because a window is at most tokens_per_doc <= 65,535 tokens
SHARD_COLUMNS = {"features": "<i4", "n_texts": "<i4", "doc": "<i4", "position": "<u2", "activation": "<f4",
                 "shaded": "<u2", "shade_position": "<u2", "shade_level": "u1"}


class ShownDocument(NamedTuple):
    pieces: list[str]  # its tokens' pieces of text (highlight.token_pieces)
    entry: str  # [doc_id, lang, pieces] as JSON, as a shard lists it
    characters: str  # the distinct characters of its pieces, for the font


def shown_document(doc_id: int, lang: str, pieces: list[str]) -> ShownDocument:
    entry = json.dumps([doc_id, lang, pieces], ensure_ascii=False, separators=(",", ":"))
    return ShownDocument(pieces, entry, "".join(set("".join(pieces))))


# the documents of a block's texts: from their ids (sorted, unique), in that order
Documents = Callable[[list[int]], list[ShownDocument]]


def shard_name(block: int) -> str:
    return f"shard-{block:05d}.js"  # browser.js builds the same name


def script(callback: str, *args) -> str:
    """A script calling `callback(*args)` with the arguments as JSON (a JSON text is a JavaScript expression)."""
    return f"{callback}({','.join(json.dumps(a, ensure_ascii=False, separators=(',', ':')) for a in args)});\n"


def feature_blocks(contexts, texts_per_feature: int, block_features: int = BLOCK_FEATURES
                   ) -> Iterator[tuple[int, pl.DataFrame]]:
    """(block number, its texts in feature and rank order) for each block of features that has texts, in order,
    from one pass over contexts.parquet a record batch at a time."""
    pending: list[pl.DataFrame] = []
    pending_block, last_key = -1, -1
    for batch in pq.ParquetFile(contexts).iter_batches(batch_size=BATCH_ROWS, columns=CONTEXT_COLUMNS):
        rows = pl.from_arrow(batch).filter(pl.col("rank") < texts_per_feature)
        feature = rows["feature"].to_numpy().astype(np.int64)
        key = feature << 16 | rows["rank"].to_numpy()  # rank < 2**15 (int16)
        if len(key) and (key[0] <= last_key or np.any(np.diff(key) <= 0)):
            raise InputError(f"{contexts}: rows are not in feature and rank order (top_contexts writes them so, and "
                             "the browser reads them in one pass)")
        last_key = key[-1] if len(key) else last_key
        blocks = feature // block_features
        starts = np.flatnonzero(np.diff(blocks, prepend=-1))
        for start, end in zip(starts, [*starts[1:], len(blocks)]):
            block = int(blocks[start])
            if block != pending_block and pending:
                yield pending_block, pl.concat(pending)
                pending = []
            pending_block = block
            pending.append(rows.slice(start, end - start))
    if pending:
        yield pending_block, pl.concat(pending)


def corpus_documents(contexts, documents, tokens, texts_per_feature: int, tokenizer) -> Documents:
    """The documents the texts of contexts.parquet show: only theirs read, once (langs by a filtered scan, token
    rows by orthogonal indexing), and decoded into pieces when a block asks."""
    needed = (pl.scan_parquet(contexts).filter(pl.col("rank") < texts_per_feature).select("doc_id").unique()
              .collect()["doc_id"].sort())
    langs = (pl.scan_parquet(documents).select("doc_id", "lang").filter(pl.col("doc_id").is_in(needed.implode()))
             .collect().sort("doc_id")["lang"])
    if langs.len() != needed.len():
        raise InputError(f"{documents}: {needed.len() - langs.len()} documents that {contexts} shows are missing: "
                         "were the two made from different corpora?")
    ids = needed.to_numpy()
    rows = tokens.oindex[ids, 1:] if len(ids) else None

    @functools.lru_cache(maxsize=DOCUMENTS_CACHED)
    def document(row: int) -> ShownDocument:
        return shown_document(int(ids[row]), langs[row], token_pieces(tokenizer, rows[row].tolist()))

    return lambda doc_ids: [document(int(row)) for row in np.searchsorted(ids, doc_ids)]


def packed(values: np.ndarray, dtype: str) -> str:
    """An array as base64 of its little-endian bytes, which the page views as a typed array: several times
    smaller and faster than JSON numbers, both to write here and to parse there."""
    return base64.b64encode(np.ascontiguousarray(values, dtype=dtype).tobytes()).decode("ascii")


def shard_script(number: int, block: pl.DataFrame, maxima: np.ndarray, doc_ids: np.ndarray,
                 docs: list[ShownDocument]) -> str:
    """lmscopeShard(number, {...}): one block's texts column by column (no object per text to build here or to
    parse there).

    docs: [doc_id, lang, pieces] of each document shown; then packed arrays (`packed`, their types in
    SHARD_COLUMNS): features, n_texts: the block's features with texts and how many; per text, in feature and
    rank order: doc (index into docs), position (of the top token), activation, shaded (how many positions are
    shaded); shade_position, shade_level: those positions, text after text, where the activation is positive,
    and their level round(255 * activation / the feature's maximum) clipped to 1..255 (a tiny activation stays
    visible)."""
    lengths = block["activations"].list.len().to_numpy()
    flat = block["activations"].explode().to_numpy()
    text = np.repeat(np.arange(block.height), lengths)
    position = np.arange(len(flat)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    feature = block["feature"].to_numpy()
    maximum = maxima[feature][text]
    active = (flat > 0) & (maximum > 0)
    features, n_texts = np.unique(feature, return_counts=True)
    columns = {"features": features, "n_texts": n_texts, "doc": np.searchsorted(doc_ids, block["doc_id"].to_numpy()),
               "position": block["position"].to_numpy(), "activation": block["activation"].to_numpy(),
               "shaded": np.bincount(text[active], minlength=block.height), "shade_position": position[active],
               "shade_level": np.clip(np.rint(255 * flat[active] / maximum[active]), 1, 255)}
    fields = "".join(f',"{name}":"{packed(columns[name], dtype)}"' for name, dtype in SHARD_COLUMNS.items())
    return f'lmscopeShard({number},{{"docs":[{",".join(d.entry for d in docs)}]{fields}}});\n'


def top_pieces(block: pl.DataFrame, doc_ids: np.ndarray, docs: list[ShownDocument]) -> list[str]:
    """The piece of each text's top token."""
    index = np.searchsorted(doc_ids, block["doc_id"].to_numpy()).tolist()
    return [docs[i].pieces[p] for i, p in zip(index, block["position"].to_list())]


def tokens_script(features: list[np.ndarray], pieces: list[list[str]]) -> str:
    """lmscopeTokens({pieces, postings}) from each text's feature and top-token piece: postings[i] lists the
    features with a text whose top token is pieces[i], as "feature step,count,feature step,count,..." in feature
    order, each step from the previous feature (the first from 0): small numbers, a short file, and a string that
    the page splits only when a search matches pieces[i] (as array literals, the 1.6M numbers of 32,768 features'
    texts made the first token search take 0.86 s instead of 0.36 s: benchmarks/README.md, feature browser)."""
    texts = pl.DataFrame({"feature": np.concatenate(features) if features else np.zeros(0, dtype=np.int32),
                          "piece": pl.Series([p for block in pieces for p in block], dtype=pl.String)})
    step = pl.col("feature") - pl.col("feature").shift(1, fill_value=0)
    posting = pl.concat_str(step.cast(pl.String), pl.lit(","), pl.col("count").cast(pl.String)).str.join(",")
    table = (texts.group_by("piece", "feature").agg(pl.len().alias("count")).sort("piece", "feature")
             .group_by("piece", maintain_order=True).agg(posting.alias("posting")))
    return script("lmscopeTokens", {"pieces": table["piece"].to_list(), "postings": table["posting"].to_list()})


def write_shards(directory: Path, blocks: Iterator[tuple[int, pl.DataFrame]], d_sae: int, maxima: np.ndarray,
                 documents: Documents, block_features: int = BLOCK_FEATURES) -> None:
    """Every shard of a checkpoint with d_sae features (a block without texts gets an empty one), tokens.js
    and font.js into `directory`."""
    text_features, text_pieces, characters = [], [], set()
    upcoming = next(blocks, None)
    bar = progress(d_sae, "browser shards", unit="feat")
    for number in range(-(-d_sae // block_features)):
        if upcoming is None or upcoming[0] != number:
            text = script("lmscopeShard", number, {"docs": []})  # a block without texts
        else:
            block = upcoming[1]
            doc_ids = np.unique(block["doc_id"].to_numpy())
            docs = documents(doc_ids.tolist())
            text = shard_script(number, block, maxima, doc_ids, docs)
            text_features.append(block["feature"].to_numpy())
            text_pieces.append(top_pieces(block, doc_ids, docs))
            characters.update(*(d.characters for d in docs))
            upcoming = next(blocks, None)
        (directory / shard_name(number)).write_text(text, encoding="utf-8")
        bar.update(min(block_features, d_sae - number * block_features))
    bar.close()
    if upcoming is not None:
        raise InputError(f"the contexts show feature {upcoming[1]['feature'].max()}, but the checkpoint has only "
                         f"{d_sae} features")
    (directory / "tokens.js").write_text(tokens_script(text_features, text_pieces), encoding="utf-8")
    (directory / "font.js").write_text(script("lmscopeFont", font_face_css("".join(sorted(characters)))),
                                       encoding="utf-8")
