"""Bad configs and inputs, as a user meets them: each stops with one paragraph naming what is wrong, never a bare
traceback. The table below is the list (README, "When the input is wrong").

Config errors stop `snakemake -n` before anything runs; input errors stop the job that reads the input, whose
message (lmscope.logs) reaches the terminal as `lmscope error: ...`.
"""
import copy
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from conftest import MICRO, snakemake


def _jsonl(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _folder_domain(c, tmp, records, images=()):
    """Domain common reads a folder source of `records` (and image files {name: bytes}) in tmp/vqa."""
    _jsonl(tmp / "vqa" / "records.jsonl", records)
    (tmp / "vqa").mkdir(exist_ok=True)
    for name, data in dict(images).items():
        (tmp / "vqa" / name).write_bytes(data)
    c["domains"][0]["sources"] = [{"kind": "folder", "path": "vqa", "records": "records.jsonl"}]


def _png():
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (32, 32), "red").save(out, format="PNG")
    return out.getvalue()


def _sheet(c, tmp):
    (tmp / "sheet.csv").write_text("feature,labels\n3,token\n")
    c["granularity"]["sheets"] = {"step-99": "sheet.csv"}


def _released_sae(c, tmp, d=32, drop=None):
    """models[0]'s step-3 analyses an SAE of width d in tmp/sae (SAELens layout), without tensor `drop`."""
    from safetensors.torch import load_file, save_file

    from lmscope.sae_checkpoints.sae import TopKSAE

    TopKSAE(d, 2 * d, 4, seed=0).save(tmp / "sae", {})
    weights = tmp / "sae" / "sae_weights.safetensors"
    save_file({k: v for k, v in load_file(weights).items() if k != drop}, weights)
    c["models"][0]["checkpoints"][0] = {"step": 3, "sae": {"path": "sae"}}


# (id, change(config, tmp_path), fragments that must all appear on one line of the output)
CONFIG_ERRORS = [
    ("released SAE of another width", lambda c, t: _released_sae(c, t, d=16),
     ["config key models[0].checkpoints[0].sae:", "sae_weights.safetensors is an SAE of d_in = 16",
      "the model's layer has width 32"]),
    ("released SAE missing a tensor", lambda c, t: _released_sae(c, t, drop="b_dec"),
     ["config key models[0].checkpoints[0].sae:", "sae/sae_weights.safetensors: no tensor 'b_dec'"]),
    ("wrong type", lambda c, t: c["sae"].update(k="four"), ["config key sae.k", "'four' is not of type 'integer'"]),
    ("unknown key", lambda c, t: c["sae"].update(top_k=4),
     ["config key sae", "'top_k' was unexpected", "allowed here:", "expansion_factor"]),
    ("unknown top-level key", lambda c, t: c.update(langauge={}), ["config:", "'langauge' was unexpected"]),
    ("impossible K", lambda c, t: c["sae"].update(k=300),
     ["config key sae.k", "K=300", "has only 256", "hidden_size 32 of models[0].train"]),
    ("impossible K in the sweep", lambda c, t: c["sae"]["sweep"].update(k=[4, 65]),
     ["config key sae.sweep.k", "K=65"]),
    ("seed baseline without another seed", lambda c, t: c.update(matching={"baseline_seed": 0}),
     ["config key matching.baseline_seed", "equals sae.seed (0)"]),
    ("decoder matching without a shared basis", lambda c, t: c.update(matching={"by": "decoder_cosine"}),
     ["config key matching.by", "set sae.init: previous"]),
    ("number below its minimum", lambda c, t: c["corpora"][0].update(tokens_per_doc=0),
     ["config key corpora[0].tokens_per_doc", "0 is less than the minimum of 1"]),
    ("split fractions", lambda c, t: c["corpora"][0].update(split={"train": 0.8, "validation": 0.2, "test": 0.1}),
     ["config key corpora[0].split", "sum to 1.1"]),
    ("unknown source kind", lambda c, t: c["corpora"][0].update(sources=[{"kind": "webcrawl"}]),
     ["config key corpora[0].sources[0].kind", "'webcrawl' is not one of"]),
    ("corpus file missing", lambda c, t: c["corpora"][0].update(
        sources=[{"kind": "jsonl", "path": "no/such/file.jsonl", "lang": "en"}]),
     ["config key corpora[0].sources[0].path", "no such file: no/such/file.jsonl"]),
    ("no checkpoints", lambda c, t: c["models"][0].update(checkpoints=[]),
     ["config key models[0].checkpoints", "should be non-empty"]),
    ("checkpoint path that does not exist", lambda c, t: (c["models"][0].pop("train"), c["models"][0].update(
        checkpoints=[{"name": "final", "path": "no/such/model"}])),
     ["config key models[0].checkpoints[0].path", "no such directory: no/such/model"]),
    ("checkpoint after the last step", lambda c, t: c["models"][0].update(checkpoints=[3, 99]),
     ["config key models[0].checkpoints[1]", "step 99 is after the last training step (30)"]),
    ("layer out of range", lambda c, t: c["models"][0].update(layer=9),
     ["config key models[0].layer", "layer 9 > num_layers 2"]),
    ("model on an unknown corpus", lambda c, t: c["models"][0].update(corpus="elsewhere"),
     ["config key models[0].corpus", "no corpus named 'elsewhere'"]),
    ("labelling sheet for an unknown checkpoint", _sheet,
     ["config key granularity.sheets.step-99", "not a checkpoint of the first model"]),
    ("example checkpoint that does not exist", lambda c, t: c.setdefault("examples", {}).update(
        checkpoints=["step-3", "step-99"]), ["config key examples.checkpoints[1]", "'step-99' is not a checkpoint"]),
    ("example checkpoints out of training order", lambda c, t: c.setdefault("examples", {}).update(
        checkpoints=["step-30", "step-3"]), ["config key examples.checkpoints:", "not in training order"]),
    ("domain without a generator", lambda c, t: c["domains"].append({"name": "space", "sources": [{"kind": "synthetic"}]}),
     ["config key domains[3].name", "the generator draws only"]),
    ("domain named twice", lambda c, t: c["domains"][1].update(name="common"),
     ["config key domains[1].name", "'common' is used twice"]),
    ("folder source missing", lambda c, t: c["domains"][0].update(
        sources=[{"kind": "folder", "path": "nowhere", "records": "r.jsonl"}]),
     ["config key domains[0].sources[0].path", "no such directory: nowhere"]),
    ("hub source without an image column", lambda c, t: c["domains"][0].update(sources=[{
        "kind": "hf", "path": "x/y", "splits": {"train": "a", "validation": "b"},
        "columns": {"question": "q", "answers": "a"}}]),
     ["config key domains[0].sources[0].columns", "exactly one of image"]),
    ("patch size", lambda c, t: c["vlms"][0]["train"].update(patch_size=5),
     ["config key vlms[0].train.patch_size", "must divide image_size"]),
    ("VLM image size off the drawings", lambda c, t: c["vlms"][0]["train"].update(image_size=48),
     ["config key vlms[0].train.image_size", "differs from the synthetic"]),
    ("judge path without a classifier", lambda c, t: c["domains"][2].update(judge={"path": "no/judge"}),
     ["config key domains[2].judge.path", "no classifier at"]),
    ("VLM path without a model", lambda c, t: c["vlms"].append({"name": "x", "path": "no/model"}),
     ["config key vlms[1].path", "no model at no/model"]),
    ("VLM with no source", lambda c, t: c.update(vlms=[{"name": "x"}]),
     ["config key vlms[0]", "give train (a tiny VLM trained here), path or repo"]),
]


