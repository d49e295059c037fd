"""scikit-learn's digits as the book uses them: shapes, the [-1, 1] scaling, a fixed disjoint split."""

from __future__ import annotations

import pytest
import torch

from scorelib.datasets import digits
from scorelib.errors import ConfigError


def test_digits_shapes_and_range():
    x, y = digits("train")
    xt, yt = digits("test")
    assert x.shape == (1438, 1, 8, 8) and xt.shape == (359, 1, 8, 8)
    assert x.dtype == torch.float32 and y.dtype == torch.int64
    assert float(x.min()) == -1.0 and float(x.max()) == 1.0
    assert set(y.tolist()) == set(range(10)) and set(yt.tolist()) == set(range(10))


def test_digits_values_are_the_17_grey_levels_scaled():
    x, _ = digits("all", dtype=torch.float64)
    levels = torch.unique(x)
    assert torch.allclose(levels, torch.arange(17, dtype=torch.float64) / 8 - 1)


def test_digits_split_is_fixed_disjoint_and_complete():
    x, y = digits("train")
    xt, yt = digits("test")
    x2, _ = digits("train")
    assert torch.equal(x, x2)  # no hidden randomness
    everything, labels = digits("all")
    assert len(x) + len(xt) == len(everything)
    # the two splits together are a permutation of the whole set (compare sorted rows)
    rows = lambda a: sorted(map(tuple, a.flatten(1).tolist()))  # noqa: E731
    assert rows(torch.cat([x, xt])) == rows(everything)
    assert torch.equal(torch.cat([y, yt]).bincount(), labels.bincount())


def test_digits_unknown_split():
    with pytest.raises(ConfigError):
        digits("validation")
