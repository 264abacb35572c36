"""Semantic granularity: planted truth, the classifier's rules, the labelling sheet and agreement."""

import itertools

import numpy as np
import polars as pl
import pytest
import zarr

from lmscope.sae_checkpoints.granularity import (PlantedText, classify, cohen_kappa, is_token_level, normalize,
                                                  planted_texts, true_label, unit_at)
from lmscope.errors import InputError
from lmscope.sae_checkpoints.highlight import token_pieces
from lmscope.sae_checkpoints.labelling import read_sheet, sample_features, write_sheet_csv
from lmscope.sae_checkpoints.token_vectors import TokenVectors, run as token_vectors, unit_table
from lmscope.tokenizer import load_tokenizer, train_bpe


def cat(surface):
    return PlantedText(surface, "animal:cat", "animal", surface)


def dog(surface):
    return PlantedText(surface, "animal:dog", "animal", surface)


def test_planted_truth_on_hand_made_features():
    assert true_label([cat("猫")] * 10, 0.8) == "token"
    # 猫 / ネコ / cat: one concept in three surfaces
    assert true_label([cat("猫")] * 4 + [cat("ネコ")] * 3 + [cat("cat")] * 3, 0.8) == "synonym"
    # cat and dog: one type, two concepts
    assert true_label([cat("cat")] * 5 + [dog("dog")] * 5, 0.8) == "semantic"
    # one concept but only one surface among 7 texts and 3 unlabelled units: below the share at every level
    assert true_label([cat("猫")] * 7 + [PlantedText("の"), PlantedText("は"), PlantedText("、")], 0.8) == "unrelated"
    assert true_label([PlantedText(u) for u in "abcdefghij"], 0.8) == "unrelated"
    # the share is inclusive and exact: 8 of 10 reaches 0.8, 7 of 10 does not
    assert true_label([cat("猫")] * 8 + [dog("犬")] * 2, 0.8) == "token"
    assert true_label([cat("猫")] * 7 + [dog("犬")] * 3, 0.8) == "semantic"
    # the same unit outside any mention is token level too (a feature on "の")
    assert true_label([PlantedText("の")] * 9 + [cat("猫")], 0.8) == "token"
    # a concept type with a single concept id is not semantic commonality
    assert true_label([cat("猫")] * 5 + [cat("ネコ")] * 3 + [PlantedText("x")] * 2, 0.8) == "synonym"
    assert true_label([cat("猫")] * 5 + [cat("ネコ")] * 2 + [PlantedText("x")] * 3, 0.8) == "unrelated"
    with pytest.raises(ValueError):
        true_label([], 0.8)


def test_planted_truth_compares_activating_units_not_whole_mentions():
    # a feature on the token ハキ, in the mentions ハキ and ハキ市 of one city: the same token, token level
    concepts = {(0, 3): ("ハキ", "city:0", "city"), (1, 5): ("ハキ市", "city:0", "city"),
                (2, 4): ("Haki", "city:0", "city"), (3, 2): ("ハキ市", "city:0", "city")}
    same_token = [(0, 3, "ハキ"), (1, 5, "ハキ"), (3, 2, "ハキ")] * 3
    assert true_label(planted_texts(same_token, concepts), 0.8) == "token"
    # the city in both scripts is one concept in two units: a synonym
    both_scripts = [(0, 3, "ハキ"), (1, 5, "ハキ"), (2, 4, "haki")] * 3
    assert true_label(planted_texts(both_scripts, concepts), 0.8) == "synonym"
    # outside every mention a text keeps its unit and has no concept
    assert planted_texts([(9, 9, "の")], concepts) == [PlantedText("の")]
    # two tokens of one surface are one word, not two surfaces of a concept: 出 and 身 of 出身 are token level
    origin = {(0, 0): ("出身", "function:from", "function"), (0, 1): ("出身", "function:from", "function"),
              (1, 0): ("from", "function:from", "function")}
    assert true_label(planted_texts([(0, 0, "出"), (0, 1, "身")] * 5, origin), 0.8) == "token"
    assert true_label(planted_texts([(0, 0, "出"), (1, 0, "from")] * 5, origin), 0.8) == "synonym"


def test_units_are_normalised_and_complete_split_characters():
    assert normalize(" Cat") == normalize("cat") == "cat"
    assert normalize("ＡＢＣ") == "abc"  # NFKC folds full-width letters
    # a token that ends inside a character has an empty piece: its unit is the character it starts
    assert unit_at(["The", "", "猫", " ran"], 1) == "猫"
    assert unit_at(["The", " Cat"], 1) == "cat"


