"""Geometric noise levels (Song & Ermon 2019, §4.2): exact endpoints, one constant ratio."""

from __future__ import annotations

import math

import pytest
import torch

from scorelib.errors import ConfigError
from scorelib.schedules import geometric_sigmas


@pytest.mark.parametrize(("sigma_max", "sigma_min", "n"), [(20.0, 1.0, 10), (1.0, 0.01, 10), (50.0, 0.01, 232), (2.0, 1.0, 2)])
def test_geometric_sigmas_endpoints_and_constant_ratio(sigma_max, sigma_min, n):
    s = geometric_sigmas(sigma_max, sigma_min, n)
    assert s.shape == (n,) and s.dtype == torch.float64
    assert float(s[0]) == sigma_max and float(s[-1]) == sigma_min
    ratios = s[:-1] / s[1:]
    expected = (sigma_max / sigma_min) ** (1 / (n - 1))
    assert torch.allclose(ratios, torch.full_like(ratios, expected), rtol=1e-12, atol=0)
    assert bool((ratios > 1).all())


def test_geometric_sigmas_is_uniform_in_log_sigma():
    s = geometric_sigmas(20.0, 1.0, 10)
    assert torch.allclose(torch.log(s), torch.linspace(math.log(20.0), 0.0, 10, dtype=torch.float64), atol=1e-14)


def test_geometric_sigmas_single_level_and_dtype():
    assert geometric_sigmas(0.5, 0.5, 1).tolist() == [0.5]
    assert geometric_sigmas(1.0, 0.01, 5, dtype=torch.float32).dtype == torch.float32


@pytest.mark.parametrize(("sigma_max", "sigma_min", "n"), [(1.0, 2.0, 5), (1.0, 0.0, 5), (-1.0, 0.1, 5), (1.0, 0.1, 0),
                                                            (1.0, 0.1, 2.5), (1.0, 0.5, 1)])
def test_geometric_sigmas_rejects_bad_input(sigma_max, sigma_min, n):
    with pytest.raises(ConfigError):
        geometric_sigmas(sigma_max, sigma_min, n)
