import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

# Tests never touch the network: the hub libraries must fail fast instead of trying.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
MICRO = REPO / "tests" / "micro.yaml"


# micro.yaml's first checkpoint analyses this SAE instead of training one (a path is read from the working
# directory, so every run of the micro workflow gets a copy): SAELens layout, d = the micro model's hidden_size
MICRO_SAE = "released/micro-step-3"


def write_micro_sae(workdir: Path) -> None:
    """A random TopK SAE (d 32, 64 latents, K 4) in SAELens's layout, normalize_activations constant_norm_rescale
    and non-zero biases, so that the loaded path differs from one trained here. Written once per directory: a
    rewrite would make the whole workflow out of date."""
    import json

    import torch
    from safetensors.torch import save_file

    directory = workdir / MICRO_SAE
    if (directory / "cfg.json").is_file():
        return
    directory.mkdir(parents=True)
    gen = torch.Generator().manual_seed(3)
    w_dec = torch.nn.functional.normalize(torch.randn(64, 32, generator=gen), dim=1)
    save_file({"W_enc": (w_dec.T + 0.1 * torch.randn(32, 64, generator=gen)).contiguous(), "W_dec": w_dec,
               "b_enc": 0.1 * torch.randn(64, generator=gen), "b_dec": 0.05 * torch.randn(32, generator=gen)},
              directory / "sae_weights.safetensors")
    cfg = {"architecture": "topk", "d_in": 32, "d_sae": 64, "k": 4, "dtype": "float32", "device": "cpu",
           "apply_b_dec_to_input": True, "normalize_activations": "constant_norm_rescale",
           "metadata": {"sae_lens_version": "6.0.0"}}
    (directory / "cfg.json").write_text(json.dumps(cfg))


def snakemake(workdir: Path, *args: str, configfile: Path | None = None) -> subprocess.CompletedProcess:
    """Run the workflow of this checkout in `workdir` (results go there), return the finished process."""
    write_micro_sae(Path(workdir))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
           "--configfile", str(configfile or MICRO), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Path:
    """The micro workflow run to the end once, locally, for every test that reads, edits or reruns it."""
    workdir = tmp_path_factory.mktemp("micro")
    proc = snakemake(workdir, "--cores", "2")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return workdir


@pytest.fixture
def micro_config() -> dict:
    return yaml.safe_load(MICRO.read_text())


@pytest.fixture
def write_config(tmp_path):
    """Write a config dict to tmp_path/config.yaml and return its path."""
    def write(config: dict) -> Path:
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config, allow_unicode=True))
        return path
    return write


# The files presets/mmneuron.yaml reads under data/, as a user downloads them (README, Domains)
MMNEURON_DOWNLOADS = ("rsvqa_hr/USGS_split_train_questions.json", "rsvqa_hr/USGS_split_train_answers.json",
                      "rsvqa_hr/USGS_split_val_questions.json", "rsvqa_hr/USGS_split_val_answers.json",
                      "pmc_vqa/train.csv", "pmc_vqa/test_clean.csv", "pmc_vqa/images.zip",
                      "lingoqa/action/train.parquet", "lingoqa/action/images.zip",
                      "lingoqa/evaluation/val.parquet", "lingoqa/evaluation/images.zip")


@contextmanager
def mounted_tmpfs(mount: Path, size: str):
    """A tmpfs of `size` (e.g. "256k") mounted at the new directory `mount` for the duration, to fill a disk for
    real; the test is skipped when mounting is not allowed (it needs root)."""
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a {size} tmpfs here: {proc.stderr.strip() or proc.returncode}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)


def place_mmneuron_downloads(root: Path) -> None:
    """Empty stand-ins of those files under root/data: enough for the config checks and a dry run."""
    for name in MMNEURON_DOWNLOADS:
        (root / "data" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "data" / name).write_text("")
