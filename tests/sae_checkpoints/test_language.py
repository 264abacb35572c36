"""language.by: token against the authors' evaluate.py (GitHub llm-jp/llm-jp-sae), and the strict threshold."""
import re

import numpy as np
import polars as pl
import pytest
import zarr

from lmscope.sae_checkpoints import language
from lmscope.tokenizer import train_bpe

TABLE = [  # (the window's tokens after BOS, the activating position, the language, why), computed by hand
    (["The"], 0, "en", "ASCII letters"),
    ([" cat "], 0, "en", "stripped of surrounding whitespace"),
    (["New York"], 0, "en", "whitespace inside"),
    (['"e.g.,'], 0, "en", "punctuation of the class"),
    (["(-)'"], 0, "en", "the rest of the class"),
    (["café"], 0, "ja", "a letter outside ASCII"),
    (["!"], 0, "ja", "punctuation outside the class"),
    (["。"], 0, "ja", "Japanese punctuation"),
    (["猫"], 0, "ja", "kanji"),
    (["ネコ"], 0, "ja", "katakana"),
    (["がいる"], 0, "ja", "hiragana"),
    ([""], 0, "ja", "an empty token"),
    ([" "], 0, "ja", "whitespace only: empty once stripped"),
    (["\ufffd"], 0, "ja", "the replacement character of a partial byte"),
    (["1.5"], 0, "ja", "a number with a point is not digits only"),
    (["１２"], 0, "ja", "full-width digits are not [0-9]"),
    (["cat", "1890"], 1, "en", "digits take the token before's language"),
    (["猫", "18", "90"], 2, "ja", "a digit after a digit: recursively"),
    (["18", "年", "the"], 0, "en", "a digit at the first position: the window's last token (idx - 1 = -1)"),
    (["1", "猫", "2"], 0, "ja", "and on backwards around the window"),
    (["12", "34"], 1, None, "digits only: None, which takes the document's language"),
]


def authors_detect_language(token_act, idx):
    """evaluate.py's detect_language, verbatim."""
    token = token_act[idx][0].strip()
    if re.match(r"^[a-zA-Z\s\"\'\(\),\.\-]+$", token):
        return "en"
    elif re.match(r"^[0-9]+$", token):
        return authors_detect_language(token_act, idx - 1)
    else:
        return "ja"


@pytest.mark.parametrize("window, position, expected, why", TABLE, ids=[row[3] for row in TABLE])
def test_token_language_is_the_hand_computed_table_and_the_authors(window, position, expected, why):
    assert language.token_language(window, position) == expected, why
    token_act = [[token, 0] for token in window]
    if expected is None:
        with pytest.raises(IndexError):  # their code fails on a window of digits only
            authors_detect_language(token_act, position)
    else:
        assert authors_detect_language(token_act, position) == expected


@pytest.mark.parametrize("n_ja, n_en, n, strict, expected", [
    (9, 1, 10, False, "ja"),     # 90%: the paper's "90% or more"
    (9, 1, 10, True, "mixed"),   # but not strictly more (the authors' code)
    (1, 9, 10, False, "en"),
    (1, 9, 10, True, "mixed"),
    (10, 0, 10, True, "ja"),
    (0, 10, 10, True, "en"),
    (901, 99, 1000, True, "ja"),
    (0, 0, 0, True, "dead"),
])
def test_strict_and_non_strict_threshold_at_the_boundary(n_ja, n_en, n, strict, expected):
    assert language.tendency(n_ja, n_en, n, 0.9, strict=strict) == expected


