"""Semantic granularity: planted truth, the classifier's rules, the labelling sheet and agreement."""

import itertools

import numpy as np
import polars as pl
import pytest

from lmscope.sae_checkpoints.granularity import (PlantedText, classify, cohen_kappa, is_token_level, normalize, true_label,
                                 unit_at)
from lmscope.errors import InputError
from lmscope.sae_checkpoints.labelling import read_sheet, sample_features, write_sheet_csv
from lmscope.sae_checkpoints.token_vectors import TokenVectors


def cat(surface):
    return PlantedText(surface, "animal:cat", "animal")


def dog(surface):
    return PlantedText(surface, "animal:dog", "animal")


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
