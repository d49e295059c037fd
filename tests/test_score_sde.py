"""Chapter score_sde: its claims turn red when the method is broken."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from replications import ROOT
from replications.chapter import resolved_config
from replications.score_sde import experiment as ex
from scorelib.artifacts import load_artifacts
from scorelib.distributions import GaussianMixture, NoisedMixture, moment_matched_gaussian
from scorelib.sde import SubVPSDE

CPU = torch.device("cpu")
TINY = dataclasses.replace(ex.QUICK, marg_particles=4000, marg_steps=250, lik_points=30, nll_points=100,
                           entropy_samples=20_000)


def _verdict(claim_id: str, value: float, profile: str = "quick") -> bool:
    return ex.CLAIMS[claim_id].passes(value, profile)


def test_exact_score_is_the_perturbed_mixture_score():
    mix = ex.mixture(ex.QUICK)
    x = torch.randn(50, 2, dtype=torch.float64) * 2
    for sde in ex.sdes(ex.QUICK).values():
        t = torch.tensor(0.37, dtype=torch.float64)
        m, s = sde.marginal(t)
        torch.testing.assert_close(NoisedMixture(mix, sde).score(x, t), mix.perturb(m, s).score(x))


def test_sub_vp_std_for_variance_slip_turns_the_marginal_claim_red(monkeypatch):
    good = ex.marginal_check(TINY, 0)
    original = SubVPSDE.marginal

    def slip(self, t):  # the classic slip: 1 - e^{-B} as the variance instead of the std
        m, s = original(self, t)
        return m, s.sqrt()

    monkeypatch.setattr(SubVPSDE, "marginal", slip)
    broken = ex.marginal_check(TINY, 0)
    assert not _verdict("marginal_variance", float(broken.var_error.max()))
    assert float(broken.var_error.max()) > 10 * float(good.var_error.max())
    assert _verdict("talk_slide_mean_refuted", good.slide_mean_error)


def test_divergence_sign_flip_turns_the_exact_likelihood_claim_red():
    good = ex.likelihood_check(TINY, 0)
    assert _verdict("pf_ode_exact_loglik", good.mean_abs_error)
    broken = ex.likelihood_check(TINY, 0, divergence_sign=-1.0)
    assert not _verdict("pf_ode_exact_loglik", broken.mean_abs_error)


def _small_mmd_test() -> ex.MMDTest:
    """The chapter's MMD test with a 60-draw null (the chapter uses 200)."""
    from scorelib.metrics import median_ladder, mmd2_null, rbf_kernel_mean

    mix = ex.mixture(ex.QUICK)
    g = ex.generator(0, "mmd")
    test = mix.sample(ex.MMD_SAMPLES, g)[0].float()
    bw = median_ladder(test)
    k = rbf_kernel_mean(test, test, bw)
    return ex.MMDTest(test, bw, k, mmd2_null(lambda n, gen: mix.sample(n, gen)[0].float(), test, ex.MMD_SAMPLES, bw,
                                             60, g, kyy=k))


@pytest.mark.slow
def test_sampler_claims_fail_for_a_wrong_distribution():
    mix = ex.mixture(ex.QUICK)
    g = torch.Generator().manual_seed(0)
    test = _small_mmd_test()
    exact = ex.sampler_metrics(mix, {"a": mix.sample(4000, g)[0]}, test)
    assert _verdict("exact_mode_weights", exact.max_weight_error) and _verdict("exact_mmd", exact.max_mmd_ratio)
    wrong = GaussianMixture(torch.tensor([0.6, 0.25, 0.15], dtype=torch.float64), mix.means, mix.covs * 1.3)
    bad = ex.sampler_metrics(mix, {"a": wrong.sample(4000, g)[0]}, test)
    assert not _verdict("exact_mode_weights", bad.max_weight_error)
    assert not _verdict("exact_mmd", bad.max_mmd_ratio)
    # the control's law: the moment-matched Gaussian
    gauss = ex.sampler_metrics(mix, {"a": moment_matched_gaussian(mix).sample(4000, g)[0]}, test)
    assert not _verdict("exact_mode_weights", gauss.max_weight_error)
    assert not _verdict("exact_mmd", gauss.max_mmd_ratio)


def test_likelihood_controls_fail():
    lik = ex.likelihood_check(TINY, 0, controls=True)
    assert _verdict("pf_ode_exact_loglik", lik.mean_abs_error)
    assert not _verdict("pf_ode_exact_loglik", float(lik.flipped_error.abs().mean()))
    assert not _verdict("hutchinson_unbiased", abs(ex._bias_in_se(lik.hutch2_error, lik.exact_error)))


def test_marginal_controls_fail_and_the_slide_is_a_check():
    marg = ex.marginal_check(TINY, 0)
    assert not _verdict("marginal_mean", float(marg.mean_error_control.max()))
    assert not _verdict("marginal_variance", float(marg.var_error_control.max()))
    assert ex.CLAIMS["talk_slide_mean_refuted"].check and ex.CLAIMS["learned_nll_gibbs"].check


