"""Config validation as a user meets it: `snakemake -n` with a bad value stops and names the key."""
import copy

import pytest
import yaml

from conftest import REPO, snakemake


def dry_run(tmp_path, write_config, config):
    return snakemake(tmp_path, "-n", configfile=write_config(config))


def assert_stops_naming(proc, *fragments):
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    for fragment in fragments:
        assert fragment in out, out


def test_the_micro_config_is_valid(tmp_path, write_config, micro_config):
    proc = dry_run(tmp_path, write_config, micro_config)
    assert proc.returncode == 0, proc.stderr
    assert "train_tinylm" in proc.stdout


def test_a_split_that_does_not_sum_to_one(tmp_path, write_config, micro_config):
    micro_config["corpora"][0]["split"] = {"train": 0.8, "validation": 0.2, "test": 0.1}
    assert_stops_naming(dry_run(tmp_path, write_config, micro_config), "config key corpora[0].split",
                        "sum to 1.1")


def test_tokens_per_doc_below_one(tmp_path, write_config, micro_config):
    micro_config["corpora"][0]["tokens_per_doc"] = 0
    assert_stops_naming(dry_run(tmp_path, write_config, micro_config), "['corpora'][0]['tokens_per_doc']",
                        "less than the minimum of 1")


def test_an_unknown_source_kind(tmp_path, write_config, micro_config):
    micro_config["corpora"][0]["sources"] = [{"kind": "webcrawl"}]
    assert_stops_naming(dry_run(tmp_path, write_config, micro_config),
                        "['corpora'][0]['sources'][0]['kind']", "'webcrawl' is not one of")


def test_a_missing_local_corpus_path(tmp_path, write_config, micro_config):
    micro_config["corpora"][0]["sources"] = [{"kind": "jsonl", "path": "no/such/file.jsonl", "lang": "en"}]
    assert_stops_naming(dry_run(tmp_path, write_config, micro_config), "config key corpora[0].sources[0].path",
                        "no/such/file.jsonl")


def test_an_empty_checkpoint_list(tmp_path, write_config, micro_config):
    micro_config["models"][0]["checkpoints"] = []
    assert_stops_naming(dry_run(tmp_path, write_config, micro_config), "['models'][0]['checkpoints']",
                        "should be non-empty")


@pytest.mark.parametrize("change, key", [
    (lambda c: c["models"][0].update(corpus="elsewhere"), "config key models[0].corpus"),
    (lambda c: c["models"][0].update(checkpoints=[3, 99]), "config key models[0].checkpoints[1]"),
    (lambda c: c["models"][0].update(layer=9), "config key models[0].layer"),
])
def test_cross_references_are_checked(tmp_path, write_config, micro_config, change, key):
    config = copy.deepcopy(micro_config)
    change(config)
    assert_stops_naming(dry_run(tmp_path, write_config, config), key)


@pytest.mark.parametrize("change, key, message", [
    (lambda c: c["domains"].append({"name": "space", "sources": [{"kind": "synthetic"}]}), "domains[3].name",
     "the generator draws only"),
    (lambda c: c["domains"][0].update(sources=[{"kind": "folder", "path": "nowhere", "records": "r.jsonl"}]),
     "domains[0].sources[0].path", "no such directory: nowhere"),
    (lambda c: c["domains"][0].update(sources=[{"kind": "hf", "path": "x/y", "splits": {"train": "a", "validation": "b"},
                                                "columns": {"question": "q", "answers": "a"}}]),
     "domains[0].sources[0].columns", "exactly one of image"),
    (lambda c: c["domains"][1].update(name="common"), "domains[1].name", "'common' is used twice"),
    (lambda c: c["vlms"][0]["train"].update(patch_size=5), "vlms[0].train.patch_size", "must divide image_size"),
    (lambda c: c["vlms"][0]["train"].update(image_size=48), "vlms[0].train.image_size", "differs from the synthetic"),
    (lambda c: c["vlms"].append({"name": "x", "path": "no/model"}), "vlms[1].path", "no config.json"),
    (lambda c: c["domains"][2].update(judge={"path": "no/judge"}), "domains[2].judge.path", "no classifier at"),
])
def test_branch_b_cross_references_are_checked(tmp_path, write_config, micro_config, change, key, message):
    config = copy.deepcopy(micro_config)
    change(config)
    assert_stops_naming(dry_run(tmp_path, write_config, config), f"config key {key}", message)


def test_a_vlm_without_train_path_or_repo(tmp_path, write_config, micro_config):
    micro_config["vlms"] = [{"name": "x"}]
    assert_stops_naming(dry_run(tmp_path, write_config, micro_config), "['vlms'][0]", "is not valid under any")


@pytest.mark.parametrize("preset", ["llmjp.yaml", "pythia.yaml", "mmneuron.yaml"])
def test_presets_validate_and_plan_without_the_network(tmp_path, write_config, preset):
    for folder in ("data/rsvqa_hr", "data/lingoqa"):  # the mmneuron preset's folder sources, as a user fills them
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "records.jsonl").write_text("")
    # as in the repository: config.yaml first, the preset over it
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config.update(yaml.safe_load((REPO / "presets" / preset).read_text()))
    proc = snakemake(tmp_path, "-n", configfile=write_config(config))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    if preset == "mmneuron.yaml":
        assert "domains_hf" in proc.stdout and "domains_folder" in proc.stdout and "train_tinyvlm" not in proc.stdout
        assert proc.stdout.count("rule count_neurons") == 10  # 2 VLMs x 5 domains
    else:
        assert "corpus_tokens" in proc.stdout and "train_tinylm" not in proc.stdout and "train_tinyvlm" in proc.stdout
