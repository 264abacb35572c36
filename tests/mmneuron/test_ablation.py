"""Switching neurons off: exact zeros where chosen and nowhere else, nothing off changes nothing, deviation by
hand, and the random baseline's per-layer counts."""
import math

import numpy as np
import polars as pl
import pytest
import torch

from lmscope.mmneuron import ablation, domains, prompts, tinyvlm
from lmscope.mmneuron.mlp_neurons import NeuronHooks
from lmscope.mmneuron.vlm_inputs import evaluation_inputs, on_device
from lmscope.tables import markdown
from test_mlp_neurons import llava, llava_next

CFG = tinyvlm.TinyVLMConfig(image_size=32, patch_size=8, vision_hidden=16, vision_intermediate=32, hidden_size=32,
                            intermediate_size=48, num_heads=2, num_layers=2)
GENERATION = {"do_sample": False, "num_beams": 1, "max_new_tokens": 3}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("ablation")
    spec = {"kind": "synthetic", "train": 2, "validation": 6, "seed": 0, "image_size": 32, "frames": 2,
            "shuffle_choices": False}
    domains.prepare("medical", spec, "synthetic0", out / "medical")
    table = pl.read_parquet(out / "medical" / "validation.parquet")
    texts = [prompts.evaluation("llava", r["question"], r["choices"]) for r in table.iter_rows(named=True)]
    model, processor = tinyvlm.build(CFG, tinyvlm.build_tokenizer(texts + ["A", "B", "C", "D"]))
    model.eval()
    rows = []  # a DAPE table: neurons 1 and 4 of lm layer 1 and neuron 2 of vision layer 0 belong to medical
    for module, layers, width in (("vision", 2, 32), ("projector", 1, 32), ("lm", 2, 48)):
        for layer in range(layers):
            for neuron in range(width):
                mine = (module, layer, neuron) in {("lm", 1, 1), ("lm", 1, 4), ("vision", 0, 2)}
                rows.append({"module": module, "layer": layer, "neuron": neuron, "selected": mine,
                             "domains": ["medical"] if mine else []})
    return model, processor, table, pl.DataFrame(rows)


def test_chosen_neurons_per_group(setup):
    *_, dape_table = setup
    assert {m: {layer: ids.tolist() for layer, ids in v.items()}
            for m, v in ablation.chosen_neurons(dape_table, "medical", "all").items()} == {
        "lm": {1: [1, 4]}, "vision": {0: [2]}}
    assert ablation.chosen_neurons(dape_table, "medical", "projector") == {}
    assert ablation.chosen_neurons(dape_table, "medical", "none") == {}
    assert ablation.chosen_neurons(dape_table, "common", "all") == {}


def test_a_deactivated_neuron_is_zero_at_the_next_layers_input_and_the_others_are_unchanged(setup):
    model, processor, table, _ = setup
    inputs = evaluation_inputs("llava", processor, table.row(0, named=True), "", "separate")
    down = model.model.language_model.layers[1].mlp.down_proj  # takes act_fn(gate_proj(x)) * up_proj(x)
    seen = []
    handle = down.register_forward_hook(lambda m, args, out: seen.append(args[0].detach().clone()))
    hooks = NeuronHooks(model)
    with torch.no_grad():
        model(**inputs)
        with hooks.deactivated({"lm": {1: torch.tensor([1, 4])}}):
            model(**inputs)
    handle.remove()
    hooks.remove()
    normal, off = seen
    assert (off[..., [1, 4]] == 0).all() and (normal[..., [1, 4]] != 0).any()
    keep = [i for i in range(normal.shape[-1]) if i not in (1, 4)]
    assert torch.equal(off[..., keep], normal[..., keep])  # layer 1 is the last: nothing downstream of it moved


def test_nothing_off_reproduces_the_answers_and_gives_zero_deviation(setup):
    model, processor, table, dape_table = setup
    plain = [ablation.answer(model, processor, on_device(evaluation_inputs("llava", processor, r, "", "separate"),
                                                         torch.device("cpu"), torch.float32), GENERATION)
             for r in table.iter_rows(named=True)]
    answers, summary = ablation.evaluate(model, processor, "llava", table.iter_rows(named=True), dape_table,
                                         "medical", ["none", "all"], "", "separate", "exact", GENERATION, [0, 1, 2],
                                         torch.device("cpu"), torch.float32)
    assert answers.filter(pl.col("group") == "none")["answer"].to_list() == plain
    none = summary.filter(pl.col("group") == "none").row(0, named=True)
    assert none["deviation"] == 0.0 and none["neurons"] == 0
    everything = summary.filter(pl.col("group") == "all").row(0, named=True)
    assert everything["neurons"] == 3 and everything["deviation"] > 0
    assert summary.filter(pl.col("group") == "random")["neurons"][0] == 3
    scores = answers.filter(pl.col("group") == "none")["score"].to_list()
    assert scores == [float(a.strip() == r["answers"][0]) for a, r in zip(plain, table.iter_rows(named=True))]


