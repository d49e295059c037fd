"""Forward SDEs against analytic truths: the closed-form kernels against the moment ODEs integrated
numerically, the reverse-time drift, the DSM loss at the exact score, the samplers on a Gaussian, and
NCSN/DDPM as the discretisations of VE/VP (Song et al. 2021, eq. 8-11)."""

from __future__ import annotations

import math

import pytest
import torch
from torchdiffeq import odeint

from scorelib import samplers
from scorelib.losses import sde_dsm_loss
from scorelib.schedules import DDPMSchedule, geometric_sigmas, linear_betas
from scorelib.sde import OU, VESDE, VPSDE, SubVPSDE

DT = torch.float64
ALL = {"VE": VESDE(0.01, 10.0), "VP": VPSDE(0.1, 20.0), "sub-VP": SubVPSDE(0.1, 20.0), "OU": OU(1.0, T=1.0),
       "OU2": OU(2.0, T=1.0)}


def _drift_coefficient(sde, t):
    """f(x, t) = a(t)·x: read a(t) off the drift at x = 1."""
    return sde.drift(torch.ones(1, 1, dtype=DT), t).reshape(())


@pytest.mark.parametrize("name", list(ALL))
def test_marginal_solves_the_moment_equations(name):
    """m' = a m, (s²)' = 2a s² + g² (Song et al. 2021, eq. 31-32), integrated numerically from m = 1, s² = 0."""
    sde = ALL[name]

    def rhs(t, y):
        a = _drift_coefficient(sde, t)
        return torch.stack([a * y[0], 2 * a * y[1] + sde.diffusion(t) ** 2])

    times = torch.tensor([0.0, 0.1, 0.5, 1.0], dtype=DT)
    path = odeint(rhs, torch.tensor([1.0, 0.0], dtype=DT), times, rtol=1e-10, atol=1e-12)
    m, s = sde.marginal(times)
    torch.testing.assert_close(m, path[:, 0], rtol=1e-7, atol=1e-9)
    torch.testing.assert_close(s**2, path[:, 1], rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", list(ALL))
def test_marginal_sample_is_the_kernel_draw(name):
    """x_t = m(t)x₀ + s(t)z for the given z (per-sample t broadcast over the data dimensions)."""
    sde = ALL[name]
    g = torch.Generator().manual_seed(0)
    x0, z = torch.randn(6, 3, generator=g, dtype=DT), torch.randn(6, 3, generator=g, dtype=DT)
    t = torch.linspace(0.1, 1.0, 6, dtype=DT)
    m, s = sde.marginal(t)
    torch.testing.assert_close(sde.marginal_sample(x0, t, z), m[:, None] * x0 + s[:, None] * z, atol=0, rtol=0)
    m1, s1 = sde.marginal(torch.tensor(0.5, dtype=DT))
    torch.testing.assert_close(sde.marginal_sample(x0, 0.5, z), m1 * x0 + s1 * z, atol=0, rtol=0)


def test_sub_vp_std_is_one_minus_exp_and_below_vp():
    vp, sub = ALL["VP"], ALL["sub-VP"]
    t = torch.linspace(0.01, 1, 50, dtype=DT)
    b = vp.integrated_beta(t)
    torch.testing.assert_close(sub.marginal(t)[1], 1 - torch.exp(-b))
    assert bool((sub.marginal(t)[1] ** 2 < vp.marginal(t)[1] ** 2).all())


def test_ou_matches_the_talk_corrected():
    """dy = -½y dt + dW: N(e^{-t/2} y_0, 1 - e^{-t}); β = 2 gives the other slide's N(e^{-t} x_0, 1 - e^{-2t})."""
    t = torch.tensor([0.3, 2.0], dtype=DT)
    m, s = OU(1.0).marginal(t)
    torch.testing.assert_close(m, torch.exp(-t / 2))
    torch.testing.assert_close(s**2, 1 - torch.exp(-t))
    m2, s2 = OU(2.0).marginal(t)
    torch.testing.assert_close(m2, torch.exp(-t))
    torch.testing.assert_close(s2**2, 1 - torch.exp(-2 * t))


def test_reverse_drift_and_probability_flow():
    """f̄ = f - g²s (Anderson 1982) and the ODE's f - ½g²s, for an arbitrary score."""
    sde = ALL["VP"]
    x, t = torch.randn(5, 2, dtype=DT), torch.tensor(0.4, dtype=DT)
    score = lambda y, s: -3 * y  # noqa: E731
    g2 = sde.diffusion(t) ** 2
    torch.testing.assert_close(sde.reverse(score).drift(x, t), sde.drift(x, t) + 3 * g2 * x)
    flow = sde.reverse(score, probability_flow=True)
    torch.testing.assert_close(flow.drift(x, t), sde.drift(x, t) + 1.5 * g2 * x)
    assert float(flow.diffusion(t)) == 0.0


@pytest.mark.parametrize("name", ["VE", "VP", "sub-VP"])
def test_dsm_loss_at_the_exact_score_is_its_minimum(name):
    """x_0 ~ N(0, c²I): the exact score -x/v_t gives E‖s(t)s_θ + z‖² = D(1 - s(t)²/v_t), v_t = m²c² + s²."""
    sde, c, n = ALL[name], 0.7, 200_000
    g = torch.Generator().manual_seed(0)
    x0 = c * torch.randn(n, 2, generator=g, dtype=DT)
    t = torch.full((n,), 0.7, dtype=DT)

    def exact(x, t):
        m, s = sde.marginal(t)
        return -x / (m**2 * c**2 + s**2)[:, None]

    loss = float(sde_dsm_loss(exact, x0, sde, generator=g, t=t))
    m, s = sde.marginal(torch.tensor(0.7, dtype=DT))
    expected = 2 * float(1 - s**2 / (m**2 * c**2 + s**2))
    assert abs(loss - expected) < 0.02 * expected + 1e-3
    # a wrong score costs more
    assert float(sde_dsm_loss(lambda x, t: 0.5 * exact(x, t), x0, sde, generator=g, t=t)) > expected + 0.01


@pytest.mark.parametrize("sampler", ["euler_maruyama", "reverse_diffusion", "ancestral", "predictor_corrector",
                                     "probability_flow_ode"])
@pytest.mark.parametrize("name", ["VE", "VP"])
def test_samplers_recover_a_gaussian(sampler, name):
    """p_0 = N(0, c²): every sampler with the exact score ends at variance c² (4 SE)."""
    sde, c, n = ALL[name], 0.5, 4000
    g = torch.Generator().manual_seed(1)

    def exact(x, t):
        m, s = sde.marginal(t)
        return -x / (m**2 * c**2 + s**2)

    kw = {"sde": sde, "t_min": 1e-3}
    if sampler != "probability_flow_ode":
        kw["n_steps"] = 200
    x = samplers.get_sampler(sampler)(exact, sde.prior_sample((n, 1), g, DT), generator=g, **kw)
    var = float(x.var())
    assert abs(var - c**2) < 4 * c**2 * math.sqrt(2 / n) + 0.01 * c**2, var


def test_ve_is_ncsn_geometric_sigmas():
    """σ(t_i) at t_i = 1 - (i-1)/(L-1) are NCSN's geometric levels; the VE kernel's variance is σ_i² - σ_min²
    (Song et al. 2021, eq. 8-9: the paper's σ_i treats the data as already at σ_min)."""
    sde, levels = VESDE(0.01, 10.0), 10
    t = torch.linspace(1, 0, levels, dtype=DT)
    sigmas = geometric_sigmas(10.0, 0.01, levels)
    torch.testing.assert_close(sde.sigma(t), sigmas)
    torch.testing.assert_close(sde.marginal(t)[1] ** 2 + 0.01**2, sigmas**2)


def test_vp_is_ddpm_linear_schedule():
    """β_i = β((i-1)/(N-1))/N is Ho et al.'s 1e-4 → 0.02 for N = 1000, and ᾱ_i ≈ m(i/N)², 1 - ᾱ_i ≈ s(i/N)²."""
    sde, n = VPSDE(0.1, 20.0), 1000
    betas = linear_betas(n, 1e-4, 0.02)
    torch.testing.assert_close(sde.beta(torch.linspace(0, 1, n, dtype=DT)) / n, betas)
    alpha_bar = torch.cumprod(1 - betas, 0)  # ᾱ_t = Π_{s≤t}(1 - β_s), computed here
    torch.testing.assert_close(DDPMSchedule(betas).alpha_bars, alpha_bar)
    m, s = sde.marginal(torch.arange(1, n + 1, dtype=DT) / n)
    assert float((alpha_bar.sqrt() - m).abs().max()) < 5e-3
    assert float(((1 - alpha_bar) - s**2).abs().max()) < 5e-3
    # the per-step view: the SDE's exact transition over 1/N has 1 - a² ≈ β_i to O(1/N²)
    a, var = sde.transition(torch.tensor(0.5, dtype=DT), torch.tensor(0.5 - 1 / n, dtype=DT))
    torch.testing.assert_close(1 - a**2, var)
    beta_i = float(sde.beta(0.5 - 0.5 / n)) / n
    assert abs(float(1 - a**2) - beta_i) < beta_i**2


def test_sampler_registry_and_errors():
    from scorelib.errors import ConfigError

    for name in ("euler_maruyama", "reverse_diffusion", "ancestral", "predictor_corrector", "probability_flow_ode"):
        assert samplers.get_sampler(name) is samplers.SAMPLERS[name]
    x = torch.zeros(3, 2)
    with pytest.raises(ConfigError):
        samplers.euler_maruyama(lambda x, t: x, x, generator=torch.Generator())
    with pytest.raises(ConfigError):
        samplers.predictor_corrector(lambda x, t: x, x, generator=torch.Generator(), sde=ALL["VP"], predictor="nope")


@pytest.mark.parametrize("predictor", ["euler_maruyama", "reverse_diffusion", "ancestral"])
def test_predictor_samplers_are_predictor_corrector_without_a_corrector(predictor):
    from scorelib.errors import ConfigError

    sde = ALL["VP"]
    score = lambda x, t: -x  # noqa: E731
    x0 = sde.prior_sample((5, 2), torch.Generator().manual_seed(0), DT)
    alone = samplers.SAMPLERS[predictor](score, x0, generator=torch.Generator().manual_seed(1), sde=sde, n_steps=7,
                                         return_trajectory=True, record_every=3)
    pc = samplers.predictor_corrector(score, x0, generator=torch.Generator().manual_seed(1), sde=sde, n_steps=7,
                                      predictor=predictor, corrector=None, return_trajectory=True, record_every=3)
    assert torch.equal(alone[0], pc[0]) and torch.equal(alone[1], pc[1])
    assert samplers.SAMPLERS[predictor].__name__ == predictor
    with pytest.raises(ConfigError, match=f"{predictor} needs sde="):
        samplers.SAMPLERS[predictor](score, x0, generator=torch.Generator())
