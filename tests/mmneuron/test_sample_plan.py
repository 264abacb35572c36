"""The positions the plan counts per module before any model runs equal what the hooks see when it runs."""
import pytest
import torch

from lmscope.mmneuron.mlp_neurons import NeuronHooks
from lmscope.mmneuron.config_checks import budget_of
from lmscope.mmneuron.sample_plan import context_limit, module_tokens
from test_mlp_neurons import MODELS


@pytest.mark.parametrize("name", ["llava", "llava_next", "instructblip", "llama"])
def test_planned_positions_are_the_ones_the_modules_see(name):
    torch.manual_seed(0)
    model, inputs = MODELS[name][0]()
    hooks = NeuronHooks(model)
    with hooks.counting(), torch.no_grad():
        model(**inputs)
    hooks.remove()
    planned = module_tokens(model.config, inputs)
    assert planned["lm"] == hooks.tokens["lm"] == inputs["input_ids"].shape[1]
    assert planned["vision"] == hooks.tokens.get("vision", 0)
    assert context_limit(model.config) == (getattr(model.config, "text_config", None)
                                           or model.config).max_position_embeddings


def test_a_budget_is_samples_or_tokens_of_a_module_the_vlms_own_first():
    def config(neurons, own=None):
        return {"neurons": {"budget": neurons}, "vlms": [{"name": "v", **({"budget": own} if own else {})}]}

    assert budget_of(config({"samples": 3}), 0) == {"samples": 3}
    assert budget_of(config({"samples": 3}, {"tokens": 10, "module": "vision"}), 0) == {"tokens": 10,
                                                                                        "module": "vision"}
    # a budget of each kind merged key by key (a preset over config.yaml) is refused, unless one kind is nulled
    assert budget_of(config({"samples": 3, "tokens": None, "module": None}), 0) == {"samples": 3}
    for wrong in ({"tokens": 10}, {"tokens": 10, "module": "qformer"}, {"samples": 3, "tokens": 4, "module": "lm"}):
        with pytest.raises(ValueError, match=r"config key neurons.budget: .* set the other's keys to null"):
            budget_of(config(wrong), 0)
    with pytest.raises(ValueError, match=r"config key vlms\[0\].budget"):
        budget_of(config({"samples": 3}, {"samples": 3, "tokens": 4}), 0)
