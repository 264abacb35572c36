import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import zarr

from lmscope.sae_checkpoints import tinylm
from lmscope.sae_checkpoints.sae import TopKSAE
from lmscope.sae_checkpoints.spliced_quality import run, spliced_metrics

D, VOCAB, T = 32, 100, 16


def counting(n_docs: int, seed: int) -> np.ndarray:
    """Windows BOS, s, s + 1, s + 2, ... (mod the vocabulary, above the two special ids): a pattern the tiny LM
    learns in a few steps, so that ablating a layer costs it much."""
    starts = np.random.default_rng(seed).integers(0, VOCAB - 2, n_docs)
    ids = 2 + (starts[:, None] + np.arange(T)) % (VOCAB - 2)
    return np.concatenate([np.zeros((n_docs, 1), dtype=np.int64), ids], 1)


@pytest.fixture(scope="module")
def lm():
    cfg = tinylm.TinyLMConfig(hidden_size=D, num_layers=2, num_heads=2, intermediate_size=64, seq_len=T + 1, seed=0)
    model = tinylm.build_model(cfg, VOCAB, 0, 1, None)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(60):
        batch = torch.from_numpy(counting(16, step))
        model(input_ids=batch, labels=batch).loss.backward()
        opt.step()
        opt.zero_grad()
    return model.eval()


@pytest.fixture(scope="module")
def tokens(tmp_path_factory):
    """A tokens.zarr of 30 documents (BOS + T tokens), the last 12 the test split."""
    ids = counting(30, 1000).astype(np.int32)
    arr = zarr.create_array(store=str(tmp_path_factory.mktemp("tok") / "tokens.zarr"), shape=ids.shape,
                            chunks=(10, 1 + T), dtype="int32")
    arr[:] = ids
    arr.attrs["split_offsets"] = {"train": [0, 14], "validation": [14, 18], "test": [18, 30]}
    return arr


def identity_sae(input_norm="none") -> TopKSAE:
    """A perfect reconstruction: latents relu(x) and relu(-x), K = d of them, decoded as +x and -x."""
    sae = TopKSAE(D, 2 * D, D)
    eye = torch.eye(D)
    with torch.no_grad():
        sae.W_enc_t.copy_(torch.cat([eye, -eye]))
        sae.W_dec.copy_(torch.cat([eye, -eye]))
        sae.b_pre.zero_()
    sae.input_norm = input_norm
    return sae


def zero_sae() -> TopKSAE:
    """Reconstructs every input as 0: what zero ablation puts in."""
    sae = TopKSAE(D, 2 * D, 4, seed=0)
    with torch.no_grad():
        sae.W_dec.zero_()
        sae.b_pre.zero_()
    return sae


def direct(lm, ids: torch.Tensor, replace=None) -> tuple[float, torch.Tensor]:
    """CE over the predictions at positions 1..T-1 and their log-probabilities, from embeddings given directly
    (layer 0): `replace` maps the embeddings after BOS to what the model gets instead."""
    with torch.no_grad():
        emb = lm.get_input_embeddings()(ids)
        if replace is not None:
            emb = torch.cat([emb[:, :1], replace(emb[:, 1:])], 1)
        logp = lm(inputs_embeds=emb).logits[:, 1:-1].float().log_softmax(-1).flatten(0, 1)
    return F.nll_loss(logp, ids[:, 2:].flatten()).item(), logp


def test_a_perfect_reconstruction_recovers_everything_and_zero_ablation_nothing(lm, tokens):
    for layer in (0, 1, 2):  # the embeddings, a block, the final norm
        for sae in (identity_sae(), identity_sae("constant_norm_rescale")):
            m = spliced_metrics(lm, layer, sae, tokens, docs=12, seed=0, batch_docs=5, normalized=True,
                                dense_threshold=0.1)
            assert m["ce_loss_score"] == pytest.approx(1, abs=1e-4) and m["kl_sae"] == pytest.approx(0, abs=1e-6)
            assert m["explained_variance"] == pytest.approx(1, abs=1e-5)
            assert m["ce_loss_delta"] == pytest.approx(0, abs=1e-5)
        m = spliced_metrics(lm, layer, zero_sae(), tokens, docs=12, seed=0, batch_docs=5, normalized=True,
                            dense_threshold=0.1)
        assert m["ce_loss_score"] == pytest.approx(0, abs=1e-6) and m["kl_score"] == pytest.approx(0, abs=1e-6)
        assert m["ce_loss_zero"] > m["ce_loss_clean"] + 1  # the tiny LM needs the layer


