"""What every rule declares for a scheduler, and what profiles/slurm asks SLURM for (from a dry run)."""
import re

import yaml

from conftest import REPO, snakemake

RULE_FILES = sorted((REPO / "workflow" / "rules").glob("*.smk"))


def rule_blocks() -> dict[str, str]:
    blocks = {}
    for path in RULE_FILES:
        for match in re.finditer(r"^rule (\w+):\n(.*?)(?=^\S|\Z)", path.read_text(), re.M | re.S):
            blocks[match[1]] = match[2]
    return blocks


def derived_rules() -> dict[str, str]:
    """{rule: the rule it is made from} for `use rule base as rule with:` (it inherits base's resources)."""
    return {new: base for path in RULE_FILES
            for base, new in re.findall(r"^use rule (\w+) as (\w+) with:", path.read_text(), re.M)}


def torch_rules() -> set[str]:
    rules = {name for name, body in rule_blocks().items() if "gpu=uses_gpu()" in body}
    return rules | {new for new, base in derived_rules().items() if base in rules}


def test_every_rule_declares_threads_memory_a_log_and_a_benchmark():
    blocks = rule_blocks()
    assert len(blocks) > 30
    for name, body in blocks.items():
        for directive in ("threads:", "mem_mb=", "log:", "benchmark:"):
            assert directive in body, f"rule {name} lacks {directive}"


def test_the_slurm_profile_asks_one_gpu_for_exactly_the_torch_rules(tmp_path):
    proc = snakemake(tmp_path, "-n", "--profile", str(REPO / "profiles" / "slurm"), "--workflow-profile", "none")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    resources = dict(re.findall(r"^rule (\w+):\n(?:    .*\n)*?    resources: (.*)$", proc.stdout, re.M))
    asked = {rule for rule, res in resources.items() if ", gpu=1" in res}
    assert asked == torch_rules() == {"train_tinylm", "extract_activations", "train_sae", "train_sae_seed", "sae_sweep",
                                      "top_contexts", "sae_quality", "match_features", "train_tinyvlm", "count_neurons",
                                      "ablation", "logit_lens"}
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    assert set(profile["set-resources"]) <= set(rule_blocks()) | set(derived_rules())  # no rule name misspelt
    for rule in asked:  # each GPU job says how long, how much memory and how many CPUs feed its GPU
        wanted = profile["set-resources"][rule]
        assert f"mem_mb={wanted['mem_mb']}," in resources[rule]
        assert f"runtime={wanted['runtime']}" in resources[rule]
        assert f"cpus_per_gpu={wanted['cpus_per_gpu']}" in resources[rule]
    assert "gpu=" not in resources["dape"] and "runtime=30" in resources["dape"]  # a light CPU rule


def test_the_readme_lists_the_gpu_rules():
    readme = (REPO / "README.md").read_text()
    row = re.search(r"^\| yes \(one each\) \| (.*) \|$", readme, re.M)
    assert row and set(row[1].split(", ")) == torch_rules()
