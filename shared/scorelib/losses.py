"""Score-matching objectives. Each takes a score function ``s(x) -> [n, D]`` and a batch ``x [n, D]``.

- :func:`explicit_score_matching` — Hyvärinen (2005), Theorem 1 / eq. (4): the implicit objective
  J̃(θ) = (1/T) Σ_t Σ_i [∂_i ψ_i(x(t); θ) + ½ ψ_i(x(t); θ)²], with the exact Jacobian trace (D autograd
  passes).
- :func:`sliced_score_matching` — Song et al. (2019), eq. (7): vᵀ∇_x(vᵀψ) + ½(vᵀψ)², and SSM-VR,
  eq. (8): vᵀ∇_x(vᵀψ) + ½‖ψ‖² (one autograd pass per projection).
- :func:`denoising_score_matching` — Vincent (2011), eq. (8)/(9): ½‖ψ(x̃) - (x - x̃)/σ²‖²,
  x̃ = x + σz.
- :func:`fisher_divergence` — Vincent's J_ESM, eq. (5): ½‖ψ(x) - ∇log q(x)‖² with a known score.
- :func:`ncsn_loss` — Song & Ermon (2019), eq. (5)-(6): DSM over noise levels, weighted by λ(σ) = σ²
  (its score takes ``(x̃, σ)``).
- :func:`ddpm_loss` — Ho et al. (2020), eq. (12)/(14): ε- (or x₀-) prediction with L_simple or the VLB
  weighting, and μ̃-prediction with the MSE or the VLB weighting (its network takes ``(x_t, t)``).
- :func:`sde_dsm_loss` — Song et al. (2021), eq. (7): DSM in continuous time for any
  :class:`~scorelib.sde.SDE`, λ(t) = σ_t² or the likelihood weighting λ(t) = g(t)².
- :func:`ndp_loss` — Dutordoir et al. (2022), eq. (8): ε-prediction on function values with an L1
  loss and stratified t (its network takes ``(x, y_t, t, mask)``).

All return the mean over the batch (``reduction="mean"``) or per-sample values ``[n]``
(``reduction="none"``). Sums run over the data dimension.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

import torch
from torch import Tensor

from scorelib.errors import ConfigError
from scorelib.likelihood import exact_divergence, random_probe
from scorelib.runtime import standard_normal
from scorelib.parameterization import PREDICTIONS, marginal_sample, posterior_mean
from scorelib.schedules import DDPMSchedule
from scorelib.sde import SDE

if TYPE_CHECKING:
    from scorelib.datasets import FunctionBatch

#: ``score_fn(x [n, ...]) -> [n, ...]``: a score ψ(x) ≈ ∇_x log p(x) without conditioning.
ScoreFn = Callable[[Tensor], Tensor]
Reduction = Literal["mean", "none"]


def _reduce(values: Tensor, reduction: Reduction) -> Tensor:
    if reduction == "mean":
        return values.mean()
    if reduction == "none":
        return values
    raise ConfigError(f"unknown reduction {reduction!r}; choose 'mean' or 'none'")



def _draw_t_and_noise(x: Tensor, generator: torch.Generator | None, t: Tensor | None, noise: Tensor | None,
                      draw_t: Callable[[torch.device], Tensor]) -> tuple[Tensor, Tensor]:
    """The random part of every denoising objective: a noise level per sample (``draw_t(device)`` on the
    generator's device, unless ``t`` is given), then ε ~ N(0, I) shaped like ``x`` (unless ``noise`` is
    given), in that order; both returned on ``x``'s device."""
    if t is None:
        t = draw_t(generator.device if generator is not None else x.device)
    if noise is None:
        noise = standard_normal(x.shape, generator, like=x)
    return t.to(x.device), noise.to(x.device)


def add_noise(x: Tensor, sigma: float | Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """x̃ = x + σz, z ~ N(0, I) drawn from ``generator`` (on its device, then moved to x's). Returns ``(x̃, z)``."""
    z = standard_normal(x.shape, generator, like=x)
    return x + sigma * z, z


def explicit_score_matching(score_fn: ScoreFn, x: Tensor, reduction: Reduction = "mean") -> Tensor:
    """Hyvärinen (2005) eq. (4): tr ∇_x ψ(x) + ½‖ψ(x)‖² (needs no data score, no normaliser). The trace is
    exact, by D backward passes (:func:`scorelib.likelihood.exact_divergence`)."""
    psi, trace = exact_divergence(score_fn, x, create_graph=True)
    return _reduce(trace + 0.5 * (psi**2).sum(-1), reduction)


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
    L-BFGS); otherwise ``n_projections`` directions per sample are drawn from ``generator``
    (``projection``: "gaussian" or "rademacher", :func:`scorelib.likelihood.random_probe`).
    Per sample: mean over projections of vᵀ∇_x(vᵀψ) + ½(vᵀψ)² (SSM) or + ½‖ψ‖² (SSM-VR, Gaussian v).
    """
    x = x.detach().requires_grad_(True)
    psi = score_fn(x)
    if projections is None:
        projections = random_probe(torch.Size((n_projections, *x.shape)), projection, generator, like=x)
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
        noisy, _ = add_noise(x, sigma, generator)
    target = (x - noisy) / sigma**2
    return _reduce(0.5 * ((score_fn(noisy) - target) ** 2).sum(-1), reduction)


def fisher_divergence(
    score_fn: ScoreFn, true_score_fn: ScoreFn, x: Tensor, reduction: Reduction = "mean"
) -> Tensor:
    """½‖ψ(x) - ∇log q(x)‖² at samples of q: Vincent's J_ESM (eq. 5) when the score is known."""
    return _reduce(0.5 * ((score_fn(x) - true_score_fn(x)) ** 2).sum(-1), reduction)


