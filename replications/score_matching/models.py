"""The unnormalised models of the score-matching chapter, each given by its score ψ(x; θ).

None of them needs its normalising constant: that is the point of score matching.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class GaussianCholesky(nn.Module):
    """Hyvärinen (2005) §3.1: log p(x) = -½(x-μ)ᵀM(x-μ) + const, M = LLᵀ (L lower-triangular).

    ψ(x) = -M(x - μ) for ``x [n, D]``.
    """

    def __init__(self, dim: int, dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        self.mu = nn.Parameter(torch.zeros(dim, dtype=dtype))
        self.chol = nn.Parameter(torch.eye(dim, dtype=dtype))

    @property
    def precision(self) -> Tensor:
        lower = torch.tril(self.chol)
        return lower @ lower.T

    def forward(self, x: Tensor) -> Tensor:
        return -(x - self.mu) @ self.precision


class GaussianNatural(nn.Module):
    """The same Gaussian energy in natural parameters: U(x) = ½xᵀMx - bᵀx, M symmetric.

    ψ(x) = -Mx + b. Every score-matching objective is then quadratic in (M, b), so L-BFGS
    reaches the minimiser in a few dozen evaluations even at D = 32.
    """

    def __init__(self, dim: int, dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        self.raw = nn.Parameter(torch.eye(dim, dtype=dtype))
        self.b = nn.Parameter(torch.zeros(dim, dtype=dtype))

    @property
    def precision(self) -> Tensor:
        return 0.5 * (self.raw + self.raw.T)

    def forward(self, x: Tensor) -> Tensor:
        return -x @ self.precision + self.b


class ICAModel(nn.Module):
    """Hyvärinen (2005) §3.2, eq. (13): log p(x) = Σ_k G(w_kᵀx) + Z(W), G(y) = -log cosh y.

    ψ(x) = Σ_k w_k g(w_kᵀx), g = G' = -tanh; ``x [n, D]`` → ``[n, D]``.
    """

    def __init__(self, init: Tensor) -> None:
        super().__init__()
        self.W = nn.Parameter(init.clone())

    def forward(self, x: Tensor) -> Tensor:
        return -torch.tanh(x @ self.W.T) @ self.W

    def neg_log_likelihood(self, x: Tensor) -> Tensor:
        """-(1/T) Σ_t log p(x(t)) for sources with density 1/(π cosh s), up to the constant n·log π."""
        return torch.log(torch.cosh(x @ self.W.T)).sum(-1).mean() - torch.linalg.slogdet(self.W)[1]


class LinearScore(nn.Module):
    """ψ(x) = a·x with one scalar a (the score of any isotropic centred Gaussian)."""

    def __init__(self, init: float = 0.0, dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.tensor(init, dtype=dtype))

    def forward(self, x: Tensor) -> Tensor:
        return self.a * x


class TiedDAE(nn.Module):
    """Vincent (2011) §4.1: the tied-weight denoising autoencoder r(x̃) = Wᵀ sigm(Wx̃ + b) + c,
    and its score ψ(x̃) = (r(x̃) - x̃)/σ² (eq. 10)."""

    def __init__(self, dim: int, hidden: int, sigma: float, generator: torch.Generator,
                 dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        self.sigma = sigma
        self.W = nn.Parameter(torch.randn(hidden, dim, generator=generator, dtype=dtype))
        self.b = nn.Parameter(torch.randn(hidden, generator=generator, dtype=dtype))
        self.c = nn.Parameter(torch.randn(dim, generator=generator, dtype=dtype))

    def reconstruct(self, x: Tensor) -> Tensor:
        return torch.sigmoid(x @ self.W.T + self.b) @ self.W + self.c

    def forward(self, x: Tensor) -> Tensor:
        return (self.reconstruct(x) - x) / self.sigma**2
