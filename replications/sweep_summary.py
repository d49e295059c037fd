"""A chapter's claims across seeds, as committed: ``replications/<chapter>/sweeps/<profile>/summary.json`` read back
and drawn as tables (the chapter's "Across seeds" section, the book's scoreboard, ``report --sweep --committed``).

A summary is a dict, the content of ``summary.json``: each claim's mean ± sd, min, max, pass rate and across-seed
verdict, computed by :mod:`replications.runner.across_seeds`. The tables are drawn from it, so a committed summary
is read and rendered, never recomputed. Committed sweeps live beside the artifacts, outside their manifest:
``replications/<chapter>/sweeps/<profile>/seed-<s>.json`` (each seed's metrics.json) and ``summary.json``.
This module is on the chapters' side of the runner: the notebooks import it, and it imports nothing from
:mod:`replications.runner`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from replications import CHAPTER_ORDER, ROOT
from replications.experiment_digest import current_digest
from scorelib.claims import compare_results, markdown_table, text_table
from scorelib.errors import MissingArtifactError

SUMMARY = "summary.json"


def committed_dir(chapter: str, profile: str) -> Path:
    return ROOT / chapter / "sweeps" / profile


def is_current(summary: dict) -> bool:
    """Whether a summary's seeds measured the chapter's experiment as checked out (its profile's configuration and
    criteria, :mod:`replications.experiment_digest`). A summary without a digest predates them: not current."""
    digest = summary.get("experiment_digest")
    return digest is not None and digest == current_digest(summary["chapter"], summary["profile"])


def seed_span(seeds: Sequence[int], dash: str = "–", sep: str = ", ") -> str:
    """``0–4`` for consecutive seeds, else the seeds listed: ``0, 2, 5``."""
    consecutive = len(seeds) > 1 and list(seeds) == list(range(seeds[0], seeds[-1] + 1))
    return f"{seeds[0]}{dash}{seeds[-1]}" if consecutive else sep.join(map(str, seeds))


def earlier_version_note(summary: dict) -> str:
    """Why a summary that is not current is shown as history, and the command that measures the current one."""
    commits = ", ".join(f"`{c[:7]}`" for c in summary["git_commits"])
    span = seed_span(summary["seeds"], dash="-", sep=",")  # as --seeds takes it
    why = ("the profile's configuration or its claims' criteria have changed since"
           if summary.get("experiment_digest") else "before sweeps recorded which version they measured")
    return (f"an earlier version of this experiment, swept at {commits}, {why}: not the verdicts of today's claims; "
            f"`python -m replications sweep {summary['chapter']} --seeds {span} --profile {summary['profile']}` "
            f"measures them")


def _num(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:.{digits}g}"


def claims_table(summary: dict, *, markdown: bool = False) -> str:
    """One row per claim: the across-seed verdict, pass rate (and the rate required), mean ± sd, min, max, the
    seed-0 verdict and the criterion; Markdown for the book, fixed-width text for the command line."""
    rows = []
    for c in summary["claims"]:
        d = c["digits"]
        spread = _num(c["mean"], d) + ("" if c["sd"] is None else f" ± {_num(c['sd'], 2)}")
        if c["n_finite"] < c["n"]:
            spread += f" ({c['n'] - c['n_finite']} non-finite)"
        seed0 = c["verdicts"][c["seeds"].index(0)] if 0 in c["seeds"] else "—"
        verdict = c["verdict"] if not c["check"] else ("check holds" if c["verdict"] == "replicated" else
                                                         f"check: {c['verdict']}")
        rows.append([f"**{c['id']}**" if markdown else c["id"], verdict,
                     f"{c['n_passed']}/{c['n']} (needs {c['required']})", spread, _num(c["min"], d), _num(c["max"], d),
                     seed0, c["criterion"]])
    header = ["claim", "across seeds", "passes", "mean ± sd", "min", "max", "seed 0", "criterion"]
    if markdown:
        return f"{markdown_table(header, rows)}\n\n**{summary['summary']}.**"
    title = f"{summary['chapter']} · {summary['profile']} · seeds {', '.join(map(str, summary['seeds']))}" + \
        ("" if is_current(summary) else f"\nHISTORY: {earlier_version_note(summary)}".replace("`", ""))
    return f"{title}\n{text_table(header, rows)}\n{summary['summary']}"


def book_table(summaries: Sequence[dict]) -> str:
    """The scoreboard across seeds, one row per chapter and profile (Markdown)."""
    def ids(s: dict, verdict: str) -> str:
        return ", ".join(c["id"] for c in s["claims"] if not c["check"] and c["verdict"] == verdict) or "—"

    rows = [[s["chapter"], s["profile"] if is_current(s) else f"{s['profile']} (an earlier version)", len(s["seeds"]),
             f"{sum(c['verdict'] == 'replicated' for c in s['claims'] if not c['check'])}/"
             f"{sum(not c['check'] for c in s['claims'])}",
             ids(s, "seed 0 only"), ids(s, "seed-fragile"), ids(s, "inconclusive"), ids(s, "not replicated")]
            for s in summaries]
    return markdown_table(["chapter", "profile", "seeds", "replicated across seeds", "seed 0 only", "seed-fragile",
                           "inconclusive", "not replicated"], rows)


def read_committed(chapter: str, profile: str = "quick") -> dict:
    """A chapter's committed summary; a :class:`MissingArtifactError` with the commands that make it."""
    path = committed_dir(chapter, profile) / SUMMARY
    if not path.exists():
        raise MissingArtifactError(
            f"no committed sweep at {path}: python -m replications sweep {chapter} --seeds 0-4 --profile {profile}, "
            f"then python -m replications report --sweep --profile {profile} --write")
    return json.loads(path.read_text(encoding="utf-8"))


