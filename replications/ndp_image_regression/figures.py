"""The figures of the NDP image-regression chapter (drawn from the results of ``experiment``)."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure

from replications.ndp_image_regression.experiment import Config, GPFit, RegressionResult, correlation_maps, images
from scorelib.plotting import figure, show_image


def completion_grid(cfg: Config, state: dict[str, torch.Tensor], observed: torch.Tensor, setting: str,
                    n_show: int = 3) -> Figure:
    """The talk's image-regression slide: per test image, the context (unobserved pixels shaded), ``n_show``
    conditional samples, their mean over all samples, and the truth."""
    test = images(cfg, "test")
    h, w = test.shape[-2:]
    samples = state[f"samples.{setting}"].float()
    rows = cfg.figure_images
    fig, axes = figure(ncols=n_show + 3, nrows=rows, height=1.3, width=1.3 * (n_show + 3))
    for r in range(rows):
        context = np.ma.masked_array(np.asarray(test[r], dtype=float), mask=~np.asarray(observed[r].reshape(h, w)))
        ax = axes[r, 0]
        ax.set_facecolor("#9ecae1")
        ax.imshow(context, cmap="gray_r", vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        if r == 0:
            ax.set_title("context", fontsize="small")
        panels = [(samples[r, j], "sample") for j in range(n_show)]
        panels += [(samples[r].mean(0), f"mean of {samples.shape[1]}"), (test[r], "truth")]
        for ax, (img, title) in zip(axes[r, 1:], panels):
            show_image(ax, img.reshape(h, w), vmin=0.0, vmax=1.0, title=title if r == 0 else None, fontsize="small")
    fig.suptitle(f"context: {setting} of the pixels (blue: unobserved)", fontsize="small")
    return fig


def mse_by_context(r: RegressionResult) -> Figure:
    """MSE on the unobserved pixels against the context: random fractions (lines) and half-image masks."""
    fig, axes = figure(ncols=2, height=3.2, width=10.0, sharey=True)
    rand = [k for k in r.settings if k.startswith("random")]
    halves = [k for k in r.settings if k.endswith("half")]
    frac = [float(k.split()[1].rstrip("%")) for k in rand]
    for name, mse, style in (("NDP (conditional mean)", r.mse_ndp, "o-"), ("RBF-GP, ℓ fitted", r.mse_gp, "s--"),
                             ("training-mean image", r.mse_mean, "^:")):
        axes[0, 0].plot(frac, [mse[k] for k in rand], style, label=name)
        axes[0, 1].plot(range(len(halves)), [mse[k] for k in halves], style, label=name)
    axes[0, 0].set(xlabel="observed pixels (%)", ylabel="MSE, unobserved pixels", title="random contexts")
    axes[0, 1].set(xticks=range(len(halves)), xticklabels=halves, title="half-image contexts",
                   xlim=(-0.5, len(halves) - 0.5))
    axes[0, 0].legend(fontsize="x-small")
    return fig


def learnt_covariance(cfg: Config, state: dict[str, torch.Tensor], gp: GPFit,
                      pixels: tuple[tuple[int, int], ...]) -> Figure:
    """Correlation of a few pixels with all others: test images, NDP prior draws, fitted RBF-GP."""
    fig, axes = figure(ncols=3, nrows=len(pixels), height=2.2, width=7.0)
    for row, pixel in enumerate(pixels):
        for col, (name, c) in enumerate(correlation_maps(cfg, state, gp, pixel).items()):
            ax = axes[row, col]
            im = ax.imshow(np.asarray(c, dtype=float), cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
            ax.plot(pixel[1], pixel[0], "x", color="k", ms=8)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(name, fontsize="small")
    fig.colorbar(im, ax=axes, shrink=0.8, label="correlation")
    return fig


def prior_draws(state: dict[str, torch.Tensor], cfg: Config, n: int = 8) -> Figure:
    h, w = images(cfg, "test").shape[-2:]
    fig, axes = figure(ncols=n, height=1.3, width=1.3 * n)
    for ax, y in zip(axes[0], state["prior"][:n]):
        show_image(ax, y.reshape(h, w), vmin=0.0, vmax=1.0)
    return fig
