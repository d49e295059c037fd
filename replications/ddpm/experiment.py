"""Chapter ``ddpm``: profiles, data, fits, evaluations and claims (Ho, Jain & Abbeel 2020).

Claims (Ho et al. 2020, and the talk the book follows), T = 1000, β linear 1e-4 → 0.02, σ_t² = β_t. Every
counted claim names a negative control measured by the same code (see ``CLAIMS`` and ``measured_controls``):

1. The talk's reverse kernel x_k = (2-α)x_{k+1} + (1-α²)s + (1-α²)ε has the wrong noise scale: with the
   exact score of a Gaussian its output variance collapses; with std √(1-α²) it is right, as is the
   exact posterior q(x_{t-1}|x_t, x_0) averaged over p(x_0|x_t).
2. Algorithm 2 with the exact ε* samples the data law: std 1.000 ± 0.005 for N(0, 1), mode weights
   within ±0.02 for the 2-D mixture.
3. Table 2 in miniature: ε-prediction with L_simple samples the mixture as well as exact sampling does (an MMD
   two-sample test at level 1%), and beats the rows the paper ranks it against, ε/L and μ̃/L.
4. DDPM on scikit-learn's digits: the VLB in bits/dim against the independent-pixel model, and our digits
   Fréchet distance against a pixel-space Gaussian.

``fit`` does all the training and the expensive network sampling (its result is what the full profile
commits as artifacts); the ``*_check`` functions evaluate claims from it, and claims 1-2 (exact scores,
no network) are recomputed from scratch in every run.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch import Tensor

from scorelib import losses
from scorelib.claims import Claim, ClaimTable
from scorelib.curves import ComputeCurve, CurvePoint, at_budget, doubling_budgets, fit_over_budgets
from scorelib.datasets import digits
from scorelib.digits_classifier import digits_classifier
from scorelib.distributions import GaussianMixture, NoisedMixture, moment_matched_gaussian
from scorelib.errors import ConfigError
from scorelib.kernel_distance import digits_kernel_distance, digits_kid_references
from scorelib.likelihood import ddpm_vlb
from scorelib.metrics import (digits_fd_references, digits_frechet_distance, median_ladder, mmd2, mmd2_null,
                              mode_weight_error, rbf_kernel_mean)
from scorelib.nets import MLP, UNet
from scorelib.parameterization import as_eps_model, posterior_mean
from scorelib.runtime import SeedStreams, num_threads
from scorelib.samplers import ddpm_ancestral
from scorelib.schedules import DDPMSchedule
from scorelib.training import TrainConfig, pack_weights, train

CHAPTER = "ddpm"
DTYPE = torch.float64  # analytic references and metrics
# The exact-score chains of claims 1-2 run in float32: 10⁵ chains × 1,000 steps are mostly random draws,
# which cost 4-5× more in float64, and float32 round-off (~1e-6 relative over the chain) is far below
# the ±0.005 tolerance.
CHAIN_DTYPE = torch.float32
DIGIT_LEVELS = 17  # scikit-learn's digits take the values 0..16 (→ v/8 - 1 in [-1, 1])
UNIFORM_BITS = math.log2(DIGIT_LEVELS)  # 4.087 bits/dim: every level equally likely
#: ``independent_pixel_bits()`` on the whole test split (2.4230; a test checks it)
INDEPENDENT_PIXEL_BITS = 2.423

#: The objectives of Table 2 that the toy compares: (prediction, weighting) and the paper's wording.
VARIANTS: dict[str, tuple[str, str, str]] = {
    "eps/simple": ("eps", "simple", "ε prediction, ‖ε − ε_θ‖² (L_simple)"),
    "eps/vlb": ("eps", "vlb", "ε prediction, L (fixed isotropic Σ)"),
    "mean/simple": ("mean", "simple", "μ̃ prediction, ‖μ̃ − μ̃_θ‖² (MSE)"),
    "mean/vlb": ("mean", "vlb", "μ̃ prediction, L (fixed isotropic Σ)"),
}
#: Ho et al. (2020), Table 2 (CIFAR-10, unconditional): IS, FID. NaN: the paper reports "–"
#: (training unstable). Checked against a public copy of the paper; see the notebook.
PAPER_TABLE2: dict[str, tuple[float, float]] = {
    "eps/simple": (9.46, 3.17),
    "eps/vlb": (7.67, 13.51),
    "mean/simple": (math.nan, math.nan),
    "mean/vlb": (8.06, 13.22),
}


@dataclass(frozen=True)
class Config:
    """Every size and setting of the chapter; QUICK and FULL differ only in sizes."""

    T: int = 1000
    beta_1: float = 1e-4
    beta_T: float = 0.02
    kernel_s: float = 0.5
    kernel_samples: int = 100_000
    exact_s: float = 1.0
    exact_samples: int = 100_000
    mixture_samples: int = 20_000
    mix_weights: tuple[float, ...] = (0.5, 0.3, 0.2)
    mix_means: tuple[tuple[float, float], ...] = ((-2.0, 0.0), (2.0, 1.0), (0.0, -2.5))
    mix_stds: tuple[float, ...] = (0.3, 0.5, 0.2)
    toy_hidden: tuple[int, ...] = (128, 128, 128)
    toy_embedding: int = 32
    # every row of Table 2 that the toy compares: the claims rank ε/L_simple against ε/L and μ̃/L, and ε/L is
    # the MMD claim's control, so the quick profile trains them too (one seed)
    toy_variants: tuple[str, ...] = ("eps/simple", "eps/vlb", "mean/simple", "mean/vlb")
    toy_seeds: int = 1
    toy_samples: int = 2000
    toy_train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=2000, batch_size=256, lr=2e-3,
                                                                       ema_decay=0.995))
    toy_entropy_samples: int = 200_000
    digits_objectives: tuple[str, ...] = ("eps/simple", "mean/vlb")
    # Claim 4 in the quick profile is a sanity check only: there T = 200 with β_t rescaled by 1000/T
    # (5e-3 … 0.1 → ᾱ_T ≈ 4e-5 as with T = 1000), so that sampling and the bound cost 5× less.
    digits_T: int = 200
    digits_beta_1: float = 5e-4
    digits_beta_T: float = 0.1
    digits_channels: int = 16
    digits_train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=200, batch_size=32, lr=2e-3,
                                                                          ema_decay=0.95))
    # 200 samples at both profiles: the digits KID's real-data floor passes its bar clearly from n = 200 on (at 32 it
    # does not: 0 ± 0.17), and 200 draws cost the quick profile's 200-step chain a few seconds.
    digits_samples: int = 200
    digits_vlb_images: int = 16


QUICK = Config()
FULL = Config(
    toy_seeds=3,
    toy_samples=4000,
    toy_train=TrainConfig(steps=2000, batch_size=256, lr=2e-3, ema_decay=0.995),
    digits_T=1000,
    digits_beta_1=1e-4,
    digits_beta_T=0.02,
    # 12,000 steps (issue 24): at 1,500 the bound was still falling by 0.47 bits/dim; the compute curve's budgets are
    # then 1,500 (the earlier full profile), 3,000, 6,000 and 12,000
    digits_train=TrainConfig(steps=12_000, batch_size=64, lr=2e-3, ema_decay=0.995),
    digits_samples=200,
    digits_vlb_images=64,
)
PROFILES: dict[str, Config] = {"quick": QUICK, "full": FULL}

# Sub-experiments draw from their own generators, so changing one never shifts another's data. Small
# networks and elementwise chains run on one thread (``num_threads(1)``): per-operation overhead dominates
# them, and a second thread on a busy 2-core machine only adds to it.
STREAMS = SeedStreams({"kernel": 1, "exact": 2, "mixture": 3, "toy_train": 4, "toy_sample": 5, "toy_test": 6,
                       "toy_init": 7, "digits": 8, "digits_sample": 9, "digits_vlb": 10, "digits_baseline": 11,
                       "digits_init": 12, "demo": 13, "controls": 14})
generator = STREAMS.generator


def schedule(cfg: Config) -> DDPMSchedule:
    """β_t linear from β_1 to β_T, t = 1..T (Ho et al. 2020, §4)."""
    return DDPMSchedule.linear(cfg.T, cfg.beta_1, cfg.beta_T)


def digits_schedule(cfg: Config) -> DDPMSchedule:
    """The digits' schedule: T = 1000, 1e-4 → 0.02 in the full profile (see ``Config.digits_T``)."""
    return DDPMSchedule.linear(cfg.digits_T, cfg.digits_beta_1, cfg.digits_beta_T)


