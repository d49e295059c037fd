"""The cells a run or a sweep executes: a chapter at a seed under a profile, each a :class:`Task` with its notebook
and run folder, and the order they start in.

``python -m replications run`` plans one cell per chapter (its seed), each into the folder it gets alone;
``python -m replications sweep`` plans chapters × seeds, each into its own ``seed-<s>/`` folder and keeping its
retrained weights there (:func:`run_tasks`, :func:`sweep_tasks`). Both are executed by
:func:`replications.runner.executor.execute_tasks`.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from replications import ROOT
from replications.runner import report
from replications.sweep_summary import committed_dir
from scorelib.errors import ConfigError, CorruptArtifactError


@dataclass(frozen=True)
class Cell:
    """One point of the grid."""

    chapter: str
    seed: int

    def run_dir(self, output: Path, profile: str) -> Path:
        """The cell's folder in a sweep."""
        return (Path(output) / profile / self.chapter / f"seed-{self.seed}").resolve()

    def __str__(self) -> str:
        return f"{self.chapter} seed {self.seed}"


@dataclass(frozen=True)
class Task:
    """One notebook execution: a cell of a sweep, or a chapter of ``run``.

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


def run_tasks(chapters: list[str], notebooks: Mapping[str, Path], *, profile: str, retrain: bool, seed: int,
              output: Path) -> list[Task]:
    """``run``: each chapter at ``seed``, into ``<output>/<profile>/<chapter>/``."""
    return [Task(Cell(c, seed), Path(notebooks[c]).resolve(), (Path(output) / profile / c).resolve(), retrain=retrain,
                 in_sweep=False) for c in chapters]


def sweep_tasks(cells: list[Cell], notebooks: Mapping[str, Path], *, profile: str, output: Path) -> list[Task]:
    """``sweep``: each cell retrained into ``<output>/<profile>/<chapter>/seed-<s>/``."""
    return [Task(cell, Path(notebooks[cell.chapter]).resolve(), cell.run_dir(output, profile)) for cell in cells]


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


def expected_seconds(chapter: str, profile: str, retrain: bool = True) -> float:
    """A chapter's expected wall time, to start the costliest first: a retrain's, the median of its committed sweep
    cells at ``profile`` (``replications/<chapter>/sweeps/<profile>/seed-<s>.json``); an evaluation's, that of the
    committed ``artifacts/metrics.json``. 0 when none is committed."""
    if retrain:
        paths = list(committed_dir(chapter, profile).glob("seed-*.json"))  # each seed's metrics.json
    else:
        paths = [ROOT / chapter / "artifacts" / "metrics.json"]
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
