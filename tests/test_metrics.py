"""Metrics against closed forms (Amari index, population MMD², power laws) and simulation."""

from __future__ import annotations

import math

import pytest
import torch

from scorelib.errors import ConfigError
from scorelib.metrics import (amari_index, loglog_slope, mmd2, mmd2_to_mixture, mode_weight_error, rbf_kernel_mean,
                              relative_error)

DT = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def scaled_permutation(n: int, seed: int) -> torch.Tensor:
    g = _gen(seed)
    perm = torch.randperm(n, generator=g)
    scales = 0.1 + 5 * torch.rand(n, generator=g, dtype=DT)
    signs = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0).to(DT)
    return torch.eye(n, dtype=DT)[perm] * (signs * scales)[:, None]


# --- Amari index ---------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 3, 5, 10])
def test_amari_index_is_zero_for_scaled_signed_permutations(n):
    for seed in range(5):
        assert float(amari_index(scaled_permutation(n, seed))) == 0.0


def test_amari_index_closed_form_in_two_dimensions():
    # P = [[1, a], [b, 1]] with |a|, |b| < 1: both the row and the column terms are |a| + |b|,
    # so d(P) = 2(|a| + |b|) / (2·2·1) = (|a| + |b|) / 2.
    p = torch.tensor([[1.0, -0.25], [0.5, 1.0]], dtype=DT)
    assert float(amari_index(p)) == pytest.approx(0.375, abs=1e-15)


def test_amari_index_is_positive_otherwise_and_at_most_one():
    g = _gen(1)
    for n in (2, 3, 6):
        for _ in range(20):
            value = float(amari_index(torch.randn(n, n, generator=g, dtype=DT)))
            assert 0.0 < value <= 1.0
        # a small leak off a permutation is already positive
        assert float(amari_index(scaled_permutation(n, 2) + 1e-3)) > 0.0
        # the worst case, all entries equal in modulus, reaches the bound 1 exactly
        assert float(amari_index(torch.ones(n, n, dtype=DT))) == pytest.approx(1.0, abs=1e-15)


def test_amari_index_is_invariant_to_the_ica_ambiguities_of_p():
    """Invariant to a global scale, to row and column permutations and to sign flips.

    (Not to scaling single rows away from a permutation: see the next test.)"""
    g = _gen(3)
    p = torch.randn(4, 4, generator=g, dtype=DT)
    ref = amari_index(p)
    signs_r = torch.tensor([1.0, -1.0, -1.0, 1.0], dtype=DT)
    signs_c = torch.tensor([-1.0, 1.0, 1.0, -1.0], dtype=DT)
    for q in (
        7.5 * p,
        p[torch.randperm(4, generator=g)],
        p[:, torch.randperm(4, generator=g)],
        signs_r[:, None] * p * signs_c[None, :],
        p.T,
    ):
        torch.testing.assert_close(amari_index(q), ref, atol=1e-14, rtol=0)


def test_amari_index_follows_amari_not_a_row_normalised_variant():
    # Row scaling of P is invariant only at the zero set (scaled permutations, tested above); away from
    # it the column term changes. Pinning this keeps the chapter comparable with the published index.
    p = torch.eye(3, dtype=DT) + 0.2 * torch.rand(3, 3, generator=_gen(4), dtype=DT)
    scale = torch.tensor([2.0, 0.5, 3.0], dtype=DT)
    assert abs(float(amari_index(scale[:, None] * p) - amari_index(p))) > 1e-3


# --- MMD² ----------------------------------------------------------------------------------------

BANDWIDTHS = (0.2, 0.5, 1.0, 2.0)


def population_mmd2_gaussian_shift(shift: float, d: int = 2) -> float:
    """MMD² of N(0, I) vs N(δ, I) with Σ_h exp(-‖x-y‖²/2h²): x - x' ~ N(m, 2I) gives
    E k_h = (h²/(h²+2))^{D/2} exp(-‖m‖²/(2(h²+2))), so MMD² = Σ_h 2 c_h (1 - exp(-‖δ‖²/(2(h²+2))))."""
    total = 0.0
    for h in BANDWIDTHS:
        c = (h * h / (h * h + 2)) ** (d / 2)
        total += 2 * c * (1 - math.exp(-shift**2 / (2 * (h * h + 2))))
    return total


