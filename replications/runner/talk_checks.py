"""The talk's equations, each with the chapter claims that check it numerically (``book/talk.ipynb``).

The book follows Dutordoir's talk *Score-based generative modelling: intro and ongoing research*.
Every equation of the talk that the book uses is listed here with the claims or checks that test it
and, where the book found a slip on a slide, the claim that shows it. Verdicts are read from the
committed ``metrics.json`` of each chapter, so this page moves with the chapters.
"""

from __future__ import annotations

from dataclasses import dataclass

from replications.runner import report
from scorelib.claims import markdown_table, verdict_of


@dataclass(frozen=True)
class TalkEquation:
    name: str
    latex: str
    chapter: str
    claims: tuple[str, ...]
    note: str = ""


TALK: tuple[TalkEquation, ...] = (
    TalkEquation("The score does not depend on Z",
                 r"$\nabla_x \log \frac{q(x)}{Z} = \nabla_x \log q(x)$", "score_matching",
                 ("gaussian_sm_is_ml_precision", "ica_sm_amari_at_largest_T"),
                 "score matching fits unnormalised models: the Gaussian's precision and an ICA unmixing matrix"),
    TalkEquation("Langevin dynamics, Euler–Maruyama step",
                 r"$x_{k+1} = x_k + \gamma \nabla \log p(x_k) + \sqrt{2}\, z_k,\ z_k \sim \mathcal N(0, \gamma I)$",
                 "ncsn", ("langevin_mode_weight", "annealed_mode_weight"),
                 "plain Langevin gets the mode weights wrong; annealing over noise levels recovers them"),
    TalkEquation("Fisher divergence",
                 r"$\mathbb E_{p(x)} \|\nabla_x \log p(x) - s_\theta(x)\|^2$", "ncsn",
                 ("ssm_fisher_divergence", "ssm_low_density_error_ratio"),
                 "small on average, large where data are scarce (the talk's 'pitfalls' slide)"),
    TalkEquation("Forward and backward Markov chain",
                 r"$p_{k+1|k} = \mathcal N(\alpha x_k, (1-\alpha^2) I)$, $p_{k|k+1}$ by Bayes' rule", "ddpm",
                 ("exact_posterior_kernel_std",), "the exact reverse kernel keeps the data's scale"),
    TalkEquation("The reverse kernel (slide)",
                 r"$x_k = (2-\alpha) x_{k+1} + (1-\alpha^2) s_\theta + (1-\alpha^2)\epsilon$", "ddpm",
                 ("slide_kernel_collapses", "corrected_kernel_std"),
                 r"slip: the noise must be scaled by $\sqrt{1-\alpha^2}$, not $1-\alpha^2$; the slide's chain collapses"),
    TalkEquation("The denoising score-matching target",
                 r"$\nabla \log p_k(x_k) = \arg\min_\theta \mathbb E \|s_\theta(x_k) - \nabla \log p_{k|0}(x_k|x_0)\|^2$",
                 "score_matching", ("dsm_linear_slope", "tweedie_mse", "dsm_recovers_noised_precision"),
                 "DSM learns the score of the noised density, and Tweedie's denoiser is the Bayes estimator"),
    TalkEquation("The reverse SDE",
                 r"$dx = [f - g^2 \nabla_x \log p_t(x)] dt + g\, d\bar W$", "score_sde",
                 ("exact_mode_weights", "exact_mmd"),
                 "with the exact score, every reverse-time sampler recovers the mixture"),
    TalkEquation("The OU kernel of the score-SDE slide",
                 r"$p_{t|0} = \mathcal N(e^{-t} x_0, (1-e^{-2t}) I)$", "score_sde",
                 ("marginal_mean", "marginal_variance"), "closed-form marginals against simulation"),
    TalkEquation("The OU marginal of function values (NDP slide)",
                 r"$p_{t|0}(y_t|y_0) = \mathcal N(e^{-\frac12 y_0}, (1-e^{-t}) I)$", "score_sde",
                 ("talk_slide_mean_refuted", "marginal_mean"),
                 "slip: the mean is $e^{-t/2} y_0$; the variance is right"),
    TalkEquation("Dimensionality invariance and exchangeability of the NDP score network",
                 r"$s_\theta(P y, P X) = P s_\theta(y, X)$, $s_\theta(y, X\Pi) = s_\theta(y, X)$", "ndp_regression",
                 ("point_equivariance", "dim_invariance")),
    TalkEquation("Conditioning with RePaint (predictions)", r"resample $U$ times per step", "ndp_regression",
                 ("repaint_resampled_kl", "repaint_naive_kl")),
    TalkEquation("Non-Gaussian posteriors: the step function",
                 r"$a \sim \mathcal U[-1, 1]$, $f(x) = \mathbb 1[x \ge a]$", "ndp_step_function",
                 ("ndp_mid_x0", "ndp_weight_x025")),
    TalkEquation("Image regression: covariances learnt from data", r"8×8 digits as functions on $[-2, 2]^2$",
                 "ndp_image_regression", ("ndp_vs_mean_image_50",)),
)


def verdicts() -> dict[tuple[str, str], str]:
    """``(chapter, claim id) → verdict`` from the committed metrics ("check holds"/"check fails" for checks)."""
    out = {}
    for record in report.committed_metrics():
        for c in record.claims:
            verdict = verdict_of(c)
            if c.get("check"):
                verdict = "check holds" if verdict == "replicated" else "check fails"
            out[(record.chapter, c["id"])] = verdict
    return out


def table() -> str:
    """The appendix table: equation, chapter, and each checking claim with its verdict."""
    known = verdicts()
    rows = []
    for eq in TALK:
        checks = "<br>".join(f"`{c}`: {known.get((eq.chapter, c), 'not measured')}" for c in eq.claims)
        rows.append([f"**{eq.name}**<br>{eq.latex}", f"{{doc}}`{eq.chapter} <../replications/{eq.chapter}/{eq.chapter}>`",
                     checks, eq.note])
    return markdown_table(["the talk's equation", "chapter", "checked by (verdict)", "note"], rows)
