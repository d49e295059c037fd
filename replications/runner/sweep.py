"""``python -m replications sweep``: every (chapter, seed) cell of a grid retrained, on Dask distributed.

Each cell runs into ``<output>/<profile>/<chapter>/seed-<s>/``: the executed notebook, ``figures/``,
``metrics.json``, ``log.txt`` (the kernel's output and the cell's status) and the retrained weights under
``artifacts/`` (never over the committed ones: the folder holds :data:`~replications.chapter.RUN_ARTIFACTS`).
A cell that fails or dies is reported with its log and retried once; one that fails again is listed at the
end and makes the exit code non-zero. A finished cell (its ``metrics.json`` complete and of the requested
chapter, profile and seed, :func:`~replications.runner.report.finished`) is skipped when the sweep is run again,
unless ``force``. The cells run through the same executor as ``run --workers N``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

from replications.parameters import check_parameters
from replications.runner.chapters import available_chapters, check_chapters, notebook_path
from replications.runner.cluster import Cluster, check_target, connect
from replications.runner.executor import CellResult, execute_tasks
from replications.runner.plan import Cell, sweep_tasks
from replications.runner.report import finished
from scorelib import runtime
from scorelib.claims import text_table
from scorelib.errors import ConfigError

DEFAULT_OUTPUT = Path("_build/sweeps")


def sweep(chapters: list[str], seeds: list[int], *, profile: str, device: str = "auto",
          output: Path = DEFAULT_OUTPUT, force: bool = False, scheduler: str | None = None,
          workers: int | None = None, threads: int | None = None, notebooks: Mapping[str, Path] | None = None,
          cluster: Cluster | None = None, progress: bool = True) -> list[CellResult]:
    """Run the grid ``chapters`` (all when empty) × ``seeds`` and print a report; returns every cell's result.

    ``notebooks``: each chapter's notebook (default: the book's). ``cluster``: an open cluster to use (default: one
    from :func:`~replications.runner.cluster.connect`, closed at the end). Ctrl-C cancels the cells still running, keeps
    the finished ones and raises KeyboardInterrupt. Bad input is a :class:`ConfigError`, raised before anything runs.
    """
    if notebooks is None:
        notebooks = {c: notebook_path(c) for c in available_chapters()}
    chapters = check_chapters(chapters, list(notebooks))
    if not seeds:
        raise ConfigError("no seeds to sweep: give --seeds, e.g. 0-4")
    for seed in seeds:
        check_parameters(profile, True, seed, device)
    if cluster is None:
        check_target(scheduler, workers, threads)
        if scheduler is None:
            runtime.get_device(device)  # an absent GPU is an error here, before any cell starts
    grid = [Cell(c, s) for c in chapters for s in seeds]
    results: dict[Cell, CellResult] = {}
    for cell in grid:
        record = None if force else finished(cell.run_dir(output, profile), cell.chapter, profile, cell.seed)
        if record is not None:
            results[cell] = CellResult(cell, cell.run_dir(output, profile), "skipped", 0, record.n_passed,
                                       len(record.counted), record.data.get("wall_time_s", 0.0))
    todo = [cell for cell in grid if cell not in results]
    print(f"{len(grid)} cells ({len(chapters)} chapter(s) × {len(seeds)} seed(s), profile {profile}): "
          f"{len(results)} finished earlier, {len(todo)} to run", flush=True)
    start = time.perf_counter()
    if todo:
        own = cluster is None
        cluster = cluster or connect(scheduler, workers=workers, threads=threads)
        try:
            print(cluster.description + (f"; dashboard {cluster.dashboard}" if cluster.dashboard else ""), flush=True)
            tasks = sweep_tasks(todo, notebooks, profile=profile, output=output)
            try:
                results.update(execute_tasks(tasks, cluster=cluster, profile=profile, device=device,
                                             progress=progress, skipped=len(results)))
            except KeyboardInterrupt:
                print(f"the finished cells are kept under {Path(output).resolve() / profile}; run the same command "
                      f"again to run the rest", flush=True)
                raise
        finally:
            if own:
                cluster.close()
    ordered = [results[cell] for cell in grid]
    print(_report(ordered, time.perf_counter() - start, profile, output))
    return ordered


def _report(results: list[CellResult], wall: float, profile: str, output: Path) -> str:
    """The grid's table, the failures with their logs, and the time the sweep took."""
    rows = [[r.cell.chapter, str(r.cell.seed), r.status + (f" (attempt {r.attempts})" if r.attempts > 1 else ""),
             f"{r.passed}/{r.total}", f"{r.wall_time_s:.0f} s", str(r.log) if not r.ok else str(r.run_dir)]
            for r in results]
    header = ["chapter", "seed", "status", "replicated", "wall", "run folder (log if failed)"]
    lines = ["", text_table(header, rows), ""]
    failed = [r for r in results if not r.ok]
    ran = sum(r.wall_time_s for r in results if r.status != "skipped")
    lines.append(f"{len(results) - len(failed)}/{len(results)} cells ok; sweep wall time {wall:.0f} s for {ran:.0f} s "
                 f"of cells run now")
    lines += [f"FAILED: {r.cell} — {r.error} — log {r.log}" for r in failed]
    lines.append(f"run folders: {Path(output).resolve() / profile}; across seeds: "
                 f"python -m replications report --sweep --profile {profile}")
    return "\n".join(lines)
