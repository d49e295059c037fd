"""Discrete noise schedules: the σ's of NCSN (and, added by their chapters, the β's of DDPM).

- :func:`geometric_sigmas` — Song & Ermon (2019), §4.2: σ_1 > σ_2 > … > σ_L with a constant ratio
  σ_{i-1}/σ_i, so every level is the same relative step from the last.
- :func:`linear_betas`, :func:`cosine_betas` and :class:`DDPMSchedule` — Ho et al. (2020): β_t, α_t,
  ᾱ_t and the coefficients of the forward posterior q(x_{t-1} | x_t, x_0) (their eq. 6-7);
  :meth:`DDPMSchedule.respaced` samples with fewer steps (Nichol & Dhariwal 2021, §4).
- :func:`rescaled_cosine_betas` — the schedule of Neural Diffusion Processes (Dutordoir et al. 2022).
- :class:`DiscreteVPSDE` (:meth:`DDPMSchedule.as_vpsde`) — a DDPM schedule as a VP SDE in units of steps, exact
  at the integer steps: the marginal interface of :mod:`scorelib.sde` for a discrete chain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from scorelib.errors import ConfigError
from scorelib.sde import VPTypeSDE


def geometric_sigmas(sigma_max: float, sigma_min: float, n: int, dtype: torch.dtype = torch.float64) -> Tensor:
    """σ_i = σ_max (σ_min/σ_max)^{(i-1)/(L-1)}, i = 1..L: ``[n]``, decreasing from σ_max to σ_min.

    Song & Ermon (2019), §4.2 ("a positive geometric sequence that satisfies σ_1/σ_2 = … = σ_{L-1}/σ_L > 1").
    The endpoints are set exactly (not through exp/log round-off).
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ConfigError(f"the number of noise levels must be a positive int, got {n!r}")
    if not (sigma_max > 0 and sigma_min > 0):
        raise ConfigError(f"noise levels must be positive, got sigma_max={sigma_max}, sigma_min={sigma_min}")
    if n == 1:
        if sigma_max != sigma_min:
            raise ConfigError("one noise level needs sigma_max == sigma_min")
        return torch.tensor([float(sigma_max)], dtype=dtype)
    if not sigma_max > sigma_min:
        raise ConfigError(f"sigma_max must exceed sigma_min, got {sigma_max} <= {sigma_min}")
    sigmas = torch.logspace(0.0, 1.0, n, base=sigma_min / sigma_max, dtype=torch.float64) * sigma_max
    sigmas[0], sigmas[-1] = sigma_max, sigma_min
    return sigmas.to(dtype)


# --------------------------------------------------------------------------------------------
# DDPM (Ho et al. 2020): β schedules and the forward posterior
# --------------------------------------------------------------------------------------------


def linear_betas(T: int = 1000, beta_1: float = 1e-4, beta_T: float = 0.02, dtype: torch.dtype = torch.float64) -> Tensor:
    """β_t linear from β_1 to β_T, t = 1..T: ``[T]`` (Ho et al. 2020, §4: 1e-4 → 0.02, T = 1000)."""
    if not isinstance(T, int) or isinstance(T, bool) or T < 1:
        raise ConfigError(f"T must be a positive int, got {T!r}")
    if not 0 < beta_1 <= beta_T < 1:
        raise ConfigError(f"need 0 < beta_1 <= beta_T < 1, got {beta_1}, {beta_T}")
    return torch.linspace(beta_1, beta_T, T, dtype=torch.float64).to(dtype)


def cosine_betas(T: int = 1000, s: float = 0.008, max_beta: float = 0.999, dtype: torch.dtype = torch.float64) -> Tensor:
    """β_t = 1 - ᾱ_t/ᾱ_{t-1} with ᾱ_t = f(t)/f(0), f(t) = cos²((t/T + s)/(1 + s)·π/2), clipped at
    ``max_beta`` (Nichol & Dhariwal 2021, eq. 17): ``[T]``."""
    if not isinstance(T, int) or isinstance(T, bool) or T < 1:
        raise ConfigError(f"T must be a positive int, got {T!r}")
    t = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    alpha_bar = f / f[0]
    return (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=max_beta).to(dtype)