def _mmd_draws(shift: float, reps: int, n: int, seed: int) -> torch.Tensor:
    g = _gen(seed)
    offset = torch.tensor([shift, 0.0], dtype=DT)
    values = []
    for _ in range(reps):
        x = torch.randn(n, 2, generator=g, dtype=DT)
        y = torch.randn(n, 2, generator=g, dtype=DT) + offset
        values.append(mmd2(x, y, BANDWIDTHS))
    return torch.stack(values)


def test_mmd2_is_unbiased_and_near_zero_for_the_same_law():
    null = _mmd_draws(0.0, reps=20, n=100, seed=5)
    sd = float(null.std())
    # unbiased U-statistic: mean over repetitions within 4 SE of 0 (the biased V-statistic would sit
    # ~17 SE above it at n = 100)
    assert abs(float(null.mean())) <= 4 * sd / math.sqrt(20)
    # a fresh pair of samples of one law: within 5 of the simulated null standard deviations
    fresh = float(_mmd_draws(0.0, reps=1, n=100, seed=6)[0])
    assert abs(fresh) < 5 * sd


def test_mmd2_matches_the_population_value_for_a_shifted_law():
    shift = 1.0
    null_sd = float(_mmd_draws(0.0, reps=20, n=100, seed=7).std())
    shifted = _mmd_draws(shift, reps=20, n=100, seed=8)
    truth = population_mmd2_gaussian_shift(shift)
    assert float(shifted.min()) > 5 * null_sd  # clearly positive, every time
    assert abs(float(shifted.mean()) - truth) <= 4 * float(shifted.std()) / math.sqrt(20)


def test_mmd2_by_hand_on_two_points_each():
    # U-statistic with k(x, y) = exp(-‖x-y‖²/2h²), h = 1: the only off-diagonal pairs are
    # ‖x₀-x₁‖² = 25 and ‖y₀-y₁‖² = 1; the cross distances² are 0, 1, 25, 18.
    x = torch.tensor([[0.0, 0.0], [3.0, 4.0]], dtype=DT)
    y = torch.tensor([[0.0, 0.0], [0.0, 1.0]], dtype=DT)
    e = math.exp
    expected = e(-12.5) + e(-0.5) - 2 * (1 + e(-0.5) + e(-12.5) + e(-9.0)) / 4
    assert float(mmd2(x, y, (1.0,))) == pytest.approx(expected, abs=1e-15)
    # the kernel is a sum over bandwidths, so MMD² is too
    both = float(mmd2(x, y, (1.0, 0.5)))
    assert both == pytest.approx(expected + float(mmd2(x, y, (0.5,))), abs=1e-15)


def test_mmd2_is_symmetric():
    g = _gen(9)
    x, y = torch.randn(50, 3, generator=g, dtype=DT), torch.randn(60, 3, generator=g, dtype=DT) + 0.5
    torch.testing.assert_close(mmd2(x, y), mmd2(y, x), atol=1e-14, rtol=0)


def test_biased_mmd2_by_hand_and_its_relation_to_the_unbiased_one():
    """V-statistic (Gretton et al. 2012, eq. 5) on the two-point example: the diagonal k(x, x) = 1 enters.
    And for any sample, MMD²_b - MMD²_u = (1/n)(H - Ū_xx) + (1/m)(H - Ū_yy), H = number of bandwidths."""
    x = torch.tensor([[0.0, 0.0], [3.0, 4.0]], dtype=DT)
    y = torch.tensor([[0.0, 0.0], [0.0, 1.0]], dtype=DT)
    e = math.exp
    expected = (2 + 2 * e(-12.5)) / 4 + (2 + 2 * e(-0.5)) / 4 - 2 * (1 + e(-0.5) + e(-12.5) + e(-9.0)) / 4
    assert float(mmd2(x, y, (1.0,), biased=True)) == pytest.approx(expected, abs=1e-15)
    g = _gen(10)
    x, y = torch.randn(40, 2, generator=g, dtype=DT), torch.randn(30, 2, generator=g, dtype=DT)
    h = len(BANDWIDTHS)
    mean_off = lambda a: (rbf_kernel_mean(a, a) * len(a) ** 2 - h * len(a)) / (len(a) * (len(a) - 1))  # noqa: E731
    gap = (h - mean_off(x)) / len(x) + (h - mean_off(y)) / len(y)
    assert float(mmd2(x, y, biased=True)) - float(mmd2(x, y)) == pytest.approx(gap, abs=1e-13)
    assert float(mmd2(x, y, biased=True)) >= 0