#: What a profile's numbers are, said above its across-seed table.
PROFILE_NOTES: dict[str, str] = {
    "full": "the replication scale and the criteria of the table above",
    "quick": "smaller models and the quick criteria, not the full profile's",
}


#: Seed 0 of a sweep and the committed artifacts are two trainings of the same code and seed that may differ in
#: floating-point summation order only (one torch thread against two): their numbers may differ by round-off carried
#: through training, far inside a statistical standard error. Half of one is the most a number with a standard
#: error may move (:func:`scorelib.claims.compare_results`); a number without one must agree at its shown digits.
SE_FRACTION = 0.5


def committed_seed_claims(chapter: str, profile: str, seed: int = 0) -> list[dict]:
    """The ``claims`` of one seed of a chapter's committed sweep (its ``seed-<s>.json``)."""
    path = committed_dir(chapter, profile) / f"seed-{seed}.json"
    if not path.exists():
        raise MissingArtifactError(f"no {path}: python -m replications sweep {chapter} --seeds 0-2 --profile "
                                   f"{profile}, then python -m replications report --sweep --profile {profile} --write")
    return json.loads(path.read_text(encoding="utf-8"))["claims"]


def seed0_differences(chapter: str, profile: str = "full") -> list[str]:
    """Where seed 0 of the committed ``profile`` sweep does not reproduce the committed artifacts'
    ``metrics.json`` (the full profile, the chapter's claims table), as "artifacts → seed 0": a claim missing on
    either side, a verdict, control verdict, floor verdict or ``converged`` flag that differs, or a stable number that
    moved by more than :data:`SE_FRACTION` of its standard error (by its shown digits where it has none). Empty when
    it reproduces them. A sweep whose seed 0 differs may have been measured on other code than the artifacts (an
    experiment digest covers configuration and criteria, not code): rerun it."""
    metrics = ROOT / chapter / "artifacts" / "metrics.json"
    if not metrics.exists():
        raise MissingArtifactError(f"no {metrics}: python -m replications run {chapter} --profile full --retrain")
    return compare_results(committed_seed_claims(chapter, profile),
                           json.loads(metrics.read_text(encoding="utf-8"))["claims"], se_fraction=SE_FRACTION)


def seed0_note(chapter: str, profile: str = "full") -> str:
    """One sentence under a sweep's table: whether its seed 0, a retrain from scratch, reproduces the chapter's
    claims table (the committed artifacts), and the numbers that are not the same at their shown digits."""
    moved = seed0_differences(chapter, profile)
    if moved:
        return ("Seed 0 of this sweep does **not** reproduce the committed artifacts (artifacts → seed 0); it may have "
                "measured other code: " + "; ".join(moved) + f". Rerun it (`python -m replications sweep {chapter} --seeds 0-2 --profile "
                f"{profile} --force`).")
    return ("Seed 0 of this sweep, a retrain from scratch, reproduces the claims table above: every verdict, "
            "control verdict and convergence flag, and every number within half its standard error "
            "(at its shown digits where it has none).")


def chapter_sweeps_markdown(chapter: str, profiles: Sequence[str] = ("full", "quick")) -> str:
    """Every committed sweep of a chapter, one titled table per profile: what the chapter's "Across seeds"
    section shows under its seed-0 claims table (read back from ``sweeps/<profile>/summary.json``)."""
    parts = []
    for profile in profiles:
        command = f"python -m replications sweep {chapter} --seeds 0-4 --profile {profile}"
        try:
            summary = read_committed(chapter, profile)
        except MissingArtifactError:
            parts.append(f"**{profile.capitalize()} profile:** not yet swept over seeds (`{command}`).")
            continue
        span, current = seed_span(summary["seeds"]), is_current(summary)
        note = PROFILE_NOTES.get(profile, profile) if current else earlier_version_note(summary)
        parts.append(f"**{profile.capitalize()} profile, seeds {span}** ({note}):\n\n"
                     + claims_table(summary, markdown=True)
                     + (f"\n\n{seed0_note(chapter, profile)}" if profile == "full" and current else ""))
    return "\n\n".join(parts)


def committed_summaries(profile: str | None = None) -> list[dict]:
    """Every committed summary, in book order (profile ``None``: all profiles)."""
    paths = [p for c in CHAPTER_ORDER for p in sorted((ROOT / c / "sweeps").glob(f"{profile or '*'}/{SUMMARY}"))]
    return [json.loads(p.read_text(encoding="utf-8")) for p in paths]
