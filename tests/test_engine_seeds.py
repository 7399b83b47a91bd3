"""Seeds that reach numpy or scikit-learn (t-SNE, FAIG's random ranking, FAIG's per-image noise seeds ``seed + j``)
are checked against their range [0, 2**32 - 1] up front, in words, instead of failing deep inside those libraries."""
import numpy as np
import pytest
import torch

from srwidgets import zoo
from srwidgets.ddr import embed
from srwidgets.engine import check_seed
from srwidgets.errors import InputError
from srwidgets.faig.masking import degraded_inputs, rank


def test_check_seed_ranges():
    assert check_seed(-5) == -5 and check_seed(2 ** 64 - 1) == 2 ** 64 - 1
    assert check_seed(2 ** 32 - 1, numpy=True) == 2 ** 32 - 1 and check_seed(np.uint32(3), numpy=True) == 3
    for bad in (-1, 2 ** 32):
        with pytest.raises(InputError, match=r"\[0, 2\*\*32 - 1\]"):
            check_seed(bad, numpy=True)


@pytest.mark.parametrize("seed", [-1, 2 ** 32, 2 ** 64 - 1])
def test_numpy_bound_seeds_are_refused_in_words(seed):
    features = np.random.default_rng(0).normal(size=(12, 5))
    with pytest.raises(InputError, match="seed"):
        embed(features, "tsne", perplexity=3, seed=seed)
    baseline, target = zoo.faig_pair()
    with pytest.raises(InputError, match="seed"):
        rank("random", baseline, target, seed=seed)
    with pytest.raises(InputError, match="seed"):
        degraded_inputs([torch.rand(3, 16, 16)], ["noise"], 2, seed)


def test_the_largest_numpy_seed_runs():
    baseline, target = zoo.faig_pair()
    order = rank("random", baseline, target, seed=2 ** 32 - 1)
    assert order.ndim == 1 and len(set(order.tolist())) == len(order)
    out = degraded_inputs([torch.rand(3, 16, 16), torch.rand(3, 16, 16)], ["noise"], 2, 2 ** 32 - 1)
    assert len(out["noise"]) == 2
