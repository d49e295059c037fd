"""The figures of the NDP regression chapter (drawn from the results of ``experiment``)."""

from __future__ import annotations

import torch
from matplotlib.figure import Figure

from replications.ndp_regression.experiment import (GP_KERNELS, LABELS, Config, OracleResult, RegressionResult,
                                                    exact_predictive, figure_inputs)
from scorelib.plotting import figure


def ndp_vs_gp(cfg: Config, state: dict[str, torch.Tensor], seed: int) -> Figure:
    """The talk's "NDP vs GP" slide: per kernel, NDP prior draws, then conditional samples of the NDP and the
    exact GP posterior (mean ± 2 sd) given the same contexts."""
    fig, axes = figure(ncols=3, nrows=len(GP_KERNELS), height=2.8, width=12.0, sharex=True)
    for row, kernel in enumerate(GP_KERNELS):
        xc, yc, xg = figure_inputs(cfg, kernel, seed)
        x = xg[:, 0]
        ax = axes[row, 0]
        for y in state[f"prior.{kernel}"]:
            ax.plot(x, y, lw=1, alpha=0.8)
        ax.set(title=f"NDP prior draws ({LABELS[kernel]} data)", ylabel="y")
        mean, cov = exact_predictive(cfg, kernel, xc, yc, xg)
        sd = cov.diagonal().sqrt()
        samples = state[f"figure.{kernel}"]
        for col, title in ((1, "NDP conditional samples"), (2, "NDP mean ± 2 sd vs exact GP")):
            ax = axes[row, col]
            ax.fill_between(x, mean - 2 * sd, mean + 2 * sd, color="C1", alpha=0.2, label="exact GP ± 2 sd")
            ax.plot(x, mean, color="C1", lw=2, label="exact GP mean")
            ax.plot(xc[:, 0], yc, "o", color="k", ms=6, zorder=5, label="context")
            ax.set(title=title)
        for y in samples[:16]:
            axes[row, 1].plot(x, y, color="C0", lw=1, alpha=0.5)
        m, s = samples.mean(0), samples.std(0)
        axes[row, 2].plot(x, m, color="C0", lw=2, label="NDP mean")
        axes[row, 2].plot(x, m - 2 * s, color="C0", lw=1, ls="--", label="NDP ± 2 sd")
        axes[row, 2].plot(x, m + 2 * s, color="C0", lw=1, ls="--")
        for ax in axes[row]:
            ax.set_ylim(-3.5, 3.5)
    axes[0, 2].legend(loc="lower left", fontsize="x-small", ncol=2)
    for ax in axes[-1]:
        ax.set_xlabel("x")
    return fig


def tll_by_context(results: dict[str, RegressionResult]) -> Figure:
    """TLL per target point against the number of contexts: exact GP, a Gaussian fitted to exact GP samples
    (the estimator's own bias), to the NDP's samples, and to GP prior samples (a model that ignores the contexts)."""
    fig, axes = figure(ncols=len(results), height=3.2, width=10.0, sharey=True)
    for ax, (kernel, r) in zip(axes[0], results.items()):
        c = r.n_context.double()
        ax.plot(c, r.tll_gp, "o", color="C1", label="exact GP")
        ax.plot(c + 0.15, r.tll_gp_fitted, "s", color="C2", ms=4, label="Gaussian fit to GP samples")
        ax.plot(c - 0.15, r.tll_ndp, "^", color="C0", label="Gaussian fit to NDP samples")
        ax.plot(c - 0.3, r.tll_prior_fitted, "x", color="C7", label="Gaussian fit to GP prior samples (contexts ignored)")
        ax.set(title=f"{LABELS[kernel]}: NDP − GP = {r.gap:+.2f} ± {r.gap_se:.2f}", xlabel="contexts",
               ylabel="TLL per target point")
    axes[0, 0].legend(loc="lower right", fontsize="x-small")
    return fig


def repaint_oracle(r: OracleResult) -> Figure:
    """RePaint with the exact denoiser: the samples' mean ± 2 sd of the unknown entries against the exact
    conditional, for U = 1 and the largest U; and KL over U for both β indexings."""
    fig, axes = figure(ncols=3, height=3.2, width=12.0)
    unknown = ~r.known
    xs = r.x[unknown]
    for ax, u in zip(axes[0, :2], (r.resample[0], r.resample[-1])):
        s = r.samples[u]
        ax.fill_between(xs, r.exact_mean - 2 * r.exact_std, r.exact_mean + 2 * r.exact_std, color="C1", alpha=0.2,
                        label="exact ± 2 sd")
        ax.plot(xs, r.exact_mean, color="C1", lw=2, label="exact mean")
        ax.errorbar(xs, s.mean(0), yerr=2 * s.std(0), fmt="o", color="C0", ms=3, capsize=2, label="RePaint ± 2 sd")
        ax.plot(r.x[r.known], r.y[r.known], "o", color="k", ms=7, zorder=5, label="known")
        ax.set(title=f"U = {u}", xlabel="x", ylim=(-3.5, 3.5))
    axes[0, 0].legend(loc="lower left", fontsize="x-small")
    ax = axes[0, 2]
    for renoise, style in (("t", "o-"), ("t-1", "s--")):
        ax.plot(r.resample, r.kl[renoise], style, label=f"jump back with β_{renoise}")
    ax.set(xlabel="resampling rounds U", ylabel="KL(sampled ‖ exact)", yscale="log", title="RePaint's own error")
    ax.legend()
    return fig