def mixture(cfg: Config) -> GaussianMixture:
    """The 2-D toy: weights (0.5, 0.3, 0.2), means (-2,0), (2,1), (0,-2.5), stds 0.3, 0.5, 0.2."""
    return GaussianMixture.isotropic(cfg.mix_weights, cfg.mix_means, cfg.mix_stds, dtype=DTYPE)


DIVERGED = 100.0  # |x| beyond which a toy sample counts as a diverged chain (the data lie within |x| < 5)


# --------------------------------------------------------------------------------------------
# Claim 1: the reverse kernel of the slide, the corrected kernel, and the exact posterior
# --------------------------------------------------------------------------------------------

REVERSE_KERNELS: tuple[str, ...] = ("slide", "corrected", "exact")


def gaussian_marginal_var(sched: DDPMSchedule, s: float) -> Tensor:
    """v_t = ᾱ_t s² + 1 - ᾱ_t, the variance of p_t when x_0 ~ N(0, s²): ``[T]``."""
    return sched.alpha_bars * s**2 + 1 - sched.alpha_bars


def reverse_chain(sched: DDPMSchedule, s: float, kernel: str, n: int, g: torch.Generator) -> Tensor:
    """Run a reverse kernel from x_T ~ p_T = N(0, v_T) down to x_0 for x_0 ~ N(0, s²), with the exact
    score ∇log p_t(x) = -x/v_t. Returns x_0 ``[n]``. In the talk's notation the forward
    kernel is N(αx, (1-α²)I), i.e. α = √α_t and 1-α² = β_t:

    - ``"slide"``: x ← (2-α)x + (1-α²)s(x) + (1-α²)z (the slide, noise std 1-α²);
    - ``"corrected"``: the same with noise std √(1-α²);
    - ``"exact"``: x̂_0 ~ p(x_0|x_t) (Gaussian, exact), then x ~ q(x_{t-1}|x_t, x̂_0) (Ho et al. eq. 6-7),
      which is exact ancestral sampling of p(x_{t-1}|x_t) = ∫q(x_{t-1}|x_t,x_0)p(x_0|x_t)dx_0.
    """
    if kernel not in REVERSE_KERNELS:
        raise ConfigError(f"unknown reverse kernel {kernel!r}; choose one of {', '.join(REVERSE_KERNELS)}")
    v = gaussian_marginal_var(sched, s)
    x = v[-1].sqrt() * torch.randn(n, generator=g, dtype=CHAIN_DTYPE)
    for t in range(sched.T, 0, -1):
        beta, alpha, ab, vt = (float(sched.betas[t - 1]), math.sqrt(float(sched.alphas[t - 1])),
                               float(sched.alpha_bars[t - 1]), float(v[t - 1]))
        z = torch.randn(n, generator=g, dtype=CHAIN_DTYPE)
        if kernel == "exact":
            # p(x_0 | x_t) for x_t = √ᾱ x_0 + √(1-ᾱ) ε: N(√ᾱ s²/v_t · x_t, s²(1-ᾱ)/v_t)
            x0 = math.sqrt(ab) * s**2 / vt * x + math.sqrt(s**2 * (1 - ab) / vt) * torch.randn(n, generator=g, dtype=CHAIN_DTYPE)
            x = posterior_mean(x, x0, sched, t) + math.sqrt(float(sched.posterior_variance[t - 1])) * z
        else:
            score = -x / vt
            noise_std = beta if kernel == "slide" else math.sqrt(beta)
            x = (2 - alpha) * x + beta * score + noise_std * z
    return x


def kernel_variances(sched: DDPMSchedule, s: float, kernel: str) -> Iterator[tuple[int, float]]:
    """[calc] (t, Var(x_{t-1})) after each reverse step t = T … 1 of the slide or corrected kernel from
    x_T ~ p_T, by the exact variance recursion Var' = c_t² Var + (noise std)², c_t = (2-α) - (1-α²)/v_t
    (both kernels are linear in x here)."""
    v = gaussian_marginal_var(sched, s)
    var = float(v[-1])
    for t in range(sched.T, 0, -1):
        beta, alpha = float(sched.betas[t - 1]), math.sqrt(float(sched.alphas[t - 1]))
        c = (2 - alpha) - beta / float(v[t - 1])
        var = c * c * var + (beta**2 if kernel == "slide" else beta)
        yield t, var


