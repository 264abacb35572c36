"""profiles/slurm on a real one-node SLURM cluster (tests/slurm_cluster.sh starts it; skipped, with the reason,
where daemons cannot start). The model-heavy stages of the micro workflow are rerun through sbatch and must give
the local run's bytes."""
import hashlib
import re
import shutil
import subprocess
import time

import pytest

from conftest import REPO, snakemake

pytestmark = pytest.mark.slow

# the stages whose rules would want GPUs on a real cluster, and everything they feed up to fig4 and table 1
RERUN = ["activations", "sae", "features", "neurons"]
TARGETS = ["results/figures/fig4.pdf", "results/figures/mmneuron/table1.csv"]
# measured speeds, the free disk the preflight saw, and drawings (a PDF carries its creation time): every other
# file must match to the byte
SKIP = ("throughput.json", "preflight.json", ".pdf")


@pytest.fixture(scope="module")
def cluster():
    script = str(REPO / "tests" / "slurm_cluster.sh")
    proc = subprocess.run(["bash", script, "start"], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        reason = (proc.stdout.strip().splitlines() or [proc.stderr.strip()])[-1]
        pytest.skip(f"no one-node SLURM cluster here: {reason}")
    yield
    subprocess.run(["bash", script, "stop"], capture_output=True, timeout=60)


def digests(root, stages):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for stage in stages for p in sorted((root / "results" / stage).rglob("*"))
            if p.is_file() and not p.name.endswith(SKIP)}


def test_the_slurm_profile_reruns_the_model_stages_through_sbatch_and_matches_the_local_run(built, cluster,
                                                                                            tmp_path):
    work = tmp_path / "cluster"
    shutil.copytree(built, work, symlinks=True)
    for stage in RERUN:
        shutil.rmtree(work / "results" / stage)
    for target in TARGETS:  # with the targets present Snakemake would have nothing to do
        (work / target).unlink()
    # as a user runs it, plus what this test cluster needs: no accounting database (so squeue reports job states;
    # MinJobAge keeps finished jobs there), a short first poll, and CPUs instead of the profile's device: cuda
    start = time.perf_counter()
    proc = snakemake(work, "--profile", str(REPO / "profiles" / "slurm"), "--workflow-profile", "none",
                     "--config", "device=cpu", "--slurm-status-command", "squeue",
                     "--slurm-init-seconds-before-status-checks", "2", *TARGETS)
    wall = time.perf_counter() - start
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    print(f"SLURM rerun of {', '.join(RERUN)} up to {', '.join(TARGETS)}: {wall:.0f} s")
    # "Job 7 has been submitted with SLURM jobid 33 (log: .../slurm_logs/rule_extract_activations/...)"
    submitted = re.findall(r"has been submitted with SLURM jobid \d+ \(log: \S*/slurm_logs/rule_(\w+)/", out)
    assert sorted(set(submitted)) == ["count_neurons", "dape", "extract_activations", "fig4", "language_tendency",
                                      "load_sae", "mmneuron_tables", "top_contexts", "train_sae"]
    # 3 checkpoints x 4 stages (step-3's SAE loaded, the others trained), fig4, 3 domains, dape, tables
    assert len(submitted) == 18
    ours, theirs = digests(work, RERUN), digests(built, RERUN)  # built also holds outputs these targets skip
    assert ours.keys() <= theirs.keys()
    assert {"results/sae/micromodel/step-30/sae_weights.safetensors", "results/neurons/microvlm/dape.parquet",
            "results/features/micromodel/step-3/language.parquet"} <= ours.keys()
    assert sorted(path for path in ours if ours[path] != theirs[path]) == []
