import dataclasses
import logging
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml
import zarr

from conftest import REPO
from lmscope.errors import InputError
from lmscope.sae_checkpoints.activation_store import CheckedStore
from lmscope.sae_checkpoints.sae import ENCODER_INIT_NORM, TopKSAE, geometric_median
from lmscope.sae_checkpoints.sae_training import (Candidate, SAETrainConfig, curve_sample, evaluate, fit, lr_factor,
                                                  sequential_batches, train_grid, warm_start)
from lmscope.sae_checkpoints.shuffled_batches import ShuffledBatches


def test_topk_keeps_exactly_k_non_negative_latents():
    sae = TopKSAE(16, 64, 5, encoder_bias=True, seed=0)
    x = torch.randn(40, 16)
    vals, idx = sae.encode(x)
    assert vals.shape == idx.shape == (40, 5) and (vals >= 0).all()
    assert all(len(set(row)) == 5 for row in idx.tolist())
    z = sae.dense_latents(x)
    assert ((z != 0).sum(1) <= 5).all() and (z >= 0).all()
    with torch.no_grad():
        sae.b_enc.fill_(100.0)  # every pre-activation positive: exactly K survive the ReLU
    assert ((sae.dense_latents(x) != 0).sum(1) == 5).all()
    # and they are the K largest pre-activations
    pre = F.linear(x - sae.b_pre, sae.W_enc_t, sae.b_enc)
    assert torch.equal(sae.dense_latents(x) != 0, pre >= pre.topk(5, dim=1).values[:, -1:])


def test_initialisation_ties_decoder_to_encoder_with_unit_rows():
    sae = TopKSAE(12, 48, 4, seed=1)
    torch.testing.assert_close(sae.W_dec * ENCODER_INIT_NORM, sae.W_enc.T)  # the same directions
    torch.testing.assert_close(sae.W_dec.norm(dim=1), torch.ones(48))
    torch.testing.assert_close(sae.W_enc.norm(dim=0), torch.full((48,), ENCODER_INIT_NORM))
    assert torch.equal(TopKSAE(12, 48, 4, seed=1).W_dec, sae.W_dec)


@pytest.mark.parametrize("bias", [False, True])
def test_sparse_backward_equals_dense_autograd(bias):
    torch.manual_seed(0)
    sae = TopKSAE(16, 64, 4, encoder_bias=bias, seed=2).double()
    with torch.no_grad():
        sae.b_pre.normal_()
        if bias:
            sae.b_enc.normal_()
    x = torch.randn(32, 16, dtype=torch.double)
    (sae(x) - x).pow(2).sum(-1).mean().backward()
    ours = {n: p.grad.clone() for n, p in sae.named_parameters()}
    sae.zero_grad()
    pre = F.linear(x - sae.b_pre, sae.W_enc_t, sae.b_enc)
    vals, idx = pre.topk(4, dim=-1)
    x_hat = torch.zeros_like(pre).scatter(-1, idx, vals.relu()) @ sae.W_dec + sae.b_pre
    (x_hat - x).pow(2).sum(-1).mean().backward()
    for name, p in sae.named_parameters():
        torch.testing.assert_close(ours[name], p.grad, rtol=1e-10, atol=1e-12, msg=name)


def test_gradient_projection_leaves_updates_orthogonal_to_each_decoder_row():
    sae = TopKSAE(16, 64, 4, seed=3)
    x = torch.randn(64, 16)
    (sae(x) - x).pow(2).sum().backward()
    parallel = lambda: ((sae.W_dec.grad * sae.W_dec).sum(1).abs() / sae.W_dec.grad.norm(dim=1)).max()  # noqa: E731
    assert parallel() > 1e-2  # there was a parallel part
    sae.remove_parallel_gradient()
    assert parallel() < 1e-5  # float32 rounding


