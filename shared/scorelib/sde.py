"""Forward SDEs of score-based generative modelling (Song et al. 2021), as one narrow object.

An :class:`SDE` is dx = f(x, t) dt + g(t) dW on t ∈ [0, T] with a *linear* drift, so its transition
kernel from x_0 is Gaussian, p_{0t}(x_t | x_0) = N(m(t)·x_0, s(t)² I) (:meth:`SDE.marginal` returns
(m(t), s(t))). Every loss (:func:`scorelib.losses.sde_dsm_loss`), sampler
(:mod:`scorelib.samplers`) and likelihood (:mod:`scorelib.likelihood`) is derived from these few
methods, so a new SDE gets all of them by adding one class (the design of score_sde_pytorch).

- :class:`VESDE` — dx = √(d[σ²(t)]/dt) dW, σ(t) = σ_min(σ_max/σ_min)^t (Song et al. 2021, eq. 9/30): the
  continuous limit of NCSN's geometric noise levels.
- :class:`VPSDE` — dx = -½β(t)x dt + √β(t) dW, β linear in t (eq. 11/32): the limit of DDPM.
- :class:`SubVPSDE` — dx = -½β(t)x dt + √(β(t)(1 - e^{-2∫β})) dW (eq. 17): variance below VP's.
- :class:`OU` — dy = -½β y dt + √β dW with constant β (β = 1: the NDP forward process of Dutordoir
  et al. 2022, dy = -½y dt + dW).

The reverse-time SDE (Anderson 1982; Song et al. 2021, eq. 6) and the probability-flow ODE (eq. 13)
are :meth:`SDE.reverse`. Times ``t`` are floats, 0-d tensors or ``[n]`` tensors; results broadcast
against ``x [n, ...]``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from scorelib.errors import ConfigError

#: ``score_fn(x [n, ...], t) -> [n, ...]``: an estimate of ∇_x log p_t(x); ``t`` a 0-d or ``[n]`` tensor.
TimeScoreFn = Callable[[Tensor, Tensor], Tensor]


def _as_time(t: Tensor | float, like: Tensor | None = None) -> Tensor:
    if like is not None:
        return torch.as_tensor(t, dtype=like.dtype, device=like.device)
    return t if isinstance(t, Tensor) else torch.as_tensor(t, dtype=torch.float64)


def _bcast(v: Tensor, x: Tensor) -> Tensor:
    """``[n]`` → ``[n, 1, …]`` so that it broadcasts against ``x [n, …]``; 0-d stays 0-d."""
    return v.reshape(v.shape + (1,) * (x.dim() - v.dim())) if v.dim() else v


class SDE:
    """dx = f(x, t) dt + g(t) dW on [0, T], with a Gaussian transition kernel N(m(t) x_0, s(t)² I).

    Subclasses implement :meth:`drift`, :meth:`diffusion`, :meth:`marginal` and :meth:`prior_std`.
    """

    T: float = 1.0

    def drift(self, x: Tensor, t: Tensor | float) -> Tensor:
        """f(x, t), ``[n, ...]``."""
        raise NotImplementedError

    def diffusion(self, t: Tensor | float) -> Tensor:
        """g(t): shape of ``t``."""
        raise NotImplementedError

    def marginal(self, t: Tensor | float) -> tuple[Tensor, Tensor]:
        """(m(t), s(t)) of the kernel p_{0t}(x_t | x_0) = N(m(t)·x_0, s(t)² I); shapes of ``t``."""
        raise NotImplementedError

    def prior_std(self) -> float:
        """Standard deviation of the prior p_T ≈ N(0, std² I) that sampling starts from."""
        raise NotImplementedError

    # ---- derived from the four methods above -------------------------------------------------

    def prior_sample(self, shape: tuple[int, ...], generator: torch.Generator,
                     dtype: torch.dtype = torch.float32) -> Tensor:
        """x_T ~ N(0, prior_std² I) of ``shape``, drawn on the generator's device."""
        return self.prior_std() * torch.randn(shape, generator=generator, dtype=dtype, device=generator.device)

    def prior_log_prob(self, x: Tensor) -> Tensor:
        """log N(x; 0, prior_std² I) summed over all non-batch dimensions: ``[n]``."""
        s = self.prior_std()
        d = x[0].numel()
        return -0.5 * x.flatten(1).pow(2).sum(-1) / s**2 - d * math.log(s) - 0.5 * d * math.log(2 * math.pi)

    def marginal_sample(self, x0: Tensor, t: Tensor | float, noise: Tensor) -> Tensor:
        """x_t = m(t)·x_0 + s(t)·z: the draw of the kernel p_{0t}(· | x_0) (:meth:`marginal`) for the given
        standard-normal noise z ``[n, ...]``."""
        m, s = self.marginal(_as_time(t, x0))
        return _bcast(m, x0) * x0 + _bcast(s, x0) * noise

    def transition(self, t: Tensor | float, s: Tensor | float) -> tuple[Tensor, Tensor]:
        """(a, σ²) of the exact one-step kernel p(x_t | x_s) = N(a·x_s, σ² I), s < t:
        a = m(t)/m(s), σ² = s(t)² - a²s(s)² (both kernels from x_0 are Gaussian)."""
        m_t, std_t = self.marginal(t)
        m_s, std_s = self.marginal(s)
        a = m_t / m_s
        return a, (std_t**2 - a**2 * std_s**2).clamp_min(0.0)

    def discretize(self, x: Tensor, t: Tensor | float, s: Tensor | float) -> tuple[Tensor, Tensor]:
        """The forward step from s to t > s as x_t = x_s + F + G z: returns (F ``[n, ...]``, G).

        The exact transition (F = (a-1)x, G = σ): for VE it is NCSN's x_i = x_{i-1} + √(σ_i² - σ_{i-1}²) z,
        for VP DDPM's x_i = √(1-β_i) x_{i-1} + √β_i z (Song et al. 2021, eq. 8 and 10) with
        β_i = 1 - m(t)²/m(s)². Used by the reverse-diffusion predictor (their eq. 46).
        """
        a, var = self.transition(_as_time(t, x), _as_time(s, x))
        return (_bcast(a, x) - 1) * x, _bcast(var.sqrt(), x)

    def langevin_alpha(self, t: Tensor | float, s: Tensor | float) -> Tensor:
        """α_i of the Langevin corrector (Song et al. 2021, Algorithm 5): 1 except for VP-type SDEs."""
        return torch.ones_like(_as_time(t))

    def reverse(self, score_fn: TimeScoreFn, probability_flow: bool = False) -> ReverseSDE:
        """The reverse-time SDE dx = [f - g²∇log p_t] dt + g dW̄ (Anderson 1982; Song et al. 2021, eq. 6),
        or with ``probability_flow`` the ODE dx = [f - ½g²∇log p_t] dt (eq. 13), with ``score_fn``
        in place of ∇log p_t."""
        return ReverseSDE(self, score_fn, probability_flow)


