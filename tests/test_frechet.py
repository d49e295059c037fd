"""The Fréchet distance against closed forms, and the library's digits classifier."""

from __future__ import annotations

import torch

from scorelib import metrics
from scorelib.datasets import digits
from scorelib.digits_classifier import digits_classifier, digits_features, digits_test_accuracy

DT = torch.float64


def test_frechet_distance_closed_forms():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(500, 6, generator=g, dtype=DT) @ torch.randn(6, 6, generator=g, dtype=DT) + 1.0
    assert abs(float(metrics.frechet_distance(a, a))) < 1e-8
    shift = torch.arange(6, dtype=DT)
    # a shift only moves the mean: d² = ‖c‖²
    assert torch.isclose(metrics.frechet_distance(a, a + shift), shift.pow(2).sum(), atol=1e-8)
    # b = 2a: μ_b = 2μ_a, Σ_b = 4Σ_a, so d² = ‖μ_a‖² + tr(Σ_a + 4Σ_a - 2·2Σ_a) = ‖μ_a‖² + tr Σ_a
    expected = a.mean(0).pow(2).sum() + torch.trace(torch.cov(a.T))
    assert torch.isclose(metrics.frechet_distance(a, 2 * a), expected, rtol=1e-8)
    # symmetric
    b = torch.randn(300, 6, generator=g, dtype=DT)
    assert torch.isclose(metrics.frechet_distance(a, b), metrics.frechet_distance(b, a), rtol=1e-8)


def test_digits_classifier_is_accurate_and_the_metric_separates_noise_from_digits():
    model = digits_classifier(verbose=False)
    assert digits_test_accuracy(model) >= 0.95
    train_x, _ = digits("train")
    test_x, _ = digits("test")
    noise = 2 * torch.rand(359, 1, 8, 8, generator=torch.Generator().manual_seed(0)) - 1
    real = metrics.digits_frechet_distance(train_x[:359], test_x, model)
    assert real < 0.1 * metrics.digits_frechet_distance(noise, test_x, model)
    assert digits_features(model, test_x).shape == (359, 64)


def test_digits_fd_references_are_ordered_and_reproducible():
    """Real training digits sit at the floor, a pixel-space Gaussian fit far above it; same generator seed,
    same numbers."""
    model = digits_classifier(verbose=False)
    fd_data, fd_gaussian = metrics.digits_fd_references(200, torch.Generator().manual_seed(0), model)
    assert 0 < fd_data < 0.5 * fd_gaussian
    assert metrics.digits_fd_references(200, torch.Generator().manual_seed(0), model) == (fd_data, fd_gaussian)
