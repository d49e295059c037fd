"""``python -m replications run``: one cell per chapter (its seed), executed and shown as one scoreboard.

Each chapter runs into ``<output>/<profile>/<chapter>/``: the executed notebook, ``figures/``, ``metrics.json`` and
``log.txt``. A chapter whose cell raises makes the exit code non-zero, and so does an evaluation of the committed
artifacts whose verdicts or stable numbers moved from the committed ``metrics.json`` (the notebook raises
:class:`~scorelib.errors.ResultsMovedError`). A claim that does not replicate at our scale is a result, shown as
such, not a failure. The other chapters still run, without retry.

By default as many chapters run at a time as this process has cores (at most one per chapter), on a local Dask
cluster, each with cores ÷ workers torch threads; ``--workers 1`` runs them one after another in this process, each
with every core.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

from replications.runner.chapters import check_request, notebook_path
from replications.runner.cluster import Cluster, connect, cores
from replications.runner.executor import CellResult, execute_tasks
from replications.runner.plan import run_tasks
from scorelib.claims import text_table

DEFAULT_OUTPUT = Path("_build/runs")


def summary(results: list[CellResult]) -> str:
    """The final table: one row per chapter."""
    rows = [[r.chapter, f"{r.passed}/{r.total}", f"{r.wall_time_s:.0f} s",
             "ok" if r.ok else (r.error or "no claims recorded")] for r in results]
    return text_table(["chapter", "claims replicated", "wall time", "status"], rows)


def default_workers(chapters: int, available: int | None = None) -> int:
    """Chapters run at a time when ``--workers`` is not given: one per core, never more than there are chapters. On 2
    cores two one-thread chapters at a time finish sooner than one two-thread chapter after another (a chapter on one
    thread takes 1.27× its two-thread time on average, the quick sweep of 2026-11-30)."""
    return max(1, min(available or cores(), chapters))


def run(chapters: list[str], *, profile: str = "full", retrain: bool = False, seed: int = 0, device: str = "auto",
        output: Path = DEFAULT_OUTPUT, progress: bool = True, workers: int | None = None,
        notebooks: Mapping[str, Path] | None = None, cluster: Cluster | None = None) -> list[CellResult]:
    """Run the chapters (all when empty) and print the scoreboard; returns each chapter's result, in the order
    asked. Raises ConfigError on bad input, before any chapter starts.

    ``workers`` > 1: that many chapters at a time, on a Dask LocalCluster whose workers share the cores (each chapter
    gets cores ÷ workers torch threads), the costliest first; 1: one after another in this process; None:
    :func:`default_workers`. ``notebooks``: each chapter's notebook (default: the book's). ``cluster``: an open
    cluster to run on, left open."""
    known = None if notebooks is None else list(notebooks)
    chapters = check_request(chapters, profile, retrain, device, seed, known)
    notebooks = notebooks or {c: notebook_path(c) for c in chapters}
    tasks = run_tasks(chapters, notebooks, profile=profile, retrain=retrain, seed=seed, output=output)
    start = time.perf_counter()
    # a bad or oversubscribing worker count is a ConfigError from the cluster's check, before any chapter
    workers = default_workers(len(tasks)) if workers is None and cluster is None else workers
    opened = cluster or (connect(workers=workers) if workers != 1 else None)
    try:
        print(f"{len(tasks)} chapter(s), profile {profile}{', retrain' if retrain else ''}, "
              + (f"on a {opened.description}" if opened else "one after another in this process"), flush=True)
        done = execute_tasks(tasks, cluster=opened, profile=profile, device=device, attempts=1, progress=progress,
                             description=f"run {profile}")
    except KeyboardInterrupt:
        print(f"the finished chapters are kept under {Path(output).resolve() / profile}", flush=True)
        raise
    finally:
        if opened is not None and cluster is None:
            opened.close()
    results = [done[task.cell] for task in tasks]
    failed = [r for r in results if not r.ok]
    print()
    print(summary(results))
    print(f"\n{sum(r.passed for r in results)}/{sum(r.total for r in results)} claims replicated in {len(results)} "
          f"chapter(s); {'all ok' if not failed else 'FAILED: ' + ', '.join(r.chapter for r in failed)}; "
          f"wall time {time.perf_counter() - start:.0f} s")
    print(f"run folders: {Path(output).resolve() / profile}")
    return results
