"""The micro workflow end to end: corpus and tiny-LM rules through Snakemake in a temporary directory."""
import json

import numpy as np
import polars as pl
import pytest
import torch
import zarr

from conftest import snakemake
from lmscope.models import load_causal_lm
from lmscope.tokenizer import load_tokenizer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("micro")
    proc = snakemake(workdir, "--cores", "2")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return workdir


def test_corpus_artifacts_agree_with_each_other(built, micro_config):
    d = built / "results" / "corpus" / "micro"
    docs = pl.read_parquet(d / "documents.parquet")
    tokens = zarr.open_array(str(d / "tokens.zarr"), mode="r")
    stats = json.loads((d / "stats.json").read_text())
    assert tokens.dtype == np.int32 and tokens.shape == (len(docs), 1 + micro_config["corpora"][0]["tokens_per_doc"])
    tok = load_tokenizer(str(d / "tokenizer"))
    assert (tokens[:, 0] == tok.bos_token_id).all()
    # every row is its document's first tokens
    for doc_id in (0, len(docs) - 1):
        ids = tok(docs["text"][doc_id], add_special_tokens=False)["input_ids"][:tokens.shape[1] - 1]
        assert tokens[doc_id, 1:].tolist() == ids
    for split, (start, stop) in stats["split_offsets"].items():
        assert set(docs["split"][start:stop]) == {split}
        langs = docs["lang"][start:stop].value_counts().sort("lang")["count"].to_list()
        assert len(langs) == 2 and langs[0] == langs[1]
    assert tokens.attrs["bos_token_id"] == tok.bos_token_id
    assert sum(stats["documents"].values()) == len(docs)
    concepts = pl.read_parquet(d / "concepts.parquet")
    assert concepts["doc_id"].max() < len(docs) and concepts["position"].max() < tokens.shape[1] - 1


def test_checkpoints_load_with_from_pretrained_and_the_model_learned(built):
    d = built / "results" / "models" / "micromodel"
    assert sorted(p.name for p in d.iterdir() if not p.name.startswith(".")) == ["loss.pdf", "step-10", "step-3", "step-30", "train_log.csv"]
    for step in (3, 10, 30):
        model = load_causal_lm({"path": str(d / f"step-{step}")}, torch.device("cpu"), torch.float32)
        assert model.config.num_hidden_layers == 2
        assert load_tokenizer(str(d / f"step-{step}")).bos_token_id is not None
    log = pl.read_csv(d / "train_log.csv")
    assert log["step"].to_list() == list(range(31))
    val = log.filter(pl.col("val_loss").is_not_nan())
    assert val["step"].to_list() == [0, 3, 10, 30]
    assert val["val_loss"][-1] < val["val_loss"][0]
    assert (d / "loss.pdf").read_bytes().startswith(b"%PDF")


def test_activation_stores_hold_the_layer_of_every_checkpoint_and_split(built, micro_config):
    corpus = built / "results" / "corpus" / "micro"
    tokens = zarr.open_array(str(corpus / "tokens.zarr"), mode="r")
    per_doc, layer = tokens.shape[1] - 1, micro_config["models"][0]["layer"]
    for step in (3, 10, 30):
        model = load_causal_lm({"path": str(built / "results" / "models" / "micromodel" / f"step-{step}")},
                               torch.device("cpu"), torch.float32)
        out = built / "results" / "activations" / "micromodel" / f"step-{step}"
        for split, (start, stop) in tokens.attrs["split_offsets"].items():
            store = zarr.open_array(str(out / f"{split}.zarr"), mode="r")
            assert store.shape == ((stop - start) * per_doc, 32) and store.dtype == np.float16
            assert store.attrs["checkpoint"] == f"step-{step}" and store.attrs["layer"] == layer
            doc = stop - 1  # the split's last document: rows (stop - start - 1) * per_doc ...
            with torch.no_grad():
                h = model(torch.from_numpy(tokens[doc:doc + 1].astype(np.int64)),
                          output_hidden_states=True).hidden_states[layer][0, 1:]
            expected = torch.nn.functional.normalize(h, dim=-1).numpy()
            rows = store[(doc - start) * per_doc:(doc - start + 1) * per_doc].astype(np.float32)
            np.testing.assert_allclose(rows, expected, atol=2e-3)
            throughput = json.loads((out / "throughput.json").read_text())[split]
            assert throughput["tokens"] == store.shape[0] and throughput["tokens_per_s"] > 0


def test_nothing_half_written_and_a_second_run_has_nothing_to_do(built):
    assert not [p for p in (built / "results").rglob("*") if ".tmp-" in p.name]
    assert (built / "results" / "logs" / "train_tinylm" / "micromodel.log").stat().st_size > 0
    proc = snakemake(built, "-n")
    assert proc.returncode == 0 and "Nothing to be done" in proc.stdout + proc.stderr
