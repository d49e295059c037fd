"""Gaussian processes for the NDP chapters: kernels, the exact posterior, the predictive likelihood and
the moment-matched GP of the step-function process.

Shapes are contracts: inputs ``x [..., N, D]`` (any leading batch dims), function values ``y [..., N]``,
Gram matrices ``[..., N, M]``. Everything is plain torch and float64-friendly (use float64 for the
references: the Gram matrices of smooth kernels are badly conditioned).

Cholesky factors are taken of ``K + jitter·I`` with :data:`DEFAULT_JITTER` = 1e-6 (relative to nothing:
the kernels here have variance ~1). The jitter is added on top of the observation noise, so with noise
variance 0.05² = 2.5e-3 it changes the covariance by 0.04%; for noise-free conditioning (the step
process) it is the only regulariser. A factorisation that still fails raises with the matrix size.

- Kernels (Rasmussen & Williams 2006, ch. 4): :func:`squared_exponential` (eq. 4.9),
  :func:`matern52` (eq. 4.17 with ν = 5/2), :func:`periodic` (MacKay's, eq. 4.31, summed over D).
- :func:`conditional_gaussian` — the Gaussian conditioning formula (R&W eq. A.6);
  :func:`masked_conditional_gaussian` — the same for the entries of one Gaussian vector picked by a mask;
  :func:`gp_posterior` / :func:`gp_log_likelihood` built on it (R&W eq. 2.22-2.24).
- :func:`step_mean`, :func:`step_kernel`, :func:`step_gp_posterior` — the GP with the first two moments
  of f(x) = 1[x ≥ a], a ~ U[-L, L] (the NDP talk's step-function experiment): the Gaussian baseline that cannot
  represent the two-point-mass posterior.
- :func:`kl_mvn` — KL(N₀ ‖ N₁) between full-covariance multivariate normals (not to be confused with
  :func:`scorelib.likelihood.gaussian_kl`, the elementwise KL of the DDPM bound).
- :func:`exact_gaussian_eps` — the exact DDPM noise predictor of Gaussian data (an oracle denoiser, to
  test samplers such as RePaint without a network).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from scorelib.errors import ConfigError

#: Added to the diagonal before every Cholesky factorisation (see the module docstring).
DEFAULT_JITTER = 1e-6

Kernel = Callable[..., Tensor]


def _check_inputs(x1: Tensor, x2: Tensor) -> None:
    if x1.dim() < 2 or x2.dim() < 2 or x1.shape[-1] != x2.shape[-1]:
        raise ConfigError(f"kernel inputs must be [..., N, D] and [..., M, D], got {tuple(x1.shape)} and "
                          f"{tuple(x2.shape)}")


def _sq_dist(x1: Tensor, x2: Tensor, lengthscale: float | Tensor) -> Tensor:
    """Σ_d (x1_d - x2_d)²/ℓ² ``[..., N, M]``, by differences (no ‖a‖² + ‖b‖² - 2ab cancellation)."""
    diff = (x1.unsqueeze(-2) - x2.unsqueeze(-3)) / lengthscale  # [..., N, M, D]
    return (diff * diff).sum(-1)


def squared_exponential(x1: Tensor, x2: Tensor, lengthscale: float | Tensor = 1.0,
                        variance: float | Tensor = 1.0) -> Tensor:
    """k(x, x') = v·exp(-‖x - x'‖²/(2ℓ²)) (R&W eq. 4.9): ``x1 [..., N, D], x2 [..., M, D] -> [..., N, M]``."""
    _check_inputs(x1, x2)
    return variance * torch.exp(-0.5 * _sq_dist(x1, x2, lengthscale))


def matern52(x1: Tensor, x2: Tensor, lengthscale: float | Tensor = 1.0, variance: float | Tensor = 1.0) -> Tensor:
    """k(r) = v(1 + √5 r + 5r²/3)·exp(-√5 r), r = ‖x - x'‖/ℓ (R&W eq. 4.17, ν = 5/2): ``[..., N, M]``."""
    _check_inputs(x1, x2)
    r2 = _sq_dist(x1, x2, lengthscale)
    r = r2.clamp_min(1e-30).sqrt() * (r2 > 0)  # finite gradient at r = 0
    s5r = math.sqrt(5.0) * r
    return variance * (1 + s5r + 5.0 / 3.0 * r2) * torch.exp(-s5r)


