"""DDPM schedules (Ho et al. 2020, eq. 4, 6-7) against closed forms, and Algorithm 2 with the exact ε*."""

from __future__ import annotations

import math

import pytest
import torch

from scorelib.errors import ConfigError
from scorelib.samplers import SAMPLERS, ddpm_ancestral, get_sampler
from scorelib.schedules import DDPMSchedule, cosine_betas, linear_betas


def test_linear_betas_and_alpha_bar_closed_form():
    s = DDPMSchedule.linear(1000)
    assert s.T == 1000 and float(s.betas[0]) == 1e-4 and abs(float(s.betas[-1]) - 0.02) < 1e-15
    t = torch.arange(1, 1001, dtype=torch.float64)
    beta = 1e-4 + (t - 1) * (0.02 - 1e-4) / 999
    # ᾱ_t = Π (1 - β_s): compare with the sum of logs
    assert torch.allclose(s.alpha_bars, torch.exp(torch.cumsum(torch.log1p(-beta), 0)), rtol=1e-12)
    assert 3e-5 < float(s.alpha_bars[-1]) < 5e-5  # p_T ≈ N(0, I)


def test_posterior_coefficients_match_gaussian_conditioning():
    """q(x_{t-1}|x_t, x_0) from the joint Gaussian of (x_{t-1}, x_t) given x_0, computed independently."""
    s = DDPMSchedule(linear_betas(50, 1e-3, 0.2))
    for t in (2, 10, 50):
        ab_prev, ab, a = float(s.alpha_bars[t - 2]), float(s.alpha_bars[t - 1]), float(s.alphas[t - 1])
        # given x_0: x_{t-1} ~ N(√ᾱ_{t-1}x_0, 1-ᾱ_{t-1}); x_t = √α_t x_{t-1} + √β_t z
        var_prev, cov, var_t = 1 - ab_prev, math.sqrt(a) * (1 - ab_prev), 1 - ab
        gain = cov / var_t  # coefficient of (x_t - √ᾱ_t x_0)
        assert math.isclose(float(s.posterior_coef_xt[t - 1]), gain, rel_tol=1e-12)
        assert math.isclose(float(s.posterior_coef_x0[t - 1]), math.sqrt(ab_prev) - gain * math.sqrt(ab), rel_tol=1e-10)
        assert math.isclose(float(s.posterior_variance[t - 1]), var_prev - cov**2 / var_t, rel_tol=1e-10)
    assert float(s.posterior_variance[0]) == 0.0


