"""Chapter ``ndp_regression``: profiles, training, sampling and claims (Dutordoir et al. 2022).

Claims (Dutordoir et al. 2022, §4, §5.2 and Table 1; Lugmayr et al. 2022 for RePaint):

1. **Symmetries.** The bi-dimensional attention noise model is equivariant to permuting the points and
   invariant to permuting the input dimensions (random weights, float64).
2. **Regression vs the exact GP.** NDPs trained on squared-exponential and Matérn-5/2 GP data: the joint
   test log-likelihood (TLL) per target point of a Gaussian fitted to 128 conditional samples, against the
   exact GP posterior on the same data; and the posterior-mean MSE.
3. **RePaint with the exact denoiser.** For Gaussian data the DDPM denoiser is known in closed form
   (:func:`scorelib.gp.exact_gaussian_eps`), so RePaint's own error can be measured: KL(sampled ‖ exact
   conditional) over the number of resampling rounds U.

``fit`` trains one NDP per kernel and draws every conditional sample of claims 2 and 3 (the artifacts of the
full profile); claim 1 and the exact-GP references are recomputed from the seed.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

from scorelib.claims import Claim, ClaimTable, Measured
from scorelib.curves import ComputeCurve, CurvePoint, at_budget, doubling_budgets, fit_over_budgets
from scorelib.datasets import NDP_NOISE_VARIANCE, FunctionBatch, gp_functions
from scorelib.gp import (exact_gaussian_eps, gaussian_log_prob, get_kernel, gp_posterior, kl_mvn,
                         masked_conditional_gaussian, squared_exponential)
from scorelib.ndp import conditional_samples, fit_ndp, prior_samples
from scorelib.nets import BiDimensionalAttention
from scorelib.runtime import SeedStreams
from scorelib.samplers import repaint
from scorelib.schedules import DDPMSchedule
from scorelib.training import TrainConfig, unpack_weights

CHAPTER = "ndp_regression"
DTYPE = torch.float32
#: The GP kernels of the training data, one NDP each (names of :data:`scorelib.gp.KERNELS`).
GP_KERNELS: tuple[str, ...] = ("squared_exponential", "matern52")
LABELS = {"squared_exponential": "SE", "matern52": "Matérn-5/2"}
#: Our earlier calculation of the exact GP's TLL on correct data, D = 1, 2, 3 (recomputed in the chapter: checks).
GP_TLL_CALC = {"squared_exponential": (0.712, -0.844, -1.275), "matern52": (0.316, -1.027, -1.315)}


@dataclass(frozen=True)
class Config:
    """Every size and setting of the chapter; QUICK and FULL differ only in sizes."""

    # data (the paper's §5.2 set-up): x ~ U[-2, 2]^D, ℓ = 0.25√D, variance 1, noise variance 0.05²
    dim: int = 1
    noise_variance: float = NDP_NOISE_VARIANCE
    train_points: int = 60
    # the model and its diffusion
    T: int = 500
    beta_min: float = 3e-4
    beta_max: float = 0.5
    hidden: int = 32
    layers: int = 3
    heads: int = 4
    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=2000, batch_size=32, lr=2e-3,
                                                                   ema_decay=0.995))
    # claim 2
    test_functions: int = 8
    n_samples: int = 128
    n_targets: int = 50
    sample_steps: int = 50  # respaced reverse process (Nichol & Dhariwal 2021)
    resample: int = 3
    figure_contexts: int = 5
    figure_samples: int = 32
    # the compute curve: the NDPs retrained from scratch at 1/8, 1/4 and 1/2 of ``train.steps``, each scored on a
    # test set of ``curve_test_functions`` functions (the profile's run: ``test_functions``)
    curve_test_functions: int = 4
    # claim 1
    sym_points: int = 12
    sym_dim: int = 3
    # claim 3
    oracle_points: int = 24
    oracle_known: tuple[int, ...] = (3, 9, 14, 20)
    oracle_lengthscale: float = 0.5
    oracle_T: int = 250
    oracle_resample: tuple[int, ...] = (1, 5, 10)
    oracle_samples: int = 2000


QUICK = Config()
# With 16 test functions the standard error of a TLL gap (≈ 0.035–0.055) left both the NDP's gap and its
# context-free control "inconclusive" against the bar; 64 halved it (fixed before the retrain that measured it) and
# settled the SE control, not the Matérn one (−0.39 ± 0.026 against −0.35). 256 halve it again; fixed, with the
# criteria unchanged, before the retrain that measures it (issue 13).
# The compute curve (issue 24) scores its three smaller budgets on 32 test functions each (a TLL gap's se ≈ 0.03):
# an eighth of the profile's sampling a budget, fixed before the retrain that measures it.
FULL = Config(train=TrainConfig(steps=6000, batch_size=32, lr=2e-3, ema_decay=0.998), test_functions=256,
              figure_samples=64, curve_test_functions=32)
PROFILES: dict[str, Config] = {"quick": QUICK, "full": FULL}

#: One random stream per sub-experiment, repeated per kernel (offset = 1 + the kernel's index in GP_KERNELS).
STREAMS = SeedStreams({"init": 1, "train": 2, "test": 3, "sample": 4, "figure": 5, "symmetry": 6, "oracle": 7,
                       "prior": 8})


def kernel_offset(kernel: str | None) -> int:
    """The stream offset of ``kernel``'s repeat: 1 + its index in GP_KERNELS (0: no kernel)."""
    return 0 if kernel is None else GP_KERNELS.index(kernel) + 1


