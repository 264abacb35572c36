"""activations.keep: false, as the dry run plans it: every store temporary (deleted once its readers are done, none
a target of rule all), the rules that read the stores ahead of extraction (README, Disk for activations)."""

import re

from conftest import snakemake

READERS = {"train_sae", "train_sae_seed", "sae_sweep", "top_contexts", "token_vectors", "matching_sample"}


def test_with_keep_false_the_dry_run_plans_every_store_as_temporary_and_its_readers_first(tmp_path, micro_config,
                                                                                         write_config):
    proc = snakemake(tmp_path, "-n", configfile=write_config({**micro_config, "activations": {"keep": False}}))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    stores = {f"results/activations/micromodel/step-{step}/{split}.zarr" for step in (3, 10, 30)
              for split in ("train", "validation", "test")}
    assert set(re.findall(r"^Would remove temporary output (\S+)$", out, re.M)) == stores
    priorities = {}  # rule -> the priorities its jobs are planned with (None: the default, 0)
    for rule, block in re.findall(r"^rule (\w+):\n((?: {4}.*\n)+)", out, re.M):
        found = re.search(r"^ {4}priority: (\d+)$", block, re.M)
        priorities.setdefault(rule, set()).add(found and found.group(1))
    assert {rule for rule, planned in priorities.items() if planned != {None}} == READERS
    assert all(priorities[rule] == {"1"} for rule in READERS)
