"""Figure regression for the notebooks that nbval re-executes.

nbval (``--nbval-lax``) compares only the cells marked ``# NBVAL_CHECK_OUTPUT`` and never images.
This hook runs after every notebook cell and compares the PNGs the cell just drew
(``item.test_outputs``) with those stored in the committed notebook (``item.cell.outputs``), with
matplotlib's ``compare_images``. A rerun on the same CPU is pixel-identical, so the RMS tolerance
is near zero: a changed figure fails. Mismatches are written to ``_build/figure-diffs/``.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

FIGURE_RMS_TOLERANCE = 1.0  # on the 0-255 scale
DIFF_DIR = Path(__file__).parent / "_build" / "figure-diffs"


def _pngs(outputs) -> list[str]:
    return [
        out["data"]["image/png"]
        for out in outputs or []
        if out.get("output_type") in ("display_data", "execute_result") and "image/png" in out.get("data", {})
    ]


def _compare_cell_figures(item) -> None:
    from matplotlib.testing.compare import compare_images

    stored, fresh = _pngs(item.cell.outputs), _pngs(item.test_outputs)
    name = f"{Path(str(item.fspath)).stem}-{item.name.replace('::', '-').replace(' ', '')}"
    if len(stored) != len(fresh):
        pytest.fail(f"{item.name}: the cell drew {len(fresh)} figure(s), the committed notebook stores {len(stored)}; "
                    "re-execute the notebook and commit it if the change is intended", pytrace=False)
    for i, (old, new) in enumerate(zip(stored, fresh)):
        if old.replace("\n", "") == new.replace("\n", ""):
            continue
        DIFF_DIR.mkdir(parents=True, exist_ok=True)
        expected, actual = DIFF_DIR / f"{name}-{i}-expected.png", DIFF_DIR / f"{name}-{i}-actual.png"
        expected.write_bytes(base64.b64decode(old))
        actual.write_bytes(base64.b64decode(new))
        message = compare_images(str(expected), str(actual), tol=FIGURE_RMS_TOLERANCE)
        if message is not None:
            pytest.fail(f"{item.name}: figure {i} changed ({message}); if intended, re-execute the notebook "
                        f"and commit it", pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    result = yield
    try:
        from nbval.plugin import IPyNbCell
    except ImportError:  # nbval absent: nothing to compare
        return result
    if isinstance(item, IPyNbCell) and item.test_outputs is not None:
        _compare_cell_figures(item)
    return result
