"""Re-execute committed notebooks in place with their default parameters, and record what they measure.

This is how a chapter's stored outputs (what the book renders and what nbval and the figure
regression compare against) and its expected results (``artifacts/metrics.json``, which every later
evaluation is compared with) are refreshed after its artifacts or code change::

    python -m replications refresh score_matching      # one chapter
    python -m replications refresh --results           # book/results.ipynb (after any chapter refresh)

Refresh from a clean checkout, then commit: the recorded ``git_commit`` is the commit that produced
the numbers (a ``-dirty`` suffix says the tree had uncommitted changes).
"""

from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from replications import ROOT
from replications.chapter import RECORDING
from scorelib import artifacts

RESULTS = ROOT.parent / "book" / "results.ipynb"


def execute_in_place(path: Path, timeout: int = 1800, output_dir: Path | None = None) -> None:
    """Execute ``path`` top to bottom in its own folder and write it back with outputs. With ``output_dir``
    the run writes its figures and metrics.json there (set for the execution only: the stored
    parameters cell keeps its defaults)."""
    nb = nbformat.read(path, as_version=4)
    executed = copy.deepcopy(nb)
    if output_dir is not None:
        first = next(c for c in executed.cells if c.cell_type == "code")
        first.source += f"\noutput_dir = {str(output_dir)!r}"
    NotebookClient(executed, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    for cell, done in zip(nb.cells, executed.cells):
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = done.outputs, done.execution_count
        cell.metadata.pop("execution", None)  # execution timings would make every refresh a diff
    nbformat.write(nb, path)


def refresh_chapter(chapter: str) -> dict:
    """Re-execute the chapter's notebook in place and record its evaluation as the committed
    ``artifacts/metrics.json`` (keeping the training run's provenance under ``"trained"``). Returns it."""
    artifact_dir = ROOT / chapter / "artifacts"
    committed = artifact_dir / artifacts.METRICS
    old = json.loads(committed.read_text(encoding="utf-8")) if committed.exists() else {}
    marker = artifact_dir / RECORDING
    marker.touch()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            execute_in_place(ROOT / chapter / f"{chapter}.ipynb", output_dir=Path(tmp))
            new = json.loads((Path(tmp) / artifacts.METRICS).read_text(encoding="utf-8"))
    finally:
        marker.unlink(missing_ok=True)
    new["trained"] = old.get("trained") or {k: old[k] for k in ("git_commit", "wall_time_s", "device", "versions")
                                            if k in old}
    artifacts.write_metrics(artifact_dir, new)
    return new