def test_the_scores_equal_a_direct_computation_on_the_embeddings(lm, tokens):
    """At layer 0 the splice is the embeddings given to the model by hand: clean, through the SAE (unit vectors
    scaled back by their norm) and zeros."""
    sae = TopKSAE(D, 4 * D, 3, seed=1)
    ids = torch.from_numpy(np.asarray(tokens[18:30], dtype=np.int64))

    def through(h):
        norm = h.norm(dim=-1, keepdim=True)
        return sae((h / norm).flatten(0, 1)).view(h.shape) * norm

    ce_clean, clean = direct(lm, ids)
    ce_sae, spliced = direct(lm, ids, through)
    ce_zero, zero = direct(lm, ids, torch.zeros_like)
    kl = lambda logp: (clean.exp() * (clean - logp)).sum(-1).mean().item()  # noqa: E731
    m = spliced_metrics(lm, 0, sae, tokens, docs=100, seed=3, batch_docs=4, normalized=True, dense_threshold=0.1)
    assert m["docs"] == 12 and m["predictions"] == 12 * (T - 1) and m["tokens"] == 12 * T
    assert m["ce_loss_clean"] == pytest.approx(ce_clean, rel=1e-5)
    assert m["ce_loss_sae"] == pytest.approx(ce_sae, rel=1e-5) and m["ce_loss_zero"] == pytest.approx(ce_zero, rel=1e-5)
    assert m["ce_loss_score"] == pytest.approx((ce_zero - ce_sae) / (ce_zero - ce_clean), rel=1e-4)
    assert m["kl_sae"] == pytest.approx(kl(spliced), rel=1e-4) and m["kl_zero"] == pytest.approx(kl(zero), rel=1e-4)
    x = F.normalize(lm.get_input_embeddings()(ids)[:, 1:].detach(), dim=-1).reshape(-1, D)
    x_hat = sae(x).detach()
    ev = 1 - (x - x_hat).pow(2).sum() / (x - x.mean(0)).pow(2).sum()
    assert m["explained_variance"] == pytest.approx(ev.item(), rel=1e-4)
    density = (sae.dense_latents(x) > 0).float().mean(0)
    assert m["l0"] == pytest.approx((sae.dense_latents(x) > 0).sum(1).float().mean().item())
    assert m["dead_fraction"] == pytest.approx((density == 0).float().mean().item())
    assert m["dense_fraction"] == pytest.approx((density > 0.1).float().mean().item())


def test_run_writes_metrics_and_saebench_core_json(lm, tokens, tmp_path):
    lm.save_pretrained(tmp_path / "model")
    identity_sae().save(tmp_path / "sae", {})
    run(sae=tmp_path / "sae", tokens=str(tokens.store.root), metrics=tmp_path / "metrics.json",
        core=tmp_path / "core.json", checkpoint={"name": "m", "path": str(tmp_path / "model")},
        layer=1, key="models[0].layer", normalized=True, docs=6, seed=0, batch_docs=3, dense_threshold=0.1,
        device="cpu", dtype="float32", model="m", ckpt="step-1", threads=1)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    core = json.loads((tmp_path / "core.json").read_text())
    assert metrics["ce_loss_score"] == pytest.approx(1, abs=1e-4)
    got = core["eval_result_metrics"]
    assert core["eval_type_id"] == "core" and set(got) == {
        "model_behavior_preservation", "model_performance_preservation", "reconstruction_quality", "shrinkage",
        "sparsity", "token_stats", "misc_metrics"}
    assert got["model_performance_preservation"]["ce_loss_score"] == metrics["ce_loss_score"]
    assert set(got["model_behavior_preservation"]) == {"kl_div_score", "kl_div_with_ablation", "kl_div_with_sae"}
    assert got["misc_metrics"]["frac_alive"] == 1 - metrics["dead_fraction"]
