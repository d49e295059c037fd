"""Run chapter notebooks with papermill and print the claims scoreboard.

Each chapter runs into ``<output>/<profile>/<chapter>/``: the executed notebook, ``figures/`` and
``metrics.json``. A chapter whose cell raises makes the exit code non-zero, and so does an
evaluation of the committed artifacts whose verdicts or stable numbers moved from the committed
``metrics.json`` (the notebook raises :class:`~scorelib.errors.ResultsMovedError`). A claim that does not
replicate at our scale is a result, shown as such, not a failure. The other chapters still run.

Chapters run one after another, each with every core, or ``workers`` at a time on a local Dask cluster
(:func:`run_parallel`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import papermill
from papermill.exceptions import PapermillExecutionError

from replications import CHAPTER_ORDER, ROOT, report
from replications.parameters import check_parameters
from scorelib import errors, runtime
from scorelib.claims import text_table
from scorelib.errors import ConfigError

if TYPE_CHECKING:
    from replications.cluster import Cluster

DEFAULT_OUTPUT = Path("_build/runs")
# Errors raised on purpose for bad input: shown as one line, without a traceback.
USER_ERRORS: frozenset[str] = frozenset(
    name for name, obj in vars(errors).items() if isinstance(obj, type) and issubclass(obj, errors.ScorelibError)
)


def available_chapters() -> list[str]:
    """Chapter ids in book order, for those whose folder and notebook exist."""
    return [c for c in CHAPTER_ORDER if notebook_path(c).exists()]


def notebook_path(chapter: str) -> Path:
    return ROOT / chapter / f"{chapter}.ipynb"


@dataclass
class Outcome:
    chapter: str
    passed: int
    total: int
    wall_time_s: float
    error: str | None
    run_dir: Path

    @property
    def ok(self) -> bool:
        """The notebook ran to its end and recorded its claims. A claim that does not replicate is a
        result, not a failure; a changed result (ResultsMovedError) or an erroring cell is."""
        return self.error is None and self.total > 0


def check_request(chapters: list[str], profile: str, retrain: bool, device: str, seed: int) -> list[str]:
    """Validate everything before any notebook starts (the notebooks' own check, :func:`check_parameters`, and
    that the device exists); returns the chapters to run."""
    chapters = check_chapters(chapters, available_chapters())
    check_parameters(profile, retrain, seed, device)
    runtime.get_device(device)  # raises DeviceUnavailableError for an absent GPU
    return chapters


def check_chapters(chapters: list[str], known: list[str]) -> list[str]:
    """``chapters`` (all of ``known`` when empty); a :class:`ConfigError` naming the unknown ones otherwise."""
    unknown = [c for c in chapters if c not in known]
    if unknown:
        raise ConfigError(f"unknown chapter(s) {', '.join(unknown)}; available: {', '.join(known)}")
    return list(chapters) or list(known)


def _describe_failure(err: PapermillExecutionError, executed: Path) -> str:
    if err.ename in USER_ERRORS:
        return f"{err.ename}: {err.evalue}"
    return f"{err.ename}: {err.evalue} (traceback in {executed})"


def run_chapter(chapter: str, *, profile: str, retrain: bool, seed: int, device: str, output: Path,
                progress: bool = True) -> Outcome:
    """Execute one chapter notebook into ``<output>/<profile>/<chapter>/`` and read back its metrics.json."""
    return execute(chapter, notebook_path(chapter), Path(output) / profile / chapter, profile=profile,
                   retrain=retrain, seed=seed, device=device, progress=progress)


def execute(chapter: str, notebook: Path, run_dir: Path, *, profile: str, retrain: bool, seed: int, device: str,
            progress: bool = True, log: TextIO | None = None) -> Outcome:
    """Execute ``notebook`` (from its own folder) into ``run_dir`` with papermill and read back its metrics.json.
    ``log``: a text file that receives the kernel's stdout and stderr."""
    run_dir = Path(run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    metrics_path = run_dir / "metrics.json"
    metrics_path.unlink(missing_ok=True)  # never report a previous run's numbers
    executed = run_dir / f"{chapter}.ipynb"
    start = time.perf_counter()
    error = None
    try:
        with runtime.kernel_environment():  # the kernel's allocator settings
            papermill.execute_notebook(
                str(notebook), str(executed),
                parameters={"profile": profile, "retrain": retrain, "seed": seed, "device": device,
                            "output_dir": str(run_dir)},
                progress_bar=progress, cwd=str(Path(notebook).parent), kernel_name="python3",
                stdout_file=log, stderr_file=log,
            )
    except PapermillExecutionError as err:
        error = _describe_failure(err, executed)
    wall = time.perf_counter() - start
    passed = total = 0
    if metrics_path.exists():
        record = report.read(metrics_path)
        passed, total = record.n_passed, len(record.counted)
    elif error is None:
        error = f"the notebook finished without writing {metrics_path}"
    return Outcome(chapter, passed, total, wall, error, run_dir)


def summary(outcomes: list[Outcome]) -> str:
    rows = [[o.chapter, f"{o.passed}/{o.total}", f"{o.wall_time_s:.0f} s",
             "ok" if o.ok else (o.error or "no claims recorded")] for o in outcomes]
    return text_table(["chapter", "claims replicated", "wall time", "status"], rows)


def run(chapters: list[str], *, profile: str = "full", retrain: bool = False, seed: int = 0, device: str = "auto",
        output: Path = DEFAULT_OUTPUT, progress: bool = True, workers: int = 1) -> list[Outcome]:
    """Run the chapters (all when empty) and print the scoreboard. Raises ConfigError on bad input.

    ``workers`` > 1: that many chapters at a time, on a Dask LocalCluster whose workers share the cores (each chapter
    gets cores ÷ workers torch threads), the costliest first (:func:`run_parallel`). On 2 cores, two one-thread
    chapters at a time do more work than one two-thread chapter: a chapter on one thread takes 1.27× its two-thread
    time on average (the quick sweep of 2026-11-30), not 2×."""
    chapters = check_request(chapters, profile, retrain, device, seed)
    start = time.perf_counter()
    if workers != 1:  # a bad or oversubscribing count is a ConfigError from the cluster's check, before any chapter
        outcomes = run_parallel(chapters, profile=profile, retrain=retrain, seed=seed, device=device, output=output,
                                workers=workers, progress=progress)
    else:
        outcomes = []
        for chapter in chapters:
            print(f"== {chapter} ({profile}{', retrain' if retrain else ''})", flush=True)
            outcomes.append(run_chapter(chapter, profile=profile, retrain=retrain, seed=seed, device=device,
                                        output=output, progress=progress))
    print()
    print(summary(outcomes))
    failed = [o for o in outcomes if not o.ok]
    total = sum(o.total for o in outcomes)
    print(f"\n{sum(o.passed for o in outcomes)}/{total} claims replicated in {len(outcomes)} chapter(s); "
          f"{'all ok' if not failed else 'FAILED: ' + ', '.join(o.chapter for o in failed)}; "
          f"wall time {time.perf_counter() - start:.0f} s")
    print(f"run folders: {Path(output).resolve() / profile}")
    return outcomes


def run_parallel(chapters: list[str], *, profile: str, retrain: bool, seed: int, device: str, output: Path,
                 workers: int | None = None, notebooks: Mapping[str, Path] | None = None,
                 cluster: Cluster | None = None, progress: bool = True) -> list[Outcome]:
    """The chapters on a local Dask cluster of ``workers`` (or on ``cluster``, left open), through
    :func:`replications.sweep.dispatch` without retry: each into the folder it gets when run alone, with the kernel's
    output in its ``log.txt``. ``notebooks``: each chapter's notebook (default: the book's). Returns the outcomes in
    the order of ``chapters``."""
    from replications import sweep
    from replications.cluster import connect

    notebooks = notebooks or {c: notebook_path(c) for c in chapters}
    tasks = [sweep.Task(sweep.Cell(c, seed), Path(notebooks[c]).resolve(), (Path(output) / profile / c).resolve(),
                        retrain=retrain, in_sweep=False) for c in chapters]
    opened = cluster or connect(workers=workers)
    try:
        print(f"{len(tasks)} chapter(s) on a {opened.description}", flush=True)
        results = sweep.dispatch(opened, tasks, profile=profile, device=device, attempts=1, progress=progress,
                                 description=f"run {profile}")
    except KeyboardInterrupt:
        print(f"the finished chapters are kept under {Path(output).resolve() / profile}", flush=True)
        raise
    finally:
        if cluster is None:
            opened.close()
    return [Outcome(t.cell.chapter, r.passed, r.total, r.wall_time_s, r.error, r.run_dir)
            for t in tasks for r in [results[t.cell]]]
