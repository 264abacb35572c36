"""Semantic granularity of SAE features (METHODS A6, the paper's 4.4 and fig. 5): what a feature's top texts
have in common at their activating tokens.

Labels, as the paper's: `token` (the same token, 猫 and 猫), `synonym` (the same meaning in other forms, 猫 and
ネコ and cat), `semantic` (a shared kind of meaning, cat and dog) and `unrelated`.

Two ways to a label, both from the activating *unit* of each text: the piece of text its highest-activating
token adds (a token that ends inside a character takes the pieces that complete it), normalised by NFKC, case
and surrounding spaces, so " Cat" and "cat" are one unit.

- **Planted truth** (`true_label`), on a corpus with concept labels (the synthetic one): each text's activating
  token is looked up in concepts.parquet. The same unit in at least `share` of the texts is token level (the
  paper's "the same token": ハキ in ハキ and in ハキ市 is one token, although the mentions differ); else the same
  concept id (in two or more units) synonym when its texts hold two or more of the concept's surfaces, token
  level when they are tokens of one surface (出 and 身 of 出身: one word); else the same concept type (two or
  more ids) semantic; else unrelated. A unit outside every labelled mention has no concept.
- **The classifier** (`classify`), which sees no label: token level when one unit holds `token_share` of the
  texts; otherwise the units' final-checkpoint representations decide (lmscope.token_vectors): unrelated
  unless the texts' units are on average more alike than `related_percentile` of random pairs of text
  positions; synonym when the units holding `token_share` of the texts are one meaning — linked through their
  nearest neighbours in the other language (`one_meaning`); semantic otherwise.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import polars as pl

from lmscope.errors import InputError

LABELS = ("token", "synonym", "semantic", "unrelated")


def normalize(text: str) -> str:
    """NFKC, lower case, no surrounding spaces: the form units are compared in."""
    return unicodedata.normalize("NFKC", text).lower().strip()


def unit_at(pieces: list[str], position: int) -> str:
    """The normalised piece of text of the token at `position`; a token whose piece is empty (it ends inside a
    character) takes the following pieces up to the first non-empty one."""
    for piece in pieces[position:]:
        if piece:
            return normalize(piece)
    return ""


def _at_least(count: int, share: float, total: int) -> bool:
    return total > 0 and count >= Fraction(str(share)) * total


@dataclass(frozen=True)
class PlantedText:
    """What the corpus knows about one text: its activating unit, and the concept id, type and surface of the
    labelled mention that covers it (None outside mentions)."""

    unit: str
    concept_id: str | None = None
    concept_type: str | None = None
    surface: str | None = None


def true_label(texts: list[PlantedText], share: float) -> str:
    """Planted truth for one feature (module docstring); `share` is the fraction of texts that must agree."""
    n = len(texts)
    if n == 0:
        raise ValueError("a feature without texts has no granularity")
    count = Counter(t.unit for t in texts).most_common(1)[0][1]
    if _at_least(count, share, n):
        return "token"
    ids = Counter(t.concept_id for t in texts if t.concept_id is not None)
    if ids:
        cid, count = ids.most_common(1)[0]
        of_concept = [t for t in texts if t.concept_id == cid]
        if _at_least(count, share, n) and len({t.unit for t in of_concept}) > 1:
            # other surfaces of the concept (出身 and from); several tokens of one surface (出 and 身) are one word
            return "synonym" if len({t.surface for t in of_concept}) > 1 else "token"
    types = Counter(t.concept_type for t in texts if t.concept_type is not None)
    if types:
        ctype, count = types.most_common(1)[0]
        if _at_least(count, share, n) and len({t.concept_id for t in texts if t.concept_type == ctype}) > 1:
            return "semantic"
    return "unrelated"


def is_token_level(units: list[str], token_share: float) -> bool:
    """The classifier's first rule: one unit holds at least `token_share` of the texts."""
    if not units:
        return False
    return _at_least(Counter(units).most_common(1)[0][1], token_share, len(units))