def rescaled_cosine_betas(T: int = 500, beta_min: float = 3e-4, beta_max: float = 0.5, s: float = 0.008,
                          dtype: torch.dtype = torch.float64) -> Tensor:
    """The NDP schedule (Dutordoir et al. 2022, App. C): the cosine β's of :func:`cosine_betas`
    mapped affinely onto [``beta_min``, ``beta_max``], β_t = β_min + (β_t^cos - min β^cos)/(max β^cos -
    min β^cos)·(β_max - β_min): ``[T]``. At T = 500 the defaults give ᾱ_T ≈ 0.0022."""
    if not 0 < beta_min < beta_max < 1:
        raise ConfigError(f"need 0 < beta_min < beta_max < 1, got {beta_min}, {beta_max}")
    b = cosine_betas(T, s)
    if T == 1:
        return torch.tensor([beta_max], dtype=dtype)
    return (beta_min + (b - b.min()) / (b.max() - b.min()) * (beta_max - beta_min)).to(dtype)


Variance = Literal["beta", "beta_tilde"]


@dataclass(frozen=True)
class DDPMSchedule:
    """The discrete forward process q(x_t | x_{t-1}) = N(√α_t x_{t-1}, β_t I), t = 1..T (Ho et al. 2020).

    Every attribute is ``[T]`` (float64) and index ``t - 1`` holds step t; :meth:`at` gathers them for
    integer steps t ∈ {1..T}. With ᾱ_0 = 1:

    - ᾱ_t = Π_{s≤t} α_s, so q(x_t | x_0) = N(√ᾱ_t x_0, (1 - ᾱ_t) I)  (eq. 4);
    - q(x_{t-1} | x_t, x_0) = N(μ̃_t, β̃_t I), μ̃_t = coef_x0·x_0 + coef_xt·x_t with
      coef_x0 = √ᾱ_{t-1} β_t/(1 - ᾱ_t), coef_xt = √α_t (1 - ᾱ_{t-1})/(1 - ᾱ_t),
      β̃_t = (1 - ᾱ_{t-1})/(1 - ᾱ_t)·β_t  (eq. 6-7; β̃_1 = 0).
    """

    betas: Tensor

    def __post_init__(self) -> None:
        betas = torch.as_tensor(self.betas, dtype=torch.float64)
        if betas.dim() != 1 or len(betas) < 1 or not bool(((betas > 0) & (betas < 1)).all()):
            raise ConfigError("betas must be a non-empty 1-D tensor with values in (0, 1)")
        alphas = 1 - betas
        alpha_bars = torch.cumprod(alphas, 0)
        prev = torch.cat([torch.ones(1, dtype=torch.float64), alpha_bars[:-1]])
        derived = {
            "betas": betas,
            "alphas": alphas,
            "alpha_bars": alpha_bars,
            "alpha_bars_prev": prev,
            "posterior_variance": betas * (1 - prev) / (1 - alpha_bars),
            "posterior_coef_x0": prev.sqrt() * betas / (1 - alpha_bars),
            "posterior_coef_xt": alphas.sqrt() * (1 - prev) / (1 - alpha_bars),
        }
        for name, value in derived.items():
            object.__setattr__(self, name, value)

    @classmethod
    def linear(cls, T: int = 1000, beta_1: float = 1e-4, beta_T: float = 0.02) -> DDPMSchedule:
        return cls(linear_betas(T, beta_1, beta_T))

    @classmethod
    def cosine(cls, T: int = 1000, s: float = 0.008) -> DDPMSchedule:
        return cls(cosine_betas(T, s))

    @classmethod
    def ndp(cls, T: int = 500, beta_min: float = 3e-4, beta_max: float = 0.5) -> DDPMSchedule:
        return cls(rescaled_cosine_betas(T, beta_min, beta_max))

    @property
    def T(self) -> int:  # noqa: N802 - the paper's symbol
        return len(self.betas)

    def respaced(self, steps: int) -> tuple[DDPMSchedule, Tensor]:
        """The same process seen at ``steps`` evenly spaced levels S_1 < … < S_K = T (Nichol & Dhariwal
        2021, §4): ᾱ is kept at those levels and β_k = 1 - ᾱ_{S_k}/ᾱ_{S_{k-1}} (ᾱ_{S_0} = 1). Returns the
        new schedule (K = ``steps``) and ``timesteps [K]`` (long), the original step S_k of new step k
        (at index k-1): a network trained on this schedule is called with ``timesteps[k - 1]``.
        ``steps = T`` returns an equal schedule and 1..T."""
        if not isinstance(steps, int) or isinstance(steps, bool) or not 1 <= steps <= self.T:
            raise ConfigError(f"respaced steps must be an int in 1..{self.T}, got {steps!r}")
        timesteps = torch.linspace(1, self.T, steps, dtype=torch.float64).round().long()
        kept = self.alpha_bars[timesteps - 1]
        prev = torch.cat([torch.ones(1, dtype=torch.float64), kept[:-1]])
        return DDPMSchedule(1 - kept / prev), timesteps

    def as_vpsde(self) -> DiscreteVPSDE:
        """This chain as a VP SDE on t ∈ [0, T] in units of steps (:class:`DiscreteVPSDE`): its marginal
        at integer t is q(x_t | x_0) = N(√ᾱ_t x_0, (1-ᾱ_t) I) exactly, so every consumer of the
        :class:`scorelib.sde.SDE` interface (an exact-score oracle, the SDE samplers) serves DDPM too."""
        return DiscreteVPSDE(self)

    def sigma2(self, variance: Variance = "beta") -> Tensor:
        """The reverse-process variance σ_t² ``[T]``: β_t, or β̃_t (Ho et al. 2020, §3.2: "both had
        similar results"). β̃_1 = 0 is replaced by β̃_2 where a variance must be positive (t = 1 adds no
        noise in Algorithm 2 either way), as in the official code's clipped log-variance."""
        if variance == "beta":
            return self.betas
        if variance == "beta_tilde":
            v = self.posterior_variance.clone()
            v[0] = v[1] if self.T > 1 else self.betas[0]
            return v
        raise ConfigError(f"unknown variance {variance!r}; choose 'beta' or 'beta_tilde'")

    def at(self, values: Tensor, t: Tensor | int, like: Tensor) -> Tensor:
        """``values[t - 1]`` for integer steps ``t`` (``[n]`` or scalar), in ``like``'s dtype and device,
        shaped ``[n, 1, …]`` to broadcast against ``like [n, …]``.

        No host round trip per call: ``values`` is cast and moved to ``like``'s device once and kept
        (:meth:`on`), and ``t`` is gathered where it lies. The range 1..T is checked with a clear error for a
        Python int or a CPU tensor; on an accelerator it is asserted on the device (``torch._assert_async``:
        no host sync per training step; a bad step there stops at the next synchronisation instead)."""
        moved = self.on(values, like)
        if isinstance(t, int):
            if not 1 <= t <= self.T:
                raise ConfigError(f"steps must lie in 1..{self.T}, got {t}")
            return moved[t - 1]
        t = torch.as_tensor(t).long()
        in_range = ((t >= 1) & (t <= self.T)).all()
        if t.device.type == "cpu":
            if not bool(in_range):
                raise ConfigError(f"steps must lie in 1..{self.T}")
        else:
            torch._assert_async(in_range)
        v = moved[t.to(moved.device) - 1]
        return v.reshape(v.shape + (1,) * (like.dim() - v.dim())) if v.dim() else v

    def on(self, values: Tensor, like: Tensor) -> Tensor:
        """``values`` (one of this schedule's ``[T]`` tensors) in ``like``'s dtype and device, cast and moved
        once per (tensor, device, dtype) and kept: elementwise the same numbers as casting each gathered value."""
        cache: dict = self.__dict__.setdefault("_moved", {})  # frozen dataclass: a cache, not a field
        key = (id(values), like.device, like.dtype)
        hit = cache.get(key)
        if hit is None or hit[0] is not values:
            hit = cache[key] = (values, values.to(dtype=like.dtype, device=like.device))
        return hit[1]


