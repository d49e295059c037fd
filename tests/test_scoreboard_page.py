"""The book's results page: HTML scoreboard, claims and provenance tables, and the landing page's summary line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from replications import CHAPTER_ORDER
from replications.experiment_digest import current_digest
from replications.runner import report, scoreboard_page
from scorelib.claims import show_value


@pytest.fixture(scope="module")
def records():
    return report.committed_metrics()


def test_scoreboard_links_every_chapter_and_totals(records):
    page = scoreboard_page.scoreboard_html(records)
    for r in records:
        assert f'href="../replications/{r.chapter}/{r.chapter}.html#{r.chapter}-claims"' in page
    total = sum(r.n_passed for r in records), sum(len(r.counted) for r in records)
    assert f"<strong>{total[0]}/{total[1]}</strong>" in page
    numbers = re.findall(r"<tr><td>(\d+)</td>", page)
    assert numbers == [str(CHAPTER_ORDER.index(r.chapter) + 1) for r in records]


def test_claims_table_uses_the_chapters_number_format(records):
    page = scoreboard_page.claims_html(records)
    assert page.count('<td class="verdict') == sum(len(r.claims) for r in records)
    # a claim with a standard error is shown as the chapters show it: digits, then ± se to 2 digits
    c = next(c for r in records for c in r.claims if c.get("se") is not None)
    assert show_value(c["measured"], c["se"], c["digits"]) in page
    assert "|---" not in page


def test_provenance_names_commit_device_and_versions(records):
    page = scoreboard_page.provenance_html(records)
    for r in records:
        assert r.data["git_commit"][:10] in page and r.data["versions"]["torch"] in page


def test_landing_page_summary_is_current(records):
    """Rewritten by `python -m replications refresh --results`; stale means a chapter's metrics changed since."""
    text = scoreboard_page.LANDING.read_text(encoding="utf-8")
    assert scoreboard_page.landing_block(records) in text, "run: python -m replications refresh --results"


def test_landing_summary_rewrite_is_idempotent_and_needs_the_markers(records, tmp_path):
    page = tmp_path / "intro.md"
    page.write_text(f"# Title\n\n{scoreboard_page.SUMMARY_START}\nold\n{scoreboard_page.SUMMARY_END}\n", encoding="utf-8")
    assert scoreboard_page.write_landing_summary(records, page)
    assert not scoreboard_page.write_landing_summary(records, page)
    assert scoreboard_page.summary_line(records) in page.read_text(encoding="utf-8")
    (tmp_path / "bare.md").write_text("# no markers\n", encoding="utf-8")
    with pytest.raises(ValueError, match="scoreboard-summary"):
        scoreboard_page.write_landing_summary(records, tmp_path / "bare.md")


def test_across_seed_columns_read_the_committed_sweep(records):
    claim, chapter = records[0].counted[0], records[0].chapter
    sweep = {"chapter": chapter, "profile": "quick", "seeds": [0, 1, 2], "git_commits": ["abc"],
             "experiment_digest": current_digest(chapter, "quick"), "claims": [
                 {"id": claim["id"], "check": False, "verdict": "seed-fragile", "n_passed": 2, "n": 3}]}
    full = {**sweep, "profile": "full", "experiment_digest": current_digest(chapter, "full"),
            "claims": [{**sweep["claims"][0], "verdict": "replicated", "n_passed": 3}]}
    sweeps = {chapter: {"full": full, "quick": sweep}}
    assert "seeds, full: replicated · 3/3<br>quick: seed-fragile · 2/3" in scoreboard_page.claims_html(records, sweeps)
    assert "full: 1/1 · 3 seeds<br>quick: 0/1 · 3 seeds" in scoreboard_page.scoreboard_html(records, sweeps)
    assert "<td>—</td>" in scoreboard_page.scoreboard_html(records, {})  # a chapter not yet swept
    assert "seeds," not in scoreboard_page.claims_html(records, {})
    # a sweep of an earlier version of the experiment (another digest, or none recorded) shows no verdicts of today's
    # claims, only that it is history
    for earlier in ({**full, "experiment_digest": "0" * 16}, {k: v for k, v in full.items() if k != "experiment_digest"}):
        stale = {chapter: {"full": earlier, "quick": sweep}}
        assert "seeds, quick: seed-fragile · 2/3" in scoreboard_page.claims_html(records, stale)
        assert "full: replicated" not in scoreboard_page.claims_html(records, stale)
        assert "full: an earlier version · 3 seeds<br>quick: 0/1" in scoreboard_page.scoreboard_html(records, stale)


def test_a_claim_still_improving_reads_so_on_both_scoreboards():
    """A not-replicated claim on a compute curve that has not converged: 'not replicated · still improving at our
    budget' in the HTML claims table (coloured as not replicated) and '(still improving)' in the text scoreboard."""
    claim = {"id": "kid", "quantity": "q", "source": "s", "verdict": "not replicated", "measured": 0.3, "se": 0.02,
             "digits": 2, "criterion": "≤ 0.1", "converged": False, "curve": []}
    record = report.ChapterMetrics(Path("metrics.json"), {"chapter": "ddpm", "claims": [claim], "profile": "full"})
    page = scoreboard_page.claims_html([record])
    assert '<td class="verdict v-no">not replicated · still improving at our budget' in page
    assert "kid (still improving)" in report.scoreboard([record])
    converged = report.ChapterMetrics(Path("metrics.json"),
                                      {"chapter": "ddpm", "claims": [claim | {"converged": True}], "profile": "full"})
    assert "still improving" not in scoreboard_page.claims_html([converged])
