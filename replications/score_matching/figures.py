"""The figures of the score-matching chapter (drawn from the results of ``experiment``)."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure

from replications.score_matching.experiment import SLICE_METHODS, Config, GapResult, ICAResult
from scorelib.plotting import figure


def ica_error(ica: ICAResult) -> Figure:
    """Median Amari index (band: interquartile range) against T, log-log, both estimators."""
    fig, axes = figure()
    ax = axes[0, 0]
    sizes = ica.sizes.numpy()
    for name, values, color in (("score matching", ica.amari_sm, "C0"), ("maximum likelihood", ica.amari_ml, "C1")):
        q = torch.quantile(values, torch.tensor([0.25, 0.5, 0.75], dtype=values.dtype), dim=1).numpy()
        ax.fill_between(sizes, q[0], q[2], color=color, alpha=0.2, lw=0)
        ax.plot(sizes, q[1], "o-", color=color, label=name)
    ref = ica.median_sm[0].item() * (sizes / sizes[0]) ** -0.5
    ax.plot(sizes, ref, "k--", lw=1, label=r"$\propto T^{-1/2}$")
    ax.set(xscale="log", yscale="log", xlabel="sample size T", ylabel="Amari index of $\\hat W A$",
           title=f"ICA, {ica.amari_sm.shape[1]} repetitions per T")
    ax.legend()
    return fig


def dsm_esm_gap(gap: GapResult) -> Figure:
    """Left: J_ESM and J_DSM over random θ. Right: their difference with ±2 SE."""
    fig, axes = figure(ncols=2)
    scales = gap.scales.numpy()
    ax = axes[0, 0]
    ax.plot(scales, gap.j_esm.numpy(), "o-", label=r"$J_{ESM}(\theta)$")
    ax.plot(scales, gap.j_dsm.numpy(), "s--", label=r"$J_{DSM}(\theta)$")
    ax.set(xscale="log", yscale="log", xlabel="weight scale of the random score net", ylabel="objective")
    ax.legend()
    ax = axes[0, 1]
    ax.errorbar(scales, gap.gap.numpy(), yerr=2 * gap.gap_se.numpy(), fmt="o", ms=4, capsize=2)
    w = gap.gap_se.pow(-2)
    ax.axhline(float((w * gap.gap).sum() / w.sum()), color="k", lw=1, ls="--", label="weighted mean")
    ax.set(xscale="log", xlabel="weight scale of the random score net", ylabel=r"$J_{ESM} - J_{DSM}$ (± 2 SE)")
    ax.legend()
    return fig


def dsm_training(cfg: Config, losses: torch.Tensor, a_hat: float) -> Figure:
    """The DSM loss of the linear score during training, against its analytic minimum."""
    a = -1 / (cfg.tweedie_s**2 + cfg.tweedie_sigma**2)
    minimum = 0.5 * cfg.tweedie_dim * (a**2 * cfg.tweedie_s**2 + (a * cfg.tweedie_sigma + 1 / cfg.tweedie_sigma) ** 2)
    fig, axes = figure(height=3.2)
    ax = axes[0, 0]
    steps = np.arange(1, len(losses) + 1)
    window = max(len(losses) // 50, 1)
    smooth = np.convolve(losses.numpy(), np.ones(window) / window, mode="valid")
    ax.plot(steps, losses.numpy(), color="C0", alpha=0.25, lw=0.5, label="minibatch loss")
    ax.plot(steps[window - 1:], smooth, color="C0", label=f"running mean ({window} steps)")
    ax.axhline(minimum, color="k", ls="--", lw=1, label=f"analytic minimum {minimum:.3f}")
    ax.set(xscale="log", xlabel="step", ylabel=r"$J_{DSM}$", ylim=(minimum * 0.9, minimum * 1.6),
           title=f"$\\hat a$ = {a_hat:.4f} (truth {a:.4f})")
    ax.legend()
    return fig


def sliced_errors(cfg: Config, errors: dict[str, torch.Tensor]) -> Figure:
    """Relative error of each objective's precision against Σ⁻¹ (left) and (Σ+σ²I)⁻¹ (right)."""
    fig, axes = figure(ncols=2, height=3.4)
    x = np.arange(len(cfg.slice_dims))
    width = 0.8 / len(SLICE_METHODS)
    for ax, key, title in ((axes[0, 0], "truth", r"vs $\Sigma^{-1}$"),
                           (axes[0, 1], "noised", r"vs $(\Sigma+\sigma^2 I)^{-1}$")):
        for j, method in enumerate(SLICE_METHODS):
            ax.bar(x + (j - 1.5) * width, errors[key][:, j].numpy(), width, label=method)
        ax.set(xticks=x, xticklabels=[f"D={d}" for d in cfg.slice_dims], yscale="log",
               ylabel="relative Frobenius error", title=title)
    axes[0, 0].legend(ncols=2)
    return fig


def step_cost(cfg: Config, seconds: torch.Tensor) -> Figure:
    """Seconds per gradient step of exact SM (D+1 passes) and SSM (2 passes) against D."""
    fig, axes = figure(height=3.2)
    ax = axes[0, 0]
    dims = np.array(cfg.cost_dims)
    ax.plot(dims, seconds[:, 0].numpy() * 1e3, "o-", label="exact SM (D + 1 passes)")
    ax.plot(dims, seconds[:, 1].numpy() * 1e3, "s-", label="sliced SM (2 passes)")
    ax.set(xscale="log", yscale="log", xlabel="data dimension D", ylabel="ms per gradient step",
           title=f"MLP {cfg.cost_hidden}-{cfg.cost_hidden}, batch {cfg.cost_batch}")
    ax.set_xticks(dims, [str(d) for d in dims])
    ax.legend()
    return fig
