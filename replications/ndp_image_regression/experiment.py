"""Chapter ``ndp_image_regression``: images as functions (Dutordoir et al. 2022, §5.3).

The claim (Dutordoir et al. 2022, §5.3, and the talk's image-regression slide): an NDP trained on images-as-functions (pixel
coordinates in [-2, 2]² → intensity in [0, 1]) learns a covariance over images *from data*; conditioned on
part of an image, its conditional mean predicts the unobserved pixels better than the training-mean image and
than a stationary RBF-GP on pixel coordinates with a fitted lengthscale, and the error falls as more pixels
are observed.

``fit`` trains the NDP and draws every conditional sample (the artifacts of the full profile); the GP
baseline is fitted by maximum marginal likelihood in ``fit_gp`` (a few seconds). The strongest non-learned
baseline is a Gaussian with the *empirical* mean and covariance of the training images, conditioned exactly on the
context (:func:`empirical_gaussian`, :func:`gaussian_predict`). The negative control of every counted claim is the
NDP without its context: the mean of its unconditional draws, predicted for every test image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

from scorelib.claims import Claim, ClaimTable
from scorelib.curves import ComputeCurve, CurvePoint, at_budget, doubling_budgets, fit_over_budgets
from scorelib.datasets import FunctionBatch
from scorelib.gp import cholesky, masked_conditional_gaussian, squared_exponential
from scorelib.image_functions import (context_mask, digits_images, images_to_functions, mnist_images,
                                      pixel_grid)
from scorelib.ndp import centred_to_unit, complete_functions, fit_ndp, prior_samples, unit_to_centred
from scorelib.nets import PointAttention
from scorelib.runtime import SeedStreams
from scorelib.schedules import DDPMSchedule
from scorelib.training import TrainConfig, minimise_lbfgs, unpack_weights

CHAPTER = "ndp_image_regression"
DTYPE = torch.float32


@dataclass(frozen=True)
class Config:
    """Every size and setting of the chapter; QUICK and FULL differ only in sizes."""

    mnist_dir: str | None = None  # a folder with MNIST's idx files: 28×28 instead of the 8×8 digits
    # the model and its diffusion (the paper: T = 500, L1 loss)
    T: int = 500
    beta_min: float = 3e-4
    beta_max: float = 0.5
    hidden: int = 32
    layers: int = 3
    heads: int = 4
    frequencies: int = 3  # Fourier features of the pixel coordinates (PointAttention)
    distance_bias: bool = True  # attention logits - s_h |x_i - x_j|² (PointAttention; see the chapter)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=2000, batch_size=32, lr=2e-3,
                                                                   ema_decay=0.995))
    # evaluation
    fractions: tuple[float, ...] = (0.1, 0.25, 0.5, 0.75)
    halves: tuple[str, ...] = ("top", "left")
    test_images: int = 32
    n_samples: int = 8  # per test image: the conditional mean is their average
    sample_steps: int = 50  # respaced reverse process
    resample: int = 3
    figure_images: int = 4
    prior_samples: int = 256  # unconditional draws: the learnt covariance over pixels
    # GP baseline
    gp_fit_images: int = 256


QUICK = Config()
FULL = Config(train=TrainConfig(steps=6000, batch_size=32, lr=2e-3, ema_decay=0.998), test_images=64,
              n_samples=16)
PROFILES: dict[str, Config] = {"quick": QUICK, "full": FULL}

#: One random stream per sub-experiment (so changing one never shifts another's draws).
STREAMS = SeedStreams({"init": 1, "train": 2, "masks": 3, "sample": 4, "prior": 5})


def images(cfg: Config, split: str) -> Tensor:
    """``[n, H, W]`` in [0, 1]: MNIST from ``cfg.mnist_dir`` when given, else scikit-learn's digits."""
    if cfg.mnist_dir is not None:
        return mnist_images(cfg.mnist_dir, "train" if split == "train" else "test", DTYPE)
    return digits_images(split, DTYPE)


def test_images(cfg: Config) -> Tensor:
    """The first ``test_images`` test images as functions on the pixel grid: ``[n, H·W]`` in [0, 1]."""
    return images(cfg, "test")[: cfg.test_images].reshape(cfg.test_images, -1)


