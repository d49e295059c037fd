"""Samplers of the book, one signature for all::

    sampler(model, x_init, *, generator, return_trajectory=False, **settings)

The first argument is named for what it returns:

- ``score_fn`` — a score ∇_x log p, for :func:`langevin` (``score_fn(x)``), :func:`annealed_langevin`
  (``score_fn(x, σ)``, one score per noise level) and the reverse-SDE samplers of Song et al. (2021)
  (``score_fn(x, t)``: :func:`euler_maruyama`, :func:`reverse_diffusion`, :func:`ancestral`,
  :func:`predictor_corrector`, :func:`probability_flow_ode`);
- ``eps_model`` — a noise prediction ε(x_t, t) at the integer DDPM step t, for :func:`ddpm_ancestral` and
  :func:`repaint`, as in Ho et al. (2020) (a score s becomes ε = -√(1-ᾱ_t)·s,
  :func:`scorelib.parameterization.score_to_eps`; a μ- or x₀-network is wrapped by
  :func:`scorelib.parameterization.as_eps_model`).

``x_init`` is ``[n, ...]`` (points ``[n, D]`` or images ``[n, C, H, W]``); the result has its shape
and device. With ``return_trajectory=True`` the result is ``(x, trajectory)``, ``trajectory`` of
shape ``[K + 1, n, ...]``: ``x_init`` then every ``record_every``-th state. Noise is drawn from
``generator`` (on its own device, then moved to the data's), so a seeded CPU generator gives the same
chain on every machine. The model is called under ``torch.no_grad()``.

Each chain is written once, as a generator of its states (``*_steps``, for plotting a chain without
storing it); the eager sampler runs it to the end with :func:`run_steps`. The three predictor-only
samplers are :func:`predictor_corrector` without a corrector. Samplers are registered by name in
:data:`SAMPLERS` (:func:`get_sampler`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

import torch
from torch import Tensor

from scorelib.errors import ConfigError
from scorelib.losses import ScoreFn  # score_fn(x) of Langevin dynamics
from scorelib.runtime import standard_normal
from scorelib.schedules import DDPMSchedule
from scorelib.sde import SDE, TimeScoreFn  # score_fn(x, t) of the reverse-SDE samplers

#: ``score_fn(x [n, ...], σ 0-d) -> [n, ...]``: the score of the level-σ density (:func:`annealed_langevin`).
NoiseConditionalScoreFn = Callable[[Tensor, Tensor], Tensor]
#: ``eps_model(x_t [n, ...], t 0-d integer) -> [n, ...]``: the noise ε in x_t (the DDPM samplers).
EpsModel = Callable[[Tensor, Tensor], Tensor]
SamplerResult = Tensor | tuple[Tensor, Tensor]


class Sampler(Protocol):
    """The common signature of every entry of :data:`SAMPLERS`."""

    def __call__(self, model: Callable[..., Tensor], x_init: Tensor, /, *, generator: torch.Generator,
                 return_trajectory: bool = False, **settings: Any) -> SamplerResult: ...



def run_steps(states: Iterator[Tensor], x_init: Tensor, *, return_trajectory: bool = False,
              record_every: int = 1) -> SamplerResult:
    """Run a chain of states (a ``*_steps`` generator started at ``x_init``) to its end: the final state, or
    with ``return_trajectory`` ``(final, trajectory [K + 1, n, ...])`` holding ``x_init`` and every
    ``record_every``-th state. Every eager sampler is its ``*_steps`` generator run through this."""
    if not isinstance(record_every, int) or isinstance(record_every, bool) or record_every < 1:
        raise ConfigError(f"record_every must be a positive int, got {record_every!r}")
    x = x_init
    path = [x_init.clone()] if return_trajectory else None
    for k, x in enumerate(states, start=1):
        if path is not None and k % record_every == 0:
            path.append(x.clone())
    if path is None:
        return x
    return x, torch.stack(path)


# --------------------------------------------------------------------------------------------
# Song & Ermon (2019): Langevin dynamics with a score ``score_fn``
# --------------------------------------------------------------------------------------------


def langevin_steps(score_fn: ScoreFn, x_init: Tensor, *, generator: torch.Generator, step_size: float,
                   n_steps: int) -> Iterator[Tensor]:
    """Yield the states x_1 … x_K of :func:`langevin` (each a new tensor ``[n, ...]``)."""
    if not step_size > 0:
        raise ConfigError(f"step_size must be positive, got {step_size}")
    x = x_init
    noise_scale = math.sqrt(step_size)
    with torch.no_grad():
        for _ in range(n_steps):
            x = x + 0.5 * step_size * score_fn(x) + noise_scale * standard_normal(x.shape, generator, like=x)
            yield x


def langevin(score_fn: ScoreFn, x_init: Tensor, *, generator: torch.Generator, return_trajectory: bool = False,
             step_size: float = 0.1, n_steps: int = 1000, record_every: int = 1) -> SamplerResult:
    """Implements Langevin dynamics as in Song & Ermon (2019), eq. (4): x ← x + ε/2·∇log p(x) + √ε z.

    The Euler–Maruyama discretisation of dx = ∇log p(x) dt + √2 dW with dt = ε/2. ``score_fn(x)``
    ``[n, ...] -> [n, ...]`` is the score of the target.
    """
    states = langevin_steps(score_fn, x_init, generator=generator, step_size=step_size, n_steps=n_steps)
    return run_steps(states, x_init, return_trajectory=return_trajectory, record_every=record_every)


def annealed_langevin_steps(score_fn: NoiseConditionalScoreFn, x_init: Tensor, *, generator: torch.Generator,
                            sigmas: Sequence[float] | Tensor, step_size: float, n_steps_each: int) -> Iterator[Tensor]:
    """Yield the L·T states of :func:`annealed_langevin`."""
    sigmas = torch.as_tensor(sigmas, dtype=torch.float64)
    if sigmas.dim() != 1 or len(sigmas) < 1 or not bool((sigmas > 0).all()):
        raise ConfigError("sigmas must be a non-empty 1-D sequence of positive noise levels")
    if not step_size > 0:
        raise ConfigError(f"step_size must be positive, got {step_size}")
    sigma_last = float(sigmas[-1])
    x = x_init
    with torch.no_grad():
        for sigma in sigmas.tolist():
            alpha = step_size * sigma**2 / sigma_last**2  # α_i = ε σ_i²/σ_L² (Algorithm 1, line 3)
            level = torch.tensor(sigma, dtype=x.dtype, device=x.device)
            for _ in range(n_steps_each):
                x = x + 0.5 * alpha * score_fn(x, level) + math.sqrt(alpha) * standard_normal(x.shape, generator, like=x)
                yield x


def annealed_langevin(score_fn: NoiseConditionalScoreFn, x_init: Tensor, *, generator: torch.Generator,
                      return_trajectory: bool = False, sigmas: Sequence[float] | Tensor = (1.0,),
                      step_size: float = 2e-5, n_steps_each: int = 100, record_every: int = 1) -> SamplerResult:
    """Implements Algorithm 1 (annealed Langevin dynamics) from Song & Ermon (2019).

    For σ_1 > … > σ_L: α_i = ε σ_i²/σ_L², then T steps x ← x + α_i/2·s(x, σ_i) + √α_i z.
    ``score_fn(x, sigma)`` gets ``x [n, ...]`` and ``sigma`` as a 0-d tensor (dtype and device of x),
    and returns the score of the level-σ density ``[n, ...]``. No final denoising step (the 2019
    algorithm has none).
    """
    states = annealed_langevin_steps(score_fn, x_init, generator=generator, sigmas=sigmas, step_size=step_size,
                                     n_steps_each=n_steps_each)
    return run_steps(states, x_init, return_trajectory=return_trajectory, record_every=record_every)


# --------------------------------------------------------------------------------------------
# Ho et al. (2020) and Lugmayr et al. (2022): discrete-time samplers with a noise model ``eps_model``
# --------------------------------------------------------------------------------------------


class _AncestralCoefficients:
    """The per-step numbers of Algorithm 2 gathered once for a chain (not three schedule look-ups per step): the
    step t as the 0-d integer tensor the model gets, β_t/√(1-ᾱ_t) and √α_t in the state's dtype and device, and
    σ_t as a Python float. Each is computed by the same elementwise operations, in the same dtype, as
    :func:`scorelib.parameterization.eps_to_mean` computes it for one step, so the chain is bitwise the same."""

    def __init__(self, schedule: DDPMSchedule, sigmas: Tensor, like: Tensor) -> None:
        self.steps = torch.arange(schedule.T + 1, device=like.device)  # steps[t]: t as a 0-d tensor
        self.eps_coef = schedule.on(schedule.betas, like) / (1 - schedule.on(schedule.alpha_bars, like)).sqrt()
        self.sqrt_alpha = schedule.on(schedule.alphas, like).sqrt()
        self.sigma = sigmas.tolist()


def _ancestral_step(eps_model: EpsModel, x: Tensor, t: int, coefs: _AncestralCoefficients,
                    generator: torch.Generator) -> Tensor:
    """x_{t-1} = (x_t - β_t/√(1-ᾱ_t)·ε_θ(x_t, t))/√α_t + σ_t z, with z = 0 at t = 1 (Ho et al. 2020,
    Algorithm 2, lines 3-4; μ_θ as :func:`scorelib.parameterization.eps_to_mean`)."""
    eps = eps_model(x, coefs.steps[t])
    x_prev = (x - coefs.eps_coef[t - 1] * eps) / coefs.sqrt_alpha[t - 1]
    if t > 1:
        x_prev = x_prev + coefs.sigma[t - 1] * standard_normal(x.shape, generator, like=x)
    return x_prev


def ddpm_ancestral_steps(eps_model: EpsModel, x_init: Tensor, *, generator: torch.Generator,
                         schedule: DDPMSchedule, variance: str = "beta") -> Iterator[Tensor]:
    """Yield the T states x_{T-1} … x_0 of :func:`ddpm_ancestral`."""
    coefs = _AncestralCoefficients(schedule, schedule.sigma2(variance).sqrt(), x_init)
    x = x_init
    with torch.no_grad():
        for t in range(schedule.T, 0, -1):
            x = _ancestral_step(eps_model, x, t, coefs, generator)
            yield x


def ddpm_ancestral(eps_model: EpsModel, x_init: Tensor, *, generator: torch.Generator,
                   return_trajectory: bool = False, schedule: DDPMSchedule | None = None, variance: str = "beta",
                   record_every: int = 1) -> SamplerResult:
    """Implements Algorithm 2 (ancestral sampling) from Ho et al. (2020).

    For t = T … 1: x_{t-1} = (x_t - β_t/√(1-ᾱ_t)·ε_θ(x_t, t))/√α_t + σ_t z, z ~ N(0, I) for t > 1 and
    z = 0 at t = 1; σ_t² = β_t (``variance="beta"``) or β̃_t (``"beta_tilde"``). ``eps_model(x, t)`` gets
    ``x [n, ...]`` and the integer step t as a 0-d tensor, and predicts the noise ε (wrap a network that
    predicts μ or x₀ with :func:`scorelib.parameterization.as_eps_model`; a score s becomes
    ε = -√(1-ᾱ_t)·s). ``schedule`` is a :class:`~scorelib.schedules.DDPMSchedule`; ``x_init`` ~ N(0, I).
    """
    if schedule is None:
        raise ConfigError("ddpm_ancestral needs schedule=DDPMSchedule(...)")
    states = ddpm_ancestral_steps(eps_model, x_init, generator=generator, schedule=schedule, variance=variance)
    return run_steps(states, x_init, return_trajectory=return_trajectory, record_every=record_every)


def repaint_steps(eps_model: EpsModel, x_init: Tensor, *, generator: torch.Generator, schedule: DDPMSchedule,
                  known: Tensor, mask: Tensor, resample: int = 10, variance: str = "beta",
                  renoise_beta: str = "t") -> Iterator[Tensor]:
    """Yield the T states x_{T-1} … x_0 of :func:`repaint` (each after its last resampling round)."""
    if not isinstance(resample, int) or isinstance(resample, bool) or resample < 1:
        raise ConfigError(f"resample (U) must be a positive int, got {resample!r}")
    if renoise_beta not in ("t", "t-1"):
        raise ConfigError(f"renoise_beta must be 't' or 't-1', got {renoise_beta!r}")
    mask = torch.as_tensor(mask, device=x_init.device).bool().expand_as(x_init)
    known = torch.as_tensor(known, dtype=x_init.dtype, device=x_init.device).expand_as(x_init)
    coefs = _AncestralCoefficients(schedule, schedule.sigma2(variance).sqrt(), x_init)
    sqrt_ab = schedule.alpha_bars.sqrt().tolist()
    sqrt_1m_ab = (1 - schedule.alpha_bars).sqrt().tolist()
    betas = schedule.betas.tolist()
    x = x_init
    with torch.no_grad():
        for t in range(schedule.T, 0, -1):
            rounds = resample if t > 1 else 1  # at t = 1 nothing is re-noised: more rounds repeat one step
            for u in range(1, rounds + 1):
                # Algorithm 1, lines 5-6: the known coordinates noised to level t-1 (exact at t = 1: ᾱ_0 = 1)
                if t > 1:
                    x_known = sqrt_ab[t - 2] * known + sqrt_1m_ab[t - 2] * standard_normal(x.shape, generator, like=x)
                else:
                    x_known = known
                x_unknown = _ancestral_step(eps_model, x, t, coefs, generator)  # lines 7-8
                x_prev = torch.where(mask, x_known, x_unknown)  # line 9
                if u < rounds:  # line 10: jump back one step, x_t ~ N(√(1-β) x_{t-1}, β I)
                    beta = betas[t - 1] if renoise_beta == "t" else betas[t - 2]
                    x = math.sqrt(1 - beta) * x_prev + math.sqrt(beta) * standard_normal(x.shape, generator, like=x)
            x = x_prev
            yield x


def repaint(eps_model: EpsModel, x_init: Tensor, *, generator: torch.Generator, return_trajectory: bool = False,
            schedule: DDPMSchedule | None = None, known: Tensor | None = None, mask: Tensor | None = None,
            resample: int = 10, variance: str = "beta", renoise_beta: str = "t",
            record_every: int = 1) -> SamplerResult:
    """Implements Algorithm 1 (RePaint) of Lugmayr et al. (2022): conditional sampling with an unconditional
    DDPM ε-model, jump length 1.

    For t = T … 1, U = ``resample`` rounds of: noise the known values to level t-1,
    x^known_{t-1} = √ᾱ_{t-1} x_0 + √(1-ᾱ_{t-1}) ε; one ancestral step of the whole vector,
    x^unknown_{t-1} = (x_t - β_t/√(1-ᾱ_t) ε_θ(x_t, t))/√α_t + σ_t z (z = 0 at t = 1); replace,
    x_{t-1} = m ⊙ x^known + (1 - m) ⊙ x^unknown; and, except after the last round, jump back one step,
    x_t ~ N(√(1-β) x_{t-1}, β I). U = 1 is naive replacement. t = 1 is done once (nothing is re-noised there).

    **The β_{t-1} indexing.** Line 10 of Algorithm 1 writes the jump back as N(√(1-β_{t-1}) x_{t-1},
    β_{t-1} I). The forward kernel that takes x_{t-1} to x_t is q(x_t | x_{t-1}) = N(√(1-β_t) x_{t-1}, β_t I)
    (Ho et al. 2020, eq. 2), so by default (``renoise_beta="t"``) the jump uses β_t, with β_t at index t-1 of
    ``schedule.betas`` (index i holds step i+1): the re-noised state then has exactly the level-t marginal
    the network was trained on. ``renoise_beta="t-1"`` is the literal reading (β_{t-1}, index t-2), kept for
    the comparison in the NDP chapter; with small β's the two differ little.

    ``eps_model(x, t)`` as in :func:`ddpm_ancestral` (x ``[n, ...]``, t a 0-d integer tensor); for an NDP wrap
    the network so that the inputs x and the point mask are closed over and x here is the function values
    ``[batch, points]``. ``known [n, ...]`` (broadcastable) holds the observed values where ``mask`` (bool,
    broadcastable, True = known) is set; other entries of ``known`` are ignored. ``x_init`` ~ N(0, I). The
    result keeps ``known`` exactly at the masked coordinates.
    """
    if schedule is None:
        raise ConfigError("repaint needs schedule=DDPMSchedule(...)")
    if known is None or mask is None:
        raise ConfigError("repaint needs known=values and mask=bool tensor (True where a value is known)")
    states = repaint_steps(eps_model, x_init, generator=generator, schedule=schedule, known=known, mask=mask,
                           resample=resample, variance=variance, renoise_beta=renoise_beta)
    return run_steps(states, x_init, return_trajectory=return_trajectory, record_every=record_every)


# --------------------------------------------------------------------------------------------
# Song et al. (2021): samplers of the reverse-time SDE and of the probability-flow ODE.
# ``score_fn(x, t)`` gets ``x [n, ...]`` and t as a 0-d tensor (dtype and device of x) and returns
# ∇_x log p_t(x); ``sde`` is a :class:`scorelib.sde.SDE`; ``x_init`` ~ its prior (``sde.prior_sample``).
# Time runs on the grid T = t_0 > t_1 > … > t_N = t_min, one predictor step per interval.
# A predictor or corrector is ``step(sde, score_fn, x, t, s, generator[, snr]) -> (x_s, mean of x_s)``.
# --------------------------------------------------------------------------------------------


def _predict_euler_maruyama(sde: SDE, score_fn: TimeScoreFn, x: Tensor, t: Tensor, s: Tensor,
                            generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """x_s = x_t - f̄(x_t, t)·(t - s) + g(t)√(t - s) z, f̄ = f - g²s_θ (Song et al. 2021, eq. 6)."""
    reverse = sde.reverse(score_fn)
    x_mean = x + reverse.drift(x, t) * (s - t)
    return x_mean + reverse.diffusion(t) * torch.sqrt(t - s) * standard_normal(x.shape, generator, like=x), x_mean


def _predict_reverse_diffusion(sde: SDE, score_fn: TimeScoreFn, x: Tensor, t: Tensor, s: Tensor,
                               generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Song et al. (2021), eq. (46): with the forward step x_t = x_s + F(x_s) + G z (``sde.discretize``),
    x_s = x_t - F(x_t) + G² s_θ(x_t, t) + G z. For VP, F = (√(1-β_i) - 1)x: x_s = (2 - √(1-β_i)) x_t + β_i s_θ + √β_i z,
    the talk's Taylor-approximated reverse kernel."""
    f, g = sde.discretize(x, t, s)
    x_mean = x - f + g**2 * score_fn(x, t)
    return x_mean + g * standard_normal(x.shape, generator, like=x), x_mean


