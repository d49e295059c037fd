"""Data sets of the book. Nothing is downloaded: data are generated, or ship with a package.

- :func:`digits` — scikit-learn's 8×8 handwritten digits (1,797 images shipped with the package),
  scaled to [-1, 1], with a fixed train/test split.
- Functions for the NDP chapters, as :class:`FunctionBatch` (``x [batch, points, dims]``, ``y [batch,
  points]``, ``mask [batch, points]``): :func:`gp_functions` (GP draws plus independent noise),
  :func:`step_functions` (f(x) = 1[x ≥ a], a ~ U[-L, L]) with its exact posterior
  :func:`step_posterior_probability`, and :func:`split_context_target`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from scorelib.errors import ConfigError

#: The digits split is fixed once for the whole book (independent of any chapter's seed).
DIGITS_SPLIT_SEED = 20190101
DIGITS_TEST_FRACTION = 0.2


def digits(split: Literal["train", "test", "all"] = "train", dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    """scikit-learn's ``load_digits`` as images ``[n, 1, 8, 8]`` in [-1, 1] and labels ``[n]`` (int64).

    Pixel values 0..16 map to v/8 - 1. The split is a fixed permutation (seed
    :data:`DIGITS_SPLIT_SEED`): the last 20% (359 images) are ``"test"``, the rest (1,438) ``"train"``.
    """
    if split not in ("train", "test", "all"):
        raise ConfigError(f"unknown digits split {split!r}; choose 'train', 'test' or 'all'")
    from sklearn.datasets import load_digits  # shipped with scikit-learn: no download

    data = load_digits()
    images = torch.as_tensor(data.images, dtype=torch.float64).unsqueeze(1) / 8.0 - 1.0  # [1797, 1, 8, 8]
    labels = torch.as_tensor(data.target, dtype=torch.int64)
    if split == "all":
        return images.to(dtype), labels
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(DIGITS_SPLIT_SEED))
    n_test = round(DIGITS_TEST_FRACTION * len(labels))
    idx = order[-n_test:] if split == "test" else order[:-n_test]
    return images[idx].to(dtype), labels[idx]


# --------------------------------------------------------------------------------------------
# Function data sets of the Neural Diffusion Processes chapters (Dutordoir et al. 2022)
# --------------------------------------------------------------------------------------------

#: NDP data settings (Dutordoir et al. 2022, §5.1).
NDP_X_RANGE = (-2.0, 2.0)
NDP_NOISE_VARIANCE = 0.05**2


@dataclass(frozen=True)
class FunctionBatch:
    """A batch of functions observed at points. Shapes are contracts:

    - ``x``: ``[batch, points, dims]`` inputs;
    - ``y``: ``[batch, points]`` observed values (one output: no trailing singleton dim);
    - ``mask``: ``[batch, points]`` bool, True for real points and False for padding;
    - ``f``: ``[batch, points]`` the noise-free function values where the generator knows them (else None).
    """

    x: Tensor
    y: Tensor
    mask: Tensor
    f: Tensor | None = None

    def __post_init__(self) -> None:
        b, n, _ = self.x.shape
        for name in ("y", "mask", "f"):
            value = getattr(self, name)
            if value is not None and tuple(value.shape) != (b, n):
                raise ConfigError(f"FunctionBatch.{name} must be [batch, points] = [{b}, {n}], got "
                                  f"{tuple(value.shape)}")
        if self.mask.dtype != torch.bool:
            raise ConfigError("FunctionBatch.mask must be a bool tensor (True = real point)")

    def take(self, index: Tensor) -> FunctionBatch:
        """The points ``index [batch, k]`` (long) of every function, as a new batch ``[batch, k, …]``."""
        gather_x = index.unsqueeze(-1).expand(-1, -1, self.x.shape[-1])
        return FunctionBatch(self.x.gather(1, gather_x), self.y.gather(1, index), self.mask.gather(1, index),
                             None if self.f is None else self.f.gather(1, index))


def _uniform(shape: tuple[int, ...], low: float, high: float, generator: torch.Generator,
             dtype: torch.dtype) -> Tensor:
    u = torch.rand(shape, generator=generator, dtype=dtype, device=generator.device)
    return low + (high - low) * u


def _check_counts(**counts: int) -> None:
    for name, value in counts.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"{name} must be a positive int, got {value!r}")


def gp_functions(n_functions: int, n_points: int, dim: int = 1, *, generator: torch.Generator,
                 kernel: str = "squared_exponential", lengthscale: float | None = None, variance: float = 1.0,
                 noise_variance: float = NDP_NOISE_VARIANCE, x_range: tuple[float, float] = NDP_X_RANGE,
                 dtype: torch.dtype = torch.float64, jitter: float | None = None, x: Tensor | None = None,
                 **kernel_args) -> FunctionBatch:
    """Draws of a zero-mean GP observed with Gaussian noise, the NDP regression data (Dutordoir et al. 2022, §5.1).

    x ~ U[x_range]^D per point, f ~ N(0, K(x, x)) with ``kernel`` (``"squared_exponential"``, ``"matern52"``,
    ``"periodic"``; ℓ = 0.25·√D unless given, ``variance``), y = f + σε, σ² = ``noise_variance``. The noise ε
    is drawn *after and independently of* the GP sample (the official NDP code reuses one random key for
    both, which correlates them); the covariance of y is then exactly K + σ²I. f is drawn through the
    Cholesky factor of K + jitter·I (jitter :data:`scorelib.gp.DEFAULT_JITTER` unless given, in the
    working float64). Returns a :class:`FunctionBatch` with ``x [n_functions, n_points, dim]``, ``y`` and
    ``f [n_functions, n_points]``, all points real. Given inputs ``x [n_points, dim]`` (or ``[n_functions,
    n_points, dim]``) are used instead of uniform ones (every function then shares them).
    """
    from scorelib.gp import DEFAULT_JITTER, cholesky, get_kernel

    _check_counts(n_functions=n_functions, n_points=n_points, dim=dim)
    if not noise_variance >= 0:
        raise ConfigError(f"noise_variance must be non-negative, got {noise_variance}")
    k = get_kernel(kernel)
    ell = 0.25 * math.sqrt(dim) if lengthscale is None else lengthscale
    if x is None:
        x = _uniform((n_functions, n_points, dim), *x_range, generator, torch.float64)
    else:
        x = torch.as_tensor(x, dtype=torch.float64, device=generator.device).expand(n_functions, n_points, dim)
    chol = cholesky(k(x, x, lengthscale=ell, variance=variance, **kernel_args),
                    DEFAULT_JITTER if jitter is None else jitter)
    z = torch.randn((n_functions, n_points, 1), generator=generator, dtype=torch.float64, device=generator.device)
    f = (chol @ z).squeeze(-1)
    eps = torch.randn((n_functions, n_points), generator=generator, dtype=torch.float64, device=generator.device)
    y = f + math.sqrt(noise_variance) * eps
    mask = torch.ones((n_functions, n_points), dtype=torch.bool, device=x.device)
    return FunctionBatch(x.to(dtype), y.to(dtype), mask, f.to(dtype))


def step_function(x: Tensor, a: Tensor) -> Tensor:
    """f(x) = 1[x ≥ a] (0 left of the step, 1 from it on): ``x [batch, points, 1]``, ``a [batch]`` →
    ``[batch, points]`` in x's dtype."""
    return (x[..., 0] >= a.unsqueeze(-1)).to(x.dtype)