def _one_line_has(out: str, fragments: list[str]) -> bool:
    return any(all(f in line for f in fragments) for line in out.splitlines())


@pytest.fixture(scope="module")
def config_dry_runs(tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    """{case id: its `snakemake -n`}, every case of CONFIG_ERRORS in a folder of its own, two dry runs at a time
    (each is one busy core for about 3 s)."""
    def dry_run(case):
        name, change, _ = case
        workdir = tmp_path_factory.mktemp("bad-config")
        config = yaml.safe_load(MICRO.read_text())
        change(config, workdir)
        (workdir / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
        return name, snakemake(workdir, "-n", configfile=workdir / "config.yaml")

    with ThreadPoolExecutor(2) as pool:
        return dict(pool.map(dry_run, CONFIG_ERRORS))


@pytest.mark.parametrize("name, fragments", [(case[0], case[2]) for case in CONFIG_ERRORS],
                         ids=[case[0] for case in CONFIG_ERRORS])
def test_a_bad_config_stops_the_dry_run_with_one_paragraph(config_dry_runs, name, fragments):
    proc = config_dry_runs[name]
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert _one_line_has(out, fragments), out
    assert "Traceback" not in out


# (id, change(config, tmp_path), target, fragments): the job that reads the bad input stops with them
INPUT_ERRORS = [
    ("empty corpus after filtering", lambda c, t: (
        _jsonl(t / "docs.jsonl", [{"text": "Bonjour tout le monde, voici un texte.", "lang": "fr"}] * 20),
        c["corpora"][0].update(sources=[{"kind": "jsonl", "path": "docs.jsonl", "lang_field": "lang"}])),
     "results/corpus/micro/sources.json", ["lmscope error: corpora[0].sources: no usable documents"]),
    ("tokenizer on the hub while offline", lambda c, t: c["corpora"][0].update(
        tokenizer={"kind": "pretrained", "repo": "nobody/no-tokenizer"}),
     "results/corpus/micro/tokens.zarr",
     ["lmscope error: tokenizer: cannot load 'nobody/no-tokenizer'", "HF_HUB_OFFLINE is set", "hf download"]),
    ("released SAE on the hub while offline", lambda c, t: c["models"][0]["checkpoints"].__setitem__(
        0, {"step": 3, "sae": {"repo": "nobody/no-sae"}}), "results/sae/micromodel/loaded/step-3",
     ["lmscope error: models[0].checkpoints[0].sae: cannot load 'nobody/no-sae'", "HF_HUB_OFFLINE is set",
      "hf download"]),
    ("VQA record without answers", lambda c, t: _folder_domain(
        c, t, [{"id": "q1", "image": "a.png", "question": "What colour?", "split": "train"}], {"a.png": _png()}),
     "results/domains/common/sources/folder0", ["lmscope error: vqa/records.jsonl, record q1: no answer"]),
    ("VQA record without an image", lambda c, t: _folder_domain(
        c, t, [{"id": "q1", "question": "What colour?", "answers": ["red"]}]),
     "results/domains/common/sources/folder0", ["lmscope error:", "record q1: needs image (or images) and question"]),
    ("records that are not JSON", lambda c, t: (_folder_domain(c, t, []),
                                                (t / "vqa" / "records.jsonl").write_text('{"id": 1}\n{oops\n')),
     "results/domains/common/sources/folder0", ["lmscope error:", "records.jsonl, line 2: not JSON"]),
    ("every image corrupt", lambda c, t: _folder_domain(
        c, t, [{"id": f"q{i}", "image": "bad.png", "question": "What colour?", "answers": ["red"],
                "split": split} for i, split in enumerate(["train", "validation"])], {"bad.png": b"not a png"}),
     "results/domains/common/samples", ["lmscope error: domain common: no train samples from its sources"]),
    ("CUDA asked for on a machine without it", lambda c, t: c.update(device="cuda"),
     "results/models/micromodel",
     ["lmscope error: config key device: 'cuda' asked for, but torch sees no CUDA device"]),
]


@pytest.mark.slow
@pytest.mark.parametrize("change, target, fragments", [case[1:] for case in INPUT_ERRORS],
                         ids=[case[0] for case in INPUT_ERRORS])
def test_bad_input_stops_its_job_with_one_paragraph(tmp_path, write_config, micro_config, change, target,
                                                    fragments):
    config = copy.deepcopy(micro_config)
    change(config, tmp_path)
    proc = snakemake(tmp_path, "--cores", "2", target, configfile=write_config(config))
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert _one_line_has(out, fragments), out
    assert "Traceback" not in out
    assert not (tmp_path / target).exists()  # nothing that looks complete


def test_a_corrupt_image_is_skipped_counted_and_named(tmp_path, write_config, micro_config):
    config = copy.deepcopy(micro_config)
    rows = [{"id": f"q{i}", "image": "bad.png" if i == 1 else "good.png", "question": "What colour?",
             "answers": ["red"], "split": "train"} for i in range(3)]
    _folder_domain(config, tmp_path, rows, {"good.png": _png(), "bad.png": b"\x89PNG truncated"})
    proc = snakemake(tmp_path, "--cores", "1", "results/domains/common/sources/folder0",
                     configfile=write_config(config))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    stats = json.loads((tmp_path / "results/domains/common/sources/folder0/stats.json").read_text())
    assert stats["splits"]["train"] == {"samples": 2, "skipped": 1, "skipped_ids": ["q1"]}
    log = (tmp_path / "results/logs/domains_folder/common_0.log").read_text()
    assert "skipped sample q1, unreadable image" in log


def test_a_job_prints_an_input_error_as_one_paragraph_and_a_bug_with_its_traceback(tmp_path):
    # read_sheet's unknown label, as the granularity_agreement job meets it
    sheet = tmp_path / "sheet.csv"
    sheet.write_text("feature,label\n3,tokn\n", encoding="utf-8")
    job = ("from lmscope.logs import log_to; from lmscope.sae_checkpoints.labelling import read_sheet; "
           f"log_to({str(tmp_path / 'job.log')!r}); read_sheet({str(sheet)!r}, [3])")
    proc = subprocess.run([sys.executable, "-c", job], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"lmscope error: labelling sheet {sheet}, line 2: label 'tokn' for feature 3")
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert "lmscope error: labelling sheet" in (tmp_path / "job.log").read_text()

    bug = f"from lmscope.logs import log_to; log_to({str(tmp_path / 'bug.log')!r}); [][1]"
    proc = subprocess.run([sys.executable, "-c", bug], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "IndexError" in proc.stderr and "bug.log" in proc.stderr
    assert "Traceback" in (tmp_path / "bug.log").read_text()

