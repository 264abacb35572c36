"""One checkpoint's feature tables at the paper's scale (32,768 features x 50 texts), made up with numpy in seconds.

The feature browser has to open fast at that scale, and training an SAE that wide in a test is out of the
question. These are the files browser_page reads — contexts, features, language and granularity tables, a
documents table, tokens.zarr and a tokenizer — with the schemas the workflow writes, filled with seeded values
over a small corpus of real token windows (the synthetic world's text, so pieces and Japanese are realistic):
- feature f draws its texts from the Japanese documents (f % 3 == 0), the English ones (1) or both (2), so all
  three tendencies occur; one feature in DEAD_EVERY is dead (no texts);
- each text has its top activation at a random position and a few weaker ones, decreasing with rank;
- feature MARKED has every text on the token MARK, which no other text activates on, so a search for it has one
  right answer, in a late shard.
Used by tests/sae_checkpoints/test_pages.py and benchmarks/browser.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import zarr

from lmscope.sae_checkpoints.granularity import LABELS
from lmscope.sae_checkpoints.language import tendency
from lmscope.sae_checkpoints.synthetic_text import generate
from lmscope.tokenizer import train_bpe

MARK = "ユニコーン"
MARKED = 32_000
DEAD_EVERY = 1_000
WEAKER_PER_TEXT = 3  # positions besides the top one where a text's feature is active
SOURCE_DOCUMENTS = 400  # of the synthetic world, cut into the corpus's windows
FEATURES_PER_BUILD = 4_096  # contexts rows are built this many features at a time (numpy's temporaries)


def write_tokenizer(directory: Path):
    """A byte-level BPE on the synthetic world, with MARK added as one token; saved in Hugging Face layout."""
    tokenizer = train_bpe([d.text for d in generate(40, seed=3)], vocab_size=400)
    tokenizer.add_tokens([MARK])
    tokenizer.save_pretrained(str(directory))
    return tokenizer


def token_windows(tokenizer, n_docs: int, tokens_per_doc: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """n_docs rows of BOS + tokens_per_doc token ids cut from the synthetic world's text, the first half from
    Japanese documents and the second half from English ones; and each row's lang."""
    texts = generate(SOURCE_DOCUMENTS, seed=seed)
    rows, langs = [], []
    for lang, n in (("ja", n_docs // 2), ("en", n_docs - n_docs // 2)):
        stream = [i for d in texts if d.lang == lang for i in tokenizer(d.text, add_special_tokens=False)["input_ids"]]
        rows.append(np.resize(np.array(stream, dtype=np.int32), (n, tokens_per_doc)))  # the text repeats if short
        langs += [lang] * n
    ids = np.concatenate(rows)
    return np.concatenate([np.full((len(ids), 1), tokenizer.bos_token_id, dtype=np.int32), ids], axis=1), langs


def contexts_rows(features: np.ndarray, n_texts: int, n_docs: int, marked_docs: np.ndarray, maxima: np.ndarray,
                  tokens_per_doc: int, rng: np.random.Generator, mark_positions: np.ndarray) -> pl.DataFrame:
    """The contexts table's rows of `features` (live ones, ascending), sorted by feature then rank."""
    feature = np.repeat(features, n_texts).astype(np.int32)
    rank = np.tile(np.arange(n_texts, dtype=np.int16), len(features))
    half, pool = n_docs // 2, n_docs - len(marked_docs)  # ja docs [0, half), en docs [half, pool)
    low = np.where(feature % 3 == 1, half, 0)
    high = np.where(feature % 3 == 0, half, pool)
    doc_id = rng.integers(low, high).astype(np.int64)
    position = rng.integers(0, tokens_per_doc, size=len(feature)).astype(np.int16)
    marked = feature == MARKED
    if marked.any():
        doc_id[marked], position[marked] = marked_docs, mark_positions
    activation = (maxima[feature] * (1 - rank / (2 * n_texts))).astype(np.float32)
    windows = np.zeros((len(feature), tokens_per_doc), dtype=np.float32)
    weaker = rng.integers(0, tokens_per_doc, size=(len(feature), WEAKER_PER_TEXT))
    rows = np.arange(len(feature))[:, None]
    windows[rows, weaker] = activation[:, None] * rng.uniform(0.01, 0.9, size=weaker.shape).astype(np.float32)
    windows[np.arange(len(feature)), position] = activation
    return pl.DataFrame({
        "feature": feature, "rank": rank, "activation": activation, "doc_id": doc_id, "position": position,
        "activations": pl.Series(windows).cast(pl.List(pl.Float32)),
    })


def language_table(contexts: pl.DataFrame, documents: pl.DataFrame, n_features: int) -> pl.DataFrame:
    """language.parquet as language_tendency writes it (its tendency rule, called once per distinct count rather
    than once per feature: 32,768 calls take seconds)."""
    counts = (contexts.select("feature", "doc_id").join(documents.select("doc_id", "lang"), on="doc_id")
              .group_by("feature").agg(pl.len().cast(pl.Int32).alias("n_texts"),
                                       (pl.col("lang") == "ja").sum().cast(pl.Int32).alias("n_ja"),
                                       (pl.col("lang") == "en").sum().cast(pl.Int32).alias("n_en")))
    table = (pl.DataFrame({"feature": np.arange(n_features, dtype=np.int32)}).join(counts, on="feature", how="left")
             .fill_null(0))
    rule = {(a, b, n): tendency(a, b, n) for a, b, n in table.select("n_ja", "n_en", "n_texts").unique().iter_rows()}
    return table.with_columns(pl.Series("tendency", [rule[r] for r in table.select("n_ja", "n_en", "n_texts")
                                                     .iter_rows()]))


def write_checkpoint(directory: Path, n_features: int = 32_768, n_texts: int = 50, n_docs: int = 400,
                     tokens_per_doc: int = 32, seed: int = 0) -> dict:
    """Write the tables under `directory`; return run_page's keyword arguments for them (all but page, shards)."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    tokenizer = write_tokenizer(directory / "tokenizer")
    tokens, langs = token_windows(tokenizer, n_docs, tokens_per_doc, seed)
    # the last n_texts documents are MARKED's: MARK at a random position of each, shown by no other feature
    marked_docs = np.arange(n_docs - n_texts, n_docs)
    mark_positions = rng.integers(0, tokens_per_doc, size=n_texts).astype(np.int16)
    tokens[marked_docs, 1 + mark_positions] = tokenizer.convert_tokens_to_ids(MARK)
    store = zarr.create_array(store=str(directory / "tokens.zarr"), shape=tokens.shape, dtype="int32",
                              chunks=(256, tokens.shape[1]))
    store[:] = tokens
    documents = pl.DataFrame({"doc_id": np.arange(n_docs, dtype=np.int64), "lang": langs, "split": "test",
                              "text": tokenizer.batch_decode(tokens[:, 1:].tolist())})
    documents.write_parquet(directory / "documents.parquet")

    all_features = np.arange(n_features, dtype=np.int32)
    dead = all_features % DEAD_EVERY == DEAD_EVERY - 1
    maxima = np.where(dead, 0, rng.uniform(1, 10, size=n_features)).astype(np.float32)
    contexts = pl.concat([
        contexts_rows(all_features[start:start + FEATURES_PER_BUILD][~dead[start:start + FEATURES_PER_BUILD]],
                      n_texts, n_docs, marked_docs, maxima, tokens_per_doc, rng, mark_positions)
        for start in range(0, n_features, FEATURES_PER_BUILD)])
    contexts.write_parquet(directory / "contexts.parquet")
    pl.DataFrame({"feature": all_features, "frequency": np.where(dead, 0, rng.uniform(1e-5, 1e-2, n_features)),
                  "max_activation": maxima, "n_texts": np.where(dead, 0, n_texts), "dead": dead}) \
        .write_parquet(directory / "features.parquet")
    language_table(contexts, documents, n_features).write_parquet(directory / "language.parquet")
    sampled = rng.choice(all_features[~dead], size=100, replace=False)
    # granularity.parquet has more columns; the browser reads these two
    pl.DataFrame({"feature": sampled, "label": rng.choice(LABELS, size=len(sampled))}) \
        .write_parquet(directory / "granularity.parquet")
    tables = {name: directory / f"{name}.parquet" for name in ("contexts", "features", "language", "granularity",
                                                               "documents")}
    return {**tables, "tokens": directory / "tokens.zarr", "tokenizer": {"path": str(directory / "tokenizer")},
            "texts_per_feature": n_texts, "model": "synthetic", "ckpt": "step-1"}
