"""Re-execute committed notebooks in place with their default parameters, and record what they measure.

This is how a chapter's stored outputs (what the book renders and what nbval and the figure
regression compare against) and its expected results (``artifacts/metrics.json``, which every later
evaluation is compared with) are refreshed after its artifacts or code change::

    python -m replications refresh score_matching      # one chapter
    python -m replications refresh --results           # the book's generated pages (after any chapter refresh)

Refresh from a clean checkout, then commit: the recorded ``git_commit`` is the commit that produced
the numbers (a ``-dirty`` suffix says the tree had uncommitted changes).
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from replications import ROOT
from replications.chapter import RECORDING
from replications.runner.kernel import PrivateKernelManager
from scorelib import artifacts

RESULTS = ROOT.parent / "book" / "results.ipynb"
#: The book's generated pages, executed after the chapters: the scoreboard, the claims spec, the talk appendix.
BOOK_PAGES: tuple = (RESULTS, ROOT.parent / "book" / "claims.ipynb", ROOT.parent / "book" / "talk.ipynb")


def execute_in_place(path: Path, timeout: int = 1800) -> None:
    """Execute ``path`` top to bottom in its own folder, with its default parameters (exactly as nbval
    does, so the stored figures are the ones nbval draws; in a kernel over private IPC sockets), and write it back
    with outputs."""
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3", kernel_manager_class=PrivateKernelManager,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    for cell in nb.cells:  # drop execution timings: they would make every refresh a diff
        cell.metadata.pop("execution", None)
    nbformat.write(nb, path)


def refresh_chapter(chapter: str) -> dict:
    """Re-execute the chapter's notebook in place; its evaluation is recorded as the committed
    ``artifacts/metrics.json`` (by :meth:`~replications.chapter.ChapterRun.finish`, which sees the
    :data:`~replications.chapter.RECORDING` marker; the training run's provenance stays in
    ``artifacts/config.json``). Returns the recorded metrics."""
    artifact_dir = ROOT / chapter / "artifacts"
    marker = artifact_dir / RECORDING
    marker.touch()
    try:
        execute_in_place(ROOT / chapter / f"{chapter}.ipynb")
    finally:
        marker.unlink(missing_ok=True)
    return json.loads((artifact_dir / artifacts.METRICS).read_text(encoding="utf-8"))
