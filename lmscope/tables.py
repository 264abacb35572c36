"""Tables as the papers print them (GitHub markdown with the extreme value of each column in bold), and tables
written whole or not at all as CSV and markdown."""

from __future__ import annotations

import polars as pl

from lmscope.atomic import atomic_path


def markdown(table: pl.DataFrame, mark: str | None = None, labels: int = 1, block: str | None = None,
             unmarked: tuple[str, ...] = ()) -> str:
    """`labels` leading columns name the row; each later column's largest (mark="max") or smallest ("min") value
    is bold, compared within rows sharing `block` (e.g. one model) and never in rows with a label in `unmarked`
    (totals, baselines); where they are all equal, none is. Floats print with two decimals."""
    values = table.columns[labels:]
    names = table.columns[:labels]
    plain = pl.any_horizontal([pl.col(c).cast(pl.String).is_in(list(unmarked)) for c in names])
    marked = table.filter(~plain)
    best: dict[tuple, float] = {}
    if mark:
        agg = pl.max if mark == "max" else pl.min
        keys = [block] if block else [pl.lit(0).alias("_all")]
        spread = marked.group_by(keys).agg([agg(c).alias(c) for c in values]
                                           + [(pl.max(c) > pl.min(c)).alias(f"_varies_{c}") for c in values])
        for row in spread.iter_rows(named=True):  # a column whose values are all equal marks nothing
            best.update({(row.get(block, 0) if block else 0, c): row[c] for c in values if row[f"_varies_{c}"]})
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    for row in table.iter_rows(named=True):
        cells = [str(row[c]) for c in table.columns[:labels]]
        for c in values:
            value = row[c]
            text = "" if value is None else f"{value:.2f}" if isinstance(value, float) else str(value)
            if (mark and value is not None and not any(str(row[n]) in unmarked for n in names)
                    and value == best.get((row[block] if block else 0, c)) and (mark == "min" or value > 0)):
                text = f"**{text}**"
            cells.append(text)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_csv(rows: list[dict] | pl.DataFrame, path) -> None:
    """A table (a frame, or rows as dicts) as CSV, written whole or not at all."""
    frame = rows if isinstance(rows, pl.DataFrame) else pl.DataFrame(rows)
    with atomic_path(path) as tmp:
        frame.write_csv(tmp)


def write_markdown(text: str, path) -> None:
    """A markdown table (as `markdown` renders it), written whole or not at all."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
