"""Scoreboards: gather ``metrics.json`` files into one table of chapters and claims.

Used by ``python -m replications report`` (run folders) and by ``book/results.ipynb``
(the committed artifacts of every chapter).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from replications import CHAPTER_ORDER, ROOT
from scorelib.claims import markdown_table, text_table
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
    def n_passed(self) -> int:
        return sum(bool(c["passed"]) for c in self.claims)

    @property
    def failed(self) -> list[str]:
        return [c["id"] for c in self.claims if not c["passed"]]


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
    """One row per chapter run: profile, chapter, claims passed/total, failing claims, time, device."""
    rows = [
        [r.data.get("profile", "?"), r.chapter, f"{r.n_passed}/{len(r.claims)}", ", ".join(r.failed) or "—",
         f"{r.data.get('wall_time_s', float('nan')):.0f} s", r.data.get("device", "?")]
        for r in records
    ]
    return text_table(["profile", "chapter", "claims", "failing", "wall", "device"], rows)


def claims_markdown(records: list[ChapterMetrics]) -> str:
    """Every claim of every chapter as one Markdown table (the book's results page)."""
    rows = [[r.chapter, c["id"], c["source"], "—" if c["paper"] is None else f"{c['paper']:.3g}", f"{c['measured']:.3g}",
             c.get("criterion", c["tolerance"]), "pass" if c["passed"] else "FAIL"]
            for r in records for c in r.claims]
    return markdown_table(["chapter", "claim", "source", "paper", "measured", "criterion", "verdict"], rows)
