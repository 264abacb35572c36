"""The markdown tables the benchmarks print: one row per measurement (`row`), and the per-stage memory benchmarks'
table of each stage's peak RSS and wall time at each size (`growth_table`)."""

from __future__ import annotations


def row(*cells) -> str:
    """One markdown table row: `row("a", 1, "2.0")` -> "| a | 1 | 2.0 |"."""
    return "| " + " | ".join(str(c) for c in cells) + " |"


def header(*names) -> str:
    """A markdown table's header and separator lines."""
    return row(*names) + "\n" + "| " + " | ".join("---" for _ in names) + " |"


def growth_table(results: dict, stages: list[str], sizes: list[int], unit: str) -> str:
    """`results[(stage, size)]` holds rss_mb and wall_s; growth is the largest size's RSS over the smallest's."""
    names = " | ".join(f"{n:,}{unit}" for n in sizes)
    lines = [f"| rule | peak RSS MB: {names} | growth | wall s: {names} |", "| --- |" + " --- |" * (2 * len(sizes) + 1)]
    for stage in stages:
        rss = [results[(stage, n)]["rss_mb"] for n in sizes]
        wall = [results[(stage, n)]["wall_s"] for n in sizes]
        lines.append(f"| {stage} | " + " | ".join(f"{r:,.0f}" for r in rss) + f" | {rss[-1] / rss[0] - 1:+.0%} | "
                     + " | ".join(f"{w:.1f}" for w in wall) + " |")
    return "\n".join(lines)
