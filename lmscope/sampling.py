"""One seeded way to pick a sample of a split's items (documents, rows): the same seed gives the same items on
every checkpoint and every run, spread across the split (a split is ordered by source, so its first items may all
be one language), and returned in order, so that reading them visits each store chunk once."""

from __future__ import annotations

import numpy as np


def seeded_sample(n: int, size: int, seed: int) -> np.ndarray:
    """Sorted indices of `size` of `n` items drawn with `seed` without replacement; all `n` when size >= n."""
    return np.sort(np.random.default_rng(seed).choice(n, size=min(n, size), replace=False))
