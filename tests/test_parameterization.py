"""ε ↔ x₀ ↔ μ ↔ score conversions (Ho et al. 2020, eq. 4, 7, 11): round trips and consistency."""

from __future__ import annotations

import torch

from scorelib import parameterization as P
from scorelib.losses import ddpm_loss
from scorelib.schedules import DDPMSchedule

S = DDPMSchedule.linear(1000)


def _data(n=64, d=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(n, d, generator=g, dtype=torch.float64)
    eps = torch.randn(n, d, generator=g, dtype=torch.float64)
    t = torch.randint(1, 1001, (n,), generator=g)
    return x0, eps, t, P.marginal_sample(x0, eps, S, t)


def test_marginal_sample_is_eq_4_and_the_conversions_invert_it():
    """x_t = √ᾱ_t x₀ + √(1-ᾱ_t) ε (bitwise the formula), and x₀, ε are recovered from it."""
    x0, eps, t, xt = _data(seed=4)
    ab = S.alpha_bars[t - 1][:, None]
    assert torch.equal(xt, ab.sqrt() * x0 + (1 - ab).sqrt() * eps)
    assert torch.allclose(P.eps_to_x0(xt, eps, S, t), x0, atol=1e-8)
    assert torch.allclose(P.x0_to_eps(xt, x0, S, t), eps, atol=1e-8)
    # a scalar step broadcasts; at t = 1 the noise is √β_1 = 1% of ε
    ab1 = S.alpha_bars[0]
    assert torch.equal(P.marginal_sample(x0, eps, S, 1), ab1.sqrt() * x0 + (1 - ab1).sqrt() * eps)
    bound = 0.01 * eps.abs() + (1 - ab1.sqrt()) * x0.abs()  # |x_1 - x_0| ≤ √β_1|ε| + (1 - √(1-β_1))|x_0|
    assert bool(((P.marginal_sample(x0, eps, S, 1) - x0).abs() <= bound + 1e-15).all())


def test_round_trips():
    x0, eps, t, xt = _data()
    assert torch.allclose(P.eps_to_x0(xt, eps, S, t), x0, atol=1e-8)
    assert torch.allclose(P.x0_to_eps(xt, x0, S, t), eps, atol=1e-8)
    assert torch.allclose(P.mean_to_eps(xt, P.eps_to_mean(xt, eps, S, t), S, t), eps, atol=1e-8)
    assert torch.allclose(P.score_to_eps(P.eps_to_score(eps, S, t), S, t), eps, atol=1e-12)


def test_eps_mean_equals_posterior_mean_at_the_implied_x0():
    """eq. 11 is eq. 7 with x₀ = x̂₀(x_t, ε)."""
    x0, eps, t, xt = _data(seed=1)
    assert torch.allclose(P.eps_to_mean(xt, eps, S, t), P.posterior_mean(xt, x0, S, t), atol=1e-10)


def test_as_eps_model_for_each_prediction():
    x0, eps, t, xt = _data(seed=2)
    for prediction, output in (("eps", eps), ("x0", x0), ("mean", P.posterior_mean(xt, x0, S, t))):
        fn = P.as_eps_model(lambda x, tt, out=output: out, prediction, S)
        assert torch.allclose(fn(xt, t), eps, atol=1e-8), prediction


def test_ddpm_loss_is_zero_for_the_true_target_and_weights_differ():
    x0, eps, t, _ = _data(seed=3)
    oracle = {
        "eps": lambda x, tt: eps,
        "x0": lambda x, tt: x0,
        "mean": lambda x, tt: P.posterior_mean(x, x0, S, tt.long()),
    }
    for prediction, model in oracle.items():
        for weighting in ("simple", "vlb"):
            loss = ddpm_loss(model, x0, S, prediction=prediction, weighting=weighting, t=t, noise=eps)
            assert float(loss) < 1e-12, (prediction, weighting)
    zero = lambda x, tt: torch.zeros_like(x)  # noqa: E731
    simple = ddpm_loss(zero, x0, S, t=t, noise=eps, reduction="none")
    vlb = ddpm_loss(zero, x0, S, weighting="vlb", t=t, noise=eps, reduction="none")
    weight = S.betas[t - 1] / (2 * S.alphas[t - 1] * (1 - S.alpha_bars[t - 1]))  # eq. 12 with σ² = β
    assert torch.allclose(vlb, simple * weight, rtol=1e-10)
    assert torch.allclose(simple, (eps**2).sum(-1))