def test_token_rule_at_its_threshold():
    assert is_token_level(["cat"] * 8 + ["dog", "cow"], 0.8)
    assert not is_token_level(["cat"] * 7 + ["dog", "cow", "fox"], 0.8)
    assert is_token_level(["cat"] * 9 + ["dog"], 0.9)
    assert not is_token_level(["cat"] * 899 + ["dog"] * 101, 0.9)  # 89.9%
    assert is_token_level(["cat"] * 900 + ["dog"] * 100, 0.9)


def vectors_of(table: dict[str, tuple[list[float], int]]) -> TokenVectors:
    units = sorted(table)
    frame = pl.DataFrame({"unit": units, "lang": [("ja" if ord(u[0]) > 0x3000 else "en") for u in units],
                          "count": [table[u][1] for u in units], "vector": [table[u][0] for u in units]},
                         schema={"unit": pl.String, "lang": pl.String, "count": pl.Int64,
                                 "vector": pl.List(pl.Float32)})
    return TokenVectors(frame, baseline_pairs=5000, seed=0, min_count=1)


def test_mean_pair_similarity_equals_brute_force():
    rng = np.random.default_rng(0)
    table = {u: (rng.normal(size=6).tolist(), 3) for u in ["a", "b", "c", "d"]}
    vec = vectors_of(table)
    texts = ["a", "a", "b", "c", "c", "c", "d"]
    unit = {u: np.array(v) / np.linalg.norm(v) for u, (v, _) in table.items()}
    pairs = [(x, y) for x, y in itertools.permutations(range(len(texts)), 2) if texts[x] != texts[y]]
    brute = np.mean([unit[texts[x]] @ unit[texts[y]] for x, y in pairs])
    assert vec.mean_pair_similarity(texts) == pytest.approx(brute, abs=1e-6)
    assert vec.mean_pair_similarity(["a", "a"]) is None
    # the baseline: cosines of random pairs of positions with different units, drawn by count (all equal here)
    pair_cosines = {unit[x] @ unit[y] for x, y in itertools.permutations(unit, 2)}
    assert len(vec.baseline) == 5000 and np.all(np.diff(vec.baseline) >= 0)
    assert {round(c, 5) for c in vec.baseline} <= {round(c, 5) for c in pair_cosines}
    assert vec.percentile(-2.0) == 0.0 and vec.percentile(2.0) == 1.0
    assert vec.percentile(float(np.median(vec.baseline))) == pytest.approx(0.5, abs=0.2)


def test_classifier_on_vectors_with_known_structure():
    """A toy vocabulary: 猫/ネコ/cat near one another (one meaning), 犬/dog near them but less so (same kind),
    and many filler units spread at random — the classifier must find each case."""
    rng = np.random.default_rng(1)
    d = 32
    animal = rng.normal(size=d)
    cat_meaning, dog_meaning = animal + 0.5 * rng.normal(size=d), animal + 0.5 * rng.normal(size=d)
    table = {
        "猫": ((cat_meaning + 0.05 * rng.normal(size=d)).tolist(), 20),
        "ネコ": ((cat_meaning + 0.05 * rng.normal(size=d)).tolist(), 20),
        "cat": ((cat_meaning + 0.05 * rng.normal(size=d)).tolist(), 20),
        "犬": ((dog_meaning + 0.05 * rng.normal(size=d)).tolist(), 20),
        "dog": ((dog_meaning + 0.05 * rng.normal(size=d)).tolist(), 20),
    }
    for i in range(60):
        table[f"w{i}"] = (rng.normal(size=d).tolist(), 50)
    vec = vectors_of(table)

    def label(units):
        return classify(units, vec, token_share=0.8, related_percentile=0.9).label

    assert label(["猫"] * 9 + ["w1"]) == "token"
    assert label(["猫"] * 5 + ["cat"] * 5) == "synonym"  # each the other's translation
    assert label(["猫"] * 4 + ["ネコ"] * 3 + ["cat"] * 3) == "synonym"
    assert label(["猫"] * 5 + ["ネコ"] * 5) == "synonym"  # one language: both translate to cat
    assert label(["cat"] * 4 + ["dog"] * 3 + ["犬"] * 3) == "semantic"  # cat and dog translate apart
    assert label(["cat"] * 5 + ["dog"] * 5) == "semantic"
    assert label(["猫"] * 3 + ["犬"] * 3 + ["cat"] * 2 + ["dog"] * 2) == "semantic"
    assert label([f"w{i}" for i in range(10)]) == "unrelated"