def _predict_ancestral(sde: SDE, score_fn: TimeScoreFn, x: Tensor, t: Tensor, s: Tensor,
                       generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Ancestral sampling: x_s ~ q(x_s | x_t, x̂_0) with Tweedie's x̂_0 = (x_t + s(t)²·s_θ)/m(t) (Song et al.
    2021, App. F; Ho et al. 2020, eq. 7). For VE it is their eq. (47): x_s = x_t + (σ_t² - σ_s²)s_θ +
    √(σ_s²(σ_t² - σ_s²)/σ_t²) z; for VP the DDPM posterior N(μ̃, β̃)."""
    m_t, std_t = sde.marginal(t)
    m_s, std_s = sde.marginal(s)
    a, var_ts = sde.transition(t, s)
    x0_hat = (x + std_t**2 * score_fn(x, t)) / m_t
    x_mean = (var_ts * m_s * x0_hat + a * std_s**2 * x) / std_t**2
    return x_mean + torch.sqrt(std_s**2 * var_ts / std_t**2) * standard_normal(x.shape, generator, like=x), x_mean


def _correct_langevin(sde: SDE, score_fn: TimeScoreFn, x: Tensor, t: Tensor, s: Tensor,
                      generator: torch.Generator, snr: float) -> tuple[Tensor, Tensor]:
    """One step of Song et al. (2021), Algorithm 4 (VE) / 5 (VP): ε = 2α(r‖z‖/‖s_θ‖)², x ← x + εs_θ + √(2ε) z,
    with the norms averaged over the batch and α = 1 - β_i for VP-type SDEs (1 otherwise)."""
    grad = score_fn(x, t)
    z = standard_normal(x.shape, generator, like=x)
    grad_norm = grad.flatten(1).norm(dim=-1).mean()
    noise_norm = z.flatten(1).norm(dim=-1).mean()
    alpha = sde.langevin_alpha(t, s).to(dtype=x.dtype, device=x.device)
    eps = 2 * alpha * (snr * noise_norm / grad_norm) ** 2
    x_mean = x + eps * grad
    return x_mean + torch.sqrt(2 * eps) * z, x_mean


PREDICTORS = {
    "euler_maruyama": _predict_euler_maruyama,
    "reverse_diffusion": _predict_reverse_diffusion,
    "ancestral": _predict_ancestral,
}
CORRECTORS = {"langevin": _correct_langevin}


def sde_time_grid(T: float, t_min: float, n_steps: int) -> Tensor:
    """T = t_0 > t_1 > … > t_N = t_min, evenly spaced: ``[n_steps + 1]`` (float64)."""
    if not isinstance(n_steps, int) or isinstance(n_steps, bool) or n_steps < 1:
        raise ConfigError(f"n_steps must be a positive int, got {n_steps!r}")
    if not 0 <= t_min < T:
        raise ConfigError(f"need 0 <= t_min < T, got t_min={t_min}, T={T}")
    return torch.linspace(T, t_min, n_steps + 1, dtype=torch.float64)


def _require_sde(sde: SDE | None, sampler: str) -> SDE:
    if sde is None:
        raise ConfigError(f"{sampler} needs sde=VPSDE(...) (or another scorelib.sde.SDE)")
    return sde


def predictor_corrector_steps(score_fn: TimeScoreFn, x_init: Tensor, *, generator: torch.Generator,
                              sde: SDE | None, predictor: str | None = "reverse_diffusion",
                              corrector: str | None = "langevin", n_steps: int = 1000, t_min: float = 1e-3,
                              snr: float = 0.16, n_corrector_steps: int = 1, denoise: bool = True) -> Iterator[Tensor]:
    """Yield the N states of :func:`predictor_corrector` (the last one noise-free when ``denoise``)."""
    sde = _require_sde(sde, "predictor_corrector")
    if predictor is not None and predictor not in PREDICTORS:
        raise ConfigError(f"unknown predictor {predictor!r}; choose one of {', '.join(PREDICTORS)} or None")
    if corrector is not None and corrector not in CORRECTORS:
        raise ConfigError(f"unknown corrector {corrector!r}; choose one of {', '.join(CORRECTORS)} or None")
    if predictor is None and corrector is None:
        raise ConfigError("a predictor, a corrector or both")
    if corrector is not None and not snr > 0:
        raise ConfigError(f"snr must be positive, got {snr}")
    grid = sde_time_grid(sde.T, t_min, n_steps).to(dtype=x_init.dtype, device=x_init.device)
    predict = PREDICTORS[predictor] if predictor is not None else None
    correct = CORRECTORS[corrector] if corrector is not None else None
    x = x_init
    with torch.no_grad():
        for k in range(n_steps):
            t, s = grid[k], grid[k + 1]
            x_mean = x
            if correct is not None:
                for _ in range(n_corrector_steps):
                    x, x_mean = correct(sde, score_fn, x, t, s, generator, snr)
            if predict is not None:
                x, x_mean = predict(sde, score_fn, x, t, s, generator)
            yield x_mean if (denoise and k == n_steps - 1) else x


def predictor_corrector(score_fn: TimeScoreFn, x_init: Tensor, *, generator: torch.Generator,
                        return_trajectory: bool = False, sde: SDE | None = None,
                        predictor: str | None = "reverse_diffusion", corrector: str | None = "langevin",
                        n_steps: int = 1000, t_min: float = 1e-3, snr: float = 0.16, n_corrector_steps: int = 1,
                        denoise: bool = True, record_every: int = 1) -> SamplerResult:
    """Implements Algorithm 1 (predictor-corrector sampling) from Song et al. (2021).

    At each t_i: ``n_corrector_steps`` Langevin corrector steps at signal-to-noise ratio ``snr``, then one
    predictor step (``"euler_maruyama"``, ``"reverse_diffusion"`` or ``"ancestral"``) to t_{i+1}; either may be
    None. With ``denoise`` the last step returns its mean (no noise at t_min), as their code does.
    """
    states = predictor_corrector_steps(score_fn, x_init, generator=generator, sde=sde, predictor=predictor,
                                       corrector=corrector, n_steps=n_steps, t_min=t_min, snr=snr,
                                       n_corrector_steps=n_corrector_steps, denoise=denoise)
    return run_steps(states, x_init, return_trajectory=return_trajectory, record_every=record_every)


def _predictor_only(predictor: str, doc: str) -> Sampler:
    """The sampler :func:`predictor_corrector` with ``predictor`` and no corrector."""

    def sampler(score_fn: TimeScoreFn, x_init: Tensor, *, generator: torch.Generator, return_trajectory: bool = False,
                sde: SDE | None = None, n_steps: int = 1000, t_min: float = 1e-3, denoise: bool = True,
                record_every: int = 1) -> SamplerResult:
        states = predictor_corrector_steps(score_fn, x_init, generator=generator, sde=_require_sde(sde, predictor),
                                           predictor=predictor, corrector=None, n_steps=n_steps, t_min=t_min,
                                           denoise=denoise)
        return run_steps(states, x_init, return_trajectory=return_trajectory, record_every=record_every)

    sampler.__name__ = sampler.__qualname__ = predictor
    sampler.__doc__ = doc + "\n\n    :func:`predictor_corrector` with this predictor and no corrector."
    return sampler


euler_maruyama = _predictor_only(
    "euler_maruyama",
    "Implements the Euler–Maruyama discretisation of the reverse-time SDE, eq. (6) of Song et al. (2021).")
reverse_diffusion = _predictor_only(
    "reverse_diffusion", "Implements the reverse-diffusion predictor, eq. (46) of Song et al. (2021), on its own.")
ancestral = _predictor_only(
    "ancestral", "Implements ancestral sampling for any linear SDE (Song et al. 2021, App. F; Ho et al. 2020, Alg. 2).")


def probability_flow_ode(score_fn: TimeScoreFn, x_init: Tensor, *, generator: torch.Generator | None = None,
                         return_trajectory: bool = False, sde: SDE | None = None, t_min: float = 1e-3,
                         rtol: float = 1e-5, atol: float = 1e-5, method: str = "dopri5",
                         n_record: int = 11) -> SamplerResult:
    """Implements the probability-flow ODE dx/dt = f - ½g²s_θ, eq. (13) of Song et al. (2021), solved from T to
    t_min with torchdiffeq (``method``, ``rtol``, ``atol``; their defaults RK45 at 1e-5).

    Deterministic: ``generator`` is accepted for the common signature and unused (draw ``x_init`` with it).
    With ``return_trajectory`` the states at ``n_record`` evenly spaced times, T first, are returned too.
    """
    from torchdiffeq import odeint

    sde = _require_sde(sde, "probability_flow_ode")
    flow = sde.reverse(score_fn, probability_flow=True)
    n_points = n_record if return_trajectory else 2
    times = sde_time_grid(sde.T, t_min, n_points - 1).to(dtype=x_init.dtype, device=x_init.device)
    with torch.no_grad():
        # the solver's first trial step may overshoot t_min (its initial step-size heuristic): clamp there
        path = odeint(lambda t, x: flow.drift(x, t.clamp(t_min, sde.T)), x_init, times, rtol=rtol, atol=atol,
                      method=method)
    return (path[-1], path) if return_trajectory else path[-1]


#: Samplers by name: a chapter compares samplers with one loop over this dict.
SAMPLERS: dict[str, Sampler] = {
    "langevin": langevin,
    "annealed_langevin": annealed_langevin,
    "ddpm_ancestral": ddpm_ancestral,
    "repaint": repaint,
    "euler_maruyama": euler_maruyama,
    "reverse_diffusion": reverse_diffusion,
    "ancestral": ancestral,
    "predictor_corrector": predictor_corrector,
    "probability_flow_ode": probability_flow_ode,
}


def get_sampler(name: str) -> Sampler:
    """The sampler registered as ``name``; a :class:`ConfigError` lists the known ones otherwise."""
    if name not in SAMPLERS:
        raise ConfigError(f"unknown sampler {name!r}; choose one of {', '.join(sorted(SAMPLERS))}")
    return SAMPLERS[name]