def periodic(x1: Tensor, x2: Tensor, lengthscale: float | Tensor = 1.0, variance: float | Tensor = 1.0,
             period: float | Tensor = 1.0) -> Tensor:
    """k(x, x') = v·exp(-2 Σ_d sin²(π|x_d - x'_d|/p)/ℓ²) (MacKay 1998; R&W eq. 4.31): ``[..., N, M]``."""
    _check_inputs(x1, x2)
    s = torch.sin(math.pi * (x1.unsqueeze(-2) - x2.unsqueeze(-3)) / period)  # [..., N, M, D]
    return variance * torch.exp(-2.0 * (s * s).sum(-1) / lengthscale**2)


#: Kernels by name (the names :func:`scorelib.datasets.gp_functions` accepts).
KERNELS: dict[str, Kernel] = {
    "squared_exponential": squared_exponential,
    "matern52": matern52,
    "periodic": periodic,
}


def get_kernel(name: str) -> Kernel:
    """The kernel registered as ``name``; a :class:`ConfigError` lists the known ones otherwise."""
    if name not in KERNELS:
        raise ConfigError(f"unknown kernel {name!r}; choose one of {', '.join(sorted(KERNELS))}")
    return KERNELS[name]


def cholesky(matrix: Tensor, jitter: float = DEFAULT_JITTER) -> Tensor:
    """Lower Cholesky factor of ``matrix + jitter·I`` (``[..., N, N]``); raises if it is not positive definite."""
    eye = torch.eye(matrix.shape[-1], dtype=matrix.dtype, device=matrix.device)
    factor, info = torch.linalg.cholesky_ex(matrix + jitter * eye)
    if bool((info > 0).any()):
        raise ConfigError(f"Cholesky failed for a {matrix.shape[-1]}×{matrix.shape[-1]} covariance with jitter "
                          f"{jitter:g}: use float64, more observation noise or a larger jitter")
    return factor


def conditional_gaussian(mean_c: Tensor, mean_t: Tensor, cov_cc: Tensor, cov_ct: Tensor, cov_tt: Tensor,
                         y_c: Tensor, jitter: float = DEFAULT_JITTER) -> tuple[Tensor, Tensor]:
    """The law of f_t given f_c = y_c when (f_c, f_t) is jointly Gaussian (R&W eq. A.6).

    mean = μ_t + Σ_tc Σ_cc⁻¹ (y_c - μ_c), cov = Σ_tt - Σ_tc Σ_cc⁻¹ Σ_ct, through the Cholesky factor of
    Σ_cc + jitter·I. Shapes: ``mean_c, y_c [..., C]``, ``mean_t [..., M]``, ``cov_cc [..., C, C]``,
    ``cov_ct [..., C, M]``, ``cov_tt [..., M, M]`` → ``(mean [..., M], cov [..., M, M])``.
    """
    chol = cholesky(cov_cc, jitter)
    a = torch.linalg.solve_triangular(chol, cov_ct, upper=False)  # L⁻¹ Σ_ct  [..., C, M]
    r = torch.linalg.solve_triangular(chol, (y_c - mean_c).unsqueeze(-1), upper=False)  # [..., C, 1]
    mean = mean_t + (a.transpose(-1, -2) @ r).squeeze(-1)
    cov = cov_tt - a.transpose(-1, -2) @ a
    return mean, 0.5 * (cov + cov.transpose(-1, -2))


def masked_conditional_gaussian(mean: Tensor, cov: Tensor, y: Tensor, known: Tensor, noise_variance: float = 0.0,
                                jitter: float = DEFAULT_JITTER) -> tuple[Tensor, Tensor]:
    """The law of the unknown entries of f ~ N(mean, cov) given the known ones, observed as ``y`` with noise.

    ``mean [P]``, ``cov [P, P]``, ``y [P]`` (only ``y[known]`` is read), ``known [P]`` bool → ``(mean [U], cov
    [U, U])`` of f[~known] (U = P - K, in index order): :func:`conditional_gaussian` (R&W eq. A.6) with Σ_cc =
    cov[known, known] + σ²I, i.e. noisy observations of the known entries and the latent f at the others.
    """
    shape = tuple(mean.shape)
    if known.dtype != torch.bool or len(shape) != 1 or tuple(known.shape) != shape or tuple(y.shape) != shape \
            or tuple(cov.shape) != shape * 2:
        raise ConfigError(f"need mean [P], cov [P, P], y [P] and a bool mask known [P]; got {tuple(mean.shape)}, "
                          f"{tuple(cov.shape)}, {tuple(y.shape)}, {tuple(known.shape)} ({known.dtype})")
    u = ~known
    cov_cc = cov[known][:, known]
    if noise_variance:
        cov_cc = cov_cc + noise_variance * torch.eye(len(cov_cc), dtype=cov.dtype, device=cov.device)
    return conditional_gaussian(mean[known], mean[u], cov_cc, cov[known][:, u], cov[u][:, u], y[known], jitter)