def kernel_variance_recursion(sched: DDPMSchedule, s: float, kernel: str) -> float:
    """[calc] The output std/s of the slide or corrected kernel (:func:`kernel_variances` at t = 1)."""
    *_, (_, var) = kernel_variances(sched, s, kernel)
    return math.sqrt(var) / s


@num_threads(1)
def kernel_check(cfg: Config, seed: int) -> dict[str, float]:
    """Output std/s of each reverse kernel ({kernel: ratio}), from ``kernel_samples`` chains."""
    sched = schedule(cfg)
    out = {}
    for i, kernel in enumerate(REVERSE_KERNELS):
        x = reverse_chain(sched, cfg.kernel_s, kernel, cfg.kernel_samples, generator(seed, "kernel", i))
        out[kernel] = float(x.double().std()) / cfg.kernel_s
    return out


def one_step_variances(cfg: Config, t: int) -> dict[str, float]:
    """[calc] One reverse step from x_t ~ p_t exactly: Var(x_{t-1}) of each kernel divided by the
    true v_{t-1} (analytic; the exact kernel gives 1)."""
    sched = schedule(cfg)
    v = gaussian_marginal_var(sched, cfg.kernel_s)
    vt, vprev = float(v[t - 1]), (float(v[t - 2]) if t > 1 else cfg.kernel_s**2)
    beta, alpha = float(sched.betas[t - 1]), math.sqrt(float(sched.alphas[t - 1]))
    c = (2 - alpha) - beta / vt
    return {"slide": (c * c * vt + beta**2) / vprev, "corrected": (c * c * vt + beta) / vprev, "exact": 1.0}


# --------------------------------------------------------------------------------------------
# Claim 2: Algorithm 2 with the exact ε*
# --------------------------------------------------------------------------------------------


def gaussian_eps(sched: DDPMSchedule, s: float):
    """ε*(x_t, t) = E[ε | x_t] = x_t √(1-ᾱ_t)/(ᾱ_t s² + 1 - ᾱ_t) for x_0 ~ N(0, s²I)."""
    def eps(x: Tensor, t: Tensor) -> Tensor:
        ab = sched.at(sched.alpha_bars, t, x)
        return x * (1 - ab).sqrt() / (ab * s**2 + 1 - ab)
    return eps


def exact_ancestral_variance(sched: DDPMSchedule, s: float, variance: str) -> float:
    """[calc] Output std of Algorithm 2 with ε* for N(0, s²), by the exact variance recursion."""
    sigma2 = sched.sigma2(variance)
    var = 1.0
    for t in range(sched.T, 0, -1):
        ab, a, b = float(sched.alpha_bars[t - 1]), float(sched.alphas[t - 1]), float(sched.betas[t - 1])
        c = (1 - b / (ab * s**2 + 1 - ab)) / math.sqrt(a)
        var = c * c * var + (float(sigma2[t - 1]) if t > 1 else 0.0)
    return math.sqrt(var)


@dataclass(frozen=True)
class NoiselessSchedule(DDPMSchedule):
    """The schedule with σ_t = 0: Algorithm 2 without its noise (x_{t-1} = μ_θ(x_t, t)), the ancestral claims'
    control. For N(0, 1) and the exact ε* each step multiplies x by √(1-β_t): std √ᾱ_T ≈ 0.006."""

    def sigma2(self, variance: str = "beta") -> Tensor:
        return torch.zeros_like(self.betas)


def ancestral_std(cfg: Config, sched: DDPMSchedule, variance: str, g: torch.Generator) -> float:
    """std of Algorithm 2's output with the exact ε* of N(0, s²) (``exact_samples`` chains from N(0, I))."""
    x = ddpm_ancestral(gaussian_eps(sched, cfg.exact_s), torch.randn(cfg.exact_samples, 1, generator=g, dtype=CHAIN_DTYPE),
                       generator=g, schedule=sched, variance=variance)
    return float(x.double().std())


def ancestral_mixture(cfg: Config, target: GaussianMixture, g: torch.Generator) -> Tensor:
    """``mixture_samples`` draws of Algorithm 2 with the exact ε* of ``target``:
    ε*(x_t, t) = -√(1-ᾱ_t)·∇log p_t(x_t), p_t the target noised to step t (closed form; float32 like x)."""
    sched = schedule(cfg)
    return ddpm_ancestral(NoisedMixture(target, sched.as_vpsde()).eps,
                          torch.randn(cfg.mixture_samples, 2, generator=g, dtype=CHAIN_DTYPE), generator=g, schedule=sched)


@num_threads(1)
def exact_sampler_check(cfg: Config, seed: int) -> dict[str, float]:
    """Algorithm 2 with ε*: output std for N(0, s²) with σ_t² = β_t and β̃_t, and the mixture's mode
    weights (max |ŵ_k - w_k|, and the weights themselves); and the controls: σ_t = 0 (same chains), and
    the exact ε* of the moment-matched Gaussian scored as a sampler of the mixture."""
    sched = schedule(cfg)
    out = {}
    for i, variance in enumerate(("beta", "beta_tilde")):
        out[f"std_{variance}"] = ancestral_std(cfg, sched, variance, generator(seed, "exact", i))
        out[f"std_{variance}_calc"] = exact_ancestral_variance(sched, cfg.exact_s, variance)
    out["std_noiseless"] = ancestral_std(cfg, NoiselessSchedule(sched.betas), "beta", generator(seed, "controls", 0))
    mix = mixture(cfg)
    w, out["mixture_weight_error"] = mode_weight_error(mix, ancestral_mixture(cfg, mix, generator(seed, "mixture")))
    out["mixture_weights"] = w.tolist()
    gauss = ancestral_mixture(cfg, moment_matched_gaussian(mix).to(dtype=DTYPE), generator(seed, "controls", 1))
    w, out["gaussian_weight_error"] = mode_weight_error(mix, gauss)
    out["gaussian_weights"] = w.tolist()
    return out


# --------------------------------------------------------------------------------------------
# Claim 3: Table 2 in miniature
# --------------------------------------------------------------------------------------------


def toy_net(cfg: Config) -> MLP:
    """MLP 2 → 128 → 128 → 128 → 2, SiLU, sinusoidal embedding of t ∈ {1..T} (Ho et al. 2020, App. B)."""
    return MLP(2, 2, hidden=cfg.toy_hidden, activation="silu", time_embedding=cfg.toy_embedding)


