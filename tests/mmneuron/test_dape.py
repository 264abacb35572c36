"""DAPE selection (METHODS B3) on a hand-made probability table with a known answer."""
import math

import numpy as np
import pytest

from lmscope.mmneuron.dape import entropy, probabilities, select, threshold

# p[layer, neuron, domain]: 2 layers x 5 neurons x 3 domains
P = np.array([
    [[0.9, 0.0, 0.0],      # L0N0: domain 0 only
     [0.0, 0.0, 0.0],      # L0N1: never fires (entropy 0, must never be chosen)
     [0.5, 0.5, 0.5],      # L0N2: everywhere, exactly at the threshold
     [0.01, 0.02, 0.03],
     [0.8, 0.7, 0.0]],     # L0N4: domains 0 and 1
    [[0.0, 0.9, 0.0],      # L1N0: domain 1 only (ties L0N0 on entropy 0)
     [0.02, 0.01, 0.02],
     [0.03, 0.0, 0.01],
     [0.0, 0.0, 0.04],     # L1N3: one domain, but rarely (entropy 0, not a candidate)
     [0.01, 0.01, 0.01]],
])


def test_entropy_by_hand():
    dape = entropy(P)
    assert dape[0, 0] == 0 and dape[0, 1] == 0 and dape[1, 3] == 0
    assert dape[0, 2] == pytest.approx(math.log(3))
    a, b = 0.8 / 1.5, 0.7 / 1.5
    assert dape[0, 4] == pytest.approx(-(a * math.log(a) + b * math.log(b)))


def test_threshold_is_the_kth_smallest():
    # 30 values, k = round(0.8 * 30) = 24: the 24th smallest is the 7th largest, 0.5
    assert threshold(P, 0.8) == 0.5
    assert threshold(np.arange(1, 101, dtype=float), 0.95) == 95.0


@pytest.mark.parametrize("top_rate, chosen", [
    (0.1, [(0, 0)]),                    # one neuron: the entropy tie goes to the lower layer
    (0.2, [(0, 0), (1, 0)]),
    (0.3, [(0, 0), (0, 4), (1, 0)]),
    (0.5, [(0, 0), (0, 4), (1, 0)]),    # only three candidates: L0N2 sits at tau, not above it
])
def test_selection_and_assignment(top_rate, chosen):
    dape, selected, domains, tau = select(P, filter_rate=0.8, top_rate=top_rate)
    assert tau == 0.5
    assert sorted(map(tuple, np.argwhere(selected))) == chosen
    expected = {(0, 0): [0], (1, 0): [1], (0, 4): [0, 1]}  # L0N4 belongs to two domains
    for layer, neuron in chosen:
        assert np.flatnonzero(domains[layer, neuron]).tolist() == expected[(layer, neuron)]
    assert not domains[~selected].any()


def test_probabilities_divide_by_each_domains_tokens():
    counts = np.array([[[2, 0]], [[3, 6]]])  # [domain, layer, neuron]
    p = probabilities(counts, np.array([4, 12]))
    assert p.shape == (1, 2, 2)
    assert p[0, 0].tolist() == [0.5, 0.25] and p[0, 1].tolist() == [0.0, 0.5]
    with pytest.raises(ValueError, match="saw no tokens"):
        probabilities(counts, np.array([4, 0]))
