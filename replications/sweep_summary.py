"""Claims across seeds: the one home of a sweep's statistics, its tables and its committed files.

Per claim, over the seeds of one chapter and profile: mean ± sd (sample sd), min and max of the
measurement, the pass rate, and the across-seed verdict. A claim is *replicated* across seeds only when
it passes at every seed, or at the rate fixed in its definition before the sweep
(:attr:`scorelib.claims.Claim.min_pass_rate`). Below that rate it is *seed 0 only* (it passes at seed 0
and at no other seed: the book's seed-0 verdict alone would have called it replicated), *seed-fragile*
(it passes at some seeds), *inconclusive* (every seed that does not pass is inconclusive), or *not
replicated* (it passes at no seed). A seed passes when its verdict is *replicated*.

A summary is a dict, the content of ``summary.json``; the tables are drawn from it, so a committed summary
is read and rendered, never recomputed. Committed sweeps live beside the artifacts, outside their
manifest: ``replications/<chapter>/sweeps/<profile>/seed-<s>.json`` (each seed's metrics.json) and
``summary.json``.
"""

from __future__ import annotations

import json
import math
import shutil
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from replications import CHAPTER_ORDER, ROOT, report
from scorelib.claims import markdown_table, text_table, verdict_of
from scorelib.errors import ConfigError, MissingArtifactError

SUMMARY = "summary.json"


@dataclass(frozen=True)
class ClaimAcrossSeeds:
    """One claim's measurements and verdicts at each seed (in seed order)."""

    entries: tuple[dict, ...]  # the claim's metrics.json entry of each seed
    seeds: tuple[int, ...]

    @property
    def values(self) -> list[float]:
        return [e["measured"] for e in self.entries if e.get("measured") is not None and math.isfinite(e["measured"])]

    @property
    def passed_seeds(self) -> list[int]:
        return [s for s, e in zip(self.seeds, self.entries) if verdict_of(e) == "replicated"]

    @property
    def min_pass_rate(self) -> float:
        rates = {e.get("min_pass_rate", 1.0) for e in self.entries}
        if len(rates) > 1:
            raise ConfigError(f"claim {self.entries[0]['id']}: min_pass_rate differs between seeds ({sorted(rates)}): "
                              f"the seeds come from different definitions; rerun the sweep with --force")
        return rates.pop()

    @property
    def required(self) -> int:
        """How many seeds must pass."""
        return math.ceil(self.min_pass_rate * len(self.seeds) - 1e-9)

    @property
    def verdict(self) -> str:
        passed, n = self.passed_seeds, len(self.seeds)
        if len(passed) >= self.required:
            return "replicated"
        if all(verdict_of(e) != "not replicated" for e in self.entries):
            return "inconclusive"
        if not passed:
            return "not replicated"
        return "seed 0 only" if passed == [0] and n > 1 else "seed-fragile"

    def as_dict(self) -> dict:
        """The claim's entry of ``summary.json``."""
        first, values = self.entries[0], self.values
        return {
            "id": first["id"], "quantity": first.get("quantity", ""), "source": first.get("source", ""),
            "check": first.get("check", False), "criterion": first.get("criterion", ""),
            "digits": first.get("digits", 3),
            "seeds": list(self.seeds), "measured": [e.get("measured") for e in self.entries],
            "verdicts": [verdict_of(e) for e in self.entries],
            "n": len(self.seeds), "n_finite": len(values),
            "mean": statistics.fmean(values) if values else None,
            "sd": statistics.stdev(values) if len(values) > 1 else None,
            "min": min(values) if values else None, "max": max(values) if values else None,
            "n_passed": len(self.passed_seeds), "pass_rate": len(self.passed_seeds) / len(self.seeds),
            "min_pass_rate": self.min_pass_rate, "required": self.required, "verdict": self.verdict,
            "control_passes": sum(e.get("control_verdict") == "replicated" for e in self.entries),
        }


def summarise(records: Sequence[report.ChapterMetrics]) -> dict:
    """The across-seed summary (``summary.json``) of one chapter's seeds, all of one profile."""
    if not records:
        raise ConfigError("no seeds to summarise")
    keys = {(r.chapter, r.data.get("profile")) for r in records}
    if len(keys) > 1:
        raise ConfigError(f"a summary is of one chapter and profile, got {sorted(keys)}")
    records = sorted(records, key=lambda r: r.data["seed"])
    seeds = [r.data["seed"] for r in records]
    if len(set(seeds)) < len(seeds):
        raise ConfigError(f"{records[0].chapter}: seed repeated in {[str(r.path) for r in records]}")
    ids = list(dict.fromkeys(c["id"] for r in records for c in r.claims))
    claims = []
    for claim_id in ids:
        present = [(r.data["seed"], c) for r in records for c in r.claims if c["id"] == claim_id]
        claims.append(ClaimAcrossSeeds(tuple(c for _, c in present), tuple(s for s, _ in present)).as_dict())
    summary = {"chapter": records[0].chapter, "profile": records[0].data.get("profile"), "seeds": seeds,
               "git_commits": sorted({str(r.data.get("git_commit")) for r in records}), "claims": claims}
    summary["summary"] = summary_line(summary)
    return summary


