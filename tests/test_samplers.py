"""Langevin samplers against closed forms.

For p = N(m, v) the Langevin chain x ← x + (ε/2)·(-(x-m)/v) + √ε z is AR(1) with coefficient
1 - ε/(2v): its stationary law is N(m, v/(1 - ε/(4v))) exactly, so the sampler is checked against that
number (and would fail with the noise √(2ε) or without the ½). Monte Carlo comparisons use 4 standard
errors (seeds fixed).
"""

from __future__ import annotations

import math

import pytest
import torch

from scorelib.errors import ConfigError
from scorelib.samplers import SAMPLERS, annealed_langevin, get_sampler, langevin, langevin_steps, run_steps

DT = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _within_4_se_of_variance(x: torch.Tensor, expected: float) -> bool:
    var = float(x.var())
    se = var * math.sqrt(2 / (x.numel() - 1))
    return abs(var - expected) <= 4 * se


@pytest.mark.parametrize(("v", "eps"), [(1.0, 0.5), (4.0, 0.4), (0.25, 0.02)])
def test_langevin_reaches_the_discretised_stationary_variance(v, eps):
    m, n = 2.0, 20_000
    steps = int(12 * v / eps)  # the AR(1) forgets its start as (1 - ε/2v)^k
    x = langevin(lambda x: -(x - m) / v, torch.full((n, 1), -3.0, dtype=DT), generator=_gen(0), step_size=eps,
                 n_steps=steps)
    expected = v / (1 - eps / (4 * v))
    assert _within_4_se_of_variance(x, expected)
    assert abs(float(x.mean()) - m) <= 4 * math.sqrt(expected / n)
    # and the bias is real at large steps: the chain's variance is not v
    if eps / v >= 0.5:
        assert not _within_4_se_of_variance(x, v)


def test_langevin_in_two_dimensions_reaches_the_discretised_covariance():
    """x' = (I - εP/2)x + √ε z has the stationary covariance (P(I - εP/4))⁻¹, P the precision."""
    cov = torch.tensor([[1.0, 0.6], [0.6, 2.0]], dtype=DT)
    prec = torch.linalg.inv(cov)
    eps = 0.2
    x = langevin(lambda x: -x @ prec, torch.zeros(10_000, 2, dtype=DT), generator=_gen(1), step_size=eps,
                 n_steps=150)
    expected = torch.linalg.inv(prec @ (torch.eye(2, dtype=DT) - eps * prec / 4))
    assert torch.allclose(torch.cov(x.T), expected, atol=0.08)


def test_trajectory_shape_and_endpoints():
    x0 = torch.randn(7, 3, generator=_gen(2), dtype=DT)
    x, path = langevin(lambda x: -x, x0, generator=_gen(3), step_size=0.1, n_steps=20, return_trajectory=True,
                       record_every=5)
    assert path.shape == (5, 7, 3)
    assert torch.equal(path[0], x0) and torch.equal(path[-1], x)
    again = langevin(lambda x: -x, x0, generator=_gen(3), step_size=0.1, n_steps=20)
    assert torch.equal(again, x)  # the same generator seed gives the same chain


def test_steps_generator_yields_every_state():
    states = list(langevin_steps(lambda x: -x, torch.zeros(4, 2), generator=_gen(0), step_size=0.1, n_steps=6))
    assert len(states) == 6 and all(s.shape == (4, 2) for s in states)


def test_annealed_with_one_level_is_langevin():
    x0 = torch.randn(50, 2, generator=_gen(4), dtype=DT)
    a = annealed_langevin(lambda x, s: -x, x0, generator=_gen(5), sigmas=[0.7], step_size=0.05, n_steps_each=30)
    b = langevin(lambda x: -x, x0, generator=_gen(5), step_size=0.05, n_steps=30)
    assert torch.equal(a, b)


def test_annealed_step_sizes_follow_algorithm_1():
    """With a zero score the chain is a random walk: Var = T Σ_i α_i, α_i = ε σ_i²/σ_L²."""
    sigmas, eps, steps = [4.0, 2.0, 1.0, 0.5], 0.01, 25
    seen = []

    def zero_score(x, sigma):
        seen.append(float(sigma))
        assert sigma.dim() == 0 and sigma.dtype == x.dtype
        return torch.zeros_like(x)

    x = annealed_langevin(zero_score, torch.zeros(20_000, 1, dtype=DT), generator=_gen(6), sigmas=sigmas,
                          step_size=eps, n_steps_each=steps)
    assert seen == [s for s in sigmas for _ in range(steps)]
    expected = steps * sum(eps * s**2 / sigmas[-1] ** 2 for s in sigmas)
    assert _within_4_se_of_variance(x, expected)
    assert not _within_4_se_of_variance(x, steps * len(sigmas) * eps)  # a constant step would be caught


def test_annealed_langevin_with_exact_perturbed_scores_ends_at_the_last_level():
    """N(0, 1) data: level σ has score -x/(1+σ²); the chain ends at variance (1+σ_L²)/(1 - ε/(4(1+σ_L²)))."""
    sigmas, eps = [3.0, 1.5, 0.5], 0.05
    x = annealed_langevin(lambda x, s: -x / (1 + s**2), torch.zeros(10_000, 1, dtype=DT), generator=_gen(7),
                          sigmas=sigmas, step_size=eps, n_steps_each=200)
    v = 1 + sigmas[-1] ** 2
    assert _within_4_se_of_variance(x, v / (1 - eps / (4 * v)))


