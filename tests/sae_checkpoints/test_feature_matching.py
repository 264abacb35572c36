from itertools import permutations

import numpy as np
import polars as pl
import torch
import zarr

from lmscope.sae_checkpoints.feature_matching import (assign, correlation, feature_activations, match_features,
                                                      read_sample, run, run_sample)
from lmscope.sae_checkpoints.sae import TopKSAE
from lmscope.sampling import seeded_sample


def store_of(path, rows: np.ndarray) -> zarr.Array:
    arr = zarr.create_array(store=str(path), shape=rows.shape, chunks=(500, rows.shape[1]), dtype="float32")
    arr[:] = rows
    return arr


def unit_rows(n, d, seed) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def permuted_copy(sae: TopKSAE, perm: torch.Tensor, noise: float, seed: int) -> TopKSAE:
    """SAE whose latent j is `sae`'s latent perm[j], its weights perturbed by `noise` x a unit Gaussian."""
    gen = torch.Generator().manual_seed(seed)
    out = TopKSAE(sae.d_in, sae.d_sae, sae.k)
    with torch.no_grad():
        out.W_enc_t.copy_(sae.W_enc_t[perm] + noise * torch.randn(sae.W_enc_t.shape, generator=gen))
        out.W_dec.copy_(torch.nn.functional.normalize(
            sae.W_dec[perm] + noise * torch.randn(sae.W_dec.shape, generator=gen), dim=1))
        out.b_pre.copy_(sae.b_pre)
    return out


def test_matching_recovers_a_permutation_of_the_latents_exactly_despite_noise(tmp_path):
    sae = TopKSAE(16, 64, 6, seed=0)
    with torch.no_grad():
        sae.b_pre.copy_(0.01 * torch.randn(16, generator=torch.Generator().manual_seed(1)))
    perm = torch.randperm(64, generator=torch.Generator().manual_seed(2))
    other = permuted_copy(sae, perm, noise=0.02, seed=3)
    store = store_of(tmp_path / "test.zarr", unit_rows(4000, 16, 4))
    sample = read_sample(store, seeded_sample(4000, 3000, 0))
    expected = torch.argsort(perm).numpy()  # A's latent i is B's latent j with perm[j] = i
    for by in ("correlation", "decoder_cosine"):
        table = match_features(sae, other, sample, sample, by=by)
        active = table["active"].to_numpy()
        assert active.sum() >= 60  # nearly every latent fires on 3,000 random unit vectors
        assert (table["match"].to_numpy()[active] == expected[active]).all(), by
        assert table.filter("active")["correlation"].min() > 0.8
    assert (table["same_index"].to_numpy() == (expected == np.arange(64)))[active].all()


def test_correlation_equals_numpys_and_a_silent_feature_correlates_with_nothing():
    gen = np.random.default_rng(0)
    a = np.maximum(gen.standard_normal((7, 300)), 0)
    b = np.maximum(gen.standard_normal((5, 300)), 0)
    a[3] = 0  # never active
    b[1] = 0.5  # constant: no variance either
    got = correlation(torch.from_numpy(a).half(), torch.from_numpy(b).half(), block=2).numpy()
    a16, b16 = a.astype(np.float16).astype(np.float64), b.astype(np.float16).astype(np.float64)
    with np.errstate(invalid="ignore"):  # numpy's NaN for the rows without variance, set to 0 below
        want = np.corrcoef(np.vstack([a16, b16]))[:7, 7:]
    want[3, :] = 0
    want[:, 1] = 0
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_assignment_is_the_brute_force_optimum_one_to_one():
    score = torch.from_numpy(np.random.default_rng(5).random((5, 4)))
    match = assign(score)
    assert (match >= 0).sum() == 4 and len(set(match[match >= 0])) == 4
    best = max(sum(score[r, c] for r, c in zip(rows, range(4))) for rows in permutations(range(5), 4))
    assert np.isclose(sum(score[r, match[r]] for r in range(5) if match[r] >= 0), best)


def test_the_sample_is_seeded_sorted_and_whole_when_small():
    a, b = seeded_sample(1000, 100, 7), seeded_sample(1000, 100, 7)
    assert (a == b).all() and (np.diff(a) > 0).all() and len(a) == 100
    assert (seeded_sample(50, 100, 7) == np.arange(50)).all()


def test_activations_are_the_dense_latents_at_the_sampled_rows(tmp_path):
    sae = TopKSAE(8, 32, 3, seed=1)
    rows = unit_rows(900, 8, 2)
    store = store_of(tmp_path / "s.zarr", rows)
    picked = seeded_sample(900, 200, 3)
    sample = read_sample(store, picked)
    assert sample.dtype == np.float16 and (sample == rows[picked].astype(np.float16)).all()
    got = feature_activations(sae, sample, batch_rows=64)
    want = sae.dense_latents(torch.from_numpy(sample.astype(np.float32))).T.half()
    assert got.dtype == torch.float16 and torch.equal(got, want)


def test_run_writes_the_matches_table(tmp_path):
    sae, other = TopKSAE(8, 32, 3, seed=1), TopKSAE(8, 32, 3, seed=2)
    sae.save(tmp_path / "a", {}), other.save(tmp_path / "b", {})
    store_of(tmp_path / "t.zarr", unit_rows(600, 8, 3))
    run_sample(test=tmp_path / "t.zarr", sample=tmp_path / "s.npy", positions=500, seed=0)
    assert np.load(tmp_path / "s.npy").shape == (500, 8)
    run(sae=tmp_path / "a", other_sae=tmp_path / "b", sample=tmp_path / "s.npy", other_sample=tmp_path / "s.npy",
        matches=tmp_path / "m.parquet", by="correlation", batch_rows=128, device="cpu", threads=1)
    table = pl.read_parquet(tmp_path / "m.parquet")
    assert table.columns == ["feature", "match", "correlation", "decoder_cosine", "active", "same_index"]
    assert table.height == 32 and table["match"].n_unique() == 32
