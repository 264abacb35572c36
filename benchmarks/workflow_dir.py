"""Run this repository's workflow in a directory of its own, from a whole config: what the benchmarks that compare
whole runs (branch_a_scale.py, embedded_seeds.py) share.

The config must be whole, not an overlay: Snakemake reads the Snakefile's config.yaml from the working directory
(-d), where there is none, so keys an overlay left out would take the schema's defaults, not the embedded default's.
It is written to the directory's config.yaml, so a rerun there finds it and a finished directory is reused
(Snakemake finds nothing to do).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def run_workflow(workdir: Path, config: dict, targets: list[str], cores: int) -> Path:
    """Make `targets` in `workdir` with `config`; Snakemake's own message on stderr if it fails. Returns `workdir`."""
    workdir.mkdir(parents=True, exist_ok=True)
    configfile = workdir / "config.yaml"
    configfile.write_text(yaml.safe_dump(config, allow_unicode=True))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir), *targets,
           "--cores", str(cores), "--configfile", str(configfile)]
    print(f"# {' '.join(cmd)}", file=sys.stderr, flush=True)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return workdir
