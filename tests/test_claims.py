"""Claims: every criterion at its boundary, non-finite values, table checks and rendering."""

from __future__ import annotations

import json
import math

import pytest

from scorelib.claims import PROFILES, Claim, ClaimTable, check_profile, text_table
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


def test_to_text_hides_unstable_values_but_shows_their_verdicts():
    text = table().check(MEASURED, "full").to_text()
    residual_line = next(line for line in text.splitlines() if line.startswith("residual"))
    assert "(varies)" in residual_line and "1.23e-09" not in text
    assert residual_line.rstrip().endswith("pass")
    assert "≤ 1e-06" in residual_line  # the criterion stays visible
    slope_line = next(line for line in text.splitlines() if line.startswith("slope"))
    assert "-0.3" in slope_line and slope_line.rstrip().endswith("FAIL")
    assert text.splitlines()[-1] == "2/3 claims pass"
    # a failing unstable claim still shows FAIL
    failing = table().check(MEASURED | {"residual": 1e-3}, "full").to_text()
    assert next(line for line in failing.splitlines() if line.startswith("residual")).rstrip().endswith("FAIL")


def test_to_markdown_shows_every_value():
    md = table().check(MEASURED, "full").to_markdown()
    assert "1.23e-09" in md and "(varies)" not in md
    assert md.splitlines()[0] == "| claim | source | quantity | paper | measured | criterion | verdict |"
    assert sum(line.startswith("| ") for line in md.splitlines()) == 1 + 3  # header + one row each
    assert "**2/3 claims pass.**" in md


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
