"""The figures of the NDP step-function chapter (drawn from the results of ``experiment``)."""

from __future__ import annotations

import math

import torch
from matplotlib.figure import Figure

from replications.ndp_step_function.experiment import (Config, StepResult, contexts, exact_probability, grid,
                                                       gp_marginals)
from scorelib.gp import step_gp_posterior
from scorelib.plotting import figure


def _contexts(ax, cfg: Config) -> None:
    xc, yc = contexts(cfg)
    ax.plot(xc[:, 0], yc, "o", color="k", ms=7, zorder=5, label="context")


def posteriors(cfg: Config, state: dict[str, torch.Tensor], n_lines: int = 24) -> Figure:
    """Prior draws of the NDP, then the posterior given the two contexts: exact, moment-matched GP, NDP."""
    fig, axes = figure(ncols=4, height=3.0, width=12.0, sharey=True)
    L = cfg.half_width
    x_fine = torch.linspace(-L, L, 401, dtype=torch.float64).unsqueeze(-1)
    xg = grid(cfg)[:, 0]

    ax = axes[0, 0]
    for y in state["prior"][:8]:
        ax.step(xg, y, where="mid", lw=1, alpha=0.8)
    ax.set(title="NDP prior draws", xlabel="x", ylabel="f(x)")

    ax = axes[0, 1]
    p = exact_probability(cfg, x_fine)
    lo, hi = cfg.context_x[0], cfg.context_x[1]
    for a in torch.linspace(lo, hi, 9)[1:]:  # posterior draws: the step anywhere in (lo, hi]
        ax.step(x_fine[:, 0], (x_fine[:, 0] >= a).double(), where="post", color="C0", lw=1, alpha=0.5)
    ax.plot(x_fine[:, 0], p, color="k", lw=2, ls="--", label="P(f(x) = 1)")
    ax.set(title="exact posterior", xlabel="x")
    ax.legend(loc="upper left")

    ax = axes[0, 2]
    xc, yc = contexts(cfg)
    mean, cov = step_gp_posterior(xc.double(), yc.double(), x_fine, L)
    sd = cov.diagonal().clamp(min=0).sqrt()
    chol = torch.linalg.cholesky(cov + 1e-6 * torch.eye(len(x_fine), dtype=torch.float64))
    draws = mean + (chol @ torch.randn(len(x_fine), 8, generator=torch.Generator().manual_seed(0),
                                       dtype=torch.float64)).T
    for d in draws:
        ax.plot(x_fine[:, 0], d, color="C1", lw=1, alpha=0.5)
    ax.fill_between(x_fine[:, 0], mean - 2 * sd, mean + 2 * sd, color="C1", alpha=0.2, label="mean ± 2 sd")
    ax.plot(x_fine[:, 0], mean, color="C1", lw=2)
    ax.set(title="moment-matched GP", xlabel="x")
    ax.legend(loc="upper left")

    ax = axes[0, 3]
    samples = state[f"samples.U{cfg.resample}"]
    for y in samples[:n_lines]:
        ax.step(xg, y, where="mid", color="C2", lw=1, alpha=0.4)
    ax.set(title=f"NDP + RePaint (U = {cfg.resample})", xlabel="x")
    for ax in axes[0, 1:]:
        _contexts(ax, cfg)
    axes[0, 0].set_ylim(-0.6, 1.6)
    return fig


def histograms(cfg: Config, state: dict[str, torch.Tensor], result: StepResult, index: list[int]) -> Figure:
    """The posterior of f at x = 0 and x = 0.25: two point masses (exact), one bump (GP), the NDP's samples."""
    fig, axes = figure(ncols=2, height=3.2, width=10.0)
    probes = torch.tensor(cfg.probe_x, dtype=torch.float64).unsqueeze(-1)
    mean, sd = gp_marginals(cfg, probes)
    v = torch.linspace(-0.6, 1.6, 400, dtype=torch.float64)
    samples = state[f"samples.U{cfg.resample}"]
    bins = torch.linspace(-0.625, 1.625, 46)  # bins centred on 0 and 1
    width = float(bins[1] - bins[0])
    for j, ax in enumerate(axes[0]):
        y = samples[:, index[j]]
        ax.hist(y.numpy(), bins=bins.numpy(), density=True, color="C2", alpha=0.6,
                label=f"NDP ({len(y)} samples)")
        density = torch.exp(-0.5 * ((v - mean[j]) / sd[j]) ** 2) / (sd[j] * math.sqrt(2 * math.pi))
        ax.plot(v, density, color="C1", lw=2, label="moment-matched GP")
        p = float(result.exact[j])
        ax.bar([0.0, 1.0], [(1 - p) / width, p / width], width=width, color="none", edgecolor="C3", lw=2,
               label="exact (point masses)")
        ax.axvspan(*cfg.mid_band, color="0.5", alpha=0.12)
        ax.set(title=f"f(x) at x = {cfg.probe_x[j]}: exact P(f=1) = {p:.2f}", xlabel="f(x)", ylabel="density")
    axes[0, 0].legend(loc="upper center")
    return fig