@num_threads(1)
def fit_toy(cfg: Config, seed: int, device: torch.device, progress: bool = True) -> dict[str, Tensor]:
    """Train every (variant, seed) on fresh mixture samples; draw ``toy_samples`` with Algorithm 2."""
    sched = schedule(cfg)
    mix = mixture(cfg).to(dtype=torch.float32)
    out: dict[str, Tensor] = {}
    for v, variant in enumerate(cfg.toy_variants):
        prediction, weighting, _ = VARIANTS[variant]
        for r in range(cfg.toy_seeds):
            run_seed = seed + r
            net = STREAMS.build(lambda: toy_net(cfg), run_seed, "toy_init", v).to(device)

            def batch(n: int, gen: torch.Generator) -> Tensor:
                return mix.sample(n, gen)[0].to(device)

            def loss_fn(model, x0, gen, prediction=prediction, weighting=weighting):
                return losses.ddpm_loss(model, x0, sched, prediction=prediction, weighting=weighting, generator=gen)

            result = train(net, loss_fn, batch, cfg.toy_train, generator(run_seed, "toy_train", v), progress=progress,
                           description=f"toy {variant}, seed {run_seed}")
            g = generator(run_seed, "toy_sample", v)
            x_T = torch.randn(cfg.toy_samples, 2, generator=g).to(device)
            samples = ddpm_ancestral(as_eps_model(result.best, prediction, sched), x_T, generator=g, schedule=sched)
            key = f"toy.{variant}.{r}"
            out |= pack_weights(result.best, f"{key}.net")
            out[f"{key}.samples"] = samples.cpu()
            out[f"{key}.losses"] = torch.tensor(result.losses)
    return out


#: MMD²_b (:func:`scorelib.metrics.mmd2`, biased) with the median-heuristic ladder of bandwidths
#: (:func:`scorelib.metrics.median_ladder`, fixed by the test set), the toy chapters' one MMD (score_sde uses the
#: same), on the first 2,000 samples of each set against one fresh test set of 2,000 data points. The criterion is
#: the 99% quantile of the same statistic for exact samples of the same size against the same test set
#: (:func:`scorelib.metrics.mmd2_null`): MMD²/q99 ≤ 1 is "a level-1% two-sample test does not tell the sampler
#: from exact sampling".
MMD_SAMPLES = 2000
#: Exact sample sets whose MMD²_b to the test set make the null distribution (its 99% quantile is the bar).
MMD_NULL_DRAWS = 200
#: The control of the toy claims that do not compare two trained rows: the moment-matched Gaussian's samples.
GAUSSIAN = "gaussian"


@dataclass
class ToyResult:
    """Per (variant, seed) metrics and their medians over seeds; ``"gaussian"`` is the control (one draw)."""

    variants: tuple[str, ...]
    weights: dict[str, Tensor]  # variant -> [seeds, K]
    weight_error: dict[str, Tensor]  # variant -> [seeds]
    logp_gap: dict[str, Tensor]  # E_sample log p - E_data log p, [seeds]
    mmd: dict[str, Tensor]  # MMD²_b against the test set, [seeds]
    mmd_null: Tensor  # [draws] MMD²_b of exact samples of the same size against the same test set
    data_logp: float
    n_mmd: int = MMD_SAMPLES
    diverged: dict[str, Tensor] = field(default_factory=dict)  # fraction of non-finite samples, [seeds]
    bandwidths: tuple[float, ...] = ()

    def median(self, table: dict[str, Tensor], variant: str) -> float:
        return float(table[variant].median())

    @property
    def mmd_q99(self) -> float:
        """The null's 99% quantile: the criterion of a level-1% two-sample test."""
        return float(self.mmd_null.quantile(0.99))

    def mmd_ratio(self, variant: str) -> float:
        """median MMD²_b(variant) / q99 of the null: ≤ 1 when exact sampling's test does not reject it."""
        return self.median(self.mmd, variant) / self.mmd_q99

    def ranking(self, first: str, second: str) -> float:
        """median MMD²(first) / median MMD²(second): < 1 when ``first`` samples the mixture better."""
        return self.median(self.mmd, first) / self.median(self.mmd, second)


def toy_metrics(mix: GaussianMixture, x: Tensor, data_logp: float, test: Tensor, bandwidths: tuple[float, ...],
                k_test: float, n_mmd: int) -> tuple[Tensor, float, float, float, float]:
    """(weights, max weight error, E log p gap, MMD²_b to the test set, diverged fraction) of one sample set:
    the one code path of every trained row and of the control. A chain that diverged (non-finite, or beyond
    |x| = 100, where the data never are) is counted, and the metrics use the rest."""
    x = x.cpu().to(DTYPE)
    finite = torch.isfinite(x).all(-1) & (x.abs() < DIVERGED).all(-1)
    x = x[finite]
    w, w_error = mode_weight_error(mix, x)
    lp = mix.log_prob(x).clamp_min(-50.0)  # a far outlier would otherwise dominate the mean
    return (w, w_error, float(lp.mean()) - data_logp,
            float(mmd2(x[:n_mmd].float(), test, bandwidths, biased=True, kyy=k_test)), 1 - float(finite.double().mean()))


@dataclass(frozen=True)
class ToyReference:
    """What every toy sample set is scored against: E_data log p, one test set, its kernel and the MMD null."""

    data_logp: float
    test: Tensor  # [n_mmd, 2]
    bandwidths: tuple[float, ...]
    k_test: float
    null: Tensor  # [MMD_NULL_DRAWS]
    n_mmd: int


@num_threads(1)
def toy_reference(cfg: Config, seed: int) -> ToyReference:
    """The toy's :class:`ToyReference` (stream ``toy_test``): it depends on the seed and sizes, not on any model."""
    mix = mixture(cfg)
    g = generator(seed, "toy_test")
    data_logp = float(mix.log_prob(mix.sample(cfg.toy_entropy_samples, g)[0]).mean())
    n_mmd = min(MMD_SAMPLES, cfg.toy_samples)
    test = mix.sample(n_mmd, g)[0].float()  # one fresh data set for every sampler
    bandwidths = median_ladder(test)
    k_test = rbf_kernel_mean(test, test, bandwidths)
    null = mmd2_null(lambda n, gen: mix.sample(n, gen)[0].float(), test, n_mmd, bandwidths, MMD_NULL_DRAWS, g,
                     kyy=k_test)
    return ToyReference(data_logp, test, bandwidths, k_test, null, n_mmd)


