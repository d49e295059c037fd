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


def _toy_result(mmd: dict[str, float]) -> "ex.ToyResult":
    t = lambda v: {k: torch.tensor([x]) for k, x in v.items()}  # noqa: E731
    return ex.ToyResult(tuple(mmd), {}, t({"eps/simple": 0.01, ex.GAUSSIAN: 0.18}),
                        t({"eps/simple": 0.0, ex.GAUSSIAN: -9.0}), t(mmd), torch.linspace(0, 1e-3, 201), -2.0)


def _digits_result() -> "ex.DigitsResult":
    return ex.DigitsResult(("eps/simple", "mean/vlb"), {"eps/simple": 5.0, "mean/vlb": 10.0}, 2.0, 20.0, 100.0,
                           {"eps/simple": (0.01, 0.02)}, (0.0, 0.02), (0.04, 0.03), (0.25, 0.03),
                           {"eps/simple": 2.0}, {}, {}, 2.4, {"eps/simple": (-0.1, 0.02)}, 10, 4)


KERNELS = {"slide": 0.06, "corrected": 1.003, "exact": 1.0}
EXACT = {"std_beta": 1.0, "std_beta_tilde": 0.996, "mixture_weight_error": 0.01, "std_noiseless": 0.006,
         "gaussian_weight_error": 0.18}


def test_every_claim_is_measured_and_every_control_fails():
    toy = _toy_result({"eps/simple": 5e-4, "eps/vlb": 4e-3, "mean/simple": 2e-2, "mean/vlb": 1e-2, ex.GAUSSIAN: 7e-2})
    dig = _digits_result()
    controls = {k: v for k, v in ex.measured_controls(KERNELS, EXACT, toy, dig).items()}
    results = ex.CLAIMS.check(ex.measured_claims(KERNELS, EXACT, toy, dig), "full", controls)
    assert results.all_passed
    assert not results.control_defects
    assert all(r.control_verdict == "not replicated" for r in results.claims)
    broken = ex.CLAIMS.check(ex.measured_claims({**KERNELS, "slide": 1.0}, EXACT, toy, dig), "full", controls)
    assert not broken.all_passed


def test_every_claim_names_a_control_and_a_published_source():
    """(That no claim cites a file outside the repository is checked for every file by tests/test_architecture.py.)"""
    for c in ex.CLAIMS:
        assert c.check or c.control, c.id
        assert "[calc]" not in c.quantity
        if c.reference == "paper":
            assert c.paper is None or "Ho et al." in c.source, c.id


def _committed() -> dict:
    import json

    from replications import ROOT
    return {c["id"]: c for c in json.loads((ROOT / "ddpm" / "artifacts" / "metrics.json").read_text())["claims"]}


@pytest.mark.parametrize("claim_id", [c.id for c in ex.CLAIMS if not c.check])
def test_committed_control_fails_its_claim(claim_id):
    """From the committed full-profile evaluation: each control was measured and the criterion rejects it."""
    entry = _committed()[claim_id]
    assert entry["control"] and entry["control_measured"] is not None
    assert entry["control_verdict"] == "not replicated"
    assert not ex.CLAIMS[claim_id].passes(entry["control_measured"], "full")
    assert not ex.CLAIMS[claim_id].passes(entry["control_measured"], "quick")


@pytest.mark.slow
def test_noiseless_and_gaussian_controls_fail_on_a_small_run():
    cfg = dataclasses.replace(TINY, exact_samples=4000, mixture_samples=2000)
    exact = ex.exact_sampler_check(cfg, 0)
    assert not _verdict("ancestral_std_beta", exact["std_noiseless"])
    assert not _verdict("ancestral_std_beta_tilde", exact["std_noiseless"])
    assert _verdict("ancestral_mixture_weights", exact["mixture_weight_error"])
    assert not _verdict("ancestral_mixture_weights", exact["gaussian_weight_error"])


def test_mutation_swapped_posterior_coefficients_turn_the_exact_kernel_claim_red(monkeypatch):
    """Mutation test: break eq. 7 in the library (swap the coefficients of x_0 and x_t in the posterior mean μ̃_t);
    the chapter's exact-posterior claim, recomputed, turns red (and is green without the mutation)."""
    from scorelib.schedules import DDPMSchedule

    cfg = dataclasses.replace(TINY, kernel_samples=5000)
    sched = ex.schedule(cfg)
    good = float(ex.reverse_chain(sched, cfg.kernel_s, "exact", cfg.kernel_samples, ex.generator(0, "kernel"))
                 .double().std()) / cfg.kernel_s
    assert _verdict("exact_posterior_kernel_std", good)
    original = DDPMSchedule.__post_init__

    def broken(self):
        original(self)
        x0, xt = self.posterior_coef_x0, self.posterior_coef_xt
        object.__setattr__(self, "posterior_coef_x0", xt)
        object.__setattr__(self, "posterior_coef_xt", x0)

    monkeypatch.setattr(DDPMSchedule, "__post_init__", broken)
    sched = ex.schedule(cfg)
    bad = float(ex.reverse_chain(sched, cfg.kernel_s, "exact", cfg.kernel_samples, ex.generator(0, "kernel"))
                .double().std()) / cfg.kernel_s
    assert ex.CLAIMS["exact_posterior_kernel_std"].verdict(bad, "full") == "not replicated", bad


def test_median_ladder_and_null_quantile():
    from scorelib.metrics import median_ladder, mmd2_null

    mix = ex.mixture(TINY)
    g = torch.Generator().manual_seed(0)
    test = mix.sample(300, g)[0].float()
    ladder = median_ladder(test)
    assert len(ladder) == 4 and all(abs(a / b - 2) < 1e-12 for a, b in zip(ladder, ladder[1:]))
    null = mmd2_null(lambda n, gen: mix.sample(n, gen)[0].float(), test, 300, ladder, 20, g)
    q = float(null.quantile(0.99))
    shifted = float(mmd2(mix.sample(300, g)[0].float() + torch.tensor([0.5, 0.0]), test, ladder, biased=True))
    assert float(null.min()) > 0 and shifted > 3 * q


@pytest.mark.slow
def test_toy_ranking_on_a_short_run():
    """ε/L_simple beats μ̃/MSE after a short training, deterministically (the metric the ranking claims use)."""
    cfg = dataclasses.replace(ex.QUICK, toy_samples=800, toy_variants=("eps/simple", "mean/simple"),
                              toy_train=dataclasses.replace(ex.QUICK.toy_train, steps=600))
    state = ex.fit_toy(cfg, 0, torch.device("cpu"), progress=False)
    assert ex.toy_check(cfg, state, 0).ranking("eps/simple", "mean/simple") < 1