def test_deviation_by_hand():
    h = torch.tensor([[3.0, 0.0], [0.0, 4.0]])
    assert ablation.deviation(h, h) == 0.0
    assert ablation.deviation(h, torch.tensor([[3.0, 0.0], [0.0, 1.0]])) == pytest.approx(3 / 5)


def test_random_baseline_draws_the_same_count_per_layer_without_replacement():
    chosen = {"lm": {0: torch.tensor([1, 2, 3]), 3: torch.tensor([7])}, "vision": {1: torch.tensor([0, 5])}}
    for seed in range(5):
        drawn = ablation.random_like(chosen, {"lm": 10, "vision": 6}, np.random.default_rng(seed))
        assert {m: {layer: len(ids) for layer, ids in v.items()} for m, v in drawn.items()} == {
            "lm": {0: 3, 3: 1}, "vision": {1: 2}}
        for module, layers in drawn.items():
            for ids in layers.values():
                assert len(set(ids.tolist())) == len(ids) and ids.max() < {"lm": 10, "vision": 6}[module]
    draws = [ablation.random_like(chosen, {"lm": 10, "vision": 6}, np.random.default_rng(s))["lm"][0].tolist()
             for s in range(5)]
    assert len({tuple(d) for d in draws}) > 1  # seeds differ


def test_a_seed_draws_the_same_random_neurons_whatever_order_the_chosen_set_was_built_in():
    # the SLURM run drew other neurons than the local one for one seed: polars' group_by had built `chosen`
    # in another order, and the generator met the layers in that order
    forward = {"lm": {0: torch.tensor([1, 2, 3]), 3: torch.tensor([7])}, "vision": {1: torch.tensor([0, 5])}}
    backward = {"vision": {1: torch.tensor([0, 5])}, "lm": {3: torch.tensor([7]), 0: torch.tensor([1, 2, 3])}}
    widths = {"lm": 10, "vision": 6}
    for seed in range(5):
        a = ablation.random_like(forward, widths, np.random.default_rng(seed))
        b = ablation.random_like(backward, widths, np.random.default_rng(seed))
        assert {m: {k: v.tolist() for k, v in layers.items()} for m, layers in a.items()} == \
               {m: {k: v.tolist() for k, v in layers.items()} for m, layers in b.items()}


def test_tables_2_and_3_in_the_papers_layout_with_the_extremes_in_bold():
    def summary(scores, deviations):
        groups = ["none", "vision", "projector", "lm", "all", "random"]
        return pl.DataFrame({"group": groups, "neurons": [0, 1, 1, 1, 3, 3], "score": scores + [None],
                             "deviation": [float(d) for d in deviations]},
                            schema_overrides={"score": pl.Float64})

    summaries = {("m", "common"): summary([0.5, 0.4, 0.5, 0.5, 0.45], [0, 0.1, 0.0, 0.2, 0.3, 0.05]),
                 ("m", "medical"): summary([0.8, 0.8, 0.8, 0.8, 0.8], [0, 0.0, 0.0, 0.0, 0.0, 0.0])}
    t2 = ablation.table2(summaries)
    assert t2.columns == ["vlm", "module", "common", "medical"]
    assert t2["module"].to_list() == ["None", "Vision Encoder", "MLP Projector", "LLM", "All"]
    assert t2["common"].to_list() == pytest.approx([50, 40, 50, 50, 45])
    text = markdown(t2, mark="min", labels=2, block="vlm", unmarked=("None", "Random (Avg.)"))
    assert "| m | Vision Encoder | **40.00** | 80.00 |" in text  # medical: all equal, nothing marked
    assert "| m | None | 50.00 | 80.00 |" in text
    t3 = ablation.table3(summaries)
    assert t3["module"].to_list() == ["Random (Avg.)", "LLM", "Vision Encoder", "MLP Projector", "All"]
    text = markdown(t3, mark="max", labels=2, block="vlm", unmarked=("None", "Random (Avg.)"))
    assert "| m | All | **30.00** | 0.00 |" in text and "| m | Random (Avg.) | 5.00 | 0.00 |" in text


@pytest.mark.parametrize("build", [llava, llava_next])
def test_beam_search_runs_the_vision_tower_once(build):
    """Beam search 5 (the paper's) repeats the language model's work per beam but not the image's: the vision
    tower sees one copy (transformers 5), so switched-off vision neurons act once per question, as in greedy."""
    torch.manual_seed(0)
    model, inputs = build()
    model.eval()
    seen = []
    handle = model.model.vision_tower.register_forward_hook(lambda module, args, out: seen.append(args[0].shape[0]))
    model.generate(**inputs, num_beams=5, max_new_tokens=2, do_sample=False)
    handle.remove()
    assert seen == [math.prod(inputs["pixel_values"].shape[:-3])]  # one pass, over one copy's images or crops