@dataclass
class Evidence:
    """Why the classifier chose a label: the top unit's share, the texts' mean similarity and its percentile
    among random pairs of text positions, and whether the units linked up as one meaning (`one_meaning`)."""

    label: str
    top_unit: str
    top_share: float
    similarity: float | None = None
    percentile: float | None = None
    one_meaning: bool | None = None


def classify(units: list[str], vectors, token_share: float, related_percentile: float) -> Evidence:
    """The automatic label of one feature from its texts' units (module docstring). `vectors` is a
    lmscope.token_vectors.TokenVectors of the final checkpoint."""
    counts = Counter(units)
    top, top_count = counts.most_common(1)[0]
    ev = Evidence("token", top, top_count / len(units))
    if is_token_level(units, token_share):
        return ev
    known = [u for u in units if u in vectors.index]
    ev.similarity = vectors.mean_pair_similarity(known)
    if ev.similarity is None:  # fewer than two distinct units with a representation: nothing says related
        ev.label = "unrelated"
        return ev
    ev.percentile = vectors.percentile(ev.similarity)
    if not ev.percentile >= related_percentile:
        ev.label = "unrelated"
        return ev
    ev.one_meaning = one_meaning(Counter(known), len(units), vectors, token_share)
    ev.label = "synonym" if ev.one_meaning else "semantic"
    return ev


def one_meaning(counts: Counter, n_texts: int, vectors, token_share: float) -> bool:
    """Whether the units that hold `token_share` of the texts (the most frequent first) are one meaning in
    several forms. Each such unit is linked to its nearest neighbour in the other language (its translation)
    and that one back to its own nearest neighbour in the first: 猫 → cat → 猫 and ネコ → cat join 猫, ネコ and
    cat, while cat → 猫 and dog → 犬 stay apart. One meaning when all the units end up linked. Units with no
    script (digits, punctuation) have no translation and stay apart: "1990" and "1991" are not synonyms."""
    chosen, covered = [], 0
    for unit, count in counts.most_common():
        chosen.append(unit)
        covered += count
        if _at_least(covered, token_share, n_texts):
            break
    else:
        return False  # the units with a representation hold too few of the texts
    parent = {u: u for u in chosen}

    def root(u: str) -> str:
        parent.setdefault(u, u)
        while parent[u] != u:
            u = parent[u]
        return u

    def link(a: str | None, b: str | None) -> None:
        if a is not None and b is not None:
            parent[root(a)] = root(b)

    for unit in chosen:
        lang = vectors.lang_of(unit)
        if lang not in ("ja", "en"):
            continue
        translation = vectors.nearest(unit, "en" if lang == "ja" else "ja")
        link(unit, translation)
        if translation is not None:
            link(translation, vectors.nearest(translation, lang))
    return len({root(u) for u in chosen}) == 1


def cohen_kappa(a: list[str], b: list[str], labels=LABELS) -> float:
    """Cohen's kappa of two labellings of the same items: (p_o − p_e) / (1 − p_e); 1.0 when both are constant
    and equal."""
    if len(a) != len(b) or not a:
        raise ValueError("kappa needs two labellings of the same, non-empty list of items")
    index = {label: i for i, label in enumerate(labels)}
    table = np.zeros((len(labels), len(labels)))
    for x, y in zip(a, b):
        table[index[x], index[y]] += 1
    n = table.sum()
    observed = np.trace(table) / n
    expected = float((table.sum(0) * table.sum(1)).sum()) / n ** 2
    if expected == 1.0:
        return 1.0
    return float((observed - expected) / (1 - expected))


def feature_texts(contexts, features: list[int], pieces: dict[int, list[str]]) -> dict[int, list[tuple]]:
    """{feature: [(doc_id, position, unit), ...]} in rank order, for the given features."""
    out: dict[int, list[tuple]] = {f: [] for f in features}
    rows = contexts.filter(pl.col("feature").is_in(features)).sort("feature", "rank")
    for f, doc, pos in rows.select("feature", "doc_id", "position").iter_rows():
        out[f].append((doc, pos, unit_at(pieces[doc], pos)))
    return out


