"""The generated claims spec lists every claim of every chapter, with the commit that fixed it."""

from __future__ import annotations

import importlib
import re

import pytest

from replications.runner import claims_spec


@pytest.mark.parametrize("chapter", claims_spec.chapters())
def test_the_spec_lists_every_claim_with_its_commit(chapter):
    spec = claims_spec.chapter_spec(chapter)
    claims = importlib.import_module(f"replications.{chapter}.experiment").CLAIMS
    for c in claims:
        row = next(line for line in spec.splitlines() if line.startswith(f"| **{c.id}**<br>"))
        assert c.criterion("full") in row and c.criterion("quick") in row
        assert re.search(r"\| ([0-9a-f]{7,} \d{4}-\d\d-\d\d|uncommitted) \|$", row), row


def test_fixed_in_reads_the_last_change_of_the_lines(tmp_path):
    path = claims_spec.ROOT / "score_matching" / "experiment.py"
    lines = claims_spec._claim_lines(path)
    assert lines and all(start <= end for start, end in lines.values())
    assert re.fullmatch(r"[0-9a-f]{7,} \d{4}-\d\d-\d\d|uncommitted", claims_spec.fixed_in(path, next(iter(lines.values()))))
