"""Language tendency of SAE features (METHODS A5, the paper's 4.2 and fig. 4).

Each of a feature's texts gets a language, by one of three rules (`language.by`):

- `document` (the default): its source document's.
- `token`: the authors' rule (evaluate.py's detect_language, GitHub llm-jp/llm-jp-sae) on the text's activating
  token, decoded and stripped of surrounding whitespace: ASCII letters, whitespace and "'(),.- only are en;
  digits only take the language of the token before (recursively); anything else is ja (kana, kanji, other
  punctuation, an empty string, the replacement character of a partial byte). A digit at the window's first
  position takes the window's last token's language, as the authors' index idx - 1 = -1 does in Python; so the
  walk goes backwards around the window (the tokens after BOS). A window of digits only, where their code fails
  with an IndexError, takes the document's language. The activating token is the true argmax
  (contexts.position, the first on ties); the authors take the first argmax of activations quantised to
  ceil(10 x act / max), which can be an earlier token of the same tenth.
- `script`: the activating token's script (kana or kanji: ja; Latin letters: en; digits and punctuation fall
  back to the document).

A feature is "ja" when a share `threshold` (0.9) or more of its texts are Japanese, "en" likewise, "mixed"
otherwise, and "dead" when it has no text at all; with `strict`, the share must be strictly more (the authors'
code; the paper's text says "90% or more"). The threshold is compared exactly (as a fraction), so 9 of 10 is
"ja" when not strict and "mixed" when strict, and 899 of 1000 is never "ja".
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from fractions import Fraction

import numpy as np
import polars as pl
import zarr

from lmscope.atomic import atomic_path
from lmscope.tables import write_csv
from lmscope.tokenizer import load_tokenizer

TENDENCIES = ("ja", "en", "mixed", "dead")
JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff66-\uff9f]")
LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")
# evaluate.py's detect_language, verbatim; "digits" is not a language but a pointer to the token before
ENGLISH_TOKEN = re.compile(r"^[a-zA-Z\s\"\'\(\),\.\-]+$")
DIGITS_TOKEN = re.compile(r"^[0-9]+$")
DIGITS = "digits"


def tendency(n_ja: int, n_en: int, n_texts: int, threshold: float = 0.9, strict: bool = False) -> str:
    if n_texts == 0:
        return "dead"
    t = Fraction(str(threshold)) * n_texts
    if n_ja > t or (not strict and n_ja == t):
        return "ja"
    if n_en > t or (not strict and n_en == t):
        return "en"
    return "mixed"


def script_language(text: str) -> str | None:
    """ja for kana or kanji, en for Latin letters, None for neither (digits, punctuation, spaces)."""
    if JAPANESE.search(text):
        return "ja"
    if LATIN.search(text):
        return "en"
    return None


def token_class(text: str) -> str:
    """en, ja or DIGITS for one decoded token, as the authors' detect_language reads it."""
    token = text.strip()
    if ENGLISH_TOKEN.match(token):
        return "en"
    if DIGITS_TOKEN.match(token):
        return DIGITS
    return "ja"


def token_language(window: Sequence, position: int, classify: Callable[..., str] = token_class) -> str | None:
    """The authors' language of the token at `position` of `window` (the tokens after BOS, as texts, or as ids
    with a `classify` that maps ids): its class, or for digits the nearest earlier token's, wrapping from the
    first position to the last; None when every token is digits."""
    n = len(window)
    for step in range(n):
        found = classify(window[(position - step) % n])
        if found != DIGITS:
            return found
    return None


def feature_languages(contexts: pl.DataFrame, documents: pl.DataFrame, d_sae: int, threshold: float = 0.9,
                      text_lang: pl.DataFrame | None = None, strict: bool = False) -> pl.DataFrame:
    """feature, n_texts, n_ja, n_en, tendency for every feature 0..d_sae-1.

    `text_lang` (doc_id, position, lang: ja | en | null) gives each text its language by a token rule; null
    there, or no `text_lang` at all, takes the document's."""
    langs = contexts.join(documents.select("doc_id", pl.col("lang").alias("doc_lang")), on="doc_id", how="left")
    if text_lang is not None:
        langs = (langs.join(text_lang.rename({"lang": "text_lang"}), on=["doc_id", "position"], how="left")
                 .with_columns(pl.coalesce("text_lang", "doc_lang").alias("lang")))
    else:
        langs = langs.rename({"doc_lang": "lang"})
    counts = langs.group_by("feature").agg(pl.len().alias("n_texts"), (pl.col("lang") == "ja").sum().alias("n_ja"),
                                           (pl.col("lang") == "en").sum().alias("n_en"))
    table = (pl.DataFrame({"feature": list(range(d_sae))}, schema={"feature": pl.Int32})
             .join(counts.with_columns(pl.col("feature").cast(pl.Int32)), on="feature", how="left")
             .fill_null(0)
             .with_columns(pl.col("n_texts", "n_ja", "n_en").cast(pl.Int32)))
    return table.with_columns(pl.struct("n_ja", "n_en", "n_texts").map_elements(
        lambda r: tendency(r["n_ja"], r["n_en"], r["n_texts"], threshold, strict),
        return_dtype=pl.String).alias("tendency"))