class DiscreteVPSDE(VPTypeSDE):
    """A DDPM schedule as a VP SDE dx = -½β(t) x dt + √β(t) dW on t ∈ [0, T], time in units of steps.

    β(t) = -log α_i on (i-1, i] (piecewise constant), so B(t) = ∫_0^t β = -log ᾱ_i at every integer step
    i and the kernel N(e^{-B/2} x_0, (1 - e^{-B}) I) (Song et al. 2021, eq. 33) is DDPM's q(x_i | x_0) =
    N(√ᾱ_i x_0, (1-ᾱ_i) I) (Ho et al. 2020, eq. 4); the one-step transition from i-1 to i is
    N(√α_i x, β_i I), the forward step of the chain. At integer t the marginal is computed from ᾱ
    itself (bitwise the schedule's values); between steps log ᾱ is linear in t. For the linear schedule
    this is the discretisation that Song et al. (2021, §3.4) send to the continuous VP SDE with
    β(t/T) ≈ T β_t. Prior N(0, I) (ᾱ_T ≈ 0).
    """

    def __init__(self, schedule: DDPMSchedule) -> None:
        self.schedule = schedule
        self.T = float(schedule.T)
        self._rates = -torch.log(schedule.alphas)  # [T]: β(t) on (i-1, i]
        zero = torch.zeros(1, dtype=torch.float64)
        self._integrated = torch.cat([zero, torch.cumsum(self._rates, 0)])  # [T+1]: B at t = 0..T
        self._alpha_bars = torch.cat([torch.ones(1, dtype=torch.float64), schedule.alpha_bars])  # [T+1]: ᾱ_0 = 1

    def _time(self, t: Tensor | float) -> Tensor:
        t = torch.as_tensor(t).to(torch.float64)
        if bool(((t < 0) | (t > self.T)).any()):
            raise ConfigError(f"DiscreteVPSDE times lie in [0, {self.schedule.T}] (units of steps)")
        return t

    @staticmethod
    def _like(value: Tensor, t: Tensor | float) -> Tensor:
        """``value`` in ``t``'s floating dtype (float64 for integer steps and Python numbers)."""
        return value.to(t.dtype) if isinstance(t, Tensor) and t.is_floating_point() else value

    def beta(self, t: Tensor | float) -> Tensor:
        """β(t) = -log α_i for t ∈ (i-1, i] (β(0) = -log α_1)."""
        i = torch.ceil(self._time(t)).long().clamp(1, self.schedule.T)
        return self._like(self._rates[i - 1], t)

    def integrated_beta(self, t: Tensor | float) -> Tensor:
        """B(t) = ∫_0^t β = -Σ_{j≤i} log α_j + (t - i)(-log α_{i+1}), i = ⌊t⌋."""
        return self._like(self._b(self._time(t)), t)

    def _b(self, tt: Tensor) -> Tensor:
        i = torch.floor(tt).long().clamp(0, self.schedule.T - 1)
        return self._integrated[i] + (tt - i) * self._rates[i]

    def drift(self, x: Tensor, t: Tensor | float) -> Tensor:
        b = self.beta(t).to(dtype=x.dtype, device=x.device)
        return -0.5 * (b.reshape(b.shape + (1,) * (x.dim() - b.dim())) if b.dim() else b) * x

    def diffusion(self, t: Tensor | float) -> Tensor:
        return self.beta(t).sqrt()

    def marginal(self, t: Tensor | float) -> tuple[Tensor, Tensor]:
        """(√ᾱ_t, √(1-ᾱ_t)) at integer steps (from ᾱ itself), (e^{-B/2}, √(1-e^{-B})) between them."""
        tt = self._time(t)
        b = self._b(tt)
        m, s = torch.exp(-0.5 * b), (-torch.expm1(-b)).sqrt()
        step = tt == torch.round(tt)
        ab = self._alpha_bars[torch.round(tt).long()]
        m, s = torch.where(step, ab.sqrt(), m), torch.where(step, (1 - ab).sqrt(), s)
        return self._like(m, t), self._like(s, t)

