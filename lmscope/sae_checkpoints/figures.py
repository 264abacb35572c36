"""Branch A's figures (METHODS A7): the tiny LM's and the SAEs' training curves, fig. 2 (reconstruction against
n/d and K), fig. 4 (language tendency per checkpoint), fig. 5 (granularity per checkpoint) and the granularity
classifier against planted truth — each a vector PDF with its numbers beside it as CSV.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib.ticker
import numpy as np
import polars as pl

from lmscope.plotting import numbers, save, subplots
from lmscope.sae_checkpoints.granularity import LABELS, tally
from lmscope.sae_checkpoints.language import TENDENCIES


def loss_curve(history: list[dict], path, title: str) -> None:
    """Training loss per step and validation loss at the saved checkpoints, on a log step axis (the
    checkpoints are log-spaced)."""
    train = [(r["step"], r["train_loss"]) for r in history if r["step"] > 0 and not math.isnan(r["train_loss"])]
    val = [(r["step"], r["val_loss"]) for r in history if not math.isnan(r["val_loss"])]
    fig, ax = subplots(figsize=(5.5, 3.5))
    ax.plot(*zip(*train), lw=0.8, color="tab:blue", label="training loss")
    # step 0 (the untrained model) is drawn at step 1 so that it fits on the log axis
    ax.plot([max(s, 1) for s, _ in val], [v for _, v in val], "o-", color="tab:orange",
            label="validation loss (step 0 drawn at 1)")
    ax.set(xscale="log", xlabel="training step", ylabel="next-token loss (nats)", title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    save(fig, path)


def sae_curves(rows: list[dict], best_lr: float, path, title: str) -> None:
    """Training MSE (smoothed over 20 steps) and validation MSE per learning rate of the grid."""


    frame = pl.DataFrame(rows)
    fig, ax = subplots(figsize=(5.5, 3.5))
    for i, (lr,) in enumerate(frame.select("lr").unique().sort("lr").iter_rows()):
        part = frame.filter(pl.col("lr") == lr).sort("step")
        colour = f"C{i}"
        label = f"lr {lr:g}" + (" (best)" if lr == best_lr else "")
        ax.plot(part["step"], part["train_mse"].rolling_mean(20, min_samples=1), lw=0.8, color=colour, label=label)
        val = part.filter(pl.col("val_mse").is_not_nan())
        ax.plot(val["step"], val["val_mse"], "o", ms=3, color=colour)
    ax.set(yscale="log", xlabel="step", ylabel="MSE |x - x̂|² (dots: validation)", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save(fig, path)


def fig2(points: list[dict], pdf_path, csv_path) -> None:
    """Paper fig. 2: test reconstruction MSE against the expansion factor n/d, one line per K, each point at
    its best learning rate. `points`: dicts with expansion_factor, k, best_lr, test_mse, test_fvu."""
    frame = numbers(points, csv_path, sort=("k", "expansion_factor"))
    fig, ax = subplots(figsize=(4.8, 3.4))
    for k, part in frame.group_by("k", maintain_order=True):
        ax.plot(part["expansion_factor"], part["test_mse"], "o-", label=f"K = {k[0]}")
    ax.set(xscale="log", xlabel="expansion factor n/d", ylabel="test reconstruction MSE",
           title="SAE reconstruction on the final checkpoint")
    ax.set_xticks(sorted(frame["expansion_factor"].unique().to_list()))
    ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.minorticks_off()
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    save(fig, pdf_path)


def read_fig2_points(points: list[dict], metrics_paths: list[str]) -> list[dict]:
    """Each point's test metrics at its best learning rate, from a sweep JSON (one n/d, its Ks under "points") or
    an SAE directory (the main setting)."""
    out = []
    for point, path in zip(points, metrics_paths):
        path = Path(path)
        metrics = json.loads((path / "metrics.json" if path.is_dir() else path).read_text())
        if "points" in metrics:
            metrics = metrics["points"][str(point["k"])]
        out.append({**point, "best_lr": metrics["best_lr"], "test_mse": metrics["test"]["mse"],
                    "test_fvu": metrics["test"]["fvu"], "test_dead_fraction": metrics["test"]["dead_fraction"]})
    return out


def _stacked_shares(ax, frame, colours: dict, labels: dict, text_colour: str) -> None:
    """One stacked bar per row of `frame` from its share_{key} columns, bottom to top in the order of `colours`,
    each segment of 6% or more labelled with its percentage; the legend beside the plot."""
    bottom = [0.0] * len(frame)
    for key, colour in colours.items():
        shares = frame[f"share_{key}"].to_list()
        ax.bar(range(len(frame)), shares, bottom=bottom, color=colour, label=labels[key], width=0.7)
        for i, (b, s) in enumerate(zip(bottom, shares)):
            if s >= 0.06:
                ax.text(i, b + s / 2, f"{100 * s:.0f}%", ha="center", va="center", fontsize=8, color=text_colour)
        bottom = [b + s for b, s in zip(bottom, shares)]
    handles, texts = ax.get_legend_handles_labels()  # top to bottom as the bars stack
    ax.legend(handles[::-1], texts[::-1], fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)


TENDENCY_COLOURS = dict(zip(TENDENCIES, ("#d62728", "#1f77b4", "#9e9e9e")))  # ja, en, mixed (dead apart)
TENDENCY_LABELS = {"ja": "Japanese (≥90% ja texts)", "en": "English (≥90% en texts)", "mixed": "mixed"}


def fig4(tallies: list[dict], pdf_path, csv_path) -> None:
    """Paper fig. 4: the share of ja / en / mixed features per checkpoint, in training order, as stacked bars
    (shares of live features; dead features are counted apart and listed under the plot)."""
    frame = numbers(tallies, csv_path)
    x = list(range(len(frame)))
    fig, ax = subplots(figsize=(max(6.0, 1.0 * len(x) + 3.5), 3.8))
    _stacked_shares(ax, frame, TENDENCY_COLOURS, TENDENCY_LABELS, text_colour="white")
    ax.set_xticks(x, frame["checkpoint"].to_list(), rotation=30 if len(x) > 4 else 0)
    ax.set(ylim=(0, 1), ylabel="share of live features", xlabel="training checkpoint",
           title="Language tendency of SAE features")
    dead = ", ".join(f"{c}: {d}" for c, d in zip(frame["checkpoint"], frame["dead"]))
    fig.text(0.01, 0.01, f"dead features (not in the shares): {dead}", fontsize=7)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    save(fig, pdf_path)


GRANULARITY_COLOURS = dict(zip(LABELS, ("#ff7f0e", "#2ca02c", "#98df8a", "#c7c7c7")))
GRANULARITY_LABELS = {"token": "token level (猫 / 猫)", "synonym": "concept level: synonym (猫 / ネコ / cat)",
                      "semantic": "concept level: semantic commonality (cat / dog)", "unrelated": "unrelated"}


def fig5(tallies: list[dict], pdf_path, csv_path) -> None:
    """Paper fig. 5: the share of each granularity among the sampled features per checkpoint, as stacked bars;
    under each bar whose labels they are (people's sheet or the automatic classifier)."""
    frame = numbers(tallies, csv_path)
    x = list(range(len(frame)))
    fig, ax = subplots(figsize=(max(6.5, 1.0 * len(x) + 4.5), 3.9))
    _stacked_shares(ax, frame, GRANULARITY_COLOURS, GRANULARITY_LABELS, text_colour="black")
    ticks = [f"{c}\n({s}, n={n})" for c, s, n in zip(frame["checkpoint"], frame["source"], frame["n"])]
    ax.set_xticks(x, ticks, fontsize=8)
    ax.set(ylim=(0, 1), ylabel="share of sampled features", xlabel="training checkpoint (whose labels)",
           title="Semantic granularity of SAE features")
    fig.tight_layout()
    save(fig, pdf_path)


def granularity_accuracy(rows: list[dict], confusion: list[dict], pdf_path) -> None:
    """The classifier against planted truth: accuracy and the majority-class baseline per checkpoint (left),
    and the confusion matrix summed over checkpoints (right)."""


    labels = list(LABELS)
    fig, (left, right) = subplots(1, 2, figsize=(9.5, 3.6), gridspec_kw={"width_ratios": [1.3, 1]})
    x = np.arange(len(rows))
    left.bar(x - 0.18, [r["accuracy"] for r in rows], 0.36, label="classifier", color="tab:green")
    left.bar(x + 0.18, [r["majority_accuracy"] for r in rows], 0.36, label="majority class", color="#bbb")
    left.set_xticks(x, [r["checkpoint"] for r in rows], fontsize=8)
    left.set(ylim=(0, 1), ylabel="accuracy against planted truth", title="Automatic granularity labels")
    left.legend(fontsize=8, loc="lower left", framealpha=0.9)
    left.grid(axis="y", alpha=0.3)
    matrix = np.zeros((len(labels), len(labels)), dtype=int)
    for c in confusion:
        matrix[labels.index(c["truth"]), labels.index(c["predicted"])] += c["count"]
    right.imshow(matrix, cmap="Greens")
    for i in range(len(labels)):
        for j in range(len(labels)):
            right.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=8,
                       color="white" if matrix[i, j] > matrix.max() / 2 else "black")
    right.set_xticks(range(len(labels)), labels, fontsize=8, rotation=30)
    right.set_yticks(range(len(labels)), labels, fontsize=8)
    right.set(xlabel="classifier", ylabel="planted truth", title="all checkpoints")
    fig.tight_layout()
    save(fig, pdf_path)




def run_fig2(*, metrics: list, pdf, csv, points: list[dict]) -> None:
    """Rule fig2: each point's metrics (a sweep JSON, or the checkpoint's SAE directory), drawn."""
    fig2(read_fig2_points(points, metrics), pdf, csv)


def run_fig4(*, tallies: list, pdf, csv) -> None:
    """Rule fig4: the checkpoints' language tallies, in training order, drawn."""
    fig4([row for path in tallies for row in pl.read_csv(path).to_dicts()], pdf, csv)


def run_fig5(*, tables: list, pdf, csv, checkpoints: list[str]) -> None:
    """Rule fig5: each checkpoint's granularity table tallied, in training order, drawn."""
    fig5([tally(pl.read_parquet(path), ckpt) for ckpt, path in zip(checkpoints, tables)], pdf, csv)
