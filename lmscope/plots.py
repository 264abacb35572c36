"""Figures: vector PDF, written atomically, with the numbers behind each figure saved beside it as CSV."""

from __future__ import annotations

import math

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from lmscope.atomic import atomic_path  # noqa: E402
from lmscope.fonts import use_cjk_in_matplotlib  # noqa: E402

use_cjk_in_matplotlib()  # checkpoint and model names may be Japanese too


def _save(fig, path) -> None:
    """Vector PDF, written whole or not at all; the figure is closed."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="pdf")
    plt.close(fig)


def _numbers(rows: list[dict], csv_path, sort: tuple[str, ...] = ()):
    """The rows behind a figure as a frame (sorted by `sort`), written whole to `csv_path`."""
    import polars as pl

    frame = pl.DataFrame(rows)
    if sort:
        frame = frame.sort(*sort)
    with atomic_path(csv_path) as tmp:
        frame.write_csv(tmp)
    return frame


def loss_curve(history: list[dict], path, title: str) -> None:
    """Training loss per step and validation loss at the saved checkpoints, on a log step axis (the
    checkpoints are log-spaced)."""
    train = [(r["step"], r["train_loss"]) for r in history if r["step"] > 0 and not math.isnan(r["train_loss"])]
    val = [(r["step"], r["val_loss"]) for r in history if not math.isnan(r["val_loss"])]
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    ax.plot(*zip(*train), lw=0.8, color="tab:blue", label="training loss")
    # step 0 (the untrained model) is drawn at step 1 so that it fits on the log axis
    ax.plot([max(s, 1) for s, _ in val], [v for _, v in val], "o-", color="tab:orange",
            label="validation loss (step 0 drawn at 1)")
    ax.set(xscale="log", xlabel="training step", ylabel="next-token loss (nats)", title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    _save(fig, path)


def sae_curves(rows: list[dict], best_lr: float, path, title: str) -> None:
    """Training MSE (smoothed over 20 steps) and validation MSE per learning rate of the grid."""
    import polars as pl

    frame = pl.DataFrame(rows)
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
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
    _save(fig, path)


def fig2(points: list[dict], pdf_path, csv_path) -> None:
    """Paper fig. 2: test reconstruction MSE against the expansion factor n/d, one line per K, each point at
    its best learning rate. `points`: dicts with expansion_factor, k, best_lr, test_mse, test_fvu."""
    frame = _numbers(points, csv_path, sort=("k", "expansion_factor"))
    fig, ax = plt.subplots(figsize=(4.8, 3.4))
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
    _save(fig, pdf_path)


def read_fig2_points(points: list[dict], metrics_paths: list[str]) -> list[dict]:
    """Each point's test metrics at its best learning rate, from a metrics JSON or an SAE directory."""
    import json
    from pathlib import Path

    out = []
    for point, path in zip(points, metrics_paths):
        path = Path(path)
        metrics = json.loads((path / "metrics.json" if path.is_dir() else path).read_text())
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


TENDENCY_COLOURS = {"ja": "#d62728", "en": "#1f77b4", "mixed": "#9e9e9e"}
TENDENCY_LABELS = {"ja": "Japanese (≥90% ja texts)", "en": "English (≥90% en texts)", "mixed": "mixed"}


def fig4(tallies: list[dict], pdf_path, csv_path) -> None:
    """Paper fig. 4: the share of ja / en / mixed features per checkpoint, in training order, as stacked bars
    (shares of live features; dead features are counted apart and listed under the plot)."""
    frame = _numbers(tallies, csv_path)
    x = list(range(len(frame)))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.0 * len(x) + 3.5), 3.8))
    _stacked_shares(ax, frame, TENDENCY_COLOURS, TENDENCY_LABELS, text_colour="white")
    ax.set_xticks(x, frame["checkpoint"].to_list(), rotation=30 if len(x) > 4 else 0)
    ax.set(ylim=(0, 1), ylabel="share of live features", xlabel="training checkpoint",
           title="Language tendency of SAE features")
    dead = ", ".join(f"{c}: {d}" for c, d in zip(frame["checkpoint"], frame["dead"]))
    fig.text(0.01, 0.01, f"dead features (not in the shares): {dead}", fontsize=7)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    _save(fig, pdf_path)


GRANULARITY_COLOURS = {"token": "#ff7f0e", "synonym": "#2ca02c", "semantic": "#98df8a", "unrelated": "#c7c7c7"}
GRANULARITY_LABELS = {"token": "token level (猫 / 猫)", "synonym": "concept level: synonym (猫 / ネコ / cat)",
                      "semantic": "concept level: semantic commonality (cat / dog)", "unrelated": "unrelated"}


def fig5(tallies: list[dict], pdf_path, csv_path) -> None:
    """Paper fig. 5: the share of each granularity among the sampled features per checkpoint, as stacked bars;
    under each bar whose labels they are (people's sheet or the automatic classifier)."""
    frame = _numbers(tallies, csv_path)
    x = list(range(len(frame)))
    fig, ax = plt.subplots(figsize=(max(6.5, 1.0 * len(x) + 4.5), 3.9))
    _stacked_shares(ax, frame, GRANULARITY_COLOURS, GRANULARITY_LABELS, text_colour="black")
    ticks = [f"{c}\n({s}, n={n})" for c, s, n in zip(frame["checkpoint"], frame["source"], frame["n"])]
    ax.set_xticks(x, ticks, fontsize=8)
    ax.set(ylim=(0, 1), ylabel="share of sampled features", xlabel="training checkpoint (whose labels)",
           title="Semantic granularity of SAE features")
    fig.tight_layout()
    _save(fig, pdf_path)


