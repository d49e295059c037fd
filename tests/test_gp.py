"""scorelib.gp against closed forms and a brute-force conditional Gaussian.

The posterior is checked against the precision-matrix route (invert the joint covariance, condition by
the Schur complement of the precision: cov = Λ_tt⁻¹, mean = -Λ_tt⁻¹ Λ_tc y_c), which shares no code with
the Cholesky route of :func:`scorelib.gp.conditional_gaussian`. The step process's moment-matched GP is
checked against a Monte Carlo covariance of the process and against its Brownian-bridge closed form.
"""

from __future__ import annotations

import math

import pytest
import torch

from scorelib.errors import ConfigError
from scorelib.gp import (KERNELS, cholesky, conditional_gaussian, gaussian_log_prob, get_kernel, gp_log_likelihood,
                         gp_posterior, kl_mvn, masked_conditional_gaussian, matern52, periodic, squared_exponential,
                         step_gp_posterior, step_kernel, step_mean)

DT = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_kernels_closed_forms():
    a = torch.tensor([[0.0, 0.0]], dtype=DT)
    b = torch.tensor([[0.3, 0.4]], dtype=DT)  # ‖a - b‖ = 0.5
    assert float(squared_exponential(a, b, lengthscale=0.5, variance=2.0)) == pytest.approx(2 * math.exp(-0.5))
    r = 1.0  # distance 0.5, lengthscale 0.5
    expected = 1.5 * (1 + math.sqrt(5) * r + 5 * r * r / 3) * math.exp(-math.sqrt(5) * r)
    assert float(matern52(a, b, lengthscale=0.5, variance=1.5)) == pytest.approx(expected)
    c = torch.tensor([[1.0]], dtype=DT)
    zero = torch.tensor([[0.0]], dtype=DT)
    assert float(periodic(zero, c, lengthscale=0.7, period=1.0)) == pytest.approx(1.0)  # one period apart
    half = torch.tensor([[0.5]], dtype=DT)
    assert float(periodic(zero, half, lengthscale=0.7, period=1.0)) == pytest.approx(math.exp(-2 / 0.49))


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_kernels_are_symmetric_psd_with_variance_on_the_diagonal(name):
    x = torch.rand(3, 15, 2, generator=_gen(0), dtype=DT) * 4 - 2  # leading batch dim
    k = get_kernel(name)(x, x, lengthscale=0.6, variance=1.3)
    assert k.shape == (3, 15, 15)
    torch.testing.assert_close(k, k.transpose(-1, -2))
    torch.testing.assert_close(torch.diagonal(k, dim1=-2, dim2=-1), torch.full((3, 15), 1.3, dtype=DT))
    assert float(torch.linalg.eigvalsh(k).min()) > -1e-10


def test_unknown_kernel_and_failed_cholesky_raise_config_errors():
    with pytest.raises(ConfigError, match="squared_exponential"):
        get_kernel("rbf")
    with pytest.raises(ConfigError, match="Cholesky"):
        cholesky(torch.tensor([[1.0, 2.0], [2.0, 1.0]], dtype=DT), jitter=0.0)


def _brute_force_posterior(xc, yc, xt, noise, **kw):
    xa = torch.cat([xc, xt], dim=-2)
    n_c = xc.shape[-2]
    joint = squared_exponential(xa, xa, **kw)
    joint[..., :n_c, :n_c] += noise * torch.eye(n_c, dtype=DT)
    prec = torch.linalg.inv(joint)
    cov = torch.linalg.inv(prec[..., n_c:, n_c:])
    mean = -(cov @ prec[..., n_c:, :n_c] @ yc.unsqueeze(-1)).squeeze(-1)
    return mean, cov


def test_gp_posterior_matches_brute_force_conditioning():
    g = _gen(1)
    xc = torch.rand(2, 7, 2, generator=g, dtype=DT) * 4 - 2
    xt = torch.rand(2, 5, 2, generator=g, dtype=DT) * 4 - 2
    yc = torch.randn(2, 7, generator=g, dtype=DT)
    kw = dict(lengthscale=0.8, variance=1.2)
    mean, cov = gp_posterior(xc, yc, xt, "squared_exponential", noise_variance=0.05**2, jitter=0.0, **kw)
    ref_mean, ref_cov = _brute_force_posterior(xc, yc, xt, 0.05**2, **kw)
    assert mean.shape == (2, 5) and cov.shape == (2, 5, 5)
    torch.testing.assert_close(mean, ref_mean, atol=1e-9, rtol=1e-7)
    torch.testing.assert_close(cov, ref_cov, atol=1e-9, rtol=1e-7)
    _, cov_y = gp_posterior(xc, yc, xt, "squared_exponential", noise_variance=0.05**2, include_noise=True,
                            jitter=0.0, **kw)
    torch.testing.assert_close(cov_y - cov, 0.05**2 * torch.eye(5, dtype=DT).expand(2, 5, 5))


def test_gp_log_likelihood_is_the_joint_predictive_density():
    g = _gen(2)
    xc, xt = torch.rand(6, 1, generator=g, dtype=DT), torch.rand(4, 1, generator=g, dtype=DT)
    yc, yt = torch.randn(6, generator=g, dtype=DT), torch.randn(4, generator=g, dtype=DT)
    noise = 0.1
    mean, cov = _brute_force_posterior(xc, yc, xt, noise, lengthscale=0.3)
    ref = torch.distributions.MultivariateNormal(mean, cov + noise * torch.eye(4, dtype=DT)).log_prob(yt)
    ll = gp_log_likelihood(xc, yc, xt, yt, "squared_exponential", noise_variance=noise, jitter=0.0, lengthscale=0.3)
    assert float(ll) == pytest.approx(float(ref), abs=1e-9)
    ll_pp = gp_log_likelihood(xc, yc, xt, yt, "squared_exponential", noise_variance=noise, per_point=True,
                              jitter=0.0, lengthscale=0.3)
    assert float(ll_pp) == pytest.approx(float(ref) / 4, abs=1e-9)
    assert float(gaussian_log_prob(yt, mean, cov, jitter=0.0)) != pytest.approx(float(ref))  # noise matters