def generator(seed: int, part: str, kernel: str | None = None) -> torch.Generator:
    return STREAMS.generator(seed, part, kernel_offset(kernel))


def lengthscale(cfg: Config) -> float:
    return 0.25 * math.sqrt(cfg.dim)


def schedule(cfg: Config) -> DDPMSchedule:
    return DDPMSchedule.ndp(cfg.T, cfg.beta_min, cfg.beta_max)


def network(cfg: Config) -> BiDimensionalAttention:
    return BiDimensionalAttention(hidden=cfg.hidden, layers=cfg.layers, heads=cfg.heads)


def load_net(cfg: Config, state: dict[str, Tensor], kernel: str, device: torch.device) -> BiDimensionalAttention:
    return unpack_weights(network(cfg), state, f"net.{kernel}").to(device)


def functions(cfg: Config, kernel: str, n: int, points: int, g: torch.Generator,
              dtype: torch.dtype = torch.float64) -> FunctionBatch:
    return gp_functions(n, points, cfg.dim, generator=g, kernel=kernel, lengthscale=lengthscale(cfg),
                        noise_variance=cfg.noise_variance, dtype=dtype)


# ---------------------------------------------------------------------------------------------
# Claim 1: symmetries
# ---------------------------------------------------------------------------------------------


@dataclass
class SymmetryResult:
    point_equivariance: float  # max |model(P x, P y) - P model(x, y)|
    dim_invariance: float  # max |model(x Π, y) - model(x, y)|
    output_scale: float  # max |model(x, y)|: the errors are relative to this


class PositionalControl(torch.nn.Module):
    """The symmetry claims' negative control: the same network told where each point and input dimension sits in
    its list (index · 0.1 added to the inputs), i.e. with a positional encoding."""

    def __init__(self, cfg: Config) -> None:
        super().__init__()
        self.inner = network(cfg)
        self.head = self.inner.head

    def forward(self, x: Tensor, y: Tensor, t: Tensor) -> Tensor:
        n, d = x.shape[-2], x.shape[-1]
        x = x + 0.1 * torch.arange(n, dtype=x.dtype)[:, None] + 0.1 * torch.arange(d, dtype=x.dtype)
        return self.inner(x, y, t)


def symmetry_check(cfg: Config, seed: int, make_network=None) -> SymmetryResult:
    """A randomly initialised model (its zero head re-drawn, else every output is 0) in float64, on a
    batch of 3 functions with ``sym_points`` points in ``sym_dim`` dimensions: the points under one random
    permutation other than the identity, the dimensions under every one of the ``sym_dim! − 1`` others.
    ``make_network(cfg)`` replaces :func:`network` (the control: :class:`PositionalControl`)."""
    def make() -> BiDimensionalAttention:
        net = (network if make_network is None else make_network)(cfg).double().eval()
        torch.nn.init.normal_(net.head[-1].weight, std=0.5)
        return net

    g = generator(seed, "symmetry")
    net = STREAMS.build(make, seed, "symmetry")
    x = torch.randn(3, cfg.sym_points, cfg.sym_dim, generator=g, dtype=torch.float64)
    y = torch.randn(3, cfg.sym_points, generator=g, dtype=torch.float64)
    t = torch.tensor([3.0, 50.0, 400.0], dtype=torch.float64)
    perm_n = non_identity_permutation(cfg.sym_points, g)
    with torch.no_grad():
        out = net(x, y, t)
        out_n = net(x[:, perm_n], y[:, perm_n], t)
        dim_error = max(float((net(x[..., list(p)], y, t) - out).abs().max())
                        for p in itertools.permutations(range(cfg.sym_dim)) if list(p) != list(range(cfg.sym_dim)))
    return SymmetryResult(float((out_n - out[:, perm_n]).abs().max()), dim_error, float(out.abs().max()))