def schedule(cfg: Config) -> DDPMSchedule:
    return DDPMSchedule.ndp(cfg.T, cfg.beta_min, cfg.beta_max)


def network(cfg: Config) -> PointAttention:
    return PointAttention(dim=2, hidden=cfg.hidden, layers=cfg.layers, heads=cfg.heads, frequencies=cfg.frequencies,
                          distance_bias=cfg.distance_bias)


def load_net(cfg: Config, state: dict[str, Tensor], device: torch.device) -> PointAttention:
    return unpack_weights(network(cfg), state, "net").to(device)


def fit_model(cfg: Config, seed: int, device: torch.device, progress: bool = True) -> dict[str, Tensor]:
    """Train the NDP (eq. 8, L1, stratified t) on random training images (intensities mapped to [-1, 1]),
    every pixel a point. The images stay on the device; only the indices are drawn on the CPU."""
    data = images_to_functions(unit_to_centred(images(cfg, "train")))
    x, y = data.x.to(device), data.y.to(device)

    def batches(n: int, g: torch.Generator) -> FunctionBatch:
        idx = torch.randint(0, len(y), (n,), generator=g).to(device)
        return FunctionBatch(x[idx], y[idx], torch.ones(n, y.shape[1], dtype=torch.bool, device=device))

    return fit_ndp(STREAMS.build(lambda: network(cfg), seed, "init"), batches, schedule(cfg), cfg.train,
                   STREAMS.generator(seed, "train"), device=device, progress=progress,
                   description="NDP on images as functions")


def masks(cfg: Config, seed: int, n: int) -> dict[str, Tensor]:
    """Observed pixels ``[n, H·W]`` per setting: ``"random 10%"``, …, and the halves."""
    h, w = images(cfg, "test").shape[-2:]
    g = STREAMS.generator(seed, "masks")
    out = {f"random {round(100 * f)}%": context_mask("random", h, w, n=n, fraction=f, generator=g)
           for f in cfg.fractions}
    out.update({f"{kind} half": context_mask(kind, h, w, n=n) for kind in cfg.halves})
    return out


def complete(cfg: Config, net, y: Tensor, observed: Tensor, n_samples: int, g: torch.Generator,
             device: torch.device) -> Tensor:
    """Conditional samples of whole images ``[n, S, H·W]`` in [0, 1] given ``y [n, H·W]`` at ``observed [n, H·W]``
    (the same number of observed pixels in every image): :func:`scorelib.ndp.complete_functions` on the pixel grid."""
    grid = pixel_grid(*images(cfg, "test").shape[-2:], DTYPE)
    out = complete_functions(net, schedule(cfg), grid.to(device), unit_to_centred(y).to(device),
                             observed.to(device), n_samples=n_samples, generator=g, resample=cfg.resample,
                             steps=cfg.sample_steps)
    return centred_to_unit(out.cpu())


def fit(cfg: Config, seed: int, device: torch.device, progress: bool = True) -> dict[str, Tensor]:
    """Everything slow: training, and the conditional samples of every test image under every mask."""
    state = fit_model(cfg, seed, device, progress)
    net = load_net(cfg, state, device)
    test = test_images(cfg)
    g = STREAMS.generator(seed, "sample")
    for name, observed in masks(cfg, seed, cfg.test_images).items():
        state[f"samples.{name}"] = complete(cfg, net, test, observed, cfg.n_samples, g, device).to(torch.float16)
    h, w = images(cfg, "test").shape[-2:]
    x = pixel_grid(h, w, DTYPE).expand(cfg.prior_samples, h * w, 2).to(device)
    state["prior"] = centred_to_unit(prior_samples(net, schedule(cfg), x, generator=STREAMS.generator(seed, "prior"),
                                                   steps=cfg.sample_steps)).cpu()
    return state | fit_over_budgets(cfg, "train", lambda c: fit_curve_point(c, seed, device, progress), "curve")


def fit_curve_point(cfg: Config, seed: int, device: torch.device, progress: bool = True) -> dict[str, Tensor]:
    """The NDP trained from scratch for ``cfg.train`` (a separate run with its own cosine schedule, the same initial
    weights and training stream as the profile's) and its completions of the test images under the random masks,
    the only ones the counted claims read (drawn as the profile's are, from the start of the sampling stream)."""
    net = load_net(cfg, fit_model(cfg, seed, device, progress), device)
    test = test_images(cfg)
    g = STREAMS.generator(seed, "sample")
    random = masks(cfg, seed, cfg.test_images)
    return {f"samples.{name}": complete(cfg, net, test, random[name], cfg.n_samples, g, device).to(torch.float16)
            for name in random_settings(cfg)}


