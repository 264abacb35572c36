"""What feature matching shows across checkpoints (issue 22), as two figures with their numbers as CSV.

The matched share: per pair of consecutive checkpoints, the share of the earlier checkpoint's active features
(those that vary on the matching sample) whose one-to-one match scores at least `threshold`, beside the same
share between two seeds of the final checkpoint's SAE. Two SAEs of one model and data differ in many features
already, so a share between checkpoints means something only against that baseline. With a warm-started chain
(sae.init: previous) the share of features whose match keeps their index is drawn too.

The transitions: for the matched features of each pair (score at least `threshold`), an alluvial diagram from
the earlier feature's label to its match's, for language tendency (ja / en / mixed, every matched feature) and
granularity (only pairs of features both labelled: granularity labels a sample of each checkpoint's features,
all of them when granularity.features is at least the SAE's width). Whether the paper's ja and en features of
mid-training become the mixed features of the end is read off the ja → mixed and en → mixed ribbons.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from lmscope.plotting import numbers, save, subplots
from lmscope.sae_checkpoints.figures import GRANULARITY_COLOURS, TENDENCY_COLOURS
from lmscope.tables import write_csv


def matched(matches: pl.DataFrame, by: str, threshold: float) -> pl.DataFrame:
    """The active features whose match scores at least `threshold` by the column `by`."""
    return matches.filter(pl.col("active") & (pl.col(by) >= threshold))


def pair_summary(matches: pl.DataFrame, by: str, threshold: float) -> dict:
    """features, active, matched, share (of active), same_index and its share, the median score of the active."""
    active = matches.filter("active")
    n_active, n_matched = active.height, matched(matches, by, threshold).height
    same = int(active["same_index"].sum())
    return {"features": matches.height, "active": n_active, "matched": n_matched,
            "share": n_matched / n_active if n_active else 0.0, "same_index": same,
            "share_same_index": same / n_active if n_active else 0.0,
            "median_score": float(active[by].median()) if n_active else 0.0}


def run_shares(*, matches: list, baseline, pdf, csv, pairs: list[list[str]], by: str, threshold: float) -> None:
    """Rule matching_shares: the matched share per consecutive pair against the seed baseline."""
    rows = [{"kind": "checkpoints", "from": a, "to": b, **pair_summary(pl.read_parquet(path), by, threshold)}
            for (a, b), path in zip(pairs, matches)]
    base = pair_summary(pl.read_parquet(baseline), by, threshold)
    final = pairs[-1][1] if pairs else ""
    rows.append({"kind": "seed baseline", "from": final, "to": f"{final} (other seed)", **base})
    numbers(rows, csv)
    fig, ax = subplots(figsize=(max(5.0, 1.1 * len(pairs) + 3.0), 3.6))
    x = np.arange(len(pairs))
    ax.bar(x, [r["share"] for r in rows[:-1]], width=0.6, color="#4c72b0", label=f"{by} ≥ {threshold:g}")
    if any(r["same_index"] for r in rows[:-1]):
        ax.plot(x, [r["share_same_index"] for r in rows[:-1]], "o", color="#dd8452", label="match keeps its index")
    ax.axhline(base["share"], color="black", linestyle="--", linewidth=1,
               label=f"seed baseline at {final} ({100 * base['share']:.0f}%)")
    for i, r in enumerate(rows[:-1]):
        ax.text(i, r["share"] + 0.01, f"{100 * r['share']:.0f}%", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, [f"{a}\n→ {b}" for a, b in pairs], fontsize=8)
    ax.set(ylim=(0, 1.05), ylabel="share of active features matched", xlabel="consecutive checkpoints",
           title="Features matched one to one across checkpoints")
    ax.legend(fontsize=7, loc="upper left", frameon=False)
    fig.tight_layout()
    save(fig, pdf)


def transitions(matches: pl.DataFrame, before: pl.DataFrame, after: pl.DataFrame, column: str, by: str,
                threshold: float) -> dict[tuple[str, str], int]:
    """{(earlier label, later label): matched pairs} for the label `column` of the tables `before` (feature,
    column) and `after`; pairs where either feature has no label are left out."""
    pairs = (matched(matches, by, threshold).select("feature", "match")
             .join(before.select("feature", pl.col(column).alias("from")), on="feature")
             .join(after.select(pl.col("feature").alias("match"), pl.col(column).alias("to")), on="match"))
    counts = pairs.group_by("from", "to").len()
    return {(a, b): n for a, b, n in counts.iter_rows()}


def _alluvial(ax, flows: dict[tuple[str, str], int], colours: dict[str, str], title: str) -> None:
    """Two stacks of the labels (earlier left, later right, in the order of `colours`, heights as counts) and a
    ribbon for every (earlier, later) pair, coloured by the earlier label."""
    total = sum(flows.values())
    ax.set(xlim=(-0.1, 1.1), ylim=(0, max(total, 1)), title=f"{title} (n={total})")
    ax.set_xticks([])
    ax.title.set_fontsize(8)
    keys = list(colours)
    left_out = {k: sum(n for (a, _), n in flows.items() if a == k) for k in keys}
    right_in = {k: sum(n for (_, b), n in flows.items() if b == k) for k in keys}
    left_base = dict(zip(keys, np.cumsum([0] + [left_out[k] for k in keys])[:-1]))
    right_base = dict(zip(keys, np.cumsum([0] + [right_in[k] for k in keys])[:-1]))
    width = 0.08
    for k in keys:
        for side, base, height in ((0, left_base, left_out), (1, right_base, right_in)):
            if height[k]:
                ax.bar(side, height[k], bottom=base[k], width=width, color=colours[k], edgecolor="white")
                ax.text(side + (-0.06 if side == 0 else 0.06), base[k] + height[k] / 2, f"{k} {height[k]}",
                        ha="right" if side == 0 else "left", va="center", fontsize=6)
    t = np.linspace(0, 1, 50)
    smooth = 3 * t ** 2 - 2 * t ** 3
    left_used, right_used = dict(left_base), dict(right_base)
    for a in keys:
        for b in keys:
            n = flows.get((a, b), 0)
            if not n:
                continue
            y0, y1 = left_used[a], right_used[b]
            lower = y0 + (y1 - y0) * smooth
            ax.fill_between(width / 2 + t * (1 - width), lower, lower + n, color=colours[a], alpha=0.45, linewidth=0)
            left_used[a] += n
            right_used[b] += n


LANGUAGE_COLOURS = {**TENDENCY_COLOURS, "dead": "#000000"}
TRANSITION_COLUMNS = {"kind": pl.String, "from_checkpoint": pl.String, "to_checkpoint": pl.String, "from": pl.String,
                      "to": pl.String, "count": pl.Int64}


def run_transitions(*, matches: list, language: list, granularity: list, pdf, csv, pairs: list[list[str]],
                    by: str, threshold: float) -> None:
    """Rule matching_transitions: language tendency and granularity from each checkpoint's matched features to
    their matches in the next (`language`, `granularity`: every checkpoint's tables, in training order)."""
    checkpoints = [pairs[0][0]] + [b for _, b in pairs] if pairs else []
    lang = dict(zip(checkpoints, (pl.read_parquet(p, columns=["feature", "tendency"]) for p in language)))
    gran = dict(zip(checkpoints, (pl.read_parquet(p, columns=["feature", "label"]) for p in granularity)))
    kinds = (("language", "tendency", lang, LANGUAGE_COLOURS), ("granularity", "label", gran, GRANULARITY_COLOURS))
    fig, axes = subplots(2, max(1, len(pairs)), figsize=(max(5.0, 2.6 * len(pairs)), 6.0), squeeze=False)
    rows = []
    for (a, b), path, col in zip(pairs, matches, range(len(pairs))):
        table = pl.read_parquet(path)
        for row, (kind, column, tables, colours) in enumerate(kinds):
            flows = transitions(table, tables[a], tables[b], column, by, threshold)
            rows += [{"kind": kind, "from_checkpoint": a, "to_checkpoint": b, "from": x, "to": y, "count": n}
                     for (x, y), n in sorted(flows.items())]
            _alluvial(axes[row][col], flows, colours, f"{kind}: {a} → {b}")
    for row, label in enumerate(("language tendency", "granularity (both labelled)")):
        axes[row][0].set_ylabel(f"{label}\nmatched features", fontsize=8)
    fig.suptitle(f"Matched features ({by} ≥ {threshold:g}) from each checkpoint to the next", fontsize=9)
    fig.tight_layout()
    write_csv(pl.DataFrame(rows, schema=TRANSITION_COLUMNS), csv)
    save(fig, pdf)

