"""Score-matching objectives. Each takes a score function ``s(x) -> [n, D]`` and a batch ``x [n, D]``.

- :func:`explicit_score_matching` — Hyvärinen (2005), Theorem 1 / eq. (4): the implicit objective
  J̃(θ) = (1/T) Σ_t Σ_i [∂_i ψ_i(x(t); θ) + ½ ψ_i(x(t); θ)²], with the exact Jacobian trace (D autograd
  passes).
- :func:`sliced_score_matching` — Song et al. (2019), eq. (7): vᵀ∇_x(vᵀψ) + ½(vᵀψ)², and SSM-VR,
  eq. (8): vᵀ∇_x(vᵀψ) + ½‖ψ‖² (one autograd pass per projection).
- :func:`denoising_score_matching` — Vincent (2011), eq. (8)/(9): ½‖ψ(x̃) - (x - x̃)/σ²‖²,
  x̃ = x + σz.
- :func:`fisher_divergence` — Vincent's J_ESM, eq. (5): ½‖ψ(x) - ∇log q(x)‖² with a known score.

All return the mean over the batch (``reduction="mean"``) or per-sample values ``[n]``
(``reduction="none"``). Sums run over the data dimension.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor

from scorelib.errors import ConfigError

ScoreFn = Callable[[Tensor], Tensor]
Reduction = Literal["mean", "none"]


def _reduce(values: Tensor, reduction: Reduction) -> Tensor:
    if reduction == "mean":
        return values.mean()
    if reduction == "none":
        return values
    raise ConfigError(f"unknown reduction {reduction!r}; choose 'mean' or 'none'")


def jacobian_trace(score_fn: ScoreFn, x: Tensor) -> tuple[Tensor, Tensor]:
    """Exact tr ∇_x ψ(x) by D vector-Jacobian products (differentiable: ``create_graph=True``).

    Returns ``(trace [n], ψ(x) [n, D])``. Costs D backward passes: the reason sliced score
    matching exists.
    """
    x = x.detach().requires_grad_(True)
    psi = score_fn(x)
    trace = torch.zeros(x.shape[0], dtype=psi.dtype, device=psi.device)
    for i in range(x.shape[1]):
        (grad_i,) = torch.autograd.grad(psi[:, i].sum(), x, create_graph=True)
        trace = trace + grad_i[:, i]
    return trace, psi


def explicit_score_matching(score_fn: ScoreFn, x: Tensor, reduction: Reduction = "mean") -> Tensor:
    """Hyvärinen (2005) eq. (4): tr ∇_x ψ(x) + ½‖ψ(x)‖² (needs no data score, no normaliser)."""
    trace, psi = jacobian_trace(score_fn, x)
    return _reduce(trace + 0.5 * (psi**2).sum(-1), reduction)


def _projections(
    shape: torch.Size, like: Tensor, kind: str, generator: torch.Generator | None
) -> Tensor:
    if kind == "gaussian":
        return torch.randn(shape, generator=generator, dtype=like.dtype, device=like.device)
    if kind == "rademacher":
        bits = torch.randint(0, 2, shape, generator=generator, device=like.device)
        return (2 * bits - 1).to(like.dtype)
    raise ConfigError(f"unknown projection distribution {kind!r}; choose 'gaussian' or 'rademacher'")


def sliced_score_matching(
    score_fn: ScoreFn,
    x: Tensor,
    *,
    n_projections: int = 1,
    variance_reduction: bool = False,
    projection: str = "gaussian",
    generator: torch.Generator | None = None,
    projections: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    """Sliced score matching, Song et al. (2019) eq. (7) (SSM) or eq. (8) (SSM-VR).

    ``projections`` ``[m, n, D]`` fixes the random directions (a deterministic objective, e.g. for
    L-BFGS); otherwise ``n_projections`` directions per sample are drawn from ``generator``.
    Per sample: mean over projections of vᵀ∇_x(vᵀψ) + ½(vᵀψ)² (SSM) or + ½‖ψ‖² (SSM-VR, Gaussian v).
    """
    x = x.detach().requires_grad_(True)
    psi = score_fn(x)
    if projections is None:
        projections = _projections(torch.Size((n_projections, *x.shape)), x, projection, generator)
    if projections.shape[1:] != x.shape:
        raise ConfigError(f"projections must be [m, {x.shape[0]}, {x.shape[1]}], got {tuple(projections.shape)}")
    v_psi = (projections * psi.unsqueeze(0)).sum(-1)  # [m, n]
    # One vector-Jacobian product per projection: vᵀ∇_x(vᵀψ) needs ∇_x(vᵀψ) for each v separately.
    quad = torch.stack(
        [
            (v * torch.autograd.grad(vp.sum(), x, create_graph=True)[0]).sum(-1)
            for v, vp in zip(projections, v_psi)
        ]
    )  # [m, n]
    if variance_reduction:
        per_sample = quad.mean(0) + 0.5 * (psi**2).sum(-1)
    else:
        per_sample = (quad + 0.5 * v_psi**2).mean(0)
    return _reduce(per_sample, reduction)


def perturb(x: Tensor, sigma: float | Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """x̃ = x + σ z, z ~ N(0, I). Returns ``(x̃, z)``."""
    z = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    return x + sigma * z, z


def denoising_score_matching(
    score_fn: ScoreFn,
    x: Tensor,
    sigma: float,
    *,
    generator: torch.Generator | None = None,
    noisy: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    """Vincent (2011) eq. (9): ½‖ψ(x̃) - (x - x̃)/σ²‖² with x̃ = x + σz (or the given ``noisy``).

    Its minimiser is the score of the Parzen/noised density q_σ, not of p (the known DSM bias).
    """
    if not sigma > 0:
        raise ConfigError(f"sigma must be positive, got {sigma}")
    if noisy is None:
        noisy, _ = perturb(x, sigma, generator)
    target = (x - noisy) / sigma**2
    return _reduce(0.5 * ((score_fn(noisy) - target) ** 2).sum(-1), reduction)


def fisher_divergence(
    score_fn: ScoreFn, true_score_fn: ScoreFn, x: Tensor, reduction: Reduction = "mean"
) -> Tensor:
    """½‖ψ(x) - ∇log q(x)‖² at samples of q: Vincent's J_ESM (eq. 5) when the score is known."""
    return _reduce(0.5 * ((score_fn(x) - true_score_fn(x)) ** 2).sum(-1), reduction)
