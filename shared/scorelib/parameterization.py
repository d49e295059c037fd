"""ε ↔ x₀ ↔ μ ↔ score: the conversions between what a diffusion network may predict, in one place.

Under the DDPM forward process (Ho et al. 2020), x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε with ε ~ N(0, I), so
any one of the following determines the others at a given (x_t, t):

- the noise ε;
- the clean sample x_0 = (x_t - √(1-ᾱ_t) ε)/√ᾱ_t  (eq. 4 solved for x_0; eq. 15);
- the reverse-process mean μ = (x_t - β_t/√(1-ᾱ_t) ε)/√α_t  (eq. 11), which is the posterior mean
  μ̃_t(x_t, x_0) of eq. 7 evaluated at that x_0;
- the score ∇log p_t(x_t) = -E[ε | x_t]/√(1-ᾱ_t)  (the denoising-score-matching target: ∇_{x_t} log
  q(x_t|x_0) = -ε/√(1-ᾱ_t); the talk's "score as a regression target").

Every function takes ``x_t [n, ...]``, the quantity to convert ``[n, ...]``, the schedule and the
integer steps ``t`` (``[n]`` or a scalar, 1..T), and returns ``[n, ...]``. Exact inverses of each other
(tests check the round trips). :func:`marginal_sample` is the forward map x_t(x_0, ε) itself.
:func:`as_eps_model` wraps a network that predicts μ or x₀ so that every sampler and likelihood can take
an ε-predictor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor, nn

from scorelib.errors import ConfigError
from scorelib.schedules import DDPMSchedule

Prediction = Literal["eps", "x0", "mean"]
PREDICTIONS: tuple[str, ...] = ("eps", "x0", "mean")


def _coefs(schedule: DDPMSchedule, t: Tensor | int, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(α_t, ᾱ_t, β_t) gathered and shaped to broadcast against ``x``."""
    return schedule.at(schedule.alphas, t, x), schedule.at(schedule.alpha_bars, t, x), schedule.at(schedule.betas, t, x)


def marginal_sample(x0: Tensor, eps: Tensor, schedule: DDPMSchedule, t: Tensor | int) -> Tensor:
    """x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε (Ho et al. 2020, eq. 4): the draw of q(x_t | x_0) for the given noise ε,
    the relation every conversion below inverts (the DDPM twin of :meth:`scorelib.sde.SDE.marginal_sample`)."""
    ab = schedule.at(schedule.alpha_bars, t, x0)
    return ab.sqrt() * x0 + (1 - ab).sqrt() * eps


def eps_to_x0(x_t: Tensor, eps: Tensor, schedule: DDPMSchedule, t: Tensor | int) -> Tensor:
    """x̂_0 = (x_t - √(1-ᾱ_t) ε)/√ᾱ_t (Ho et al. 2020, eq. 4 and 15)."""
    _, ab, _ = _coefs(schedule, t, x_t)
    return (x_t - (1 - ab).sqrt() * eps) / ab.sqrt()


def x0_to_eps(x_t: Tensor, x0: Tensor, schedule: DDPMSchedule, t: Tensor | int) -> Tensor:
    """ε = (x_t - √ᾱ_t x_0)/√(1-ᾱ_t) (eq. 4)."""
    _, ab, _ = _coefs(schedule, t, x_t)
    return (x_t - ab.sqrt() * x0) / (1 - ab).sqrt()


def eps_to_mean(x_t: Tensor, eps: Tensor, schedule: DDPMSchedule, t: Tensor | int) -> Tensor:
    """μ_θ(x_t, t) = (x_t - β_t/√(1-ᾱ_t) ε)/√α_t (eq. 11)."""
    a, ab, b = _coefs(schedule, t, x_t)
    return (x_t - b / (1 - ab).sqrt() * eps) / a.sqrt()


def mean_to_eps(x_t: Tensor, mean: Tensor, schedule: DDPMSchedule, t: Tensor | int) -> Tensor:
    """ε = (x_t - √α_t μ)·√(1-ᾱ_t)/β_t: eq. 11 solved for ε."""
    a, ab, b = _coefs(schedule, t, x_t)
    return (x_t - a.sqrt() * mean) * (1 - ab).sqrt() / b


def posterior_mean(x_t: Tensor, x0: Tensor, schedule: DDPMSchedule, t: Tensor | int) -> Tensor:
    """μ̃_t(x_t, x_0) = √ᾱ_{t-1}β_t/(1-ᾱ_t)·x_0 + √α_t(1-ᾱ_{t-1})/(1-ᾱ_t)·x_t (eq. 7): x₀ → μ."""
    return schedule.at(schedule.posterior_coef_x0, t, x_t) * x0 + schedule.at(schedule.posterior_coef_xt, t, x_t) * x_t


def eps_to_score(eps: Tensor, schedule: DDPMSchedule, t: Tensor | int) -> Tensor:
    """∇log p_t(x_t) = -ε/√(1-ᾱ_t) (exact for the conditional expectation E[ε | x_t])."""
    ab = schedule.at(schedule.alpha_bars, t, eps)
    return -eps / (1 - ab).sqrt()


def score_to_eps(score: Tensor, schedule: DDPMSchedule, t: Tensor | int) -> Tensor:
    """ε = -√(1-ᾱ_t)·∇log p_t(x_t)."""
    ab = schedule.at(schedule.alpha_bars, t, score)
    return -(1 - ab).sqrt() * score


def to_eps(prediction: Prediction, x_t: Tensor, output: Tensor, schedule: DDPMSchedule, t: Tensor | int) -> Tensor:
    """A network's ``output`` under ``prediction`` ("eps", "x0" or "mean") converted to ε."""
    if prediction == "eps":
        return output
    if prediction == "x0":
        return x0_to_eps(x_t, output, schedule, t)
    if prediction == "mean":
        return mean_to_eps(x_t, output, schedule, t)
    raise ConfigError(f"unknown prediction {prediction!r}; choose one of {', '.join(PREDICTIONS)}")


def as_eps_model(model: nn.Module | Callable[[Tensor, Tensor], Tensor], prediction: Prediction,
                 schedule: DDPMSchedule) -> Callable[[Tensor, Tensor], Tensor]:
    """``eps_fn(x_t, t)`` from a network ``model(x_t, t)`` that predicts ε, x₀ or μ. ``t`` holds the
    integer steps 1..T (``[n]`` or 0-d), passed to the network as floats."""
    if prediction not in PREDICTIONS:
        raise ConfigError(f"unknown prediction {prediction!r}; choose one of {', '.join(PREDICTIONS)}")

    def eps_fn(x_t: Tensor, t: Tensor) -> Tensor:
        t = torch.as_tensor(t, device=x_t.device)
        return to_eps(prediction, x_t, model(x_t, t.to(x_t.dtype)), schedule, t)

    return eps_fn
