"""Which feature of the next checkpoint's SAE continues each feature of this one (issue 22), by behaviour.

Each checkpoint's SAE reads a different model, so decoder directions are not comparable between them; what the
features do is. Both SAEs encode the same seeded sample of P test-split token positions (one corpus: the same
documents at the same positions), giving activations A [n_a, P] and B [n_b, P], and every pair is scored by the
Pearson correlation of its two rows,

    C_ij = sum_p (A_ip - mean_i)(B_jp - mean_j) / (|A_i - mean_i| |B_j - mean_j|)    (0 where a row never varies)

and the one-to-one assignment with the largest sum of C over matched pairs (the Hungarian problem, scipy's
linear_sum_assignment) pairs them: min(n_a, n_b) pairs, each feature used once, so two features of one
checkpoint never claim the same successor. `by: decoder_cosine` scores pairs by the cosine of their decoder
rows instead, which means something only where the two SAEs share a basis: a warm-started chain (sae.init:
previous) or two seeds at one checkpoint. Both scores of every matched pair are written either way.

The seed baseline is this same matching between two SAEs of one checkpoint that differ only in their seed: the
share of features two seeds agree on bounds what any share between checkpoints can mean.

The sample (rule matching_sample) is each checkpoint's rows at P positions drawn with matching.seed, the same
rows for every checkpoint. Memory: A and B as float16 [features, P] (the issue's bound), C as float32
[n_a, n_b] built in blocks of features, and scipy's float64 copy of C for the assignment (12 bytes x n_a x n_b
in all: 50 MB at the embedded 2,048 features, 13 GB at the paper's 32,768).
"""

from __future__ import annotations

import logging

import numpy as np
import polars as pl
import torch
from scipy.optimize import linear_sum_assignment

from lmscope.atomic import atomic_path
from lmscope.models import resolve_device
from lmscope.sae_checkpoints.activation_store import CheckedStore
from lmscope.sae_checkpoints.sae import TopKSAE
from lmscope.sampling import seeded_sample

log = logging.getLogger(__name__)

SCORES = ("correlation", "decoder_cosine")  # what `by` may name: the matches table's columns


def read_sample(store, rows: np.ndarray) -> np.ndarray:
    """The store's `rows` as float16 [len(rows), d] (orthogonal selection: each chunk decoded once)."""
    return np.asarray(store[rows], dtype=np.float16)


@torch.no_grad()
def feature_activations(sae: TopKSAE, sample: np.ndarray, batch_rows: int = 4096, device="cpu") -> torch.Tensor:
    """[d_sae, positions] float16: every feature's activation at each row of `sample` ([positions, d]), encoded
    `batch_rows` rows at a time."""
    out = torch.zeros(sae.d_sae, len(sample), dtype=torch.float16, device=device)
    for start in range(0, len(sample), batch_rows):
        x = torch.from_numpy(np.asarray(sample[start:start + batch_rows], dtype=np.float32)).to(device)
        vals, idx = sae.encode(x)
        cols = torch.arange(start, start + len(x), device=device).unsqueeze(1).expand_as(idx)
        out[idx.flatten(), cols.flatten()] = vals.flatten().to(torch.float16)
    return out


def _standardised(block: torch.Tensor) -> torch.Tensor:
    """float32 rows less their mean, scaled to unit norm; a row that never varies stays 0."""
    x = block.float()
    varies = block.amax(1) > block.amin(1)
    x = x - x.mean(1, keepdim=True)
    return torch.where(varies[:, None], x / x.norm(dim=1, keepdim=True).clamp_min(1e-30), 0.0)


def correlation(a: torch.Tensor, b: torch.Tensor, block: int = 2048) -> torch.Tensor:
    """[n_a, n_b] float32 Pearson correlation of the rows of `a` and `b` (float16 activations over the same
    positions), built `block` rows of each at a time so that only two float32 blocks exist at once."""
    out = torch.empty(len(a), len(b), dtype=torch.float32, device=a.device)
    for i in range(0, len(a), block):
        left = _standardised(a[i:i + block])
        for j in range(0, len(b), block):
            out[i:i + block, j:j + block] = left @ _standardised(b[j:j + block]).T
    return out


