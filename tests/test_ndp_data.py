"""The NDP function data: GP draws with independent noise, the step process, context/target splits.

The covariance test would fail with the official code's key reuse: with the same normals for the GP
sample and the noise, y = (L + σI)z and Cov(y) = K + σ(L + Lᵀ) + σ²I, 10% too large on the diagonal.
"""

from __future__ import annotations

import math

import pytest
import torch

from scorelib.datasets import (FunctionBatch, gp_functions, split_context_target, step_function, step_functions,
                               step_posterior_probability)
from scorelib.errors import ConfigError
from scorelib.gp import squared_exponential

DT = torch.float64
SIGMA2 = 0.05**2


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_gp_functions_shapes_and_input_range():
    batch = gp_functions(5, 11, 3, generator=_gen(0), kernel="matern52", dtype=torch.float32)
    assert batch.x.shape == (5, 11, 3) and batch.y.shape == (5, 11) and batch.f.shape == (5, 11)
    assert batch.mask.dtype == torch.bool and bool(batch.mask.all())
    assert batch.x.dtype == torch.float32 and batch.y.dtype == torch.float32
    assert float(batch.x.min()) >= -2.0 and float(batch.x.max()) <= 2.0
    again = gp_functions(5, 11, 3, generator=_gen(0), kernel="matern52", dtype=torch.float32)
    torch.testing.assert_close(batch.y, again.y)  # randomness only through the generator
    with pytest.raises(ConfigError, match="kernel"):
        gp_functions(2, 3, generator=_gen(0), kernel="rbf")


def test_gp_sample_covariance_is_k_plus_noise_within_3_percent():
    x = torch.linspace(-2, 2, 8, dtype=DT).unsqueeze(-1)
    n = 40_000
    batch = gp_functions(n, 8, 1, generator=_gen(1), x=x)
    expected = squared_exponential(x, x, lengthscale=0.25) + SIGMA2 * torch.eye(8, dtype=DT)  # ℓ = 0.25·√1
    sample = batch.y.T @ batch.y / n  # zero mean is known
    # entry-wise within 3% of the unit variance (SE of an entry ≤ √(2/n) = 0.007)
    assert float((sample - expected).abs().max()) < 0.03
    assert float((sample.diagonal() - expected.diagonal()).abs().max()) < 0.03


def test_gp_noise_is_independent_of_the_sample():
    x = torch.linspace(-2, 2, 6, dtype=DT).unsqueeze(-1)
    n = 40_000
    batch = gp_functions(n, 6, 1, generator=_gen(2), x=x)
    noise = batch.y - batch.f
    assert float(noise.var()) == pytest.approx(SIGMA2, rel=0.03)
    cross = batch.f.T @ noise / n  # Cov(f_i, ε_j); key reuse would make it σ·L_ij (≈ 0.05 on the diagonal)
    se = math.sqrt(SIGMA2 / n)
    assert float(cross.abs().max()) < 5 * se


def test_step_functions_are_steps_at_a():
    L = 2.0
    batch, a = step_functions(500, 40, generator=_gen(3), L=L, return_steps=True)
    assert batch.x.shape == (500, 40, 1) and batch.y.shape == (500, 40) and a.shape == (500,)
    assert float(batch.x.abs().max()) <= L and float(a.abs().max()) <= L
    assert set(batch.y.unique().tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(batch.y, step_function(batch.x, a))
    order = batch.x[..., 0].argsort(dim=1)
    y_sorted = batch.y.gather(1, order)
    assert bool((y_sorted.diff(dim=1) >= 0).all())  # non-decreasing in x: one step up, never down
    left = batch.x[..., 0] < a[:, None]
    assert bool((batch.y[left] == 0).all()) and bool((batch.y[~left] == 1).all())


def test_step_process_marginal_is_the_moment_matched_mean():
    L = 1.5
    batch = step_functions(20_000, 1, generator=_gen(4), L=L)
    x, y = batch.x[:, 0, 0], batch.y[:, 0]
    # E[y | x] = (x + L)/2L; the residual has mean 0 and standard error ≤ 0.5/√n
    resid = y - (x + L) / (2 * L)
    assert abs(float(resid.mean())) < 4 * 0.5 / math.sqrt(len(y))
    in_left = x < -L / 2  # P(y = 1 | x < -L/2) = 1/8 averaged over that quarter
    assert float(y[in_left].mean()) == pytest.approx(0.125, abs=0.02)


def test_step_posterior_probability_matches_rejection_sampling():
    L = 2.0
    xc = torch.tensor([[-0.5], [0.5], [-1.5]], dtype=DT)
    yc = torch.tensor([0.0, 1.0, 0.0], dtype=DT)
    xt = torch.tensor([[-1.0], [0.0], [0.25], [1.5]], dtype=DT)
    exact = step_posterior_probability(xt, xc, yc, L)
    torch.testing.assert_close(exact, torch.tensor([0.0, 0.5, 0.75, 1.0], dtype=DT))
    a = (torch.rand(200_000, generator=_gen(5), dtype=DT) * 2 - 1) * L
    keep = ((xc[:, 0] >= a[:, None]).to(DT) == yc).all(dim=1)
    mc = (xt[:, 0] >= a[keep, None]).to(DT).mean(0)
    torch.testing.assert_close(exact, mc, atol=0.01, rtol=0)
    no_context = step_posterior_probability(xt, xc[:0], yc[:0], L)  # prior: (x + L)/2L
    torch.testing.assert_close(no_context, (xt[:, 0] + L) / (2 * L))


def test_split_context_target_partitions_each_function():
    batch = gp_functions(4, 10, 2, generator=_gen(6))
    context, target = split_context_target(batch, 3, generator=_gen(7))
    assert context.x.shape == (4, 3, 2) and target.x.shape == (4, 7, 2) and context.y.shape == (4, 3)
    joined = torch.cat([context.y, target.y], dim=1).sort(dim=1).values
    torch.testing.assert_close(joined, batch.y.sort(dim=1).values)  # disjoint and complete
    # the y's travel with their x's
    for b in range(4):
        for j in range(3):
            i = int((batch.x[b] == context.x[b, j]).all(-1).nonzero())
            assert float(batch.y[b, i]) == float(context.y[b, j])
    other, _ = split_context_target(batch, 3, generator=_gen(8))
    assert not torch.equal(other.y, context.y)  # the split is random
    with pytest.raises(ConfigError):
        split_context_target(batch, 10, generator=_gen(7))


def test_function_batch_checks_its_shape_contract():
    x = torch.zeros(2, 5, 1)
    with pytest.raises(ConfigError, match="batch, points"):
        FunctionBatch(x, torch.zeros(2, 5, 1), torch.ones(2, 5, dtype=torch.bool))
    with pytest.raises(ConfigError, match="bool"):
        FunctionBatch(x, torch.zeros(2, 5), torch.ones(2, 5))