def test_biased_mmd2_reuses_a_precomputed_kyy_and_rejects_it_unbiased():
    g = _gen(11)
    x, y = torch.randn(50, 2, generator=g), torch.randn(70, 2, generator=g)
    assert float(mmd2(x, y, biased=True, kyy=rbf_kernel_mean(y, y))) == float(mmd2(x, y, biased=True))
    with pytest.raises(ConfigError, match="biased=True"):
        mmd2(x, y, kyy=1.0)


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-6), (torch.float64, 1e-13)])
def test_rbf_kernel_mean_blocks_and_the_halving_ladder_agree_with_the_definition(dtype, tol):
    g = _gen(12)
    a, b = torch.randn(130, 2, generator=g, dtype=dtype), torch.randn(90, 2, generator=g, dtype=dtype)
    ladder = (2.0, 1.0, 0.5, 0.25)  # each kernel the previous one to the 4th power
    d2 = torch.cdist(a.double(), b.double()) ** 2
    truth = sum(float(torch.exp(-d2 / (2 * h * h)).mean()) for h in ladder)
    assert rbf_kernel_mean(a, b, ladder) == pytest.approx(truth, rel=tol)
    assert rbf_kernel_mean(a, b, ladder, block_rows=50) == pytest.approx(truth, rel=tol)


def test_mmd2_to_mixture_has_its_floor_in_expectation_and_detects_a_wrong_law():
    """For exact samples E[MMD²_b] = (1/n)(E k(x,x) - E k(x,x')), the returned floor: the mean over 40 draws
    lies within 4 of its standard errors; a sample with the weights swapped is far above it."""
    from scorelib.distributions import GaussianMixture

    mix = GaussianMixture.isotropic((0.7, 0.3), ((-1.0, 0.0), (1.5, 0.5)), (0.4, 0.6), dtype=DT)
    g = _gen(13)
    values, floors = zip(*(mmd2_to_mixture(mix.sample(200, g)[0], mix) for _ in range(40)))
    values = torch.tensor(values, dtype=DT)
    assert len(set(floors)) == 1
    assert abs(float(values.mean()) - floors[0]) <= 4 * float(values.std()) / math.sqrt(40)
    swapped = GaussianMixture(mix.weights.flip(0), mix.means, mix.covs)
    assert mmd2_to_mixture(swapped.sample(200, g)[0], mix)[0] > 10 * floors[0]


def test_mode_weight_error_by_hand():
    from scorelib.distributions import GaussianMixture

    mix = GaussianMixture.isotropic((0.5, 0.5), ((-4.0, 0.0), (4.0, 0.0)), 0.5, dtype=DT)
    x = torch.tensor([[-4.0, 0.0], [-3.5, 0.5], [-4.2, 0.0], [4.1, 0.0]], dtype=DT)
    weights, error = mode_weight_error(mix, x)
    assert weights.tolist() == [0.75, 0.25] and error == 0.25


# --- rates and relative errors -------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_loglog_slope_is_exact_on_a_power_law(dtype):
    x = torch.tensor([1e2, 3e2, 1e3, 4e3, 3.2e4], dtype=dtype)
    y = 3.0 * x.double() ** -0.5
    assert float(loglog_slope(x, y.to(dtype))) == pytest.approx(-0.5, abs=1e-12 if dtype == DT else 1e-6)
    assert float(loglog_slope(x, 2.0 * x**2)) == pytest.approx(2.0, abs=1e-12 if dtype == DT else 1e-5)


def test_relative_error():
    truth = torch.tensor([3.0, 4.0], dtype=DT)  # norm 5
    assert float(relative_error(torch.tensor([3.0, 5.0], dtype=DT), truth)) == pytest.approx(0.2, abs=1e-15)
    assert float(relative_error(truth, truth)) == 0.0
    m = torch.tensor([[1.0, 2.0], [2.0, 4.0]], dtype=DT)  # Frobenius norm 5
    assert float(relative_error(1.1 * m, m)) == pytest.approx(0.1, abs=1e-14)
