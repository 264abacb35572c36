"""Scoring answers to visual questions the way each benchmark does (METHODS B4) — not the reference code's way.

    vqa            VQAv2: min(#annotators who gave the answer / 3, 1), after the official answer normalisation
    exact          exact match after the same normalisation (RS-VQA, the synthetic open questions, LingoQA
                   without a judge)
    choice         multiple choice (PMC-VQA): the option letter, written "B", "(B)", "B." or "B: text", or the
                   option's own text
    anls           DocVQA: average normalised Levenshtein similarity, 0 below the 0.5 threshold
    lingo_judge    LingoQA: a Lingo-Judge-style classifier (lmscope.mmneuron.judge), when the config names one

The normalisation is the official VQA evaluation's (github.com/GT-Vision-Lab/VQA, vqaEval.py): punctuation,
periods that are not decimal points, number words to digits, articles dropped, apostrophe-less contractions
restored.
"""

from __future__ import annotations

import re

from lmscope.errors import InputError
from lmscope.mmneuron.choices import LETTERS

CONTRACTIONS = {
    "aint": "ain't", "arent": "aren't", "cant": "can't", "couldve": "could've", "couldnt": "couldn't",
    "couldn'tve": "couldn't've", "couldnt've": "couldn't've", "didnt": "didn't", "doesnt": "doesn't",
    "dont": "don't", "hadnt": "hadn't", "hadnt've": "hadn't've", "hadn'tve": "hadn't've", "hasnt": "hasn't",
    "havent": "haven't", "hed": "he'd", "hed've": "he'd've", "he'dve": "he'd've", "hes": "he's", "howd": "how'd",
    "howll": "how'll", "hows": "how's", "Id've": "I'd've", "I'dve": "I'd've", "Im": "I'm", "Ive": "I've",
    "isnt": "isn't", "itd": "it'd", "itd've": "it'd've", "it'dve": "it'd've", "itll": "it'll", "let's": "let's",
    "maam": "ma'am", "mightnt": "mightn't", "mightnt've": "mightn't've", "mightn'tve": "mightn't've",
    "mightve": "might've", "mustnt": "mustn't", "mustve": "must've", "neednt": "needn't", "notve": "not've",
    "oclock": "o'clock", "oughtnt": "oughtn't", "ow's'at": "'ow's'at", "'ows'at": "'ow's'at", "'ow'sat": "'ow's'at",
    "shant": "shan't", "shed've": "she'd've", "she'dve": "she'd've", "she's": "she's", "shouldve": "should've",
    "shouldnt": "shouldn't", "shouldnt've": "shouldn't've", "shouldn'tve": "shouldn't've", "somebody'd": "somebodyd",
    "somebodyd've": "somebody'd've", "somebody'dve": "somebody'd've", "somebodyll": "somebody'll",
    "somebodys": "somebody's", "someoned": "someone'd", "someoned've": "someone'd've",
    "someone'dve": "someone'd've", "someonell": "someone'll", "someones": "someone's", "somethingd": "something'd",
    "somethingd've": "something'd've", "something'dve": "something'd've", "somethingll": "something'll",
    "thats": "that's", "thered": "there'd", "thered've": "there'd've", "there'dve": "there'd've",
    "therere": "there're", "theres": "there's", "theyd": "they'd", "theyd've": "they'd've",
    "they'dve": "they'd've", "theyll": "they'll", "theyre": "they're", "theyve": "they've", "twas": "'twas",
    "wasnt": "wasn't", "wed've": "we'd've", "we'dve": "we'd've", "weve": "we've", "werent": "weren't",
    "whatll": "what'll", "whatre": "what're", "whats": "what's", "whatve": "what've", "whens": "when's",
    "whered": "where'd", "wheres": "where's", "whereve": "where've", "whod": "who'd", "whod've": "who'd've",
    "who'dve": "who'd've", "wholl": "who'll", "whos": "who's", "whove": "who've", "whyll": "why'll",
    "whyre": "why're", "whys": "why's", "wont": "won't", "wouldve": "would've", "wouldnt": "wouldn't",
    "wouldnt've": "wouldn't've", "wouldn'tve": "wouldn't've", "yall": "y'all", "yall'll": "y'all'll",
    "y'allll": "y'all'll", "yall'd've": "y'all'd've", "y'alld've": "y'all'd've", "y'all'dve": "y'all'd've",
    "youd": "you'd", "youd've": "you'd've", "you'dve": "you'd've", "youll": "you'll", "youre": "you're",
    "youve": "you've",
}
NUMBERS = {"none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
           "seven": "7", "eight": "8", "nine": "9", "ten": "10"}
