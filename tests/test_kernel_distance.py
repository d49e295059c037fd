"""The kernel distance (KID) against torchmetrics, its unbiasedness and its jackknife standard error by
simulation, and our digits KID's floor and control."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torchmetrics.image.kid import KernelInceptionDistance, poly_mmd

from scorelib.datasets import digits
from scorelib.errors import ConfigError
from scorelib.kernel_distance import digits_kernel_distance, kernel_distance, ratio_with_se

DT = torch.float64


def _draw(n: int, shift: float, g: torch.Generator) -> torch.Tensor:
    return torch.randn(n, 4, generator=g, dtype=DT) + shift


def test_equal_sizes_match_torchmetrics_poly_mmd_and_its_metric_class():
    g = torch.Generator().manual_seed(0)
    x, y = _draw(50, 0.0, g), _draw(50, 0.3, g)
    value, _ = kernel_distance(x, y)
    assert value == pytest.approx(float(poly_mmd(x, y)), rel=1e-12)
    # the metric class with one subset of every row, on an identity feature map: the same U-statistic
    with pytest.warns(UserWarning):
        kid = KernelInceptionDistance(feature=nn.Identity(), subsets=1, subset_size=50)
    kid.update(y, real=True)
    kid.update(x, real=False)
    assert value == pytest.approx(float(kid.compute()[0]), rel=1e-10)


def test_unbiased_under_the_null_and_the_jackknife_se_matches_the_spread():
    """Same law: the mean over R replicates is 0 within 3 standard errors of that mean, and the jackknife se is
    conservative (a degenerate U-statistic: between 1 and 1.6 times the replicates' sd). Under a shift, the jackknife
    se of one estimate agrees with the replicates' standard deviation to 25 % (R = 300: the sd itself is known to
    about 4 %, and there the jackknife is asymptotically exact)."""
    g = torch.Generator().manual_seed(1)
    for shift in (0.0, 0.5):
        values, ses = zip(*(kernel_distance(_draw(80, 0.0, g), _draw(120, shift, g)) for _ in range(300)))
        values, ses = torch.tensor(values), torch.tensor(ses)
        sd = float(values.std())
        if shift == 0.0:
            assert abs(float(values.mean())) < 3 * sd / math.sqrt(len(values))
            assert sd < float(ses.mean()) < 1.6 * sd
        else:
            assert float(values.mean()) > 10 * sd / math.sqrt(len(values))
            assert float(ses.mean()) == pytest.approx(sd, rel=0.25)


def test_bad_input_is_a_clear_error():
    with pytest.raises(ConfigError, match=r"\[n, d\] and \[m, d\]"):
        kernel_distance(torch.zeros(5, 3), torch.zeros(5, 4))
    with pytest.raises(ConfigError, match="at least 3 rows"):
        kernel_distance(torch.zeros(2, 3), torch.zeros(5, 3))
    with pytest.raises(ConfigError, match="positive denominator"):
        ratio_with_se((1.0, 0.1), (0.0, 0.1))


def test_ratio_se_is_the_delta_method():
    r, se = ratio_with_se((1.0, 0.1), (2.0, 0.2))
    assert r == 0.5
    assert se == pytest.approx(0.5 * math.sqrt(0.1**2 + 0.1**2))
    assert ratio_with_se((0.0, 0.1), (2.0, 0.2)) == (0.0, pytest.approx(0.05))


def test_digits_kid_floor_is_zero_and_the_independent_pixel_model_is_far_above():
    """Real training digits against the test split sit at 0 within 3 se (KID is unbiased); the independent-pixel
    Gaussian (the digits claims' control) lies more than 4 of its se above 0.1, the digits claims' bar."""
    train_x, _ = digits("train")
    test_x, _ = digits("test")
    g = torch.Generator().manual_seed(0)
    floor, floor_se = digits_kernel_distance(train_x[torch.randperm(len(train_x), generator=g)[:200]], test_x)
    assert abs(floor) < 3 * floor_se and floor_se < 0.05
    flat = train_x.flatten(1).double()
    pixels = flat.mean(0) + torch.randn(200, 64, generator=g, dtype=DT) * flat.std(0)
    control, control_se = digits_kernel_distance(pixels.float().reshape(200, 1, 8, 8), test_x)
    assert control - 4 * control_se > 0.1


def test_digits_kid_references_share_the_fd_reference_sets():
    """The same generator draws the same real subset and Gaussian for the FD and the KID references."""
    from scorelib.kernel_distance import digits_kid_references
    from scorelib.metrics import digits_reference_sets

    (floor, floor_se), (gauss, gauss_se) = digits_kid_references(200, torch.Generator().manual_seed(0))
    real, draws = digits_reference_sets(200, torch.Generator().manual_seed(0))
    assert (floor, floor_se) == digits_kernel_distance(real, digits("test")[0])
    assert abs(floor) < 3 * floor_se and gauss > floor


def test_dead_features_keep_their_raw_scale():
    """Uniform noise activates classifier features that no digit does: its KID is large but finite, and far above
    the bar with confidence (value − 2 se > 0.1), not an overflow whose se swallows it."""
    noise = 2 * torch.rand(200, 1, 8, 8, generator=torch.Generator().manual_seed(0)) - 1
    value, se = digits_kernel_distance(noise, digits("test")[0])
    assert math.isfinite(value) and value - 2 * se > 0.1 and value < 1e6
