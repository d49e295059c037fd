"""One task where it runs (in this process, or on a Dask worker): its torch threads, its log and its run folder.

Each task writes ``run_dir/log.txt``: a heading per attempt, the kernel's stdout and stderr, and how it ended.
"""

from __future__ import annotations

import os
import traceback

from replications.chapter import RUN_ARTIFACTS
from replications.runner.notebook import Outcome, execute
from replications.runner.plan import Task

LOG = "log.txt"
#: Where a failed sweep cell's metrics.json is moved, so that a rerun does not take the cell for finished.
FAILED_METRICS = "metrics.failed.json"


def thread_environment(threads: int | None) -> dict[str, str]:
    """The variables that give a kernel ``threads`` torch threads (none: every core, torch's default)."""
    return {} if threads is None else {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}


def run_task(task: Task, *, profile: str, device: str, threads: int | None, attempt: int, attempts: int,
             progress: bool = False) -> Outcome:
    """Execute the task's notebook with ``threads`` torch threads (set in the environment the kernel inherits, a
    resource limit, not a parameter), logging to ``run_dir/log.txt``. A sweep's cell gets the
    :data:`~replications.chapter.RUN_ARTIFACTS` marker, and its metrics.json is moved aside when it fails."""
    run_dir = task.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    if task.in_sweep:
        (run_dir / RUN_ARTIFACTS).touch()
    with open(run_dir / LOG, "w" if attempt == 1 else "a", encoding="utf-8") as log:
        log.write(f"== {task.label}, profile {profile}{', retrain' if task.retrain else ''}, attempt "
                  f"{attempt}/{attempts}, {threads or 'all'} torch thread(s), host {os.uname().nodename}, "
                  f"pid {os.getpid()}\n")
        log.flush()
        try:
            outcome = execute(task.cell.chapter, task.notebook, run_dir, profile=profile, retrain=task.retrain,
                              seed=task.cell.seed, device=device, progress=progress, log=log,
                              environment=thread_environment(threads))
        except Exception:
            log.write(traceback.format_exc())
            raise
        status = "ok" if outcome.ok else f"FAILED: {outcome.error or 'no claims recorded'}"
        log.write(f"== {status} ({outcome.passed}/{outcome.total} claims replicated) "
                  f"after {outcome.wall_time_s:.0f} s\n")
    if task.in_sweep and not outcome.ok and (run_dir / "metrics.json").exists():
        os.replace(run_dir / "metrics.json", run_dir / FAILED_METRICS)
    return outcome
