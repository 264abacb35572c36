"""Counting per domain under a token budget, the Zarr layout, and the DAPE tables built from counts."""
import numpy as np
import polars as pl
import pytest
import torch
from PIL import Image

from lmscope.mmneuron import domains, neuron_counts, neuron_tables, prompts, tinyvlm
from lmscope.mmneuron.mlp_neurons import NeuronHooks
from lmscope.mmneuron.vlm_inputs import identification_inputs
from lmscope.models import load_vlm

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
    spec = {"kind": "synthetic", "train": 12, "validation": 2, "seed": 0, "image_size": 32, "frames": 2,
            "shuffle_choices": False}
    for domain in ("common", "driving"):
        domains.prepare(domain, spec, "synthetic0", out / domain)
    return out


def test_saved_vlm_loads_with_from_pretrained_and_expands_image_tokens(saved_vlm):
    model, processor, family = load_vlm({"path": str(saved_vlm)}, torch.device("cpu"), torch.float32)
    assert family == "llava" and not model.training
    frames = [Image.new("RGB", (32, 32))] * 2
    batch = identification_inputs(family, processor, frames, "How many cars are ahead?")
    ids = batch["input_ids"][0].tolist()
    assert ids.count(model.config.image_token_index) == 2 * (32 // 8) ** 2  # per frame: patches, CLS dropped
    assert ids[0] == processor.tokenizer.bos_token_id and processor.tokenizer.unk_token_id not in ids


def test_budget_is_respected_per_domain_and_counts_match_a_direct_pass(saved_vlm, samples, tmp_path):
    model, processor, family = load_vlm({"path": str(saved_vlm)}, torch.device("cpu"), torch.float32)
    table = pl.read_parquet(samples / "driving" / "train.parquet")
    lengths = [identification_inputs(family, processor, domains.open_images(r["images"]), r["question"])
               ["input_ids"].shape[1]
               for r in table.iter_rows(named=True)]
    budget = sum(lengths[:3]) + lengths[3] - 1  # the fourth sample would go one token over
    result = neuron_counts.count(model, processor, family, table, budget, torch.device("cpu"), torch.float32)
    assert result["samples"] == 3 and result["lm_tokens"] == sum(lengths[:3]) <= budget
    assert not result["exhausted"]
    assert result["tokens"]["lm"] == sum(lengths[:3])
    assert result["tokens"]["vision"] == 3 * 2 * (1 + (32 // 8) ** 2)  # 2 frames, patches + CLS each
    # the same three samples through the plain hook mechanism give the same counts
    hooks = NeuronHooks(model)
    with hooks.counting(), torch.no_grad():
        for r in table.head(3).iter_rows(named=True):
            model(**identification_inputs(family, processor, domains.open_images(r["images"]), r["question"]))
    hooks.remove()
    for group, layers in hooks.counts.items():
        assert np.array_equal(result["counts"][group], np.stack([layers[i].numpy() for i in sorted(layers)]))
    everything = neuron_counts.count(model, processor, family, table, 10 ** 9, torch.device("cpu"), torch.float32)
    assert everything["samples"] == table.height and everything["exhausted"]
    with pytest.raises(ValueError, match="no sample fits in the token budget 5"):
        neuron_counts.count(model, processor, family, table, 5, torch.device("cpu"), torch.float32)


def test_counts_store_round_trip_and_dape_tables(saved_vlm, samples, tmp_path):
    stores = {}
    for domain in ("common", "driving"):
        stores[domain] = str(tmp_path / domain / "counts.zarr")
        neuron_counts.run(samples=str(samples / domain), counts=stores[domain], model={"path": str(saved_vlm)},
                          budget=400, split="train", device="cpu", dtype="float32", domain=domain,
                          threads=torch.get_num_threads())
    counts, attrs = neuron_counts.read(stores["common"])
    assert set(counts) == {"vision", "projector", "lm"} and counts["lm"].dtype == np.int64
    assert counts["lm"].shape == (CFG.num_layers, CFG.intermediate_size) and counts["projector"].shape[0] == 1
    assert attrs["lm_tokens"] <= 400 and attrs["budget"] == 400
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
