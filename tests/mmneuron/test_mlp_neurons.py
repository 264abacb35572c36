"""Neuron discovery, counting and deactivation hooks on tiny models of every supported architecture."""
import pytest
import torch
from transformers import (CLIPVisionConfig, GPTNeoXConfig, GPTNeoXForCausalLM, InstructBlipConfig,
                          InstructBlipForConditionalGeneration, InstructBlipQFormerConfig, InstructBlipVisionConfig,
                          LlamaConfig, LlamaForCausalLM, LlavaConfig, LlavaForConditionalGeneration, LlavaNextConfig,
                          LlavaNextForConditionalGeneration, OPTConfig, OPTForCausalLM)

from lmscope.mmneuron.mlp_neurons import NeuronHooks, find_sites

VISION = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2, image_size=28,
              patch_size=14)
TEXT = dict(hidden_size=16, intermediate_size=24, num_hidden_layers=3, num_attention_heads=2, num_key_value_heads=2,
            vocab_size=100)
IMAGE = 99


def llava():
    model = LlavaForConditionalGeneration(LlavaConfig(vision_config=CLIPVisionConfig(**VISION),
                                                      text_config=LlamaConfig(**TEXT), image_token_index=IMAGE))
    n_image = (28 // 14) ** 2  # patches; the CLS token is dropped by the default feature select
    return model, dict(input_ids=torch.tensor([[1] + [IMAGE] * n_image + [5, 6, 7]]),
                       pixel_values=torch.randn(1, 3, 28, 28))


def llava_next():
    model = LlavaNextForConditionalGeneration(LlavaNextConfig(
        vision_config=CLIPVisionConfig(**VISION), text_config=LlamaConfig(**TEXT), image_token_index=IMAGE,
        image_grid_pinpoints=[[28, 28]]))
    pixels, sizes = torch.randn(1, 2, 3, 28, 28), torch.tensor([[28, 28]])
    n_image = sum(f.shape[0] for f in model.model.get_image_features(pixel_values=pixels,
                                                                     image_sizes=sizes).pooler_output)
    return model, dict(input_ids=torch.tensor([[1] + [IMAGE] * n_image + [5, 6, 7]]), pixel_values=pixels,
                       image_sizes=sizes)


def instructblip():
    qformer = InstructBlipQFormerConfig(hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                        intermediate_size=24, vocab_size=50, encoder_hidden_size=16)
    model = InstructBlipForConditionalGeneration(InstructBlipConfig(
        vision_config=InstructBlipVisionConfig(**VISION), qformer_config=qformer, text_config=LlamaConfig(**TEXT),
        num_query_tokens=4, image_token_index=IMAGE))
    return model, dict(pixel_values=torch.randn(1, 3, 28, 28), qformer_input_ids=torch.tensor([[3, 4, 5]]),
                       qformer_attention_mask=torch.ones(1, 3, dtype=torch.long),
                       input_ids=torch.tensor([[1] + [IMAGE] * 4 + [5, 6]]))


def text_only(cls, config):
    return cls(config), dict(input_ids=torch.tensor([[1, 5, 6, 7, 8, 9]]))


MODELS = {
    "llava": (llava, {"vision": 2, "projector": 1, "lm": 3}),
    "llava_next": (llava_next, {"vision": 2, "projector": 1, "lm": 3}),
    "instructblip": (instructblip, {"vision": 2, "qformer": 2, "qformer_query": 2, "lm": 3}),
    "llama": (lambda: text_only(LlamaForCausalLM, LlamaConfig(**TEXT)), {"lm": 3}),
    "gpt_neox": (lambda: text_only(GPTNeoXForCausalLM, GPTNeoXConfig(
        hidden_size=16, intermediate_size=24, num_hidden_layers=3, num_attention_heads=2, vocab_size=100)), {"lm": 3}),
    "opt": (lambda: text_only(OPTForCausalLM, OPTConfig(
        hidden_size=16, ffn_dim=24, num_hidden_layers=3, num_attention_heads=2, vocab_size=100,
        word_embed_proj_dim=16)), {"lm": 3}),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_discovery_counts_and_deactivation(name):
    torch.manual_seed(0)
    build, expected_layers = MODELS[name]
    model, inputs = build()
    model.eval()
    sites = find_sites(model)
    layers = {}
    for s in sites:
        layers.setdefault(s.group, set()).add(s.layer)
    assert {g: len(v) for g, v in layers.items()} == expected_layers
    assert all(v == set(range(len(v))) for v in layers.values())

    # direct computation: every activation module's own output, captured by a plain hook
    modules = dict(model.named_modules())
    outputs = {}
    plain = [modules[s.path].register_forward_hook(
        lambda m, i, o, s=s: outputs.setdefault(s, []).append(o.detach().clone())) for s in sites]
    hooks = NeuronHooks(model, sites)
    with torch.no_grad(), hooks.counting():
        baseline = model(**inputs).logits
        model(**inputs)  # counts accumulate over calls
    for h in plain:
        h.remove()
    for s in sites:
        assert len(outputs[s]) == 2  # each module ran once per forward
        direct = sum((o > 0).reshape(-1, o.shape[-1]).sum(0) for o in outputs[s])
        assert torch.equal(hooks.counts[s.group][s.layer], direct), s
        assert hooks.tokens[s.group] == sum(o[..., 0].numel() for o in outputs[s])
    assert hooks.counts["lm"][0].sum() > 0

    # deactivation: chosen neurons are exactly 0 where the next layer reads them, the others unchanged
    lm = [s for s in sites if s.group == "lm"]
    target = lm[1]
    chosen = torch.tensor([0, 3, 5])
    seen = []
    probe = modules[target.path].register_forward_hook(lambda m, i, o: seen.append(o.detach().clone()))
    with torch.no_grad(), hooks.deactivated({"lm": {target.layer: chosen}}):
        ablated = model(**inputs).logits
    probe.remove()
    # the probe ran after our hook: it sees the zeroed output that the down projection reads
    assert (seen[0][..., chosen] == 0).all()
    keep = torch.ones(seen[0].shape[-1], dtype=torch.bool)
    keep[chosen] = False
    assert torch.equal(seen[0][..., keep], outputs[target][0][..., keep])
    assert not torch.equal(ablated, baseline)
    with torch.no_grad(), hooks.deactivated({}):
        assert torch.equal(model(**inputs).logits, baseline)  # nothing chosen: the baseline exactly
    with pytest.raises(ValueError, match="no activation module"):
        with hooks.deactivated({"lm": {99: chosen}}):
            pass
    hooks.remove()
