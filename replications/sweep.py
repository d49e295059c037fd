"""``python -m replications sweep``: every (chapter, seed) cell of a grid, retrained through the runner's own
papermill path (:func:`replications.runner.execute`), on Dask distributed (:mod:`replications.cluster`).

Each cell runs into ``<output>/<profile>/<chapter>/seed-<s>/``: the executed notebook, ``figures/``,
``metrics.json``, ``log.txt`` (the kernel's output and the cell's status) and the retrained weights under
``artifacts/`` (never over the committed ones: the folder holds :data:`~replications.chapter.RUN_ARTIFACTS`).
A cell that fails or dies is reported with its log and retried once; one that fails again is listed at the
end and makes the exit code non-zero. A finished cell (its ``metrics.json`` complete and of the requested
chapter, profile and seed) is skipped when the sweep is run again, unless ``force``.

:func:`dispatch`, the Dask part, also runs the chapters of ``python -m replications run --workers N``.
"""

from __future__ import annotations

import os
import re
import statistics
import time
import traceback
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from distributed import as_completed
from tqdm import tqdm

from replications import report, runner, sweep_summary
from replications.chapter import RUN_ARTIFACTS
from replications.cluster import Cluster, check_target, connect
from replications.parameters import check_parameters
from scorelib import runtime
from scorelib.claims import text_table
from scorelib.errors import ConfigError, CorruptArtifactError

DEFAULT_OUTPUT = Path("_build/sweeps")
LOG = "log.txt"
#: Where a failed cell's metrics.json is moved, so that a rerun does not take the cell for finished.
FAILED_METRICS = "metrics.failed.json"
ATTEMPTS = 2  # a failed cell is retried once


def parse_seeds(text: str) -> list[int]:
    """``"0-4"`` → [0, 1, 2, 3, 4]; ``"0,2,5"`` → [0, 2, 5]; ``"3"`` → [3]; items may mix (``"0-2,7"``)."""
    seeds: list[int] = []
    for item in str(text).split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", item)
        if match is None:
            raise ConfigError(f"bad --seeds {text!r}: write non-negative seeds as a range 0-4, a list 0,2,5 "
                              f"or one seed 3")
        lo, hi = int(match[1]), int(match[2] if match[2] is not None else match[1])
        if hi < lo:
            raise ConfigError(f"bad --seeds {text!r}: the range {lo}-{hi} is empty; write the low seed first "
                              f"({hi}-{lo})")
        seeds.extend(s for s in range(lo, hi + 1) if s not in seeds)
    return sorted(seeds)


@dataclass(frozen=True)
class Cell:
    """One point of the grid."""

    chapter: str
    seed: int

    def run_dir(self, output: Path, profile: str) -> Path:
        return (Path(output) / profile / self.chapter / f"seed-{self.seed}").resolve()

    def __str__(self) -> str:
        return f"{self.chapter} seed {self.seed}"


@dataclass
class CellResult:
    """How a cell ended: ``done``, ``skipped`` (finished by an earlier sweep) or ``failed`` (twice)."""

    cell: Cell
    run_dir: Path
    status: str
    attempts: int = 0
    passed: int = 0
    total: int = 0
    wall_time_s: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    @property
    def log(self) -> Path:
        return self.run_dir / LOG


@dataclass(frozen=True)
class Task:
    """One notebook execution on a Dask worker: a cell of a sweep, or a chapter of ``run --workers``.

    ``in_sweep``: a sweep's cell keeps its retrained weights in ``run_dir/artifacts`` (the
    :data:`~replications.chapter.RUN_ARTIFACTS` marker), and a failed cell's metrics.json is moved aside so that a
    rerun runs it again. A chapter of ``run`` behaves as it does when run alone: a full retrain rewrites the
    committed artifacts."""

    cell: Cell
    notebook: Path
    run_dir: Path
    retrain: bool = True
    in_sweep: bool = True

    @property
    def label(self) -> str:
        return str(self.cell) if self.in_sweep else self.cell.chapter


def finished(run_dir: Path, chapter: str, profile: str, seed: int) -> report.ChapterMetrics | None:
    """The cell's metrics when they are complete and of this chapter, profile and seed (a retrain), else None."""
    try:
        record = report.read(Path(run_dir) / "metrics.json")
    except CorruptArtifactError:  # absent, unreadable or incomplete: not finished
        return None
    data = record.data
    same = (data.get("profile"), data.get("seed"), data.get("retrain")) == (profile, seed, True)
    return record if same and record.chapter == chapter and record.counted and "summary" in data else None