def non_identity_permutation(n: int, g: torch.Generator) -> Tensor:
    """A random permutation of ``n ≥ 2`` items that moves at least one (a draw of the identity is rolled by one):
    checking a symmetry under the identity would pass whatever the network."""
    perm = torch.randperm(n, generator=g)
    return perm.roll(1) if bool((perm == torch.arange(n)).all()) else perm


# ---------------------------------------------------------------------------------------------
# Claim 3: RePaint with the exact denoiser
# ---------------------------------------------------------------------------------------------


@dataclass
class OracleResult:
    resample: tuple[int, ...]
    kl: dict[str, list[float]]  # "t" / "t-1" -> KL per U
    std_ratio: dict[str, list[float]]  # mean predictive std ratio (sampled / exact) per U
    x: Tensor  # [P] inputs
    y: Tensor  # [P] the GP vector
    known: Tensor  # [P] bool
    exact_mean: Tensor  # [P - K]
    exact_std: Tensor  # [P - K]
    samples: dict[int, Tensor]  # U -> [n, P - K] (β_t indexing; smallest and largest U)


def oracle_problem(cfg: Config, seed: int) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """A GP vector on ``oracle_points`` inputs in [-2, 2] (SE, ℓ = ``oracle_lengthscale``, noise 0.05²), the
    known mask, and the exact conditional (mean, cov) of the unknown entries."""
    x = torch.linspace(-2, 2, cfg.oracle_points, dtype=torch.float64).unsqueeze(-1)
    data = gp_functions(1, cfg.oracle_points, 1, generator=generator(seed, "oracle"), x=x,
                        lengthscale=cfg.oracle_lengthscale, noise_variance=cfg.noise_variance)
    y = data.y[0]
    known = torch.zeros(cfg.oracle_points, dtype=torch.bool)
    known[list(cfg.oracle_known)] = True
    mean, post = masked_conditional_gaussian(torch.zeros_like(y), oracle_cov(cfg, x), y, known, jitter=0.0)
    return x, y, known, mean, post


def oracle_cov(cfg: Config, x: Tensor) -> Tensor:
    return squared_exponential(x, x, lengthscale=cfg.oracle_lengthscale) + cfg.noise_variance * torch.eye(
        len(x), dtype=torch.float64)


def fit_oracle(cfg: Config, seed: int) -> dict[str, Tensor]:
    """RePaint (T = ``oracle_T``, NDP schedule) with the exact ε of N(0, K + σ²I), for U ∈ ``oracle_resample``
    and both β indexings of the jump back: KL of a Gaussian fitted to the samples of the unknown entries
    against the exact conditional, the mean sd ratio, and the samples of the smallest and largest U (β_t).
    Seeded and network-free, but a minute of CPU: stored with the artifacts like the NDP's samples."""
    x, y, known, mean, post = oracle_problem(cfg, seed)
    sched = DDPMSchedule.ndp(cfg.oracle_T, cfg.beta_min, cfg.beta_max)
    eps_fn = exact_gaussian_eps(oracle_cov(cfg, x), sched)
    g = generator(seed, "oracle")
    out: dict[str, Tensor] = {}
    for renoise in ("t", "t-1"):
        kl, ratio = [], []
        for u in cfg.oracle_resample:
            x_init = torch.randn(cfg.oracle_samples, cfg.oracle_points, generator=g, dtype=torch.float64)
            z = repaint(eps_fn, x_init, generator=g, schedule=sched, known=y, mask=known, resample=u,
                        renoise_beta=renoise)[:, ~known]
            c = torch.cov(z.T)
            kl.append(float(kl_mvn(z.mean(0), c, mean, post)))
            ratio.append(float((c.diagonal() / post.diagonal()).sqrt().mean()))
            if renoise == "t" and u in (cfg.oracle_resample[0], cfg.oracle_resample[-1]):
                out[f"oracle.samples.U{u}"] = z.float()
        out[f"oracle.kl.{renoise}"] = torch.tensor(kl, dtype=torch.float64)
        out[f"oracle.std_ratio.{renoise}"] = torch.tensor(ratio, dtype=torch.float64)
    return out


