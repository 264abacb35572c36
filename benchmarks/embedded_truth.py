"""What the embedded default's features are, by planted truth, at each checkpoint: the tables README's "What the
embedded default reproduces" prints, read from a finished run's results (no rule recomputes anything here).

Per checkpoint of the first model: planted truth and the classifier's counts of the four granularity labels with the
classifier's precision and recall per label (granularity_accuracy.csv), the SAE's dead fraction on the test split
(metrics.json), the language shares (fig4.csv), which truth labels the sampled mixed features have (language.parquet
joined with granularity.parquet), the activations' effective rank: the participation ratio (sum of the
covariance's eigenvalues squared over the sum of their squares) and the number of directions holding 90% of the
variance, on up to `--rows` training rows, and planted truth over every live feature with at least `min_texts`
texts, not only the sampled 100, with how many of their synonyms are across languages (the concept's texts hold
mentions in both). How far the sampled 100 may stray from the all-live shares: the range (5th to 95th percentile)
of each label's count in a uniform sample of as many features from the all-live labels (hypergeometric: the
sampled features are drawn uniformly from the same live features), and at the final checkpoint the chance that
such a sample meets issue 20's thresholds (at most 15% unrelated and at least 10% synonyms). Each is printed as a
markdown table.

Then, at the final checkpoint, why cross-lingual synonyms are rare: how well the model aligns translations (each
common noun and month with a one-unit surface in both languages: the rank of its translation among the other
language's units by the cosine of their mean activations, token_vectors.parquet, after each language's mean is
removed) and whether any SAE feature is specific to one concept in both languages (for each common noun, month and
entity, the feature with the largest smaller-of-two mean activation over the concept's Japanese and English
mentions on the test split, and what share of its activation over the type's concepts falls on that concept).

    python benchmarks/embedded_truth.py --results results
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import torch
import yaml
import zarr
from scipy.stats import hypergeom, multivariate_hypergeom

from lmscope.sae_checkpoints.granularity import (feature_texts, normalize, planted_concepts, planted_texts,
                                                  true_label)
from lmscope.sae_checkpoints.highlight import window_pieces
from lmscope.sae_checkpoints.sae import TopKSAE
from lmscope.sae_checkpoints.synthetic_text import FACTS, LEXICON, MONTHS_EN
from lmscope.tokenizer import load_tokenizer

REPO = Path(__file__).resolve().parents[1]
LABELS = ("token", "synonym", "semantic", "unrelated")


def effective_rank(store: Path, rows: int) -> tuple[float, int]:
    """(participation ratio, directions for 90% of the variance) of the first `rows` rows of a store."""
    x = np.asarray(zarr.open_array(str(store), mode="r")[:rows], dtype=np.float64)
    eig = np.clip(np.linalg.eigvalsh(np.cov(x, rowvar=False))[::-1], 0, None)
    return float(eig.sum() ** 2 / (eig ** 2).sum()), int(np.searchsorted(np.cumsum(eig) / eig.sum(), 0.9) + 1)


@dataclass
class LiveTruth:
    """Planted truth of every live feature of a checkpoint: `labels` one per feature, `across` how many of the
    synonyms are across languages (their concept's texts are mentions in both), and `follow_entity` one flag per
    feature: in at least the truth share of its texts one and the same entity (person, city, river or company) is
    named before the activating token's mention — the feature carries what the text is about to later tokens."""

    labels: list[str]
    across: int
    follow_entity: list[bool]

    def unrelated_following_entity(self) -> int:
        return sum(f for label, f in zip(self.labels, self.follow_entity) if label == "unrelated")


def entity_before(planted: dict, doc: int, position: int) -> set[str]:
    """The entities named in document `doc`'s window before the mention that covers `position` (before `position`
    itself when no mention covers it)."""
    here = planted.get((doc, position))
    start = position
    while here is not None and start > 0 and planted.get((doc, start - 1), (None, None))[1] == here[1]:
        start -= 1
    return {planted[doc, q][1] for q in range(start) if (doc, q) in planted and planted[doc, q][2] in FACTS}


def truth_of_live_features(features: Path, corpus: Path, min_texts: int, truth_share: float) -> LiveTruth:
    """Planted truth of every feature with at least `min_texts` texts, as granularity_table labels the sampled."""
    contexts = pl.read_parquet(features / "contexts.parquet", columns=["feature", "rank", "doc_id", "position"])
    counts = contexts.group_by("feature").len()
    live = sorted(counts.filter(pl.col("len") >= min_texts)["feature"].to_list())
    docs = contexts["doc_id"].unique().to_numpy()
    pieces = window_pieces(load_tokenizer({"path": str(corpus / "tokenizer")}),
                           zarr.open_array(str(corpus / "tokens.zarr"), mode="r"), docs)
    texts = feature_texts(contexts, live, pieces)
    planted = planted_concepts(corpus / "concepts.parquet", docs)
    mention_lang = {(d, p): lang for d, p, lang in pl.scan_parquet(corpus / "concepts.parquet")
                    .filter(pl.col("doc_id").is_in(pl.Series(docs).implode()))
                    .select("doc_id", "position", "lang").collect().iter_rows()}
    truth = LiveTruth([], 0, [])
    for f in live:
        found = planted_texts(texts[f], planted)
        truth.labels.append(true_label(found, truth_share))
        if truth.labels[-1] == "synonym":
            concept = Counter(t.concept_id for t in found if t.concept_id).most_common(1)[0][0]
            truth.across += len({mention_lang[d, p] for (d, p, _), t in zip(texts[f], found)
                                 if t.concept_id == concept}) > 1
        named = Counter(e for d, p, _ in texts[f] for e in entity_before(planted, d, p))
        truth.follow_entity.append(bool(named) and named.most_common(1)[0][1] >= truth_share * len(texts[f]))
    return truth


def sample_range(labels: list[str], sampled: int) -> str:
    """The 5th to 95th percentile of each label's count in a uniform sample of `sampled` of `labels`."""
    n = len(labels)
    sampled = min(sampled, n)
    return " / ".join(f"{hypergeom.ppf(0.05, n, labels.count(lb), sampled):.0f}–"
                      f"{hypergeom.ppf(0.95, n, labels.count(lb), sampled):.0f}" for lb in LABELS)


def chance_of_thresholds(labels: list[str], sampled: int, most_unrelated: float = 0.15,
                         least_synonym: float = 0.10) -> float:
    """The chance that a uniform sample of `sampled` of `labels` holds at most `most_unrelated` unrelated features
    and at least `least_synonym` synonyms (issue 20's thresholds), summed exactly over the sample's counts."""
    sampled = min(sampled, len(labels))
    unrelated, synonym = labels.count("unrelated"), labels.count("synonym")
    law = multivariate_hypergeom(m=[unrelated, synonym, len(labels) - unrelated - synonym], n=sampled)
    return float(sum(law.pmf([u, s, sampled - u - s])
                     for u in range(int(np.floor(most_unrelated * sampled + 1e-9)) + 1)
                     for s in range(int(np.ceil(least_synonym * sampled - 1e-9)), sampled - u + 1)))


def translation_alignment(token_vectors: Path, min_count: int = 5) -> str:
    """The rank of each translation among the other language's units (median, and the share in the top 5), and
    the mean cosine of translations against random pairs, after each language's mean vector is removed."""
    table = pl.read_parquet(token_vectors).filter(pl.col("count") >= min_count)
    units, vectors = {}, {}
    for lang in ("ja", "en"):
        rows = table.filter(pl.col("lang") == lang)
        units[lang] = {u: i for i, u in enumerate(rows["unit"].to_list())}
        v = np.stack(rows["vector"].to_list()).astype(np.float64)
        v -= v.mean(0)
        vectors[lang] = v / np.linalg.norm(v, axis=1, keepdims=True)
    pairs = [(normalize(ja), normalize(en)) for nouns in LEXICON.values() for jas, ens in nouns.values()
             for ja in jas for en in ens] + [(f"{m}月", normalize(MONTHS_EN[m - 1])) for m in range(1, 13)]
    ranks, cosines = [], []
    for ja, en in pairs:
        if ja in units["ja"] and en in units["en"]:
            similar = vectors["en"] @ vectors["ja"][units["ja"][ja]]
            ranks.append(int((similar > similar[units["en"][en]]).sum()) + 1)
            cosines.append(similar[units["en"][en]])
    rng = np.random.default_rng(0)
    random = (vectors["en"][rng.integers(len(units["en"]), size=2000)]
              * vectors["ja"][rng.integers(len(units["ja"]), size=2000)]).sum(1)
    return (f"translations ({len(ranks)} pairs of units): median rank {np.median(ranks):.0f} of {len(units['en'])} "
            f"English units, {np.mean(np.array(ranks) <= 5):.0%} in the top 5; cosine {np.mean(cosines):.2f} "
            f"(random pairs {random.mean():.2f})")


def concept_specific_features(results: Path, model: str, corpus: str, ckpt: str, mentions: int = 300) -> str:
    """Per concept type: the median, over its concepts, of the share of the feature most shared by the concept's
    Japanese and English mentions that falls on the concept (its mean activation there over the sum of its means
    on every concept of the type: 1/n when it fires on the type's n concepts alike, 1 when on this one only), and
    how many concepts have such a feature with a share of at least a half that fires on both languages' mentions at
    least half as strongly as the strongest feature of each."""
    store = zarr.open_array(str(results / "activations" / model / ckpt / "test.zarr"), mode="r")
    offset, width = store.attrs["doc_id_offset"], store.attrs["tokens_per_doc"]
    sae = TopKSAE.load(results / "sae" / model / ckpt)
    types = [*LEXICON, "month", *FACTS]  # common nouns, months, and the kinds of entity
    concepts = (pl.scan_parquet(results / "corpus" / corpus / "concepts.parquet")
                .filter(pl.col("doc_id").is_between(offset, offset + store.shape[0] // width - 1)
                        & (pl.col("position") < width) & pl.col("concept_type").is_in(types)).collect())
    cells = []
    for ctype in types:
        means = {}
        for (cid,), rows in concepts.filter(pl.col("concept_type") == ctype).group_by(["concept_id"]):
            by_lang = []
            for lang in ("ja", "en"):
                of_lang = rows.filter(pl.col("lang") == lang)
                if len(of_lang) < 10:
                    break
                of_lang = of_lang.sample(min(len(of_lang), mentions), seed=0)
                index = np.sort(((of_lang["doc_id"] - offset) * width + of_lang["position"]).to_numpy())
                x = torch.tensor(np.asarray(store.get_orthogonal_selection((index, slice(None))), np.float32))
                with torch.no_grad():
                    by_lang.append(sae.dense_latents(x).mean(0).numpy())
            if len(by_lang) == 2:
                means[cid] = by_lang
        shares, strong = [], 0
        for cid, (ja, en) in means.items():
            feature = int(np.argmax(np.minimum(ja, en)))
            total = sum(a[feature] + b[feature] for a, b in means.values())
            shares.append((ja[feature] + en[feature]) / total if total > 0 else 0.0)
            strong += bool(shares[-1] >= 0.5 and ja[feature] >= ja.max() / 2 and en[feature] >= en.max() / 2)
        if shares:
            cells.append(f"{ctype} {np.median(shares):.2f} of 1/{len(shares)} ({strong})")
    return ("the feature most shared by a concept's two languages: its share on the concept, median over the type "
            "(concepts with a specific shared feature): " + ", ".join(cells))


def share(value) -> str:
    return "–" if value is None else f"{value:.2f}"


def tables(results: Path, model: str, corpus: str, rows: int, min_texts: int, truth_share: float,
           sampled: int) -> str:
    accuracy = pl.read_csv(results / "figures" / "granularity_accuracy.csv").to_dicts()
    fig4 = {r["checkpoint"]: r for r in pl.read_csv(results / "figures" / "fig4.csv").to_dicts()}
    header = "| | " + " | ".join(r["checkpoint"] for r in accuracy) + " |\n|---|" + "---|" * len(accuracy) + "\n"

    def line(name: str, cells) -> str:
        return f"| {name} | " + " | ".join(cells) + " |\n"

    out = header
    out += line("truth: " + " / ".join(LABELS), ["/".join(str(r[f"truth_{lb}"]) for lb in LABELS) for r in accuracy])
    out += line("classifier: " + " / ".join(LABELS),
                ["/".join(str(r[f"classifier_{lb}"]) for lb in LABELS) for r in accuracy])
    for label in LABELS:
        out += line(f"{label}: precision / recall",
                    [f"{share(r[f'precision_{label}'])} / {share(r[f'recall_{label}'])}" for r in accuracy])
    out += line("accuracy (majority class)", [f"{r['accuracy']:.2f} ({r['majority_accuracy']:.2f})" for r in accuracy])
    dead, rank, mixed, live, spread, crossing, following = [], [], [], [], [], [], []
    for r in accuracy:
        ckpt = r["checkpoint"]
        metrics = json.loads((results / "sae" / model / ckpt / "metrics.json").read_text())
        dead.append(f"{metrics['test']['dead_fraction']:.0%}")
        ratio, n90 = effective_rank(results / "activations" / model / ckpt / "train.zarr", rows)
        rank.append(f"{ratio:.1f} / {n90}")
        features = results / "features" / model / ckpt
        joined = (pl.read_parquet(features / "granularity.parquet").select("feature", "truth")
                  .join(pl.read_parquet(features / "language.parquet").select("feature", "tendency"), on="feature"))
        of_mixed = joined.filter(pl.col("tendency") == "mixed")["truth"].to_list()
        mixed.append(f"{len(of_mixed)}: " + "/".join(str(of_mixed.count(lb)) for lb in LABELS))
        truth = truth_of_live_features(features, results / "corpus" / corpus, min_texts, truth_share)
        every = truth.labels
        live.append(f"{len(every)}: " + " / ".join(f"{100 * every.count(lb) / len(every):.0f}" for lb in LABELS) + "%")
        spread.append(sample_range(every, sampled))
        crossing.append(f"{truth.across} of {every.count('synonym')}")
        following.append(f"{truth.unrelated_following_entity()} of {every.count('unrelated')}")
    final_labels = every
    out += line("dead latents (test split)", dead)
    out += line("effective rank: participation ratio / directions for 90%", rank)
    out += line("language: ja / en / mixed", [f"{fig4[r['checkpoint']]['share_ja']:.0%} / "
                                             f"{fig4[r['checkpoint']]['share_en']:.0%} / "
                                             f"{fig4[r['checkpoint']]['share_mixed']:.0%}" for r in accuracy])
    out += line("sampled mixed features: n: truth " + " / ".join(LABELS), mixed)
    out += line("all live features: n: truth " + " / ".join(LABELS), live)
    out += line(f"a sample of {sampled} from all live: 5–95% range of " + " / ".join(LABELS), spread)
    out += line("of the all-live synonyms, across languages", crossing)
    out += line("of the all-live unrelated, following one entity", following)
    final = accuracy[-1]["checkpoint"]
    out += (f"\n{final}: a sample of {sampled} from all live meets issue 20's thresholds (unrelated at most 15%, "
            f"synonyms at least 10%) with probability {chance_of_thresholds(final_labels, sampled):.2f}")
    out += "\n" + final + ": " + translation_alignment(results / "features" / model / "token_vectors.parquet")
    out += "\n" + final + ": " + concept_specific_features(results, model, corpus, final) + "\n"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=REPO / "results")
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    parser.add_argument("--model", default=config["models"][0]["name"])
    parser.add_argument("--corpus", default=config["models"][0]["corpus"])
    parser.add_argument("--rows", type=int, default=50_000)
    args = parser.parse_args()
    granularity = config["granularity"]
    print(tables(args.results, args.model, args.corpus, args.rows, granularity["min_texts"],
                 granularity["truth_share"], granularity["features"]))


if __name__ == "__main__":
    main()