@num_threads(1)
def toy_check(cfg: Config, state: dict[str, Tensor], seed: int, reference: ToyReference | None = None) -> ToyResult:
    """Every stored toy sample set (and the moment-matched Gaussian's) scored against ``reference`` (default: this
    seed's :func:`toy_reference`)."""
    mix = mixture(cfg)
    ref = reference if reference is not None else toy_reference(cfg, seed)
    data_logp, test, bandwidths, k_test, null, n_mmd = (ref.data_logp, ref.test, ref.bandwidths, ref.k_test, ref.null,
                                                         ref.n_mmd)
    gauss = moment_matched_gaussian(mix).sample(cfg.toy_samples, generator(seed, "controls", 2))[0]
    samples = {(v, r): state[f"toy.{v}.{r}.samples"] for v in cfg.toy_variants for r in range(cfg.toy_seeds)}
    samples[(GAUSSIAN, 0)] = gauss
    rows: dict[str, list] = {}
    for (variant, _), x in samples.items():
        rows.setdefault(variant, []).append(toy_metrics(mix, x, data_logp, test, bandwidths, k_test, n_mmd))
    col = lambda i: {v: torch.tensor([row[i] for row in r], dtype=DTYPE) for v, r in rows.items()}  # noqa: E731
    weights = {v: torch.stack([row[0] for row in r]) for v, r in rows.items()}
    return ToyResult(cfg.toy_variants, weights, col(1), col(2), col(3), null, data_logp, n_mmd, col(4), bandwidths)


# --------------------------------------------------------------------------------------------
# Claim 4: digits
# --------------------------------------------------------------------------------------------


def digits_net(cfg: Config) -> UNet:
    """The small U-Net of scorelib (8 → 4, GroupNorm, SiLU, sinusoidal embedding of t ∈ {1..T})."""
    return UNet(1, base_channels=cfg.digits_channels, channel_mults=(1, 2), embedding_dim=32)


def _fit_digits_model(cfg: Config, v: int, train_cfg: TrainConfig, seed: int, device: torch.device,
                      progress: bool) -> dict[str, Tensor]:
    """Train the digits U-Net of objective ``cfg.digits_objectives[v]`` for ``train_cfg``, draw ``digits_samples``
    with Algorithm 2 and evaluate the bound on ``digits_vlb_images`` held-out digits. The seeds depend on the
    objective only, so runs of different lengths share their initial weights and their data order."""
    objective = cfg.digits_objectives[v]
    prediction, weighting, _ = VARIANTS[objective]
    sched = digits_schedule(cfg)
    data = digits("train")[0].to(device)
    net = STREAMS.build(lambda: digits_net(cfg), seed, "digits_init", v).to(device)

    def loss_fn(model, x0, gen):
        return losses.ddpm_loss(model, x0, sched, prediction=prediction, weighting=weighting, generator=gen)

    result = train(net, loss_fn, data, train_cfg, generator(seed, "digits", v), progress=progress,
                   description=f"digits {objective}, {train_cfg.steps} steps")
    g = generator(seed, "digits_sample", v)
    x_T = torch.randn(cfg.digits_samples, 1, 8, 8, generator=g).to(device)
    samples = ddpm_ancestral(as_eps_model(result.best, prediction, sched), x_T, generator=g, schedule=sched)
    vlb = ddpm_vlb(as_eps_model(result.best, prediction, sched), digits("test")[0][:cfg.digits_vlb_images].to(device),
                   sched, generator=generator(seed, "digits_vlb", v), levels=DIGIT_LEVELS)
    scale = 1 / (vlb.dim * math.log(2))
    return {"vlb_bits": torch.stack([vlb.prior, vlb.diffusion, vlb.decoder], -1).cpu() * scale,
            "samples": samples.cpu(), "losses": torch.tensor(result.losses), "net": result.best}


def digits_curve_budgets(cfg: Config) -> tuple[int, ...]:
    """The compute curve's budgets of the ε/L_simple digits model: B/8, B/4, B/2, B with B the profile's."""
    return doubling_budgets(cfg.digits_train.steps)


def fit_digits(cfg: Config, seed: int, device: torch.device, progress: bool = True) -> dict[str, Tensor]:
    """Train one U-Net per objective on the training split, draw ``digits_samples`` with Algorithm 2 and
    evaluate the bound on ``digits_vlb_images`` held-out digits (both stored: T network evaluations per
    image are too slow to redo in an evaluation run). The claimed model, ε/L_simple, is also trained from scratch
    at each smaller budget of its compute curve (separate runs: the cosine schedule depends on the length), with
    as many samples and held-out digits; those samples and bounds are stored as ``digits_curve.<steps>.*``."""
    out: dict[str, Tensor] = {}
    for v, objective in enumerate(cfg.digits_objectives):
        fitted = _fit_digits_model(cfg, v, cfg.digits_train, seed, device, progress)
        out[f"digits.{objective}.vlb_bits"] = fitted["vlb_bits"]
        out |= pack_weights(fitted["net"], f"digits.{objective}.net")
        out[f"digits.{objective}.samples"] = fitted["samples"]
        out[f"digits.{objective}.losses"] = fitted["losses"]
    def fit_eps(budget_cfg: Config) -> dict[str, Tensor]:
        fitted = _fit_digits_model(budget_cfg, 0, budget_cfg.digits_train, seed, device, progress)
        return {"samples": fitted["samples"], "vlb_bits": fitted["vlb_bits"]}

    return out | fit_over_budgets(cfg, "digits_train", fit_eps, "digits_curve")


def _levels(x: Tensor, levels: int = DIGIT_LEVELS) -> Tensor:
    """Pixel values in [-1, 1] → their levels 0 … levels-1 ``[n, 64]``."""
    return torch.round((x.flatten(1) + 1) * (levels - 1) / 2).long()


def independent_pixel_image_bits(test_x: Tensor, levels: int = DIGIT_LEVELS) -> Tensor:
    """Bits/dim of each image of ``test_x`` under the best *independent-pixel* model: a per-pixel histogram over
    the 17 levels fitted on the training split (add-one smoothing), ``[n]``. Like the DDPM's bound, -log₂ p(x)/D
    of the discrete image. A DDPM that models pixel dependence must beat it; the uniform model has
    log2(17) = 4.09 bits/dim on every image."""
    train_x, _ = digits("train", dtype=DTYPE)
    tr, te = _levels(train_x, levels), _levels(test_x.to(DTYPE), levels)
    counts = torch.stack([torch.bincount(tr[:, j], minlength=levels) for j in range(tr.shape[1])]).to(DTYPE) + 1
    logp = torch.log2(counts / counts.sum(-1, keepdim=True))  # [64, levels]
    return -logp[torch.arange(te.shape[1]), te].mean(-1)