def gp_posterior(x_context: Tensor, y_context: Tensor, x_target: Tensor, kernel: Kernel | str = "squared_exponential",
                 noise_variance: float = 0.0, include_noise: bool = False, jitter: float = DEFAULT_JITTER,
                 **kernel_args) -> tuple[Tensor, Tensor]:
    """Exact posterior of a zero-mean GP with Gaussian observation noise (R&W eq. 2.22-2.24).

    ``x_context [..., C, D]``, ``y_context [..., C]`` (noisy observations), ``x_target [..., M, D]`` →
    ``(mean [..., M], cov [..., M, M])`` of the latent f at the targets, or of the noisy y there with
    ``include_noise=True`` (cov + σ²I: the predictive of new observations). ``kernel_args`` go to the
    kernel (``lengthscale``, ``variance``, …).
    """
    k = get_kernel(kernel) if isinstance(kernel, str) else kernel
    eye_c = torch.eye(x_context.shape[-2], dtype=x_context.dtype, device=x_context.device)
    k_cc = k(x_context, x_context, **kernel_args) + noise_variance * eye_c
    k_ct = k(x_context, x_target, **kernel_args)
    k_tt = k(x_target, x_target, **kernel_args)
    zero_c = torch.zeros_like(y_context)
    zero_t = torch.zeros(x_target.shape[:-1], dtype=x_target.dtype, device=x_target.device)
    mean, cov = conditional_gaussian(zero_c, zero_t, k_cc, k_ct, k_tt, y_context, jitter)
    if include_noise:
        cov = cov + noise_variance * torch.eye(cov.shape[-1], dtype=cov.dtype, device=cov.device)
    return mean, cov


def gaussian_log_prob(y: Tensor, mean: Tensor, cov: Tensor, jitter: float = DEFAULT_JITTER) -> Tensor:
    """log N(y; mean, cov + jitter·I) for ``y, mean [..., M]``, ``cov [..., M, M]`` → ``[...]``."""
    chol = cholesky(cov, jitter)
    z = torch.linalg.solve_triangular(chol, (y - mean).unsqueeze(-1), upper=False).squeeze(-1)
    log_det = 2 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)
    return -0.5 * ((z * z).sum(-1) + log_det + y.shape[-1] * math.log(2 * math.pi))


def gp_log_likelihood(x_context: Tensor, y_context: Tensor, x_target: Tensor, y_target: Tensor,
                      kernel: Kernel | str = "squared_exponential", noise_variance: float = 0.0,
                      per_point: bool = False, jitter: float = DEFAULT_JITTER, **kernel_args) -> Tensor:
    """Joint predictive log-likelihood log p(y_target | context) of the noisy targets ``[...]``.

    The posterior predictive N(mean, cov + σ²I) of :func:`gp_posterior` evaluated jointly at ``y_target
    [..., M]``; ``per_point=True`` divides by M (the "TLL per target point" of the NDP paper, Table 1).
    """
    mean, cov = gp_posterior(x_context, y_context, x_target, kernel, noise_variance, include_noise=True,
                             jitter=jitter, **kernel_args)
    ll = gaussian_log_prob(y_target, mean, cov, jitter)
    return ll / y_target.shape[-1] if per_point else ll


# --------------------------------------------------------------------------------------------
# The step-function process f(x) = 1[x ≥ a], a ~ U[-L, L], and its moment-matched GP
# --------------------------------------------------------------------------------------------


def _check_step_inputs(x: Tensor, L: float) -> Tensor:
    if not L > 0:
        raise ConfigError(f"the step process needs L > 0, got {L}")
    if x.dim() < 2 or x.shape[-1] != 1:
        raise ConfigError(f"the step process is 1-D: inputs must be [..., N, 1], got {tuple(x.shape)}")
    return x[..., 0].clamp(-L, L)


