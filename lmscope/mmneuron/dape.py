"""Domain activation probability entropy (DAPE): which neurons of a module are domain-specific (METHODS B3,
the MMNeuron paper's section 3).

Per module, over all its layers at once (as the reference code does):

    p[u, i]  = M[u, i] / N_i                      how often neuron u fires (> 0) on domain i's tokens
    P'[u, i] = p[u, i] / Σ_j p[u, j]              (0 where the sum is 0)
    DAPE_u   = − Σ_i P'[u, i] ln P'[u, i]          low: the neuron fires on few domains

The threshold τ is the k-th smallest of all p of the module (layers × neurons × domains), k = round(0.95 × their
number) — the reference code's `kthvalue`. Candidates are neurons with some p above τ (a neuron that rarely
fires anywhere has a low entropy too, and must not be chosen for it). The round(0.01 × neurons in the module)
candidates with the lowest DAPE are selected (ties: lower layer, then lower neuron index, first), and each is
assigned to every domain whose p is above τ — possibly several.
"""

from __future__ import annotations

import numpy as np

from lmscope.errors import InputError


def probabilities(counts: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """p[layer, neuron, domain] from activation counts [domain, layer, neuron] and tokens seen [domain]."""
    counts = np.asarray(counts, dtype=np.float64)
    tokens = np.asarray(tokens, dtype=np.float64)
    if (tokens <= 0).any():
        raise InputError(f"DAPE: a domain saw no tokens (tokens per domain: {tokens.tolist()})")
    return np.moveaxis(counts / tokens[:, None, None], 0, -1)


def entropy(p: np.ndarray) -> np.ndarray:
    """DAPE of every neuron: the entropy (nats) of its activation probabilities normalised over domains."""
    total = p.sum(axis=-1, keepdims=True)
    share = np.divide(p, total, out=np.zeros_like(p), where=total > 0)
    logs = np.log(share, out=np.zeros_like(share), where=share > 0)
    return -(share * logs).sum(axis=-1)


def threshold(p: np.ndarray, filter_rate: float) -> float:
    """τ: the k-th smallest of all probabilities of the module, k = round(filter_rate × their number)."""
    values = np.sort(p, axis=None)
    k = max(1, round(filter_rate * values.size))
    return float(values[k - 1])


def select(p: np.ndarray, filter_rate: float = 0.95, top_rate: float = 0.01):
    """(dape [layer, neuron], selected [layer, neuron] bool, domains [layer, neuron, domain] bool, τ) for one
    module's probabilities p[layer, neuron, domain]; `domains` is False for neurons not selected."""
    dape = entropy(p)
    tau = threshold(p, filter_rate)
    above = p > tau
    candidate = above.any(axis=-1)
    n_select = round(top_rate * dape.size)
    flat = np.flatnonzero(candidate.ravel())
    order = flat[np.lexsort((flat, dape.ravel()[flat]))]  # by DAPE, then by position (layer-major)
    selected = np.zeros(dape.size, dtype=bool)
    selected[order[:n_select]] = True
    selected = selected.reshape(dape.shape)
    return dape, selected, above & selected[..., None], tau