def oracle_check(cfg: Config, state: dict[str, Tensor], seed: int) -> OracleResult:
    x, y, known, mean, post = oracle_problem(cfg, seed)
    ends = (cfg.oracle_resample[0], cfg.oracle_resample[-1])
    return OracleResult(cfg.oracle_resample, {r: state[f"oracle.kl.{r}"].tolist() for r in ("t", "t-1")},
                        {r: state[f"oracle.std_ratio.{r}"].tolist() for r in ("t", "t-1")}, x[:, 0], y, known, mean,
                        post.diagonal().sqrt(), {u: state[f"oracle.samples.U{u}"].double() for u in ends})


# ---------------------------------------------------------------------------------------------
# Claim 2: NDPs on GP data against the exact GP
# ---------------------------------------------------------------------------------------------


def fit_model(cfg: Config, kernel: str, seed: int, device: torch.device, progress: bool = True) -> dict[str, Tensor]:
    """Train one NDP (eq. 8, L1, stratified t) on fresh GP draws of ``kernel``, ``train_points`` inputs each."""
    net = STREAMS.build(lambda: network(cfg), seed, "init", kernel_offset(kernel))
    return fit_ndp(net, lambda n, g: functions(cfg, kernel, n, cfg.train_points, g, DTYPE), schedule(cfg), cfg.train,
                   generator(seed, "train", kernel), device=device, key=f"net.{kernel}", losses_key=f"losses.{kernel}",
                   progress=progress, description=f"NDP on {LABELS[kernel]} GP data")


@dataclass
class TestSet:
    """``test_functions`` GP draws with ``n_context [F]`` contexts each (uniform in 1..10D-1) and
    ``n_targets`` targets: ``x_context [F, Cmax, D]`` (padded; ``context_mask [F, Cmax]``), ``y_context``,
    ``x_target [F, M, D]``, ``y_target [F, M]`` (float64)."""

    x_context: Tensor
    y_context: Tensor
    context_mask: Tensor
    x_target: Tensor
    y_target: Tensor

    @property
    def n_context(self) -> Tensor:
        return self.context_mask.sum(-1)


def max_contexts(cfg: Config) -> int:
    return 10 * cfg.dim - 1


def test_set(cfg: Config, kernel: str, seed: int, n_functions: int | None = None) -> TestSet:
    g = generator(seed, "test", kernel)
    n = cfg.test_functions if n_functions is None else n_functions
    cmax = max_contexts(cfg)
    data = functions(cfg, kernel, n, cmax + cfg.n_targets, g)
    n_context = torch.randint(1, cmax + 1, (n,), generator=g)
    mask = torch.arange(cmax)[None, :] < n_context[:, None]
    return TestSet(data.x[:, :cmax], data.y[:, :cmax], mask, data.x[:, cmax:], data.y[:, cmax:])


def exact_predictive(cfg: Config, kernel: str, x_context: Tensor, y_context: Tensor,
                     x_target: Tensor) -> tuple[Tensor, Tensor]:
    """The exact GP's predictive N(mean [M], cov [M, M]) of the noisy targets given ``x_context [C, D]``,
    ``y_context [C]`` (:func:`scorelib.gp.gp_posterior` with the data's kernel and noise)."""
    return gp_posterior(x_context, y_context, x_target, kernel, noise_variance=cfg.noise_variance, include_noise=True,
                        lengthscale=lengthscale(cfg))


def gp_predictive(cfg: Config, kernel: str, ts: TestSet) -> tuple[Tensor, Tensor]:
    """:func:`exact_predictive` for every test function ``(mean [F, M], cov [F, M, M])``, one function at a time
    (each with its own number of contexts)."""
    means, covs = zip(*(exact_predictive(cfg, kernel, ts.x_context[i, m], ts.y_context[i, m], ts.x_target[i])
                        for i, m in enumerate(ts.context_mask)))
    return torch.stack(means), torch.stack(covs)


