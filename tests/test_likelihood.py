"""The probability-flow likelihood (Song et al. 2021, App. D.2) against exact log-densities."""

from __future__ import annotations

import math

import pytest
import torch
from torch.func import jacrev, vmap

from scorelib.distributions import GaussianMixture
from scorelib.errors import ConfigError
from scorelib.likelihood import (exact_divergence, hutchinson_divergence, normal_kl, pf_ode_log_likelihood,
                                 random_probe)
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


def _trace_by_torch_func(fn, x: torch.Tensor) -> torch.Tensor:
    jac = vmap(jacrev(lambda xi: fn(xi[None])[0]))(x)  # [n, D, D]
    return torch.diagonal(jac, dim1=-2, dim2=-1).sum(-1)


def _random_mlp(d: int, seed: int) -> torch.nn.Module:
    net = torch.nn.Sequential(torch.nn.Linear(d, 16), torch.nn.Tanh(), torch.nn.Linear(16, d)).to(DT)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=DT) / math.sqrt(p.shape[-1]))
    return net


@pytest.mark.parametrize("which", ["mlp", "mixture-score"])
def test_exact_divergence_equals_torch_func(which):
    d = 3
    if which == "mlp":
        fn = _random_mlp(d, seed=3)
    else:
        g = torch.Generator().manual_seed(4)
        a = torch.randn(2, d, d, generator=g, dtype=DT)
        gm = GaussianMixture(torch.tensor([0.4, 0.6], dtype=DT), torch.randn(2, d, generator=g, dtype=DT),
                             a @ a.transpose(-1, -2) + 0.5 * torch.eye(d, dtype=DT))
        fn = gm.score
    x = torch.randn(50, d, generator=torch.Generator().manual_seed(5), dtype=DT)
    out, div = exact_divergence(fn, x)
    torch.testing.assert_close(div, _trace_by_torch_func(fn, x), atol=1e-10, rtol=0)
    torch.testing.assert_close(out, fn(x), atol=0, rtol=0)
    assert not out.requires_grad and not div.requires_grad


def test_exact_divergence_with_create_graph_is_the_same_number_and_differentiable():
    net = _random_mlp(3, seed=6)
    x = torch.randn(20, 3, generator=torch.Generator().manual_seed(7), dtype=DT)
    out, div = exact_divergence(net, x, create_graph=True)
    assert out.requires_grad and div.requires_grad
    plain_out, plain_div = exact_divergence(net, x)
    assert torch.equal(out.detach(), plain_out) and torch.equal(div.detach(), plain_div)
    # d/dθ of the trace against torch.func's trace, differentiated by autograd
    (g_ours,) = torch.autograd.grad(div.sum(), net[0].weight)
    (g_ref,) = torch.autograd.grad(_trace_by_torch_func(net, x).sum(), net[0].weight)
    torch.testing.assert_close(g_ours, g_ref, atol=1e-10, rtol=0)
    with torch.no_grad():  # works inside no_grad too (the ODE solver's context)
        torch.testing.assert_close(exact_divergence(net, x)[1], plain_div, atol=0, rtol=0)


@pytest.mark.parametrize("kind", ["rademacher", "gaussian"])
def test_random_probe_has_identity_second_moment(kind):
    like = torch.zeros(1, dtype=DT)
    v = random_probe((40_000, 3), kind, torch.Generator().manual_seed(8), like=like)
    assert v.dtype == DT and v.shape == (40_000, 3)
    if kind == "rademacher":
        assert set(v.unique().tolist()) == {-1.0, 1.0}
    second = torch.einsum("ni,nj->nij", v, v)  # E[vvᵀ] = I, within 4 standard errors entrywise
    se = second.std(0) / math.sqrt(len(v))
    assert bool(((second.mean(0) - torch.eye(3, dtype=DT)).abs() <= 4 * se + 1e-12).all())


def test_random_probe_draws_are_pinned_to_the_generator():
    """The same draws as a plain randint/randn on the generator: the committed numbers depend on it."""
    like = torch.zeros(1, dtype=torch.float32)
    rad = random_probe((5, 4), "rademacher", torch.Generator().manual_seed(9), like=like)
    bits = torch.randint(0, 2, (5, 4), generator=torch.Generator().manual_seed(9))
    assert torch.equal(rad, (2 * bits - 1).float())
    gauss = random_probe((5, 4), "gaussian", torch.Generator().manual_seed(9), like=like)
    assert torch.equal(gauss, torch.randn(5, 4, generator=torch.Generator().manual_seed(9)))
    with pytest.raises(ConfigError, match="unknown probe distribution 'uniform'"):
        random_probe((5, 4), "uniform", None, like=like)


def test_normal_kl_closed_form():
    m1, m2 = torch.tensor([[0.3, -1.0]], dtype=DT), torch.tensor([[1.0, 0.5]], dtype=DT)
    v1, v2 = 0.5, 2.0
    expected = sum(0.5 * (math.log(v2 / v1) + (v1 + (a - b) ** 2) / v2 - 1) for a, b in ((0.3, 1.0), (-1.0, 0.5)))
    assert float(normal_kl(m1, v1, m2, v2)) == pytest.approx(expected, rel=1e-14)
    ref = torch.distributions.kl_divergence(torch.distributions.Normal(m1, math.sqrt(v1)),
                                            torch.distributions.Normal(m2, math.sqrt(v2))).sum(-1)
    torch.testing.assert_close(normal_kl(m1, v1, m2, v2), ref, atol=1e-14, rtol=0)
    assert float(normal_kl(m1, v1, m1, v1)) == 0.0


def test_hutchinson_needs_a_generator_and_a_known_probe():
    sde = VPSDE(0.1, 20.0)
    x = torch.zeros(2, 2, dtype=DT)
    with pytest.raises(ConfigError, match="needs a generator"):
        pf_ode_log_likelihood(_score(sde), x, sde, divergence="hutchinson")
    with pytest.raises(ConfigError, match="unknown probe distribution 'sphere'"):
        pf_ode_log_likelihood(_score(sde), x, sde, divergence="hutchinson", generator=torch.Generator(),
                              probe="sphere")
    with pytest.raises(ConfigError, match="unknown divergence 'approx'"):
        pf_ode_log_likelihood(_score(sde), x, sde, divergence="approx")


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
