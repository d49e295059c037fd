"""GaussianMixture against closed forms, autograd, torch.distributions and Monte Carlo.

Monte Carlo tolerances are 4 standard errors (estimated from the same samples): a false alarm has
probability ~6e-5 per comparison, and the seeds are fixed, so a failure means a wrong formula.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Categorical, MixtureSameFamily, MultivariateNormal

from scorelib.distributions import GaussianMixture
from scorelib.errors import ConfigError

DT = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def full_mixture(d: int = 3, k: int = 3, seed: int = 0) -> GaussianMixture:
    g = _gen(seed)
    weights = torch.rand(k, generator=g, dtype=DT) + 0.2
    means = 2.0 * torch.randn(k, d, generator=g, dtype=DT)
    a = torch.randn(k, d, d, generator=g, dtype=DT)
    covs = a @ a.transpose(-1, -2) + 0.3 * torch.eye(d, dtype=DT)  # full, correlated, well conditioned
    return GaussianMixture(weights, means, covs)


def iso_mixture(d: int = 3, k: int = 4, seed: int = 1) -> GaussianMixture:
    g = _gen(seed)
    weights = torch.rand(k, generator=g, dtype=DT) + 0.2
    means = 2.0 * torch.randn(k, d, generator=g, dtype=DT)
    stds = 0.4 + torch.rand(k, generator=g, dtype=DT)
    return GaussianMixture.isotropic(weights, means, stds)


def points(gm: GaussianMixture, n: int = 64, seed: int = 2) -> torch.Tensor:
    # Samples plus points far out in the tails, where a wrong responsibility weighting shows most.
    x, _ = gm.sample(n // 2, generator=_gen(seed))
    far = 4.0 * torch.randn(n - n // 2, gm.dim, generator=_gen(seed + 1), dtype=DT)
    return torch.cat([x, far])


def autograd_score(gm: GaussianMixture, x: torch.Tensor) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(gm.log_prob(x).sum(), x)
    return grad


def torch_mixture(gm: GaussianMixture) -> MixtureSameFamily:
    return MixtureSameFamily(Categorical(probs=gm.weights), MultivariateNormal(gm.means, covariance_matrix=gm.covs))


def general_path_copy(gm: GaussianMixture) -> GaussianMixture:
    """The same mixture forced through the full-covariance code path."""
    copy = GaussianMixture(gm.weights, gm.means, gm.covs)
    copy._iso_var = None
    return copy


# --- analytic truths: the score is the gradient of the log-density ------------------------------


def test_score_equals_autograd_of_log_prob_full_covariance():
    gm = full_mixture()
    assert gm._iso_var is None  # the general path is the one under test
    x = points(gm)
    torch.testing.assert_close(gm.score(x), autograd_score(gm, x), atol=1e-10, rtol=0)


def test_score_equals_autograd_of_log_prob_isotropic():
    gm = iso_mixture()
    assert gm._iso_var is not None  # the cdist fast path is the one under test
    x = points(gm)
    torch.testing.assert_close(gm.score(x), autograd_score(gm, x), atol=1e-10, rtol=0)


@pytest.mark.parametrize("d", [1, 2, 3, 5, 6, 7, 64])
def test_isotropic_mixtures_take_the_fast_path_in_every_dimension(d):
    # Regression: isotropy was detected by comparing covs with mean(diag)·I, and a mean of D equal
    # floats is not exact for D = 3, 5, 6, 7 ..., so Parzen densities silently lost the fast path.
    for std in torch.linspace(0.05, 3.0, 12, dtype=DT):
        gm = GaussianMixture.isotropic(torch.ones(2, dtype=DT), torch.zeros(2, d, dtype=DT), std)
        assert gm._iso_var is not None, (d, float(std))
        torch.testing.assert_close(gm._iso_var, torch.full((2,), float(std) ** 2, dtype=DT), atol=0, rtol=0)


def test_isotropic_and_general_paths_agree_on_the_same_mixture():
    iso = iso_mixture()
    d = iso.dim
    covs = iso._iso_var[:, None, None] * torch.eye(d, dtype=DT)  # exactly isotropic
    fast = GaussianMixture(iso.weights, iso.means, covs)
    assert fast._iso_var is not None
    general = general_path_copy(fast)
    x = points(fast)
    torch.testing.assert_close(fast.log_prob(x), general.log_prob(x), atol=1e-12, rtol=0)
    torch.testing.assert_close(fast.score(x), general.score(x), atol=1e-12, rtol=0)
    torch.testing.assert_close(fast.responsibilities(x), general.responsibilities(x), atol=1e-12, rtol=0)

    # Slightly anisotropic covariances take the general path through the public constructor. A
    # relative change eps of the variances moves log N by at most eps·(D + q)/2 (q the squared
    # Mahalanobis distance, ≤ ~200 for these points) and the score by eps·‖x-μ‖/v: ≲ 1e-7 here.
    eps = 1e-9
    bump = 1.0 + eps * torch.linspace(-1.0, 1.0, d, dtype=DT)
    aniso = GaussianMixture(iso.weights, iso.means, covs * torch.diag(bump))
    assert aniso._iso_var is None
    torch.testing.assert_close(fast.log_prob(x), aniso.log_prob(x), atol=1e-6, rtol=0)
    torch.testing.assert_close(fast.score(x), aniso.score(x), atol=1e-6, rtol=0)


@pytest.mark.parametrize("make", [full_mixture, iso_mixture], ids=["full", "isotropic"])
def test_log_prob_matches_torch_mixture_same_family(make):
    gm = make()
    x = points(gm)
    torch.testing.assert_close(gm.log_prob(x), torch_mixture(gm).log_prob(x), atol=1e-10, rtol=0)


def test_parzen_density_is_the_kernel_average():
    pts = torch.randn(30, 3, generator=_gen(5), dtype=DT)
    sigma = 0.7
    parzen = GaussianMixture.parzen(pts, sigma)
    assert parzen._iso_var is not None and parzen.n_components == 30
    x = torch.randn(20, 3, generator=_gen(6), dtype=DT)
    # q_σ(x) = (1/n) Σ_i N(x; x_i, σ²I), written out (Vincent 2011, §4)
    sq = ((x[:, None, :] - pts[None]) ** 2).sum(-1)
    log_kernel = -0.5 * sq / sigma**2 - 1.5 * math.log(2 * math.pi * sigma**2)
    expected = torch.logsumexp(log_kernel, dim=1) - math.log(30)
    torch.testing.assert_close(parzen.log_prob(x), expected, atol=1e-12, rtol=0)
    # its score: Σ_i softmax_i (x_i - x)/σ²
    resp = torch.softmax(log_kernel, dim=1)
    torch.testing.assert_close(parzen.score(x), (resp @ pts - x) / sigma**2, atol=1e-12, rtol=0)


# --- sampling and perturbation against closed-form moments ---------------------------------------


def _assert_moments(samples: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor) -> None:
    """Sample mean and covariance within 4 standard errors of (mean, cov)."""
    n = samples.shape[0]
    centred = samples - mean
    se_mean = samples.std(0) / math.sqrt(n)
    assert ((samples.mean(0) - mean).abs() <= 4 * se_mean).all(), (samples.mean(0), mean)
    # entry (i, j) of the covariance is a mean of (x_i - m_i)(x_j - m_j): its SE from the same samples
    products = centred[:, :, None] * centred[:, None, :]
    se_cov = products.std(0) / math.sqrt(n)
    assert ((products.mean(0) - cov).abs() <= 4 * se_cov).all(), (products.mean(0), cov)


@pytest.mark.parametrize("make", [full_mixture, iso_mixture], ids=["full", "isotropic"])
def test_sample_moments_match_mean_and_covariance(make):
    gm = make()
    n = 40_000
    x, idx = gm.sample(n, generator=_gen(10))
    assert x.shape == (n, gm.dim) and x.dtype == DT
    _assert_moments(x, gm.mean(), gm.covariance())
    # component frequencies: binomial SE sqrt(w(1-w)/n)
    freq = torch.bincount(idx, minlength=gm.n_components).to(DT) / n
    se = (gm.weights * (1 - gm.weights) / n).sqrt()
    assert ((freq - gm.weights).abs() <= 4 * se).all()


def test_sample_is_reproducible_from_the_generator():
    gm = full_mixture()
    a, _ = gm.sample(100, generator=_gen(3))
    b, _ = gm.sample(100, generator=_gen(3))
    c, _ = gm.sample(100, generator=_gen(4))
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize(
    ("a", "s"), [(1.0, 0.8), (math.sqrt(0.3), math.sqrt(0.7)), (0.5, 0.05)], ids=["VE", "VP", "small-noise"]
)
@pytest.mark.parametrize("make", [full_mixture, iso_mixture], ids=["full", "isotropic"])
def test_perturb_is_the_law_of_a_x_plus_s_z(make, a, s):
    gm = make()
    pt = gm.perturb(a, s)
    d = gm.dim
    # closed form: E = a·E[x], Cov = a²·Cov[x] + s²I
    torch.testing.assert_close(pt.mean(), a * gm.mean(), atol=1e-12, rtol=0)
    torch.testing.assert_close(pt.covariance(), a**2 * gm.covariance() + s**2 * torch.eye(d, dtype=DT))
    assert (pt._iso_var is not None) == (gm._iso_var is not None)  # noising keeps the fast path

    n = 20_000
    x, _ = gm.sample(n, generator=_gen(20))
    y = a * x + s * torch.randn(n, d, generator=_gen(21), dtype=DT)
    _assert_moments(y, pt.mean(), pt.covariance())

    # E[log p_t(x_t)] over Monte Carlo x_t vs over p_t's own samples: difference of two independent
    # means, SE = sqrt(var_1/n + var_2/n). A wrong p_t (e.g. s instead of s²) shifts it by far more.
    own, _ = pt.sample(n, generator=_gen(22))
    lp_mc, lp_own = pt.log_prob(y), pt.log_prob(own)
    se = math.sqrt(float(lp_mc.var() + lp_own.var()) / n)
    assert abs(float(lp_mc.mean() - lp_own.mean())) <= 4 * se


def test_perturb_with_tensor_coefficients_matches_floats():
    gm = full_mixture()
    x = points(gm)
    by_float = gm.perturb(0.6, 0.8).log_prob(x)
    by_tensor = gm.perturb(torch.tensor(0.6, dtype=DT), torch.tensor(0.8, dtype=DT)).log_prob(x)
    torch.testing.assert_close(by_float, by_tensor, atol=0, rtol=0)


# --- bad inputs ----------------------------------------------------------------------------------


def test_non_positive_definite_covariance_raises():
    covs = torch.tensor([[[1.0, 2.0], [2.0, 1.0]]], dtype=DT)  # eigenvalues 3 and -1
    with pytest.raises(ConfigError, match="positive definite"):
        GaussianMixture(torch.ones(1, dtype=DT), torch.zeros(1, 2, dtype=DT), covs)


@pytest.mark.parametrize(
    ("weights", "means", "covs", "message"),
    [
        (torch.ones(3), torch.zeros(2, 2), torch.eye(2).expand(2, 2, 2), "disagree"),
        (torch.ones(2), torch.zeros(2, 2), torch.eye(3).expand(2, 3, 3), "disagree"),
        (torch.ones(2), torch.zeros(2, 2), torch.eye(2), "expects"),
        (torch.ones(2, 1), torch.zeros(2, 2), torch.eye(2).expand(2, 2, 2), "expects"),
    ],
    ids=["K-mismatch", "D-mismatch", "covs-2d", "weights-2d"],
)
def test_shape_mismatch_raises(weights, means, covs, message):
    with pytest.raises(ConfigError, match=message):
        GaussianMixture(weights, means, covs)


@pytest.mark.parametrize("weights", [[1.0, -0.5], [0.0, 0.0]], ids=["negative", "all-zero"])
def test_bad_weights_raise(weights):
    with pytest.raises(ConfigError, match="non-negative"):
        GaussianMixture(torch.tensor(weights), torch.zeros(2, 2), torch.eye(2).expand(2, 2, 2))


def test_weights_are_normalised():
    covs = torch.eye(2, dtype=DT).expand(2, 2, 2)
    gm = GaussianMixture(torch.tensor([1.0, 3.0], dtype=DT), torch.zeros(2, 2, dtype=DT), covs)
    torch.testing.assert_close(gm.weights, torch.tensor([0.25, 0.75], dtype=DT), atol=0, rtol=0)


# --- mode weights and the noised-mixture oracle ---------------------------------------------------


def test_isotropic_converts_python_sequences_to_the_given_dtype():
    mix = GaussianMixture.isotropic((0.5, 0.5), ((0.0, 0.0), (1.0, 2.0)), (0.3, 0.4), dtype=DT)
    assert mix.means.dtype == mix.weights.dtype == mix.covs.dtype == DT
    assert float(mix.covs[1, 0, 0]) == 0.4**2


def test_mode_weights_by_hand():
    mix = GaussianMixture.isotropic(torch.tensor([0.2, 0.3, 0.5], dtype=DT),
                                    torch.tensor([[-5.0, 0.0], [5.0, 0.0], [0.0, 5.0]], dtype=DT), 0.5)
    x = torch.tensor([[-5.1, 0.2], [-4.0, -1.0], [-6.0, 0.0], [4.9, 0.1]], dtype=torch.float32)  # 3 at -5, 1 at +5
    w = mix.mode_weights(x)
    assert w.dtype == DT and w.tolist() == [0.75, 0.25, 0.0]


def _sdes():
    from scorelib.schedules import DDPMSchedule
    from scorelib.sde import VESDE, VPSDE, SubVPSDE

    return [(VPSDE(0.1, 20.0), 0.37), (VESDE(0.01, 10.0), 0.37), (SubVPSDE(0.1, 20.0), 0.37),
            (DDPMSchedule.linear(1000).as_vpsde(), torch.tensor(123))]


@pytest.mark.parametrize("mix", [iso_mixture(d=2), full_mixture(d=2)], ids=["isotropic", "full"])
@pytest.mark.parametrize("case", range(4))
def test_noised_mixture_score_is_the_gradient_of_log_p_t(mix, case):
    """score = ∇ log p_t by autograd of the perturbed mixture's log-density, p_t = Σ w_k N(mμ_k, m²Σ_k + s²I);
    ε* = -s(t)·score. Float64 throughout: agreement to round-off."""
    from scorelib.distributions import NoisedMixture

    process, t = _sdes()[case]
    oracle = NoisedMixture(mix, process)
    m, s = process.marginal(t)
    x = (3.0 * torch.randn(40, 2, generator=_gen(5), dtype=DT)).requires_grad_(True)
    (grad,) = torch.autograd.grad(mix.perturb(m, s).log_prob(x).sum(), x)
    x = x.detach()
    torch.testing.assert_close(oracle.score(x, t), grad, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(oracle.eps(x, t), -float(s) * grad, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(oracle.at(t).log_prob(x), mix.perturb(m, s).log_prob(x), rtol=0, atol=0)


def test_noised_mixture_eps_of_one_gaussian_is_the_ddpm_closed_form():
    """x_0 ~ N(0, σ²I) under DDPM: ε*(x_t, t) = √(1-ᾱ_t) x_t/(ᾱ_t σ² + 1 - ᾱ_t) (Gaussian conditioning);
    the oracle computes in x's dtype (float32 here)."""
    from scorelib.distributions import NoisedMixture
    from scorelib.schedules import DDPMSchedule

    sched, sigma = DDPMSchedule.linear(1000), 0.7
    oracle = NoisedMixture(GaussianMixture.isotropic(torch.ones(1, dtype=DT), torch.zeros(1, 3, dtype=DT), sigma),
                           sched.as_vpsde())
    x = torch.randn(100, 3, generator=_gen(0))
    for t in (1, 10, 500, 1000):
        ab = float(sched.alpha_bars[t - 1])
        eps = oracle.eps(x, torch.tensor(t))
        assert eps.dtype == torch.float32
        torch.testing.assert_close(eps, math.sqrt(1 - ab) * x / (ab * sigma**2 + 1 - ab), rtol=1e-5, atol=1e-6)


def test_noised_mixture_takes_a_marginal_function():
    """NCSN's levels as a process: m = 1, s = σ (q_σ = p ∗ N(0, σ²I))."""
    from scorelib.distributions import NoisedMixture

    mix = iso_mixture(d=2)
    x = torch.randn(10, 2, generator=_gen(1), dtype=DT)
    oracle = NoisedMixture(mix, lambda sigma: (1.0, sigma))
    torch.testing.assert_close(oracle.score(x, 0.5), mix.perturb(1.0, 0.5).score(x), rtol=1e-10, atol=1e-12)
