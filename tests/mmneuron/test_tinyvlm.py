"""The tiny LLaVA's pieces: tokenizer, batches with the loss on answers only, baselines, that training learns, and
that its config's defaults are the schema's."""
import dataclasses

import polars as pl
import torch
import yaml

from conftest import REPO
from lmscope.mmneuron import domains, prompts, tinyvlm

CFG = tinyvlm.TinyVLMConfig(image_size=32, patch_size=8, vision_hidden=16, vision_intermediate=32, hidden_size=32,
                            intermediate_size=64, num_heads=2, num_layers=2, batch_size=8, lr=3e-3, warmup_steps=2)


def test_tokenizer_keeps_words_whole_and_image_special():
    tok = tinyvlm.build_tokenizer(["USER: <image> Question: Is it night? ASSISTANT:", "yes", "no"])
    ids = tok("USER: <image> Question: Is it night? ASSISTANT: yes")["input_ids"]
    assert tok.convert_ids_to_tokens(ids) == ["<s>", "USER", ":", "<image>", "Question", ":", "Is", "it", "night",
                                              "?", "ASSISTANT", ":", "yes"]
    assert tok.convert_tokens_to_ids("<image>") in tok.all_special_ids
    assert tok("purple")["input_ids"][-1] == tok.unk_token_id


def item(domain, question, answer, prompt, answer_ids):
    return tinyvlm.Encoded(domain, prompt, answer_ids, torch.zeros(1, 3, 4, 4), [answer], question)


def test_training_batches_score_answers_only_and_generation_pads_left():
    a, b = item("d", "q", "x", [1, 5, 6], [7, 2]), item("d", "q", "y", [1, 5], [8, 2])
    train = tinyvlm.collate([a, b], pad=0, with_answers=True)
    assert train["input_ids"].tolist() == [[1, 5, 6, 7, 2], [1, 5, 8, 2, 0]]
    assert train["labels"].tolist() == [[-100, -100, -100, 7, 2], [-100, -100, 8, 2, -100]]
    assert train["attention_mask"].tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]]
    generate = tinyvlm.collate([a, b], pad=0, with_answers=False)
    assert generate["input_ids"].tolist() == [[1, 5, 6], [0, 1, 5]] and "labels" not in generate
    assert generate["pixel_values"].shape[0] == 2


def test_question_prior_baseline_and_chance_by_hand():
    train = [item("d", "color?", "red", [], []), item("d", "color?", "red", [], []),
             item("d", "color?", "blue", [], []), item("d", "night?", "no", [], [])]
    val = [item("d", "color?", "blue", [], []), item("d", "night?", "no", [], []), item("e", "new?", "red", [], [])]
    assert tinyvlm.prior_baseline(train, val) == ["red", "no", "red"]  # an unseen question: the overall majority
    assert tinyvlm.accuracy_by_domain(val, ["red", "no", "red"]) == {"d": 0.5, "e": 1.0}
    assert tinyvlm.uniform_chance(train, val) == {"d": (1 / 2 + 1) / 2, "e": 1.0}


def test_a_few_steps_fit_a_small_training_set(tmp_path):
    """Trained on 16 questions, the model must fit them much better than at the start: the loop learns."""
    torch.manual_seed(0)
    spec = {"kind": "synthetic", "train": 16, "validation": 4, "seed": 0, "image_size": 32, "frames": 2,
            "shuffle_choices": False}
    domains.prepare("common", spec, "synthetic0", tmp_path / "common")
    table = pl.read_parquet(tmp_path / "common" / "train.parquet")
    texts = [prompts.evaluation("llava", q, None) for q in table["question"]] + [a[0] for a in table["answers"]]
    model, processor = tinyvlm.build(CFG, tinyvlm.build_tokenizer(texts))
    items = tinyvlm.encode(table, processor, {}, "separate")
    batch = tinyvlm.collate(items, processor.tokenizer.pad_token_id, with_answers=True)
    with torch.no_grad():
        before = model(**batch).loss.item()
    cfg = tinyvlm.TinyVLMConfig(**{**CFG.__dict__, "max_steps": 60, "eval_every": 60, "margin": 10.0})
    result = tinyvlm.fit(model, processor, items, items, cfg)
    with torch.no_grad():
        after = model(**batch).loss.item()
    assert after < 0.5 * before, (before, after)  # from uniform over the vocabulary to the answers
    assert result["steps"] == 60 and not result["above_baseline"]


def test_config_defaults_are_the_schemas():
    """The workflow passes every key (the schema fills in defaults); tests build configs from these defaults."""
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    defaults = {key: spec["default"] for key, spec in schema["$defs"]["vlm_train"]["properties"].items()}
    assert {f.name: f.default for f in dataclasses.fields(tinyvlm.TinyVLMConfig)} == defaults
