"""The kernel distance of Bińkowski et al. (2018, "Demystifying MMD GANs", §4: KID) with a standard error,
and our digits KID in the feature space of :mod:`scorelib.digits_classifier`.

KID is the unbiased estimate of MMD² (Gretton et al. 2012, Lemma 6) under the cubic polynomial kernel
``k(x, y) = (xᵀy / d + 1)³`` (torchmetrics' :func:`~torchmetrics.image.kid.poly_kernel`, the kernel of its
``KernelInceptionDistance``). Unlike a Fréchet distance it is unbiased: two samples of one law score 0 in
expectation at any sample size, so real held-out data sit at 0 ± se, and a criterion "≤ bar" with bar > 0 is one
that real data pass clearly.

For sets of different sizes n (``x``) and m (``y``),

    KID = Σ_{i≠j} k(x_i, x_j) / (n(n-1)) + Σ_{i≠j} k(y_i, y_j) / (m(m-1)) - 2 Σ_{i,j} k(x_i, y_j) / (nm),

which for n = m is torchmetrics' ``poly_mmd`` (tests/test_kernel_distance.py checks it). Its standard error is the
two-sample delete-one jackknife of a U-statistic (Arvesen 1969): the leave-one-out values of both samples come in
closed form from the kernel matrices' row sums, so it costs no more than the estimate. When the two laws differ it
matches the estimate's spread over replicates; when they are equal (a degenerate U-statistic) it overstates it by
about a third (tests/test_kernel_distance.py), so a real-data floor is never judged on too small an error.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torchmetrics.image.kid import poly_kernel

from scorelib.digits_classifier import digits_classifier, digits_features
from scorelib.errors import ConfigError


def kernel_distance(x: Tensor, y: Tensor) -> tuple[float, float]:
    """``(KID, its jackknife standard error)`` between feature sets ``x [n, d]`` and ``y [m, d]`` (n, m ≥ 3), in
    float64. See the module docstring for the estimator and the standard error."""
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ConfigError(f"kernel_distance takes two feature sets [n, d] and [m, d], got {tuple(x.shape)} and "
                          f"{tuple(y.shape)}")
    n, m = x.shape[0], y.shape[0]
    if n < 3 or m < 3:
        raise ConfigError(f"kernel_distance needs at least 3 rows on each side for its jackknife, got {n} and {m}")
    x, y = x.double(), y.double()
    kxx, kyy, kxy = poly_kernel(x, x), poly_kernel(y, y), poly_kernel(x, y)
    rx = kxx.sum(1) - kxx.diagonal()  # Σ_{j≠i} k(x_i, x_j)   [n]
    ry = kyy.sum(1) - kyy.diagonal()  # [m]
    cx, cy = kxy.sum(1), kxy.sum(0)  # Σ_j k(x_i, y_j) [n], Σ_i k(x_i, y_j) [m]
    a, b, c = rx.sum(), ry.sum(), cx.sum()
    value = a / (n * (n - 1)) + b / (m * (m - 1)) - 2 * c / (n * m)
    # leave x_i out: its row and column go from Σ_{i≠j} k_xx, its row from Σ k_xy
    loo_x = (a - 2 * rx) / ((n - 1) * (n - 2)) + b / (m * (m - 1)) - 2 * (c - cx) / ((n - 1) * m)
    loo_y = a / (n * (n - 1)) + (b - 2 * ry) / ((m - 1) * (m - 2)) - 2 * (c - cy) / (n * (m - 1))
    var = (n - 1) / n * (loo_x - loo_x.mean()).pow(2).sum() + (m - 1) / m * (loo_y - loo_y.mean()).pow(2).sum()
    return float(value), math.sqrt(float(var))


def standardised_digits_features(model: torch.nn.Module, images: Tensor) -> Tensor:
    """The classifier's features ``[n, 64]`` of ``images [n, 1, 8, 8]``, standardised per feature by the mean and
    standard deviation of the *training* digits' features (float64). The cubic kernel's ``xᵀy / d`` assumes features
    of unit scale (Inception's pool features are); ours have norms near 43, where ``(xᵀy/d + 1)³`` is dominated by
    the features' largest moments and a real-data floor of 0 ± 85 swamps every baseline. The scale is fixed by the
    training data alone, never by a sample under test. Features that no training digit activates (7 of 64 ReLUs: 0 on
    every real digit) keep their raw scale: dividing by their zero spread would blow any sample that does activate
    them up to 10²⁴."""
    from scorelib.datasets import digits

    reference = digits_features(model, digits("train")[0]).double()
    mean, std = reference.mean(0), reference.std(0)
    std = torch.where(std > 0, std, torch.ones_like(std))
    return (digits_features(model, images).double() - mean) / std


def digits_kernel_distance(images_a: Tensor, images_b: Tensor,
                           model: torch.nn.Module | None = None) -> tuple[float, float]:
    """Our digits KID: :func:`kernel_distance` between the digits classifier's standardised penultimate-layer
    features (:func:`standardised_digits_features`) of two image sets ``[n, 1, 8, 8]`` and ``[m, 1, 8, 8]``, as
    ``(value, se)``. Not the Inception KID of the papers: comparable only to itself."""
    model = model if model is not None else digits_classifier(verbose=False)
    return kernel_distance(standardised_digits_features(model, images_a), standardised_digits_features(model, images_b))


def digits_kid_references(n: int, generator: torch.Generator, model: torch.nn.Module | None = None
                          ) -> tuple[tuple[float, float], tuple[float, float]]:
    """The digits KID against the test split of :func:`~scorelib.metrics.digits_reference_sets` at sample size
    ``n``: ``((floor, se), (full-covariance Gaussian, se))``. The floor is real training digits, 0 in expectation."""
    from scorelib.datasets import digits
    from scorelib.metrics import digits_reference_sets

    model = model if model is not None else digits_classifier(verbose=False)
    test_x, _ = digits("test")
    real, gauss = digits_reference_sets(n, generator)
    return digits_kernel_distance(real, test_x, model), digits_kernel_distance(gauss, test_x, model)


def ratio_with_se(num: tuple[float, float], den: tuple[float, float]) -> tuple[float, float]:
    """``num / den`` with the delta-method standard error of a ratio of independent estimates,
    ``|r|·√((s_num/num)² + (s_den/den)²)`` written as ``√(s_num² + r² s_den²) / |den|`` so that num = 0 is allowed.
    When both share a reference set their covariance is positive and this se is conservative."""
    (a, sa), (b, sb) = num, den
    if not b > 0:
        raise ConfigError(f"a kernel-distance ratio needs a positive denominator, got {b!r}")
    r = a / b
    return r, math.sqrt(sa**2 + (r * sb) ** 2) / b
