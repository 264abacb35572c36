"""Branch B's figures: domain-specific neurons per layer (the MMNeuron paper's figure 5), the logit lens's top
tokens per layer (figure 6) and its entropy per layer (figure 7). Each has a drawing function and the rule's entry
point, which reads the tables behind it: run_neurons_by_layer, run_logit_lens and run_entropy.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.ticker
import numpy as np
import polars as pl

from lmscope.mmneuron.mlp_neurons import MODULE_NAMES
from lmscope.mmneuron.neuron_tables import by_layer, read_tables
from lmscope.plotting import numbers, save, subplots

DOMAIN_COLOURS = {"common": "#1f77b4", "remote_sensing": "#2ca02c", "medical": "#d62728", "document": "#9467bd",
                  "driving": "#ff7f0e"}


def neurons_by_layer(rows: list[dict], pdf_path, csv_path) -> None:
    """Domain-specific neurons per layer, one panel per VLM and module, one line per domain (paper figure 5);
    panels and lines in the order of `rows`."""
    numbers(rows, csv_path)
    panels = list(dict.fromkeys((r["vlm"], r["module"]) for r in rows))
    domains = list(dict.fromkeys(r["domain"] for r in rows))
    columns = min(3, len(panels))
    fig, axes = subplots(math.ceil(len(panels) / columns), columns, figsize=(4 * columns, 3 * math.ceil(
        len(panels) / columns)), squeeze=False)
    for ax, (vlm, module) in zip(axes.ravel(), panels):
        for domain in domains:
            points = sorted((r["layer"], r["neurons"]) for r in rows
                            if (r["vlm"], r["module"], r["domain"]) == (vlm, module, domain))
            ax.plot([p[0] for p in points], [p[1] for p in points], label=domain.replace("_", " "), marker="o",
                    markersize=3, color=DOMAIN_COLOURS.get(domain))
        ax.set_xticks(sorted({r["layer"] for r in rows if (r["vlm"], r["module"]) == (vlm, module)}))
        ax.set(title=f"{vlm}: {MODULE_NAMES.get(module, module)}", xlabel="layer", ylabel="neurons")
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(panels):]:
        ax.axis("off")
    axes.ravel()[0].legend(fontsize=7)
    fig.suptitle("Domain-specific neurons per layer")
    fig.tight_layout()
    save(fig, pdf_path)


def logit_lens(tops: dict[str, list[dict]], title: str, pdf_path) -> None:
    """Top tokens per layer with their probabilities, at an image token and at the last text token, one row of
    panels per VLM (paper figure 6)."""
    fig, axes = subplots(len(tops), 2, figsize=(10, 0.45 * max(len({r["layer"] for r in rows})
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
    save(fig, pdf_path)


def entropy_curves(rows: list[dict], pdf_path, csv_path) -> None:
    """Mean next-token entropy per layer over image and over text tokens, one line per domain, one panel per
    VLM and token kind (paper figure 7)."""
    numbers(rows, csv_path)
    vlms = list(dict.fromkeys(r["vlm"] for r in rows))
    fig, axes = subplots(len(vlms), 2, figsize=(9, 3 * len(vlms)), squeeze=False)
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
    save(fig, pdf_path)


def run_neurons_by_layer(*, dape: dict[str, str], pdf: str, csv: str) -> None:
    """Rule neurons_by_layer: figure 5 and its numbers from every VLM's dape.parquet ({vlm: path}, in config
    order)."""
    neurons_by_layer(by_layer(read_tables(dape)).to_dicts(), pdf, csv)


def run_logit_lens(*, lens: list[str], vlms: list[str], pdf: str, domain: str) -> None:
    """Figure 6 for one domain from each VLM's logit-lens directory (`lens` in the order of `vlms`), titled with
    the question of the first one."""
    tops = {vlm: pl.read_parquet(Path(d) / "top_tokens.parquet").to_dicts() for vlm, d in zip(vlms, lens)}
    question = (Path(lens[0]) / "question.txt").read_text().strip()
    logit_lens(tops, f"Logit lens, {domain}: {question}", pdf)


def run_entropy(*, lens: list[str], pairs: list[list[str]], pdf: str, csv: str) -> None:
    """Figure 7 and its numbers from every logit-lens directory (`lens` in the order of the [vlm, domain]
    `pairs`)."""
    rows = [dict(r, vlm=vlm, domain=domain) for (vlm, domain), d in zip(pairs, lens)
            for r in pl.read_parquet(Path(d) / "entropy.parquet").to_dicts()]
    entropy_curves(rows, pdf, csv)
