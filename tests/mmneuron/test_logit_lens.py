"""The logit lens: the last layer equals the model's own logits (no second norm), entropy by hand."""
import math

import torch
from PIL import Image
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM, LlamaConfig, LlamaForCausalLM

from lmscope.mmneuron import logit_lens, prompts, tinyvlm
from test_mlp_neurons import IMAGE, instructblip


def check_last_layer_is_the_models_logits(model, inputs):
    model.eval()
    with torch.no_grad():
        out = model(**inputs, output_hidden_states=True)
    states = logit_lens.lm_hidden_states(out)
    assert torch.allclose(logit_lens.unembedded(model, states, len(states) - 1), out.logits.float(), atol=1e-5)
    # an inner layer goes through the final norm: not the raw unembedding of the hidden state
    norm, head = logit_lens.final_norm(model), model.get_output_embeddings()
    assert torch.allclose(logit_lens.unembedded(model, states, 1), head(norm(states[1])), atol=1e-5)
    assert not torch.allclose(logit_lens.unembedded(model, states, 1), head(states[1]), atol=1e-3)
    # a sample read layer by layer in chunks of positions equals the whole stack unembedded at once
    full = torch.stack([head(norm(h)) for h in states[:-1]] + [head(states[-1])]).float()[:, 0]
    logit_lens.POSITION_CHUNK, chunk = 2, logit_lens.POSITION_CHUNK
    try:
        read = logit_lens.read_sample(model, inputs, None, 3)
    finally:
        logit_lens.POSITION_CHUNK = chunk
    is_image = logit_lens.image_positions(model, inputs["input_ids"][0])
    entropy = logit_lens.entropy(full)
    assert torch.allclose(read["text_entropy"], entropy[:, ~is_image].mean(-1), atol=1e-5)
    probs, ids = logit_lens.top_tokens(full[:, -1], 3)
    assert torch.equal(read["top"]["text"][1], ids) and torch.allclose(read["top"]["text"][0], probs, atol=1e-6)
    if is_image.any():
        assert torch.allclose(read["image_entropy"], entropy[:, is_image].mean(-1), atol=1e-5)
        middle = int(torch.nonzero(is_image)[len(torch.nonzero(is_image)) // 2])
        assert torch.equal(read["top"]["image"][1], logit_lens.top_tokens(full[:, middle], 3)[1])


def test_tiny_llava():
    torch.manual_seed(0)
    cfg = tinyvlm.TinyVLMConfig(image_size=32, vision_hidden=16, vision_intermediate=32, hidden_size=32,
                                intermediate_size=64, num_heads=2)
    model, processor = tinyvlm.build(cfg, tinyvlm.build_tokenizer([prompts.identification("Is it night?")]))
    inputs = processor(images=[Image.new("RGB", (32, 32), (200, 10, 10))],
                       text=prompts.identification("Is it night?"), return_tensors="pt")
    check_last_layer_is_the_models_logits(model, dict(inputs))


def test_text_only_llama_and_gpt_neox():
    torch.manual_seed(0)
    ids = {"input_ids": torch.tensor([[1, 5, 9, 3]])}
    check_last_layer_is_the_models_logits(LlamaForCausalLM(LlamaConfig(
        hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
        vocab_size=20)), ids)
    check_last_layer_is_the_models_logits(GPTNeoXForCausalLM(GPTNeoXConfig(
        hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2, vocab_size=20)), ids)


def test_entropy_and_top_tokens_by_hand():
    logits = torch.tensor([[0.0, 0.0, 0.0, 0.0], [math.log(3), 0.0, -1e9, -1e9]])
    assert torch.allclose(logit_lens.entropy(logits), torch.tensor([math.log(4), -(0.75 * math.log(0.75)
                                                                               + 0.25 * math.log(0.25))]))
    probs, ids = logit_lens.top_tokens(logits[1:], k=2)
    assert ids.tolist() == [[0, 1]] and torch.allclose(probs, torch.tensor([[0.75, 0.25]]))


def test_instructblip_query_positions_and_last_layer():
    """The reference code's InstructBLIP logit lens crashes; ours reads its LM like any other."""
    torch.manual_seed(0)
    model, inputs = instructblip()
    check_last_layer_is_the_models_logits(model, inputs)
    assert (inputs["input_ids"] == IMAGE).sum() == model.config.num_query_tokens  # the query-token positions
