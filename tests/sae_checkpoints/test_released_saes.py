"""SAEs trained elsewhere: written by SAELens and by sparsify themselves (random weights, every bias non-zero) and
in the llm-jp-sae layout, loaded by lmscope, encoding as the writing library does; and each bad folder named."""
import json
import re

import pytest
import torch
from safetensors.torch import load_file, save_file

from lmscope.errors import InputError
from lmscope.sae_checkpoints import released_saes
from lmscope.sae_checkpoints.released_sae_files import describe
from lmscope.sae_checkpoints.sae import TopKSAE

D, N, K = 16, 64, 4


def inputs(scale=3.0):
    gen = torch.Generator().manual_seed(0)
    return scale * torch.randn(200, D, generator=gen) + torch.randn(D, generator=gen)


def randomise(module, seed=1):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) / D ** 0.5)


def dense(vals, idx, n):
    return torch.zeros(len(vals), n).scatter_(-1, idx, vals)


SAELENS_CASES = {  # (architecture, normalize_activations, apply_b_dec_to_input, rescale_acts_by_decoder_norm)
    "topk": ("topk", "none", True, False),
    "topk-rescaled-no-b_dec-input": ("topk", "constant_norm_rescale", False, True),
    "topk-layer-norm": ("topk", "layer_norm", True, False),
    "standard": ("standard", "none", True, None),
}


@pytest.mark.parametrize("case", SAELENS_CASES)
def test_an_sae_written_by_saelens_encodes_as_saelens_does(case, tmp_path):
    sae_lens = pytest.importorskip("sae_lens")
    arch, norm, b_dec_in, rescale = SAELENS_CASES[case]
    common = {"d_in": D, "d_sae": N, "dtype": "float32", "device": "cpu", "apply_b_dec_to_input": b_dec_in,
              "normalize_activations": norm}
    if arch == "topk":
        theirs = sae_lens.TopKSAE(sae_lens.TopKSAEConfig(k=K, rescale_acts_by_decoder_norm=rescale, **common))
    else:
        theirs = sae_lens.StandardSAE(sae_lens.StandardSAEConfig(**common))
    randomise(theirs)
    theirs.save_model(tmp_path)
    ours = released_saes.load(tmp_path)
    x = inputs()
    with torch.no_grad():
        expected = theirs.encode(x)
        assert torch.allclose(ours.dense_latents(x), expected, atol=1e-5)
    assert ((expected > 0).sum(1) <= (K if arch == "topk" else N)).all() and (expected > 0).any()
    # lmscope's own layout (what load_sae writes) keeps the input normalisation: SAELens reads it back the same
    ours.save(tmp_path / "lmscope", {})
    assert torch.allclose(TopKSAE.load(tmp_path / "lmscope").dense_latents(x), expected, atol=1e-5)
    again = sae_lens.SAE.load_from_disk(str(tmp_path / "lmscope"), device="cpu")
    with torch.no_grad():
        assert torch.allclose(again.encode(x), expected, atol=1e-5)


def test_an_sae_written_by_sparsify_encodes_as_sparsify_does(tmp_path):
    sparsify = pytest.importorskip("sparsify")
    theirs = sparsify.SparseCoder(D, sparsify.SparseCoderConfig(num_latents=N, k=K))
    randomise(theirs, seed=2)
    theirs.save_to_disk(tmp_path / "layers.1")  # a sparsify run writes one folder per hookpoint
    x = inputs()
    with torch.no_grad():
        out = theirs.encode(x)
        expected = dense(out.top_acts, out.top_indices, N)
    ours = released_saes.load(tmp_path / "layers.1")
    assert torch.allclose(ours.dense_latents(x), expected, atol=1e-5)
    assert sparsify.SparseCoder.load_many(str(tmp_path), local=True).keys() == {"layers.1"}
    with pytest.raises(InputError, match="holds SAE folders layers.1: point path"):
        describe(tmp_path)


def write_llmjp(directory, seed=3, drop=None):
    """An SAE in llm-jp-sae's layout, as their TopKSAE.save_pretrained writes it (config.json: d_in, num_latents,
    k; model.safetensors: encoder.weight [n, d], encoder.bias, decoder.weight [d, n], b_dec)."""
    gen = torch.Generator().manual_seed(seed)
    tensors = {"encoder.weight": torch.randn(N, D, generator=gen) / D ** 0.5,
               "encoder.bias": torch.randn(N, generator=gen), "decoder.weight": torch.randn(D, N, generator=gen),
               "b_dec": torch.randn(D, generator=gen)}
    tensors.pop(drop, None)
    directory.mkdir(parents=True, exist_ok=True)
    save_file(tensors, directory / "model.safetensors")
    (directory / "config.json").write_text(json.dumps({"model_type": "topk_sae", "d_in": D, "num_latents": N, "k": K,
                                                       "architectures": ["TopKSAE"]}))
    return tensors