def test_mutation_flipped_divergence_in_the_library_turns_the_likelihood_claim_red(monkeypatch):
    """Mutation test: flip the sign of the exact divergence inside ``scorelib.likelihood`` (the instantaneous change
    of variables, eq. 39); the chapter's exact-likelihood claim, recomputed, turns red."""
    from scorelib import likelihood

    original = likelihood.exact_divergence

    def flipped(*args, **kwargs):
        dx, div = original(*args, **kwargs)
        return dx, -div

    monkeypatch.setattr(likelihood, "exact_divergence", flipped)
    lik = ex.likelihood_check(TINY, 0)
    assert ex.CLAIMS["pf_ode_exact_loglik"].verdict(lik.mean_abs_error, "full") == "not replicated"


def _committed() -> dict:
    import json
    return {c["id"]: c for c in json.loads((ROOT / "score_sde" / "artifacts" / "metrics.json").read_text())["claims"]}


@pytest.mark.parametrize("claim_id", [c.id for c in ex.CLAIMS if not c.check])
def test_committed_control_fails_its_claim(claim_id):
    entry = _committed()[claim_id]
    assert entry["control"] and entry["control_measured"] is not None
    assert entry["control_verdict"] == "not replicated"
    assert not ex.CLAIMS[claim_id].passes(entry["control_measured"], "quick")


def test_every_claim_names_a_control():
    """(That no claim cites a file outside the repository is checked for every file by tests/test_architecture.py.)"""
    for c in ex.CLAIMS:
        assert c.check or c.control, c.id


@pytest.mark.slow
def test_divergence_errors_turn_the_nll_range_claims_red():
    """With the committed learned score, NLL ∈ [H − 3 SE, H + 0.15] holds (two claims: the Gibbs side and the
    excess side). A flipped divergence sign sends the NLL far *above* H here (the data are more concentrated than
    the prior, so ∫∇·f̃ > 0 on average): the range claim fails on its upper side. A divergence counted twice
    inflates the likelihood: the NLL drops below H and Gibbs' inequality (the lower side) catches it."""
    state = load_artifacts(ROOT / "score_sde" / "artifacts", resolved_config(ex.FULL, 0))
    cfg = dataclasses.replace(ex.FULL, nll_points=100, entropy_samples=20_000)
    good = ex.nll_check(cfg, state, 0, CPU)
    assert _verdict("learned_nll_gibbs", good.gibbs_in_se, "full")  # a check
    assert _verdict("learned_nll_excess", good.excess, "full")
    flipped = ex.nll_check(cfg, state, 0, CPU, divergence_sign=-1.0)
    assert not (_verdict("learned_nll_gibbs", flipped.gibbs_in_se, "full")
                and _verdict("learned_nll_excess", flipped.excess, "full")), flipped.excess
    doubled = ex.nll_check(cfg, state, 0, CPU, divergence_sign=2.0)
    assert not _verdict("learned_nll_gibbs", doubled.gibbs_in_se, "full"), doubled.gibbs_in_se


def test_equal_evals_comparison_pairs_the_samplers_and_reports_a_standard_error():
    test = _small_mmd_test()
    r = ex.pc_equal_evals(ex.QUICK, 0, test, replicates=3)
    assert set(r.mmd) == {"VE", "VP"} and r.n_steps == ex.EQUAL_EVALS_STEPS
    for sde in ("VE", "VP"):
        assert set(r.mmd[sde]) == set(ex.EQUAL_EVALS_SAMPLERS)
        assert all(v.shape == (3,) and bool(torch.isfinite(v).all()) for v in r.mmd[sde].values())
    d = r.mmd["VE"]["predictor_corrector"] - r.mmd["VE"]["reverse_diffusion_2N"]
    mean, se = r.measured("VE")
    assert mean == pytest.approx(float(d.mean())) and se == pytest.approx(float(d.std()) / 3 ** 0.5)
    # deterministic on CPU: the same seed gives the same numbers
    again = ex.pc_equal_evals(ex.QUICK, 0, test, replicates=3)
    assert torch.equal(again.mmd["VE"]["reverse_diffusion"], r.mmd["VE"]["reverse_diffusion"])
    # stored with the artifacts and read back as the same result
    state = {f"equal.{sde}.{key}": v for sde, row in r.mmd.items() for key, v in row.items()}
    back = ex.equal_evals_from_state(state)
    assert back.n_steps == r.n_steps and back.measured("VE") == r.measured("VE")


def test_equal_evals_claim_text_names_the_settings_it_is_measured_with():
    """The claim's words are literal (rewording them would re-date the definition on the Claims page), so this
    keeps them in step with the constants that set the measurement."""
    claim = ex.CLAIMS["pc_beats_rd_equal_evals_ve"]
    n = ex.EQUAL_EVALS_STEPS
    assert f"over {ex.FULL.pc_replicates} sample sets (quick: {ex.QUICK.pc_replicates})" in claim.quantity
    assert f"(MMD²(PC, N={n}) − MMD²(RD, N={2 * n}))" in claim.quantity
    assert claim.control == f"reverse diffusion with N = {n} in PC's place"


def test_equal_evals_verdicts_follow_the_standard_error():
    claim = ex.CLAIMS["pc_beats_rd_equal_evals_ve"]
    assert claim.verdict(-0.5, "full", 0.1) == "replicated"
    assert claim.verdict(0.5, "full", 0.1) == "not replicated"
    assert claim.verdict(0.1, "full", 0.1) == "inconclusive"