def document_languages(documents, doc_ids) -> pl.DataFrame:
    """doc_id, lang of the documents `doc_ids` only: a scan of documents.parquet that keeps just their rows (a
    paper-scale corpus holds 2.58M documents, a checkpoint's texts a share of the test split's)."""
    wanted = np.unique(np.asarray(doc_ids, dtype=np.int64))
    return (pl.scan_parquet(documents).select("doc_id", "lang").filter(pl.col("doc_id").is_in(wanted))
            .collect(engine="streaming"))


def token_languages(pairs: pl.DataFrame, tokens, tokenizer: dict, by: str,
                    block_docs: int = 4096) -> pl.DataFrame:
    """doc_id, position, lang: the language of each text's activating token (`pairs`: doc_id, position) by the
    `token` or `script` rule. The ids are read from the corpus's tokens.zarr (column 0 is BOS) a block of
    `block_docs` documents at a time, in storage order, only the documents' rows; each distinct id is decoded
    once."""
    tok = load_tokenizer(tokenizer)
    array = zarr.open_array(str(tokens), mode="r")
    pairs = pairs.sort("doc_id", "position")
    doc_ids, positions = pairs["doc_id"].to_numpy(), pairs["position"].to_numpy()
    docs = np.unique(doc_ids)

    @functools.cache
    def script_of(i: int) -> str | None:
        return script_language(tok.decode([i]))

    @functools.cache
    def class_of(i: int) -> str:
        return token_class(tok.decode([i]))

    langs: list[str | None] = []
    for start in range(0, len(docs), block_docs):
        block = docs[start:start + block_docs]
        windows = array.get_orthogonal_selection((block, slice(1, None))).tolist()
        texts = slice(np.searchsorted(doc_ids, block[0]), np.searchsorted(doc_ids, block[-1], "right"))
        for row, position in zip(np.searchsorted(block, doc_ids[texts]).tolist(), positions[texts].tolist()):
            if by == "script":
                langs.append(script_of(windows[row][position]))
            else:  # a digit sends the rule to earlier tokens of the window
                langs.append(token_language(windows[row], position, class_of))
    return pairs.with_columns(pl.Series("lang", langs, dtype=pl.String))


def tally(table: pl.DataFrame, checkpoint: str) -> dict:
    """Counts of each tendency, and the shares of ja / en / mixed among live features (dead counted apart)."""
    counts = {t: int((table["tendency"] == t).sum()) for t in TENDENCIES}
    live = counts["ja"] + counts["en"] + counts["mixed"]
    return {"checkpoint": checkpoint, **counts,
            **{f"share_{t}": counts[t] / live if live else 0.0 for t in ("ja", "en", "mixed")}}


def run(*, contexts, features, documents, tokens, language, tally_csv, threshold: float, strict: bool, by: str,
        tokenizer: dict, ckpt: str) -> None:
    """Rule language_tendency: language.parquet (`language`) and a one-row tally CSV for one checkpoint. With
    `by: token` or `by: script` the activating token decides (its id read from `tokens`, decoded with
    `tokenizer`)."""
    if by not in ("document", "token", "script"):
        raise ValueError(f"language.by must be document, token or script, got {by!r}")
    context_table = pl.read_parquet(contexts, columns=["feature", "doc_id", "position"])
    d_sae = pl.read_parquet(features, columns=["feature"]).height
    text_lang = None
    if by != "document":
        text_lang = token_languages(context_table.select("doc_id", "position").unique(), tokens, tokenizer, by)
    table = feature_languages(context_table, document_languages(documents, context_table["doc_id"]), d_sae,
                              threshold, text_lang, strict)
    with atomic_path(language) as tmp:
        table.write_parquet(tmp)
    write_csv([tally(table, ckpt)], tally_csv)
