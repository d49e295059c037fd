"""Compute curves: budgets, the convergence rule at its boundary, and how a curve and a real-data floor reach a
claim's verdict, its table and metrics.json."""

from __future__ import annotations

import math

import pytest

from scorelib.claims import Claim, ClaimTable, compare_results, verdict_label
from scorelib.curves import ComputeCurve, CurvePoint, doubling_budgets, measure_over_budgets
from scorelib.errors import ConfigError


def curve(values, ses=(0.1, 0.1, 0.1, 0.1), steps=(100, 200, 400, 800), tolerance=None) -> ComputeCurve:
    return ComputeCurve(tuple(CurvePoint(n, v, se) for n, v, se in zip(steps, values, ses)), tolerance)


def test_doubling_budgets_end_at_the_profile_budget():
    assert doubling_budgets(1600) == (200, 400, 800, 1600)
    assert doubling_budgets(3200, points=5) == (200, 400, 800, 1600, 3200)
    for bad in (1500, 4, 0):
        with pytest.raises(ConfigError, match="multiple of 8"):
            doubling_budgets(bad)
    with pytest.raises(ConfigError, match="at least 4"):
        doubling_budgets(800, points=3)


def test_converged_when_the_last_doubling_moves_less_than_two_standard_errors():
    bound = 2 * math.sqrt(0.1**2 + 0.1**2)
    assert curve([3.0, 2.0, 1.0, 1.0 - 0.99 * bound]).converged
    assert not curve([3.0, 2.0, 1.0, 1.0 - 1.01 * bound]).converged
    assert not curve([3.0, 2.0, 1.0, math.nan]).converged
    # a value without se is judged by the tolerance the chapter stated
    flat = curve([3.0, 2.0, 1.0, 0.95], ses=(None,) * 4, tolerance=0.1)
    assert flat.converged and flat.change_bound == 0.1
    assert not curve([3.0, 2.0, 1.0, 0.85], ses=(None,) * 4, tolerance=0.1).converged


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"values": [1, 2, 3], "steps": (1, 2, 4), "ses": (0.1,) * 3}, "at least 4 budgets"),
    ({"values": [1, 2, 3, 4], "steps": (100, 200, 200, 400)}, "must increase"),
    ({"values": [1, 2, 3, 4], "steps": (100, 200, 400, 1000)}, "doubles the one before"),
    ({"values": [1, 2, 3, 4], "ses": (None,) * 4}, "needs a tolerance"),
    ({"values": [1, 2, 3, 4], "tolerance": -1.0}, "must be positive"),
])
def test_malformed_curves_are_clear_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        curve(**kwargs)


def test_measure_over_budgets_trains_once_per_budget():
    calls = []

    def measure(steps):
        calls.append(steps)
        return {"a": (1.0 / steps, 0.01), "b": 2.0}

    curves = measure_over_budgets(doubling_budgets(800), measure, tolerances={"b": 0.5})
    assert calls == [100, 200, 400, 800]
    assert curves["a"].steps == calls and curves["a"].points[-1].measured == 1 / 800
    assert curves["b"].converged
    with pytest.raises(ConfigError, match="earlier budgets"):
        measure_over_budgets((1, 2, 4, 8), lambda n: {"a": 1.0} if n < 4 else {"b": 1.0})


TABLE = ClaimTable([Claim("kid", "Ho et al. 2020, §4", "KID", None, "max", 0.1, 0.1, digits=2, control="noise")])


def judge(final, curve_values, floor=(0.0, 0.02)):
    c = curve(curve_values + [final[0]], ses=(0.02, 0.02, 0.02, final[1]))
    return TABLE.check({"kid": final}, "full", {"kid": (0.9, 0.05)}, curves={"kid": c}, floors={"kid": floor})


def test_a_failed_claim_on_a_moving_curve_reads_still_improving():
    results = judge((0.3, 0.02), [0.9, 0.7, 0.5])
    r = results.results[0]
    assert r.verdict == "not replicated" and r.still_improving and r.converged is False
    assert "NOT replicated · still improving at our budget" in results.to_text()
    assert "(1 still improving at our budget)" in results.summary()
    entry = results.as_dicts()[0]
    assert entry["converged"] is False and entry["curve"][-1] == {"steps": 800, "measured": 0.3, "se": 0.02}
    assert verdict_label(entry) == "not replicated · still improving at our budget"
    # converged: a plain "not replicated", a finding
    flat = judge((0.3, 0.02), [0.31, 0.3, 0.3])
    assert not flat.results[0].still_improving and "still improving" not in flat.to_text()
    assert verdict_label(flat.as_dicts()[0]) == "not replicated"
    # replicated on a moving curve stays plainly replicated
    assert judge((0.05, 0.01), [0.9, 0.7, 0.5]).to_text().count("still improving") == 0