def granularity_accuracy(rows: list[dict], confusion: list[dict], pdf_path) -> None:
    """The classifier against planted truth: accuracy and the majority-class baseline per checkpoint (left),
    and the confusion matrix summed over checkpoints (right)."""
    import numpy as np

    labels = list(GRANULARITY_COLOURS)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 3.6), gridspec_kw={"width_ratios": [1.3, 1]})
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
    _save(fig, pdf_path)


DOMAIN_COLOURS = {"common": "#1f77b4", "remote_sensing": "#2ca02c", "medical": "#d62728", "document": "#9467bd",
                  "driving": "#ff7f0e"}


def neurons_by_layer(rows: list[dict], module_names: dict[str, str], pdf_path, csv_path) -> None:
    """Domain-specific neurons per layer, one panel per VLM and module, one line per domain (paper figure 5);
    panels and lines in the order of `rows`."""
    _numbers(rows, csv_path)
    panels = list(dict.fromkeys((r["vlm"], r["module"]) for r in rows))
    domains = list(dict.fromkeys(r["domain"] for r in rows))
    columns = min(3, len(panels))
    fig, axes = plt.subplots(math.ceil(len(panels) / columns), columns, figsize=(4 * columns, 3 * math.ceil(
        len(panels) / columns)), squeeze=False)
    for ax, (vlm, module) in zip(axes.ravel(), panels):
        for domain in domains:
            points = sorted((r["layer"], r["neurons"]) for r in rows
                            if (r["vlm"], r["module"], r["domain"]) == (vlm, module, domain))
            ax.plot([p[0] for p in points], [p[1] for p in points], label=domain.replace("_", " "), marker="o",
                    markersize=3, color=DOMAIN_COLOURS.get(domain))
        ax.set_xticks(sorted({r["layer"] for r in rows if (r["vlm"], r["module"]) == (vlm, module)}))
        ax.set(title=f"{vlm}: {module_names.get(module, module)}", xlabel="layer", ylabel="neurons")
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(panels):]:
        ax.axis("off")
    axes.ravel()[0].legend(fontsize=7)
    fig.suptitle("Domain-specific neurons per layer")
    fig.tight_layout()
    _save(fig, pdf_path)


def logit_lens(tops: dict[str, list[dict]], title: str, pdf_path) -> None:
    """Top tokens per layer with their probabilities, at an image token and at the last text token, one row of
    panels per VLM (paper figure 6)."""
    import numpy as np

    fig, axes = plt.subplots(len(tops), 2, figsize=(10, 0.45 * max(len({r["layer"] for r in rows})
                                                                    for rows in tops.values()) * len(tops) + 1.5),
                             squeeze=False)
    for (vlm, rows), panel in zip(tops.items(), axes):
        for ax, kind in zip(panel, ("image", "text")):
            cells = [r for r in rows if r["tokens"] == kind]
            if not cells:
                ax.axis("off")
                continue
            layers = sorted({r["layer"] for r in cells})
            k = max(r["rank"] for r in cells)
            grid = np.zeros((len(layers), k))
            for r in cells:
                grid[layers.index(r["layer"]), r["rank"] - 1] = r["probability"]
                ax.text(r["rank"] - 1, layers.index(r["layer"]), r["token"].strip() or repr(r["token"]),
                        ha="center", va="center", fontsize=6, color="white" if r["probability"] > 0.5 else "black")
            ax.imshow(grid, cmap="Blues", vmin=0, vmax=1, aspect="auto", origin="lower")
            ax.set_yticks(range(len(layers)), layers, fontsize=7)
            ax.set_xticks(range(k), [f"top {i + 1}" for i in range(k)], fontsize=7)
            ax.set(ylabel="layer", title=f"{vlm}: {'an image token' if kind == 'image' else 'the last text token'}")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    _save(fig, pdf_path)


def entropy_curves(rows: list[dict], pdf_path, csv_path) -> None:
    """Mean next-token entropy per layer over image and over text tokens, one line per domain, one panel per
    VLM and token kind (paper figure 7)."""
    _numbers(rows, csv_path)
    vlms = list(dict.fromkeys(r["vlm"] for r in rows))
    fig, axes = plt.subplots(len(vlms), 2, figsize=(9, 3 * len(vlms)), squeeze=False)
    for vlm, panel in zip(vlms, axes):
        for ax, kind in zip(panel, ("image", "text")):
            for domain in dict.fromkeys(r["domain"] for r in rows):
                points = sorted((r["layer"], r["entropy"]) for r in rows
                                if (r["vlm"], r["domain"], r["tokens"]) == (vlm, domain, kind))
                if points:
                    ax.plot(*zip(*points), marker="o", markersize=3, label=domain.replace("_", " "),
                            color=DOMAIN_COLOURS.get(domain))
            ax.set(title=f"{vlm}: {kind} tokens", xlabel="layer", ylabel="entropy (nats)")
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    _save(fig, pdf_path)