def correlation_maps(cfg: Config, state: dict[str, Tensor], gp: GPFit, pixel: tuple[int, int]) -> dict[str, Tensor]:
    """Correlation ``[H, W]`` of one pixel with every other: in the test images, in the NDP's prior draws, and
    under the fitted RBF-GP (stationary: the same bump wherever the pixel is)."""
    test = images(cfg, "test").double()
    h, w = test.shape[-2:]
    i = pixel[0] * w + pixel[1]

    def corr(samples: Tensor) -> Tensor:
        z = samples.reshape(len(samples), -1).double()
        z = z - z.mean(0)
        c = (z * z[:, i:i + 1]).mean(0) / (z.std(0, unbiased=False) * z[:, i].std(unbiased=False)).clamp_min(1e-12)
        return c.reshape(h, w)

    grid = pixel_grid(h, w, torch.float64)
    k = squared_exponential(grid[i:i + 1], grid, lengthscale=gp.lengthscale)[0]
    return {"test images": corr(test), "NDP prior draws": corr(state["prior"]), "fitted RBF-GP": k.reshape(h, w)}


# ---------------------------------------------------------------------------------------------
# Baselines: the training-mean image, and an RBF-GP on pixel coordinates around it
# ---------------------------------------------------------------------------------------------


@dataclass
class GPFit:
    lengthscale: float
    variance: float
    noise_variance: float


def fit_gp(cfg: Config) -> GPFit:
    """Maximum marginal likelihood over (ℓ, σ_f², σ_n²) of a zero-mean RBF-GP on the residuals (image minus
    the training-mean image) of ``gp_fit_images`` training images — one Gram matrix, shared by all images."""
    train = images(cfg, "train").double()
    h, w = train.shape[-2:]
    r = (train - train.mean(0)).reshape(len(train), -1)[: cfg.gp_fit_images]
    grid = pixel_grid(h, w, torch.float64)
    params = [torch.tensor(math.log(v), dtype=torch.float64, requires_grad=True) for v in (0.5, 0.05, 0.01)]

    def objective() -> Tensor:
        ell, var, noise = (p.exp() for p in params)
        k = squared_exponential(grid, grid, lengthscale=ell, variance=var) + noise * torch.eye(len(grid),
                                                                                                  dtype=torch.float64)
        chol = cholesky(k, 0.0)
        z = torch.linalg.solve_triangular(chol, r.T, upper=False)
        log_det = 2 * torch.log(chol.diagonal()).sum()
        return 0.5 * ((z * z).sum() / len(r) + log_det)  # mean negative log-likelihood per image, up to a constant

    minimise_lbfgs(objective, params, max_iter=200)
    ell, var, noise = (float(p.detach().exp()) for p in params)
    return GPFit(ell, var, noise)


def gp_predict(cfg: Config, gp: GPFit, y: Tensor, observed: Tensor) -> Tensor:
    """The GP posterior mean ``[n, H·W]`` (mean image + RBF-GP on the residuals), observed pixels kept."""
    train = images(cfg, "train").double()
    h, w = train.shape[-2:]
    mean = train.mean(0).reshape(-1)
    grid = pixel_grid(h, w, torch.float64)
    k = squared_exponential(grid, grid, lengthscale=gp.lengthscale, variance=gp.variance)
    out = []
    for yi, oi in zip(y.double(), observed):
        full = yi.clone()
        full[~oi] = masked_conditional_gaussian(mean, k, yi, oi, gp.noise_variance, jitter=0.0)[0]
        out.append(full)
    return torch.stack(out)


def quantisation_variance(cfg: Config) -> float:
    """Δ²/12, the variance of rounding to the data's intensity step Δ (1/16 for the 8×8 digits, 1/255 for MNIST):
    the observation noise of the empirical-covariance Gaussian, which also keeps its conditioning well posed
    (some border pixels of the digits never vary)."""
    step = 1 / 255 if cfg.mnist_dir is not None else 1 / 16
    return step ** 2 / 12


