"""The figures of the NCSN chapter (drawn from the results of ``experiment``)."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure

from replications.ncsn.experiment import Config, FieldResult, ModeStats, level_density, toy, toy_sigmas
from scorelib.plotting import density_contours, figure, loss_curve, score_field, show_image, tile_images

LIM = 9.0


def _scatter(ax, x: torch.Tensor, title: str) -> None:
    x = x.detach().double().cpu().numpy()
    upper = x.sum(-1) > 0
    ax.scatter(x[upper, 0], x[upper, 1], s=2, color="C0", alpha=0.5, lw=0)
    ax.scatter(x[~upper, 0], x[~upper, 1], s=2, color="C1", alpha=0.5, lw=0)
    ax.plot([-LIM, LIM], [LIM, -LIM], color="0.6", lw=0.8, ls=":")
    ax.set(xlim=(-LIM, LIM), ylim=(-LIM, LIM), aspect="equal", title=title)


def _contours(ax, density, levels=(-20, -5), lim: float = LIM) -> None:
    cs = density_contours(ax, density.log_prob, lim, levels=sorted(levels), colors="0.3", linewidths=0.8)
    ax.clabel(cs, fmt=lambda v: f"log p={v:.0f}", fontsize=7)


def langevin_paths(cfg: Config, trajectory: torch.Tensor, stats: ModeStats, n_paths: int = 12) -> Figure:
    """Left: the exact score field and a few Langevin chains (every 5th step). Right: all 1,280 end points."""
    fig, axes = figure(ncols=2, height=3.8)
    ax = axes[0, 0]
    score_field(ax, toy(cfg).score, lim=8.0, n=17, color="0.6")
    path = trajectory[:, :n_paths].double().numpy()
    for i in range(n_paths):
        ax.plot(path[:, i, 0], path[:, i, 1], lw=0.7, alpha=0.9)
        ax.plot(path[0, i, 0], path[0, i, 1], "k.", ms=4)
    ax.set(xlim=(-LIM, LIM), ylim=(-LIM, LIM), title=f"exact score, {n_paths} chains (• = start)")
    _scatter(axes[0, 1], trajectory[-1], f"after {cfg.langevin_steps} steps: {stats.fraction:.2f} in (5,5), truth 0.80")
    return fig


def samplers_side_by_side(cfg: Config, panels: list[tuple[str, torch.Tensor, ModeStats | None]]) -> Figure:
    """One scatter per sampler (blue: the (5,5) mode, orange: the (-5,-5) mode)."""
    fig, axes = figure(ncols=len(panels), height=3.4, width=3.0 * len(panels))
    for ax, (name, x, stats) in zip(axes[0], panels):
        title = name if stats is None else f"{name}\n{stats.fraction:.3f} in (5,5), std {stats.std:.2f}"
        _scatter(ax, x, title)
    return fig


def noise_levels(cfg: Config) -> Figure:
    """The level densities along the diagonal x = y = t/√2, under both conventions, for four σ."""
    fig, axes = figure(ncols=2, height=3.2)
    sigmas = toy_sigmas(cfg)
    t = torch.linspace(-15, 15, 601, dtype=torch.float64)
    line = torch.stack([t, t], -1) / np.sqrt(2)
    for ax, convention, title in ((axes[0, 0], "component", r"component std $\sigma_i$ (official toy code)"),
                                  (axes[0, 1], "perturbed", r"perturbed $q_{\sigma_i} = p * \mathcal{N}(0, \sigma_i^2 I)$")):
        for k, i in enumerate((0, 3, 6, 9)):
            sigma = float(sigmas[i])
            density = level_density(cfg, sigma, convention)
            variance = sigma**2 if convention == "component" else 1 + sigma**2  # of each component
            ax.plot(t.numpy(), density.log_prob(line).exp().numpy() * 2 * np.pi * variance,
                    color=f"C{k}", label=fr"$\sigma$ = {sigma:.2f}")
        ax.set(xlabel=r"position along the diagonal $t$, $x = y = t/\sqrt{2}$", yscale="log", ylim=(1e-3, 2),
               title=title)
    axes[0, 0].set_ylabel(r"$2\pi v\cdot$ density (peak ≈ weight)")
    axes[0, 0].legend()
    return fig


def score_errors(cfg: Config, field: FieldResult, learned_score) -> Figure:
    """Left: true (grey) and SSM-learned (blue) score fields with log p contours. Right: the error
    ‖s_θ − ∇log p‖ at each grid point against log p."""
    fig, axes = figure(ncols=2, height=3.8)
    ax = axes[0, 0]
    p = toy(cfg)
    score_field(ax, p.score, lim=8.0, n=17, color="0.6", label=r"$\nabla\log p$")
    score_field(ax, learned_score, lim=8.0, n=17, color="C0", label=r"$s_\theta$ (SSM-VR)")
    _contours(ax, p)
    ax.set(xlim=(-LIM, LIM), ylim=(-LIM, LIM), title="true vs learned score")
    ax.legend(loc="lower right", fontsize="x-small")
    ax = axes[0, 1]
    ax.scatter(field.log_p.numpy(), field.error.numpy(), s=3, alpha=0.5, lw=0)
    for thr, label in ((-20, "log p < −20"), (-5, "log p > −5")):
        ax.axvline(thr, color="0.4", ls="--", lw=0.8)
    ax.axhline(field.low, color="C3", lw=1, label=f"mean where log p < −20: {field.low:.2f}")
    ax.axhline(field.high, color="C2", lw=1, label=f"mean where log p > −5: {field.high:.3f}")
    ax.set(xlabel="log p(x) at the grid point", ylabel=r"$\|s_\theta(x) - \nabla\log p(x)\|$", yscale="log",
           title=f"{cfg.grid_n}×{cfg.grid_n} grid on [−8, 8]²")
    ax.legend(fontsize="x-small")
    return fig


def training_losses(curves: dict[str, torch.Tensor]) -> Figure:
    """Loss curves (running mean over 1/50 of the run) of the chapter's trained networks."""
    fig, axes = figure(ncols=len(curves), height=2.8)
    for ax, (name, losses) in zip(axes[0], curves.items()):
        values = losses.double().numpy()
        loss_curve(ax, values)
        lo, hi = np.percentile(values, [0.5, 99])
        ax.set(xlabel="step", title=name, ylim=(lo - 0.05 * abs(lo), hi))
    return fig


def digits_grid(samples: torch.Tensor, real: torch.Tensor, n: int = 64) -> Figure:
    """8×8 grids of NCSN samples (left) and held-out digits (right), pixel values clipped to [-1, 1]."""
    fig, axes = figure(ncols=2, height=3.4)
    for ax, images, title in ((axes[0, 0], samples, "NCSN samples (annealed Langevin)"),
                              (axes[0, 1], real, "held-out digits (test split)")):
        show_image(ax, tile_images(images[:n, 0].clamp(-1, 1), cols=8), vmin=-1, vmax=1, title=title)
        for k in range(1, 8):
            ax.axhline(8 * k - 0.5, color="w", lw=1)
            ax.axvline(8 * k - 0.5, color="w", lw=1)
    return fig
