"""One figure style for the whole book, and ``savefig`` that also writes the run's PNGs.

Sizes and DPI are fixed here so that a re-executed notebook draws pixel-identical figures on the
same machine (the figure-regression tests compare them).
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
import torch
from matplotlib.figure import Figure

DPI = 100
WIDTH = 6.4  # inches; one column
PALETTE = "colorblind"


def use_theme() -> None:
    """Apply the book's seaborn theme with fixed DPI and fonts (call once per notebook)."""
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE)
    mpl.rcParams.update(
        {
            "figure.dpi": DPI,
            "savefig.dpi": DPI,
            "figure.figsize": (WIDTH, 4.0),
            "font.family": "DejaVu Sans",
            "axes.titlesize": "medium",
            "legend.fontsize": "small",
            "svg.hashsalt": "scorelib",
        }
    )


def figure(ncols: int = 1, nrows: int = 1, height: float = 3.6, width: float | None = None, **kw) -> tuple[Figure, np.ndarray]:
    """A figure of ``nrows × ncols`` axes at the book's width; returns ``(fig, axes array)``."""
    width = width or (WIDTH if ncols == 1 else min(3.6 * ncols, 12.0))
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, height * nrows), squeeze=False, layout="constrained", **kw)
    return fig, axes


def savefig(fig: Figure, name: str, output_dir: str | os.PathLike | None) -> Path | None:
    """Write ``fig`` as ``<output_dir>/figures/<name>.png`` when an output folder is given."""
    if output_dir is None:
        return None
    path = Path(output_dir) / "figures" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    return path


def score_field(ax, score_fn, lim: float = 8.0, n: int = 21, color: str = "C0", label: str | None = None,
                dtype: torch.dtype = torch.float64) -> None:
    """Quiver plot of a score function ``[m, 2] -> [m, 2]`` on an ``n × n`` grid of [-lim, lim]²."""
    g = torch.linspace(-lim, lim, n, dtype=dtype)
    xx, yy = torch.meshgrid(g, g, indexing="xy")
    pts = torch.stack([xx.reshape(-1), yy.reshape(-1)], -1)
    with torch.no_grad():
        s = score_fn(pts).cpu()
    norm = s.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    s = s / norm.sqrt()  # compress the dynamic range so both modes and tails are visible
    ax.quiver(pts[:, 0], pts[:, 1], s[:, 0], s[:, 1], color=color, label=label, angles="xy")
    ax.set_aspect("equal")
