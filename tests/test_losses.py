"""Score-matching objectives against Hyvärinen's Theorem 1, torch.func, and closed forms.

Monte Carlo checks compare a sample mean with its expectation within 4 standard errors estimated
from the same samples (false-alarm probability ~6e-5 per comparison; seeds are fixed).
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

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


def test_esm_is_the_exact_trace_plus_half_the_squared_norm():
    """ESM's trace is :func:`scorelib.likelihood.exact_divergence` (tested there against torch.func)."""
    a = torch.tensor([[1.0, 2.0, 0.0], [0.5, -3.0, 1.0], [0.0, 4.0, 0.25]], dtype=DT)
    x = torch.randn(7, 3, generator=_gen(6), dtype=DT)
    esm = losses.explicit_score_matching(lambda y: y @ a.T, x, reduction="none")
    torch.testing.assert_close(esm, -1.75 + 0.5 * ((x @ a.T) ** 2).sum(-1), atol=1e-13, rtol=0)


def test_esm_is_differentiable_in_the_parameters_and_costs_d_backward_passes(monkeypatch):
    psi = random_mlp(d=3, seed=3)
    x = torch.randn(20, 3, generator=_gen(5), dtype=DT)
    calls = []
    grad = torch.autograd.grad
    monkeypatch.setattr(torch.autograd, "grad", lambda *a, **k: calls.append(1) or grad(*a, **k))
    loss = losses.explicit_score_matching(psi, x)
    assert len(calls) == 3  # one vector-Jacobian product per dimension (the score-matching chapter counts them)
    loss.backward()
    assert all(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in psi.parameters())


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
    noisy, z = losses.add_noise(x, 0.5, generator=_gen(23))
    torch.testing.assert_close(noisy, x + 0.5 * z, atol=0, rtol=0)
    drawn = losses.denoising_score_matching(psi, x, 0.5, generator=_gen(23))
    torch.testing.assert_close(drawn, losses.denoising_score_matching(psi, x, 0.5, noisy=noisy), atol=0, rtol=0)


def test_add_noise_draws_on_the_generator_and_returns_its_noise():
    x = torch.randn(4000, 2, generator=_gen(24), dtype=DT)
    noisy, z = losses.add_noise(x, 0.3, generator=_gen(25))
    torch.testing.assert_close(z, torch.randn(x.shape, generator=_gen(25), dtype=DT), atol=0, rtol=0)
    assert torch.equal(noisy, x + 0.3 * z)
    assert bool(within_4_se(z.flatten(), 0.0)) and abs(float(z.var()) - 1) < 4 * math.sqrt(2 / z.numel())


# --- the draws of the denoising objectives: a noise level, then the noise, from one generator ---------


def _model(x, t):
    return 0.3 * x * t.reshape((-1,) + (1,) * (x.dim() - 1)).to(x.dtype)


def test_ddpm_loss_draws_the_step_then_the_noise():
    from scorelib.schedules import DDPMSchedule

    sched = DDPMSchedule.linear(40, 1e-3, 0.2)
    x0 = torch.randn(16, 3, generator=_gen(26), dtype=DT)
    g = _gen(27)
    t = torch.randint(1, 41, (16,), generator=g)
    noise = torch.randn(x0.shape, generator=g, dtype=DT)
    drawn = losses.ddpm_loss(_model, x0, sched, generator=_gen(27), reduction="none")
    given = losses.ddpm_loss(_model, x0, sched, t=t, noise=noise, reduction="none")
    assert torch.equal(drawn, given)


def test_ncsn_loss_draws_the_level_then_the_noise_and_equals_its_formula():
    sigmas = torch.tensor([1.0, 0.5, 0.1], dtype=DT)
    x = torch.randn(16, 2, generator=_gen(28), dtype=DT)
    g = _gen(29)
    labels = torch.randint(0, 3, (16,), generator=g)
    z = torch.randn(x.shape, generator=g, dtype=DT)
    drawn = losses.ncsn_loss(_model, x, sigmas, generator=_gen(29), reduction="none")
    given = losses.ncsn_loss(_model, x, sigmas, labels=labels, noise=z, reduction="none")
    assert torch.equal(drawn, given)
    sigma = sigmas[labels][:, None]
    by_hand = 0.5 * ((sigma * _model(x + sigma * z, sigmas[labels]) + z) ** 2).sum(-1)
    torch.testing.assert_close(given, by_hand, atol=1e-14, rtol=0)


def test_given_draws_leave_the_generator_untouched():
    from scorelib.schedules import DDPMSchedule

    sched = DDPMSchedule.linear(10)
    x0 = torch.randn(5, 2, generator=_gen(30), dtype=DT)
    g = _gen(31)
    state = g.get_state()
    losses.ddpm_loss(_model, x0, sched, generator=g, t=torch.ones(5, dtype=torch.long), noise=torch.zeros_like(x0))
    assert torch.equal(g.get_state(), state)


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
    with pytest.raises(ConfigError, match="unknown probe distribution 'uniform'; choose one of rademacher, gaussian"):
        losses.sliced_score_matching(lambda y: -y, torch.ones(3, 2, dtype=DT), projection="uniform")


def test_projections_of_the_wrong_shape_raise():
    with pytest.raises(ConfigError, match="projections must be"):
        wrong = torch.ones(1, 4, 2, dtype=DT)  # 4 rows for a batch of 3
        losses.sliced_score_matching(lambda y: -y, torch.ones(3, 2, dtype=DT), projections=wrong)
