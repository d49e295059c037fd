"""Chapter score_matching: its claims turn red when the method is broken, and it is deterministic."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from replications.score_matching import experiment as ex
from scorelib import losses
from scorelib.errors import ConfigError
from scorelib.training import TrainConfig

CPU = torch.device("cpu")
TINY = dataclasses.replace(
    ex.QUICK,
    ica_sizes=(300, 600),
    ica_repeats=1,
    gap_thetas=6,
    gap_samples=4000,
    tweedie_train=TrainConfig(steps=40, batch_size=64, lr=0.05, ema_decay=0.9, grad_clip=None),
    tweedie_test=2000,
    slice_dims=(2, 4),
    slice_samples_per_dim=500,
    cost_dims=(2,),
    cost_repeats=1,
)


def _verdict(claim_id: str, value: float, profile: str = "quick") -> bool:
    return ex.CLAIMS[claim_id].passes(value, profile)


def test_dsm_gap_is_constant_and_breaks_with_a_wrong_target():
    good = ex.dsm_esm_gap(TINY, 0, CPU)
    assert _verdict("dsm_esm_constant_gap", good.spread)
    assert _verdict("dae_identity", good.dae_identity_error)

    def wrong_target(score_fn, x, sigma, *, noisy, reduction="mean"):
        # a classic slip: the target (x - x̃)/σ instead of (x - x̃)/σ²
        return losses.denoising_score_matching(score_fn, x, sigma**0.5, noisy=noisy, reduction=reduction)

    broken = ex.dsm_esm_gap(TINY, 0, CPU, dsm_loss=wrong_target)
    assert not _verdict("dsm_esm_constant_gap", broken.spread), broken.spread
    assert not _verdict("dae_identity", broken.dae_identity_error)


def test_sliced_claim_turns_red_without_the_half(monkeypatch):
    """Dropping the ½ of ½(vᵀψ)² (Song et al. 2019, eq. 7) must fail the recovery claim."""
    cfg = dataclasses.replace(TINY, slice_dims=(4,), slice_samples_per_dim=2000)
    good = ex.slice_check(cfg, ex.fit_slices(cfg, 0, CPU), 0)
    assert _verdict("sliced_recovers_precision", float(good["truth"][:, :3].max()))

    original = losses.sliced_score_matching

    def no_half(score_fn, x, **kw):
        return original(score_fn, x, **kw) + 0.5 * (score_fn(x) ** 2).sum(-1).mean()

    monkeypatch.setattr(ex.losses, "sliced_score_matching", no_half)
    broken = ex.slice_check(cfg, ex.fit_slices(cfg, 0, CPU), 0)
    assert not _verdict("sliced_recovers_precision", float(broken["truth"][:, :3].max()))


def test_dsm_bias_claims_tell_the_two_targets_apart():
    cfg = dataclasses.replace(TINY, slice_dims=(4,), slice_samples_per_dim=2000)
    errors = ex.slice_check(cfg, ex.fit_slices(cfg, 0, CPU), 0)
    dsm = ex.SLICE_METHODS.index("DSM")
    assert _verdict("dsm_recovers_noised_precision", float(errors["noised"][:, dsm].max()))
    assert _verdict("dsm_bias_visible", float(errors["truth"][:, dsm].min()))
    # exact SM is *not* close to the noised precision: the two claims measure different things
    assert not _verdict("dsm_recovers_noised_precision", float(errors["noised"][:, 0].max()))


def test_gaussian_sm_equals_ml_to_machine_precision():
    x, _ = ex.gaussian_data(TINY, 3)
    result = ex.gaussian_check(TINY, ex.fit_gaussian(x), 3)
    assert result["precision_rel_error"] < 1e-10 and result["mean_error"] < 1e-10


def test_ica_breaks_when_the_sources_are_gaussian():
    """With Gaussian sources ICA is unidentifiable: the Amari claim must fail."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(4, 4, generator=g, dtype=torch.float64)
    x = torch.randn(8000, 4, generator=g, dtype=torch.float64) * 1.5 @ a.T
    from scorelib.metrics import amari_index

    assert not _verdict("ica_sm_amari_at_largest_T", float(amari_index(ex.fit_ica(x, "sm") @ a)))


def test_autograd_pass_counts():
    cost = ex.step_cost(TINY, 16, 0, CPU, repeats=1)
    assert cost["SM_passes"] == 17 and cost["SSM_passes"] == 2


@pytest.mark.slow
def test_fit_is_deterministic_on_cpu():
    first = ex.fit(TINY, 0, CPU, progress=False)
    second = ex.fit(TINY, 0, CPU, progress=False)
    assert first.keys() == second.keys()
    for key in first:
        if key.startswith("cost."):  # timings are measurements of the machine
            continue
        assert torch.equal(first[key], second[key]), key


def test_streams_keep_the_committed_seeds():
    """STREAMS (scorelib.runtime.SeedStreams) seeds part p under run seed s with 1000·s + id(p), the formula the
    committed artifacts were made with, and each part draws from its own generator."""
    ids = {"gauss": 1, "ica": 2, "gap": 3, "tweedie": 4, "slice": 5, "cost": 6}
    assert ex.STREAMS.parts == ids
    for seed in (0, 7):
        for part, i in ids.items():
            assert ex.generator(seed, part).initial_seed() == 1000 * seed + i
    with pytest.raises(ConfigError, match="unknown random stream 'noise'"):
        ex.generator(0, "noise")
