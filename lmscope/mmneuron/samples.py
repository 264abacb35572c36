"""Reading a domain's samples directory (lmscope.mmneuron.domains) without holding its images: an index of the
light columns, a seeded order over it, and the records of the chosen samples read row group by row group.

    index = read_index(samples, "train")            # every column but the images, one row per sample
    order = seeded_order(index, seed=0, distinct_images=True)
    for row in read_rows(samples, "train", order[:100]):   # full records, in that order
        ...

Memory: the index grows with the split (a few hundred bytes per sample, no images: about 50 MB for VQAv2's
214K validation questions); the images read are one window of samples at a time, whatever the split's size.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from lmscope.errors import InputError
from lmscope.mmneuron.records import SCHEMA

LIGHT_COLUMNS = [name for name in SCHEMA.names if name != "images"]
WINDOW = 64  # samples whose row groups are read together


def parts(samples: str | Path, split: str) -> list[Path]:
    """The split's parquet files, one per source, in config order."""
    found = sorted((Path(samples) / split).glob("*.parquet"))
    if not found:
        raise InputError(f"{samples}: no {split} samples (no {split}/*.parquet)")
    return found


def read_index(samples: str | Path, split: str) -> pl.DataFrame:
    """Every sample of the split without its images, with `part`, `row_group` and `row` (its place in the files)
    and `position` (0..n-1, in file order)."""
    frames = []
    for part_number, path in enumerate(parts(samples, split)):
        metadata = pq.ParquetFile(path).metadata
        groups = np.repeat(np.arange(metadata.num_row_groups),
                           [metadata.row_group(g).num_rows for g in range(metadata.num_row_groups)])
        light = pl.read_parquet(path, columns=LIGHT_COLUMNS)
        rows = np.concatenate([np.arange(metadata.row_group(g).num_rows) for g in range(metadata.num_row_groups)]
                              or [np.zeros(0, int)])
        frames.append(light.with_columns(part=pl.lit(part_number), row_group=pl.Series(groups, dtype=pl.Int64),
                                         row=pl.Series(rows, dtype=pl.Int64)))
    return pl.concat(frames).with_row_index("position")


def seeded_order(index: pl.DataFrame, seed: int, distinct_images: bool = False) -> list[int]:
    """Positions in a seeded random order; with `distinct_images`, only the first question of each image in that
    order (the reference keeps one question per image: VQAv2 has about five per image, RSVQA-HR about a hundred)."""
    order = np.random.default_rng(seed).permutation(index.height)
    if not distinct_images:
        return order.tolist()
    keys = index["image_key"].to_numpy()[order]
    _, first = np.unique(keys, return_index=True)
    return order[np.sort(first)].tolist()


def read_rows(samples: str | Path, split: str, positions: list[int], index: pl.DataFrame | None = None
              ) -> Iterator[dict]:
    """Full records (images included) of the samples at `positions`, in that order; their row groups are read a
    window of WINDOW samples at a time, so memory holds one window whatever the split's size."""
    index = read_index(samples, split) if index is None else index
    files = [pq.ParquetFile(p) for p in parts(samples, split)]
    places = index.select("part", "row_group", "row").to_numpy()
    for start in range(0, len(positions), WINDOW):
        window = positions[start:start + WINDOW]
        found: dict[int, dict] = {}
        for part, group in sorted({(int(places[p][0]), int(places[p][1])) for p in window}):
            table = files[part].read_row_group(group)
            for p in window:
                if places[p][0] == part and places[p][1] == group:
                    found[p] = table.slice(int(places[p][2]), 1).to_pylist()[0]
        for p in window:
            yield found[p]


def read_split(samples: str | Path, split: str) -> pl.DataFrame:
    """The whole split, images included, in file order: for small splits only (training the tiny VLM, tests)."""
    return pl.concat([pl.read_parquet(p) for p in parts(samples, split)])
