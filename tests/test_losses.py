"""Score-matching objectives against Hyvärinen's Theorem 1, torch.func, and closed forms.

Monte Carlo checks compare a sample mean with its expectation within 4 standard errors estimated
from the same samples (false-alarm probability ~6e-5 per comparison; seeds are fixed).
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.func import jacrev, vmap

from scorelib import losses
from scorelib.distributions import GaussianMixture
from scorelib.errors import ConfigError

DT = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def data_mixture() -> GaussianMixture:
    weights = torch.tensor([0.3, 0.7], dtype=DT)
    means = torch.tensor([[-1.5, 0.5], [1.0, -0.5]], dtype=DT)
    covs = torch.tensor([[[0.6, 0.2], [0.2, 0.4]], [[0.5, -0.1], [-0.1, 0.8]]], dtype=DT)
    return GaussianMixture(weights, means, covs)


def random_mlp(d: int = 2, width: int = 16, seed: int = 0) -> nn.Module:
    """A small smooth network whose weights come from an explicit generator (not the global RNG)."""
    net = nn.Sequential(nn.Linear(d, width), nn.Tanh(), nn.Linear(width, width), nn.Tanh(), nn.Linear(width, d))
    net = net.to(DT)
    g = _gen(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=DT) / math.sqrt(p.shape[-1]))
    return net


def within_4_se(values: torch.Tensor, expected: float | torch.Tensor, dim: int = 0) -> torch.Tensor:
    se = values.std(dim) / math.sqrt(values.shape[dim])
    return (values.mean(dim) - expected).abs() <= 4 * se


# --- Hyvärinen (2005), Theorem 1 -----------------------------------------------------------------


def test_theorem_1_esm_equals_fisher_divergence_up_to_a_constant():
    """J(θ) = ½E‖ψ - s‖² = E[tr∇ψ + ½‖ψ‖²] + ½E‖s‖² (integration by parts): the per-sample
    difference tr∇ψ + ½‖ψ‖² + ½‖s‖² - ½‖ψ - s‖² has mean 0 under p, though not pointwise."""
    p = data_mixture()
    x, _ = p.sample(20_000, generator=_gen(1))
    psi = random_mlp()
    esm = losses.explicit_score_matching(psi, x, reduction="none")
    fisher = losses.fisher_divergence(psi, p.score, x, reduction="none")
    diff = (esm + 0.5 * (p.score(x) ** 2).sum(-1) - fisher).detach()
    assert diff.abs().max() > 0.1  # the identity holds in expectation only: this is a real test
    assert within_4_se(diff, 0.0)
    # reduction="mean" is the mean of the per-sample values
    torch.testing.assert_close(losses.explicit_score_matching(psi, x), esm.mean())
    torch.testing.assert_close(losses.fisher_divergence(psi, p.score, x), fisher.mean())


def test_fisher_divergence_of_the_true_score_is_zero_and_of_a_shift_is_half_its_norm():
    p = data_mixture()
    x, _ = p.sample(100, generator=_gen(2))
    shift = torch.tensor([0.3, -0.4], dtype=DT)  # ½‖shift‖² = 0.125 at every point
    assert float(losses.fisher_divergence(p.score, p.score, x)) == 0.0
    values = losses.fisher_divergence(lambda y: p.score(y) + shift, p.score, x, reduction="none")
    torch.testing.assert_close(values, torch.full((100,), 0.125, dtype=DT), atol=1e-14, rtol=0)


# --- the exact Jacobian trace --------------------------------------------------------------------


def _trace_by_torch_func(fn, x: torch.Tensor) -> torch.Tensor:
    jac = vmap(jacrev(lambda xi: fn(xi[None])[0]))(x)  # [n, D, D]
    return torch.diagonal(jac, dim1=-2, dim2=-1).sum(-1)


@pytest.mark.parametrize("which", ["mlp", "mixture-score"])
def test_jacobian_trace_equals_torch_func(which):
    d = 3
    if which == "mlp":
        fn = random_mlp(d=d, seed=3)
    else:
        g = _gen(4)
        a = torch.randn(2, d, d, generator=g, dtype=DT)
        gm = GaussianMixture(torch.tensor([0.4, 0.6], dtype=DT), torch.randn(2, d, generator=g, dtype=DT),
                             a @ a.transpose(-1, -2) + 0.5 * torch.eye(d, dtype=DT))
        fn = gm.score
    x = torch.randn(50, d, generator=_gen(5), dtype=DT)
    trace, psi = losses.jacobian_trace(fn, x)
    torch.testing.assert_close(trace, _trace_by_torch_func(fn, x), atol=1e-10, rtol=0)
    torch.testing.assert_close(psi, fn(x), atol=0, rtol=0)


def test_jacobian_trace_of_a_linear_map_is_its_trace():
    a = torch.tensor([[1.0, 2.0, 0.0], [0.5, -3.0, 1.0], [0.0, 4.0, 0.25]], dtype=DT)
    trace, _ = losses.jacobian_trace(lambda y: y @ a.T, torch.randn(7, 3, generator=_gen(6), dtype=DT))
    torch.testing.assert_close(trace, torch.full((7,), -1.75, dtype=DT), atol=1e-14, rtol=0)


# --- sliced score matching is unbiased for ESM ---------------------------------------------------


@pytest.mark.parametrize("variance_reduction", [False, True], ids=["SSM", "SSM-VR"])
@pytest.mark.parametrize("projection", ["gaussian", "rademacher"])
def test_sliced_score_matching_is_unbiased_for_esm(projection, variance_reduction):
    """E_v[vᵀ∇ψ v] = tr∇ψ and E_v[(vᵀψ)²] = ‖ψ‖² when E[vvᵀ] = I (both projection laws)."""
    psi = random_mlp(seed=7)
    x = torch.randn(4, 2, generator=_gen(8), dtype=DT)
    reps = 20_000
    # Each repeated row gets its own direction: R projections per point in a single autograd pass.
    x_rep = x.repeat(reps, 1)
    per_row = losses.sliced_score_matching(
        psi, x_rep, n_projections=1, variance_reduction=variance_reduction, projection=projection,
        generator=_gen(9), reduction="none",
    ).detach().view(reps, 4)
    esm = losses.explicit_score_matching(psi, x, reduction="none").detach()
    assert within_4_se(per_row, esm).all(), (per_row.mean(0), esm)
    assert per_row.std(0).min() > 0  # the projections really were random


def test_sliced_score_matching_with_scaled_basis_projections_is_exact_esm():
    # v ∈ {√D e_i}: mean_i D ∂_iψ_i = tr∇ψ and mean_i ½ D ψ_i² = ½‖ψ‖², deterministically.
    psi = random_mlp(d=3, seed=10)
    x = torch.randn(6, 3, generator=_gen(11), dtype=DT)
    basis = math.sqrt(3) * torch.eye(3, dtype=DT)[:, None, :].expand(3, 6, 3)
    esm = losses.explicit_score_matching(psi, x, reduction="none")
    for vr in (False, True):
        ssm = losses.sliced_score_matching(psi, x, projections=basis, variance_reduction=vr, reduction="none")
        torch.testing.assert_close(ssm, esm, atol=1e-12, rtol=0)


def test_sliced_score_matching_is_reproducible_from_the_generator():
    psi = random_mlp(seed=12)
    x = torch.randn(32, 2, generator=_gen(13), dtype=DT)
    a = losses.sliced_score_matching(psi, x, n_projections=2, generator=_gen(14))
    b = losses.sliced_score_matching(psi, x, n_projections=2, generator=_gen(14))
    c = losses.sliced_score_matching(psi, x, n_projections=2, generator=_gen(15))
    assert torch.equal(a, b) and not torch.equal(a, c)


# --- ESM is minimised by the true score within a Gaussian family ----------------------------------


def test_esm_is_minimised_by_the_true_precision():
    """ψ_P(x) = -P x on x ~ N(0, Σ): J̃(P) = -tr P + ½ E[xᵀP²x], so for a symmetric Δ
    J̃(Σ⁻¹ + Δ) - J̃(Σ⁻¹) = ½ tr(Δ²Σ) > 0 (the true score is the minimiser, Hyvärinen §3.1)."""
    cov = torch.tensor([[1.0, 0.6], [0.6, 2.0]], dtype=DT)
    precision = torch.linalg.inv(cov)
    n = 50_000
    x = torch.randn(n, 2, generator=_gen(16), dtype=DT) @ torch.linalg.cholesky(cov).T

    def esm(p: torch.Tensor) -> torch.Tensor:
        return losses.explicit_score_matching(lambda y: -y @ p.T, x, reduction="none").detach()

    at_truth = esm(precision)
    g = _gen(17)
    for _ in range(6):
        b = 0.15 * torch.randn(2, 2, generator=g, dtype=DT)
        delta = b + b.T
        gap = esm(precision + delta) - at_truth  # per-sample differences
        expected = 0.5 * torch.trace(delta @ delta @ cov)
        assert gap.mean() > 0
        assert within_4_se(gap, expected)


# --- denoising score matching --------------------------------------------------------------------


def test_dsm_value_equals_the_hand_computed_target():
    psi = random_mlp(seed=18)
    x = torch.randn(10, 2, generator=_gen(19), dtype=DT)
    sigma = 0.3
    noisy = x + sigma * torch.randn(10, 2, generator=_gen(20), dtype=DT)
    by_hand = 0.5 * ((psi(noisy) - (x - noisy) / sigma**2) ** 2).sum(-1)
    got = losses.denoising_score_matching(psi, x, sigma, noisy=noisy, reduction="none")
    torch.testing.assert_close(got, by_hand, atol=1e-12, rtol=0)
    torch.testing.assert_close(losses.denoising_score_matching(psi, x, sigma, noisy=noisy), by_hand.mean())


def test_dsm_draws_its_noise_from_the_generator():
    psi = random_mlp(seed=21)
    x = torch.randn(10, 2, generator=_gen(22), dtype=DT)
    noisy, z = losses.perturb(x, 0.5, generator=_gen(23))
    torch.testing.assert_close(noisy, x + 0.5 * z, atol=0, rtol=0)
    drawn = losses.denoising_score_matching(psi, x, 0.5, generator=_gen(23))
    torch.testing.assert_close(drawn, losses.denoising_score_matching(psi, x, 0.5, noisy=noisy), atol=0, rtol=0)


# --- bad inputs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [0.0, -0.1, float("nan")])
def test_dsm_rejects_a_non_positive_sigma(sigma):
    x = torch.zeros(3, 2, dtype=DT)
    with pytest.raises(ConfigError, match="sigma must be positive"):
        losses.denoising_score_matching(lambda y: y, x, sigma)


@pytest.mark.parametrize(
    "call",
    [
        lambda f, x: losses.explicit_score_matching(f, x, reduction="sum"),
        lambda f, x: losses.sliced_score_matching(f, x, reduction="sum"),
        lambda f, x: losses.denoising_score_matching(f, x, 0.1, reduction="sum"),
        lambda f, x: losses.fisher_divergence(f, f, x, reduction="sum"),
    ],
    ids=["esm", "ssm", "dsm", "fisher"],
)
def test_unknown_reduction_raises(call):
    with pytest.raises(ConfigError, match="unknown reduction 'sum'"):
        call(lambda y: -y, torch.ones(3, 2, dtype=DT))


def test_unknown_projection_raises():
    with pytest.raises(ConfigError, match="unknown projection distribution 'uniform'"):
        losses.sliced_score_matching(lambda y: -y, torch.ones(3, 2, dtype=DT), projection="uniform")


def test_projections_of_the_wrong_shape_raise():
    with pytest.raises(ConfigError, match="projections must be"):
        wrong = torch.ones(1, 4, 2, dtype=DT)  # 4 rows for a batch of 3
        losses.sliced_score_matching(lambda y: -y, torch.ones(3, 2, dtype=DT), projections=wrong)
