"""Gaussian mixtures: exact samples, log-densities, scores, and their noised versions.

A mixture is the one family whose perturbed density stays in closed form under any
linear-Gaussian noising ``x_t = a·x_0 + s·z`` (VE: a=1, s=σ; VP/DDPM: a=√ᾱ_t, s=√(1-ᾱ_t)):

    p_t(x) = Σ_k w_k N(x; a μ_k, a² Σ_k + s² I),

so every chapter can check a learned score or a sampler against the truth.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Protocol

import torch
from torch import Tensor

from scorelib.errors import ConfigError


class GaussianMixture:
    """p(x) = Σ_k w_k N(x; μ_k, Σ_k).

    Args:
        weights: ``[K]`` non-negative, normalised here.
        means: ``[K, D]``.
        covs: ``[K, D, D]`` symmetric positive definite.
    """

    def __init__(self, weights: Tensor, means: Tensor, covs: Tensor) -> None:
        weights = torch.as_tensor(weights)
        means = torch.as_tensor(means, dtype=weights.dtype, device=weights.device)
        covs = torch.as_tensor(covs, dtype=weights.dtype, device=weights.device)
        if weights.dim() != 1 or means.dim() != 2 or covs.dim() != 3:
            raise ConfigError(
                "GaussianMixture expects weights [K], means [K, D], covs [K, D, D]; got "
                f"{tuple(weights.shape)}, {tuple(means.shape)}, {tuple(covs.shape)}"
            )
        k, d = means.shape
        if weights.shape[0] != k or covs.shape != (k, d, d):
            raise ConfigError("weights, means and covs disagree on K or D")
        if (weights < 0).any() or weights.sum() <= 0:
            raise ConfigError("mixture weights must be non-negative with a positive sum")
        self.weights = weights / weights.sum()
        self.means = means
        self.covs = covs
        try:
            self._chol = torch.linalg.cholesky(covs)  # [K, D, D]
        except RuntimeError as err:  # not positive definite
            raise ConfigError(f"mixture covariances must be positive definite: {err}") from err
        eye = torch.eye(self.dim, dtype=means.dtype, device=means.device).expand(k, d, d)
        self._chol_inv = torch.linalg.solve_triangular(self._chol, eye, upper=False)  # [K, D, D]
        # Isotropic components (Parzen densities, NCSN toys) take a fast path through cdist.
        # Compared exactly against the first diagonal entry: a mean of D equal floats is not exact.
        var = covs[:, 0, 0]  # [K]
        self._iso_var = var if torch.equal(covs, var[:, None, None] * eye) else None

    @classmethod
    def isotropic(cls, weights: Tensor | Sequence[float], means: Tensor | Sequence[Sequence[float]],
                  stds: Tensor | Sequence[float] | float, dtype: torch.dtype | None = None) -> GaussianMixture:
        """Mixture with covariances ``std_k² I`` (``stds``: scalar or ``[K]``); ``dtype`` converts
        (Python sequences, e.g. a chapter's config, would otherwise become float32)."""
        means = torch.as_tensor(means, dtype=dtype)
        k, d = means.shape
        stds = torch.as_tensor(stds, dtype=means.dtype, device=means.device).expand(k)
        eye = torch.eye(d, dtype=means.dtype, device=means.device)
        return cls(torch.as_tensor(weights, dtype=means.dtype), means, stds[:, None, None] ** 2 * eye)

    @classmethod
    def parzen(cls, points: Tensor, std: float) -> GaussianMixture:
        """The Parzen (kernel) density of ``points [n, D]`` with Gaussian kernel ``std``:
        q_σ(x) = (1/n) Σ_i N(x; x_i, σ² I) (Vincent 2011, §4)."""
        n = points.shape[0]
        weights = torch.full((n,), 1.0 / n, dtype=points.dtype, device=points.device)
        return cls.isotropic(weights, points, std)

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    @property
    def n_components(self) -> int:
        return self.means.shape[0]

    def mean(self) -> Tensor:
        """E[x], ``[D]``."""
        return self.weights @ self.means

    def covariance(self) -> Tensor:
        """Cov[x] = Σ_k w_k (Σ_k + μ_k μ_kᵀ) - E[x]E[x]ᵀ, ``[D, D]``."""
        second = torch.einsum("k,kij->ij", self.weights, self.covs + self.means[:, :, None] * self.means[:, None, :])
        m = self.mean()
        return second - torch.outer(m, m)

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Draw ``n`` samples. Returns ``(x [n, D], component index [n])``."""
        device = self.means.device
        idx = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        z = torch.randn(n, self.dim, generator=generator, dtype=self.means.dtype, device=device)
        x = self.means[idx] + torch.einsum("nij,nj->ni", self._chol[idx], z)
        return x, idx

    def _component_log_probs(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """log w_k + log N(x; μ_k, Σ_k) ``[n, K]`` and the whitened residuals L_k⁻¹(x-μ_k) ``[n, K, D]``."""
        diff = x[:, None, :] - self.means[None]  # [n, K, D]
        white = torch.einsum("kij,nkj->nki", self._chol_inv, diff)
        log_det = 2.0 * torch.log(torch.diagonal(self._chol, dim1=-2, dim2=-1)).sum(-1)  # [K]
        log_norm = -0.5 * (self.dim * math.log(2 * math.pi) + log_det)
        comp = torch.log(self.weights) + log_norm - 0.5 * (white**2).sum(-1)
        return comp, white

    def _isotropic_log_probs(self, x: Tensor) -> Tensor:
        """log w_k + log N(x; μ_k, v_k I), ``[n, K]``, without forming ``[n, K, D]``."""
        sq = torch.cdist(x, self.means, compute_mode="donot_use_mm_for_euclid_dist").pow(2)
        log_norm = -0.5 * self.dim * torch.log(2 * math.pi * self._iso_var)
        return torch.log(self.weights) + log_norm - 0.5 * sq / self._iso_var

    def log_prob(self, x: Tensor) -> Tensor:
        """log p(x) for ``x [n, D]`` → ``[n]``."""
        if self._iso_var is not None:
            return torch.logsumexp(self._isotropic_log_probs(x), dim=-1)
        comp, _ = self._component_log_probs(x)
        return torch.logsumexp(comp, dim=-1)

    def responsibilities(self, x: Tensor) -> Tensor:
        """Posterior component probabilities p(k | x), ``[n, K]``."""
        if self._iso_var is not None:
            return torch.softmax(self._isotropic_log_probs(x), dim=-1)
        comp, _ = self._component_log_probs(x)
        return torch.softmax(comp, dim=-1)

    def mode_weights(self, x: Tensor) -> Tensor:
        """The fraction of the samples ``x [n, D]`` assigned to each component by its largest
        responsibility p(k | x): ``[K]``, float64 (counts / n). For a sampler of this mixture it
        estimates the weights w_k (where the components barely overlap)."""
        k = self.responsibilities(x.to(self.means.dtype)).argmax(-1)
        return torch.bincount(k, minlength=self.n_components).to(torch.float64) / len(k)

    def score(self, x: Tensor) -> Tensor:
        """∇_x log p(x) = Σ_k p(k|x) (-Σ_k⁻¹ (x - μ_k)), ``[n, D]``."""
        if self._iso_var is not None:
            weighted = torch.softmax(self._isotropic_log_probs(x), dim=-1) / self._iso_var  # [n, K]
            return weighted @ self.means - weighted.sum(-1, keepdim=True) * x
        comp, white = self._component_log_probs(x)
        resp = torch.softmax(comp, dim=-1)  # [n, K]
        prec_diff = torch.einsum("kji,nkj->nki", self._chol_inv, white)  # Σ_k⁻¹(x-μ_k) = L⁻ᵀL⁻¹(x-μ_k)
        return -(resp.unsqueeze(-1) * prec_diff).sum(1)

    def perturb(self, mean_coef: float | Tensor, std: float | Tensor) -> GaussianMixture:
        """The law of ``a·x + s·z``, z ~ N(0, I): Σ_k w_k N(a μ_k, a² Σ_k + s² I) (closed form)."""
        a = torch.as_tensor(mean_coef, dtype=self.means.dtype, device=self.means.device)
        s = torch.as_tensor(std, dtype=self.means.dtype, device=self.means.device)
        eye = torch.eye(self.dim, dtype=self.means.dtype, device=self.means.device)
        return GaussianMixture(self.weights, a * self.means, a**2 * self.covs + s**2 * eye)

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> GaussianMixture:
        """A copy on another device or dtype."""
        return GaussianMixture(
            self.weights.to(device=device, dtype=dtype),
            self.means.to(device=device, dtype=dtype),
            self.covs.to(device=device, dtype=dtype),
        )

    def __repr__(self) -> str:
        return f"GaussianMixture(K={self.n_components}, D={self.dim}, weights={self.weights.tolist()})"


class NoiseProcess(Protocol):
    """Anything with the marginal interface of :class:`scorelib.sde.SDE`: x_t = m(t)·x_0 + s(t)·z.

    Every scorelib SDE; :meth:`scorelib.schedules.DDPMSchedule.as_vpsde` for DDPM's integer steps.
    """

    def marginal(self, t: Tensor | float) -> tuple[Tensor, Tensor]: ...


class NoisedMixture:
    """The exact oracle of a Gaussian mixture under a noise process: p_t is the law of
    x_t = m(t)·x_0 + s(t)·z, x_0 ~ ``mixture``, z ~ N(0, I), which stays a mixture,

        p_t(x) = Σ_k w_k N(x; m μ_k, m² Σ_k + s² I),

    with exact score ∇log p_t (what a score network regresses on: Vincent 2011; Song et al. 2021,
    eq. 7) and exact noise prediction ε*(x_t, t) = E[z | x_t] = -s(t)·∇log p_t(x_t) (Tweedie's
    formula; the target of Ho et al. 2020, eq. 14). ``process`` is any :class:`NoiseProcess`, or a
    function ``t -> (m(t), s(t))``. ``score`` and ``eps`` take ``x [n, D]`` and one time ``t`` (a float or
    a 0-d tensor, as the samplers pass it) and compute in ``x``'s dtype.

    Isotropic mixtures (Σ_k = σ_k² I) use the closed form directly, without building p_t:
    with v_k = m²σ_k² + s², ∇log p_t(x) = Σ_k r_k(x)(m μ_k - x)/v_k, r_k ∝ w_k v_k^{-D/2} e^{-‖mμ_k - x‖²/2v_k}.
    Other mixtures go through :meth:`GaussianMixture.perturb`.
    """

    def __init__(self, mixture: GaussianMixture,
                 process: NoiseProcess | Callable[[Tensor], tuple[Tensor, Tensor]]) -> None:
        self.mixture = mixture
        self._marginal = process.marginal if hasattr(process, "marginal") else process
        self._log_w = torch.log(mixture.weights)
        self._comp_var = mixture._iso_var  # [K], or None for a full-covariance mixture

    def marginal(self, t: Tensor | float) -> tuple[Tensor, Tensor]:
        """(m(t), s(t)) as tensors (float64 where the process gives Python floats)."""
        m, s = self._marginal(t)
        as_tensor = lambda v: v if isinstance(v, Tensor) else torch.tensor(float(v), dtype=torch.float64)  # noqa: E731
        return as_tensor(m), as_tensor(s)

    def at(self, t: Tensor | float) -> GaussianMixture:
        """p_t itself (to sample it or evaluate log p_t)."""
        return self.mixture.perturb(*self.marginal(t))

    def score(self, x: Tensor, t: Tensor | float) -> Tensor:
        """∇_x log p_t(x), ``[n, D]``."""
        m, s = self.marginal(t)
        if self._comp_var is None:
            return self.mixture.to(x.device, x.dtype).perturb(m, s).score(x)
        var = (m**2 * self._comp_var + s**2).to(x.dtype)  # [K]
        diff = m.to(x.dtype) * self.mixture.means.to(x.dtype) - x[:, None, :]  # [n, K, D]
        logits = self._log_w.to(x.dtype) - 0.5 * x.shape[1] * torch.log(var) - diff.pow(2).sum(-1) / (2 * var)
        r = torch.softmax(logits, -1) / var
        return (r[:, :, None] * diff).sum(1)

    def eps(self, x: Tensor, t: Tensor | float) -> Tensor:
        """ε*(x_t, t) = -s(t)·∇log p_t(x_t), ``[n, D]`` (the samplers' ``eps_fn``)."""
        _, s = self.marginal(t)
        return -float(s) * self.score(x, t)


def moment_matched_gaussian(mix: GaussianMixture) -> GaussianMixture:
    """The single Gaussian N(m, C) with the mixture's mean and covariance (m = Σ w_k μ_k, C = Σ w_k (Σ_k + μ_kμ_kᵀ)
    − mmᵀ), as a one-component :class:`GaussianMixture`: the best Gaussian in KL(p ‖ q), and the toy chapters'
    negative control (a sampler driven by its exact score recovers no mode)."""
    w = mix.weights
    m = (w[:, None] * mix.means).sum(0)
    second = (w[:, None, None] * (mix.covs + mix.means[:, :, None] * mix.means[:, None, :])).sum(0)
    cov = second - m[:, None] * m[None, :]
    return GaussianMixture(torch.ones(1, dtype=w.dtype, device=w.device), m[None], cov[None])