def summary_line(summary: dict) -> str:
    """'9/12 claims replicated across 5 seeds · 2 seed-fragile · 1 seed 0 only · …' (checks not counted)."""
    counted = [c for c in summary["claims"] if not c["check"]]
    count = {v: sum(c["verdict"] == v for c in counted) for v in ("replicated", "seed-fragile", "seed 0 only",
                                                                   "inconclusive", "not replicated")}
    text = (f"{count.pop('replicated')}/{len(counted)} claims replicated across {len(summary['seeds'])} seeds · "
            + " · ".join(f"{n} {v}" for v, n in count.items()))
    defects = [c["id"] for c in counted if c["control_passes"]]
    return text + (f" · CONTROL PASSES at some seed: {', '.join(defects)}" if defects else "")


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
    table = markdown_table(header, rows) if markdown else text_table(header, rows)
    title = f"{summary['chapter']} · {summary['profile']} · seeds {', '.join(map(str, summary['seeds']))}"
    return (f"{table}\n\n**{summary['summary']}.**" if markdown else f"{title}\n{table}\n{summary['summary']}")


def book_table(summaries: Sequence[dict]) -> str:
    """The scoreboard across seeds, one row per chapter and profile (Markdown)."""
    def ids(s: dict, verdict: str) -> str:
        return ", ".join(c["id"] for c in s["claims"] if not c["check"] and c["verdict"] == verdict) or "—"

    rows = [[s["chapter"], s["profile"], len(s["seeds"]),
             f"{sum(c['verdict'] == 'replicated' for c in s['claims'] if not c['check'])}/"
             f"{sum(not c['check'] for c in s['claims'])}",
             ids(s, "seed 0 only"), ids(s, "seed-fragile"), ids(s, "inconclusive"), ids(s, "not replicated")]
            for s in summaries]
    return markdown_table(["chapter", "profile", "seeds", "replicated across seeds", "seed 0 only", "seed-fragile",
                           "inconclusive", "not replicated"], rows)


# -- where sweeps are: the run folders, and the committed copies -----------------------------------------


@dataclass(frozen=True)
class ChapterSweep:
    """The finished seeds of one chapter and profile in a sweep's run folders, and the seed folders that are not."""

    records: tuple[report.ChapterMetrics, ...]
    unfinished: tuple[Path, ...]


def run_sweeps(output: Path, profile: str | None = None) -> dict[tuple[str, str], ChapterSweep]:
    """Every ``<output>/<profile>/<chapter>/seed-<s>/`` in book order, keyed by (profile, chapter)."""
    from replications.sweep import finished  # the one definition of a finished cell

    found: dict[tuple[str, str], ChapterSweep] = {}
    for chapter_dir in sorted(Path(output).glob(f"{profile or '*'}/*/")):
        prof, chapter = chapter_dir.parent.name, chapter_dir.name
        done, unfinished = [], []
        for seed_dir in sorted(chapter_dir.glob("seed-*")):
            seed = int(seed_dir.name.removeprefix("seed-")) if seed_dir.name[5:].isdigit() else -1
            record = finished(seed_dir, chapter, prof, seed)
            (done if record is not None else unfinished).append(record or seed_dir)
        if done or unfinished:
            found[(prof, chapter)] = ChapterSweep(tuple(done), tuple(unfinished))
    order = {c: i for i, c in enumerate(CHAPTER_ORDER)}
    return dict(sorted(found.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], len(order)), kv[0][1])))


def committed_dir(chapter: str, profile: str) -> Path:
    return ROOT / chapter / "sweeps" / profile


def commit(sweep: ChapterSweep) -> Path:
    """Copy a chapter's finished seeds and their summary into :func:`committed_dir`, replacing what was there (a
    committed summary is always of exactly the seeds beside it). Refuses a sweep with unfinished seeds."""
    if sweep.unfinished:
        raise ConfigError(f"unfinished seed folder(s) {', '.join(map(str, sweep.unfinished))} (see their log.txt): "
                          f"rerun the sweep, or delete the folder to commit the other seeds")
    summary = summarise(sweep.records)
    target = committed_dir(summary["chapter"], summary["profile"])
    staging = target.with_name(f".{target.name}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for record in sweep.records:
        shutil.copyfile(record.path, staging / f"seed-{record.data['seed']}.json")
    (staging / SUMMARY).write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


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
        seeds = summary["seeds"]
        span = f"{seeds[0]}–{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 1 else \
            ", ".join(map(str, seeds))
        parts.append(f"**{profile.capitalize()} profile, seeds {span}** ({PROFILE_NOTES.get(profile, profile)}):\n\n"
                     + claims_table(summary, markdown=True))
    return "\n\n".join(parts)


def committed_summaries(profile: str | None = None) -> list[dict]:
    """Every committed summary, in book order (profile ``None``: all profiles)."""
    paths = [p for c in CHAPTER_ORDER for p in sorted((ROOT / c / "sweeps").glob(f"{profile or '*'}/{SUMMARY}"))]
    return [json.loads(p.read_text(encoding="utf-8")) for p in paths]
