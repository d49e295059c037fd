"""The book builds offline with warnings as errors (execute off: it renders stored outputs), and every figure in
it is numbered, captioned, described and referred to from the text."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: The chapter notebooks (``replications/<chapter>/<chapter>.ipynb``) and the book's own notebook pages.
NOTEBOOKS = sorted([p for p in ROOT.glob("replications/*/*.ipynb") if p.stem == p.parent.name]
                   + list(ROOT.glob("book/*.ipynb")))
NUMREF = re.compile(r"\{numref\}`(?:[^`<]*<)?(fig-[^`>]+)>?`")


def _rendered_displays(cell: dict) -> list[dict]:
    """The display outputs myst-nb renders (glue outputs, stored under a scrapbook mime prefix, are removed)."""
    return [o for o in cell.get("outputs", []) if o["output_type"] in ("display_data", "execute_result")
            and not o.get("metadata", {}).get("scrapbook", {}).get("mime_prefix")]


def _figures(path: Path) -> list[tuple[int, dict]]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return [(i, c) for i, c in enumerate(cells)
            if c["cell_type"] == "code" and any("image/png" in o.get("data", {}) for o in c.get("outputs", []))]


def test_chapter_notebooks_found():
    assert len([p for p in NOTEBOOKS if p.parent.parent.name == "replications"]) >= 7


def test_every_figure_is_numbered_captioned_described_and_referenced():
    """myst-nb makes a numbered figure of a cell's display output from the cell's ``mystnb.figure`` metadata
    (caption, name) and gives the image ``mystnb.image.alt``. It wraps *every* display output of that cell, so a
    figure cell holds exactly one (a second would repeat the label: a duplicate-label warning, fatal with -W)."""
    problems, names = [], {}
    for path in NOTEBOOKS:
        where = path.relative_to(ROOT)
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        markdown = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
        referenced = set(NUMREF.findall(markdown))
        for i, cell in _figures(path):
            mystnb = cell["metadata"].get("mystnb", {})
            figure, image = mystnb.get("figure", {}), mystnb.get("image", {})
            name = str(figure.get("name", ""))
            if not str(figure.get("caption", "")).strip():
                problems.append(f"{where} cell {i}: no caption (metadata mystnb.figure.caption)")
            if not str(image.get("alt", "")).strip():
                problems.append(f"{where} cell {i}: no alt text (metadata mystnb.image.alt)")
            if not name.startswith("fig-"):
                problems.append(f"{where} cell {i}: no figure name starting with 'fig-' (mystnb.figure.name)")
                continue
            if name in names:
                problems.append(f"{where} cell {i}: figure name {name} already used in {names[name]}")
            names[name] = f"{where} cell {i}"
            if name not in referenced:
                problems.append(f"{where} cell {i}: {name} is not referred to with {{numref}} in the notebook's text")
            if len(_rendered_displays(cell)) != 1:
                problems.append(f"{where} cell {i}: a figure cell must hold exactly one display output, not "
                                f"{len(_rendered_displays(cell))} (split the cell)")
    assert names, "no figures found"
    assert not problems, "\n".join(problems)


@pytest.mark.slow
def test_book_builds_without_warnings(tmp_path):
    exe = shutil.which("jupyter-book") or str(Path(sys.executable).with_name("jupyter-book"))
    result = subprocess.run(
        [exe, "build", str(ROOT), "--path-output", str(tmp_path), "-W", "--keep-going"],
        capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert (tmp_path / "_build" / "html" / "replications" / "score_matching" / "score_matching.html").exists()
