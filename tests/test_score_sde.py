"""Chapter score_sde: its claims turn red when the method is broken."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from replications import ROOT
from replications.chapter import resolved_config
from replications.score_sde import experiment as ex
from scorelib.artifacts import load_artifacts
from scorelib.distributions import GaussianMixture, NoisedMixture
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


def test_sampler_claims_fail_for_a_wrong_distribution():
    mix = ex.mixture(ex.QUICK)
    g = torch.Generator().manual_seed(0)
    exact = ex.sampler_metrics(mix, {"a": mix.sample(4000, g)[0]})
    assert _verdict("exact_mode_weights", exact.max_weight_error) and _verdict("exact_mmd", exact.max_mmd_ratio)
    wrong = GaussianMixture(torch.tensor([0.6, 0.25, 0.15], dtype=torch.float64), mix.means, mix.covs * 1.3)
    bad = ex.sampler_metrics(mix, {"a": wrong.sample(4000, g)[0]})
    assert not _verdict("exact_mode_weights", bad.max_weight_error)
    assert not _verdict("exact_mmd", bad.max_mmd_ratio)


@pytest.mark.slow
def test_divergence_errors_turn_the_nll_range_claims_red():
    """With the committed learned score, NLL ∈ [H − 3 SE, H + 0.15] holds (two claims: the Gibbs side and the
    excess side). A flipped divergence sign sends the NLL far *above* H here (the data are more concentrated than
    the prior, so ∫∇·f̃ > 0 on average): the range claim fails on its upper side. A divergence counted twice
    inflates the likelihood: the NLL drops below H and Gibbs' inequality (the lower side) catches it."""
    state = load_artifacts(ROOT / "score_sde" / "artifacts", resolved_config(ex.FULL, 0))
    cfg = dataclasses.replace(ex.FULL, nll_points=100, entropy_samples=20_000)
    good = ex.nll_check(cfg, state, 0, CPU)
    assert _verdict("learned_nll_gibbs", good.gibbs_in_se, "full")
    assert _verdict("learned_nll_excess", good.excess, "full")
    flipped = ex.nll_check(cfg, state, 0, CPU, divergence_sign=-1.0)
    assert not (_verdict("learned_nll_gibbs", flipped.gibbs_in_se, "full")
                and _verdict("learned_nll_excess", flipped.excess, "full")), flipped.excess
    doubled = ex.nll_check(cfg, state, 0, CPU, divergence_sign=2.0)
    assert not _verdict("learned_nll_gibbs", doubled.gibbs_in_se, "full"), doubled.gibbs_in_se