def empirical_gaussian(cfg: Config) -> tuple[Tensor, Tensor]:
    """The empirical mean ``[P]`` and covariance ``[P, P]`` (unbiased) of the training images, float64: a Gaussian
    over whole images with a covariance learnt from data, without a network."""
    train = images(cfg, "train").double().reshape(-1, math.prod(images(cfg, "train").shape[-2:]))
    return train.mean(0), torch.cov(train.T)


def gaussian_predict(mean: Tensor, cov: Tensor, y: Tensor, observed: Tensor, noise_variance: float) -> Tensor:
    """The exact conditional mean ``[n, P]`` of N(mean, cov) given each row of ``y [n, P]`` at ``observed [n, P]``
    (:func:`scorelib.gp.masked_conditional_gaussian`, noisy observations), observed pixels kept."""
    out = []
    for yi, oi in zip(y.double(), observed):
        full = yi.clone()
        full[~oi] = masked_conditional_gaussian(mean, cov, yi, oi, noise_variance, jitter=0.0)[0]
        out.append(full)
    return torch.stack(out)


@dataclass
class RegressionResult:
    settings: list[str]
    mse_ndp: dict[str, float]  # unobserved pixels, conditional mean of the NDP samples
    mse_gp: dict[str, float]
    mse_mean: dict[str, float]
    observed_error: float  # max |NDP conditional mean - context| over observed pixels, all settings
    gp: GPFit
    mse_empirical: dict[str, float] = field(default_factory=dict)  # the empirical-covariance Gaussian
    mse_control: dict[str, float] = field(default_factory=dict)  # the NDP's context-free draws (their mean)


def unobserved_mse(prediction: Tensor, test: Tensor, observed: Tensor) -> float:
    """The MSE of ``prediction [n, P]`` on the unobserved pixels of ``test [n, P]``: the one error of every method."""
    return float(((prediction - test)[~observed] ** 2).mean())


def regression_check(cfg: Config, state: dict[str, Tensor], seed: int, gp: GPFit | None = None) -> RegressionResult:
    gp = fit_gp(cfg) if gp is None else gp
    test = test_images(cfg).double()
    mean_image = images(cfg, "train").double().mean(0).reshape(-1)
    emp_mean, emp_cov = empirical_gaussian(cfg)
    context_free = state["prior"].double().reshape(len(state["prior"]), -1).mean(0)  # the NDP without context
    mse_ndp, mse_gp, mse_mean, mse_emp, mse_control, observed_error = {}, {}, {}, {}, {}, 0.0
    for name, observed in masks(cfg, seed, cfg.test_images).items():
        cond_mean = state[f"samples.{name}"].double().mean(1)
        mse_ndp[name] = unobserved_mse(cond_mean, test, observed)
        mse_gp[name] = unobserved_mse(gp_predict(cfg, gp, test, observed), test, observed)
        mse_mean[name] = unobserved_mse(mean_image.expand_as(test), test, observed)
        mse_emp[name] = unobserved_mse(gaussian_predict(emp_mean, emp_cov, test, observed, quantisation_variance(cfg)),
                                       test, observed)
        mse_control[name] = unobserved_mse(torch.where(observed, test, context_free), test, observed)
        observed_error = max(observed_error, float((cond_mean - test)[observed].abs().max()))
    return RegressionResult(list(mse_ndp), mse_ndp, mse_gp, mse_mean, observed_error, gp, mse_emp, mse_control)


def random_settings(cfg: Config) -> list[str]:
    return [f"random {round(100 * f)}%" for f in cfg.fractions]


