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
from replications.sweep_summary import claim_differences

ENTRY = {"id": "gap", "verdict": "replicated", "measured": 0.4621, "se": 0.03, "digits": 3, "stable": True,
         "control_verdict": "not replicated", "control_measured": 1.92, "control_se": None, "converged": True}


def _moved(**change) -> list[str]:
    seed0 = copy.deepcopy(ENTRY) | change
    return claim_differences([ENTRY], [seed0])


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
    assert _moved(verdict="inconclusive") == ["gap: verdict replicated (artifacts) against inconclusive (seed 0)"]
    assert _moved(control_verdict="replicated") == [
        "gap: control verdict not replicated (artifacts) against replicated (seed 0)"]
    # a sweep made before the compute curves carries no convergence flag
    assert _moved(converged=None) == ["gap: converged True (artifacts) against None (seed 0)"]
    assert _moved(measured=0.4621 + 0.6 * 0.03) == ["gap: measured 0.462 (artifacts) against 0.48 (seed 0) (0.6 se)"]
    assert _moved(control_measured=1.93) == ["gap: control measured 1.92 (artifacts) against 1.93 (seed 0)"]
    assert claim_differences([ENTRY], []) == ["gap: only in the artifacts"]
    assert claim_differences([], [ENTRY], ("artifacts", "sweep")) == ["gap: only in the sweep"]
    assert claim_differences([ENTRY], [ENTRY | {"verdict": "inconclusive"}], ("sweep", "retrain")) == [
        "gap: verdict replicated (sweep) against inconclusive (retrain)"]


def test_numbers_that_are_not_reproducible_across_machines_are_not_compared_but_their_verdicts_are():
    unstable = ENTRY | {"stable": False}
    assert claim_differences([unstable], [unstable | {"measured": 9.0}]) == []
    assert claim_differences([unstable], [unstable | {"verdict": "not replicated"}]) != []


def test_the_chapter_says_whether_its_seed_0_reproduces_its_claims_table(monkeypatch):
    monkeypatch.setattr(sweep_summary, "seed0_differences", lambda chapter, profile: [])
    assert sweep_summary.seed0_note("ddpm").startswith("Seed 0 of this sweep, a retrain from scratch, reproduces")
    monkeypatch.setattr(sweep_summary, "seed0_differences", lambda chapter, profile: ["gap: converged True …"])
    note = sweep_summary.seed0_note("ddpm")
    assert "does **not** reproduce" in note and "gap: converged True …" in note
    assert "python -m replications sweep ddpm --seeds 0-2 --profile full --force" in note
