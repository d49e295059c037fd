"""Runs a plan's tasks: in this process one after another, or on a Dask cluster the costliest first.

Either way a task that fails is retried until it has had ``attempts`` tries, and the console shows one progress
line and one result line per task: in process, papermill's bar of the notebook's cells, then the result; on a
cluster, one bar for the whole plan (the kernels' output goes to each task's log), with each result written above
it as its task ends. Lines never interleave: only this process writes to the console.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from distributed import as_completed
from tqdm import tqdm

from replications.runner.cluster import Cluster
from replications.runner.notebook import Outcome
from replications.runner.plan import Cell, Task, longest_first
from replications.runner.task import LOG, run_task

ATTEMPTS = 2  # a failed sweep cell is retried once


@dataclass
class CellResult:
    """How a task ended: ``done``, ``skipped`` (finished by an earlier sweep) or ``failed`` (at its last attempt)."""

    cell: Cell
    run_dir: Path
    status: str
    attempts: int = 0
    passed: int = 0
    total: int = 0
    wall_time_s: float = 0.0
    error: str | None = None

    @property
    def chapter(self) -> str:
        return self.cell.chapter

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    @property
    def log(self) -> Path:
        return self.run_dir / LOG


def task_key(cell: Cell, attempt: int) -> str:
    """The cell's Dask key, ``sweep-cell-<8 hex>-<chapter>-seed-<s>-attempt-<a>``: unique, and the same task group
    (``sweep-cell``, :func:`dask.utils.key_split`) for every cell. The scheduler orders its queue by priority only
    within a group it sees as larger than the cluster: with a group per chapter, cells went straight to the workers'
    own queues and a short chapter's last seed could start before a long chapter's second."""
    return f"sweep-cell-{uuid.uuid4().hex[:8]}-{cell.chapter}-seed-{cell.seed}-attempt-{attempt}"


def _ended(task: Task, attempt: int, attempts: int, outcome: Outcome | None, died: BaseException | None,
           write: Callable[[str], None]) -> CellResult | None:
    """The task's result after this attempt, with its line written; None when it is to be retried."""
    if died is not None:  # the task raised, or its worker died (KilledWorker)
        error = f"the cell died: {type(died).__name__}: {died}"
        with open(task.run_dir / LOG, "a", encoding="utf-8") as log:
            log.write(f"== {error}\n")
    else:
        error = None if outcome.ok else outcome.error or "no claims recorded"
    if error is not None and attempt < attempts:
        write(f"{task.label}: failed ({error}); log {task.run_dir / LOG}; retrying once")
        return None
    if error is not None:
        write(f"{task.label}: FAILED{' again' if attempt > 1 else ''} ({error}); log {task.run_dir / LOG}")
    else:
        write(f"{task.label}: {outcome.passed}/{outcome.total} claims replicated in {outcome.wall_time_s:.0f} s")
    return CellResult(task.cell, task.run_dir, "failed" if error else "done", attempt,
                      outcome.passed if outcome else 0, outcome.total if outcome else 0,
                      outcome.wall_time_s if outcome else 0.0, error)


def execute_tasks(tasks: list[Task], *, cluster: Cluster | None, profile: str, device: str,
                  attempts: int = ATTEMPTS, progress: bool = True, skipped: int = 0,
                  description: str | None = None) -> dict[Cell, CellResult]:
    """Each task's result. ``cluster`` None: in this process, in the order given, each with every core; else on the
    cluster (:func:`on_cluster`). Ctrl-C stops the tasks still running and raises KeyboardInterrupt."""
    if cluster is not None:
        return on_cluster(cluster, tasks, profile=profile, device=device, attempts=attempts, progress=progress,
                          skipped=skipped, description=description)
    results: dict[Cell, CellResult] = {}
    for task in tasks:
        attempt, result = 0, None
        while result is None:
            attempt += 1
            outcome, died = None, None
            try:
                outcome = run_task(task, profile=profile, device=device, threads=None, attempt=attempt,
                                   attempts=attempts, progress=progress)
            except Exception as err:
                died = err
            result = _ended(task, attempt, attempts, outcome, died, tqdm.write)
        results[task.cell] = result
    return results


def on_cluster(cluster: Cluster, tasks: list[Task], *, profile: str, device: str, attempts: int = ATTEMPTS,
               progress: bool = True, skipped: int = 0, description: str | None = None) -> dict[Cell, CellResult]:
    """The tasks on the cluster, the costliest first (:func:`~replications.runner.plan.longest_first`), each with
    the cluster's torch threads; one progress bar (``skipped`` tasks already done), one line per finished task. The
    tasks all retrain, or all evaluate."""
    by_cell = {task.cell: task for task in tasks}
    (retrain,) = {task.retrain for task in tasks} or {True}  # one kind of task a plan: all retrain or none
    priorities = dict(longest_first(list(by_cell), profile, retrain))
    results: dict[Cell, CellResult] = {}

    def submit(task: Task, attempt: int):
        return cluster.client.submit(
            run_task, task, profile=profile, device=device, threads=cluster.threads, attempt=attempt,
            attempts=attempts, pure=False, priority=priorities[task.cell], key=task_key(task.cell, attempt))

    running = {submit(by_cell[cell], 1): (by_cell[cell], 1) for cell in priorities}
    queue = as_completed(list(running))
    bar = tqdm(total=len(tasks) + skipped, initial=skipped, unit="cell" if tasks and tasks[0].in_sweep else "chapter",
               desc=description or f"sweep {profile}", disable=not progress)
    try:
        for future in queue:
            task, attempt = running.pop(future)
            outcome, died = None, None
            try:
                outcome = future.result()
            except Exception as err:
                died = err
            result = _ended(task, attempt, attempts, outcome, died, bar.write)
            if result is None:
                retry = submit(task, attempt + 1)
                running[retry] = (task, attempt + 1)
                queue.add(retry)
                continue
            results[task.cell] = result
            bar.update(1)
    except KeyboardInterrupt:
        cluster.client.cancel(list(running))
        bar.write(f"interrupted: {len(results)} finished, {len(running)} cancelled")
        raise
    finally:
        bar.close()
    return results