# Criteria (fixed before the empirical-covariance baseline was measured, except where said): the paper's image
# regression claim is that the NDP's learnt covariance predicts missing pixels; "≤ 0.7× the mean image" (full) and
# "no worse than the fitted RBF-GP" (ratio ≤ 1) are the chapter's original full bounds; the quick profile keeps its
# original looser bounds (0.8, 1.5: a CI-scale model, 2,000 steps), which its context-free control (the quick NDP's own
# unconditional draws: 1.6× the GP) still fails. The empirical-covariance claim (issue 13) uses the claim's own
# statement, ratio ≤ 1, at both profiles: "the learnt covariance beats the data's own second moments".
CONTROL = "the NDP without context (mean of its unconditional draws)"
CLAIMS = ClaimTable([
    Claim("ndp_vs_mean_image_50", "Dutordoir et al. 2022, §5.3 (image regression)",
          "MSE(NDP) / MSE(mean image), unobserved pixels, 50% random context", None, "max", 0.8, 0.7, digits=2,
          control=CONTROL),
    Claim("ndp_vs_gp_50", "Dutordoir et al. 2022, §5.3", "MSE(NDP) / MSE(RBF-GP, ℓ fitted), 50% random context",
          None, "max", 1.5, 1.0, digits=2, control=CONTROL),
    Claim("ndp_vs_empirical_gaussian_50", "Dutordoir et al. 2022, §5.3 (a covariance learnt from data)",
          "MSE(NDP) / MSE(empirical-covariance Gaussian, exact conditioning), 50% random context", None, "max",
          1.0, 1.0, digits=2, control=CONTROL),
    Claim("mse_decreasing", "more context, less error", "max over 10→25→50→75% of MSE(next)/MSE(previous), NDP",
          None, "max", 1.0, 1.0, digits=2, control=CONTROL),
    # complete() writes the context into its output, so this is 0 by construction: a check of the reassembly.
    Claim("observed_pixels_kept", "RePaint keeps the context", "max |conditional mean − context| at observed pixels",
          0.0, "max", 0.05, 0.05, digits=2, reference="theory", check=True),
])


def _ratio(b: float, a: float) -> float:
    """b / a, with 0 / 0 = 0 (a perfect predictor stays perfect) and b / 0 = inf."""
    return b / a if a > 0 else (0.0 if b == 0 else math.inf)


def _ratios(r: RegressionResult, mse: dict[str, float]) -> dict[str, float]:
    """The counted claims for a predictor with errors ``mse`` (the NDP's, or the control's): one code path."""
    rand = [k for k in r.settings if k.startswith("random")]
    mses = [mse[k] for k in rand]
    return {
        "ndp_vs_mean_image_50": mse["random 50%"] / r.mse_mean["random 50%"],
        "ndp_vs_gp_50": mse["random 50%"] / r.mse_gp["random 50%"],
        "ndp_vs_empirical_gaussian_50": mse["random 50%"] / r.mse_empirical["random 50%"],
        "mse_decreasing": max(_ratio(b, a) for a, b in zip(mses[:-1], mses[1:])),
    }


def measured_claims(r: RegressionResult) -> dict[str, float]:
    return {**_ratios(r, r.mse_ndp), "observed_pixels_kept": r.observed_error}


def measured_controls(r: RegressionResult) -> dict[str, float]:
    return _ratios(r, r.mse_control)


#: The ratios carry no standard error, so a curve has converged when the last doubling moved it by less than 0.05: a
#: sixth of the distance between the mean image's ratio (1) and the NDP's bar (0.7). Fixed before the retrain.
CURVE_TOLERANCE = 0.05
CURVE_CLAIMS = ("ndp_vs_mean_image_50", "ndp_vs_gp_50", "ndp_vs_empirical_gaussian_50", "mse_decreasing")


def measured_curves(cfg: Config, state: dict[str, Tensor], seed: int, r: RegressionResult) -> dict[str, ComputeCurve]:
    """The counted claims at each stored smaller budget (:func:`fit_curve_point`): its conditional means' MSEs on
    the random masks, against the same baselines as the profile's run ``r``, by the same :func:`_ratios`."""
    test = test_images(cfg).double()
    random = masks(cfg, seed, cfg.test_images)
    budgets = doubling_budgets(cfg.train.steps)
    rows = []
    for steps in budgets[:-1]:
        samples = at_budget(state, "curve", steps)
        rows.append(_ratios(r, {name: unobserved_mse(samples[f"samples.{name}"].double().mean(1), test, random[name])
                                for name in random_settings(cfg)}))
    rows.append(_ratios(r, r.mse_ndp))
    return {claim_id: ComputeCurve(tuple(CurvePoint(steps, row[claim_id], None) for steps, row in zip(budgets, rows)),
                                   CURVE_TOLERANCE) for claim_id in CURVE_CLAIMS}


def claim_results(r: RegressionResult, profile: str, curves: dict[str, ComputeCurve] | None = None):
    return CLAIMS.check(measured_claims(r), profile, controls=measured_controls(r), curves=curves)