def independent_pixel_bits(levels: int = DIGIT_LEVELS) -> float:
    """:func:`independent_pixel_image_bits` averaged over the whole test split (2.423 bits/dim)."""
    return float(independent_pixel_image_bits(digits("test", dtype=DTYPE)[0], levels).mean())


def independent_pixel_gaussian(n: int, g: torch.Generator) -> Tensor:
    """``n`` draws of the *independent-pixel* Gaussian (the training pixels' means and variances, no covariance),
    ``[n, 1, 8, 8]``: the control of the digits KID claim."""
    flat = digits("train")[0].flatten(1).double()
    x = flat.mean(0) + flat.std(0) * torch.randn(n, 64, generator=g, dtype=torch.float64)
    return x.float().reshape(n, 1, 8, 8)


@dataclass
class DigitsResult:
    objectives: tuple[str, ...]
    fd: dict[str, float]  # FD(samples, test split)
    fd_data: float  # FD(as many training digits, test split): the floor at this sample size
    fd_gaussian: float  # FD(a full-covariance Gaussian fitted to the training pixels, test split): the bar
    fd_independent: float  # FD(the independent-pixel Gaussian, test split): the control
    kid: dict[str, tuple[float, float]]  # digits KID (value, se) of the samples against the test split: the claim
    kid_data: tuple[float, float]  # KID of as many real training digits: the floor (0 in expectation)
    kid_gaussian: tuple[float, float]  # KID of the full-covariance pixel Gaussian: shown, not claimed
    kid_independent: tuple[float, float]  # KID of the independent-pixel Gaussian: the control
    bits: dict[str, float]  # VLB bits/dim on held-out digits (mean over images)
    bits_se: dict[str, float]
    bits_terms: dict[str, tuple[float, float, float]]  # (L_T, Σ L_{t-1}, L_0) in bits/dim
    bits_independent: float  # the independent-pixel model on the same held-out digits
    bits_excess: dict[str, tuple[float, float]]  # objective -> (mean, se) of bits(model) - bits(independent), paired
    n_samples: int
    n_vlb: int
    # the compute curve of ε/L_simple: (steps, KID, se) and (steps, bits excess, se), the last the claimed model's
    curve_kid: tuple[tuple[int, float, float], ...] = ()
    curve_bits_excess: tuple[tuple[int, float, float], ...] = ()

    @property
    def fd_over_data(self) -> float:
        """FD(ε/L_simple)/FD(real training digits): 1 is the floor at this sample size."""
        return self.fd[self.objectives[0]] / self.fd_data

    @property
    def fd_over_gaussian(self) -> float:
        """FD(ε/L_simple)/FD(full-covariance pixel Gaussian): < 1 is the claim."""
        return self.fd[self.objectives[0]] / self.fd_gaussian

    @property
    def fd_ratio(self) -> float:
        """FD(ε/L_simple)/FD(μ̃, L) (reported, not claimed: our μ̃/L digits model failed to train)."""
        eps, mean = self.objectives
        return self.fd[eps] / self.fd[mean]


@num_threads(1)
def digits_check(cfg: Config, state: dict[str, Tensor], seed: int, device: torch.device) -> DigitsResult:
    """Our digits kernel distance (KID, with its se) and Fréchet distance of the stored samples, of as many real
    training digits and of the two Gaussians (same n, same draws for both statistics), and the stored VLB in
    bits/dim on the first ``digits_vlb_images`` test digits (all T terms, computed in :func:`fit_digits`), paired with
    the independent-pixel model's bits on the same digits."""
    classifier = digits_classifier()
    test_x, _ = digits("test")
    indep = independent_pixel_image_bits(test_x[:cfg.digits_vlb_images])
    fd, kid, bits, bits_se, terms, excess = {}, {}, {}, {}, {}, {}
    for v, objective in enumerate(cfg.digits_objectives):
        samples = state[f"digits.{objective}.samples"].cpu().float()
        fd[objective] = digits_frechet_distance(samples, test_x, classifier)
        kid[objective] = digits_kernel_distance(samples, test_x, classifier)
        terms_bits = state[f"digits.{objective}.vlb_bits"].cpu().double()  # [n, 3]: L_T, Σ L_{t-1}, L_0
        per_image = terms_bits.sum(-1)
        bits[objective] = float(per_image.mean())
        bits_se[objective] = float(per_image.std() / math.sqrt(len(per_image)))
        terms[objective] = tuple(terms_bits.mean(0).tolist())
        excess[objective] = _paired_excess(terms_bits, indep)
    n = state[f"digits.{cfg.digits_objectives[0]}.samples"].shape[0]
    fd_data, fd_gaussian = digits_fd_references(n, generator(seed, "digits_baseline"), classifier)
    kid_data, kid_gaussian = digits_kid_references(n, generator(seed, "digits_baseline"), classifier)
    control = independent_pixel_gaussian(n, generator(seed, "controls", 3))
    fd_indep = digits_frechet_distance(control, test_x, classifier)
    kid_indep = digits_kernel_distance(control, test_x, classifier)
    eps = cfg.digits_objectives[0]
    curve_kid, curve_bits = [], []
    for steps in digits_curve_budgets(cfg)[:-1]:
        stored = at_budget(state, "digits_curve", steps)
        curve_kid.append((steps, *digits_kernel_distance(stored["samples"].float(), test_x, classifier)))
        curve_bits.append((steps, *_paired_excess(stored["vlb_bits"].double(), indep)))
    curve_kid.append((cfg.digits_train.steps, *kid[eps]))
    curve_bits.append((cfg.digits_train.steps, *excess[eps]))
    return DigitsResult(cfg.digits_objectives, fd, fd_data, fd_gaussian, fd_indep, kid, kid_data, kid_gaussian,
                        kid_indep, bits, bits_se, terms, float(indep.mean()), excess, n, cfg.digits_vlb_images,
                        tuple(curve_kid), tuple(curve_bits))