def test_step_kernel_is_the_covariance_of_the_step_process():
    L = 2.0
    x = torch.tensor([[-1.5], [-0.3], [0.0], [0.8], [1.9]], dtype=DT)
    a = (torch.rand(400_000, generator=_gen(3), dtype=DT) * 2 - 1) * L
    f = (x[:, 0] >= a[:, None]).to(DT)  # [samples, 5]
    torch.testing.assert_close(step_mean(x, L), f.mean(0), atol=0.005, rtol=0)
    torch.testing.assert_close(step_kernel(x, x, L), torch.cov(f.T), atol=0.005, rtol=0)


def test_step_gp_posterior_is_a_brownian_bridge_and_puts_68_and_49_percent_in_the_middle():
    """Our calculation (ndp_step_function): L = 2, contexts (-0.5 → 0), (0.5 → 1)."""
    L = 2.0
    xc = torch.tensor([[-0.5], [0.5]], dtype=DT)
    yc = torch.tensor([0.0, 1.0], dtype=DT)
    xt = torch.tensor([[0.0], [0.25]], dtype=DT)
    mean, cov = step_gp_posterior(xc, yc, xt, L, jitter=0.0)
    # between the contexts the step kernel is a scaled Brownian motion: the posterior is a bridge
    lo, hi, u = -0.5, 0.5, xt[:, 0]
    torch.testing.assert_close(mean, (u - lo) / (hi - lo))
    torch.testing.assert_close(cov.diagonal(), (u - lo) * (hi - u) / (2 * L * (hi - lo)))
    normal = torch.distributions.Normal(mean, cov.diagonal().sqrt())
    mass = normal.cdf(torch.tensor(0.75, dtype=DT)) - normal.cdf(torch.tensor(0.25, dtype=DT))
    assert float(mass[0]) == pytest.approx(0.68, abs=0.005)
    assert float(mass[1]) == pytest.approx(0.49, abs=0.005)


def test_step_inputs_are_clipped_and_checked():
    x = torch.tensor([[-5.0], [5.0]], dtype=DT)
    torch.testing.assert_close(step_mean(x, 1.0), torch.tensor([0.0, 1.0], dtype=DT))
    with pytest.raises(ConfigError):
        step_mean(torch.zeros(3, 2, dtype=DT), 1.0)
    with pytest.raises(ConfigError):
        step_kernel(x, x, L=0.0)


def test_kl_mvn_closed_forms():
    m0, m1 = torch.tensor([0.3], dtype=DT), torch.tensor([-0.2], dtype=DT)
    v0, v1 = torch.tensor([[0.5]], dtype=DT), torch.tensor([[2.0]], dtype=DT)
    expected = 0.5 * math.log(2.0 / 0.5) + (0.5 + 0.25) / (2 * 2.0) - 0.5
    assert float(kl_mvn(m0, v0, m1, v1)) == pytest.approx(expected)
    a = torch.randn(4, 4, generator=_gen(4), dtype=DT)
    cov = a @ a.T + torch.eye(4, dtype=DT)
    zero = torch.zeros(4, dtype=DT)
    assert float(kl_mvn(zero, cov, zero, cov)) == pytest.approx(0.0, abs=1e-12)


def test_masked_conditioning_is_the_conditional_of_the_reordered_vector():
    """Conditioning on a mask equals conditional_gaussian on the vector split by hand (the same formula: equal
    to float64 round-off), observation noise enters only the known block, and a bad mask is refused."""
    x = torch.linspace(-2, 2, 7, dtype=DT).unsqueeze(-1)
    cov = squared_exponential(x, x, lengthscale=0.7)
    mean = torch.linspace(-0.3, 0.3, 7, dtype=DT)
    y = torch.randn(7, generator=_gen(5), dtype=DT)
    known = torch.tensor([True, False, False, True, False, True, False])
    k, u = known.nonzero()[:, 0], (~known).nonzero()[:, 0]
    noise = 0.05**2
    m, c = masked_conditional_gaussian(mean, cov, y, known, noise_variance=noise, jitter=0.0)
    m_ref, c_ref = conditional_gaussian(mean[k], mean[u], cov[k][:, k] + noise * torch.eye(3, dtype=DT),
                                        cov[k][:, u], cov[u][:, u], y[k], jitter=0.0)
    torch.testing.assert_close(m, m_ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(c, c_ref, rtol=0, atol=1e-12)
    assert m.shape == (4,) and c.shape == (4, 4)
    # noise-free: the posterior at a known input collapses, so an unknown input equal to a known one has variance 0
    dup = torch.cat([x, x[:1]])
    cov_dup = squared_exponential(dup, dup, lengthscale=0.7)
    known_dup = torch.zeros(8, dtype=torch.bool)
    known_dup[0] = True
    _, c0 = masked_conditional_gaussian(torch.zeros(8, dtype=DT), cov_dup, torch.zeros(8, dtype=DT), known_dup)
    assert abs(float(c0[-1, -1])) < 1e-5  # the jitter 1e-6 is the only slack
    with pytest.raises(ConfigError, match="bool mask"):
        masked_conditional_gaussian(mean, cov, y, known.long())