def test_sheet_round_trip_and_errors_name_the_row(tmp_path):
    sheet = tmp_path / "sheet.csv"
    write_sheet_csv([3, 7, 11], {3: "猫 ×9"}, sheet)
    text = sheet.read_text(encoding="utf-8").splitlines()
    assert text[0] == "feature,label,allowed,top_units,note"
    filled = tmp_path / "filled.csv"

    def fill(rows):
        filled.write_text("\n".join([text[0]] + rows) + "\n", encoding="utf-8")
        return filled

    good = fill(["3,token,,,", "7,Synonym,,,", "11, unrelated ,,,"])
    assert read_sheet(good, [3, 7, 11]) == {3: "token", 7: "synonym", 11: "unrelated"}
    with pytest.raises(ValueError, match=r"line 3: label 'cat' for feature 7 is not one of"):
        read_sheet(fill(["3,token,,,", "7,cat,,,", "11,token,,,"]), [3, 7, 11])
    with pytest.raises(ValueError, match=r"line 3: label empty for feature 7"):
        read_sheet(fill(["3,token,,,", "7,,,,", "11,token,,,"]), [3, 7, 11])
    with pytest.raises(ValueError, match=r"line 4: feature 3 again \(first on line 2\)"):
        read_sheet(fill(["3,token,,,", "7,token,,,", "3,token,,,", "11,token,,,"]), [3, 7, 11])
    with pytest.raises(ValueError, match=r"no row for sampled feature\(s\) 11"):
        read_sheet(fill(["3,token,,,", "7,token,,,"]), [3, 7, 11])
    with pytest.raises(ValueError, match=r"line 3: feature 8 was not sampled"):
        read_sheet(fill(["3,token,,,", "8,token,,,"]), [3, 7, 11])
    with pytest.raises(ValueError, match=r"line 2: feature 'x3' is not a feature id"):
        read_sheet(fill(["x3,token,,,"]), [3, 7, 11])
    filled.write_text("feature,labels\n3,token\n", encoding="utf-8")
    with pytest.raises(ValueError, match="lacks column"):
        read_sheet(filled, [3])
    with pytest.raises(InputError, match="no such file"):
        read_sheet(tmp_path / "absent.csv", [3])


def test_sample_is_seeded_live_and_stable_per_checkpoint():
    language = pl.DataFrame({"feature": list(range(50)), "n_texts": [0] * 10 + [3] * 10 + [20] * 30})
    a = sample_features(language, 10, 10, 0, "step-10")
    assert a == sample_features(language, 10, 10, 0, "step-10") and len(a) == 10 and a == sorted(a)
    assert all(f >= 20 for f in a)
    assert a != sample_features(language, 10, 10, 0, "step-30")
    assert sample_features(language, 100, 10, 0, "step-10") == list(range(20, 50))


def test_cohen_kappa_against_a_hand_computation():
    # 10 items: agree on 7. Marginals a: token 5, synonym 3, unrelated 2; b: token 4, synonym 4, unrelated 2.
    a = ["token"] * 5 + ["synonym"] * 3 + ["unrelated"] * 2
    b = ["token"] * 4 + ["synonym"] + ["synonym"] * 2 + ["token"] + ["unrelated", "synonym"]
    p_o = sum(x == y for x, y in zip(a, b)) / 10
    assert p_o == 0.7
    p_e = (5 * 5 + 3 * 4 + 2 * 1) / 100  # b: token 5, synonym 4, unrelated 1
    assert cohen_kappa(a, b) == pytest.approx((p_o - p_e) / (1 - p_e))
    assert cohen_kappa(a, a) == 1.0
    assert cohen_kappa(["token"] * 3, ["token"] * 3) == 1.0


# --- unit vectors over a split ordered by source -------------------------------------------------------------------

JA_WORDS = ["猫", "犬", "が", "は", "走る", "眠る", "山", "川", "の", "を", "見る", "好き", "ネコ", "イヌ"]
EN_WORDS = ["the", "cat", "dog", "runs", "sleeps", "hill", "river", "of", "sees", "likes", "a", "small"]
PER_LANG, T, OFFSET = 200, 8, 10  # test documents per language, tokens per window, training rows before them