def test_geometric_median_matches_a_direct_minimisation():
    torch.manual_seed(0)
    points = torch.cat([torch.randn(200, 5), torch.randn(20, 5) * 30 + 50])  # outliers pull the mean away
    ours = geometric_median(points, tol=1e-10, max_iter=10_000).double()
    y = points.double().mean(0).clone().requires_grad_(True)
    opt = torch.optim.LBFGS([y], lr=1, max_iter=5000, tolerance_grad=1e-12, tolerance_change=1e-14,
                            line_search_fn="strong_wolfe")

    def objective():
        opt.zero_grad()
        loss = (points.double() - y).norm(dim=1).sum()
        loss.backward()
        return loss

    opt.step(objective)
    cost = lambda c: (points.double() - c).norm(dim=1).sum().item()  # noqa: E731
    assert cost(ours) <= cost(y.detach()) + 1e-6
    torch.testing.assert_close(ours, y.detach(), atol=1e-3, rtol=0)
    assert (ours - points.mean(0)).norm() > 1  # and it is not the mean


def test_evaluate_matches_brute_force(tmp_path):
    x = torch.randn(300, 8)
    store = zarr.create_array(store=str(tmp_path / "v.zarr"), shape=(300, 8), chunks=(64, 8), dtype="float32")
    store[:] = x.numpy()
    sae = TopKSAE(8, 32, 3, seed=4)
    with torch.no_grad():
        sae.W_enc_t[5:] *= -1  # make some latents rarely or never fire
    m = evaluate(sae, sequential_batches(tmp_path / "v.zarr", 50, "cpu"))
    with torch.no_grad():
        z, x_hat = sae.dense_latents(x), sae(x)
    sse = (x - x_hat).pow(2).sum()
    assert m["tokens"] == 300
    assert m["mse"] == pytest.approx((sse / 300).item(), rel=1e-5)
    assert m["fvu"] == pytest.approx((sse / (x - x.mean(0)).pow(2).sum()).item(), rel=1e-5)
    assert m["l0"] == pytest.approx((z > 0).sum(1).float().mean().item())
    assert m["dead_fraction"] == pytest.approx(1 - (z > 0).any(0).float().mean().item())