def step_functions(n_functions: int, n_points: int, *, generator: torch.Generator, L: float = 1.0,
                   dtype: torch.dtype = torch.float64, return_steps: bool = False
                   ) -> FunctionBatch | tuple[FunctionBatch, Tensor]:
    """The step-function process of the NDP talk: a ~ U[-L, L], f(x) = 1[x ≥ a], x ~ U[-L, L], no noise.

    Returns a :class:`FunctionBatch` (``x [n_functions, n_points, 1]``, ``y = f [n_functions, n_points]``
    in {0, 1}), and the step locations ``a [n_functions]`` with ``return_steps=True``. Marginally
    P(f(x) = 1) = (x + L)/2L: the mean of :func:`scorelib.gp.step_mean`.
    """
    _check_counts(n_functions=n_functions, n_points=n_points)
    if not L > 0:
        raise ConfigError(f"the step process needs L > 0, got {L}")
    a = _uniform((n_functions,), -L, L, generator, dtype)
    x = _uniform((n_functions, n_points, 1), -L, L, generator, dtype)
    y = step_function(x, a)
    batch = FunctionBatch(x, y, torch.ones(y.shape, dtype=torch.bool, device=y.device), y)
    return (batch, a) if return_steps else batch


def step_posterior_probability(x: Tensor, x_context: Tensor, y_context: Tensor, L: float = 1.0) -> Tensor:
    """Exact P(f(x) = 1 | context) of the step process: a ~ U(lo, hi] given the contexts, so
    P = clip((x - lo)/(hi - lo), 0, 1), lo = the largest context x with y = 0 (else -L), hi = the
    smallest with y = 1 (else L). ``x [..., M, 1]``, ``x_context [..., C, 1]``, ``y_context [..., C]``
    → ``[..., M]``. The posterior of f(x) is two point masses, at 0 and 1, with these weights."""
    xc = x_context[..., 0]
    bound = torch.full(xc.shape[:-1] + (1,), float(L), dtype=xc.dtype, device=xc.device)  # no context: the prior
    lo = torch.cat([torch.where(y_context < 0.5, xc, -L), -bound], -1).amax(-1)
    hi = torch.cat([torch.where(y_context >= 0.5, xc, L), bound], -1).amin(-1)
    return ((x[..., 0] - lo.unsqueeze(-1)) / (hi - lo).unsqueeze(-1)).clamp(0.0, 1.0)


def split_context_target(batch: FunctionBatch, n_context: int, *, generator: torch.Generator
                         ) -> tuple[FunctionBatch, FunctionBatch]:
    """A random split of every function's points into ``n_context`` contexts and the rest as targets.

    An independent uniform permutation per function (from ``generator``); returns ``(context [batch,
    n_context, …], target [batch, points - n_context, …])``. The batch must have no padding.
    """
    b, n, _ = batch.x.shape
    if not isinstance(n_context, int) or isinstance(n_context, bool) or not 0 < n_context < n:
        raise ConfigError(f"n_context must be an int in 1..{n - 1}, got {n_context!r}")
    if not bool(batch.mask.all()):
        raise ConfigError("split_context_target needs a batch without padded points")
    keys = torch.rand((b, n), generator=generator, device=generator.device).to(batch.x.device)
    order = keys.argsort(dim=1)
    return batch.take(order[:, :n_context]), batch.take(order[:, n_context:])