def test_cosine_schedule_alpha_bar():
    betas = cosine_betas(1000)
    ab = torch.cumprod(1 - betas, 0)
    f = lambda u: math.cos((u + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    assert math.isclose(float(ab[499]), f(0.5) / f(0.0), rel_tol=1e-10)
    assert float(betas.max()) <= 0.999


def test_schedule_rejects_bad_input():
    with pytest.raises(ConfigError):
        DDPMSchedule(torch.tensor([0.1, 1.0]))
    with pytest.raises(ConfigError):
        linear_betas(10, 0.02, 1e-4)
    with pytest.raises(ConfigError):
        DDPMSchedule.linear(10).at(DDPMSchedule.linear(10).betas, 0, torch.zeros(1))


@pytest.mark.parametrize("t", [0, 11, torch.tensor([1, 11]), torch.tensor(0)])
def test_at_rejects_a_step_outside_1_to_T_with_a_clear_error(t):
    s = DDPMSchedule.linear(10)
    with pytest.raises(ConfigError, match=r"steps must lie in 1\.\.10"):
        s.at(s.betas, t, torch.zeros(2, 3))


def test_at_gathers_the_same_numbers_as_casting_each_value_and_moves_the_schedule_once():
    s = DDPMSchedule.linear(10)
    like = torch.zeros(4, 3, dtype=torch.float32)
    t = torch.tensor([1, 4, 7, 10])
    got = s.at(s.alpha_bars, t, like)
    assert got.shape == (4, 1) and got.dtype == torch.float32
    assert torch.equal(got[:, 0], s.alpha_bars[t - 1].float())  # cast-then-gather = gather-then-cast, bitwise
    assert s.at(s.alpha_bars, 3, like) == s.alpha_bars[2].float() and s.at(s.alpha_bars, 3, like).dim() == 0
    assert s.on(s.alpha_bars, like) is s.on(s.alpha_bars, like)  # moved once, then reused
    assert s.on(s.alpha_bars, like.double()) is not s.on(s.alpha_bars, like)  # one copy per dtype
    assert s.on(s.alpha_bars, like.double()).data_ptr() != s.on(s.betas, like.double()).data_ptr()


def _gaussian_eps(s, sd):
    def eps(x, t):
        ab = s.at(s.alpha_bars, t, x)
        return x * (1 - ab).sqrt() / (ab * sd**2 + 1 - ab)
    return eps


def test_ancestral_sampler_is_registered_and_ends_without_noise():
    assert get_sampler("ddpm_ancestral") is ddpm_ancestral and "ddpm_ancestral" in SAMPLERS
    s = DDPMSchedule.linear(5, 0.1, 0.3)
    g = torch.Generator().manual_seed(0)
    x, path = ddpm_ancestral(lambda x, t: torch.zeros_like(x), torch.ones(3, 2), generator=g, schedule=s,
                             return_trajectory=True)
    assert path.shape == (6, 3, 2) and torch.equal(path[-1], x)
    # with ε = 0 the last step is x_0 = x_1/√α_1 exactly (z = 0 at t = 1)
    assert torch.allclose(x, path[-2] / math.sqrt(float(s.alphas[0])))


@pytest.mark.slow
def test_ancestral_with_exact_eps_gives_unit_std():
    """Ho et al. 2020, Algorithm 2: 10⁵ samples of N(0, 1) through Algorithm 2 with ε*: std 1.000 ± 0.005."""
    s = DDPMSchedule.linear(1000)
    g = torch.Generator().manual_seed(1)
    x = ddpm_ancestral(_gaussian_eps(s, 1.0), torch.randn(100_000, 1, generator=g), generator=g, schedule=s)
    assert abs(float(x.double().std()) - 1.0) < 0.005


def test_ancestral_detects_a_wrong_noise_scale():
    """σ_t = β_t instead of √β_t (the slide's slip) collapses the output: the same check fails."""
    s = DDPMSchedule.linear(1000)
    wrong = DDPMSchedule.linear(1000)
    object.__setattr__(wrong, "sigma2", lambda variance="beta": s.betas**2)
    g = torch.Generator().manual_seed(1)
    x = ddpm_ancestral(_gaussian_eps(s, 1.0), torch.randn(20_000, 1, generator=g), generator=g, schedule=wrong)
    assert abs(float(x.std()) - 1.0) > 0.05


# --- the chain as a VP SDE (as_vpsde) ---------------------------------------------------------------


def test_as_vpsde_marginals_are_the_schedules_at_every_step():
    s = DDPMSchedule.linear(1000)
    sde = s.as_vpsde()
    m, std = sde.marginal(torch.arange(1, 1001))
    assert torch.equal(m, s.alpha_bars.sqrt()) and torch.equal(std, (1 - s.alpha_bars).sqrt())  # bitwise
    m0, s0 = sde.marginal(0)
    assert float(m0) == 1.0 and float(s0) == 0.0
    assert float((m**2 + std**2 - 1).abs().max()) < 1e-15
    # the one-step transition is the forward step q(x_t | x_{t-1}) = N(√α_t x, β_t I)
    for t in (1, 2, 500, 1000):
        a, var = sde.transition(torch.tensor(float(t), dtype=torch.float64),
                                torch.tensor(float(t - 1), dtype=torch.float64))
        assert abs(float(a) - math.sqrt(float(s.alphas[t - 1]))) < 1e-12
        assert abs(float(var) - float(s.betas[t - 1])) < 1e-12


def test_as_vpsde_is_a_continuous_vp_sde():
    """Between steps log ᾱ is linear: continuous marginals, dB/dt = β(t), m² + s² = 1, and g² = β."""
    sde = DDPMSchedule.cosine(100).as_vpsde()
    t = torch.tensor([0.25, 17.5, 63.999], dtype=torch.float64)
    m, s = sde.marginal(t)
    torch.testing.assert_close(m**2 + s**2, torch.ones_like(t), rtol=0, atol=1e-14)
    h = 1e-6
    torch.testing.assert_close((sde.integrated_beta(t + h) - sde.integrated_beta(t - h)) / (2 * h), sde.beta(t),
                               rtol=1e-6, atol=0)
    torch.testing.assert_close(sde.diffusion(t) ** 2, sde.beta(t), rtol=1e-14, atol=0)
    for k in (1, 50, 99):
        exact = sde.marginal(torch.tensor(k))
        for side in (sde.marginal(torch.tensor(k - 1e-9, dtype=torch.float64)),
                     sde.marginal(torch.tensor(k + 1e-9, dtype=torch.float64))):
            assert abs(float(side[0] - exact[0])) < 1e-8 and abs(float(side[1] - exact[1])) < 1e-6
    with pytest.raises(ConfigError):
        sde.marginal(100.5)


def test_as_vpsde_of_the_linear_schedule_is_close_to_the_continuous_vp_sde():
    """Song et al. (2021), §3.4: DDPM's β_i = β(i/N)/N with β(t) from 0.1 to 20 (N = 1000): the marginal
    std agrees with VPSDE(0.1, 20) at t = i/N to O(β) (one step of the discretisation)."""
    from scorelib.sde import VPSDE

    steps = torch.arange(0, 1001, dtype=torch.float64)
    _, s_discrete = DDPMSchedule.linear(1000, 1e-4, 0.02).as_vpsde().marginal(steps)
    _, s_continuous = VPSDE(0.1, 20.0).marginal(steps / 1000)
    assert float((s_discrete - s_continuous).abs().max()) < 5e-3
