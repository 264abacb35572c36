"""Language tendency of SAE features (METHODS A5, the paper's 4.2 and fig. 4).

Each of a feature's top texts gets a language — by default its source document's, optionally the script of
its activating token (kana or kanji: ja; Latin letters: en; digits and punctuation fall back to the
document). A feature is "ja" when 90% or more of its texts are Japanese, "en" when 90% or more are English,
"mixed" otherwise, and "dead" when it has no text at all. The threshold is compared exactly (as a fraction),
so 9 of 10 is "ja" and 899 of 1000 is not.
"""

from __future__ import annotations

import re
from fractions import Fraction

import polars as pl
import zarr

from lmscope.atomic import atomic_path
from lmscope.tables import write_csv
from lmscope.tokenizer import load_tokenizer

TENDENCIES = ("ja", "en", "mixed", "dead")
JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff66-\uff9f]")
LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")


def tendency(n_ja: int, n_en: int, n_texts: int, threshold: float = 0.9) -> str:
    if n_texts == 0:
        return "dead"
    t = Fraction(str(threshold))
    if n_ja >= t * n_texts:
        return "ja"
    if n_en >= t * n_texts:
        return "en"
    return "mixed"


def script_language(text: str) -> str | None:
    """ja for kana or kanji, en for Latin letters, None for neither (digits, punctuation, spaces)."""
    if JAPANESE.search(text):
        return "ja"
    if LATIN.search(text):
        return "en"
    return None


def feature_languages(contexts: pl.DataFrame, documents: pl.DataFrame, d_sae: int, threshold: float = 0.9,
                      token_text: dict[tuple[int, int], str] | None = None) -> pl.DataFrame:
    """feature, n_texts, n_ja, n_en, tendency for every feature 0..d_sae-1.

    `token_text` ({(doc_id, position): decoded activating token}) switches to the token-script rule."""
    langs = contexts.join(documents.select("doc_id", pl.col("lang").alias("doc_lang")), on="doc_id", how="left")
    if token_text is not None:
        langs = langs.with_columns(pl.struct("doc_id", "position", "doc_lang").map_elements(
            lambda r: script_language(token_text[(r["doc_id"], r["position"])]) or r["doc_lang"],
            return_dtype=pl.String).alias("lang"))
    else:
        langs = langs.rename({"doc_lang": "lang"})
    counts = langs.group_by("feature").agg(pl.len().alias("n_texts"), (pl.col("lang") == "ja").sum().alias("n_ja"),
                                           (pl.col("lang") == "en").sum().alias("n_en"))
    table = (pl.DataFrame({"feature": list(range(d_sae))}, schema={"feature": pl.Int32})
             .join(counts.with_columns(pl.col("feature").cast(pl.Int32)), on="feature", how="left")
             .fill_null(0)
             .with_columns(pl.col("n_texts", "n_ja", "n_en").cast(pl.Int32)))
    return table.with_columns(pl.struct("n_ja", "n_en", "n_texts").map_elements(
        lambda r: tendency(r["n_ja"], r["n_en"], r["n_texts"], threshold), return_dtype=pl.String).alias("tendency"))


def tally(table: pl.DataFrame, checkpoint: str) -> dict:
    """Counts of each tendency, and the shares of ja / en / mixed among live features (dead counted apart)."""
    counts = {t: int((table["tendency"] == t).sum()) for t in TENDENCIES}
    live = counts["ja"] + counts["en"] + counts["mixed"]
    return {"checkpoint": checkpoint, **counts,
            **{f"share_{t}": counts[t] / live if live else 0.0 for t in ("ja", "en", "mixed")}}


def run(*, contexts, features, documents, tokens, language, tally_csv, threshold: float, by: str, tokenizer: dict,
        ckpt: str) -> None:
    """Rule language_tendency: language.parquet (`language`) and a one-row tally CSV for one checkpoint. With
    `by: token` the activating token's script decides (its id read from `tokens`, decoded with `tokenizer`)."""
    context_table = pl.read_parquet(contexts, columns=["feature", "doc_id", "position"])
    d_sae = pl.read_parquet(features, columns=["feature"]).height
    token_text = None
    if by == "token":
        tok = load_tokenizer(tokenizer)
        pairs = context_table.select("doc_id", "position").unique()
        first, last = pairs["doc_id"].min(), pairs["doc_id"].max()
        ids = zarr.open_array(str(tokens), mode="r")[first:last + 1]  # one read; column 0 is BOS
        id_of = {(d, p): int(ids[d - first, p + 1]) for d, p in pairs.iter_rows()}
        text_of = {i: tok.decode([i]) for i in set(id_of.values())}  # each distinct token decoded once
        token_text = {key: text_of[i] for key, i in id_of.items()}
    table = feature_languages(context_table, pl.read_parquet(documents, columns=["doc_id", "lang"]), d_sae,
                              threshold, token_text)
    with atomic_path(language) as tmp:
        table.write_parquet(tmp)
    write_csv([tally(table, ckpt)], tally_csv)