def _paired_excess(terms_bits: Tensor, indep: Tensor) -> tuple[float, float]:
    """Mean and se of bits(model) − bits(independent pixels) per held-out image; ``terms_bits [n, 3]``."""
    d = terms_bits.sum(-1) - indep[:len(terms_bits)]
    return float(d.mean()), float(d.std() / math.sqrt(len(d)))


# --------------------------------------------------------------------------------------------
# Everything trained, and every claim measured
# --------------------------------------------------------------------------------------------


def fit(cfg: Config, seed: int, device: torch.device, progress: bool = True) -> dict[str, Tensor]:
    """All training of the chapter (and the network samples): what ``train_or_load`` stores."""
    state = fit_toy(cfg, seed, device, progress)
    state |= fit_over_budgets(cfg, "toy_train", lambda c: {k: v for k, v in fit_toy(c, seed, device, progress).items()
                                                           if k.endswith(".samples")}, "toy_curve")
    state |= fit_digits(cfg, seed, device, progress)
    return {k: v.detach().cpu() for k, v in state.items()}


#: The toy claims, measured on every (variant, seed) of the toy retrained from scratch at B/8, B/4 and B/2 (separate
#: runs, samples stored as ``toy_curve.<steps>.*``). Their values are medians over the seeds, without a standard error:
#: each converges when the last doubling moves it by less than a tenth of its bar, stated before the runs.
TOY_CURVE_TOLERANCES = {"toy_eps_simple_weights": 0.004, "toy_eps_simple_logp": 0.01, "toy_eps_simple_mmd_ratio": 0.1,
                        "toy_ranking_vs_eps_vlb": 0.1, "toy_ranking_vs_mean_vlb": 0.1}


def toy_claims(toy: ToyResult) -> dict[str, float]:
    """The toy claims' measurements from one :class:`ToyResult` (see ``CLAIMS``)."""
    return {"toy_eps_simple_weights": toy.median(toy.weight_error, "eps/simple"),
            "toy_eps_simple_logp": abs(toy.median(toy.logp_gap, "eps/simple")),
            "toy_eps_simple_mmd_ratio": toy.mmd_ratio("eps/simple"),
            "toy_ranking_vs_eps_vlb": toy.ranking("eps/simple", "eps/vlb"),
            "toy_ranking_vs_mean_vlb": toy.ranking("eps/simple", "mean/vlb")}


def measured_curves(cfg: Config, state: dict[str, Tensor], seed: int, toy: ToyResult,
                    dig: DigitsResult) -> dict[str, ComputeCurve]:
    """Every claim measured on a trained network, at each budget of its compute curve: the toy claims (every
    variant retrained at B/8, B/4, B/2 and scored by :func:`toy_check`, ending at ``toy``) and the digits claims."""
    budgets = doubling_budgets(cfg.toy_train.steps)
    reference = toy_reference(cfg, seed)  # the same for every budget
    rows = [toy_claims(toy_check(cfg, at_budget(state, "toy_curve", steps), seed, reference)) for steps in budgets[:-1]]
    rows.append(toy_claims(toy))
    curves = {claim_id: ComputeCurve(tuple(CurvePoint(steps, row[claim_id]) for steps, row in zip(budgets, rows)),
                                     tolerance)
              for claim_id, tolerance in TOY_CURVE_TOLERANCES.items()}
    return curves | {claim_id: ComputeCurve(tuple(CurvePoint(*point) for point in points))
                     for claim_id, points in (("digits_kid", dig.curve_kid), ("digits_vlb_bits", dig.curve_bits_excess))}


SLIDE = "the slide's kernel (noise std 1−α²)"
NOISELESS = "Algorithm 2 with σ_t = 0 (no noise)"
GAUSS_CONTROL = "the moment-matched Gaussian (one component)"

