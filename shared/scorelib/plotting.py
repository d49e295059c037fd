"""One figure style for the whole book, and ``savefig`` that also writes the run's PNGs.

Sizes and DPI are fixed here so that a re-executed notebook draws pixel-identical figures on the
same machine (the figure-regression tests compare them).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
import torch
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from scorelib.claims import ClaimResult, ClaimResults

from scorelib.errors import ConfigError

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
    _inline_at_double_resolution()


def _inline_at_double_resolution() -> None:
    """In a notebook, show figures as 2× PNGs (displayed at their 1× size, so they stay sharp when the book scales
    them to its text column). The PNGs :func:`savefig` writes, which figure regression compares, keep ``DPI``."""
    try:
        from IPython import get_ipython
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:  # no IPython: nothing is displayed inline
        return
    if get_ipython() is not None:
        set_matplotlib_formats("retina")


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


def density_contours(ax, log_prob: Callable[[torch.Tensor], torch.Tensor], lim: float | tuple[float, float], *,
                     n: int = 121, density: bool = False, dtype: torch.dtype = torch.float64, **contour_kw):
    """Contours of a 2-D density on an ``n × n`` grid of ``[lo, hi]²`` (``lim`` = hi, or ``(lo, hi)``).

    ``log_prob`` maps points ``[m, 2] → [m]``; the contoured values are log p, or p with
    ``density=True``. Keyword arguments go to ``ax.contour``; returns its ``ContourSet``.
    """
    lo, hi = (-lim, lim) if isinstance(lim, (int, float)) else lim
    axis = torch.linspace(lo, hi, n, dtype=dtype)
    xx, yy = torch.meshgrid(axis, axis, indexing="xy")
    with torch.no_grad():
        values = log_prob(torch.stack([xx.reshape(-1), yy.reshape(-1)], -1))
    if density:
        values = values.exp()
    return ax.contour(xx.numpy(), yy.numpy(), values.reshape(xx.shape).cpu().numpy(), **contour_kw)


def tile_images(images: torch.Tensor | np.ndarray, cols: int, gap: int = 0, fill: float = 0.0) -> np.ndarray:
    """Tile ``[k, h, w]`` images row-major into one canvas, ``cols`` per row, ``gap`` pixels of ``fill``
    between them (none around the border): shape ``[rows·(h+gap) − gap, cols·(w+gap) − gap]``."""
    imgs = np.asarray(images, dtype=float)
    if imgs.ndim != 3 or cols < 1 or gap < 0:
        raise ConfigError(f"tile_images takes [k, h, w] images, cols ≥ 1 and gap ≥ 0; got shape {imgs.shape}, "
                         f"cols={cols}, gap={gap}")
    k, h, w = imgs.shape
    rows = -(-k // cols)
    canvas = np.full(((h + gap) * rows - gap, (w + gap) * cols - gap), fill, dtype=float)
    for i, img in enumerate(imgs):
        r, c = divmod(i, cols)
        canvas[(h + gap) * r:(h + gap) * r + h, (w + gap) * c:(w + gap) * c + w] = img
    return canvas


def show_image(ax, img: torch.Tensor | np.ndarray, *, vmin: float, vmax: float, cmap: str = "gray_r",
               title: str | None = None, **title_kw) -> None:
    """One grey-scale image (or a tiled canvas) without ticks or grid, pixels drawn as squares."""
    ax.imshow(np.asarray(img, dtype=float), cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    if title:
        ax.set_title(title, **title_kw)


def loss_curve(ax, losses: torch.Tensor | np.ndarray, *, raw_alpha: float = 0.2, color: str = "C0") -> None:
    """A training-loss curve: the raw losses (faint) and their running mean over 1/50 of the run."""
    values = np.asarray(losses)
    window = max(len(values) // 50, 1)
    smooth = np.convolve(values, np.ones(window) / window, mode="valid")
    ax.plot(np.arange(1, len(values) + 1), values, color=color, alpha=raw_alpha, lw=0.5)
    ax.plot(np.arange(window, len(values) + 1), smooth, color=color)


def compute_curve(ax, result: "ClaimResult", *, label: str = "model") -> None:
    """A claim's compute curve (:class:`~scorelib.claims.ClaimResult` with a curve): its value ± 2 se against the
    training budget (log axis), the criterion's boundaries as dashed lines, the control and the real-data floor
    (± 2 se bands) as horizontal references, and whether the last doubling converged in the title."""
    if result.curve is None:
        raise ConfigError(f"claim {result.claim.id} has no compute curve to draw")
    points = result.curve.points
    steps = np.array([p.steps for p in points], dtype=float)
    values = np.array([p.measured for p in points])
    errors = np.array([2 * p.se if p.se is not None else 0.0 for p in points])
    ax.errorbar(steps, values, yerr=errors, marker="o", capsize=3, color="C0", label=label)
    for i, bound in enumerate(result.claim.boundaries(result.profile)):
        ax.axhline(bound, color="k", ls="--", lw=1, label="criterion" if i == 0 else None)
    for value, se, color, name in ((result.control_measured, result.control_se, "C3", "control"),
                                   (result.floor_measured, result.floor_se, "C2", "real data")):
        if value is None:
            continue
        ax.axhline(value, color=color, lw=1, label=name)
        if se:
            ax.axhspan(value - 2 * se, value + 2 * se, color=color, alpha=0.15, lw=0)
    ax.set_xscale("log", base=2)
    ax.set_xticks(steps, [f"{int(s):,}" for s in steps])
    # an untrained model's value can be orders of magnitude off: a symmetric log axis keeps the criterion readable
    scale = max(abs(b) for b in result.claim.boundaries(result.profile)) or 1.0
    finite = np.abs(values[np.isfinite(values)])
    if finite.size and finite.max() > 1e3 * scale:
        ax.set_yscale("symlog", linthresh=scale)
    ax.minorticks_off()
    ax.set_xlabel("training steps")
    ax.set_title(f"{result.claim.id}\n{'converged' if result.converged else 'still moving'} over the last doubling",
                 fontsize="small")
    ax.legend(fontsize="x-small")


def compute_curves(results: "ClaimResults", ylabels: dict[str, str] | None = None) -> Figure:
    """One :func:`compute_curve` panel per claim of ``results`` that has a compute curve, three to a row."""
    with_curve = [r for r in results.results if r.curve is not None]
    if not with_curve:
        raise ConfigError("no claim of these results has a compute curve to draw")
    ncols = min(len(with_curve), 3)
    fig, axes = figure(ncols=ncols, nrows=-(-len(with_curve) // ncols), height=3.4)
    for ax, r in zip(axes.flat, with_curve):
        compute_curve(ax, r)
        ax.set_ylabel((ylabels or {}).get(r.claim.id, r.claim.id))
    for ax in axes.flat[len(with_curve):]:
        ax.set_visible(False)
    return fig