def decoder_cosine(sae_a: TopKSAE, sae_b: TopKSAE) -> torch.Tensor:
    """[n_a, n_b] cosine of the decoder rows (unit norm in SAEs trained here; normalised again for any other)."""
    return (torch.nn.functional.normalize(sae_a.W_dec.detach().float(), dim=1)
            @ torch.nn.functional.normalize(sae_b.W_dec.detach().float(), dim=1).T)


def assign(score: torch.Tensor) -> np.ndarray:
    """For each row, the column the maximum-weight one-to-one assignment gives it; -1 for the rows left over
    when there are more rows than columns."""
    rows, cols = linear_sum_assignment(score.cpu().numpy(), maximize=True)
    match = np.full(score.shape[0], -1, dtype=np.int64)
    match[rows] = cols
    return match


def match_features(sae_a: TopKSAE, sae_b: TopKSAE, sample_a: np.ndarray, sample_b: np.ndarray,
                   by: str = "correlation", batch_rows: int = 4096, device="cpu") -> pl.DataFrame:
    """The matches table of SAE A's features to SAE B's: feature, match (null when left over), correlation and
    decoder_cosine of the matched pair, active (the feature varies on the sample: only such a feature can be
    matched by behaviour) and same_index (its match has its own index, as a warm-started chain keeps them).
    `sample_a`, `sample_b`: the same test positions of each SAE's checkpoint ([positions, d])."""
    if by not in SCORES:
        raise ValueError(f"matching.by must be one of {', '.join(SCORES)}, got {by!r}")
    acts_a = feature_activations(sae_a, sample_a, batch_rows, device)
    acts_b = feature_activations(sae_b, sample_b, batch_rows, device)
    corr = correlation(acts_a, acts_b)
    cosine = decoder_cosine(sae_a, sae_b).to(corr.device)
    match = assign(corr if by == "correlation" else cosine)
    matched = match >= 0
    index = torch.from_numpy(np.where(matched, match, 0)).to(corr.device)
    take = torch.arange(len(match), device=corr.device)
    active = (acts_a.amax(1) > acts_a.amin(1)).cpu().numpy()
    table = pl.DataFrame({
        "feature": np.arange(len(match), dtype=np.int32),
        "match": pl.Series(np.where(matched, match, 0).astype(np.int32)),
        "correlation": corr[take, index].cpu().numpy(),
        "decoder_cosine": cosine[take, index].cpu().numpy(),
        "active": active,
        "same_index": matched & (match == np.arange(len(match))),
    })
    left_over = pl.Series(~matched)
    table = table.with_columns(*(pl.when(left_over).then(None).otherwise(pl.col(c)).alias(c)
                                 for c in ("match", "correlation", "decoder_cosine")))
    log.info("%d of %d features active on %d positions; their matches' median correlation %.3f", int(active.sum()),
             len(match), len(sample_a), table.filter("active")["correlation"].median() or 0.0)
    return table


def run_sample(*, test, sample, positions: int, seed: int) -> None:
    """Rule matching_sample: the checkpoint's activations at the sampled test positions, float16 [positions, d]
    as .npy (64 MB at the default 16,384 positions and d = 2,048), so that matching reads no store: with
    activations.keep false a checkpoint's stores go before the next checkpoint's are written."""
    store = CheckedStore(test)
    with atomic_path(sample) as tmp, open(tmp, "wb") as out:
        np.save(out, read_sample(store, seeded_sample(store.shape[0], positions, seed)))


def run(*, sae, other_sae, sample, other_sample, matches, by: str, batch_rows: int, device: str,
        threads: int) -> None:
    """Rule match_features: matches.parquet of `sae`'s features (on its checkpoint's `sample`) to `other_sae`'s
    (on `other_sample`: the next checkpoint's, or the same one for the seed baseline)."""
    torch.set_num_threads(threads)
    dev = resolve_device(device)
    table = match_features(TopKSAE.load(sae).to(dev), TopKSAE.load(other_sae).to(dev),
                           np.load(sample, mmap_mode="r"), np.load(other_sample, mmap_mode="r"), by, batch_rows, dev)
    with atomic_path(matches) as tmp:
        table.write_parquet(tmp)
