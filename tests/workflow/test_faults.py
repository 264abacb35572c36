"""Faults a long run meets: a job or the whole run killed with SIGKILL, a full disk, a damaged Zarr store. The
rerun must finish with the uninterrupted run's outputs, and nothing half-written may look complete."""
import copy
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml
import zarr
from zarr.codecs import ZstdCodec

from conftest import REPO, mounted_tmpfs, snakemake
from lmscope.errors import InputError
from lmscope.sae_checkpoints.shuffled_batches import ShuffledBatches
from lmscope.sae_checkpoints.activation_store import CheckedStore

SAE = "results/sae/micromodel/step-30"
ACTIVATIONS = "results/activations/micromodel/step-30"


# --- kill -9 mid-job ----------------------------------------------------------------------------------------------

def _slow_config(micro_config, path):
    """The micro config with extraction one document at a time and 20 SAE epochs: both jobs last long enough to be
    killed in the middle (and the edit makes Snakemake rerun them on a copy of the finished run)."""
    config = copy.deepcopy(micro_config)
    config["activations"] = {"batch_size": 1}
    config["sae"].update(epochs=20)
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    return path


def _kill_when(workdir, configfile, ready, timeout=300):
    """Start the workflow towards the SAE of step-30 in its own process group, SIGKILL the whole group (Snakemake
    and its job) as soon as `ready()` holds, and return what `ready` saw."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--configfile",
           str(configfile), "--cores", "1", SAE]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            seen = ready()
            if seen:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return seen
            time.sleep(0.005)
        pytest.fail(f"the run ended (exit {proc.poll()}) before the moment to kill it")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _tmp_dirs(directory):
    return [p.name for p in directory.iterdir() if ".tmp-" in p.name] if directory.is_dir() else []


@pytest.mark.slow
def test_killed_during_extraction_and_during_sae_training_the_rerun_equals_an_uninterrupted_run(
        built, micro_config, tmp_path):
    config = _slow_config(micro_config, tmp_path / "slow.yaml")
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    for work in (killed, whole):
        shutil.copytree(built, work, symlinks=True)

    proc = snakemake(whole, "--cores", "1", SAE, configfile=config)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    # 1. SIGKILL while the activation stores are being written: no store or throughput file looks complete
    store_dir = killed / ACTIVATIONS
    seen = _kill_when(killed, config, lambda: _tmp_dirs(store_dir))
    assert seen and not (store_dir / "throughput.json").exists()
    assert not any((store_dir / f"{split}.zarr").exists() for split in ("validation", "test"))

    # 2. rerun (after --unlock: the killed Snakemake could not release its lock); SIGKILL once SAE training has
    # saved its state
    assert snakemake(killed, "--unlock", configfile=config).returncode == 0
    state = killed / "results/sae/micromodel/.resume/step-30.pt"
    _kill_when(killed, config, state.is_file)
    assert state.is_file() and not (killed / SAE).exists()
    assert (store_dir / "throughput.json").exists()  # extraction finished in this second run

    # 3. rerun to the end: training resumes from its state, and every output equals the uninterrupted run's
    assert snakemake(killed, "--unlock", configfile=config).returncode == 0
    proc = snakemake(killed, "--cores", "1", SAE, configfile=config)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    log = (killed / "results/logs/train_sae/micromodel/step-30.log").read_text()
    assert "resuming from step" in log
    assert not state.exists()
    for name in ("sae_weights.safetensors", "cfg.json", "metrics.json", "train_log.csv"):
        assert (killed / SAE / name).read_bytes() == (whole / SAE / name).read_bytes(), name
    for split in ("train", "validation", "test"):
        ours = zarr.open_array(str(killed / ACTIVATIONS / f"{split}.zarr"), mode="r")
        theirs = zarr.open_array(str(whole / ACTIVATIONS / f"{split}.zarr"), mode="r")
        np.testing.assert_array_equal(ours[:], theirs[:])
    assert not [p for p in (killed / "results").rglob("*") if ".tmp-" in p.name]  # the killed jobs' leftovers


# --- damaged stores -----------------------------------------------------------------------------------------------

@pytest.fixture
def store(tmp_path):
    path = tmp_path / "train.zarr"
    arr = zarr.create_array(store=str(path), shape=(100, 8), chunks=(10, 8), dtype="float16",
                            compressors=[ZstdCodec()])
    arr[:] = np.random.default_rng(0).normal(size=(100, 8))
    return path


def test_a_chunk_that_does_not_decode_is_named_with_its_store(store):
    chunk = store / "c" / "3" / "0"
    chunk.write_bytes(chunk.read_bytes()[:4] + b"garbage" * 4)
    with pytest.raises(InputError, match=rf"activation store {store}: rows 30:40 cannot be decoded \(Zstd"):
        CheckedStore(store)[30:40]
    with pytest.raises(InputError, match=rf"activation store {store}: .* cannot be decoded"):
        list(ShuffledBatches([store], 16).epoch(0))


def test_a_missing_chunk_is_not_read_as_zeros(store):
    (store / "c" / "5" / "0").unlink()
    with pytest.raises(InputError, match=rf"activation store {store}: 1 of 10 chunks are missing"):
        CheckedStore(store)


@pytest.mark.slow
def test_sae_training_on_a_damaged_store_stops_naming_it_and_writes_nothing(built, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(built, work, symlinks=True)
    chunk = next(p for p in sorted((work / ACTIVATIONS / "train.zarr").rglob("*")) if p.is_file() and
                 p.parent.name.isdigit())
    chunk.write_bytes(b"\x00" * 16)
    proc = snakemake(work, "--cores", "1", "--forcerun", "train_sae", SAE)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "lmscope error: activation store results/activations/micromodel/step-30/train.zarr" in out, out
    assert "Traceback" not in out and not (work / SAE).exists()


# --- a full disk --------------------------------------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path):
    """A 256 kB tmpfs."""
    with mounted_tmpfs(tmp_path / "disk", "256k") as mount:
        yield mount


HISTORY_CODE = """
HISTORY = [{"step": s, "train_loss": 5.0 / (s + 1), "val_loss": float("nan") if s % 10 else 5.0 / (s + 1)}
           for s in range(50)]
