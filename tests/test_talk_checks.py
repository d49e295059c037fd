"""The talk appendix names only claims that exist, and reads their committed verdicts."""

from __future__ import annotations

import importlib

import pytest

from replications.runner import talk_checks


@pytest.mark.parametrize("equation", talk_checks.TALK, ids=lambda e: e.name)
def test_every_checking_claim_exists_in_its_chapter(equation):
    ids = {c.id for c in importlib.import_module(f"replications.{equation.chapter}.experiment").CLAIMS}
    assert set(equation.claims) <= ids, set(equation.claims) - ids


def test_the_table_shows_a_verdict_for_every_claim():
    table = talk_checks.table()
    assert "not measured" not in table
    assert sum(len(e.claims) for e in talk_checks.TALK) == table.count("`: ")
