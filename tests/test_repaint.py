"""RePaint (Lugmayr et al. 2022, Algorithm 1) with the exact DDPM denoiser of Gaussian data.

For x_0 ~ N(0, Σ), x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε gives E[ε | x_t] = √(1-ᾱ_t)(ᾱ_t Σ + (1-ᾱ_t) I)⁻¹ x_t exactly,
so the only errors left are RePaint's own (and the T-step discretisation). The exact conditional of the
unknown coordinates is a Gaussian, compared by KL with a Gaussian fitted to the samples (our calculation
for the ``ndp_regression`` chapter: naive replacement U = 1 is far off, U = 10 close).
"""

from __future__ import annotations


import pytest
import torch

from scorelib.errors import ConfigError
from scorelib.gp import conditional_gaussian, exact_gaussian_eps, kl_mvn, squared_exponential
from scorelib.samplers import SAMPLERS, get_sampler, repaint
from scorelib.schedules import DDPMSchedule

DT = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _ndp_schedule(T: int) -> DDPMSchedule:
    """Cosine-derived β's rescaled into [3e-4, 0.5] (the NDP schedule; ᾱ_T ≈ 0.005 at T = 250)."""
    return DDPMSchedule.ndp(T)


_exact_eps_fn = exact_gaussian_eps


def _gp_problem():
    x = torch.linspace(-2, 2, 24, dtype=DT).unsqueeze(-1)
    cov = squared_exponential(x, x, lengthscale=0.5) + 0.05**2 * torch.eye(24, dtype=DT)
    y = torch.linalg.cholesky(cov) @ torch.randn(24, generator=_gen(0), dtype=DT)
    mask = torch.zeros(24, dtype=torch.bool)
    mask[[3, 9, 14, 20]] = True
    u = ~mask
    mean, post = conditional_gaussian(torch.zeros(4, dtype=DT), torch.zeros(20, dtype=DT), cov[mask][:, mask],
                                      cov[mask][:, u], cov[u][:, u], y[mask], jitter=0.0)
    return cov, y, mask, mean, post


def test_repaint_is_registered_and_checks_its_settings():
    assert SAMPLERS["repaint"] is repaint and get_sampler("repaint") is repaint
    s = _ndp_schedule(10)
    x = torch.zeros(2, 3, dtype=DT)
    with pytest.raises(ConfigError, match="schedule"):
        repaint(lambda x, t: x, x, generator=_gen(0), known=x, mask=x.bool())
    with pytest.raises(ConfigError, match="known"):
        repaint(lambda x, t: x, x, generator=_gen(0), schedule=s)
    with pytest.raises(ConfigError, match="resample"):
        repaint(lambda x, t: x, x, generator=_gen(0), schedule=s, known=x, mask=x.bool(), resample=0)
    with pytest.raises(ConfigError, match="renoise_beta"):
        repaint(lambda x, t: x, x, generator=_gen(0), schedule=s, known=x, mask=x.bool(), renoise_beta="t+1")


@pytest.mark.parametrize("renoise_beta", ["t", "t-1"])
def test_repaint_keeps_the_known_values_and_records_its_trajectory(renoise_beta):
    s = _ndp_schedule(20)
    known = torch.tensor([0.7, -1.3, 0.0, 2.0], dtype=DT)
    mask = torch.tensor([True, False, True, False])
    x0 = torch.randn(5, 4, generator=_gen(1), dtype=DT)
    out, path = repaint(lambda x, t: 0.3 * x, x0, generator=_gen(2), return_trajectory=True, schedule=s,
                        known=known, mask=mask, resample=3, renoise_beta=renoise_beta)
    assert out.shape == (5, 4) and path.shape == (21, 5, 4)
    torch.testing.assert_close(out[:, mask], known[mask].expand(5, 2), atol=0, rtol=0)
    torch.testing.assert_close(path[0], x0)
    assert float(out[:, ~mask].std()) > 0  # the unknown coordinates are sampled
    again = repaint(lambda x, t: 0.3 * x, x0, generator=_gen(2), schedule=s, known=known, mask=mask, resample=3,
                    renoise_beta=renoise_beta)
    torch.testing.assert_close(again, out)  # randomness only through the generator


def test_exact_denoiser_without_conditioning_samples_the_data_distribution():
    """Sanity of the oracle itself: with nothing known, RePaint is ancestral sampling of N(0, Σ)."""
    cov, y, mask, _, _ = _gp_problem()
    s = _ndp_schedule(250)
    none = torch.zeros(24, dtype=torch.bool)
    out = repaint(_exact_eps_fn(cov, s), torch.randn(2000, 24, generator=_gen(3), dtype=DT), generator=_gen(4),
                  schedule=s, known=y, mask=none, resample=1)
    kl = kl_mvn(out.mean(0), torch.cov(out.T), torch.zeros(24, dtype=DT), cov)
    assert float(kl) < 0.25  # fitted-Gaussian bias alone is ≈ d(d+3)/(4n) = 0.08


def test_resampling_brings_repaint_to_the_exact_posterior():
    cov, y, mask, mean, post = _gp_problem()
    s = _ndp_schedule(250)
    eps_fn = _exact_eps_fn(cov, s)
    kls, std_ratios = {}, {}
    for i, u in enumerate((1, 10)):
        x_init = torch.randn(2000, 24, generator=_gen(10 + i), dtype=DT)
        out = repaint(eps_fn, x_init, generator=_gen(20 + i), schedule=s, known=y, mask=mask, resample=u)
        z = out[:, ~mask]
        kls[u] = float(kl_mvn(z.mean(0), torch.cov(z.T), mean, post))
        std_ratios[u] = float((torch.cov(z.T).diagonal() / post.diagonal()).sqrt().mean())
    assert kls[1] > 2.0, kls  # naive replacement: the unknowns ignore the known values
    assert kls[10] < 0.3, kls
    assert kls[10] < kls[1] / 10, kls
    assert abs(std_ratios[10] - 1) < 0.05, std_ratios
