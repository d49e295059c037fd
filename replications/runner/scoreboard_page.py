"""The book's results page as HTML: a chapter scoreboard with links, totals and provenance, and every claim.

``book/results.ipynb`` displays these tables; ``python -m replications refresh --results`` re-executes it and
rewrites the one-line summary on the landing page (:func:`write_landing_summary`). Numbers use the chapters' own
format (:func:`scorelib.claims.show_value`, each claim's significant digits), so a value reads the same here and
in its chapter.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from replications import CHAPTER_ORDER, ROOT
from replications.runner.report import ChapterMetrics, totals
from replications.sweep_summary import committed_summaries, is_current
from scorelib.claims import show_value, verdict_label

#: The landing page and the marker lines between which its summary line is rewritten.
LANDING = ROOT.parent / "book" / "intro.md"
SUMMARY_START, SUMMARY_END = "<!-- scoreboard-summary -->", "<!-- /scoreboard-summary -->"
#: Legend of the marks used in sources and tables.
DAGGER_NOTE = ("† a published number we quote but could not check against the paper's text with the tools of this "
               "build; shown as context, never used as a criterion on its own.")


#: The profiles whose committed sweeps the scoreboard shows, in this order.
SWEPT_PROFILES: tuple[str, ...] = ("full", "quick")


def across_seeds(profiles: tuple[str, ...] = SWEPT_PROFILES) -> dict[str, dict[str, dict]]:
    """The committed sweep summaries by chapter, then profile (``replications/<chapter>/sweeps/<profile>/``)."""
    out: dict[str, dict[str, dict]] = {}
    for profile in profiles:
        for s in committed_summaries(profile):
            out.setdefault(s["chapter"], {})[profile] = s
    return out


def _across(summaries: dict[str, dict] | None, claim_id: str | None = None) -> str | None:
    """Per swept profile, 'full: seed-fragile · 2/3' for one claim, or 'full: 9/11 · 3 seeds' for a chapter, one
    line each; None when the chapter has no committed sweep."""
    if not summaries:
        return None
    lines = []
    for profile, summary in summaries.items():
        if not is_current(summary):  # an earlier version of the experiment: its verdicts are not today's claims'
            if claim_id is None:
                lines.append(f"{profile}: an earlier version · {len(summary['seeds'])} seeds")
            continue
        if claim_id is None:
            counted = [c for c in summary["claims"] if not c["check"]]
            lines.append(f"{profile}: {sum(c['verdict'] == 'replicated' for c in counted)}/{len(counted)} "
                         f"· {len(summary['seeds'])} seeds")
            continue
        entry = next((c for c in summary["claims"] if c["id"] == claim_id), None)
        if entry is not None:
            lines.append(f"{profile}: {_e(entry['verdict'])} · {entry['n_passed']}/{entry['n']}")
    return "<br>".join(lines) or None


def chapter_title(chapter: str) -> str:
    """The chapter notebook's title (its first Markdown heading)."""
    nb = json.loads((ROOT / chapter / f"{chapter}.ipynb").read_text(encoding="utf-8"))
    first = "".join(nb["cells"][0]["source"]).splitlines()[0]
    return first.lstrip("# ").strip()


def chapter_href(chapter: str, anchor: str | None = None) -> str:
    """The chapter page relative to ``book/results.html`` (optionally its claims section)."""
    return f"../replications/{chapter}/{chapter}.html" + (f"#{anchor}" if anchor else "")


def _e(text: object) -> str:
    return html.escape(str(text))


#: Column widths (%) of the wide tables, so that they fit the text column (``table-layout: fixed`` in book.css).
WIDTHS = {"claims": (31, 15, 11, 8, 17, 18), "scoreboard": (5, 37, 12, 12, 12, 10, 12)}


def _table(css: str, head: str, rows: list[str]) -> str:
    """An HTML table of class ``css`` from its header row and body rows (with its column widths, if fixed)."""
    cols = "".join(f'<col style="width: {w}%">' for w in WIDTHS.get(css, ()))
    colgroup = f"<colgroup>{cols}</colgroup>\n" if cols else ""
    return (f'<table class="{css}">\n{colgroup}<thead>{head}</thead>\n<tbody>\n' + "\n".join(rows)
            + "\n</tbody>\n</table>")


def _verdict_cell(verdict: str, across: str | None = None) -> str:
    """The verdict, coloured; under it (``across``) the verdict and pass rate across the seeds of the sweep."""
    base = verdict.split(" · ")[0]  # "not replicated · still improving at our budget" is coloured as "not replicated"
    css = {"replicated": "v-yes", "not replicated": "v-no", "inconclusive": "v-maybe"}.get(base, "v-check")
    seeds = "" if across is None else f'<br><span class="seeds">seeds, {across}</span>'
    return f'<td class="verdict {css}">{_e(verdict)}{seeds}</td>'


def _number(chapter: str) -> str:
    return str(CHAPTER_ORDER.index(chapter) + 1) if chapter in CHAPTER_ORDER else ""