def test_curve_points_measure_whole_documents_drawn_across_the_split(tmp_path):
    """Issue 17: a split ordered by source (here: the first half of its documents one distribution, the second
    another) must not be stood for by its first rows. Column 0 holds the row's document, column 1 its half."""
    per_doc, n_docs = 8, 100
    doc = np.repeat(np.arange(n_docs), per_doc)
    data = np.stack([doc, doc >= n_docs // 2, np.ones_like(doc)], axis=1).astype(np.float32)
    arr = zarr.create_array(store=str(tmp_path / "v.zarr"), shape=data.shape, chunks=(56, 3), dtype="float32")
    arr[:] = data
    arr.attrs["tokens_per_doc"] = per_doc
    store = CheckedStore(tmp_path / "v.zarr")
    sample = curve_sample(store, 160, seed=0).numpy()
    assert sample.shape == (160, 3)  # 160 // 8 = 20 whole documents
    docs = sample[::per_doc, 0].astype(int)
    assert list(docs) == sorted(set(docs)) and len(docs) == 20
    np.testing.assert_array_equal(sample, data[(docs[:, None] * per_doc + np.arange(per_doc)).ravel()])
    halves = sample[::per_doc, 1]
    assert 5 <= halves.sum() <= 15  # both halves, about evenly (the first 160 rows: all the first half)
    assert data[:160, 1].sum() == 0
    np.testing.assert_array_equal(curve_sample(store, 160, seed=0).numpy(), sample)  # seeded
    assert not np.array_equal(curve_sample(store, 160, seed=1).numpy(), sample)
    np.testing.assert_array_equal(curve_sample(store, 800, seed=0).numpy(), data)  # the whole split, in order
    assert curve_sample(store, 3, seed=0).shape == (per_doc, 3)  # at least one document


def test_learning_rate_schedules():
    assert [lr_factor(s, 4, 10, "constant") for s in (0, 3, 4, 9)] == [0.25, 1.0, 1.0, 1.0]
    assert lr_factor(7, 4, 10, "linear") == pytest.approx(0.5)
    assert lr_factor(7, 4, 10, "cosine") == pytest.approx(0.5)
    assert lr_factor(4, 4, 10, "cosine") == pytest.approx(1.0)


# --- training ----------------------------------------------------------------------------------------------------

D_IN, ATOMS, ACTIVE = 24, 48, 3


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """Rows that are sparse non-negative combinations of a planted unit-norm dictionary."""
    tmp = tmp_path_factory.mktemp("planted")
    rng = np.random.default_rng(0)
    atoms = rng.standard_normal((ATOMS, D_IN))
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    paths = {}
    for split, n in (("train", 24_000), ("validation", 2_000)):
        coef = np.zeros((n, ATOMS))
        for row in coef:
            row[rng.choice(ATOMS, ACTIVE, replace=False)] = rng.uniform(0.5, 1.5, ACTIVE)
        arr = zarr.create_array(store=str(tmp / f"{split}.zarr"), shape=(n, D_IN), chunks=(1000, D_IN),
                                dtype="float32")
        arr[:] = (coef @ atoms).astype(np.float32)
        paths[split] = tmp / f"{split}.zarr"
    return atoms, paths


def config(**overrides) -> SAETrainConfig:
    base = dict(expansion_factor=4, k=4, batch_tokens=256, warmup_steps=20, epochs=3, lr_grid=[3e-3, 1e-2],
                eval_every=50, eval_tokens=2000, median_sample=2000, checkpoint_every=40, seed=0)
    return SAETrainConfig(**{**base, **overrides})


def test_training_recovers_the_planted_dictionary(planted):
    atoms, paths = planted
    candidates, rows = train_grid(paths["train"], paths["validation"], config())
    best = max(candidates, key=lambda c: (atoms @ c.sae.W_dec.detach().numpy().T).max(1).mean())
    assert (atoms @ best.sae.W_dec.detach().numpy().T).max(1).mean() > 0.9
    assert {r["lr"] for r in rows} == {3e-3, 1e-2} and rows[-1]["step"] == 282
    assert not np.isnan([r["val_mse"] for r in rows if r["step"] % 50 == 0]).any()


def test_a_warm_start_begins_from_the_previous_saes_weights(planted):
    """sae.init: previous. The first step's loss is the previous SAE's own on the first batch, so the step
    started from its weights; and every candidate of the grid starts there."""
    _, paths = planted
    (previous,), _ = train_grid(paths["train"], paths["validation"], config(epochs=0.2, lr_grid=[3e-3]))
    cfg = config(epochs=0.2, seed=5)
    first = next(iter(ShuffledBatches([paths["train"]], cfg.batch_tokens, seed=cfg.seed).epoch(0)))
    with torch.no_grad():
        want = (first - previous.sae(first)).pow(2).sum(-1).mean().item()
    started = [Candidate(lr, cfg, D_IN, torch.zeros(D_IN), 10, "cpu", init=previous.sae) for lr in cfg.lr_grid]
    for cand in started:
        for name, p in previous.sae.state_dict().items():
            assert torch.equal(cand.sae.state_dict()[name], p), name
    candidates, rows = train_grid(paths["train"], paths["validation"], cfg, stop_after=1, init=previous.sae)
    assert [r["train_mse"] for r in rows if r["step"] == 1] == pytest.approx([want] * 2, rel=1e-6)
    fresh, fresh_rows = train_grid(paths["train"], paths["validation"], cfg, stop_after=1)
    assert fresh_rows[0]["train_mse"] != pytest.approx(want, rel=1e-3)


def test_a_warm_start_refuses_an_sae_it_cannot_continue():
    sae = TopKSAE(8, 32, 4, seed=0)
    with pytest.raises(InputError, match="sae.init.*32 latents of width 8, this one 64"):
        warm_start(TopKSAE(8, 64, 4), sae)
    sae.input_norm = "layer_norm"
    with pytest.raises(InputError, match="normalises its input"):
        warm_start(TopKSAE(8, 32, 4), sae)


def test_one_pass_grid_equals_each_learning_rate_alone(planted):
    _, paths = planted
    cfg = config(epochs=0.5)
    together, _ = train_grid(paths["train"], paths["validation"], cfg)
    for cand in together:
        (alone,), _ = train_grid(paths["train"], paths["validation"], config(epochs=0.5, lr_grid=[cand.lr]))
        for name, p in cand.sae.state_dict().items():
            assert torch.equal(p, alone.sae.state_dict()[name]), (cand.lr, name)


def test_one_pass_over_several_k_equals_each_k_alone(planted):
    """fig2's sweep trains the Ks of one n/d side by side: each must be the SAE it would have been alone."""
    _, paths = planted
    cfg = config(epochs=0.3, lr_grid=[3e-3])
    together, rows = train_grid(paths["train"], paths["validation"], cfg, ks=[2, 6])
    assert [c.k for c in together] == [2, 6] and {r["k"] for r in rows} == {2, 6}
    for cand in together:
        (alone,), _ = train_grid(paths["train"], paths["validation"], config(epochs=0.3, lr_grid=[3e-3], k=cand.k))
        for name, p in cand.sae.state_dict().items():
            assert torch.equal(p, alone.sae.state_dict()[name]), (cand.k, name)


def test_bf16_selection_keeps_exact_values_and_trains_as_well(planted):
    """precision bf16 picks the active latents with a bfloat16 matmul but computes their values in float32: the
    values equal the float32 pre-activations of the chosen latents, and training reaches about the same FVU."""
    _, paths = planted
    sae = TopKSAE(D_IN, 64, 4, encoder_bias=True, seed=1)
    with torch.no_grad():
        sae.b_enc.normal_()
    x = torch.randn(500, D_IN)
    sae.select_dtype = torch.bfloat16
    vals, idx = sae.encode(x)
    pre = F.linear(x - sae.b_pre, sae.W_enc_t, sae.b_enc)
    assert torch.allclose(vals, pre.gather(1, idx).relu(), atol=1e-6)
    sae.select_dtype = None
    exact_idx = sae.encode(x)[1]
    assert (idx.sort(1).values == exact_idx.sort(1).values).all(1).float().mean() > 0.8  # ties aside, the same
    fvu = {}
    for precision in ("fp32", "bf16"):
        best, metrics, _ = fit(paths["train"], paths["validation"], paths["validation"],
                               config(epochs=1, lr_grid=[1e-2], precision=precision))
        assert best.sae.select_dtype is None  # evaluated and saved in float32
        fvu[precision] = metrics["validation"]["fvu"]
    assert fvu["bf16"] < fvu["fp32"] * 1.1 + 0.01, fvu


def test_resuming_after_an_interruption_equals_an_uninterrupted_run(planted, tmp_path):
    _, paths = planted
    cfg = config(epochs=1, auxk=True, k_aux=8, dead_tokens=512)  # AuxK and its dead-latent counters too
    full, full_rows = train_grid(paths["train"], paths["validation"], cfg)
    state = tmp_path / "state.pt"
    train_grid(paths["train"], paths["validation"], cfg, state_path=state, stop_after=57)  # mid-epoch
    assert state.is_file()
    resumed, resumed_rows = train_grid(paths["train"], paths["validation"], cfg, state_path=state)
    no_nan = lambda rows: [{k: None if v != v else v for k, v in r.items()} for r in rows]  # noqa: E731
    assert no_nan(resumed_rows) == no_nan(full_rows)
    for a, b in zip(full, resumed):
        for name, p in a.sae.state_dict().items():
            assert torch.equal(p, b.sae.state_dict()[name]), name


def test_a_state_saved_for_other_settings_is_not_resumed(planted, tmp_path):
    _, paths = planted
    state = tmp_path / "state.pt"
    train_grid(paths["train"], paths["validation"], config(epochs=1), state_path=state, stop_after=20)
    fresh, _ = train_grid(paths["train"], paths["validation"], config(epochs=1, k=3), state_path=state)
    alone, _ = train_grid(paths["train"], paths["validation"], config(epochs=1, k=3))
    assert torch.equal(fresh[0].sae.W_dec, alone[0].sae.W_dec)


DIVERGES = 1e30  # Adam moves every parameter by about the rate: after one step the next loss overflows (step 2)


def test_a_diverging_learning_rate_leaves_the_grid_and_the_others_train_on(planted, caplog):
    _, paths = planted
    cfg = config(epochs=0.5, lr_grid=[3e-3, DIVERGES])
    with caplog.at_level(logging.WARNING, logger="lmscope.sae_checkpoints.sae_training"):
        best, metrics, rows = fit(paths["train"], paths["validation"], paths["validation"], cfg)
    assert "learning rate 1e+30 diverged at step 2" in caplog.text
    assert metrics["diverged"] == {"1e+30": 2} and list(metrics["lr_grid"]) == ["0.003"]
    assert best.lr == metrics["best_lr"] == 3e-3 and math.isfinite(metrics["validation"]["mse"])
    assert [r["step"] for r in rows if r["lr"] == DIVERGES] == [1]  # its log ends the step before
    assert max(r["step"] for r in rows if r["lr"] == 3e-3) == 47
    (alone,), _ = train_grid(paths["train"], paths["validation"], config(epochs=0.5, lr_grid=[3e-3]))
    assert torch.equal(best.sae.W_dec, alone.sae.W_dec)  # the dropped rate changed nothing for the others
    _, finite, _ = fit(paths["train"], paths["validation"], paths["validation"], config(epochs=0.1))
    assert "diverged" not in finite  # metrics.json as it always was when every rate trains


def test_a_dropped_learning_rate_stays_dropped_after_resuming(planted, tmp_path):
    _, paths = planted
    cfg = config(epochs=0.5, lr_grid=[DIVERGES, 3e-3])
    full, full_rows = train_grid(paths["train"], paths["validation"], cfg)
    state = tmp_path / "state.pt"
    train_grid(paths["train"], paths["validation"], cfg, state_path=state, stop_after=30)
    resumed, resumed_rows = train_grid(paths["train"], paths["validation"], cfg, state_path=state)
    assert [c.diverged_at for c in resumed] == [c.diverged_at for c in full] == [2, None]
    no_nan = lambda rows: [{k: None if v != v else v for k, v in r.items()} for r in rows]  # noqa: E731
    assert no_nan(resumed_rows) == no_nan(full_rows)
    assert torch.equal(full[1].sae.W_dec, resumed[1].sae.W_dec)


def test_every_learning_rate_diverging_names_the_grid(planted, tmp_path):
    _, paths = planted
    with pytest.raises(InputError, match=r"sae.lr_grid: every learning rate diverged .*lr 1e\+30 at step 2, "
                                         r"lr 2e\+30 at step 2"):
        train_grid(paths["train"], paths["validation"], config(lr_grid=[DIVERGES, 2 * DIVERGES]))
    arr = zarr.create_array(store=str(tmp_path / "t.zarr"), shape=(600, 4), chunks=(100, 4), dtype="float32")
    arr[:] = np.full((600, 4), np.nan, dtype=np.float32)  # non-finite activations: every rate, at the first step
    with pytest.raises(InputError, match=r"sae.lr_grid: .*\(.*lr 0.003 at step 1\)"):
        train_grid(tmp_path / "t.zarr", tmp_path / "t.zarr", config(lr_grid=[3e-3], median_sample=100))


def test_saelens_loads_our_sae_and_reproduces_its_latents(tmp_path):
    sae_lens = pytest.importorskip("sae_lens")
    ours = TopKSAE(16, 64, 4, seed=5)
    with torch.no_grad():
        ours.b_pre.normal_()
    ours.save(tmp_path, {"model_name": "tiny", "checkpoint": "step-10", "layer": 2, "context_size": 65})
    theirs = sae_lens.SAE.load_from_disk(str(tmp_path), device="cpu")
    assert theirs.cfg.k == 4 and theirs.cfg.d_sae == 64 and theirs.cfg.metadata.checkpoint == "step-10"
    x = torch.randn(50, 16)
    with torch.no_grad():
        torch.testing.assert_close(theirs.encode(x), ours.dense_latents(x))
        torch.testing.assert_close(theirs.decode(theirs.encode(x)), ours(x))
    back = TopKSAE.load(tmp_path)
    assert torch.equal(back.W_dec, ours.W_dec) and torch.equal(back.b_pre, ours.b_pre)


def test_hook_names_follow_transformer_lens():
    from lmscope.sae_checkpoints.sae_training import hook_name

    assert hook_name(0, 4) == "blocks.0.hook_resid_pre"
    assert hook_name(2, 4) == "blocks.1.hook_resid_post"
    assert hook_name(4, 4) == "ln_final.hook_normalized"  # hidden_states[N] is final-normed


def test_config_defaults_are_the_schemas():
    """Defaults live in the schema (the workflow passes every key of `sae`); the dataclass's, which tests and
    benchmarks build on, must be the same."""
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    defaults = {key: spec["default"] for key, spec in schema["properties"]["sae"]["properties"].items()
                if key not in ("sweep", "init")}  # fig2's grid, and where to start: the workflow's, not the trainer's
    fields = {f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
              for f in dataclasses.fields(SAETrainConfig)}
    assert fields == defaults