ARTICLES = {"a", "an", "the"}
PUNCTUATION = [";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",", "?",
               "!"]
PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)")
COMMA_STRIP = re.compile(r"(\d)(,)(\d)")
LETTER = re.compile(r"^\(?([A-Z])\)?(?:[.:)]|\s|$)")


def _punctuation(text: str) -> str:
    out = text
    for p in PUNCTUATION:
        if (p + " " in text or " " + p in text) or COMMA_STRIP.search(text) is not None:
            out = out.replace(p, "")
        else:
            out = out.replace(p, " ")
    return PERIOD_STRIP.sub("", out)


def _digits_and_articles(text: str) -> str:
    words = []
    for word in text.lower().split():
        word = NUMBERS.get(word, word)
        if word not in ARTICLES:
            words.append(CONTRACTIONS.get(word, word))
    return " ".join(words)


def normalize(answer: str) -> str:
    """The official VQA answer normalisation."""
    answer = answer.replace("\n", " ").replace("\t", " ").strip()
    return _digits_and_articles(_punctuation(answer))


def vqa_accuracy(prediction: str, answers: list[str], counts: list[int] | None = None) -> float:
    """min(#annotators who gave the prediction / 3, 1); `answers` distinct with `counts` annotators each, or one
    entry per annotator."""
    counts = counts or [1] * len(answers)
    predicted = normalize(prediction)
    matching = sum(c for a, c in zip(answers, counts) if normalize(a) == predicted)
    return min(matching / 3, 1.0)


def exact_match(prediction: str, answers: list[str]) -> float:
    predicted = normalize(prediction)
    return float(any(normalize(a) == predicted for a in answers))


def chosen_letter(prediction: str, choices: list[str]) -> str | None:
    """The option a free-text answer picks: a leading letter ("B", "(B)", "B.", "B: text") or an option's text."""
    text = prediction.strip()
    match = LETTER.match(text)
    if match and match.group(1) in LETTERS[:len(choices)]:
        return match.group(1)
    normalized = normalize(text)
    for letter, choice in zip(LETTERS, choices):
        if normalized and normalized == normalize(choice):
            return letter
    return None


def choice_match(prediction: str, answers: list[str], choices: list[str]) -> float:
    return float(chosen_letter(prediction, choices) in {a.strip() for a in answers})


def levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def anls(prediction: str, answers: list[str], threshold: float = 0.5) -> float:
    """DocVQA's ANLS for one question: the best 1 - NL over the answers, 0 where NL is not below the threshold
    (case-insensitive, trimmed; NL = edit distance / the longer length)."""
    best = 0.0
    p = prediction.strip().lower()
    for answer in answers:
        a = answer.strip().lower()
        distance = levenshtein(p, a) / max(len(p), len(a), 1)
        best = max(best, 1 - distance if distance < threshold else 0.0)
    return best


def score(metric: str, prediction: str, answers: list[str], counts: list[int], choices: list[str]) -> float:
    """One answer under a metric name (lingo_judge is scored by lmscope.mmneuron.judge over a whole table)."""
    if metric == "vqa":
        return vqa_accuracy(prediction, answers, counts)
    if metric == "exact":
        return exact_match(prediction, answers)
    if metric == "choice":
        return choice_match(prediction, answers, choices)
    if metric == "anls":
        return anls(prediction, answers)
    raise InputError(f"unknown metric {metric!r}: vqa, exact, choice, anls or lingo_judge")
