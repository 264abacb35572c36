"""What the final checkpoint makes of each unit of text: the evidence the granularity classifier weighs.

A unit's vector is the mean of the final checkpoint's activations (the layer the SAEs read) at every test-split
position where that unit occurs, so context averages out and what stays is how the trained model represents the
unit. A feature's texts are alike when the mean cosine over their pairs of units is high *compared with random
pairs of text positions* drawn from the same sample (with different units): the baseline makes the score mean
the same on a model whose vectors all point one way and on one whose vectors spread out. The comparison is one of
effect size — the texts are on average as alike as the most alike few percent of random pairs — not a
significance test: a feature's texts share contexts, so nearly every feature would pass a test against random
sets of texts (measured: README, Granularity). This is evidence a real corpus has too — nothing here reads
planted labels.

The documents are a seeded sample drawn evenly across the test split, not its first ones: a split is ordered by
source, and with one source per language its first documents are all one language, which would leave the other
language's units without vectors.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import polars as pl
import zarr

from lmscope.atomic import atomic_path
from lmscope.errors import InputError
from lmscope.sae_checkpoints.activation_store import CheckedStore
from lmscope.sae_checkpoints.granularity import unit_at
from lmscope.sae_checkpoints.highlight import token_pieces
from lmscope.sae_checkpoints.language import script_language
from lmscope.sampling import seeded_sample
from lmscope.tokenizer import load_tokenizer


def unit_table(activations, tokens, tokenizer, doc_ids: list[int], doc_id_offset: int,
               tokens_per_doc: int) -> pl.DataFrame:
    """unit, lang (its script: ja, en or null), count, vector (the mean activation, float32) over the
    positions of `doc_ids` (rows of tokens.zarr; row (doc_id − offset) × tokens_per_doc + position of the store).
    The documents may be spread over the split: their tokens come in one read, their activations a chunk of the
    store at a time, only their rows kept: zarr decodes the chunks of one read about ten at a time, so a read of
    documents far apart costs more than their rows (measured: 256 documents read from 32 chunks of 4 MB raised the
    peak by 88 MB, from one chunk by 16 MB)."""
    sums: dict[str, np.ndarray] = {}
    counts: dict[str, int] = defaultdict(int)
    docs = np.unique(np.asarray(doc_ids, dtype=np.int64))
    windows = tokens.get_orthogonal_selection((docs, slice(1, None)))  # column 0 is BOS
    chunk_of = (docs - doc_id_offset) // max(1, activations.chunks[0] // tokens_per_doc)
    for chunk in np.unique(chunk_of):
        in_chunk = slice(np.searchsorted(chunk_of, chunk), np.searchsorted(chunk_of, chunk, "right"))
        positions = ((docs[in_chunk] - doc_id_offset)[:, None] * tokens_per_doc + np.arange(tokens_per_doc)).ravel()
        rows = np.asarray(activations[positions], dtype=np.float64)
        for i, window in enumerate(windows[in_chunk]):
            pieces = token_pieces(tokenizer, window.tolist())
            for position in range(tokens_per_doc):
                unit = unit_at(pieces, position)
                if not unit:
                    continue
                row = rows[i * tokens_per_doc + position]
                if unit in sums:
                    sums[unit] += row
                else:
                    sums[unit] = row.copy()
                counts[unit] += 1
    units = sorted(sums)
    return pl.DataFrame({
        "unit": units,
        "lang": [script_language(u) for u in units],
        "count": [counts[u] for u in units],
        "vector": [(sums[u] / counts[u]).astype(np.float32).tolist() for u in units],
    }, schema={"unit": pl.String, "lang": pl.String, "count": pl.Int64, "vector": pl.List(pl.Float32)})


class TokenVectors:
    """Unit vectors (unit-normalised), their languages, and the random-pair baseline."""

    def __init__(self, table: pl.DataFrame, baseline_pairs: int = 20000, seed: int = 0, min_count: int = 2,
                 source: str = "token vectors"):
        table = table.filter(pl.col("count") >= min_count)
        if table.height < 2:
            raise InputError(f"{source}: fewer than two units occur {min_count} times or more; too few test "
                             "documents (granularity.vector_docs) to compare units")
        self.units: list[str] = table["unit"].to_list()
        self.index = {u: i for i, u in enumerate(self.units)}
        self.langs: list[str | None] = table["lang"].to_list()
        counts = table["count"].to_numpy().astype(np.float64)
        v = np.asarray(table["vector"].to_list(), dtype=np.float64).reshape(len(self.units), -1)
        self.vectors = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
        self.baseline = self._random_pairs(counts / counts.sum(), baseline_pairs, seed)

    def _random_pairs(self, frequency: np.ndarray, n: int, seed: int) -> np.ndarray:
        """Sorted cosines of `n` pairs of text positions with different units (units drawn by frequency)."""
        rng = np.random.default_rng(seed)
        out, have = [], 0
        while have < n:
            a, b = rng.choice(len(frequency), size=n, p=frequency), rng.choice(len(frequency), size=n, p=frequency)
            keep = a != b
            out.append(np.einsum("ij,ij->i", self.vectors[a[keep]], self.vectors[b[keep]]))
            have += int(keep.sum())
        return np.sort(np.concatenate(out)[:n])

    def percentile(self, similarity: float) -> float:
        """The share of random pairs of text positions less alike than `similarity`."""
        return float(np.searchsorted(self.baseline, similarity, side="left")) / len(self.baseline)

    def mean_pair_similarity(self, units: list[str]) -> float | None:
        """The mean cosine over all pairs of texts whose units differ (each text counts once); None when
        fewer than two distinct units are given."""
        values, weights = np.unique(np.asarray(units, dtype=object), return_counts=True)
        if len(values) < 2:
            return None
        v = self.vectors[[self.index[u] for u in values]]
        w = weights.astype(np.float64)
        gram = v @ v.T
        numerator = w @ gram @ w - (w ** 2 * np.diag(gram)).sum()
        denominator = w.sum() ** 2 - (w ** 2).sum()
        return float(numerator / denominator)

    def lang_of(self, unit: str) -> str | None:
        return self.langs[self.index[unit]]

    def nearest(self, unit: str, lang: str | None, exclude: str | None = None) -> str | None:
        """The unit of language `lang` (by script; None: any) whose vector is most like `unit`'s."""
        sims = self.vectors @ self.vectors[self.index[unit]]
        mask = np.array([lang is None or x == lang for x in self.langs])
        if exclude is not None:
            mask[self.index[exclude]] = False
        if not mask.any():
            return None
        sims = np.where(mask, sims, -np.inf)
        return self.units[int(np.argmax(sims))]


def run(*, test, tokens, vectors, max_docs: int, seed: int, tokenizer: dict) -> None:
    """Rule token_vectors: the unit table (`vectors`) of a model's final checkpoint, over `max_docs` documents of
    the test split's store (`test`) drawn evenly across the split with `seed` (every document when the split has
    no more), read in document order."""
    store = CheckedStore(test)
    offset, per_doc = int(store.attrs["doc_id_offset"]), int(store.attrs["tokens_per_doc"])
    n_docs = store.shape[0] // per_doc
    sample = seeded_sample(n_docs, max_docs, seed)
    doc_ids = (offset + sample).tolist()
    table = unit_table(store, zarr.open_array(str(tokens), mode="r"), load_tokenizer(tokenizer), doc_ids, offset,
                       per_doc)
    with atomic_path(vectors) as tmp:
        table.write_parquet(tmp)
