"""What the embedded default's features are, by planted truth, at each checkpoint: the tables README's "What the
embedded default reproduces" prints, read from a finished run's results (no rule recomputes anything here).

Per checkpoint of the first model: planted truth and the classifier's counts of the four granularity labels with the
classifier's precision and recall per label (granularity_accuracy.csv), the SAE's dead fraction on the test split
(metrics.json), the language shares (fig4.csv), which truth labels the sampled mixed features have (language.parquet
joined with granularity.parquet), the activations' effective rank: the participation ratio (sum of the
covariance's eigenvalues squared over the sum of their squares) and the number of directions holding 90% of the
variance, on up to `--rows` training rows, and planted truth over every live feature with at least `min_texts`
texts, not only the sampled 100 (the sample's counts move by a few features from one draw to the next). Each is
printed as a markdown table.

    python benchmarks/embedded_truth.py --results results
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import polars as pl
import yaml
import zarr

from lmscope.sae_checkpoints.granularity import feature_texts, planted_concepts, planted_texts, true_label
from lmscope.sae_checkpoints.highlight import window_pieces
from lmscope.tokenizer import load_tokenizer

REPO = Path(__file__).resolve().parents[1]
LABELS = ("token", "synonym", "semantic", "unrelated")


def effective_rank(store: Path, rows: int) -> tuple[float, int]:
    """(participation ratio, directions for 90% of the variance) of the first `rows` rows of a store."""
    x = np.asarray(zarr.open_array(str(store), mode="r")[:rows], dtype=np.float64)
    eig = np.clip(np.linalg.eigvalsh(np.cov(x, rowvar=False))[::-1], 0, None)
    return float(eig.sum() ** 2 / (eig ** 2).sum()), int(np.searchsorted(np.cumsum(eig) / eig.sum(), 0.9) + 1)


def truth_of_live_features(features: Path, corpus: Path, min_texts: int, truth_share: float) -> list[str]:
    """Planted truth of every feature with at least `min_texts` texts, as granularity_table labels the sampled."""
    contexts = pl.read_parquet(features / "contexts.parquet", columns=["feature", "rank", "doc_id", "position"])
    counts = contexts.group_by("feature").len()
    live = sorted(counts.filter(pl.col("len") >= min_texts)["feature"].to_list())
    docs = contexts["doc_id"].unique().to_numpy()
    pieces = window_pieces(load_tokenizer({"path": str(corpus / "tokenizer")}),
                           zarr.open_array(str(corpus / "tokens.zarr"), mode="r"), docs)
    texts = feature_texts(contexts, live, pieces)
    planted = planted_concepts(corpus / "concepts.parquet", docs)
    return [true_label(planted_texts(texts[f], planted), truth_share) for f in live]


def share(value) -> str:
    return "–" if value is None else f"{value:.2f}"


def tables(results: Path, model: str, corpus: str, rows: int, min_texts: int, truth_share: float) -> str:
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
    dead, rank, mixed, live = [], [], [], []
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
        every = truth_of_live_features(features, results / "corpus" / corpus, min_texts, truth_share)
        live.append(f"{len(every)}: " + " / ".join(f"{every.count(lb) / len(every):.0%}" for lb in LABELS))
    out += line("dead latents (test split)", dead)
    out += line("effective rank: participation ratio / directions for 90%", rank)
    out += line("language: ja / en / mixed", [f"{fig4[r['checkpoint']]['share_ja']:.0%} / "
                                             f"{fig4[r['checkpoint']]['share_en']:.0%} / "
                                             f"{fig4[r['checkpoint']]['share_mixed']:.0%}" for r in accuracy])
    out += line("sampled mixed features: n: truth " + " / ".join(LABELS), mixed)
    out += line("all live features: n: truth " + " / ".join(LABELS), live)
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
    print(tables(args.results, args.model, args.corpus, args.rows, granularity["min_texts"], granularity["truth_share"]))


if __name__ == "__main__":
    main()