def test_an_sae_in_the_llmjp_layout_encodes_as_their_model_py(tmp_path):
    t = write_llmjp(tmp_path)
    x = inputs(scale=1.0)
    x = x / x.norm(dim=-1, keepdim=True)  # what their released SAEs were trained on, as lmscope's stores hold
    # their TopKSAE.encode: ReLU(encoder(x - b_dec)), then the top K, scattered into a dense code
    post_relu = torch.relu(torch.nn.functional.linear(x - t["b_dec"], t["encoder.weight"], t["encoder.bias"]))
    top = post_relu.topk(K, dim=-1, sorted=False)
    expected = dense(top.values, top.indices, N)
    ours = released_saes.load(tmp_path, "llmjp")
    assert torch.allclose(ours.dense_latents(x), expected, atol=1e-6)
    assert torch.equal(ours.W_dec, t["decoder.weight"].T)  # a decoder row per latent, as lmscope's layout


def sae_folder(directory, d=D, n=N, k=K):
    TopKSAE(d, n, k, seed=0).save(directory, {})
    return directory


@pytest.mark.parametrize("damage, message", [
    (lambda p: (p / "sae_weights.safetensors").rename(p / "weights.bin"), "no recognised SAE files"),
    (lambda p: save_file({k: v for k, v in load_file(p / "sae_weights.safetensors").items() if k != "b_dec"},
                         p / "sae_weights.safetensors"), "no tensor 'b_dec'"),
    (lambda p: (p / "cfg.json").write_text(json.dumps({**json.loads((p / "cfg.json").read_text()), "k": N + 1})),
     f"k = {N + 1} active latents, but the SAE has {N} latents"),
    (lambda p: (p / "cfg.json").write_text(json.dumps({**json.loads((p / "cfg.json").read_text()), "d_in": 8})),
     "tensor 'W_enc' has shape [16, 64], but cfg.json implies [8, 64]"),
    (lambda p: (p / "cfg.json").write_text(json.dumps({**json.loads((p / "cfg.json").read_text()),
                                                       "architecture": "jumprelu"})), "architecture 'jumprelu'"),
])
def test_a_bad_folder_is_named_with_what_is_wrong(tmp_path, damage, message):
    damage(sae_folder(tmp_path / "sae"))
    with pytest.raises(InputError, match=re.escape(message)) as error:
        describe(tmp_path / "sae")
    assert str(tmp_path / "sae") in str(error.value)


def test_the_rule_checks_width_and_input_and_writes_lmscopes_layout(tmp_path):
    write_llmjp(tmp_path / "llmjp")
    key = "models[0].checkpoints[0].sae"
    source = {"path": str(tmp_path / "llmjp"), "format": "auto"}
    with pytest.raises(InputError, match=r"^models\[0\].checkpoints\[0\].sae: \S*model.safetensors is an SAE of "
                                         r"d_in = 16, but the model's layer has width 32"):
        released_saes.run(source=source, key=key, d_model=32, normalized=True, sae=tmp_path / "out")
    with pytest.raises(InputError, match="trained on normalized activations, but activations.normalize is false"):
        released_saes.run(source=source, key=key, d_model=D, normalized=False, sae=tmp_path / "out")
    assert not (tmp_path / "out").exists()
    released_saes.run(source=source, key=key, d_model=D, normalized=True, sae=tmp_path / "out")
    x = inputs()
    written = TopKSAE.load(tmp_path / "out")
    assert torch.equal(written.dense_latents(x), released_saes.load(source["path"]).dense_latents(x))
    cfg = json.loads((tmp_path / "out" / "cfg.json").read_text())
    assert cfg["metadata"]["released"] == {"path": source["path"], "format": "llmjp"}


def test_a_hub_sae_missing_offline_gets_the_tokenizers_message(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(InputError, match=r"^models\[0\].checkpoints\[1\].sae: cannot load 'nobody/no-sae' at revision "
                                         r"'main' from the Hugging Face hub: the hub is offline .*hf download"):
        released_saes.run(source={"repo": "nobody/no-sae", "revision": "main"}, key="models[0].checkpoints[1].sae",
                          d_model=D, normalized=True, sae=tmp_path / "out")
