"""The figures of the DDPM chapter (drawn from the results of ``experiment``)."""

from __future__ import annotations

import math

import numpy as np
import torch
from matplotlib.figure import Figure

from replications.ddpm import experiment as ex
from scorelib.distributions import GaussianMixture, NoisedMixture
from scorelib.plotting import density_contours, figure, show_image, tile_images
from scorelib.samplers import ddpm_ancestral

STEPS_SHOWN = (0, 50, 200, 400, 1000)


def markov_chain(cfg: ex.Config, seed: int, n: int = 2000) -> Figure:
    """Top: the forward chain q(x_t|x_0) on the mixture. Bottom: the backward chain, Algorithm 2 with
    the exact ε*, read at the same steps (right to left in time)."""
    sched = ex.schedule(cfg)
    mix = ex.mixture(cfg).to(dtype=torch.float32)
    g = ex.generator(seed, "demo")
    x0 = mix.sample(n, g)[0]
    eps = torch.randn(x0.shape, generator=g)
    x_T = torch.randn(n, 2, generator=g)
    _, path = ddpm_ancestral(NoisedMixture(mix, sched.as_vpsde()).eps, x_T, generator=g, schedule=sched,
                             return_trajectory=True)
    fig, axes = figure(ncols=len(STEPS_SHOWN), nrows=2, height=2.3, width=12.0)
    for j, t in enumerate(STEPS_SHOWN):
        ab = float(sched.alpha_bars[t - 1]) if t > 0 else 1.0
        forward = math.sqrt(ab) * x0 + math.sqrt(1 - ab) * eps
        backward = path[sched.T - t]  # path[k] is the state after k reverse steps, i.e. x_{T-k}
        for row, pts, color in ((0, forward, "C0"), (1, backward, "C1")):
            ax = axes[row, j]
            ax.scatter(pts[:, 0], pts[:, 1], s=1, alpha=0.3, color=color, rasterized=True)
            ax.set(xlim=(-4, 4), ylim=(-4, 4), aspect="equal", xticks=[], yticks=[])
        axes[0, j].set_title(f"t = {t}" + (f"\n$\\bar\\alpha_t$ = {ab:.3g}" if t else "\ndata"))
    axes[0, 0].set_ylabel("forward\n$q(x_t|x_0)$")
    axes[1, 0].set_ylabel("backward\n(Alg. 2, $\\epsilon^*$)")
    return fig


def reverse_kernels(cfg: ex.Config, kernels: dict[str, float]) -> Figure:
    """Left: std of the reverse chain over the true std of p_t, step by step ([calc], exact variance
    recursion), for the three kernels. Right: the measured output std/s of each kernel."""
    sched = ex.schedule(cfg)
    s = cfg.kernel_s
    v = ex.gaussian_marginal_var(sched, s).numpy()
    fig, axes = figure(ncols=2, height=3.2)
    ax = axes[0, 0]
    for kernel, color in (("slide", "C3"), ("corrected", "C0")):
        ratios = [math.sqrt(var / (float(v[t - 2]) if t > 1 else s**2))
                  for t, var in ex.kernel_variances(sched, s, kernel)]
        ax.plot(np.arange(sched.T - 1, -1, -1), ratios, color=color, label=kernel)
    ax.axhline(1.0, color="k", ls="--", lw=1, label="exact posterior")
    ax.set(xlabel="step t (sampling runs right to left)", ylabel="std of chain / std of $p_t$", yscale="log",
           xlim=(sched.T, 0))
    ax.legend()
    ax = axes[0, 1]
    names = list(ex.REVERSE_KERNELS)
    ax.bar(names, [kernels[k] for k in names], color=["C3", "C0", "C2"])
    ax.axhline(1.0, color="k", ls="--", lw=1)
    for i, k in enumerate(names):
        ax.text(i, kernels[k], f"{kernels[k]:.3f}", ha="center", va="bottom")
    ax.set(ylim=(0, 1.2), ylabel="std($x_0$) / s", title=f"$x_0 \\sim N(0, {s}^2)$, {cfg.kernel_samples:,} chains")
    return fig


def regression_target(cfg: ex.Config, seed: int, t: int = 300, n: int = 3000) -> Figure:
    """The score as a regression target: pairs (x_t, -ε/√(1-ᾱ_t)) for a 1-D mixture, and their
    conditional mean, the exact score ∇log p_t(x_t)."""
    sched = ex.schedule(cfg)
    ab = float(sched.alpha_bars[t - 1])
    mix = GaussianMixture.isotropic(torch.tensor([0.6, 0.4]), torch.tensor([[-1.5], [1.5]]), torch.tensor([0.3, 0.3]))
    g = ex.generator(seed, "demo", 1)
    x0 = mix.sample(n, g)[0]
    eps = torch.randn(x0.shape, generator=g)
    xt = math.sqrt(ab) * x0 + math.sqrt(1 - ab) * eps
    target = -eps / math.sqrt(1 - ab)
    grid = torch.linspace(-3.5, 3.5, 400).unsqueeze(-1)
    score = mix.perturb(math.sqrt(ab), math.sqrt(1 - ab)).score(grid)
    fig, axes = figure(height=3.2)
    ax = axes[0, 0]
    ax.scatter(xt[:, 0], target[:, 0], s=2, alpha=0.25, color="C0", rasterized=True,
               label=r"targets $\nabla_{x_t}\log q(x_t|x_0) = -\epsilon/\sqrt{1-\bar\alpha_t}$")
    ax.plot(grid[:, 0], score[:, 0], color="C3", lw=2, label=r"regression function $\nabla\log p_t(x_t)$")
    ax.set(xlabel="$x_t$", ylabel="score", title=f"t = {t}, $\\bar\\alpha_t$ = {ab:.2f}", xlim=(-3.5, 3.5), ylim=(-6, 6))
    ax.legend(loc="upper right")
    return fig


def toy_samples(cfg: ex.Config, state: dict[str, torch.Tensor], toy: ex.ToyResult) -> Figure:
    """Samples of each objective (first seed) over the density's contours, with the median MMD²."""
    mix = ex.mixture(cfg)
    fig, axes = figure(ncols=len(cfg.toy_variants), height=3.0, width=3.0 * len(cfg.toy_variants))
    for j, variant in enumerate(cfg.toy_variants):
        ax = axes[0, j]
        x = state[f"toy.{variant}.0.samples"].cpu()
        density_contours(ax, mix.log_prob, 4.0, n=200, density=True, levels=6, colors="k", linewidths=0.5, alpha=0.5)
        ax.scatter(x[:, 0], x[:, 1], s=1, alpha=0.3, color="C0", rasterized=True)
        ax.set(xlim=(-4, 4), ylim=(-4, 4), aspect="equal", xticks=[], yticks=[],
               title=f"{ex.VARIANTS[variant][2]}\nMMD²$_b$ = {toy.median(toy.mmd, variant):.4f}")
    return fig


def digit_grid(samples: dict[str, torch.Tensor], real: torch.Tensor, n: int = 32) -> Figure:
    """Rows of 8×8 digits: each objective's samples, and held-out real digits."""
    rows = list(samples.items()) + [("real (test split)", real)]
    fig, axes = figure(nrows=len(rows), height=1.9, width=9.0)
    for ax, (name, images) in zip(axes[:, 0], rows):
        imgs = (images[:n].clamp(-1, 1).cpu().numpy()[:, 0] + 1) / 2
        show_image(ax, tile_images(imgs, cols=16, gap=1), vmin=0, vmax=1, title=name)  # white gaps (gray_r)
    return fig