def step_mean(x: Tensor, L: float = 1.0) -> Tensor:
    """E f(x) = P(a ≤ x) = (x + L)/2L, x clipped to [-L, L]: ``x [..., N, 1] -> [..., N]``."""
    return (_check_step_inputs(x, L) + L) / (2 * L)


def step_kernel(x1: Tensor, x2: Tensor, L: float = 1.0) -> Tensor:
    """Cov(f(x), f(x')) = (min(x, x') + L)/2L - (x + L)(x' + L)/4L², inputs clipped to [-L, L].

    From E f(x)f(x') = P(a ≤ min(x, x')). ``x1 [..., N, 1], x2 [..., M, 1] -> [..., N, M]``.
    """
    u, v = _check_step_inputs(x1, L).unsqueeze(-1), _check_step_inputs(x2, L).unsqueeze(-2)
    return (torch.minimum(u, v) + L) / (2 * L) - (u + L) * (v + L) / (4 * L * L)


def step_gp_posterior(x_context: Tensor, y_context: Tensor, x_target: Tensor, L: float = 1.0,
                      noise_variance: float = 0.0, jitter: float = DEFAULT_JITTER) -> tuple[Tensor, Tensor]:
    """Posterior of the moment-matched GP of the step process (mean :func:`step_mean`, kernel
    :func:`step_kernel`) given ``x_context [..., C, 1]``, ``y_context [..., C]``: ``(mean [..., M], cov
    [..., M, M])`` at ``x_target [..., M, 1]``. Noise-free by default (the process has none)."""
    eye_c = torch.eye(x_context.shape[-2], dtype=x_context.dtype, device=x_context.device)
    return conditional_gaussian(step_mean(x_context, L), step_mean(x_target, L),
                                step_kernel(x_context, x_context, L) + noise_variance * eye_c,
                                step_kernel(x_context, x_target, L), step_kernel(x_target, x_target, L),
                                y_context, jitter)


def kl_mvn(mean0: Tensor, cov0: Tensor, mean1: Tensor, cov1: Tensor) -> Tensor:
    """KL(N(mean0, cov0) ‖ N(mean1, cov1)) = ½[tr(Σ₁⁻¹Σ₀) + Δᵀ Σ₁⁻¹ Δ - M + log det Σ₁ - log det Σ₀].

    ``mean [..., M]``, ``cov [..., M, M]`` → ``[...]`` (nats). No jitter: pass positive-definite matrices.
    """
    chol1 = cholesky(cov1, 0.0)
    chol0 = cholesky(cov0, 0.0)
    a = torch.linalg.solve_triangular(chol1, chol0, upper=False)  # L₁⁻¹L₀: tr(Σ₁⁻¹Σ₀) = ‖a‖²_F
    d = torch.linalg.solve_triangular(chol1, (mean1 - mean0).unsqueeze(-1), upper=False).squeeze(-1)
    log_det1 = 2 * torch.log(torch.diagonal(chol1, dim1=-2, dim2=-1)).sum(-1)
    log_det0 = 2 * torch.log(torch.diagonal(chol0, dim1=-2, dim2=-1)).sum(-1)
    return 0.5 * ((a * a).sum((-1, -2)) + (d * d).sum(-1) - mean0.shape[-1] + log_det1 - log_det0)


def exact_gaussian_eps(cov: Tensor, schedule) -> Callable[[Tensor, Tensor], Tensor]:
    """The exact noise predictor E[ε | x_t] for data x_0 ~ N(0, Σ) under a DDPM ``schedule``:
    x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε is N(0, ᾱ_t Σ + (1-ᾱ_t) I), and E[ε | x_t] = √(1-ᾱ_t)(ᾱ_t Σ + (1-ᾱ_t) I)⁻¹ x_t
    (Gaussian conditioning). ``cov [M, M]``; returns ``eps_fn(x_t [n, M], t 0-d) -> [n, M]`` in the samplers'
    convention (one eigendecomposition of Σ, then a diagonal solve per step)."""
    lam, q = torch.linalg.eigh(cov)

    def eps_fn(x_t: Tensor, t: Tensor) -> Tensor:
        ab = float(schedule.alpha_bars[int(t) - 1])
        return math.sqrt(1 - ab) * ((x_t @ q) / (ab * lam + 1 - ab)) @ q.T

    return eps_fn