def scoreboard_html(records: list[ChapterMetrics], sweeps: dict[str, dict[str, dict]] | None = None) -> str:
    """One row per chapter (number, linked title, replicated / not replicated / inconclusive, checks, and per swept
    profile the claims replicated at every seed of its committed sweep), then the totals."""
    sweeps = sweeps or {}
    head = ("<tr><th>#</th><th>chapter</th><th>replicated</th><th>not replicated</th><th>inconclusive</th>"
            "<th>checks hold</th><th>across seeds</th></tr>")
    rows = []
    for r in records:
        rows.append(
            f"<tr><td>{_number(r.chapter)}</td>"
            f'<td><a href="{chapter_href(r.chapter, r.chapter + "-claims")}">{_e(chapter_title(r.chapter))}</a>'
            f"<br><code>{_e(r.chapter)}</code></td>"
            f"<td>{r.n_passed}/{len(r.counted)}</td><td>{r.count('not replicated')}</td>"
            f"<td>{r.count('inconclusive')}</td><td>{r.n_checks_held}/{len(r.checks)}</td>"
            f"<td>{_across(sweeps.get(r.chapter)) or '—'}</td></tr>")
    t = totals(records)
    rows.append(
        f"<tr class=\"total\"><td></td><td><strong>total</strong></td>"
        f"<td><strong>{t.replicated}/{t.claims}</strong></td><td><strong>{t.not_replicated}</strong></td>"
        f"<td><strong>{t.inconclusive}</strong></td><td><strong>{t.checks_held}/{t.checks}</strong></td>"
        f"<td></td></tr>")
    return _table("scoreboard", head, rows)


def provenance_html(records: list[ChapterMetrics]) -> str:
    """Where each chapter's recorded numbers come from: commit, device, versions, evaluation wall time."""
    head = "<tr><th>chapter</th><th>commit</th><th>device</th><th>python · torch · numpy</th><th>wall</th></tr>"
    rows = []
    for r in records:
        v = r.data.get("versions", {})
        commit = str(r.data.get("git_commit") or "?")
        rows.append(
            f"<tr><td><code>{_e(r.chapter)}</code></td><td><code>{_e(commit[:10])}</code></td>"
            f"<td>{_e(r.data.get('device', '?'))}</td>"
            f"<td>{_e(v.get('python', '?'))} · {_e(v.get('torch', '?'))} · {_e(v.get('numpy', '?'))}</td>"
            f"<td>{r.data.get('wall_time_s', float('nan')):.0f} s</td></tr>")
    return _table("provenance", head, rows)


def _claim_value(c: dict, key: str = "measured", se_key: str = "se") -> str:
    return show_value(c.get(key), c.get(se_key), c.get("digits", 3))


def claims_html(records: list[ChapterMetrics], sweeps: dict[str, dict[str, dict]] | None = None) -> str:
    """Every claim and check: claim (id, quantity, source), verdict (and under it, per swept profile, the verdict
    and pass rate across the seeds of its committed sweep), ours, paper, criterion, control."""
    sweeps = sweeps or {}
    head = ("<tr><th>claim</th><th>verdict</th><th>ours</th><th>paper</th><th>criterion</th>"
            "<th>control</th></tr>")
    rows = []
    for r in records:
        for c in r.claims:
            verdict = "check" if c.get("check") else verdict_label(c)
            paper = "—" if c.get("paper") is None or c.get("reference", "paper") != "paper" else _claim_value(c, "paper", "")
            target = ("" if c.get("reference", "paper") == "paper" or c.get("paper") is None
                      else f" ({_e(c['reference'])}: {_claim_value(c, 'paper', '')})")
            control = ("—" if c.get("control_measured") is None
                       else f"{_claim_value(c, 'control_measured', 'control_se')} ({_e(c.get('control_verdict'))})")
            rows.append(
                f"<tr><td><a href=\"{chapter_href(r.chapter, r.chapter + '-claims')}\"><strong>{_e(c['id'])}</strong></a>"
                f"<br>{_e(c.get('quantity', ''))}<br><em>{_e(c.get('source', ''))}</em></td>"
                f"{_verdict_cell(verdict, _across(sweeps.get(r.chapter), c['id']))}<td>{_claim_value(c)}</td>"
                f"<td>{paper}</td><td>{_e(c.get('criterion', ''))}{target}</td><td>{control}</td></tr>")
    return _table("claims", head, rows)


def summary_line(records: list[ChapterMetrics]) -> str:
    """'53 of 61 claims replicated, 5 not replicated, 3 inconclusive, in 7 chapters (full profile, seed 0).'"""
    t = totals(records)
    return (f"{t.replicated} of {t.claims} claims replicated, {t.not_replicated} not replicated, "
            f"{t.inconclusive} inconclusive, in {len(records)} chapters "
            f"(full profile, seed 0)")


def landing_block(records: list[ChapterMetrics]) -> str:
    return (f"{SUMMARY_START}\n**Scoreboard:** {summary_line(records)}; see {{doc}}`the results <results>`.\n"
            f"{SUMMARY_END}")


def write_landing_summary(records: list[ChapterMetrics], path: Path = LANDING) -> bool:
    """Rewrite the summary between the markers of the landing page; True when the text changed."""
    text = path.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(SUMMARY_START) + r".*?" + re.escape(SUMMARY_END), re.S)
    if not pattern.search(text):
        raise ValueError(f"{path} has no {SUMMARY_START} … {SUMMARY_END} block")
    new = pattern.sub(lambda _: landing_block(records), text)
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text
