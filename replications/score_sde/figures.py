"""The figures of the score-SDE chapter (drawn from the results of ``experiment``)."""

from __future__ import annotations

import torch
from matplotlib.figure import Figure

from replications.score_sde.experiment import (CHAPTER_SAMPLERS, LABELS, Config, LikelihoodResult, MarginalResult,
                                               SamplerResult, conditional_density, mixture, sdes)
from scorelib.distributions import GaussianMixture
from scorelib.metrics import mmd2_to_mixture
from scorelib.plotting import density_contours, figure, loss_curve

LIM = (-4.0, 4.0)


def marginals(cfg: Config, marg: MarginalResult) -> Figure:
    """Closed-form m(t) and s(t)² of each SDE (lines) against Euler–Maruyama simulation (dots)."""
    fig, axes = figure(ncols=2, height=3.4)
    t = torch.linspace(1e-3, 1.0, 200, dtype=torch.float64)
    for i, (name, sde) in enumerate(sdes(cfg).items()):
        m, s = sde.marginal(t)
        color = f"C{i}"
        axes[0, 0].plot(t, m, color=color, label=name, ls="--" if name == "sub-VP" else "-")
        axes[0, 1].plot(t, s**2, color=color, label=name)
        axes[0, 0].plot(marg.times, marg.sim_mean_coef[i], "o", color=color, ms=4)
        axes[0, 1].plot(marg.times, marg.sim_var[i], "o", color=color, ms=4)
    axes[0, 0].set(xlabel="t", ylabel="mean coefficient m(t)", title="E[x_t] = m(t) x₀ (dots: simulation)")
    axes[0, 1].set(xlabel="t", ylabel="variance s(t)²", yscale="log", title="Var[x_t] (dots: simulation)")
    axes[0, 0].legend()
    return fig


def sample_grid(mix: GaussianMixture, samples: dict[str, torch.Tensor], result: SamplerResult,
                extra=None, title: str = "") -> Figure:
    """One scatter panel per sampler over the mixture's log-density contours; ``extra(ax)`` draws a 6th."""
    fig, axes = figure(ncols=3, nrows=2, height=3.0, width=10.0)
    for ax, name in zip(axes.flat, CHAPTER_SAMPLERS):
        x = samples[name].numpy()
        ax.scatter(x[:, 0], x[:, 1], s=1, alpha=0.3, color="C0", rasterized=True)
        density_contours(ax, mix.log_prob, LIM, levels=[-6, -4, -2, 0], colors="k", linewidths=0.6, alpha=0.6)
        w = ", ".join(f"{v:.2f}" for v in result.weights[name].tolist())
        ax.set(xlim=LIM, ylim=LIM, aspect="equal")
        ax.set_title(f"{LABELS[name]}\nŵ ({w}) · MMD² {result.mmd[name] / result.q99:.2f}× null q99", fontsize="small")
    if extra is not None:
        extra(axes.flat[-1])
    if title:
        fig.suptitle(title)
    return fig


def exact_samplers(cfg: Config, state: dict[str, torch.Tensor], result: SamplerResult) -> Figure:
    mix = mixture(cfg)

    def sweep(ax):
        # the sweep's MMD² is to the mixture itself (closed form), over its own exact-sample floor at sweep_samples
        _, floor = mmd2_to_mixture(mix.sample(cfg.sweep_samples, torch.Generator().manual_seed(0))[0], mix)
        mmd = state["sweep.mmd"] / floor
        names = ("euler_maruyama", "reverse_diffusion", "ancestral", "predictor_corrector")
        for i, (sde, ls) in enumerate((("VE", "-"), ("VP", "--"))):
            for j, name in enumerate(names):
                ax.plot(cfg.sweep_steps, mmd[i, j].numpy(), ls, marker="o", ms=3, color=f"C{j}",
                        label=f"{LABELS[name]}" if i == 0 else None)
        ax.axhline(1.0, color="k", lw=0.8, ls=":")
        ax.set(xscale="log", yscale="log", xlabel="steps N", ylabel="MMD²_b / floor",
               title="VE (solid), VP (dashed) vs N")
        ax.legend(fontsize="x-small")

    return sample_grid(mix, {s: state[f"exact.VP.{s}"] for s in CHAPTER_SAMPLERS}, result, sweep,
                       f"VP SDE, exact score, N = {cfg.sampler_steps}")


def learned_samplers(cfg: Config, state: dict[str, torch.Tensor], result: SamplerResult) -> Figure:
    mix = mixture(cfg)

    def losses(ax):
        loss_curve(ax, state["losses"].numpy(), raw_alpha=0.25)
        ax.set(xscale="log", xlabel="step", ylabel="eq. (7) loss, λ = s(t)²", title="training")

    return sample_grid(mix, {s: state[f"learned.{s}"] for s in CHAPTER_SAMPLERS}, result, losses,
                       f"VP SDE, learned score, N = {cfg.learned_steps}")


def likelihood_errors(lik: LikelihoodResult, truth: torch.Tensor) -> Figure:
    """log p_ODE − log p against log p, exact divergence and Hutchinson."""
    fig, axes = figure(height=3.2)
    ax = axes[0, 0]
    ax.plot(truth, lik.hutch_error, "s", ms=3, color="C1", alpha=0.6,
            label=f"Hutchinson, 1 Rademacher probe ({lik.nfe_hutch} evaluations)")
    ax.plot(truth, lik.exact_error, "o", ms=3, color="C0", label=f"exact divergence ({lik.nfe_exact} evaluations)")
    ax.axhline(0.0, color="k", lw=0.8)
    ax.set(xlabel="exact log p(x)", ylabel="log p_ODE(x) − log p(x)  (nats)", title="probability-flow likelihood, exact score")
    ax.legend()
    return fig


def imputation(cfg: Config, x2: torch.Tensor) -> Figure:
    """Histograms of x₂ | x₁ from the learned score (replacement method) against the exact conditional."""
    mix = mixture(cfg)
    fig, axes = figure(ncols=len(cfg.impute_x1), height=3.0)
    grid = torch.linspace(-4.5, 3.5, 400, dtype=torch.float64)
    for ax, x1, samples in zip(axes.flat, cfg.impute_x1, x2):
        ax.hist(samples.numpy(), bins=60, range=(-4.5, 3.5), density=True, color="C0", alpha=0.5, label="imputed")
        ax.plot(grid, conditional_density(mix, x1, grid), color="k", lw=1, label="exact p(x₂|x₁)")
        ax.set(xlabel="x₂", title=f"x₁ = {x1:g}")
    axes[0, 0].legend()
    return fig
