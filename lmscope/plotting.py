"""Figures as lmscope writes them: a vector PDF, written atomically, with the numbers behind it saved beside it
as CSV.

Figures are `matplotlib.figure.Figure` objects, never pyplot's: importing this module or drawing a figure
changes no backend, and figures need no closing. The CJK fallback font is registered when the first figure is
made (checkpoint, model and token names may be Japanese), not on import.
"""

from __future__ import annotations

import polars as pl
from matplotlib.figure import Figure

from lmscope.atomic import atomic_path
from lmscope.fonts import use_cjk_in_matplotlib
from lmscope.tables import write_csv


def figure(**kwargs) -> Figure:
    """A new figure (`Figure(**kwargs)`), with Japanese text rendering."""
    use_cjk_in_matplotlib()
    return Figure(**kwargs)


def subplots(*args, figsize, **kwargs):
    """(figure, axes) as pyplot's `subplots` gives them, on a `figure()`."""
    fig = figure(figsize=figsize)
    return fig, fig.subplots(*args, **kwargs)


def save(fig: Figure, path) -> None:
    """Vector PDF, written whole or not at all."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="pdf")


def numbers(rows: list[dict], csv_path, sort: tuple[str, ...] = ()) -> pl.DataFrame:
    """The rows behind a figure as a frame (sorted by `sort`), written whole to `csv_path`."""
    frame = pl.DataFrame(rows)
    if sort:
        frame = frame.sort(*sort)
    write_csv(frame, csv_path)
    return frame

