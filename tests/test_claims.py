"""Claims: every criterion at its boundary, non-finite values, table checks and rendering."""

from __future__ import annotations

import json
import math

import pytest

from scorelib.claims import PROFILES, Claim, ClaimTable, check_profile, compare_results, text_table
from scorelib.errors import ConfigError


def above(x: float) -> float:
    return math.nextafter(x, math.inf)


def below(x: float) -> float:
    return math.nextafter(x, -math.inf)


def claim(kind: str, paper: float | None, tol, *, id: str = "c", stable: bool = True, digits: int = 3) -> Claim:
    return Claim(id, "Paper 2020, Table 1", "a quantity", paper, kind, tol, tol, digits=digits, stable=stable)


# Boundaries are exactly representable (powers of two), so "at the boundary" is exact.
BOUNDARY_CASES = [
    # kind, paper, tolerance, passing values at the boundary, failing values one ulp outside
    ("abs", 1.0, 0.25, [1.25, 0.75], [above(1.25), below(0.75)]),
    ("rel", 2.0, 0.25, [2.5, 1.5], [above(2.5), below(1.5)]),
    ("rel", -2.0, 0.25, [-2.5, -1.5], [below(-2.5), above(-1.5)]),  # the bound uses |paper|
    ("max", None, 0.5, [0.5, -100.0], [above(0.5)]),
    ("min", None, 0.5, [0.5, 100.0], [below(0.5)]),
    ("range", None, (0.25, 0.75), [0.25, 0.75, 0.5], [below(0.25), above(0.75)]),
]


@pytest.mark.parametrize(("kind", "paper", "tol", "passing", "failing"), BOUNDARY_CASES,
                         ids=["abs", "rel", "rel-negative", "max", "min", "range"])
@pytest.mark.parametrize("profile", ["quick", "full"])
def test_each_kind_passes_at_the_boundary_and_fails_just_outside(kind, paper, tol, passing, failing, profile):
    c = claim(kind, paper, tol)
    for value in passing:
        assert c.passes(value, profile), value
    for value in failing:
        assert not c.passes(value, profile), value


def test_the_profile_selects_the_tolerance():
    c = Claim("c", "s", "q", 1.0, "abs", 0.5, 0.1)
    assert c.passes(1.3, "quick") and not c.passes(1.3, "full")
    assert c.tolerance("quick") == 0.5 and c.tolerance("full") == 0.1


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize(("kind", "paper", "tol"), [
    ("abs", 1.0, math.inf), ("rel", 1.0, math.inf), ("max", None, math.inf), ("min", None, -math.inf),
    ("range", None, (-math.inf, math.inf)),
])
def test_non_finite_measurements_always_fail(kind, paper, tol, value):
    # even against tolerances that every finite number meets
    c = claim(kind, paper, tol)
    assert c.passes(0.0, "full")
    assert not c.passes(value, "full")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "between", "tolerance_quick": 1.0, "tolerance_full": 1.0}, "unknown kind"),
        ({"kind": "range", "tolerance_quick": (1.0, 0.0), "tolerance_full": (0.0, 1.0)}, "lo ≤ hi"),
        ({"kind": "range", "tolerance_quick": 1.0, "tolerance_full": (0.0, 1.0)}, "lo ≤ hi"),
        ({"kind": "max", "tolerance_quick": "0.1", "tolerance_full": 0.1}, "must be a number"),
        ({"kind": "abs", "paper": None, "tolerance_quick": 0.1, "tolerance_full": 0.1}, "needs the paper's value"),
    ],
    ids=["kind", "range-order", "range-type", "tol-type", "abs-without-paper"],
)
def test_malformed_claims_raise(kwargs, message):
    fields = {"id": "c", "source": "s", "quantity": "q", "paper": 1.0} | kwargs
    with pytest.raises(ConfigError, match=message):
        Claim(**fields)


# --- ClaimTable ----------------------------------------------------------------------------------


def table() -> ClaimTable:
    return ClaimTable([
        claim("abs", 0.5, 0.1, id="mean_error"),
        claim("max", None, 1e-6, id="residual", stable=False),
        claim("range", None, (-0.6, -0.4), id="slope"),
    ])


MEASURED = {"mean_error": 0.55, "residual": 1.234567e-9, "slope": -0.3}


def test_check_gives_a_verdict_per_claim():
    results = table().check(MEASURED, "full")
    assert [r.passed for r in results.results] == [True, True, False]
    assert results.n_passed == 2 and not results.all_passed
    assert table().check(MEASURED | {"slope": -0.5}, "quick").all_passed


