"""A domain's samples directory: sources streamed into row groups, gathered by hard links, and read back in a
seeded order one window at a time — checked against reading everything and permuting by hand."""
import os

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest

from lmscope.mmneuron import domains, samples

SYNTH = {"kind": "synthetic", "train": 40, "validation": 5, "seed": 3, "image_size": 32, "frames": 1,
         "shuffle_choices": False}


@pytest.fixture(scope="module")
def merged(tmp_path_factory):
    root = tmp_path_factory.mktemp("domain")
    domains.prepare("common", SYNTH, "synthetic0", root / "a")
    domains.prepare("common", dict(SYNTH, train=7, seed=4), "synthetic1", root / "b")
    domains.merge("common", [str(root / "a"), str(root / "b")], root / "samples")
    return root


def test_sources_are_written_in_row_groups_and_gathered_without_a_copy(merged):
    source = pq.ParquetFile(merged / "a" / "train.parquet")
    assert source.metadata.num_row_groups == -(-40 // domains.ROW_GROUP_ROWS)  # 16 + 16 + 8
    parts = samples.parts(merged / "samples", "train")
    assert [p.name for p in parts] == ["00-synthetic0.parquet", "01-synthetic1.parquet"]
    assert os.stat(parts[0]).st_ino == os.stat(merged / "a" / "train.parquet").st_ino  # a hard link, one copy
    table = samples.read_split(merged / "samples", "train")
    assert table["source"].to_list() == ["synthetic0"] * 40 + ["synthetic1"] * 7
    assert table["image_key"].n_unique() == 47  # every drawn picture differs


def test_rows_in_a_seeded_order_are_the_split_permuted_by_hand(merged):
    everything = samples.read_split(merged / "samples", "train")
    index = samples.read_index(merged / "samples", "train")
    assert "images" not in index.columns and index["id"].to_list() == everything["id"].to_list()
    order = samples.seeded_order(index, seed=5)
    assert order == np.random.default_rng(5).permutation(47).tolist()
    assert order != samples.seeded_order(index, seed=6)
    chosen = order[:samples.WINDOW + 9]  # more than one window, across both files and many row groups
    rows = list(samples.read_rows(merged / "samples", "train", chosen))
    assert [r["id"] for r in rows] == [everything["id"][p] for p in chosen]
    assert [r["images"] for r in rows] == [everything["images"][p].to_list() for p in chosen]


def test_distinct_images_keep_the_first_question_of_each_image_in_the_order():
    index = pl.DataFrame({"image_key": ["a", "b", "a", "c", "b", "a"]})
    order = np.random.default_rng(1).permutation(6).tolist()
    seen, expected = set(), []
    for p in order:  # by hand
        if index["image_key"][p] not in seen:
            seen.add(index["image_key"][p])
            expected.append(p)
    assert samples.seeded_order(index, seed=1, distinct_images=True) == expected
    assert sorted(index["image_key"][p] for p in expected) == ["a", "b", "c"]


def test_a_missing_split_is_named(tmp_path):
    (tmp_path / "samples" / "train").mkdir(parents=True)
    with pytest.raises(ValueError, match="no validation samples"):
        samples.read_index(tmp_path / "samples", "validation")
