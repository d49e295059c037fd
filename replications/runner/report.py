"""Scoreboards: gather ``metrics.json`` files into one table of chapters and claims.

Used by ``python -m replications report`` (run folders) and by ``book/results.ipynb``
(the committed artifacts of every chapter); :func:`finished` is what a sweep's finished cell is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from replications import CHAPTER_ORDER, ROOT
from scorelib.claims import text_table, verdict_label, verdict_of
from scorelib.errors import CorruptArtifactError


@dataclass(frozen=True)
class ChapterMetrics:
    path: Path
    data: dict

    @property
    def chapter(self) -> str:
        return self.data["chapter"]

    @property
    def claims(self) -> list[dict]:
        return self.data.get("claims", [])

    @property
    def counted(self) -> list[dict]:
        """The claims (checks excluded)."""
        return [c for c in self.claims if not c.get("check", False)]

    @property
    def checks(self) -> list[dict]:
        return [c for c in self.claims if c.get("check", False)]

    def count(self, verdict: str) -> int:
        return sum(verdict_of(c) == verdict for c in self.counted)

    @property
    def n_passed(self) -> int:
        """Replicated claims."""
        return self.count("replicated")

    @property
    def n_checks_held(self) -> int:
        """Checks that hold."""
        return sum(verdict_of(c) == "replicated" for c in self.checks)

    @property
    def failed(self) -> list[str]:
        """Claims not replicated or inconclusive, and checks that fail; "(still improving)" after a claim whose
        compute curve had not converged (:func:`~scorelib.claims.verdict_label`)."""
        return [c["id"] + (" (still improving)" if verdict_label(c) != verdict_of(c) else "")
                for c in self.claims if verdict_of(c) != "replicated"]

    @property
    def control_defects(self) -> list[str]:
        return [c["id"] for c in self.counted if c.get("control_verdict") == "replicated"]


@dataclass(frozen=True)
class Totals:
    """Claim and check counts summed over chapter runs (checks are never counted as claims)."""

    claims: int
    replicated: int
    not_replicated: int
    inconclusive: int
    checks: int
    checks_held: int


def totals(records: list[ChapterMetrics]) -> Totals:
    """The counts every scoreboard ends with: the text one, the book's HTML table and the landing-page line."""
    return Totals(sum(len(r.counted) for r in records), sum(r.n_passed for r in records),
                  sum(r.count("not replicated") for r in records), sum(r.count("inconclusive") for r in records),
                  sum(len(r.checks) for r in records), sum(r.n_checks_held for r in records))


def _order(chapter: str) -> int:
    return CHAPTER_ORDER.index(chapter) if chapter in CHAPTER_ORDER else len(CHAPTER_ORDER)


def read(path: Path) -> ChapterMetrics:
    """One ``metrics.json``; a :class:`CorruptArtifactError` that says how to rewrite it if it cannot be read."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        data["chapter"]  # noqa: B018 - every reader needs it
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as err:
        raise CorruptArtifactError(
            f"cannot read {path}: {err!r}; run its chapter again to rewrite it (python -m replications run CHAPTER, "
            f"with --profile full --retrain for a committed one)") from err
    return ChapterMetrics(Path(path), data)


def finished(run_dir: Path, chapter: str, profile: str, seed: int) -> ChapterMetrics | None:
    """A sweep cell's metrics when they are complete and of this chapter, profile and seed (a retrain), else None."""
    try:
        record = read(Path(run_dir) / "metrics.json")
    except CorruptArtifactError:  # absent, unreadable or incomplete: not finished
        return None
    data = record.data
    same = (data.get("profile"), data.get("seed"), data.get("retrain")) == (profile, seed, True)
    return record if same and record.chapter == chapter and record.counted and "summary" in data else None


def load(paths: list[Path]) -> list[ChapterMetrics]:
    """Read metrics files, in book order; unreadable files are reported, not skipped silently."""
    return sorted(map(read, paths), key=lambda r: (r.data.get("profile", ""), _order(r.chapter)))


def run_metrics(output: Path) -> list[ChapterMetrics]:
    """Every ``<output>/<profile>/<chapter>/metrics.json``."""
    return load(sorted(Path(output).glob("*/*/metrics.json")))


def committed_metrics() -> list[ChapterMetrics]:
    """Every chapter's ``replications/<chapter>/artifacts/metrics.json`` (the full profile)."""
    return load(sorted(ROOT.glob("*/artifacts/metrics.json")))


def scoreboard(records: list[ChapterMetrics]) -> str:
    """One row per chapter run: replicated / not replicated / inconclusive claims, checks, what did not
    replicate, controls that pass (claim defects), wall time and device; then the totals."""
    rows = [
        [r.data.get("profile", "?"), r.chapter, f"{r.n_passed}/{len(r.counted)}", str(r.count("not replicated")),
         str(r.count("inconclusive")), f"{r.n_checks_held}/{len(r.checks)}",
         ", ".join(r.failed) or "—", ", ".join(r.control_defects) or "—",
         f"{r.data.get('wall_time_s', float('nan')):.0f} s", r.data.get("device", "?")]
        for r in records
    ]
    table = text_table(["profile", "chapter", "replicated", "not rep.", "inconcl.", "checks", "not replicated / failing",
                        "control passes", "wall", "device"], rows)
    t = totals(records)
    return (f"{table}\n\n{t.replicated}/{t.claims} claims replicated · {t.not_replicated} not replicated · "
            f"{t.inconclusive} inconclusive, in {len(records)} chapter run(s)")
