"""Seed 0 of a committed sweep against the committed artifacts: the guard that a sweep measured today's code.

An experiment digest covers a profile's configuration and criteria, not its code, so a sweep made before a change
of code that moves numbers (a new sampler, compute curves) still reads as current. Its seed 0 is a retrain of the
same experiment and seed as the artifacts, and reproduces them up to the summation order of another thread count
(:data:`replications.sweep_summary.SE_FRACTION`). The quick sweeps' seed 0 is checked against CI's own quick
retrain in ``tests/test_chapters.py``."""

from __future__ import annotations

import copy

import pytest

from replications import sweep_summary
from replications.runner.chapters import available_chapters
from replications.sweep_summary import SE_FRACTION
from scorelib.claims import compare_results

ENTRY = {"id": "gap", "verdict": "replicated", "measured": 0.4621, "se": 0.03, "digits": 3, "stable": True,
         "control_verdict": "not replicated", "control_measured": 1.92, "control_se": None, "converged": True}


def _moved(**change) -> list[str]:
    """What the guard reports for a seed 0 that differs from the committed ``ENTRY`` by ``change``."""
    seed0 = copy.deepcopy(ENTRY) | change
    return compare_results([seed0], [ENTRY], se_fraction=SE_FRACTION)


@pytest.mark.parametrize("chapter", available_chapters())
def test_every_committed_full_sweep_reproduces_the_committed_artifacts_at_seed_0(chapter):
    moved = sweep_summary.seed0_differences(chapter, "full")
    assert not moved, (f"{chapter}: seed 0 of the committed full sweep is not the committed artifacts' run, so the "
                       f"sweep may be of older code: {moved}; rerun it: python -m replications sweep {chapter} "
                       f"--seeds 0-2 --profile full --force, then report --sweep --profile full --write")


def test_the_same_entry_and_round_off_inside_half_a_standard_error_do_not_count():
    assert _moved() == []
    assert _moved(measured=0.4621 + 0.4 * 0.03) == []  # one thread against two: round-off carried through training
    assert _moved(control_measured=1.92 + 4e-3) == []  # no se: the same at its 3 shown digits


def test_a_verdict_a_control_a_curve_or_a_number_beyond_the_tolerance_counts():
    assert _moved(verdict="inconclusive") == ["gap: verdict replicated → inconclusive"]
    assert _moved(control_verdict="replicated") == ["gap: control verdict not replicated → replicated"]
    # a sweep made before the compute curves carries no convergence flag
    assert _moved(converged=None) == ["gap: converged True → None"]
    assert _moved(measured=0.4621 + 0.6 * 0.03) == ["gap: measured 0.462 → 0.48 (0.6 se)"]
    assert _moved(control_measured=1.93) == ["gap: control measured 1.92 → 1.93"]
    assert compare_results([], [ENTRY], se_fraction=SE_FRACTION) == ["gap: claim removed"]
    assert compare_results([ENTRY], [], se_fraction=SE_FRACTION) == ["gap: new claim"]


def test_numbers_that_are_not_reproducible_across_machines_are_not_compared_but_their_verdicts_are():
    unstable = ENTRY | {"stable": False}
    assert compare_results([unstable | {"measured": 9.0}], [unstable], se_fraction=SE_FRACTION) == []
    assert compare_results([unstable | {"verdict": "not replicated"}], [unstable], se_fraction=SE_FRACTION) != []


def test_without_a_fraction_every_number_must_agree_at_its_shown_digits():
    """The committed-results check of every evaluation (``replications.chapter``) keeps its exact rule."""
    assert compare_results([ENTRY | {"measured": 0.4621 + 0.4 * 0.03}], [ENTRY]) == ["gap: measured 0.462 → 0.474"]


def test_the_chapter_says_whether_its_seed_0_reproduces_its_claims_table(monkeypatch):
    monkeypatch.setattr(sweep_summary, "seed0_differences", lambda chapter, profile: [])
    assert sweep_summary.seed0_note("ddpm").startswith("Seed 0 of this sweep, a retrain from scratch, reproduces")
    monkeypatch.setattr(sweep_summary, "seed0_differences", lambda chapter, profile: ["gap: converged True …"])
    note = sweep_summary.seed0_note("ddpm")
    assert "does **not** reproduce" in note and "gap: converged True …" in note
    assert "python -m replications sweep ddpm --seeds 0-2 --profile full --force" in note
