"""The figure-regression hook in ../conftest.py fails when a notebook's figure changes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]
PLOT = """import matplotlib.pyplot as plt
fig, ax = plt.subplots(figsize=(3, 2), dpi=80)
ax.plot([0, 1, 2], [0, 1, {y}], color="{color}")"""


def _executed_notebook(path: Path, y: float, color: str) -> None:
    nb = new_notebook(cells=[new_code_cell("%matplotlib inline"), new_code_cell(PLOT.format(y=y, color=color))],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    nbformat.write(nb, path)


def _pytest(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-p", "no:cacheprovider",
         "-q", "nb.ipynb"],
        cwd=folder, capture_output=True, text=True, timeout=300,
    )


@pytest.mark.slow
def test_unchanged_figure_passes_and_changed_figure_fails(tmp_path):
    shutil.copy(ROOT / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # keep the repo's addopts out
    _executed_notebook(tmp_path / "nb.ipynb", y=4, color="C0")
    same = _pytest(tmp_path)
    assert same.returncode == 0, same.stdout[-2000:]

    # store the figure of different data, then re-execution draws the original one: must fail
    changed = tmp_path / "changed"
    changed.mkdir()
    _executed_notebook(changed / "nb.ipynb", y=3, color="C0")
    stored = nbformat.read(changed / "nb.ipynb", as_version=4)
    fresh_source = nbformat.read(tmp_path / "nb.ipynb", as_version=4)
    stored.cells[1].source = fresh_source.cells[1].source
    nbformat.write(stored, tmp_path / "nb.ipynb")
    result = _pytest(tmp_path)
    assert result.returncode != 0
    assert "figure 0 changed" in result.stdout, result.stdout[-2000:]