@dataclass
class ReverseSDE:
    """dx = f̄(x, t) dt + ḡ(t) dW̄, integrated from t = T down to 0 (dt < 0)."""

    sde: SDE
    score_fn: TimeScoreFn
    probability_flow: bool = False

    def drift(self, x: Tensor, t: Tensor | float) -> Tensor:
        """f(x, t) - c·g(t)²·s(x, t), c = 1 (SDE) or ½ (probability flow): ``[n, ...]``."""
        t = _as_time(t, x)
        g2 = _bcast(self.sde.diffusion(t) ** 2, x)
        c = 0.5 if self.probability_flow else 1.0
        return self.sde.drift(x, t) - c * g2 * self.score_fn(x, t)

    def diffusion(self, t: Tensor | float) -> Tensor:
        """g(t) (zero for the probability-flow ODE)."""
        g = self.sde.diffusion(t)
        return torch.zeros_like(g) if self.probability_flow else g


class VESDE(SDE):
    """Variance exploding: dx = σ(t)√(2 log(σ_max/σ_min)) dW, σ(t) = σ_min (σ_max/σ_min)^t.

    Exact kernel N(x_0, (σ(t)² - σ_min²) I) (Song et al. 2021, eq. 29 with σ(0) = σ_min). The paper's code
    uses σ(t) for the std, treating the data as already noised at σ_min; the difference matters only at
    t ≈ 0. Prior N(0, σ_max² I).
    """

    def __init__(self, sigma_min: float = 0.01, sigma_max: float = 10.0, T: float = 1.0) -> None:
        if not 0 < sigma_min < sigma_max:
            raise ConfigError(f"need 0 < sigma_min < sigma_max, got {sigma_min}, {sigma_max}")
        self.sigma_min, self.sigma_max, self.T = float(sigma_min), float(sigma_max), float(T)
        self._log_ratio = math.log(self.sigma_max / self.sigma_min)

    def sigma(self, t: Tensor | float) -> Tensor:
        """σ(t) = σ_min (σ_max/σ_min)^{t/T}: NCSN's geometric σ's on an even time grid."""
        t = _as_time(t)
        return self.sigma_min * torch.exp(t / self.T * self._log_ratio)

    def drift(self, x: Tensor, t: Tensor | float) -> Tensor:
        return torch.zeros_like(x)

    def diffusion(self, t: Tensor | float) -> Tensor:
        return self.sigma(t) * math.sqrt(2 * self._log_ratio / self.T)

    def marginal(self, t: Tensor | float) -> tuple[Tensor, Tensor]:
        t = _as_time(t)
        return torch.ones_like(t), (self.sigma(t) ** 2 - self.sigma_min**2).clamp_min(0.0).sqrt()

    def prior_std(self) -> float:
        return self.sigma_max


