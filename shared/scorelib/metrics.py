"""Sample-quality and estimation metrics with known reference values.

- :func:`mmd2` (unbiased or biased, a sum of RBF kernels), :func:`rbf_kernel_mean`, and
  :func:`mmd2_to_mixture` (the biased MMD² to a Gaussian mixture itself, in closed form);
- :func:`mode_weight_error` — a mixture sampler's mode weights and their largest error;
- :func:`frechet_distance` and our digits Fréchet distance (:func:`digits_frechet_distance`, in the
  feature space of :mod:`scorelib.digits_classifier`) with its two references at a sample size
  (:func:`digits_fd_references`);
- the Amari index, relative errors, log-log slopes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import torch
from torch import Tensor

from scorelib.digits_classifier import digits_classifier, digits_features
from scorelib.distributions import GaussianMixture
from scorelib.errors import ConfigError


def amari_index(p: Tensor) -> Tensor:
    """Amari et al. (1996) performance index of P = Ŵ A, normalised to [0, 1].

    d(P) = 1/(2n(n-1)) [Σ_i (Σ_j |p_ij| / max_k |p_ik| - 1) + Σ_j (Σ_i |p_ij| / max_k |p_kj| - 1)];
    zero iff P is a scaled permutation matrix (perfect separation up to order and sign).
    """
    a = p.abs()
    n = a.shape[-1]
    rows = (a.sum(-1) / a.amax(-1) - 1).sum(-1)
    cols = (a.sum(-2) / a.amax(-2) - 1).sum(-1)
    return (rows + cols) / (2 * n * (n - 1))


#: The default kernel of :func:`mmd2`: a sum of RBF kernels over a ladder of bandwidths.
MMD_BANDWIDTHS: tuple[float, ...] = (0.2, 0.5, 1.0, 2.0)


def _rbf_kernels(a: Tensor, b: Tensor, bandwidths: Sequence[float]) -> Iterator[Tensor]:
    """The Gram matrices k_h(a_i, b_j) = exp(-‖a_i - b_j‖²/2h²) ``[n, m]``, one per bandwidth, in order.

    Where a bandwidth halves the previous one, its kernel is the previous one to the 4th power (two
    in-place squarings instead of an exp); each yielded matrix is valid until the next is drawn."""
    d2 = torch.cdist(a, b).square_()
    kernel = None
    for i, h in enumerate(bandwidths):
        if kernel is not None and h == bandwidths[i - 1] / 2:
            kernel = kernel.square_().square_()
        else:
            kernel = torch.exp(d2 * (-0.5 / h**2))
        yield kernel


def rbf_kernel_mean(a: Tensor, b: Tensor, bandwidths: Sequence[float] = MMD_BANDWIDTHS, *,
                    block_rows: int | None = None) -> float:
    """(1/nm) Σ_ij Σ_h k_h(a_i, b_j) for ``a [n, D]``, ``b [m, D]``: the mean of the kernel of :func:`mmd2`.

    ``block_rows=None`` forms the n×m Gram matrix once and sums the bandwidths' means in ``a``'s dtype;
    ``block_rows=r`` goes through ``r`` rows at a time (memory and cache for large n) and accumulates the
    sums in float64. Both are the same statistic; they differ in the last bits."""
    if block_rows is None:
        return float(sum(kernel.mean() for kernel in _rbf_kernels(a, b, bandwidths)))
    total, size = 0.0, a.shape[0] * b.shape[0]
    for rows in a.split(block_rows):
        for kernel in _rbf_kernels(rows, b, bandwidths):
            total += float(kernel.sum()) / size
    return total


def mmd2(x: Tensor, y: Tensor, bandwidths: Sequence[float] | Tensor = MMD_BANDWIDTHS, *, biased: bool = False,
         kyy: float | None = None) -> Tensor:
    """MMD² between samples ``x [n, D]`` and ``y [m, D]`` with the kernel k = Σ_h exp(-‖x-y‖²/2h²).

    ``biased=False``: the unbiased U-statistic (Gretton et al. 2012, eq. 3), zero in expectation when x and
    y share a law (may be < 0); a tensor in ``x``'s dtype. ``biased=True``: the V-statistic MMD²_b (their
    eq. 5) = k̄(x,x) + k̄(y,y) - 2k̄(x,y) with k̄ of :func:`rbf_kernel_mean`: always ≥ 0, and for two samples
    of one law its mean is the finite-sample floor (1/n + 1/m)(E k(x,x) - E k(x,x')), so "c × the two-sample
    reference" is a meaningful criterion (c × zero is not); a float64 0-d tensor. ``kyy``: k̄(y,y)
    precomputed (biased only), when many x are compared with one y.
    """
    bandwidths = [float(h) for h in bandwidths]
    if biased:
        kyy = rbf_kernel_mean(y, y, bandwidths) if kyy is None else kyy
        return torch.tensor(rbf_kernel_mean(x, x, bandwidths) + kyy - 2 * rbf_kernel_mean(x, y, bandwidths),
                            dtype=torch.float64)
    if kyy is not None:
        raise ConfigError("kyy (a precomputed kernel mean of y) is for the biased statistic: pass biased=True")
    n, m = x.shape[0], y.shape[0]
    sxx = sum((k.sum() - k.diagonal().sum()) for k in _rbf_kernels(x, x, bandwidths)) / (n * (n - 1))
    syy = sum((k.sum() - k.diagonal().sum()) for k in _rbf_kernels(y, y, bandwidths)) / (m * (m - 1))
    return sxx + syy - 2 * sum(k.mean() for k in _rbf_kernels(x, y, bandwidths))


#: The kernel of :func:`mmd2_to_mixture`: a ladder halving from 2 (each kernel the previous one to the 4th power).
MIXTURE_MMD_BANDWIDTHS: tuple[float, ...] = (2.0, 1.0, 0.5, 0.25)


def mmd2_to_mixture(x: Tensor, mix: GaussianMixture,
                    bandwidths: Sequence[float] = MIXTURE_MMD_BANDWIDTHS) -> tuple[float, float]:
    """MMD²_b between the sample ``x [n, D]`` and an isotropic mixture itself, with k = Σ_h exp(-‖x-y‖²/2h²),
    and the floor it has for a perfect sampler, (1/n)(E k(x, x) - E k(x, x')) — both in closed form, because
    a Gaussian kernel averaged over a Gaussian is Gaussian:

        E_{y~N(μ, v I)} k_h(x, y) = (h²/(h²+v))^{D/2} exp(-‖x-μ‖²/2(h²+v)).

    So "MMD² < c × floor" compares with the exact expected value for exact samples, with no second sample
    set (and no second source of noise). The n×n term k̄(x, x) is computed in float32, 500 rows at a time."""
    n, d = x.shape
    w, mu, var = mix.weights, mix.means, mix.covs[:, 0, 0]
    xf = x.float()
    k_xx = rbf_kernel_mean(xf, xf, bandwidths, block_rows=500)
    x = x.to(torch.float64)
    xm = torch.cdist(x, mu).pow(2)  # [n, K]
    mm = torch.cdist(mu, mu).pow(2)  # [K, K]
    k_xp = k_pp = 0.0
    for h in bandwidths:
        h2 = h * h
        v = h2 + var
        k_xp = k_xp + ((h2 / v) ** (d / 2) * torch.exp(-xm / (2 * v)) * w).sum(-1).mean()
        vv = h2 + var[:, None] + var[None, :]
        k_pp = k_pp + (w[:, None] * w[None, :] * (h2 / vv) ** (d / 2) * torch.exp(-mm / (2 * vv))).sum()
    floor = (len(bandwidths) - k_pp) / n
    return float(k_xx - 2 * k_xp + k_pp), float(floor)


def mode_weight_error(mix: GaussianMixture, x: Tensor) -> tuple[Tensor, float]:
    """The mode weights ŵ of a sample ``x [n, D]`` of ``mix`` (:meth:`GaussianMixture.mode_weights`, ``[K]``)
    and max_k |ŵ_k - w_k|: whether a sampler puts the right mass in each mode."""
    weights = mix.mode_weights(x)
    return weights, float((weights - mix.weights).abs().max())


def relative_error(estimate: Tensor, truth: Tensor) -> Tensor:
    """‖estimate - truth‖_F / ‖truth‖_F."""
    return torch.linalg.norm(estimate - truth) / torch.linalg.norm(truth)


def loglog_slope(x: Tensor, y: Tensor) -> Tensor:
    """Least-squares slope of log y against log x (the rate of a power law y ∝ x^slope)."""
    lx, ly = torch.log(x.double()), torch.log(y.double())
    lx_c = lx - lx.mean()
    return (lx_c * (ly - ly.mean())).sum() / (lx_c**2).sum()


# --------------------------------------------------------------------------------------------
# Fréchet distance in the feature space of the library's digits classifier (ours, not FID)
# --------------------------------------------------------------------------------------------


def frechet_distance(features_a: Tensor, features_b: Tensor) -> Tensor:
    """Fréchet (2-Wasserstein) distance between Gaussians fitted to two feature sets ``[n, F]``, ``[m, F]``:

    d² = ‖μ_a - μ_b‖² + tr(Σ_a + Σ_b - 2(Σ_a^{1/2} Σ_b Σ_a^{1/2})^{1/2})   (Dowson & Landau 1982),

    the formula of FID (Heusel et al. 2017), computed in float64 with symmetric eigendecompositions.
    Returns d² (a 0-d float64 tensor), as FID does.
    """
    a, b = features_a.double(), features_b.double()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    evals, evecs = torch.linalg.eigh(cov_a)
    sqrt_a = evecs @ torch.diag(evals.clamp_min(0).sqrt()) @ evecs.T
    middle = sqrt_a @ cov_b @ sqrt_a
    cross = torch.linalg.eigvalsh(0.5 * (middle + middle.T)).clamp_min(0).sqrt().sum()
    return (mu_a - mu_b).pow(2).sum() + torch.trace(cov_a) + torch.trace(cov_b) - 2 * cross


def digits_frechet_distance(images_a: Tensor, images_b: Tensor, model: torch.nn.Module | None = None) -> float:
    """Our digits Fréchet distance: :func:`frechet_distance` between Gaussian fits of the classifier's
    penultimate-layer features of two image sets ``[n, 1, 8, 8]``. Not FID (no Inception network, 8×8
    images, 64 features): comparable only to itself, at equal sample sizes."""
    model = model if model is not None else digits_classifier(verbose=False)
    return float(frechet_distance(digits_features(model, images_a), digits_features(model, images_b)))


def digits_reference_sets(n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """The two reference image sets of a digits sample statistic at sample size ``n``, ``[n, 1, 8, 8]`` each: ``n``
    real training digits (without replacement) and ``n`` draws of a Gaussian with the training pixels' mean and full
    covariance, both drawn with ``generator`` (in that order)."""
    from scorelib.datasets import digits

    train_x, _ = digits("train")
    idx = torch.randperm(len(train_x), generator=generator)[:n]
    flat = train_x.flatten(1).double()
    cov = torch.cov(flat.T) + 1e-6 * torch.eye(64, dtype=torch.float64)
    gauss = flat.mean(0) + torch.randn(n, 64, generator=generator, dtype=torch.float64) @ torch.linalg.cholesky(cov).T
    return train_x[idx], gauss.float().reshape(n, 1, 8, 8)


def digits_fd_references(n: int, generator: torch.Generator,
                         model: torch.nn.Module | None = None) -> tuple[float, float]:
    """The two references of a digits FD computed with ``n`` samples against the test split, at that same n:
    ``(FD of n real training digits, FD of n draws of a Gaussian fitted to the training pixels)``
    (:func:`digits_reference_sets`). The first is the floor at this sample size (the statistic is biased upwards at
    small n), the second what a model without any structure beyond second moments reaches."""
    from scorelib.datasets import digits

    test_x, _ = digits("test")
    real, gauss = digits_reference_sets(n, generator)
    return digits_frechet_distance(real, test_x, model), digits_frechet_distance(gauss, test_x, model)


# --------------------------------------------------------------------------------------------
# One MMD test for the toy chapters (ddpm, score_sde): a data-fixed kernel and the null's quantile
# --------------------------------------------------------------------------------------------

#: Octaves of the median-heuristic ladder of :func:`median_ladder`.
MEDIAN_LADDER_OCTAVES = 4


def median_ladder(reference: Tensor, octaves: int = MEDIAN_LADDER_OCTAVES, max_points: int = 1000) -> tuple[float, ...]:
    """The bandwidths (h, h/2, …, h/2^(octaves-1)) with h the median pairwise distance of ``reference [n, D]``
    (its first ``max_points`` rows): the median heuristic (Gretton et al. 2012, §8) extended down by octaves,
    so that structure finer than the data's overall spread (a mode's width) is seen too. Fixed by the
    reference (data) sample, never by the sample under test; each bandwidth halves the previous one, so
    :func:`mmd2` computes one exponential for the whole ladder."""
    if octaves < 1:
        raise ConfigError(f"octaves must be ≥ 1, got {octaves}")
    h = float(torch.pdist(reference[:max_points].double()).median())
    return tuple(h / 2**i for i in range(octaves))


def mmd2_null(draw: Callable[[int, torch.Generator], Tensor], reference: Tensor, n: int,
              bandwidths: Sequence[float], draws: int, generator: torch.Generator,
              kyy: float | None = None) -> Tensor:
    """``draws`` values of MMD²_b(x, ``reference``) (:func:`mmd2`, biased) with x = ``draw(n, generator)`` an
    exact sample of the reference's law: the statistic's null distribution at this sample size, against this
    reference set, computed by the same call as any sampler's. Its 99% quantile is the criterion of a level-1%
    two-sample test: a sampler whose MMD² exceeds it is distinguishable from exact sampling. ``[draws]`` float64."""
    kyy = rbf_kernel_mean(reference, reference, bandwidths) if kyy is None else kyy
    return torch.stack([mmd2(draw(n, generator).to(reference.dtype), reference, bandwidths, biased=True, kyy=kyy)
                        for _ in range(draws)])
