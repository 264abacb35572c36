"""Configs that must plan: the micro config and the presets. Bad configs are in test_bad_input.py."""

import pytest
import yaml

from conftest import REPO, place_mmneuron_downloads, snakemake


def dry_run(tmp_path, write_config, config):
    return snakemake(tmp_path, "-n", configfile=write_config(config))


def test_the_micro_config_is_valid(tmp_path, write_config, micro_config):
    proc = dry_run(tmp_path, write_config, micro_config)
    assert proc.returncode == 0, proc.stderr
    assert "train_tinylm" in proc.stdout


@pytest.mark.parametrize("preset", ["llmjp.yaml", "llmjp-released.yaml", "pythia.yaml", "mmneuron.yaml"])
def test_presets_validate_and_plan_without_the_network(tmp_path, write_config, preset):
    place_mmneuron_downloads(tmp_path)
    # as in the repository: config.yaml first, the preset over it
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config.update(yaml.safe_load((REPO / "presets" / preset).read_text()))
    proc = snakemake(tmp_path, "-n", configfile=write_config(config))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    if preset == "mmneuron.yaml":
        assert "domains_hf" in proc.stdout and "domains_folder" in proc.stdout and "domains_rsvqa" in proc.stdout
        assert "train_tinyvlm" not in proc.stdout
        assert proc.stdout.count("rule count_neurons") == 10  # 2 VLMs x 5 domains
    else:
        assert "corpus_tokens" in proc.stdout and "train_tinylm" not in proc.stdout and "train_tinyvlm" in proc.stdout
    if preset == "llmjp-released.yaml":  # the authors' six SAEs are loaded; only the seed baseline's two trained
        assert proc.stdout.count("rule load_sae") == 6
        assert proc.stdout.count("rule train_sae:") == proc.stdout.count("rule train_sae_seed:") == 1
        assert "output: results/sae/llm-jp-3-1.8b/step-988240\n" in proc.stdout
