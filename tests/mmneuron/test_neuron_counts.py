"""Counting per domain: the samples planned under a budget and the context, counts equal to a direct pass, the
Zarr layout, and the DAPE tables built from counts."""
import numpy as np
import polars as pl
import pytest
import torch
from PIL import Image

from lmscope.mmneuron import domains, neuron_counts, neuron_tables, prompts, sample_plan, tinyvlm
from lmscope.mmneuron.mlp_neurons import NeuronHooks
from lmscope.mmneuron.records import png
from lmscope.mmneuron.samples import read_index, read_rows, seeded_order
from lmscope.mmneuron.vlm_inputs import identification_inputs
from lmscope.models import load_processor, load_vlm, vlm_config

CFG = tinyvlm.TinyVLMConfig(image_size=32, patch_size=8, vision_hidden=16, vision_intermediate=32, hidden_size=32,
                            intermediate_size=48, num_heads=2, num_layers=2)


@pytest.fixture(scope="module")
def saved_vlm(tmp_path_factory):
    """A tiny LLaVA built as the workflow builds it, saved and loaded back like a hub model."""
    torch.manual_seed(0)
    texts = [prompts.identification("How many cars are ahead?", 2), "What shape are the objects?", "Is it night?"]
    model, processor = tinyvlm.build(CFG, tinyvlm.build_tokenizer(texts))
    path = tmp_path_factory.mktemp("vlm")
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    out = tmp_path_factory.mktemp("samples")
    spec = {"kind": "synthetic", "train": 20, "validation": 2, "seed": 0, "image_size": 32, "frames": 2,
            "shuffle_choices": False}
    for domain in ("common", "driving"):
        domains.prepare(domain, spec, "synthetic0", out / "sources" / domain)
        domains.merge(domain, [str(out / "sources" / domain)], out / domain)
    return out