def test_language_run_by_token_follows_the_authors(tmp_path):
    tok = train_bpe(["The cat sat. 猫がいる。 1890年"] * 20, vocab_size=300)
    tok.save_pretrained(tmp_path / "tok")
    ids = [tok(t, add_special_tokens=False)["input_ids"][:3] for t in ["The cat sat.", "猫がいる。", "1890年"]]
    ids.append([ids[2][0], ids[2][1], ids[2][0]])  # a window of digits only
    windows = [[tok.decode([i]) for i in row] for row in ids]
    assert windows == [["The", " cat", " sat"], ["猫", "がいる", "。"], ["18", "90", "年"], ["18", "90", "18"]]
    tokens = zarr.create_array(store=str(tmp_path / "tokens.zarr"), shape=(4, 4), chunks=(4, 4), dtype="int32")
    tokens[:] = np.array([[tok.bos_token_id, *row] for row in ids], dtype=np.int32)
    pl.DataFrame({"doc_id": [0, 1, 2, 3], "lang": ["en"] * 4}).write_parquet(tmp_path / "docs.parquet")
    # feature 0: The (en), 猫 (ja), 18 at the first position -> the last token 年 (ja): 2 of 3 ja, mixed
    # feature 1: 90 -> 18 -> 年 (ja), 。(ja), がいる (ja): ja
    # feature 2: " sat" (en), digits only -> the document's en: en
    pl.DataFrame({"feature": [0, 0, 0, 1, 1, 1, 2, 2], "doc_id": [0, 1, 2, 2, 1, 1, 0, 3],
                  "position": [0, 0, 0, 1, 2, 1, 2, 1]}).write_parquet(tmp_path / "contexts.parquet")
    pl.DataFrame({"feature": [0, 1, 2, 3]}).write_parquet(tmp_path / "features.parquet")
    # at threshold 1.0 all of a feature's texts are "1.0 or more" but never strictly more
    for threshold, strict, tendencies in ((0.9, False, ["mixed", "ja", "en"]), (1.0, False, ["mixed", "ja", "en"]),
                                          (1.0, True, ["mixed", "mixed", "mixed"])):
        language.run(contexts=tmp_path / "contexts.parquet", features=tmp_path / "features.parquet",
                     documents=tmp_path / "docs.parquet", tokens=tmp_path / "tokens.zarr",
                     language=tmp_path / "lang.parquet", tally_csv=tmp_path / "tally.csv", threshold=threshold,
                     strict=strict, by="token", tokenizer={"path": str(tmp_path / "tok")}, ckpt="step-1")
        table = pl.read_parquet(tmp_path / "lang.parquet")
        assert table.rows() == [(0, 3, 2, 1, tendencies[0]), (1, 3, 3, 0, tendencies[1]),
                                (2, 2, 0, 2, tendencies[2]), (3, 0, 0, 0, "dead")]
    with pytest.raises(ValueError, match="language.by"):
        language.run(contexts=tmp_path / "contexts.parquet", features=tmp_path / "features.parquet",
                     documents=tmp_path / "docs.parquet", tokens=tmp_path / "tokens.zarr",
                     language=tmp_path / "lang.parquet", tally_csv=tmp_path / "tally.csv", threshold=0.9,
                     strict=False, by="tokens", tokenizer={"path": str(tmp_path / "tok")}, ckpt="step-1")


@pytest.mark.parametrize("by", ["token", "script"])
def test_token_languages_read_block_by_block_equal_each_text_decoded_alone(tmp_path, by):
    """Documents spread over chunks of tokens.zarr, read in blocks of 1, 2 or all: each text's language is the
    rule applied to its own window, decoded token by token."""
    tok = train_bpe(["The cat sat. 猫がいる。 1890年 18 90"] * 20, vocab_size=300)
    tok.save_pretrained(tmp_path / "tok")
    text = tok("The cat sat. 猫がいる。 1890年 18 90 " * 5, add_special_tokens=False)["input_ids"]
    ids = np.array([[tok.bos_token_id, *text[3 * d:3 * d + 5]] for d in range(9)], dtype=np.int32)
    tokens = zarr.create_array(store=str(tmp_path / "tokens.zarr"), shape=ids.shape, chunks=(2, 6), dtype="int32")
    tokens[:] = ids
    pairs = pl.DataFrame({"doc_id": [6, 0, 2, 6, 3, 8, 0], "position": [4, 1, 0, 2, 3, 0, 1]})
    windows = {d: [tok.decode([i]) for i in ids[d, 1:]] for d in range(9)}
    expected = sorted((d, p, language.token_language(windows[d], p) if by == "token"
                       else language.script_language(windows[d][p])) for d, p in pairs.unique().iter_rows())
    assert {lang for _, _, lang in expected} >= {"ja", "en"}  # the cases are exercised
    assert by == "script" or any(language.token_class(windows[d][p]) == language.DIGITS for d, p in pairs.rows())
    for block_docs in (1, 2, 4096):
        got = language.token_languages(pairs.unique(), tmp_path / "tokens.zarr", {"path": str(tmp_path / "tok")}, by,
                                       block_docs=block_docs)
        assert sorted(got.rows()) == expected, block_docs


def test_document_languages_are_those_of_the_documents_asked_for_only(tmp_path):
    pl.DataFrame({"doc_id": list(range(10)), "lang": ["ja", "en"] * 5, "text": ["…"] * 10}).write_parquet(
        tmp_path / "documents.parquet", row_group_size=3)
    got = language.document_languages(tmp_path / "documents.parquet", pl.Series([5, 1, 5, 8]))
    assert sorted(got.rows()) == [(1, "en"), (5, "en"), (8, "ja")]