def test_check_raises_for_a_missing_or_an_unknown_id():
    with pytest.raises(ConfigError, match=r"claims not measured: \['slope'\]"):
        table().check({"mean_error": 0.5, "residual": 0.0}, "full")
    with pytest.raises(ConfigError, match=r"unknown claim ids: \['typo'\]"):
        table().check(MEASURED | {"typo": 1.0}, "full")


def test_duplicate_ids_raise():
    with pytest.raises(ConfigError, match=r"duplicate claim ids: \['a'\]"):
        ClaimTable([claim("max", None, 1.0, id="a"), claim("min", None, 0.0, id="b"), claim("max", None, 2.0, id="a")])


def test_unknown_profile_raises():
    with pytest.raises(ConfigError, match="unknown profile 'medium'; choose one of quick, full"):
        table().check(MEASURED, "medium")
    with pytest.raises(ConfigError, match="unknown profile"):
        claim("max", None, 1.0).passes(0.0, "FULL")


def _line(text: str, claim_id: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(claim_id + " "))


def test_to_text_hides_unstable_values_but_shows_their_verdicts():
    text = table().check(MEASURED, "full").to_text()
    residual_line = _line(text, "residual")
    assert "(varies)" in residual_line and "1.23e-09" not in text
    assert " replicated " in residual_line
    assert "≤ 1e-06" in residual_line  # the criterion stays visible
    slope_line = _line(text, "slope")
    assert "-0.3" in slope_line and "NOT replicated" in slope_line
    assert text.splitlines()[-1] == "2/3 claims replicated · 1 not replicated · 0 inconclusive"
    # a failing unstable claim still shows its verdict
    failing = table().check(MEASURED | {"residual": 1e-3}, "full").to_text()
    assert "NOT replicated" in _line(failing, "residual")


def test_to_markdown_puts_the_verdict_first_and_shows_every_value():
    md = table().check(MEASURED, "full").to_markdown()
    assert "1.23e-09" in md and "(varies)" not in md
    assert md.splitlines()[0] == "| claim | verdict | ours | paper | criterion | control |"
    assert sum(line.startswith("| ") for line in md.splitlines()) == 1 + 3  # header + one row each
    assert "**2/3 claims replicated · 1 not replicated · 0 inconclusive.**" in md


def controlled() -> ClaimTable:
    return ClaimTable([
        Claim("weight", "Paper 2022, §5", "fraction above ½", 0.5, "abs", 0.1, 0.1, control="U = 1"),
        Claim("calls", "our algebra", "autograd passes", 2.0, "abs", 0.0, 0.0, reference="theory", check=True),
    ])


def test_a_control_is_measured_and_judged_by_the_same_criterion():
    results = controlled().check({"weight": 0.52, "calls": 2.0}, "full", controls={"weight": 0.64})
    weight = results.results[0]
    assert weight.verdict == "replicated" and weight.control_verdict == "not replicated" and not weight.control_defect
    assert "0.64: rejected" in _line(results.to_text(), "weight")
    defect = controlled().check({"weight": 0.52, "calls": 2.0}, "full", controls={"weight": 0.55})
    assert defect.control_defects == ["weight"] and "PASSES (defect)" in _line(defect.to_text(), "weight")
    assert "CONTROL PASSES (claim defect): weight" in defect.summary()


def test_checks_are_shown_but_not_counted():
    results = controlled().check({"weight": 0.7, "calls": 2.0}, "full", controls={"weight": 0.64})
    assert len(results.claims) == 1 and len(results.checks) == 1
    assert results.summary() == "0/1 claims replicated · 1 not replicated · 0 inconclusive · checks 1/1 hold"
    assert "holds" in _line(results.to_text(), "calls")
    md = results.to_markdown()
    assert "| — |" in md and "(theory: 2)" in md, "a theoretical value stays out of the paper column"


def test_controls_must_match_the_claims_that_name_one():
    with pytest.raises(ConfigError, match=r"controls not measured: \['weight'\]"):
        controlled().check({"weight": 0.5, "calls": 2.0}, "full")
    with pytest.raises(ConfigError, match=r"name no control: \['calls'\]"):
        controlled().check({"weight": 0.5, "calls": 2.0}, "full", controls={"weight": 0.6, "calls": 2.0})
    with pytest.raises(ConfigError, match="a check has no control"):
        Claim("c", "s", "q", 1.0, "abs", 0.1, 0.1, control="x", check=True)
    with pytest.raises(ConfigError, match="reference must be"):
        Claim("c", "s", "q", 1.0, "abs", 0.1, 0.1, reference="recalled")