def run_cell(task: Task, *, profile: str, device: str, threads: int, attempt: int,
             attempts: int = ATTEMPTS) -> runner.Outcome:
    """The job a Dask worker runs: execute the task's notebook with ``threads`` torch threads (set in the environment
    the papermill kernel inherits), logging to ``run_dir/log.txt``.

    The kernel gets the allocator settings it gets under ``run`` (:data:`scorelib.runtime.KERNEL_ENVIRONMENT`), not
    the Dask nanny's ``MALLOC_TRIM_THRESHOLD_=65536``: :func:`runner.execute` applies them."""
    os.environ.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    run_dir = task.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    if task.in_sweep:
        (run_dir / RUN_ARTIFACTS).touch()
    with open(run_dir / LOG, "w" if attempt == 1 else "a", encoding="utf-8") as log:
        log.write(f"== {task.label}, profile {profile}{', retrain' if task.retrain else ''}, attempt "
                  f"{attempt}/{attempts}, {threads} torch thread(s), host {os.uname().nodename}, pid {os.getpid()}\n")
        log.flush()
        try:
            outcome = runner.execute(task.cell.chapter, task.notebook, run_dir, profile=profile, retrain=task.retrain,
                                     seed=task.cell.seed, device=device, progress=False, log=log)
        except Exception:
            log.write(traceback.format_exc())
            raise
        status = "ok" if outcome.ok else f"FAILED: {outcome.error or 'no claims recorded'}"
        log.write(f"== {status} ({outcome.passed}/{outcome.total} claims replicated) "
                  f"after {outcome.wall_time_s:.0f} s\n")
    if task.in_sweep and not outcome.ok and (run_dir / "metrics.json").exists():
        os.replace(run_dir / "metrics.json", run_dir / FAILED_METRICS)
    return outcome


def sweep(chapters: list[str], seeds: list[int], *, profile: str, device: str = "auto",
          output: Path = DEFAULT_OUTPUT, force: bool = False, scheduler: str | None = None,
          workers: int | None = None, threads: int | None = None, notebooks: Mapping[str, Path] | None = None,
          cluster: Cluster | None = None, progress: bool = True) -> list[CellResult]:
    """Run the grid ``chapters`` (all when empty) × ``seeds`` and print a report; returns every cell's result.

    ``notebooks``: each chapter's notebook (default: the book's). ``cluster``: an open cluster to use (default: one
    from :func:`~replications.cluster.connect`, closed at the end). Ctrl-C cancels the cells still running, keeps
    the finished ones and raises KeyboardInterrupt. Bad input is a :class:`ConfigError`, raised before anything runs.
    """
    if notebooks is None:
        notebooks = {c: runner.notebook_path(c) for c in runner.available_chapters()}
    chapters = runner.check_chapters(chapters, list(notebooks))
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
            tasks = [Task(cell, Path(notebooks[cell.chapter]).resolve(), cell.run_dir(output, profile)) for cell in todo]
            try:
                results.update(dispatch(cluster, tasks, profile=profile, device=device, progress=progress,
                                        skipped=len(results)))
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


def expected_seconds(chapter: str, profile: str, retrain: bool = True) -> float:
    """A chapter's expected wall time, to start the costliest first: a retrain's, the median of its committed sweep
    cells at ``profile`` (``replications/<chapter>/sweeps/<profile>/seed-<s>.json``); an evaluation's, that of the
    committed ``artifacts/metrics.json``. 0 when none is committed."""
    if retrain:
        paths = list(sweep_summary.committed_dir(chapter, profile).glob("seed-*.json"))  # each seed's metrics.json
    else:
        paths = [runner.ROOT / chapter / "artifacts" / "metrics.json"]
    times = []
    for path in paths:
        try:
            times.append(float(report.read(path).data.get("wall_time_s") or 0.0))
        except (CorruptArtifactError, ValueError, TypeError):
            continue  # a cost estimate only: an unreadable or absent file orders its chapter last, it fails nothing
    return statistics.median(times) if times else 0.0


