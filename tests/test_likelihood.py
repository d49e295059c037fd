"""The probability-flow likelihood (Song et al. 2021, App. D.2) against exact log-densities."""

from __future__ import annotations

import math

import torch

from scorelib.distributions import GaussianMixture
from scorelib.likelihood import exact_divergence, hutchinson_divergence, pf_ode_log_likelihood
from scorelib.sde import VESDE, VPSDE

DT = torch.float64
MIX = GaussianMixture.isotropic(torch.tensor([0.5, 0.3, 0.2], dtype=DT),
                                torch.tensor([[-2.0, 0.0], [2.0, 1.0], [0.0, -2.5]], dtype=DT),
                                torch.tensor([0.3, 0.5, 0.2], dtype=DT))


def _score(sde):
    def score(x, t):
        m, s = sde.marginal(t)
        return MIX.perturb(m, s).score(x)
    return score


def test_divergences_of_a_linear_map():
    a = torch.tensor([[1.0, 2.0], [-0.5, 3.0]], dtype=DT)
    x = torch.randn(7, 2, dtype=DT)
    out, div = exact_divergence(lambda y: y @ a.T, x)
    torch.testing.assert_close(out, x @ a.T)
    torch.testing.assert_close(div, torch.full((7,), 4.0, dtype=DT))
    probe = torch.tensor([[1.0, -1.0]], dtype=DT).expand(7, 2)
    _, est = hutchinson_divergence(lambda y: y @ a.T, x, probe)
    torch.testing.assert_close(est, torch.full((7,), 1.0 - 2.0 + 0.5 + 3.0, dtype=DT))  # εᵀAε


def test_exact_score_likelihood_of_the_mixture_within_001_nats():
    sde = VPSDE(0.1, 20.0)
    x = MIX.sample(40, torch.Generator().manual_seed(0))[0]
    r = pf_ode_log_likelihood(_score(sde), x, sde)
    err = r.log_prob - MIX.log_prob(x)
    assert float(err.abs().mean()) < 0.01, float(err.abs().mean())
    assert r.nfe > 10
    # the sign of the divergence term matters by far more than the tolerance
    flipped = pf_ode_log_likelihood(_score(sde), x, sde, divergence_sign=-1.0)
    assert float((flipped.log_prob - MIX.log_prob(x)).abs().mean()) > 0.5


def test_ve_likelihood_of_a_gaussian():
    """p_0 = N(0, c²I) under VE: p_t = N(0, (c² + s(t)²)I), so the score and log p are closed-form."""
    sde, c = VESDE(0.01, 10.0), 0.8
    x = c * torch.randn(20, 2, generator=torch.Generator().manual_seed(1), dtype=DT)
    score = lambda y, t: -y / (c**2 + sde.marginal(t)[1] ** 2)  # noqa: E731
    r = pf_ode_log_likelihood(score, x, sde)
    exact = -0.5 * x.pow(2).sum(-1) / c**2 - 2 * math.log(c) - math.log(2 * math.pi)
    # the prior N(0, σ_max²) vs p_1 = N(0, c² + σ_max² - σ_min²): a known, tiny mismatch
    assert float((r.log_prob - exact).abs().mean()) < 0.01


def test_hutchinson_is_unbiased_with_a_fixed_probe():
    sde = VPSDE(0.1, 20.0)
    x = MIX.sample(60, torch.Generator().manual_seed(2))[0]
    exact = pf_ode_log_likelihood(_score(sde), x, sde)
    g = torch.Generator().manual_seed(3)
    hutch = pf_ode_log_likelihood(_score(sde), x, sde, divergence="hutchinson", generator=g)
    d = hutch.log_prob - exact.log_prob
    assert float(d.abs().max()) > 1e-3  # it is an estimate: not the exact value
    assert abs(float(d.mean())) < 3 * float(d.std()) / math.sqrt(len(d))
