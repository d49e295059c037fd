"""Chapter ndp_step_function: the exact and GP answers, and claims that turn red for a Gaussian posterior
or for wrong weights."""

from __future__ import annotations

import torch

from replications.ndp_step_function import experiment as ex

CFG = ex.QUICK


def _passes(claim_id: str, value) -> bool:
    """The point value's verdict (a measurement may be (value, se))."""
    return ex.CLAIMS[claim_id].passes(value[0] if isinstance(value, tuple) else value, "quick")


def _state(samples: torch.Tensor) -> dict[str, torch.Tensor]:
    state = {f"samples.U{u}": samples for u in CFG.resample_counts}
    state["samples.literal"] = samples
    return state


def test_grid_holds_the_probes_but_not_the_contexts():
    x = ex.grid(CFG)[:, 0]
    assert [float(x[i]) for i in ex.probe_index(CFG)] == list(CFG.probe_x)
    assert all(float((x - c).abs().min()) > 1e-6 for c in CFG.context_x)


def test_exact_posterior_weights():
    probes = torch.tensor(CFG.probe_x, dtype=torch.float64).unsqueeze(-1)
    torch.testing.assert_close(ex.exact_probability(CFG, probes), torch.tensor([0.5, 0.75, 1.0], dtype=torch.float64))


def _exact_samples(n: int, seed: int = 0) -> torch.Tensor:
    """Draws from the exact posterior on the grid: the step uniform in (-0.5, 0.5]."""
    g = torch.Generator().manual_seed(seed)
    a = -0.5 + torch.rand(n, 1, generator=g, dtype=torch.float64)
    return (ex.grid(CFG)[:, 0].double() >= a).double()


def test_exact_posterior_samples_pass_every_ndp_claim():
    r = ex.step_check(CFG, _state(_exact_samples(CFG.n_samples)))
    measured = ex.measured_claims(r)
    assert all(_passes(k, v) for k, v in measured.items()), measured
    assert abs(measured["gp_mid_mass_x0"] - 0.6827) < 1e-3 and abs(measured["gp_mid_mass_x025"] - 0.4895) < 1e-3


def test_gaussian_posterior_samples_fail_the_shape_claims():
    """Samples of the moment-matched GP (what a GP-like model would give) turn the shape claims red."""
    x = ex.grid(CFG)
    xc, yc = ex.contexts(CFG)
    from scorelib.gp import step_gp_posterior
    mean, cov = step_gp_posterior(xc.double(), yc.double(), x.double(), CFG.half_width)
    chol = torch.linalg.cholesky(cov + 1e-6 * torch.eye(len(x), dtype=torch.float64))
    g = torch.Generator().manual_seed(1)
    samples = mean + (chol @ torch.randn(len(x), CFG.n_samples, generator=g, dtype=torch.float64)).T
    measured = ex.measured_claims(ex.step_check(CFG, _state(samples)))
    assert not _passes("ndp_mid_x0", measured["ndp_mid_x0"])
    assert not _passes("ndp_mid_x025", measured["ndp_mid_x025"])


def test_wrong_weights_fail_the_weight_claims():
    """Steps uniform over the whole prior range ignore the contexts' information about the step: the weights
    at 0 and 0.25 stay near the prior's (0.5, 0.56) and the increase claim turns red."""
    g = torch.Generator().manual_seed(2)
    a = (torch.rand(CFG.n_samples, 1, generator=g, dtype=torch.float64) * 2 - 1) * CFG.half_width
    samples = (ex.grid(CFG)[:, 0].double() >= a).double()
    measured = ex.measured_claims(ex.step_check(CFG, _state(samples)))
    assert not _passes("ndp_weight_increase", measured["ndp_weight_increase"])
    assert not _passes("ndp_near_one_x15", measured["ndp_near_one_x15"])


# ---------------------------------------------------------------------------------------------
# Negative controls and a mutation test (issue 13)
# ---------------------------------------------------------------------------------------------

import json  # noqa: E402

import pytest  # noqa: E402

from replications import ROOT  # noqa: E402
from scorelib.artifacts import load_artifacts  # noqa: E402
from replications.chapter import resolved_config  # noqa: E402


@pytest.mark.parametrize("profile", ["quick", "full"])
def test_every_control_fails_its_claim(profile):
    """The controls (GP posterior draws, context-free prior steps) are rejected at both profiles' criteria; they
    do not depend on the network, so any state with the right shapes will do."""
    cfg = ex.PROFILES[profile]
    r = ex.step_check(cfg, _state(_exact_samples(cfg.n_samples)), seed=0)
    results = ex.claim_results(r, profile)
    assert not results.control_defects
    assert all(c.control_verdict == "not replicated" for c in results.claims)


def test_committed_controls_fail():
    claims = json.loads((ROOT / ex.CHAPTER / "artifacts" / "metrics.json").read_text())["claims"]
    counted = [c for c in claims if not c.get("check")]
    assert counted and all(c["control_verdict"] == "not replicated" for c in counted)


def test_checks_have_no_control_and_ours_reference():
    for cid in ("gp_mid_mass_x0", "gp_mid_mass_x025", "ndp_weight_x0"):
        assert ex.CLAIMS[cid].check and ex.CLAIMS[cid].control is None
    assert ex.CLAIMS["gp_mid_mass_x0"].reference == "ours"


def test_increase_criterion_rejects_u1_point_value():
    """The criterion is fixed from the exact posterior (+0.25 ± 0.10): RePaint with U = 1 (0.137 on the committed
    samples) falls outside it, the exact increase inside."""
    assert not _passes("ndp_weight_increase", 0.137) and _passes("ndp_weight_increase", 0.25)
    assert not _passes("ndp_weight_x025", 0.637) and not _passes("ndp_weight_x025", 0.645)


@pytest.mark.slow
def test_mutation_dropping_repaints_replacement_turns_claims_red(monkeypatch):
    """Mutation: RePaint without Algorithm 1's line 9 (the noised contexts never replace the sampled values) is
    unconditional sampling. With the committed full-profile network, the weight and near-one claims turn red."""
    import scorelib.ndp as ndp

    cfg = ex.FULL
    state = load_artifacts(ROOT / ex.CHAPTER / "artifacts", resolved_config(cfg, 0))
    net = ex.load_net(cfg, state, torch.device("cpu"))
    original = ndp.repaint
    monkeypatch.setattr(ndp, "repaint", lambda *a, mask, **k: original(*a, mask=torch.zeros_like(mask), **k))
    g = torch.Generator().manual_seed(0)
    samples = ex.sample_at(cfg, net, ex.grid(cfg), 128, 1, g, torch.device("cpu"))
    mutated = {f"samples.U{u}": samples for u in cfg.resample_counts}
    mutated["samples.literal"] = samples
    r = ex.step_check(cfg, mutated, seed=0)
    r.n_samples = 128
    verdicts = {c.claim.id: c.verdict for c in ex.claim_results(r, "full").claims}
    assert "not replicated" in verdicts.values(), verdicts