class VPTypeSDE(SDE):
    """An SDE whose marginal mean shrinks, m(t) < 1, towards the prior N(0, I): VP, sub-VP, OU and the discrete
    DDPM chain (:meth:`scorelib.schedules.DDPMSchedule.as_vpsde`)."""

    def langevin_alpha(self, t: Tensor | float, s: Tensor | float) -> Tensor:
        """α_i = 1 - β_i = m(t)²/m(s)² for the reverse step t → s < t (Song et al. 2021, Algorithm 5)."""
        m_t, _ = self.marginal(t)
        m_s, _ = self.marginal(s)
        return (m_t / m_s) ** 2

    def prior_std(self) -> float:
        return 1.0


class _LinearBeta(VPTypeSDE):
    """β(t) = β_min + (t/T)(β_max - β_min), and B(t) = ∫_0^t β(s) ds."""

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0, T: float = 1.0) -> None:
        if not 0 < beta_min <= beta_max:
            raise ConfigError(f"need 0 < beta_min <= beta_max, got {beta_min}, {beta_max}")
        self.beta_min, self.beta_max, self.T = float(beta_min), float(beta_max), float(T)

    def beta(self, t: Tensor | float) -> Tensor:
        t = _as_time(t)
        return self.beta_min + t / self.T * (self.beta_max - self.beta_min)

    def integrated_beta(self, t: Tensor | float) -> Tensor:
        t = _as_time(t)
        return self.beta_min * t + 0.5 * t**2 / self.T * (self.beta_max - self.beta_min)

    def drift(self, x: Tensor, t: Tensor | float) -> Tensor:
        return -0.5 * _bcast(self.beta(_as_time(t, x)), x) * x



class VPSDE(_LinearBeta):
    """Variance preserving: dx = -½β(t) x dt + √β(t) dW (Song et al. 2021, eq. 11).

    Kernel N(e^{-½B(t)} x_0, (1 - e^{-B(t)}) I), B(t) = ∫_0^t β (eq. 33). With β_i = β(t_i)/N, N = 1000 and
    (β_min, β_max) = (0.1, 20) it is DDPM's linear schedule 1e-4 → 0.02. Prior N(0, I).
    """

    def diffusion(self, t: Tensor | float) -> Tensor:
        return self.beta(t).sqrt()

    def marginal(self, t: Tensor | float) -> tuple[Tensor, Tensor]:
        b = self.integrated_beta(t)
        return torch.exp(-0.5 * b), (-torch.expm1(-b)).sqrt()


class SubVPSDE(_LinearBeta):
    """sub-VP: dx = -½β(t) x dt + √(β(t)(1 - e^{-2B(t)})) dW (Song et al. 2021, eq. 17).

    Kernel N(e^{-½B(t)} x_0, (1 - e^{-B(t)})² I): the *std* is 1 - e^{-B}, so the variance is its square,
    below VP's 1 - e^{-B} at every t (their eq. 34). Prior N(0, I).
    """

    def diffusion(self, t: Tensor | float) -> Tensor:
        return (self.beta(t) * -torch.expm1(-2 * self.integrated_beta(t))).sqrt()

    def marginal(self, t: Tensor | float) -> tuple[Tensor, Tensor]:
        b = self.integrated_beta(t)
        return torch.exp(-0.5 * b), -torch.expm1(-b)


class OU(VPSDE):
    """Ornstein–Uhlenbeck: dy = -½β y dt + √β dW with constant β; β = 1 is NDP's dy = -½y dt + dW.

    Kernel N(e^{-βt/2} y_0, (1 - e^{-βt}) I). (The talk's slide writes the mean as e^{-½y_0}: it is
    e^{-t/2}·y_0. Its other slide's N(e^{-t} x_0, (1 - e^{-2t}) I) is this process with β = 2, i.e.
    dy = -y dt + √2 dW.) ``T`` defaults to 10, where p_T is N(0, I) to within e^{-5} in the mean.
    """

    def __init__(self, beta: float = 1.0, T: float = 10.0) -> None:
        super().__init__(beta, beta, T)
