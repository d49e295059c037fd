"""Sample-quality and estimation metrics with known reference values."""

from __future__ import annotations

import torch
from torch import Tensor


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


def _rbf_gram(x: Tensor, y: Tensor, bandwidths: Tensor) -> Tensor:
    d2 = torch.cdist(x, y).pow(2)
    return torch.exp(-d2.unsqueeze(0) / (2 * bandwidths.view(-1, 1, 1) ** 2)).sum(0)


def mmd2(x: Tensor, y: Tensor, bandwidths: tuple[float, ...] | Tensor = (0.2, 0.5, 1.0, 2.0)) -> Tensor:
    """Unbiased MMD² (Gretton et al. 2012, eq. 3) with a sum of RBF kernels.

    ``x [n, D]``, ``y [m, D]``. Zero in expectation when x and y share a law (may be < 0).
    """
    bw = torch.as_tensor(bandwidths, dtype=x.dtype, device=x.device)
    n, m = x.shape[0], y.shape[0]
    kxx = _rbf_gram(x, x, bw)
    kyy = _rbf_gram(y, y, bw)
    kxy = _rbf_gram(x, y, bw)
    sxx = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
    syy = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    return sxx + syy - 2 * kxy.mean()


def relative_error(estimate: Tensor, truth: Tensor) -> Tensor:
    """‖estimate - truth‖_F / ‖truth‖_F."""
    return torch.linalg.norm(estimate - truth) / torch.linalg.norm(truth)


def loglog_slope(x: Tensor, y: Tensor) -> Tensor:
    """Least-squares slope of log y against log x (the rate of a power law y ∝ x^slope)."""
    lx, ly = torch.log(x.double()), torch.log(y.double())
    lx_c = lx - lx.mean()
    return (lx_c * (ly - ly.mean())).sum() / (lx_c**2).sum()