@pytest.fixture(scope="module")
def split_by_source(tmp_path_factory):
    """A test split as a corpus of two single-language sources writes it: all Japanese documents, then all
    English ones (tokens.zarr rows doc_id, column 0 BOS, OFFSET other rows first), and an activation store in
    the extraction's layout (row (doc_id - doc_id_offset) × T + position, attrs doc_id_offset, tokens_per_doc)."""
    tmp = tmp_path_factory.mktemp("split_by_source")
    rng = np.random.default_rng(0)
    ja = ["".join(rng.choice(JA_WORDS, 12)) + "。" for _ in range(PER_LANG)]
    en = [" ".join(rng.choice(EN_WORDS, 12)) + "." for _ in range(PER_LANG)]
    tok = train_bpe(ja + en, vocab_size=320)
    tok.save_pretrained(tmp / "tokenizer")
    windows = [tok(text, add_special_tokens=False)["input_ids"][:T] for text in ["filler text " * 4] * OFFSET + ja + en]
    assert all(len(w) == T for w in windows)
    tokens = zarr.create_array(store=str(tmp / "tokens.zarr"), shape=(len(windows), 1 + T), chunks=(64, 1 + T),
                               dtype="int32")
    tokens[:] = np.array([[tok.bos_token_id] + w for w in windows], dtype=np.int32)
    acts = rng.standard_normal((2 * PER_LANG * T, 16)).astype(np.float32)
    store = zarr.create_array(store=str(tmp / "test.zarr"), shape=acts.shape, chunks=(40, 16), dtype="float32")
    store[:] = acts
    store.attrs.update({"doc_id_offset": OFFSET, "tokens_per_doc": T})
    return tmp, acts


def lang_positions(table: pl.DataFrame) -> dict:
    return dict(table.group_by("lang").agg(pl.col("count").sum()).iter_rows())


def test_unit_vectors_draw_documents_evenly_across_a_split_ordered_by_source(split_by_source):
    """Issue 17: 2 × 200 test documents, ja then en, and vector_docs = 100. The sample's ja share of unit
    positions is the whole split's within 0.15: a sample of 100 of 400 documents half of each language has a
    hypergeometric sd of 4.3 documents (0.043 of the share), so 0.15 is 3.5 sd for any seed. The first 100
    documents, as the rule read before, hold no English at all."""
    tmp, _ = split_by_source
    tokenizer = load_tokenizer({"path": str(tmp / "tokenizer")})
    tokens = zarr.open_array(str(tmp / "tokens.zarr"), mode="r")
    store = zarr.open_array(str(tmp / "test.zarr"), mode="r")
    everything = lang_positions(unit_table(store, tokens, tokenizer, list(range(OFFSET, OFFSET + 2 * PER_LANG)),
                                           OFFSET, T))
    token_vectors(test=tmp / "test.zarr", tokens=tmp / "tokens.zarr", vectors=tmp / "vectors.parquet",
                  max_docs=100, seed=0, tokenizer={"path": str(tmp / "tokenizer")})
    table = pl.read_parquet(tmp / "vectors.parquet")
    sampled = lang_positions(table)
    assert sampled["ja"] > 0 and sampled["en"] > 0
    share = lambda c: c["ja"] / (c["ja"] + c["en"])  # noqa: E731
    assert share(sampled) == pytest.approx(share(everything), abs=0.15)
    assert sum(table["count"]) < sum(everything.values())  # a sample, not the whole split
    prefix = lang_positions(unit_table(store, tokens, tokenizer, list(range(OFFSET, OFFSET + 100)), OFFSET, T))
    assert prefix.get("en", 0) == 0 and prefix["ja"] > 0  # what the first-N rule gave: the test can fail
    # with no more documents than vector_docs, every one is used
    token_vectors(test=tmp / "test.zarr", tokens=tmp / "tokens.zarr", vectors=tmp / "all.parquet",
                  max_docs=2 * PER_LANG, seed=0, tokenizer={"path": str(tmp / "tokenizer")})
    assert lang_positions(pl.read_parquet(tmp / "all.parquet")) == everything


def test_unit_table_of_documents_spread_over_the_split_equals_brute_force(split_by_source):
    """Documents far apart, in several chunks of both stores: each unit's count and mean vector as read row by
    row."""
    tmp, acts = split_by_source
    tokenizer = load_tokenizer({"path": str(tmp / "tokenizer")})
    tokens = zarr.open_array(str(tmp / "tokens.zarr"), mode="r")
    docs = [OFFSET + d for d in (0, 3, 77, 199, 200, 263, 399)]
    table = unit_table(zarr.open_array(str(tmp / "test.zarr"), mode="r"), tokens, tokenizer, docs, OFFSET, T)
    expected: dict[str, list] = {}
    for doc in docs:
        pieces = token_pieces(tokenizer, tokens[doc, 1:].tolist())
        for position in range(T):
            if unit := unit_at(pieces, position):
                expected.setdefault(unit, []).append(acts[(doc - OFFSET) * T + position].astype(np.float64))
    assert table["unit"].to_list() == sorted(expected)
    for unit, count, vector in table.select("unit", "count", "vector").iter_rows():
        assert count == len(expected[unit])
        np.testing.assert_allclose(vector, np.mean(expected[unit], axis=0), rtol=1e-6, atol=1e-6)
