"""The machinery of ``python -m benchmarks``: contenders, paired rounds, the table and the JSON rows.

A :class:`Benchmark` is one row of the comparison: contenders that do the same work (same network, data,
batch, schedule and step count), one of them the bare hand-written torch loop. Timing is in paired rounds:
after warm-up, every round runs each contender once (in a rotated order, so no contender always follows the
same one), and each time is divided by that round's bare time. The machine's speed drifts (a shared machine
by up to 2× within minutes), and the drift cancels in the per-round ratio; the table reports the median of
those ratios and their interquartile range.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

KINDS = ("ours", "bare", "variant", "peer")


@dataclass
class Contender:
    """One way of doing a row's work. ``run()`` is one timed call; ``extra()`` (optional) returns fields for the
    JSON row after the timing (e.g. the solver's function evaluations). ``run is None`` when it cannot run
    (``status`` says why: e.g. "not installed")."""

    name: str
    kind: str  # one of KINDS
    run: Callable[[], Any] | None
    status: str = "ok"
    note: str = ""
    extra: Callable[[], dict[str, Any]] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")


@dataclass
class Benchmark:
    """A row: ``name`` (for ``--only``), a one-line ``title``, what one timed call does (``unit``) and the
    contenders (exactly one of kind "bare")."""

    name: str
    title: str
    unit: str
    contenders: list[Contender] = field(default_factory=list)
    warmup: int | None = None  # untimed calls per contender; None: the runner's --warmup

    @property
    def bare(self) -> Contender:
        (bare,) = [c for c in self.contenders if c.kind == "bare"]
        return bare


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (pos - lo) * (ordered[hi] - ordered[lo])


def time_rounds(bench: Benchmark, device: torch.device, rounds: int, warmup: int,
                log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Warm up, time ``rounds`` paired rounds and return one JSON row per contender."""
    runnable = [c for c in bench.contenders if c.run is not None]
    bare = bench.bare
    if bare.run is None:
        raise RuntimeError(f"{bench.name}: the bare contender cannot run ({bare.status})")

    def timed(c: Contender) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        c.run()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start

    for c in runnable:
        for _ in range(warmup if bench.warmup is None else min(warmup, bench.warmup)):
            timed(c)
    times: dict[str, list[float]] = {c.name: [] for c in runnable}
    for r in range(rounds):
        shift = r % len(runnable)
        for c in runnable[shift:] + runnable[:shift]:
            times[c.name].append(timed(c))
        log(f"  {bench.name}: round {r + 1}/{rounds}")
    ratios = {name: [t / b for t, b in zip(ts, times[bare.name])] for name, ts in times.items()}
    peers = [c for c in runnable if c.kind == "peer"]
    fastest = min(peers, key=lambda c: statistics.median(ratios[c.name])) if peers else None

    rows = []
    for c in bench.contenders:
        row: dict[str, Any] = {"benchmark": bench.name, "contender": c.name, "kind": c.kind,
                               "ours": c.kind == "ours", "unit": bench.unit, "status": c.status}
        if c.note:
            row["note"] = c.note
        if c.run is None:
            row |= {"median_ms": None, "ratio_to_bare": None, "ratio_iqr": None, "ratio_to_fastest_peer": None}
            rows.append(row)
            continue
        rs = ratios[c.name]
        row["median_ms"] = 1e3 * statistics.median(times[c.name])
        row["ratio_to_bare"] = statistics.median(rs)
        row["ratio_iqr"] = [_quantile(rs, 0.25), _quantile(rs, 0.75)]
        row["ratio_to_fastest_peer"] = (
            statistics.median([t / f for t, f in zip(times[c.name], times[fastest.name])]) if fastest else None)
        if fastest is not None:
            row["fastest_peer"] = fastest.name
        row["rounds"] = len(rs)
        if c.extra is not None:
            row |= c.extra()
        rows.append(row)
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """The rows as one fixed-width table (ratios to the bare loop and to the fastest peer, medians of paired
    rounds; the bracket is the interquartile range of the ratio)."""
    head = f"{'benchmark':<18} {'contender':<38} {'median ms':>10} {'/ bare':>7} {'IQR':>13} {'/ peer':>7}  note"
    lines = [head, "-" * len(head)]
    last = None
    for row in rows:
        bench = row["benchmark"] if row["benchmark"] != last else ""
        last = row["benchmark"]
        name = ("* " if row["ours"] else "  ") + row["contender"]
        if row["median_ms"] is None:
            lines.append(f"{bench:<18} {name:<38} {'':>10} {'':>7} {'':>13} {'':>7}  {row['status']}")
            continue
        iqr = f"{row['ratio_iqr'][0]:.2f}–{row['ratio_iqr'][1]:.2f}"
        peer = f"{row['ratio_to_fastest_peer']:.2f}" if row["ratio_to_fastest_peer"] is not None else "–"
        extras = [f"{k}={row[k]}" for k in ("nfe",) if k in row]
        note = "; ".join(extras + ([row["note"]] if row.get("note") else []))
        lines.append(f"{bench:<18} {name:<38} {row['median_ms']:>10.1f} {row['ratio_to_bare']:>7.2f} {iqr:>13} "
                     f"{peer:>7}  {note}")
    return "\n".join(lines)