CLAIMS = ClaimTable([
    # Claim 1. The slide's kernel (noise std 1−α² instead of √(1−α²)) removes almost all variance (our exact
    # variance recursion: 0.060); "≤ 0.5" is "collapses to less than half the true std". Control: the corrected
    # kernel, whose std is 1.003 (recursion), must not count as collapsed.
    Claim("slide_kernel_collapses", "talk, 'Backward transition' slide", "std(x_0)/s, the slide's kernel (noise std "
          "1−α²), exact score, x_0 ~ N(0, 0.5²) (our variance recursion: 0.060)", None, "max", 0.5, 0.5,
          control="the corrected kernel (noise std √(1−α²))", reference="ours"),
    # 1.0 is the true std/s; ±0.01 covers the corrected kernel's O(β) bias (recursion: 1.003) and 10⁵-chain noise
    # (se ≈ 0.002). Control: the slide's kernel.
    Claim("corrected_kernel_std", "talk (Taylor form), corrected", "std(x_0)/s with noise std √(1−α²) (our "
          "variance recursion: 1.003)", 1.0, "abs", 0.01, 0.01, control=SLIDE, reference="theory"),
    Claim("exact_posterior_kernel_std", "Ho et al. 2020, eq. 6-7", "std(x_0)/s, q(x_{t-1}|x_t,x_0) over p(x_0|x_t)",
          1.0, "abs", 0.01, 0.01, control=SLIDE, reference="theory"),
    # Claim 2. ±0.005 is 2.2 se of a std from 10⁵ draws (se = 1/√(2·10⁵) = 0.0022). Control: σ_t = 0, the chain
    # without its noise (std √ᾱ_T ≈ 0.006 for the exact ε*).
    Claim("ancestral_std_beta", "Ho et al. 2020, Alg. 2", "std of Alg. 2 with exact ε*, N(0,1), σ²=β, 10⁵ samples",
          1.0, "abs", 0.005, 0.005, control=NOISELESS, reference="theory"),
    Claim("ancestral_std_beta_tilde", "Ho et al. 2020, Alg. 2 / §3.2", "the same with σ²=β̃ (our exact variance "
          "recursion: 0.9955)", 0.9955, "abs", 0.005, 0.005, digits=4, control=NOISELESS, reference="ours"),
    # 2·10⁴ draws: the se of a weight is ≤ √(0.25/2·10⁴) = 0.0035, so 0.02 is > 5 se. Control: Alg. 2 with the
    # exact ε* of the moment-matched Gaussian, its samples scored as the mixture's.
    Claim("ancestral_mixture_weights", "Ho et al. 2020, Alg. 2", "max |ŵ_k − w_k|, exact ε* of the mixture, 2·10⁴ samples",
          0.0, "max", 0.02, 0.02, digits=2, control=GAUSS_CONTROL + ", exact ε*, same chains", reference="theory"),
    # Claim 3. Unchanged bars (0.04, 0.1); control: samples of the moment-matched Gaussian, same metrics.
    Claim("toy_eps_simple_weights", "Ho et al. 2020, Table 2 (toy)", "ε/L_simple: median max |ŵ_k − w_k|",
          0.0, "max", 0.04, 0.04, digits=2, control=GAUSS_CONTROL + ", as many samples", reference="theory"),
    Claim("toy_eps_simple_logp", "Ho et al. 2020, Table 2 (toy)", "ε/L_simple: median |E_sample log p − E_data log p|",
          0.0, "max", 0.1, 0.1, digits=2, control=GAUSS_CONTROL + ", as many samples", reference="theory"),
    # The 99% quantile of the null distribution of the same MMD²_b (exact samples, same n, same test set): a
    # level-1% two-sample test, a bar from the statistic's law, not from our model (it replaces "≤ 10× the mean
    # null", which ε/L passed). Control: ε/L, the row the paper puts 10 FID behind (13.51 vs 3.17).
    Claim("toy_eps_simple_mmd_ratio", "Ho et al. 2020, Table 2 (toy)", "ε/L_simple: median MMD²_b / 99% quantile of "
          "MMD²_b between exact samples and the same test set (median-ladder kernel)", None, "max", 1.0, 1.0, digits=2,
          control="ε/L (fixed isotropic Σ), the same test"),
    # Table 2 ranks ε/L_simple (FID 3.17) above ε/L (13.51) and μ̃/L (13.22): the ratio of median MMD² < 1. Control:
    # the moment-matched Gaussian's samples in ε/L_simple's place (a model the comparison must rank below).
    Claim("toy_ranking_vs_eps_vlb", "Ho et al. 2020, Table 2 (ranking: 3.17 vs 13.51 FID)",
          "median MMD²(ε/L_simple) / median MMD²(ε/L)", None, "max", 1.0, 1.0, digits=2,
          control=GAUSS_CONTROL + " in ε/L_simple's place"),
    Claim("toy_ranking_vs_mean_vlb", "Ho et al. 2020, Table 2 (ranking: 3.17 vs 13.22 FID)",
          "median MMD²(ε/L_simple) / median MMD²(μ̃/L)", None, "max", 1.0, 1.0, digits=2,
          control=GAUSS_CONTROL + " in ε/L_simple's place"),
    # Claim 4. The criterion fixed before the result: a DDPM must beat the independent-pixel model (a per-pixel
    # histogram fitted to the training digits) on the same held-out digits; the paired difference (with its se)
    # must be ≤ 0. Control: the uniform model (log2 17 bits/dim).
    Claim("digits_vlb_bits", "Ho et al. 2020, §4 / eq. 5", "ε/L_simple: VLB bits/dim − independent-pixel model's "
          "bits/dim, same held-out digits", None, "max", 0.0, 0.0, digits=2, control="the uniform model (log2 17)"),
    # Sample quality: our digits KID (scorelib.kernel_distance), unbiased, so real digits score 0 ± se at any n.
    # Until 63cccc5 this claim was "FD / FD of a full-covariance pixel Gaussian ≤ 0.5" (digits_fd_vs_gaussian): real
    # training digits scored 0.4996 on it, the statistic's own floor, so it could not judge a model (issue 24). The
    # bar 0.1 is fixed from data and baselines alone, before any model's KID was computed: at n = 200 and five draws,
    # real training digits reach at most 0.063 (value + 2 se) and the independent-pixel Gaussian (the control) at
    # least 0.149 (value − 2 se); 0.1 lies between them (their geometric mean, 0.097, rounded). The full-covariance
    # Gaussian (0.024–0.050 at n = 200) is shown beside, not claimed: this statistic cannot tell it from real digits
    # at 200 samples.
    Claim("digits_kid", "Ho et al. 2020, §4 (FID; our digits KID)", "ε/L_simple: digits KID of 200 samples "
          "against the test split (standardised classifier features)", None, "max", 0.1, 0.1, digits=2,
          control="the independent-pixel Gaussian"),
])


def measured_claims(kernels: dict, exact: dict, toy: ToyResult, dig: DigitsResult) -> dict[str, float | tuple]:
    """Map the chapter's results onto claim ids."""
    eps = dig.objectives[0]
    return {
        "slide_kernel_collapses": kernels["slide"],
        "corrected_kernel_std": kernels["corrected"],
        "exact_posterior_kernel_std": kernels["exact"],
        "ancestral_std_beta": exact["std_beta"],
        "ancestral_std_beta_tilde": exact["std_beta_tilde"],
        "ancestral_mixture_weights": exact["mixture_weight_error"],
        **toy_claims(toy),
        "digits_vlb_bits": dig.bits_excess[eps],
        "digits_kid": dig.kid[eps],
    }


def measured_controls(kernels: dict, exact: dict, toy: ToyResult, dig: DigitsResult) -> dict[str, float | tuple]:
    """Each claim's control, measured by the same code as the claim (see ``CLAIMS``)."""
    uniform = UNIFORM_BITS - independent_pixel_image_bits(digits("test")[0][:dig.n_vlb])
    return {
        "slide_kernel_collapses": kernels["corrected"],
        "corrected_kernel_std": kernels["slide"],
        "exact_posterior_kernel_std": kernels["slide"],
        "ancestral_std_beta": exact["std_noiseless"],
        "ancestral_std_beta_tilde": exact["std_noiseless"],
        "ancestral_mixture_weights": exact["gaussian_weight_error"],
        "toy_eps_simple_weights": toy.median(toy.weight_error, GAUSSIAN),
        "toy_eps_simple_logp": abs(toy.median(toy.logp_gap, GAUSSIAN)),
        "toy_eps_simple_mmd_ratio": toy.mmd_ratio("eps/vlb"),
        "toy_ranking_vs_eps_vlb": toy.ranking(GAUSSIAN, "eps/vlb"),
        "toy_ranking_vs_mean_vlb": toy.ranking(GAUSSIAN, "mean/vlb"),
        "digits_vlb_bits": (float(uniform.mean()), float(uniform.std() / math.sqrt(len(uniform)))),
        "digits_kid": dig.kid_independent,
    }


def measured_floors(dig: DigitsResult) -> dict[str, tuple[float, float]]:
    """Each sample-statistic claim's real-data value, by the same code: real training digits for the digits KID."""
    return {"digits_kid": dig.kid_data}