def ncsn_loss(
    score_fn: Callable[[Tensor, Tensor], Tensor],
    x: Tensor,
    sigmas: Tensor,
    *,
    generator: torch.Generator | None = None,
    labels: Tensor | None = None,
    noise: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    """Noise-conditional DSM of Song & Ermon (2019), eq. (5)-(6), with λ(σ) = σ².

    ℓ(θ; σ) = ½ E‖s_θ(x̃, σ) + (x̃ - x)/σ²‖², x̃ = x + σz, and L = (1/L) Σ_i λ(σ_i) ℓ(θ; σ_i). As in
    the official code, each sample gets one level i ~ U{1..L} (``labels [n]`` fixes them), so the mean
    over the batch is an unbiased estimate of L (``noise`` fixes z). With λ(σ) = σ² the per-sample term is
    ½‖σ s_θ(x̃, σ) + z‖², of order one at every level.

    ``x [n, ...]``; ``sigmas [L]``; ``score_fn(x̃ [n, ...], σ [n]) -> [n, ...]``. Sums run over all
    non-batch dimensions.
    """
    sigmas = torch.as_tensor(sigmas, dtype=x.dtype, device=x.device)
    if sigmas.dim() != 1 or not bool((sigmas > 0).all()):
        raise ConfigError("sigmas must be a 1-D tensor of positive noise levels")
    labels, z = _draw_t_and_noise(
        x, generator, labels, noise,
        lambda device: torch.randint(0, len(sigmas), (x.shape[0],), generator=generator, device=device))
    sigma = sigmas[labels]  # [n]
    shape = (-1,) + (1,) * (x.dim() - 1)
    noisy = x + sigma.view(shape) * z
    residual = sigma.view(shape) * score_fn(noisy, sigma) + z  # σ·(s + (x̃-x)/σ²) = σ s + z
    return _reduce(0.5 * residual.pow(2).flatten(1).sum(-1), reduction)


def ddpm_loss(
    model: Callable[[Tensor, Tensor], Tensor],
    x0: Tensor,
    schedule: DDPMSchedule,
    *,
    prediction: str = "eps",
    weighting: Literal["simple", "vlb"] = "simple",
    variance: str = "beta",
    generator: torch.Generator | None = None,
    t: Tensor | None = None,
    noise: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    """The DDPM objective of Ho et al. (2020) at one uniformly drawn step t ~ U{1..T} per sample.

    x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε, and ``model(x_t, t)`` (t as floats, ``[n]``) predicts ``prediction``:

    - ``"eps"``, ``weighting="simple"``: L_simple = ‖ε - ε_θ‖² (eq. 14);
    - ``"eps"``, ``"vlb"``: β_t²/(2σ_t² α_t (1-ᾱ_t))·‖ε - ε_θ‖² (eq. 12), T·E_t of which is the bound
      Σ_t L_{t-1} up to constants (at t = 1 the weight 1/(2α_1) is that of a Gaussian decoder);
    - ``"mean"``, ``"simple"``: ‖μ̃_t(x_t, x_0) - μ_θ‖², the unweighted "‖μ̃ - μ̃_θ‖²" row of Table 2;
    - ``"mean"``, ``"vlb"``: ‖μ̃_t - μ_θ‖²/(2σ_t²) (eq. 8), the bound with fixed isotropic Σ;
    - ``"x0"``: ‖x_0 - x̂_θ‖² (``"simple"``), or the VLB weight ᾱ_{t-1}β_t²/(2σ_t²(1-ᾱ_t)²).

    ``x0 [n, ...]``; ``schedule`` a :class:`~scorelib.schedules.DDPMSchedule`; σ_t² from
    ``schedule.sigma2(variance)``. ``t [n]`` (1..T) and ``noise`` fix the draws (tests). Sums run over
    all non-batch dimensions.
    """
    if prediction not in PREDICTIONS:
        raise ConfigError(f"unknown prediction {prediction!r}; choose one of {', '.join(PREDICTIONS)}")
    if weighting not in ("simple", "vlb"):
        raise ConfigError(f"unknown weighting {weighting!r}; choose 'simple' or 'vlb'")
    t, noise = _draw_t_and_noise(
        x0, generator, t, noise,
        lambda device: torch.randint(1, schedule.T + 1, (x0.shape[0],), generator=generator, device=device))
    x_t = marginal_sample(x0, noise, schedule, t)
    out = model(x_t, t.to(x0.dtype))
    target = {"eps": noise, "x0": x0, "mean": None}[prediction]
    if target is None:
        target = posterior_mean(x_t, x0, schedule, t)
    err = (out - target).pow(2).flatten(1).sum(-1)  # [n]
    if weighting == "vlb":
        beta, alpha = schedule.betas[t.cpu() - 1], schedule.alphas[t.cpu() - 1]
        abar, abar_prev = schedule.alpha_bars[t.cpu() - 1], schedule.alpha_bars_prev[t.cpu() - 1]
        sigma2 = schedule.sigma2(variance)[t.cpu() - 1]
        weight = {
            "eps": beta**2 / (2 * sigma2 * alpha * (1 - abar)),
            "mean": 1 / (2 * sigma2),
            "x0": abar_prev * beta**2 / (2 * sigma2 * (1 - abar) ** 2),
        }[prediction]
        err = err * weight.to(dtype=err.dtype, device=err.device)
    return _reduce(err, reduction)


def sde_dsm_loss(
    score_fn: Callable[[Tensor, Tensor], Tensor],
    x0: Tensor,
    sde: SDE,
    *,
    generator: torch.Generator | None = None,
    t: Tensor | None = None,
    noise: Tensor | None = None,
    t_min: float = 1e-5,
    likelihood_weighting: bool = False,
    reduction: Reduction = "mean",
) -> Tensor:
    """The continuous-time DSM objective of Song et al. (2021), eq. (7), for an :class:`~scorelib.sde.SDE`:

        λ(t)·‖s_θ(x_t, t) - ∇_{x_t} log p_{0t}(x_t | x_0)‖²,  t ~ U(t_min, T), x_t = m(t)x_0 + s(t)z,

    with ∇log p_{0t} = -z/s(t). λ(t) = s(t)² (default: the per-sample term is ‖s(t)s_θ + z‖², of order
    one at every t), or λ(t) = g(t)² (``likelihood_weighting``: then the loss bounds the negative
    log-likelihood, Song et al. 2021b, Thm. 1). ``score_fn(x_t, t [n]) -> [n, ...]``; ``x0 [n, ...]``;
    ``t [n]`` and ``noise`` fix the draws (tests). Sums run over all non-batch dimensions; no ½ (as eq. 7).
    """
    t, noise = _draw_t_and_noise(
        x0, generator, t, noise,
        lambda device: t_min + (sde.T - t_min) * torch.rand(x0.shape[0], generator=generator, dtype=x0.dtype,
                                                             device=device))
    t = t.to(x0.dtype)
    _, std = sde.marginal(t)
    shape = (-1,) + (1,) * (x0.dim() - 1)
    score = score_fn(sde.marginal_sample(x0, t, noise), t)
    if likelihood_weighting:
        residual = score + noise / std.view(shape)
        per_sample = sde.diffusion(t) ** 2 * residual.pow(2).flatten(1).sum(-1)
    else:
        per_sample = (std.view(shape) * score + noise).pow(2).flatten(1).sum(-1)
    return _reduce(per_sample, reduction)


def stratified_steps(n: int, T: int, generator: torch.Generator | None = None) -> Tensor:
    """Integer steps ``[n]`` in 1..T, one uniform draw inside each of n equal strata of [0, 1) (stratified
    sampling: the batch covers all noise levels evenly, which lowers the variance of the loss over t)."""
    device = generator.device if generator is not None else None
    u = (torch.arange(n, dtype=torch.float64, device=device)
         + torch.rand(n, generator=generator, dtype=torch.float64, device=device)) / n
    return (u * T).long().clamp(max=T - 1) + 1


def ndp_loss(
    model: Callable[..., Tensor],
    batch: FunctionBatch,
    schedule: DDPMSchedule,
    *,
    generator: torch.Generator | None = None,
    t: Tensor | None = None,
    noise: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    """The Neural Diffusion Process objective (Dutordoir et al. 2022, eq. 8, with their L1 norm):

        E_t E_ε mean_n |ε_n - ε_θ(x, √ᾱ_t y + √(1-ᾱ_t) ε, t)_n|,

    the function values y noised as in DDPM (Ho et al. 2020, eq. 4) while the inputs x stay clean.
    ``batch`` is a :class:`~scorelib.datasets.FunctionBatch` (x ``[b, n, D]``, y and mask ``[b, n]``);
    ``model(x, y_t, t [b], mask) -> [b, n]``; t is stratified over the batch (:func:`stratified_steps`)
    unless given. The mean runs over the real points of each function (padding is ignored).
    """
    y, mask = batch.y, batch.mask
    t, noise = _draw_t_and_noise(y, generator, t, noise, lambda device: stratified_steps(y.shape[0], schedule.T,
                                                                                         generator))
    y_t = marginal_sample(y, noise, schedule, t)
    err = (model(batch.x, y_t, t.to(y.dtype), mask) - noise).abs() * mask
    per_function = err.sum(-1) / mask.sum(-1).clamp(min=1)
    return _reduce(per_function, reduction)