def test_registry_and_errors():
    assert get_sampler("langevin") is langevin and get_sampler("annealed_langevin") is annealed_langevin
    assert {"langevin", "annealed_langevin"} <= set(SAMPLERS)
    with pytest.raises(ConfigError, match="annealed_langevin"):
        get_sampler("no-such-sampler")
    with pytest.raises(ConfigError):
        langevin(lambda x: x, torch.zeros(2, 1), generator=_gen(0), step_size=0.0, n_steps=1)
    with pytest.raises(ConfigError):
        annealed_langevin(lambda x, s: x, torch.zeros(2, 1), generator=_gen(0), sigmas=[1.0, -1.0])


# --- one API: every eager sampler is its steps generator run to the end --------------------------


def test_run_steps_records_every_kth_state_and_rejects_a_bad_stride():
    states = [torch.full((2, 1), float(k)) for k in range(1, 8)]
    x_init = torch.zeros(2, 1)
    x, path = run_steps(iter(states), x_init, return_trajectory=True, record_every=3)
    assert torch.equal(x, states[-1]) and [float(p[0, 0]) for p in path] == [0.0, 3.0, 6.0]
    assert torch.equal(run_steps(iter(states), x_init), states[-1])
    assert torch.equal(run_steps(iter([]), x_init), x_init)  # no steps: the start
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ConfigError, match="record_every must be a positive int"):
            run_steps(iter(states), x_init, record_every=bad)


def _eager_and_steps():
    """(eager sampler, its steps generator, model, settings) for every chain with a steps generator."""
    from scorelib import samplers
    from scorelib.schedules import DDPMSchedule
    from scorelib.sde import VPSDE

    s = DDPMSchedule.linear(20, 1e-3, 0.2)
    known, mask = torch.ones(6, 2, dtype=DT), torch.tensor([True, False])
    return [
        (samplers.langevin, samplers.langevin_steps, lambda x: -x, {"step_size": 0.1, "n_steps": 9}),
        (samplers.annealed_langevin, samplers.annealed_langevin_steps, lambda x, s: -x,
         {"sigmas": [2.0, 1.0], "step_size": 0.05, "n_steps_each": 4}),
        (samplers.ddpm_ancestral, samplers.ddpm_ancestral_steps, lambda x, t: 0.5 * x, {"schedule": s}),
        (samplers.repaint, samplers.repaint_steps, lambda x, t: 0.5 * x,
         {"schedule": s, "known": known, "mask": mask, "resample": 2}),
        (samplers.predictor_corrector, samplers.predictor_corrector_steps, lambda x, t: -x,
         {"sde": VPSDE(), "n_steps": 8}),
    ]


@pytest.mark.parametrize("index", range(5), ids=["langevin", "annealed", "ddpm", "repaint", "pc"])
def test_eager_sampler_is_its_steps_generator_run_to_the_end(index):
    eager, steps, model, settings = _eager_and_steps()[index]
    x0 = torch.randn(6, 2, generator=_gen(40), dtype=DT)
    x, path = eager(model, x0, generator=_gen(41), return_trajectory=True, record_every=2, **settings)
    states = list(steps(model, x0, generator=_gen(41), **settings))
    assert torch.equal(x, states[-1])
    assert torch.equal(path, torch.stack([x0] + states[1::2]))


def test_the_model_argument_is_named_for_what_it_returns():
    """score_fn for the score-based samplers, eps_model for the two DDPM ones (Ho et al.'s ε_θ)."""
    import inspect

    for name, sampler in SAMPLERS.items():
        first = next(iter(inspect.signature(sampler).parameters))
        assert first == ("eps_model" if name in ("ddpm_ancestral", "repaint") else "score_fn"), name
        params = inspect.signature(sampler).parameters
        assert params["generator"].kind is inspect.Parameter.KEYWORD_ONLY
        assert params["return_trajectory"].default is False


@pytest.mark.parametrize("variance,dtype", [("beta", torch.float32), ("beta_tilde", torch.float64)])
def test_ddpm_ancestral_is_bitwise_algorithm_2_through_eps_to_mean(variance, dtype):
    """The chain gathers its coefficients once; each state must be bitwise that of the per-step formula
    eps_to_mean(x, ε, schedule, t) + σ_t z (the committed samples depend on it)."""
    from scorelib.parameterization import eps_to_mean
    from scorelib.samplers import ddpm_ancestral_steps
    from scorelib.schedules import DDPMSchedule

    sched = DDPMSchedule.linear(30, 1e-3, 0.2)
    sigmas = sched.sigma2(variance).sqrt()

    def eps_model(x, t):
        return torch.sin(3 * x + 0.1 * t.to(x.dtype))

    x_init = torch.randn(64, 2, generator=torch.Generator().manual_seed(0), dtype=dtype)
    states = list(ddpm_ancestral_steps(eps_model, x_init, generator=torch.Generator().manual_seed(1),
                                       schedule=sched, variance=variance))
    g = torch.Generator().manual_seed(1)
    x = x_init
    for t, state in zip(range(sched.T, 0, -1), states):
        x = eps_to_mean(x, eps_model(x, torch.tensor(t)), sched, t)
        if t > 1:
            x = x + float(sigmas[t - 1]) * torch.randn(x.shape, generator=g, dtype=dtype)
        assert torch.equal(state, x)
