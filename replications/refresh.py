"""Re-execute committed notebooks in place with their default parameters.

This is how a chapter's stored outputs (what the book renders and what nbval and the figure
regression compare against) are refreshed after its artifacts or code change::

    python -m replications refresh score_matching      # one chapter
    python -m replications refresh --results           # book/results.ipynb (after any full retrain)
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

from replications import ROOT

RESULTS = ROOT.parent / "book" / "results.ipynb"


def execute_in_place(path: Path, timeout: int = 1800) -> None:
    """Execute ``path`` top to bottom in its own folder and write it back with outputs."""
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    for cell in nb.cells:  # drop execution timings: they would make every refresh a diff
        cell.metadata.pop("execution", None)
    nbformat.write(nb, path)