def test_saved_vlm_loads_with_from_pretrained_and_expands_image_tokens(saved_vlm):
    model = load_vlm({"path": str(saved_vlm)}, torch.device("cpu"), torch.float32)
    family = model.config.model_type
    processor = load_processor({"path": str(saved_vlm)}, family)
    assert family == "llava" and not model.training
    row = {"images": [png(Image.new("RGB", (32, 32)))] * 2, "question": "How many cars are ahead?"}
    ids = identification_inputs(family, processor, row, "separate")["input_ids"][0].tolist()
    assert ids.count(model.config.image_token_index) == 2 * (32 // 8) ** 2  # per frame: patches, CLS dropped
    assert ids[0] == processor.tokenizer.bos_token_id and processor.tokenizer.unk_token_id not in ids
    tiled = identification_inputs(family, processor, row, "tile")["input_ids"][0].tolist()
    assert tiled.count(model.config.image_token_index) == (32 // 8) ** 2  # the frames side by side: one image


def lengths_by_hand(processor, config, rows, frames):
    return [sample_plan.module_tokens(config, identification_inputs("llava", processor, r, frames)) for r in rows]


def test_the_plan_takes_the_seeded_order_until_the_budget_and_checks_the_context(saved_vlm, samples):
    config = vlm_config({"path": str(saved_vlm)})
    processor = load_processor({"path": str(saved_vlm)}, "llava")
    build = lambda row: identification_inputs("llava", processor, row, "separate")  # noqa: E731
    split = samples / "driving"
    order = seeded_order(read_index(split, "train"), seed=3)
    rows = list(read_rows(split, "train", order))
    tokens = lengths_by_hand(processor, config, rows, "separate")
    lm = [t["lm"] for t in tokens]
    budget = {"tokens": sum(lm[:3]) + lm[3] - 1, "module": "lm"}  # the fourth sample would go one token over
    chosen = sample_plan.plan(str(split), "train", build, config, budget, "driving", seed=3)
    assert chosen.positions == order[:3] and chosen.tokens["lm"] == sum(lm[:3]) and not chosen.exhausted
    vision = [t["vision"] for t in tokens]
    assert vision[0] == 2 * (1 + (32 // 8) ** 2)  # 2 frames, patches + CLS each
    chosen = sample_plan.plan(str(split), "train", build, config, {"tokens": sum(vision[:5]), "module": "vision"},
                              "driving", seed=3)
    assert chosen.positions == order[:5]
    chosen = sample_plan.plan(str(split), "train", build, config, {"samples": 4}, "driving", seed=3)
    assert chosen.positions == order[:4] and chosen.candidates == 20
    everything = sample_plan.plan(str(split), "train", build, config, {"samples": 10 ** 6}, "driving", seed=3)
    assert everything.positions == order and everything.exhausted
    # too long for the context: stop with the domain, the sample and both numbers, or skip and count
    limit = sorted(lm)[10]
    assert 0 < sum(n > limit for n in lm) < len(lm)
    config.text_config.max_position_embeddings = limit
    first = next(i for i, n in enumerate(lm) if n > limit)
    with pytest.raises(ValueError, match=rf"domain driving: sample {rows[first]['id']} needs {lm[first]} "
                                         rf"language-model positions .*max_position_embeddings {limit}\."):
        sample_plan.plan(str(split), "train", build, config, {"samples": 100}, "driving", seed=3)
    skipped = sample_plan.plan(str(split), "train", build, config, {"samples": 100}, "driving", "skip", seed=3)
    assert skipped.positions == [p for p, n in zip(order, lm) if n <= limit]
    assert len(skipped.too_long) == sum(n > limit for n in lm)
    generated = sample_plan.plan(str(split), "train", build, config, {"samples": 100}, "driving", "skip", seed=3,
                                 generated=2)
    assert generated.positions == [p for p, n in zip(order, lm) if n + 2 <= limit]


def test_counts_match_a_direct_pass_over_the_same_samples(saved_vlm, samples):
    model = load_vlm({"path": str(saved_vlm)}, torch.device("cpu"), torch.float32)
    family, processor = "llava", load_processor({"path": str(saved_vlm)}, "llava")
    rows = list(read_rows(samples / "driving", "train", [4, 0, 7]))
    result = neuron_counts.count(model, processor, family, rows, "separate", torch.device("cpu"), torch.float32)
    assert result["samples"] == 3
    assert result["tokens"]["lm"] == sum(identification_inputs(family, processor, r, "separate")["input_ids"].shape[1]
                                         for r in rows)
    assert result["tokens"]["vision"] == 3 * 2 * (1 + (32 // 8) ** 2)  # the plan's formula, measured by the hooks
    hooks = NeuronHooks(model)
    with hooks.counting(), torch.no_grad():
        for r in rows:
            model(**identification_inputs(family, processor, r, "separate"))
    hooks.remove()
    for group, layers in hooks.counts.items():
        assert np.array_equal(result["counts"][group], np.stack([layers[i].numpy() for i in sorted(layers)]))


def test_counts_store_round_trip_and_dape_tables(saved_vlm, samples, tmp_path):
    stores = {}
    for domain in ("common", "driving"):
        stores[domain] = str(tmp_path / domain / "counts.zarr")
        neuron_counts.run(samples=str(samples / domain), counts=stores[domain], model={"path": str(saved_vlm)},
                          frames="separate", budget={"tokens": 400, "module": "lm"}, split="train", seed=0,
                          distinct_images=True, context_overflow="stop", device="cpu", dtype="float32",
                          domain=domain, threads=torch.get_num_threads())
    counts, attrs = neuron_counts.read(stores["common"])
    assert set(counts) == {"vision", "projector", "lm"} and counts["lm"].dtype == np.int64
    assert counts["lm"].shape == (CFG.num_layers, CFG.intermediate_size) and counts["projector"].shape[0] == 1
    assert attrs["lm_tokens"] == attrs["tokens"]["lm"] <= 400 and attrs["budget"] == {"tokens": 400, "module": "lm"}
    assert not attrs["exhausted"] and attrs["candidates"] == 20
    assert (counts["lm"] <= attrs["tokens"]["lm"]).all()

    table = neuron_tables.neuron_table(stores, 0.95, 0.05)
    assert table["module"].unique(maintain_order=True).to_list() == ["vision", "projector", "lm"]
    lm = table.filter(pl.col("module") == "lm")
    assert lm.height == CFG.num_layers * CFG.intermediate_size
    expected_p = counts["lm"].ravel() / attrs["tokens"]["lm"]
    assert np.allclose(lm["p_common"].to_numpy(), expected_p)
    for module, rows in table.group_by("module"):
        assert rows["selected"].sum() <= round(0.05 * rows.height)
    assert all(d for d, s in zip(table["domains"].to_list(), table["selected"]) if s)

    t1 = neuron_tables.table1({"tiny": table})
    assert t1["domain"].to_list() == ["common", "driving", "selected (distinct)"]
    for module, name in (("vision", "Vision Encoder"), ("lm", "LLM")):
        rows = table.filter(pl.col("module") == module)
        assert t1[f"tiny {name}"].to_list() == [int(rows["domains"].list.contains("common").sum()),
                                                int(rows["domains"].list.contains("driving").sum()),
                                                int(rows["selected"].sum())]
    overlap = neuron_tables.overlap({"tiny": table})
    diagonal = overlap.filter(pl.col("domain") == pl.col("other"), pl.col("module") == "LLM")
    assert diagonal["shared"].to_list() == t1["tiny LLM"].to_list()[:2]
    layers = neuron_tables.by_layer({"tiny": table})
    assert layers.filter(pl.col("module") == "lm", pl.col("domain") == "common")["neurons"].sum() == t1["tiny LLM"][0]


def test_table1_markdown_bolds_the_largest_domain_per_module():
    frame = pl.DataFrame({"domain": ["common", "medical", "selected (distinct)"], "m Vision Encoder": [3, 7, 9],
                          "m LLM": [0, 0, 0]})
    text = neuron_tables.table1_markdown(frame)
    assert "| medical | **7** | 0 |" in text and "| common | 3 | 0 |" in text
    assert "| selected (distinct) | 9 | 0 |" in text
