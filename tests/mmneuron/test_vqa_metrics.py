"""The benchmark metrics against worked examples."""
import pytest

from lmscope.mmneuron import vqa_metrics


@pytest.mark.parametrize("raw, normalized", [
    ("Two", "2"),
    ("the red one.", "red 1"),
    ("A dog!", "dog"),
    ("isnt it", "isn't it"),
    ("3.5", "3.5"),
    ("1,000", "1000"),
    ("yes, definitely", "yes definitely"),
    ("black-and-white", "black and white"),
    ("  Red\n", "red"),
])
def test_official_normalisation(raw, normalized):
    assert vqa_metrics.normalize(raw) == normalized


def test_vqa_accuracy_is_min_annotators_over_three():
    answers = ["2"] * 2 + ["two"] + ["3"] * 6 + ["4"]  # one entry per annotator, "two" normalises to "2"
    assert vqa_metrics.vqa_accuracy("2", answers) == 1.0
    assert vqa_metrics.vqa_accuracy("Three", answers) == 1.0
    assert vqa_metrics.vqa_accuracy("4", answers) == pytest.approx(1 / 3)
    assert vqa_metrics.vqa_accuracy("5", answers) == 0.0
    assert vqa_metrics.vqa_accuracy("red", ["red", "maroon"], [2, 8]) == pytest.approx(2 / 3)


def test_exact_match_after_normalisation():
    assert vqa_metrics.exact_match("The River.", ["river"]) == 1.0
    assert vqa_metrics.exact_match("rivers", ["river"]) == 0.0


@pytest.mark.parametrize("prediction, letter", [
    ("B", "B"), ("(B)", "B"), ("B.", "B"), ("B: lung", "B"), ("B) lung", "B"), ("lung", "B"), ("The lung.", "B"),
    ("E", None), ("Both", None), ("", None),
])
def test_option_letter_or_text(prediction, letter):
    choices = ["brain", "lung", "liver", "bone"]
    assert vqa_metrics.chosen_letter(prediction, choices) == letter
    assert vqa_metrics.choice_match(prediction, ["B"], choices) == float(letter == "B")


def test_anls_by_hand():
    assert vqa_metrics.levenshtein("kitten", "sitting") == 3
    assert vqa_metrics.anls("Kitten", ["sitting"]) == pytest.approx(1 - 3 / 7)  # NL = 3/7 < 0.5, case ignored
    assert vqa_metrics.anls("$1,000", ["$1,000 "]) == 1.0
    assert vqa_metrics.anls("abcd", ["abxy"]) == 0.0  # NL = 0.5, not below the threshold
    assert vqa_metrics.anls("abcde", ["abcdx", "zzzzz"]) == pytest.approx(0.8)  # the best answer counts


def test_score_dispatches_and_rejects_unknown_metrics():
    assert vqa_metrics.score("vqa", "yes", ["yes"], [3], []) == 1.0
    assert vqa_metrics.score("choice", "A", ["A"], [1], ["x", "y"]) == 1.0
    with pytest.raises(ValueError, match="unknown metric 'bleu'"):
        vqa_metrics.score("bleu", "x", ["x"], [1], [])
