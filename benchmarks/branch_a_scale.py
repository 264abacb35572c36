"""How branch A's cost grows with the corpus: every rule's peak RSS and wall time at several corpus sizes.

Runs the workflow (this repository's Snakefile) to branch A's figures and browser on the embedded synthetic
corpus at each size, in its own directory, with training cut short where its cost does not depend on the corpus
(the tiny LM: 100 steps, one checkpoint; one learning rate; fig2's sweep only the main point), and reads each job's
Snakemake benchmark file (max_rss, s). Prints one markdown table: a rule's peak memory at each size and its
growth from the smallest to the largest, its wall time at each size and time per document at the largest
against the smallest (1.0 = linear), and a linear extrapolation of the time to `--paper-docs` documents (memory is
not extrapolated: a straight line through three noisy, flat points says nothing).

    python benchmarks/branch_a_scale.py --docs 2500 10000 40000 --out /tmp/lmscope-scale

Sizes are documents per language (the corpus has twice as many). The runs share nothing, so each size pays its
own tokenizer, LM and SAE; jobs run two at a time (`--cores`), as on the project's 2-core machine.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import yaml
from workflow_dir import REPO, run_workflow

# The embedded default, with what does not grow with the corpus made cheap (see the module docstring).
OVERRIDES = {
    "models": [{"name": "tinyllama", "corpus": "synth", "layer": 2,
                "train": {"hidden_size": 128, "num_layers": 4, "num_heads": 4, "intermediate_size": 512,
                          "seq_len": 65, "batch_size": 16, "steps": 100, "lr": 3.0e-3, "warmup_steps": 10},
                "checkpoints": [100]}],
    "sae": {"batch_tokens": 4096, "epochs": 1, "lr_grid": [1.0e-2], "sweep": {"expansion_factors": [16], "k": [32]}},
}
TARGETS = ["results/figures/fig4.pdf", "results/figures/fig5.pdf", "results/figures/fig3.pdf",
           "results/figures/fig6.pdf", "results/browser/tinyllama/index.html",
           "results/figures/granularity_accuracy.csv"]


def config_for(docs_per_language: int) -> dict:
    """The whole embedded default (workflow_dir says why whole; until 2026-12-08 this was an overlay, and its SAE
    the schema's n/d 16 and K 32) with OVERRIDES on top."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["corpora"][0]["sources"][0]["n_documents"] = docs_per_language
    config["models"] = OVERRIDES["models"]
    config["sae"].update(OVERRIDES["sae"])
    return config


def job_costs(workdir: Path) -> dict[str, tuple[float, float]]:
    """{rule: (peak RSS in MB, wall s)} of the run, the largest over a rule's jobs."""
    costs: dict[str, tuple[float, float]] = {}
    root = workdir / "results" / "benchmarks"
    for tsv in root.rglob("*.tsv"):
        rule = tsv.relative_to(root).parts[0].removesuffix(".tsv")
        with open(tsv) as f:
            row = next(csv.DictReader(f, delimiter="\t"))
        rss, wall = float(row["max_rss"]), float(row["s"])
        old = costs.get(rule, (0.0, 0.0))
        costs[rule] = (max(old[0], rss), max(old[1], wall))
    return costs


def fit_line(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares (intercept, slope)."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    var = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var if var else 0.0
    return my - slope * mx, slope


def table(sizes: list[int], costs: list[dict], paper_docs: int) -> str:
    docs = [2 * s for s in sizes]  # both languages
    head = (["rule"] + [f"RSS MB @{d:,}" for d in docs] + ["RSS growth"] + [f"s @{d:,}" for d in docs]
            + ["time/doc vs smallest", f"s @{paper_docs:,} (linear fit, d = 128)"])
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for rule in sorted(set().union(*costs)):
        rss = [c.get(rule, (float("nan"), 0))[0] for c in costs]
        wall = [c.get(rule, (0, float("nan")))[1] for c in costs]
        growth = rss[-1] / rss[0] - 1
        per_doc = (wall[-1] / docs[-1]) / (wall[0] / docs[0]) if wall[0] else float("nan")
        a, b = fit_line(docs, wall)
        lines.append("| " + " | ".join([rule, *(f"{r:,.0f}" for r in rss), f"{100 * growth:+.0f}%",
                                        *(f"{w:,.1f}" for w in wall), f"{per_doc:.2f}",
                                        f"{a + b * paper_docs:,.0f}"]) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, nargs="+", default=[2500, 10000, 40000], help="per language")
    parser.add_argument("--out", type=Path, default=Path("/tmp/lmscope-scale"))
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--paper-docs", type=int, default=2_580_000)
    args = parser.parse_args()
    costs = [job_costs(run_workflow(args.out / f"docs-{n}", config_for(n), TARGETS, args.cores))
             for n in args.docs]
    print(table(args.docs, costs, args.paper_docs))


if __name__ == "__main__":
    main()
