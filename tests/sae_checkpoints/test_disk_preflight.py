"""The preflight before extraction on a real small disk (a 2 MB tmpfs): a planned set of stores larger than the
disk stops before anything is written, naming the disk, the bytes needed and the bytes free; one that fits passes."""

import json
import re
import shutil

import pytest
import zarr
from transformers import LlamaConfig

from conftest import mounted_tmpfs
from lmscope.errors import InputError
from lmscope.sae_checkpoints import disk_preflight

DOCS, T, D = 100, 64, 96  # one checkpoint's three stores: 6,400 rows x 96 x 2 bytes x 0.90 (zstd) = 1.1 MB
SPLITS = {"train": [0, 80], "validation": [80, 90], "test": [90, 100]}


@pytest.fixture
def disk(tmp_path):
    """A 2 MB tmpfs holding the run's results folder."""
    with mounted_tmpfs(tmp_path / "disk", "2m") as mount:
        yield mount


def plan(root, checkpoints=("step-1", "step-2")) -> dict:
    """The rule's inputs and params for a model trained here (d = 96) with `checkpoints`, made under root."""
    tokens = root / "results/corpus/c/tokens.zarr"
    array = zarr.create_array(store=str(tokens), shape=(DOCS, 1 + T), chunks=(DOCS, 1 + T), dtype="int32")
    array[:] = 1
    array.attrs["split_offsets"] = SPLITS
    (root / "results/activations").mkdir(parents=True)  # Snakemake makes an output's folder before the job
    stores = {ckpt: {split: str(root / f"results/activations/m/{ckpt}/{split}.zarr") for split in SPLITS}
              for ckpt in checkpoints}
    return {"tokens": [str(tokens)], "preflight": str(root / "results/activations/preflight.json"),
            "models": {"m": {"tokens": str(tokens), "hidden_size": D, "checkpoints": stores}},
            "keep": True, "store_dtype": "float16", "compression": "zstd"}


def checkpoint_bytes() -> float:
    return DOCS * T * D * 2 * 0.90


def test_stores_larger_than_the_disk_stop_before_anything_is_written(disk):
    args = plan(disk)
    free = shutil.disk_usage(disk).free
    with pytest.raises(InputError) as raised:
        disk_preflight.run(**args)
    message = str(raised.value)
    needed, told_free = (int(n.replace(",", "")) for n in re.findall(r"\(([\d,]+) bytes", message))
    assert message.startswith(f"{(disk / 'results/activations').resolve()}: the activation stores need about")
    assert needed == pytest.approx(2 * checkpoint_bytes() * 1.05, abs=8) and told_free == free < needed
    assert "6 stores not yet written" in message and "set activations.keep: false" in message
    assert list((disk / "results/activations").iterdir()) == []  # no store, no preflight.json


def test_with_keep_false_one_checkpoint_at_a_time_fits(disk):
    args = {**plan(disk), "keep": False}
    disk_preflight.run(**args)
    written = json.loads((disk / "results/activations/preflight.json").read_text())
    assert written["needed_bytes"] == pytest.approx(checkpoint_bytes() * 1.05, abs=8)
    assert written["free_bytes"] > written["needed_bytes"] and len(written["stores"]) == 6
    assert "3 stores of m/step-" in written["peak"]


def test_complete_stores_count_nothing(disk):
    args = plan(disk)
    for split, path in args["models"]["m"]["checkpoints"]["step-1"].items():  # extracted (metadata alone here)
        start, stop = SPLITS[split]
        zarr.create_array(store=path, shape=((stop - start) * T, D), chunks=(T, D), dtype="float16")
    disk_preflight.run(**args)
    written = json.loads((disk / "results/activations/preflight.json").read_text())
    assert written["needed_bytes"] == pytest.approx(checkpoint_bytes() * 1.05, abs=8)
    assert [s["complete"] for s in written["stores"]] == [True] * 3 + [False] * 3


def test_d_of_a_model_not_trained_here_is_read_from_its_config(tmp_path):
    LlamaConfig(hidden_size=48, num_attention_heads=4).save_pretrained(tmp_path / "final")
    entry = {"name": "final", "path": str(tmp_path / "final")}
    assert disk_preflight.hidden_size({"config": entry}) == 48
