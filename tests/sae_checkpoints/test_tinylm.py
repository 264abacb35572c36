import dataclasses
import math

import pytest
import torch
import yaml

from conftest import REPO
from lmscope import tokenizer
from lmscope.sae_checkpoints import corpus, text_sources, tinylm
from lmscope.errors import InputError
from lmscope.models import load_causal_lm

CFG = dict(hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64, seq_len=64, batch_size=8,
           steps=100, lr=1e-2, warmup_steps=5, eval_batches=4, seed=0)


@pytest.fixture(scope="module")
def data():
    torch.set_num_threads(2)
    docs, _ = text_sources.read_sources([{"kind": "synthetic", "n_documents": 200, "seed": 2}], ["ja", "en"], 4000, "c")
    splits = corpus.assign_splits([d.lang for d in docs], {"train": 0.8, "validation": 0.1, "test": 0.1}, 0)
    tok = tokenizer.train_bpe([d.text for d, s in zip(docs, splits) if s == "train"], vocab_size=600)

    def blocks(split):
        ids = tok([d.text for d, s in zip(docs, splits) if s == split], add_special_tokens=False)["input_ids"]
        return tinylm.pack([ids], CFG["seq_len"], tok.bos_token_id, tok.eos_token_id)

    return tok, blocks("train"), blocks("validation")


def model_for(tok, cfg):
    return tinylm.build_model(cfg, len(tok), tok.bos_token_id, tok.eos_token_id, tok.pad_token_id)


def test_pack_puts_bos_and_eos_around_documents_and_cuts_blocks():
    blocks = tinylm.pack([[[5, 6, 7]], [[8, 9]]], 4, bos=1, eos=2)  # two batches of one document each
    assert blocks.tolist() == [[1, 5, 6, 7], [2, 1, 8, 9]]  # the trailing EOS does not fill a block
    assert torch.equal(tinylm.pack([[[5, 6, 7], [8, 9]]], 4, bos=1, eos=2), blocks)  # batching changes nothing


def test_validation_loss_falls_well_below_its_start_and_checkpoints_load_back(data, tmp_path):
    tok, train_blocks, val_blocks = data
    cfg = tinylm.TinyLMConfig(**CFG)
    model = model_for(tok, cfg)
    saved = []

    def save(step, m):
        m.save_pretrained(tmp_path / f"step-{step}")
        saved.append(step)

    history = tinylm.fit(model, train_blocks, val_blocks, cfg, [10, 100], save)
    start, end = history[0]["val_loss"], history[-1]["val_loss"]
    assert start == pytest.approx(math.log(len(tok)), rel=0.1)  # an untrained model is near uniform
    assert end < 0.6 * start
    assert saved == [10, 100] and [r["step"] for r in history] == list(range(101))
    loaded = load_causal_lm({"path": str(tmp_path / "step-100")}, torch.device("cpu"), torch.float32)
    with torch.no_grad():
        assert torch.equal(loaded(val_blocks[:2]).logits, model.eval()(val_blocks[:2]).logits)


def test_same_seed_gives_identical_weights(data):
    tok, train_blocks, val_blocks = data
    cfg = tinylm.TinyLMConfig(**{**CFG, "steps": 4, "eval_batches": 1})
    runs = []
    for _ in range(2):
        model = model_for(tok, cfg)
        tinylm.fit(model, train_blocks, val_blocks, cfg, [], lambda s, m: None)
        runs.append(model.state_dict())
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])


def test_a_non_finite_loss_stops_naming_step_and_learning_rate(data):
    tok, train_blocks, val_blocks = data
    cfg = tinylm.TinyLMConfig(**{**CFG, "steps": 3, "eval_batches": 1})
    model = model_for(tok, cfg)
    with torch.no_grad():
        model.model.embed_tokens.weight.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match=r"step 1 \(lr 0.01\)"):
        tinylm.fit(model, train_blocks, val_blocks, cfg, [], lambda s, m: None)


def test_a_missing_checkpoint_directory_is_an_error_naming_it(tmp_path):
    with pytest.raises(InputError, match="step-7"):
        load_causal_lm({"name": "step-7", "path": str(tmp_path / "nothing")}, torch.device("cpu"), torch.float32)


def test_run_starts_documents_with_the_configured_bos_when_the_tokenizer_has_none(tmp_path):
    # The LM must see the BOS id the corpus windows start with (tokenizer.bos_id), not a rule of its own.
    import polars as pl

    texts = [d.text for d in text_sources.read_sources([{"kind": "synthetic", "n_documents": 40, "seed": 4}],
                                                  ["ja", "en"], 4000, "c")[0]]
    tok = tokenizer.train_bpe(texts, vocab_size=400, with_bos=False)
    tok.save_pretrained(tmp_path / "tok")
    pl.DataFrame({"split": ["train"] * 60 + ["validation"] * 20, "text": texts[:80]}).write_parquet(
        tmp_path / "docs.parquet")
    cfg = {**CFG, "steps": 2, "eval_batches": 1}
    tinylm.run(documents=tmp_path / "docs.parquet", checkpoints=tmp_path / "out", train=cfg, steps=[2],
               tokenizer={"path": str(tmp_path / "tok")}, bos_token_id=7, key="tokenizer", device="cpu", threads=1)
    model = load_causal_lm({"path": str(tmp_path / "out" / "step-2")}, torch.device("cpu"), torch.float32)
    assert model.config.bos_token_id == 7


def test_config_defaults_are_the_schemas():
    """Defaults live in the schema (models[].train); the dataclass's, which tests build on, must be the same."""
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    defaults = {key: spec["default"] for key, spec in schema["$defs"]["train"]["properties"].items()}
    assert {f.name: f.default for f in dataclasses.fields(tinylm.TinyLMConfig)} == defaults