def fitted_tll(samples: Tensor, y_target: Tensor, jitter: float = 1e-6) -> Tensor:
    """TLL per target point ``[F]`` of a Gaussian fitted to ``samples [F, S, M]`` (mean and unbiased
    covariance + jitter·I), evaluated jointly at ``y_target [F, M]``."""
    samples = samples.double()
    mean = samples.mean(1)
    centred = samples - mean[:, None]
    cov = centred.transpose(1, 2) @ centred / (samples.shape[1] - 1)
    cov = cov + jitter * torch.eye(cov.shape[-1], dtype=cov.dtype)
    return gaussian_log_prob(y_target, mean, cov, 0.0) / y_target.shape[-1]


def sample(cfg: Config, net, x_context: Tensor, y_context: Tensor, x_target: Tensor, n_samples: int,
           g: torch.Generator, device: torch.device, context_mask: Tensor | None = None) -> Tensor:
    """Conditional samples (RePaint, U = ``resample``, ``sample_steps`` respaced steps) on ``device``, returned
    on the CPU: ``[S, M]``, or ``[F, S, M]`` for a batch of functions (padded contexts: ``context_mask``)."""
    out = conditional_samples(net, schedule(cfg), x_context.to(device, DTYPE), y_context.to(device, DTYPE),
                              x_target.to(device, DTYPE), n_samples=n_samples, generator=g, resample=cfg.resample,
                              steps=cfg.sample_steps,
                              context_mask=None if context_mask is None else context_mask.to(device))
    return out.cpu()


def figure_inputs(cfg: Config, kernel: str, seed: int) -> tuple[Tensor, Tensor, Tensor]:
    """One function of the test process with ``figure_contexts`` contexts, and a grid of targets on [-2, 2]:
    ``(x_context [C, 1], y_context [C], x_grid [G, 1])`` (D = 1 only)."""
    g = generator(seed, "figure", kernel)
    data = functions(cfg, kernel, 1, cfg.figure_contexts, g)
    return data.x[0], data.y[0], torch.linspace(-2, 2, 60, dtype=torch.float64).unsqueeze(-1)


def fit(cfg: Config, seed: int, device: torch.device, progress: bool = True) -> dict[str, Tensor]:
    """Everything slow: RePaint with the exact denoiser (claim 3); per kernel, training, the conditional
    samples of the test set and of the figure's function, and a few prior draws."""
    state: dict[str, Tensor] = fit_oracle(cfg, seed)
    for kernel in GP_KERNELS:
        state.update(fit_model(cfg, kernel, seed, device, progress))
        net = load_net(cfg, state, kernel, device)
        state[f"samples.{kernel}"] = test_samples(cfg, net, kernel, seed, device, cfg.test_functions)
        xc, yc, xg = figure_inputs(cfg, kernel, seed)
        state[f"figure.{kernel}"] = sample(cfg, net, xc, yc, xg, cfg.figure_samples, generator(seed, "figure", kernel),
                                           device)
        x_prior = xg.to(device, DTYPE).expand(8, -1, -1)
        state[f"prior.{kernel}"] = prior_samples(net, schedule(cfg), x_prior, generator=generator(seed, "prior", kernel),
                                                 steps=cfg.sample_steps).cpu()
    return state | fit_over_budgets(cfg, "train", lambda c: fit_curve_point(c, seed, device, progress), "curve")


def fit_curve_point(cfg: Config, seed: int, device: torch.device, progress: bool = True) -> dict[str, Tensor]:
    """Per kernel, the NDP trained from scratch for ``cfg.train`` (a separate run with its own cosine schedule, the
    same initial weights and training stream as the profile's) and its conditional samples of a test set of
    ``curve_test_functions`` functions, drawn as the profile's are."""
    out: dict[str, Tensor] = {}
    for kernel in GP_KERNELS:
        net = load_net(cfg, fit_model(cfg, kernel, seed, device, progress), kernel, device)
        out[f"samples.{kernel}"] = test_samples(cfg, net, kernel, seed, device, cfg.curve_test_functions)
    return out


#: The test sets' samples are stored in half precision, as the image chapter's are: the artifacts stay a few MB (the
#: full profile's 18 MB of float32 samples become 9 MB). Rounding |y| < 4 to float16 moves a value by at most 2⁻¹⁰;
#: on 128 exact posterior samples of 128 full-profile test functions the mean fitted TLL (the gap's statistic) moved
#: by 1.0 × 10⁻⁴ (SE) and 0.8 × 10⁻⁴ (Matérn) nats a point, a hundredth of a gap's standard error (≈ 0.01), and
#: one function's by at most 0.004 (our calculation, 2026-12-07; tests/test_ndp_regression.py bounds it).
SAMPLES_DTYPE = torch.float16


