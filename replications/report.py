"""Scoreboards: gather ``metrics.json`` files into one table of chapters and claims.

Used by ``python -m replications report`` (run folders) and by ``book/results.ipynb``
(the committed artifacts of every chapter).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from replications import CHAPTER_ORDER, ROOT


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


def load(paths: list[Path]) -> list[ChapterMetrics]:
    """Read metrics files, in book order; unreadable files are reported, not skipped silently."""
    records = []
    for path in paths:
        try:
            records.append(ChapterMetrics(path, json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, json.JSONDecodeError, KeyError) as err:
            raise ValueError(f"cannot read {path}: {err}") from err
    return sorted(records, key=lambda r: (r.data.get("profile", ""), _order(r.chapter)))


def run_metrics(output: Path) -> list[ChapterMetrics]:
    """Every ``<output>/<profile>/<chapter>/metrics.json``."""
    return load(sorted(Path(output).glob("*/*/metrics.json")))


def committed_metrics() -> list[ChapterMetrics]:
    """Every chapter's ``replications/<chapter>/artifacts/metrics.json`` (the full profile)."""
    return load(sorted(ROOT.glob("*/artifacts/metrics.json")))


def format_table(rows: list[list[str]], header: list[str]) -> str:
    """A fixed-width text table."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda r: "  ".join(str(x).ljust(w) for x, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def scoreboard(records: list[ChapterMetrics]) -> str:
    """One row per chapter run: profile, chapter, claims passed/total, failing claims, time, device."""
    rows = [
        [r.data.get("profile", "?"), r.chapter, f"{r.n_passed}/{len(r.claims)}", ", ".join(r.failed) or "—",
         f"{r.data.get('wall_time_s', float('nan')):.0f} s", r.data.get("device", "?")]
        for r in records
    ]
    return format_table(rows, ["profile", "chapter", "claims", "failing", "wall", "device"])


def claims_markdown(records: list[ChapterMetrics]) -> str:
    """Every claim of every chapter as one Markdown table (the book's results page)."""
    lines = ["| chapter | claim | source | paper | measured | criterion | verdict |", "|---|---|---|---|---|---|---|"]
    for r in records:
        for c in r.claims:
            paper = "—" if c["paper"] is None else f"{c['paper']:.3g}"
            lines.append(f"| {r.chapter} | {c['id']} | {c['source']} | {paper} | {c['measured']:.3g} | "
                         f"{c.get('criterion', c['tolerance'])} | {'pass' if c['passed'] else 'FAIL'} |")
    return "\n".join(lines)