def longest_first(cells: list[Cell], profile: str, retrain: bool = True) -> list[tuple[Cell, int]]:
    """The cells with their Dask priorities, the costliest first (:func:`expected_seconds`; ties in grid order):
    the long cells start early and the short ones fill the workers at the end, instead of the book's longest chapter
    running alone on one worker while the others idle."""
    cost = {c: expected_seconds(c, profile, retrain) for c in {cell.chapter for cell in cells}}
    ordered = sorted(cells, key=lambda cell: -cost[cell.chapter])  # stable: grid order within a chapter
    return [(cell, len(ordered) - rank) for rank, cell in enumerate(ordered)]


def task_key(cell: Cell, attempt: int) -> str:
    """The cell's Dask key, ``sweep-cell-<8 hex>-<chapter>-seed-<s>-attempt-<a>``: unique, and the same task group
    (``sweep-cell``, :func:`dask.utils.key_split`) for every cell. The scheduler orders its queue by priority only
    within a group it sees as larger than the cluster: with a group per chapter, cells went straight to the workers'
    own queues and a short chapter's last seed could start before a long chapter's second."""
    return f"sweep-cell-{uuid.uuid4().hex[:8]}-{cell.chapter}-seed-{cell.seed}-attempt-{attempt}"


def dispatch(cluster: Cluster, tasks: list[Task], *, profile: str, device: str, attempts: int = ATTEMPTS,
             progress: bool = True, skipped: int = 0, description: str | None = None) -> dict[Cell, CellResult]:
    """Run the tasks on the cluster, the costliest first (:func:`longest_first`), each failure retried until it has
    had ``attempts`` tries; one progress bar (``skipped`` tasks already done), one line per finished task. The tasks
    all retrain, or all evaluate. Returns each task's result. Ctrl-C cancels the tasks still running and raises
    KeyboardInterrupt."""
    by_cell = {task.cell: task for task in tasks}
    (retrain,) = {task.retrain for task in tasks} or {True}  # one kind of task a dispatch: all retrain or none
    priorities = dict(longest_first(list(by_cell), profile, retrain))
    results: dict[Cell, CellResult] = {}

    def submit(task: Task, attempt: int):
        return cluster.client.submit(
            run_cell, task, profile=profile, device=device, threads=cluster.threads, attempt=attempt,
            attempts=attempts, pure=False, priority=priorities[task.cell], key=task_key(task.cell, attempt))

    running = {submit(by_cell[cell], 1): (by_cell[cell], 1) for cell in priorities}
    queue = as_completed(list(running))
    bar = tqdm(total=len(tasks) + skipped, initial=skipped, unit="cell" if tasks and tasks[0].in_sweep else "chapter",
               desc=description or f"sweep {profile}", disable=not progress)
    try:
        for future in queue:
            task, attempt = running.pop(future)
            outcome, error = None, None
            try:
                outcome = future.result()
                error = None if outcome.ok else (outcome.error or "no claims recorded")
            except Exception as err:  # the task raised, or its worker died (KilledWorker)
                error = f"the cell died: {type(err).__name__}: {err}"
                with open(task.run_dir / LOG, "a", encoding="utf-8") as log:
                    log.write(f"== {error}\n")
            if error is not None and attempt < attempts:
                bar.write(f"{task.label}: failed ({error}); log {task.run_dir / LOG}; retrying once")
                retry = submit(task, attempt + 1)
                running[retry] = (task, attempt + 1)
                queue.add(retry)
                continue
            if error is not None:
                bar.write(f"{task.label}: FAILED{' again' if attempt > 1 else ''} ({error}); log {task.run_dir / LOG}")
            else:
                bar.write(f"{task.label}: {outcome.passed}/{outcome.total} claims replicated in "
                          f"{outcome.wall_time_s:.0f} s")
            results[task.cell] = CellResult(task.cell, task.run_dir, "failed" if error else "done", attempt,
                                            outcome.passed if outcome else 0, outcome.total if outcome else 0,
                                            outcome.wall_time_s if outcome else 0.0, error)
            bar.update(1)
    except KeyboardInterrupt:
        cluster.client.cancel(list(running))
        bar.write(f"interrupted: {len(results)} finished, {len(running)} cancelled")
        raise
    finally:
        bar.close()
    return results


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