def planted_concepts(concepts, docs) -> dict[tuple[int, int], tuple[str, str, str]]:
    """{(doc_id, position): (surface, concept_id, concept_type)} of concepts.parquet for the documents `docs`
    only, streamed: the labels `planted_texts` looks texts up in."""
    return {(d, p): (s, c, t) for d, p, s, c, t in pl.scan_parquet(concepts)
            .filter(pl.col("doc_id").is_in(pl.Series(docs).implode()))
            .select("doc_id", "position", "surface", "concept_id", "concept_type").collect(engine="streaming")
            .iter_rows()}


def planted_texts(texts: list[tuple], concepts: dict[tuple[int, int], tuple[str, str, str]]) -> list[PlantedText]:
    """Each text's unit with the concept of the mention covering its activating token ({(doc_id, position):
    (surface, concept_id, concept_type)}), or with none."""
    out = []
    for doc, pos, unit in texts:
        hit = concepts.get((doc, pos))
        out.append(PlantedText(unit, hit[1], hit[2], hit[0]) if hit else PlantedText(unit))
    return out


def tally(frame, checkpoint: str) -> dict:
    """fig. 5's row for one checkpoint: counts and shares of each label, and whose labels they are."""
    sources = set(frame["source"].to_list())
    counts = {label: int((frame["label"] == label).sum()) for label in LABELS}
    n = sum(counts.values())
    return {"checkpoint": checkpoint, "source": sources.pop() if len(sources) == 1 else "people+classifier",
            "n": n, **counts, **{f"share_{label}": counts[label] / n if n else 0.0 for label in LABELS}}


def accuracy(frame, checkpoint: str) -> tuple[dict, list[dict]]:
    """The classifier against planted truth on one checkpoint: accuracy, the majority-class baseline (always
    answering the commonest true label), each label's count by truth and by the classifier with the classifier's
    precision and recall for it (None where it never answers it / truth never has it), and the confusion matrix
    as rows (truth, predicted, count)."""
    truth, predicted = frame["truth"].to_list(), frame["classifier"].to_list()
    if not truth or any(t is None for t in truth):
        raise InputError(f"granularity {checkpoint}: no planted truth (the corpus has no concept labels)")
    n = len(truth)
    majority, majority_count = Counter(truth).most_common(1)[0]
    pairs = Counter(zip(truth, predicted))
    row = {"checkpoint": checkpoint, "n": n, "accuracy": sum(t == p for t, p in zip(truth, predicted)) / n,
           "majority_label": majority, "majority_accuracy": majority_count / n,
           **{f"truth_{label}": truth.count(label) for label in LABELS},
           **{f"classifier_{label}": predicted.count(label) for label in LABELS}}
    for label in LABELS:
        hits = pairs[(label, label)]
        row[f"precision_{label}"] = hits / predicted.count(label) if label in predicted else None
        row[f"recall_{label}"] = hits / truth.count(label) if label in truth else None
    confusion = [{"checkpoint": checkpoint, "truth": t, "predicted": p, "count": pairs[(t, p)]}
                 for t in LABELS for p in LABELS]
    return row, confusion


def agreement(frame, checkpoint: str) -> dict:
    """People against the classifier (and against planted truth, when known) on one checkpoint."""
    labelled = frame.filter(frame["people"].is_not_null())
    people, machine = labelled["people"].to_list(), labelled["classifier"].to_list()
    row = {"checkpoint": checkpoint, "n": len(people),
           "agreement": sum(a == b for a, b in zip(people, machine)) / len(people),
           "kappa_people_classifier": cohen_kappa(people, machine)}
    truth = labelled["truth"].to_list()
    if all(t is not None for t in truth):
        row["kappa_people_truth"] = cohen_kappa(people, truth)
    return row
