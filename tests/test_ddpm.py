"""Chapter ddpm: its claims turn red when the method is broken (the slide's noise scale, a wrong ε* or
σ_t), and its helpers measure what they say."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from replications.ddpm import experiment as ex
from scorelib.distributions import NoisedMixture
from scorelib.errors import ConfigError
from scorelib.metrics import mmd2, mode_weight_error
from scorelib.samplers import ddpm_ancestral

TINY = dataclasses.replace(ex.QUICK, kernel_samples=20_000, exact_samples=20_000, mixture_samples=4000)


def _verdict(claim_id: str, value: float, profile: str = "quick") -> bool:
    return ex.CLAIMS[claim_id].passes(value, profile)


def test_slide_noise_scale_turns_the_kernel_claim_red():
    sched = ex.schedule(TINY)
    g = ex.generator(0, "kernel")
    slide = float(ex.reverse_chain(sched, TINY.kernel_s, "slide", TINY.kernel_samples, g).std()) / TINY.kernel_s
    corrected = float(ex.reverse_chain(sched, TINY.kernel_s, "corrected", TINY.kernel_samples, g).std()) / TINY.kernel_s
    assert _verdict("slide_kernel_collapses", slide) and not _verdict("corrected_kernel_std", slide)
    assert _verdict("corrected_kernel_std", corrected) and not _verdict("slide_kernel_collapses", corrected)
    # the simulation agrees with the exact variance recursion
    assert abs(slide - ex.kernel_variance_recursion(sched, TINY.kernel_s, "slide")) < 0.005


def test_exact_posterior_kernel_is_exact():
    sched = ex.schedule(TINY)
    x = ex.reverse_chain(sched, TINY.kernel_s, "exact", TINY.kernel_samples, ex.generator(1, "kernel"))
    assert _verdict("exact_posterior_kernel_std", float(x.double().std()) / TINY.kernel_s)


@pytest.mark.slow
def test_wrong_eps_star_or_sigma_turns_claim_2_red():
    sched = ex.schedule(TINY)
    g = ex.generator(0, "exact")

    def without_sqrt(x, t):  # a classic slip: ε* = x_t/(ᾱs² + 1 - ᾱ), forgetting √(1-ᾱ_t)
        ab = sched.at(sched.alpha_bars, t, x)
        return x / (ab + 1 - ab)

    good = ddpm_ancestral(ex.gaussian_eps(sched, 1.0), torch.randn(TINY.exact_samples, 1, generator=g), generator=g,
                          schedule=sched)
    bad = ddpm_ancestral(without_sqrt, torch.randn(TINY.exact_samples, 1, generator=g), generator=g, schedule=sched)
    assert abs(float(good.std()) - 1) < 0.02
    assert not _verdict("ancestral_std_beta", float(bad.std()))
    assert abs(ex.exact_ancestral_variance(sched, 1.0, "beta") - 0.99995) < 1e-4
    assert abs(ex.exact_ancestral_variance(sched, 1.0, "beta_tilde") - 0.9955) < 1e-4


def test_mixture_eps_is_minus_scaled_score_and_modes_are_counted():
    cfg = TINY
    sched, mix = ex.schedule(cfg), ex.mixture(cfg)
    x = mix.sample(500, torch.Generator().manual_seed(0))[0]
    eps = NoisedMixture(mix, sched.as_vpsde()).eps(x, torch.tensor(1))
    p1 = mix.perturb(math.sqrt(float(sched.alpha_bars[0])), math.sqrt(1 - float(sched.alpha_bars[0])))
    assert torch.allclose(eps, -math.sqrt(1 - float(sched.alpha_bars[0])) * p1.score(x))
    data, _ = mix.sample(20_000, torch.Generator().manual_seed(1))
    assert mode_weight_error(mix, data)[1] < 0.02
    collapsed = mix.means[0].expand(1000, 2) + 0.1 * torch.randn(1000, 2, dtype=ex.DTYPE)
    assert not _verdict("toy_eps_simple_weights", mode_weight_error(mix, collapsed)[1])


def test_mmd2_biased_floor_and_power():
    g = torch.Generator().manual_seed(0)
    mix = ex.mixture(TINY)
    a, b = mix.sample(1000, g)[0], mix.sample(1000, g)[0]
    floor = float(mmd2(a, b, biased=True))
    assert floor > 0
    assert float(mmd2(a, b + torch.tensor([0.5, 0.0], dtype=ex.DTYPE), biased=True)) > 10 * floor


def test_unknown_reverse_kernel_is_a_config_error():
    with pytest.raises(ConfigError, match="choose one of slide, corrected, exact"):
        ex.reverse_chain(ex.schedule(TINY), 0.5, "talk", 10, torch.Generator())


@pytest.mark.slow
def test_independent_pixel_baseline_is_between_zero_and_uniform():
    bits = ex.independent_pixel_bits()
    assert 0 < bits < math.log2(ex.DIGIT_LEVELS)
    assert abs(bits - ex.INDEPENDENT_PIXEL_BITS) < 5e-4  # the constant in the claim is this baseline


def test_every_claim_is_measured():
    toy = ex.ToyResult(("eps/simple", "mean/simple"), {}, {"eps/simple": torch.tensor([0.01])},
                       {"eps/simple": torch.tensor([0.0])}, {"eps/simple": torch.tensor([1e-3]),
                                                             "mean/simple": torch.tensor([0.2])}, 1e-3, -2.0)
    dig = ex.DigitsResult(("eps/simple", "mean/vlb"), {"eps/simple": 5.0, "mean/vlb": 10.0}, 2.0, 20.0,
                          {"eps/simple": 2.0}, {}, {}, 2.42, 10, 4)
    kernels = {"slide": 0.06, "corrected": 1.003, "exact": 1.0}
    exact = {"std_beta": 1.0, "std_beta_tilde": 0.996, "mixture_weight_error": 0.01}
    results = ex.CLAIMS.check(ex.measured_claims(kernels, exact, toy, dig), "full")
    assert results.all_passed
    broken = ex.CLAIMS.check(ex.measured_claims({**kernels, "slide": 1.0}, exact, toy, dig), "full")
    assert not broken.all_passed


@pytest.mark.slow
def test_toy_ranking_on_a_short_run():
    """ε/L_simple beats μ̃/MSE after a short training (the ranking claim), deterministically."""
    cfg = dataclasses.replace(ex.QUICK, toy_samples=800,
                              toy_train=dataclasses.replace(ex.QUICK.toy_train, steps=600))
    state = ex.fit_toy(cfg, 0, torch.device("cpu"), progress=False)
    assert _verdict("toy_ranking", ex.toy_check(cfg, state, 0).ranking)
