"""Claims across seeds, computed: a sweep's run folders gathered per chapter and profile, each claim's statistics
and across-seed verdict, and the commit of the seeds and their ``summary.json`` to
``replications/<chapter>/sweeps/<profile>/`` (read back and drawn as tables by :mod:`replications.sweep_summary`).

Per claim, over the seeds of one chapter and profile: mean ± sd (sample sd), min and max of the
measurement, the pass rate, and the across-seed verdict. A claim is *replicated* across seeds only when
it passes at every seed, or at the rate fixed in its definition before the sweep
(:attr:`scorelib.claims.Claim.min_pass_rate`). Below that rate it is *seed 0 only* (it passes at seed 0
and at no other seed: the book's seed-0 verdict alone would have called it replicated), *seed-fragile*
(it passes at some seeds), *inconclusive* (every seed that does not pass is inconclusive), or *not
replicated* (it passes at no seed). A seed passes when its verdict is *replicated*.
"""

from __future__ import annotations

import json
import math
import shutil
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from replications import CHAPTER_ORDER
from replications.runner import report
from replications.runner.report import finished
from replications.sweep_summary import SUMMARY, committed_dir
from scorelib.claims import verdict_of
from scorelib.errors import ConfigError


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
    digests = {r.data.get("experiment_digest") for r in records}
    if len(digests) > 1:
        raise ConfigError(f"{records[0].chapter}: the seeds measured different versions of the experiment "
                          f"(experiment_digest {sorted(map(str, digests))}): rerun the older seeds with --force")
    ids = list(dict.fromkeys(c["id"] for r in records for c in r.claims))
    claims = []
    for claim_id in ids:
        present = [(r.data["seed"], c) for r in records for c in r.claims if c["id"] == claim_id]
        claims.append(ClaimAcrossSeeds(tuple(c for _, c in present), tuple(s for s, _ in present)).as_dict())
    summary = {"chapter": records[0].chapter, "profile": records[0].data.get("profile"), "seeds": seeds,
               "git_commits": sorted({str(r.data.get("git_commit")) for r in records}),
               "experiment_digest": digests.pop(), "claims": claims}
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


@dataclass(frozen=True)
class ChapterSweep:
    """The finished seeds of one chapter and profile in a sweep's run folders, and the seed folders that are not."""

    records: tuple[report.ChapterMetrics, ...]
    unfinished: tuple[Path, ...]


def run_sweeps(output: Path, profile: str | None = None) -> dict[tuple[str, str], ChapterSweep]:
    """Every ``<output>/<profile>/<chapter>/seed-<s>/`` in book order, keyed by (profile, chapter)."""
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