def test_samples(cfg: Config, net, kernel: str, seed: int, device: torch.device, n_functions: int) -> Tensor:
    """``n_samples`` conditional samples ``[F, S, M]`` of each function of the test set of ``n_functions`` (its
    padded contexts masked), from the start of the kernel's sampling stream, stored as :data:`SAMPLES_DTYPE`."""
    ts = test_set(cfg, kernel, seed, n_functions)
    return sample(cfg, net, ts.x_context, ts.y_context, ts.x_target, cfg.n_samples, generator(seed, "sample", kernel),
                  device, ts.context_mask).to(SAMPLES_DTYPE)


@dataclass
class RegressionResult:
    kernel: str
    n_context: Tensor  # [F]
    tll_gp: Tensor  # [F] exact GP, per target point
    tll_ndp: Tensor  # [F] Gaussian fitted to the NDP's samples
    tll_gp_fitted: Tensor  # [F] Gaussian fitted to as many exact GP samples: the estimator's own bias
    tll_prior_fitted: Tensor  # [F] Gaussian fitted to as many GP *prior* samples: a model that ignores the contexts
    mse_gp: Tensor  # [F] posterior-mean MSE at the targets
    mse_ndp: Tensor
    mse_prior: Tensor | None = None  # [F] MSE of the prior samples' mean (the control)

    @property
    def gap(self) -> float:
        return float((self.tll_ndp - self.tll_gp).mean())

    @property
    def gap_se(self) -> float:
        d = self.tll_ndp - self.tll_gp
        return float(d.std() / math.sqrt(len(d)))

    @property
    def mse_ratio(self) -> float:
        return float(self.mse_ndp.mean() / self.mse_gp.mean())

    def control(self) -> "RegressionResult":
        """The same result with the GP-prior samples (contexts ignored) in the NDP's place: the control."""
        return RegressionResult(self.kernel, self.n_context, self.tll_gp, self.tll_prior_fitted, self.tll_gp_fitted,
                                self.tll_prior_fitted, self.mse_gp, self.mse_prior, self.mse_prior)


def regression_check(cfg: Config, state: dict[str, Tensor], kernel: str, seed: int) -> RegressionResult:
    """The NDP's samples ``state["samples.<kernel>"] [F, S, M]`` against the exact GP on the test set of F functions
    (``test_functions`` for the profile's run, ``curve_test_functions`` for a compute curve's smaller budgets)."""
    samples = state[f"samples.{kernel}"].double()
    ts = test_set(cfg, kernel, seed, samples.shape[0])
    mean, cov = gp_predictive(cfg, kernel, ts)
    g = generator(seed, "test", kernel)
    chol = torch.linalg.cholesky(cov)
    z = torch.randn(*samples.shape, generator=g, dtype=torch.float64)
    gp_samples = mean[:, None] + z @ chol.transpose(1, 2)
    prior_cov = torch.stack([get_kernel(kernel)(x, x, lengthscale=lengthscale(cfg)) for x in ts.x_target])
    prior_cov = prior_cov + cfg.noise_variance * torch.eye(cfg.n_targets, dtype=torch.float64)
    z = torch.randn(*samples.shape, generator=g, dtype=torch.float64)
    prior_samples_ = z @ torch.linalg.cholesky(prior_cov).transpose(1, 2)
    return RegressionResult(
        kernel, ts.n_context, gaussian_log_prob(ts.y_target, mean, cov, 0.0) / cfg.n_targets,
        fitted_tll(samples, ts.y_target), fitted_tll(gp_samples, ts.y_target), fitted_tll(prior_samples_, ts.y_target),
        ((mean - ts.y_target) ** 2).mean(-1), ((samples.mean(1) - ts.y_target) ** 2).mean(-1),
        ((prior_samples_.mean(1) - ts.y_target) ** 2).mean(-1))


def gp_reference_tll(cfg: Config, kernel: str, seed: int, n_functions: int = 512) -> float:
    """The exact GP's mean TLL per target point over many test functions (checked against our earlier calculation)."""
    ts = test_set(cfg, kernel, seed + 10_000, n_functions)
    mean, cov = gp_predictive(cfg, kernel, ts)
    return float((gaussian_log_prob(ts.y_target, mean, cov, 0.0) / cfg.n_targets).mean())