def test_the_floor_is_judged_by_the_criterion_and_a_failing_floor_is_a_defect():
    ok = judge((0.05, 0.01), [0.1, 0.06, 0.05])
    assert ok.floor_defects == [] and "real data 0 ± 0.02: pass" in ok.to_text()
    assert ok.as_dicts()[0]["floor_measured"] == 0.0 and ok.as_dicts()[0]["floor_verdict"] == "replicated"
    bad = judge((0.05, 0.01), [0.1, 0.06, 0.05], floor=(0.09, 0.02))  # inconclusive: real data do not clearly pass
    assert bad.floor_defects == ["kid"] and "REAL DATA FAIL THE CRITERION" in bad.summary()


def test_curve_and_floor_inputs_are_checked():
    with pytest.raises(ConfigError, match="end at the claim's own measurement"):
        TABLE.check({"kid": (0.3, 0.02)}, "full", {"kid": 1.0}, curves={"kid": curve([0.9, 0.7, 0.5, 0.4])})
    with pytest.raises(ConfigError, match="unknown claim ids"):
        TABLE.check({"kid": 0.3}, "full", {"kid": 1.0}, floors={"other": 0.0})


def test_entries_without_curve_or_floor_keep_their_form_and_a_flipped_convergence_is_a_move():
    plain = TABLE.check({"kid": 0.3}, "full", {"kid": 1.0}).as_dicts()[0]
    assert not {"curve", "converged", "floor_measured", "floor_verdict"} & set(plain)
    before = judge((0.3, 0.02), [0.9, 0.7, 0.5]).as_dicts()
    after = judge((0.3, 0.02), [0.31, 0.3, 0.3]).as_dicts()
    assert compare_results(after, before) == ["kid: converged False → True"]


def test_the_curve_figure_draws_the_curve_criterion_control_and_floor():
    import matplotlib

    matplotlib.use("Agg")
    from scorelib import plotting

    fig, axes = plotting.figure()
    result = judge((0.3, 0.02), [0.9, 0.7, 0.5]).results[0]
    plotting.compute_curve(axes[0, 0], result)
    ax = axes[0, 0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["criterion", "control", "real data", "model"]
    assert "still moving" in ax.get_title()
    no_curve = TABLE.check({"kid": 0.3}, "full", {"kid": 1.0}).results[0]
    with pytest.raises(ConfigError, match="no compute curve"):
        plotting.compute_curve(ax, no_curve)


def test_the_curves_figure_has_a_panel_per_claim_with_a_curve():
    import matplotlib

    matplotlib.use("Agg")
    from scorelib import plotting

    fig = plotting.compute_curves(judge((0.3, 0.02), [0.9, 0.7, 0.5]), ylabels={"kid": "KID"})
    assert len(fig.axes) == 1 and fig.axes[0].get_ylabel() == "KID"
    with pytest.raises(ConfigError, match="no claim"):
        plotting.compute_curves(TABLE.check({"kid": 0.3}, "full", {"kid": 1.0}))


def test_fit_over_budgets_trains_each_smaller_budget_and_at_budget_reads_it_back():
    from dataclasses import dataclass

    import torch

    from scorelib.curves import at_budget, budget_config, fit_over_budgets
    from scorelib.training import TrainConfig

    @dataclass(frozen=True)
    class Cfg:
        train: TrainConfig = TrainConfig(steps=800, batch_size=4)

    seen = []

    def fit(cfg):
        seen.append(cfg.train.steps)
        return {"w": torch.tensor([float(cfg.train.steps)]), "note": "not a tensor"}

    state = fit_over_budgets(Cfg(), "train", fit, "curve.toy")
    assert seen == [100, 200, 400] and sorted(state) == ["curve.toy.100.w", "curve.toy.200.w", "curve.toy.400.w"]
    assert at_budget(state, "curve.toy", 200) == {"w": torch.tensor([200.0])}
    assert budget_config(Cfg(), "train", 100).train == TrainConfig(steps=100, batch_size=4)
    with pytest.raises(ConfigError, match="retrain the chapter"):
        at_budget(state, "curve.toy", 800)
    with pytest.raises(ConfigError, match="no training configuration"):
        budget_config(Cfg(), "other", 100)
