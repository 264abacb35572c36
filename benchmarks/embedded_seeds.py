"""How much of what the embedded default shows by planted truth is the draw: the same measures for several seeds.

README's table of the embedded default (benchmarks/embedded_truth.py) is one synthetic world, one split and one
tiny LM. This runs the workflow to fig4 and the granularity accuracy once per seed, each in its own directory,
with the synthetic source's seed (the world and its documents), the corpus's split seed and the tiny LM's seed all
set to that seed (the SAEs, the sampled features and everything after keep the embedded default's seeds), and prints
one markdown row per seed: per checkpoint, planted truth over every live feature (unrelated, token level and synonym
shares), the sampled 100's truth at the final checkpoint with the chance that a uniform sample of 100 of the
all-live labels meets issue 20's thresholds (at most 15 unrelated, at least 10 synonyms), how many of the final
checkpoint's synonyms are across languages and how many of its unrelated features follow one entity
(embedded_truth.LiveTruth), fig4's mixed share and the SAEs' dead fraction on the test split.

    python benchmarks/embedded_seeds.py --seeds 0 1 2 --out /tmp/lmscope-seeds

Seed 0 is the embedded default itself. A finished seed's directory is reused (Snakemake finds nothing to do).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import polars as pl
import yaml
from embedded_truth import LABELS, chance_of_thresholds, truth_of_live_features
from workflow_dir import REPO, run_workflow

TARGETS = ["results/figures/fig4.pdf", "results/figures/granularity_accuracy.csv"]


def config_for(seed: int) -> dict:
    """The whole embedded default (workflow_dir says why whole), with its corpus's and first model's seeds set to
    `seed`."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    corpus, model = config["corpora"][0], config["models"][0]
    corpus["sources"][0]["seed"] = corpus["seed"] = model["train"]["seed"] = seed
    return config


def seed_row(seed: int, results: Path, model: str, corpus: str, granularity: dict) -> str:
    accuracy = pl.read_csv(results / "figures" / "granularity_accuracy.csv").to_dicts()
    fig4 = {r["checkpoint"]: r["share_mixed"] for r in pl.read_csv(results / "figures" / "fig4.csv").to_dicts()}
    shares = {label: [] for label in ("unrelated", "token", "synonym")}
    mixed, dead = [], []
    for row in accuracy:
        ckpt = row["checkpoint"]
        truth = truth_of_live_features(results / "features" / model / ckpt, results / "corpus" / corpus,
                                       granularity["min_texts"], granularity["truth_share"])
        labels = truth.labels
        for label, cells in shares.items():
            cells.append(f"{100 * labels.count(label) / len(labels):.0f}")
        mixed.append(f"{100 * fig4[ckpt]:.0f}")
        metrics = json.loads((results / "sae" / model / ckpt / "metrics.json").read_text())
        dead.append(f"{100 * metrics['test']['dead_fraction']:.0f}")
    final = accuracy[-1]
    cells = [str(seed), *(" → ".join(v) for v in shares.values()),
             "/".join(str(final[f"truth_{label}"]) for label in LABELS),
             f"{chance_of_thresholds(labels, granularity['features']):.2f}",
             f"{truth.across} of {labels.count('synonym')}",
             f"{truth.unrelated_following_entity()} of {labels.count('unrelated')}",
             " → ".join(mixed), " → ".join(dead)]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    model, corpus = config["models"][0]["name"], config["corpora"][0]["name"]
    print("| seed | all live, % unrelated | all live, % token | all live, % synonym | sampled at the end: "
          + " / ".join(LABELS) + " | P(sample meets issue 20) | synonyms across languages at the end "
          "| unrelated following one entity at the end | fig4 % mixed | % dead |\n|" + " --- |" * 10)
    for seed in args.seeds:
        results = run_workflow(args.out / f"seed-{seed}", config_for(seed), TARGETS, args.cores) / "results"
        print(seed_row(seed, results, model, corpus, config["granularity"]), flush=True)


if __name__ == "__main__":
    main()