# ---------------------------------------------------------------------------------------------
# Claims
# ---------------------------------------------------------------------------------------------


# Criteria. The TLL gap bar is fixed from the paper: Table 1 (SE, D = 1) reports NDP 0.39 against GP 0.71, a gap of
# −0.32 (the NDP's 0.392 is the last row of the authors' released evaluation of their SE, D = 1 model; the GP's 0.71
# is as recalled, †, and our exact GP gives 0.70); the bar −0.35 allows 0.03 more, at both profiles (the quick bar was −0.6, which a
# model that ignores the contexts passes: issue 13). The MSE bar 1.3 and the RePaint bars (KL ≥ 2 naive, ≤ 0.3 at
# U = 10, sd within 5 %) are the chapter's original ones; each has a control the bar rejects.
#: Where each kernel's TLL row comes from: Table 1, with the NDP's value from the authors' released evaluation.
SOURCE_TLL = {
    "squared_exponential": "Dutordoir et al. 2022, Table 1 (SE, D=1: NDP 0.39, in the authors' released evaluation; "
                           "GP 0.71 †)",
    "matern52": "Dutordoir et al. 2022, Table 1 (Matérn-5/2, D=1: NDP −0.03, in the authors' released evaluation)",
}
#: The published gap, shown in the claims table's "paper" column (Table 1, SE: 0.39 − 0.71; none is stated for Matérn).
PAPER_TLL_GAP = {"squared_exponential": -0.32}
PRIOR_CONTROL = "GP prior samples, contexts ignored, through the same estimator"


def _kernel_claims(kernel: str) -> list[Claim]:
    label = LABELS[kernel]
    calc = GP_TLL_CALC[kernel][0]
    return [
        Claim(f"gp_reference_tll_{kernel}", "our calculation (exact GP posterior predictive)",
              f"exact GP TLL per target point, {label}, D=1, 512 test functions", calc, "abs", 0.05, 0.05,
              reference="ours", check=True),
        Claim(f"ndp_tll_gap_{kernel}", SOURCE_TLL[kernel],
              f"NDP TLL − exact GP TLL, {label}, D=1", PAPER_TLL_GAP.get(kernel), "min", -0.35, -0.35, digits=2,
              control=PRIOR_CONTROL),
        Claim(f"ndp_mse_ratio_{kernel}", "Dutordoir et al. 2022, §5.2", f"NDP / GP posterior-mean MSE, {label}",
              None, "max", 1.3, 1.3, digits=2, control=PRIOR_CONTROL + " (their mean ≈ the prior mean 0)"),
    ]


CLAIMS = ClaimTable([
    Claim("point_equivariance", "Dutordoir et al. 2022, §4 (bi-dimensional attention)", "max |ε(Px, Py) − Pε(x, y)|, P ≠ I, float64", 0.0, "max",
          1e-5, 1e-5, digits=1, stable=False, reference="theory",
          control="the same network with a positional encoding (index added to the inputs)"),
    Claim("dim_invariance", "Dutordoir et al. 2022, §4 (bi-dimensional attention)", "max over every Π ≠ I of |ε(xΠ, y) − ε(x, y)|, D=3, float64", 0.0, "max",
          1e-5, 1e-5, digits=1, stable=False, reference="theory",
          control="the same network with a positional encoding (index added to the inputs)"),
    *_kernel_claims("squared_exponential"),
    *_kernel_claims("matern52"),
    Claim("repaint_naive_kl", "Lugmayr et al. 2022, §4 (U=1 is naive replacement)",
          "KL(sampled ‖ exact), exact denoiser, U=1", None, "min", 2.0, 2.0, digits=2,
          control="RePaint with U = 10 (resampled)"),
    Claim("repaint_resampled_kl", "Lugmayr et al. 2022, §4 (resampling harmonises)",
          "KL(sampled ‖ exact), exact denoiser, U=10", None, "max", 0.3, 0.3, digits=2,
          control="RePaint with U = 1 (naive replacement)"),
    # implied by the two claims above for U ∈ {1, 5, 10}, with no separate wrong model: a check
    Claim("repaint_kl_decreasing", "Lugmayr et al. 2022, Fig. 4", "max over U ∈ {1,5,10} of KL(U_next)/KL(U)",
          None, "max", 1.0, 1.0, digits=2, check=True),
    Claim("repaint_std_ratio", "exact conditional", "mean predictive sd ratio sampled/exact, U=10", 1.0, "abs",
          0.05, 0.05, reference="theory", control="RePaint with U = 1 (naive replacement)"),
])


