"""One chapter notebook executed with papermill into its run folder, and its ``metrics.json`` read back.

The notebook runs from its own folder, with the run's parameters injected into its ``parameters`` cell, in a
kernel over private IPC sockets (:class:`~replications.runner.kernel.PrivateKernelManager`) that inherits the
allocator settings of :data:`scorelib.runtime.KERNEL_ENVIRONMENT`. A cell that raises, or a notebook that ends
without writing ``metrics.json``, is the :class:`Outcome`'s error; a claim that does not replicate is a result.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import papermill
from papermill.exceptions import PapermillExecutionError

from replications.runner import report
from replications.runner.kernel import PrivateKernelManager
from scorelib import errors, runtime

# Errors raised on purpose for bad input: shown as one line, without a traceback.
USER_ERRORS: frozenset[str] = frozenset(
    name for name, obj in vars(errors).items() if isinstance(obj, type) and issubclass(obj, errors.ScorelibError)
)


@dataclass
class Outcome:
    """What one execution measured: its claims replicated of those counted, its wall time, and its error."""

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


def describe_failure(err: PapermillExecutionError, executed: Path) -> str:
    """One line: a user error's message alone; any other error with where its traceback is."""
    if err.ename in USER_ERRORS:
        return f"{err.ename}: {err.evalue}"
    return f"{err.ename}: {err.evalue} (traceback in {executed})"


def execute(chapter: str, notebook: Path, run_dir: Path, *, profile: str, retrain: bool, seed: int, device: str,
            progress: bool = True, log: TextIO | None = None,
            environment: Mapping[str, str | None] | None = None) -> Outcome:
    """Execute ``notebook`` (from its own folder) into ``run_dir`` with papermill and read back its metrics.json.

    ``progress``: papermill's bar of the notebook's cells, named after the chapter. ``log``: a text file that
    receives the kernel's stdout and stderr. ``environment``: more variables for the kernel (None: unset)."""
    run_dir = Path(run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    metrics_path = run_dir / "metrics.json"
    metrics_path.unlink(missing_ok=True)  # never report a previous run's numbers
    executed = run_dir / f"{chapter}.ipynb"
    start = time.perf_counter()
    error = None
    try:
        with runtime.kernel_environment(environment):  # the kernel's allocator settings and threads
            papermill.execute_notebook(
                str(notebook), str(executed),
                parameters={"profile": profile, "retrain": retrain, "seed": seed, "device": device,
                            "output_dir": str(run_dir)},
                progress_bar={"desc": chapter} if progress else False, cwd=str(Path(notebook).parent),
                kernel_name="python3", kernel_manager_class=PrivateKernelManager,
                stdout_file=log, stderr_file=log,
            )
    except PapermillExecutionError as err:
        error = describe_failure(err, executed)
    wall = time.perf_counter() - start
    passed = total = 0
    if metrics_path.exists():
        record = report.read(metrics_path)
        passed, total = record.n_passed, len(record.counted)
    elif error is None:
        error = f"the notebook finished without writing {metrics_path}"
    return Outcome(chapter, passed, total, wall, error, run_dir)