@pytest.mark.parametrize(("value", "se", "verdict"), [
    (0.55, 0.01, "replicated"),        # 0.53..0.57 inside [0.4, 0.6]
    (0.59, 0.01, "inconclusive"),      # 0.57..0.61 contains 0.6
    (0.65, 0.01, "not replicated"),    # 0.63..0.67 outside
    (0.59, 0.0, "replicated"),         # no uncertainty: the point decides
    (math.nan, 0.01, "not replicated"),
])
def test_an_uncertain_measurement_straddling_a_boundary_is_inconclusive(value, se, verdict):
    c = Claim("w", "s", "q", 0.5, "abs", 0.1, 0.1, control="c")
    assert c.verdict(value, "full", se) == verdict
    results = ClaimTable([c]).check({"w": (value, se)}, "full", controls={"w": 0.9})
    assert results.results[0].verdict == verdict and results.results[0].se == se


def test_compare_results_reports_moved_verdicts_and_stable_numbers_only():
    old = controlled().check({"weight": 0.52, "calls": 2.0}, "full", controls={"weight": 0.64}).as_dicts()
    same = controlled().check({"weight": 0.5201, "calls": 2.0}, "full", controls={"weight": 0.6401}).as_dicts()
    assert compare_results(same, old) == []  # equal at the shown digits
    moved = controlled().check({"weight": 0.7, "calls": 2.0}, "full", controls={"weight": 0.52}).as_dicts()
    moves = compare_results(moved, old)
    assert "weight: verdict replicated → not replicated" in moves
    assert "weight: control verdict not replicated → replicated" in moves
    assert "weight: measured 0.52 → 0.7" in moves
    assert compare_results(same[:1], old) == ["calls: claim removed"]


def test_as_dicts_has_the_metrics_json_keys():
    results = table().check(MEASURED, "quick")
    dicts = results.as_dicts()
    required = {"id", "source", "quantity", "paper", "measured", "tolerance", "passed"}
    assert all(required <= set(d) for d in dicts)
    assert [d["id"] for d in dicts] == ["mean_error", "residual", "slope"]
    assert dicts[0]["paper"] == 0.5 and dicts[0]["measured"] == 0.55 and dicts[0]["passed"] is True
    assert dicts[1]["paper"] is None
    assert dicts[2]["tolerance"] == [-0.6, -0.4]  # a range becomes a JSON list
    assert json.loads(results.to_json()) == dicts


def test_a_control_measured_with_a_standard_error_keeps_it_in_metrics():
    entry = controlled().check({"weight": 0.52, "calls": 2.0}, "full", controls={"weight": (0.64, 0.01)}).as_dicts()[0]
    assert entry["control_measured"] == 0.64 and entry["control_se"] == 0.01


def test_table_looks_up_claims_by_id():
    table = ClaimTable([Claim("a", "s", "q", 1.0, "abs", 0.1, 0.1), Claim("b", "s", "q", None, "max", 1.0, 1.0)])
    assert table["b"].id == "b" and table["b"].passes(0.5, "quick")
    with pytest.raises(ConfigError, match=r"unknown claim id 'c'; known: a, b"):
        table["c"]


def test_check_profile_accepts_the_profile_names_and_names_them_otherwise():
    assert PROFILES == ("quick", "full")
    assert [check_profile(p) for p in PROFILES] == ["quick", "full"]
    for bad in ("medium", "FULL", None, 1, ["full"]):
        with pytest.raises(ConfigError, match=r"unknown profile .*; choose one of quick, full"):
            check_profile(bad)
    assert check_profile("full", {"full": object()}) == "full"  # a chapter's PROFILES dict: its keys
    with pytest.raises(ConfigError, match="choose one of full$"):
        check_profile("quick", {"full": object()})


def test_text_table_pads_columns_and_strips_trailing_blanks():
    table = text_table(["a", "long header", "c"], [["xyz", 1, ""], ["", 2.5, "z"]])
    assert table.splitlines() == [
        "a    long header  c",
        "---  -----------  -",
        "xyz  1",
        "     2.5          z",
    ]
    assert text_table(["a", "b"], [["1", "2"]], rule=False) == "a  b\n1  2"
    assert text_table(["only"], []) == "only\n----"


def test_min_pass_rate_is_a_share_of_seeds_recorded_in_metrics():
    assert Claim("a", "s", "q", 1.0, "abs", 0.1, 0.1).min_pass_rate == 1.0
    table = ClaimTable([Claim("a", "s", "q", 1.0, "abs", 0.1, 0.1, min_pass_rate=0.8)])
    entry = table.check({"a": 1.0}, "quick").as_dicts()[0]
    assert entry["min_pass_rate"] == 0.8
    for bad in (0, 1.5, -0.2, "all"):
        with pytest.raises(ConfigError, match="min_pass_rate is a share of seeds in"):
            Claim("a", "s", "q", 1.0, "abs", 0.1, 0.1, min_pass_rate=bad)