def measured_claims(sym: SymmetryResult, reg: dict[str, RegressionResult], reference: dict[str, float],
                    oracle: OracleResult) -> dict[str, Measured]:
    """Map the chapter's results onto claim ids (the TLL gap with its standard error over test functions)."""
    kl = oracle.kl["t"]
    out = {
        "point_equivariance": sym.point_equivariance,
        "dim_invariance": sym.dim_invariance,
        "repaint_naive_kl": kl[0],
        "repaint_resampled_kl": kl[-1],
        "repaint_kl_decreasing": max(b / a for a, b in zip(kl[:-1], kl[1:])),
        "repaint_std_ratio": oracle.std_ratio["t"][-1],
    }
    for kernel, r in reg.items():
        out[f"gp_reference_tll_{kernel}"] = reference[kernel]
        out[f"ndp_tll_gap_{kernel}"] = (r.gap, r.gap_se)
        out[f"ndp_mse_ratio_{kernel}"] = r.mse_ratio
    return out


def measured_controls(sym_control: SymmetryResult, reg: dict[str, RegressionResult],
                      oracle: OracleResult) -> dict[str, Measured]:
    """Each counted claim's control by the same code: the positional network's symmetry errors, the GP-prior samples
    in the NDP's place, and RePaint's U = 1 and U = 10 as each other's controls."""
    kl, ratio = oracle.kl["t"], oracle.std_ratio["t"]
    out = {"point_equivariance": sym_control.point_equivariance, "dim_invariance": sym_control.dim_invariance,
           "repaint_naive_kl": kl[-1], "repaint_resampled_kl": kl[0], "repaint_std_ratio": ratio[0]}
    for kernel, r in reg.items():
        c = r.control()
        out[f"ndp_tll_gap_{kernel}"] = (c.gap, c.gap_se)
        out[f"ndp_mse_ratio_{kernel}"] = c.mse_ratio
    return out


#: The MSE ratio has no standard error here, so its curve has converged when the last doubling moved it by less than
#: 0.05: a sixth of the distance between the exact GP's ratio (1) and the bar (1.3). Fixed before the retrain.
CURVE_TOLERANCES = {f"ndp_mse_ratio_{kernel}": 0.05 for kernel in GP_KERNELS}


def measured_curves(cfg: Config, state: dict[str, Tensor], seed: int,
                    reg: dict[str, RegressionResult]) -> dict[str, ComputeCurve]:
    """The NDP's TLL gap (with its se) and MSE ratio at each stored smaller budget (:func:`fit_curve_point`, scored
    by :func:`regression_check` on its smaller test set), ending at the profile's run ``reg``."""
    budgets = doubling_budgets(cfg.train.steps)
    curves: dict[str, ComputeCurve] = {}
    for kernel, final in reg.items():
        rows = [regression_check(cfg, {f"samples.{kernel}": at_budget(state, "curve", steps)[f"samples.{kernel}"]},
                                 kernel, seed) for steps in budgets[:-1]] + [final]
        curves[f"ndp_tll_gap_{kernel}"] = ComputeCurve(tuple(CurvePoint(steps, r.gap, r.gap_se)
                                                             for steps, r in zip(budgets, rows)))
        curves[f"ndp_mse_ratio_{kernel}"] = ComputeCurve(tuple(CurvePoint(steps, r.mse_ratio, None)
                                                               for steps, r in zip(budgets, rows)),
                                                         CURVE_TOLERANCES[f"ndp_mse_ratio_{kernel}"])
    return curves


def claim_results(cfg: Config, seed: int, sym: SymmetryResult, reg: dict[str, RegressionResult],
                  reference: dict[str, float], oracle: OracleResult, profile: str,
                  curves: dict[str, ComputeCurve] | None = None):
    """The claims table with its controls (the positional network's symmetry errors are computed here) and, when
    given, the compute curves of the NDP's claims."""
    controls = measured_controls(symmetry_check(cfg, seed, PositionalControl), reg, oracle)
    return CLAIMS.check(measured_claims(sym, reg, reference, oracle), profile, controls=controls, curves=curves)