"""


def test_a_figure_on_a_full_disk_fails_plainly_and_leaves_nothing(small_disk, tmp_path):
    fd = os.open(small_disk / "ballast", os.O_WRONLY | os.O_CREAT)  # fill the disk to the last block
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
    job = HISTORY_CODE + f"""
from lmscope.logs import log_to
from lmscope.sae_checkpoints import figures
log_to({str(tmp_path / 'job.log')!r})
figures.loss_curve(HISTORY, {str(small_disk / 'loss.pdf')!r}, "loss")
"""
    proc = subprocess.run([sys.executable, "-c", job], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr == f"lmscope error: No space left on device while writing {small_disk / 'loss.pdf'}\n"
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in small_disk.iterdir()) == ["ballast"]


def test_extraction_refuses_a_disk_too_small_for_the_store_before_writing(small_disk):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from lmscope.sae_checkpoints import activations

    model = LlamaForCausalLM(LlamaConfig(vocab_size=50, hidden_size=64, intermediate_size=64, num_hidden_layers=2,
                                         num_attention_heads=2, num_key_value_heads=2)).eval()
    tokens = zarr.create_array(store=str(small_disk.parent / "tokens.zarr"), shape=(2000, 65), chunks=(500, 65),
                               dtype="int32")
    tokens[:] = 1
    tokens.attrs["split_offsets"] = {"train": [0, 2000]}
    with torch.no_grad(), pytest.raises(OSError, match=r"train\.zarr: this store needs about 16\.4 MB .* are free"):
        activations.extract(model, tokens, "train", 1, small_disk / "train.zarr", store_dtype="float16")
    assert list(small_disk.iterdir()) == []


# --- an interrupted figure ----------------------------------------------------------------------------------------

def test_a_figure_job_killed_while_drawing_leaves_no_figure(tmp_path):
    # SIGKILL in the middle of savefig, as os._exit: no handler or cleanup runs
    job = HISTORY_CODE + f"""
import os
import matplotlib.figure
from lmscope.sae_checkpoints import figures
real = matplotlib.figure.Figure.savefig
def half_then_die(self, fname, **kw):
    real(self, fname, **kw)
    with open(fname, "r+b") as f:
        f.truncate(100)
    os._exit(9)
matplotlib.figure.Figure.savefig = half_then_die
figures.loss_curve(HISTORY, {str(tmp_path / 'loss.pdf')!r}, "loss")
"""
    proc = subprocess.run([sys.executable, "-c", job], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 9, proc.stderr
    assert not (tmp_path / "loss.pdf").exists()
    assert [p.name.startswith(".loss.pdf.tmp-") for p in tmp_path.iterdir()] == [True]
