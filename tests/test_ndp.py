"""The NDP glue: the schedule, the loss, respacing, and conditional sampling against an oracle."""

from __future__ import annotations

import pytest
import torch

from scorelib.datasets import FunctionBatch
from scorelib.errors import ConfigError
from scorelib.gp import conditional_gaussian, exact_gaussian_eps, kl_mvn, squared_exponential
from scorelib.losses import ndp_loss, stratified_steps
from scorelib.ndp import (centred_to_unit, complete_functions, conditional_samples, fit_ndp, prior_samples,
                          train_ndp, unit_to_centred)
from scorelib.runtime import seeded
from scorelib.schedules import DDPMSchedule, rescaled_cosine_betas
from scorelib.training import TrainConfig, pack_weights

DT = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_ndp_schedule_matches_claims():
    b = rescaled_cosine_betas(500)
    assert float(b.min()) == pytest.approx(3e-4) and float(b.max()) == pytest.approx(0.5)
    assert float(DDPMSchedule.ndp(500).alpha_bars[-1]) == pytest.approx(0.0022, abs=1e-4)  # our calculation of ᾱ_T
    assert bool((b[1:] >= b[:-1]).all())  # the cosine β's increase, and so do their rescaling
    with pytest.raises(ConfigError, match="beta_min"):
        rescaled_cosine_betas(10, 0.5, 0.1)


def test_respacing_keeps_the_marginals_at_the_kept_steps():
    s = DDPMSchedule.ndp(500)
    r, steps = s.respaced(50)
    assert r.T == 50 and int(steps[0]) == 1 and int(steps[-1]) == 500 and bool((steps[1:] > steps[:-1]).all())
    torch.testing.assert_close(r.alpha_bars, s.alpha_bars[steps - 1])  # q(x_t | x_0) is unchanged
    same, all_steps = s.respaced(500)
    torch.testing.assert_close(same.betas, s.betas)
    assert all_steps.tolist() == list(range(1, 501))
    with pytest.raises(ConfigError, match="respaced"):
        s.respaced(501)


def test_stratified_steps_cover_every_stratum():
    t = stratified_steps(10, 500, _gen(0))
    assert t.dtype == torch.long and bool(((t >= 1) & (t <= 500)).all())
    assert ((t - 1) // 50).tolist() == list(range(10))  # one draw inside each tenth of 1..500


def test_ndp_loss_is_the_l1_noise_error_over_real_points():
    s = DDPMSchedule.ndp(100)
    x = torch.randn(4, 6, 1, generator=_gen(0), dtype=DT)
    y = torch.randn(4, 6, generator=_gen(1), dtype=DT)
    mask = torch.ones(4, 6, dtype=torch.bool)
    mask[:, 4:] = False
    noise = torch.randn(4, 6, generator=_gen(2), dtype=DT)
    t = torch.tensor([1, 30, 60, 100])
    batch = FunctionBatch(x, y, mask)

    def oracle(x_, y_t, t_, m):  # knows the noise: loss 0 at the real points, whatever it does on padding
        return torch.where(m, noise, torch.full_like(noise, 1e6))

    assert float(ndp_loss(oracle, batch, s, t=t, noise=noise)) == 0.0
    zero = ndp_loss(lambda *a: torch.zeros(4, 6, dtype=DT), batch, s, t=t, noise=noise, reduction="none")
    torch.testing.assert_close(zero, noise[:, :4].abs().mean(-1))


def _oracle_model(lengthscale: float, schedule: DDPMSchedule):
    """An 'NDP' that knows the data are GP draws: the exact ε of N(0, K(x, x) + σ²I) at the given inputs."""
    def model(x, y_t, t, mask=None):
        cov = squared_exponential(x[0], x[0], lengthscale=lengthscale) + 0.05**2 * torch.eye(x.shape[1], dtype=DT)
        return exact_gaussian_eps(cov, schedule)(y_t, t[0])
    return model


def test_conditional_samples_reach_the_exact_gp_posterior():
    """The glue (ordering of contexts and targets, masks, respacing) with an oracle noise model: RePaint at
    U = 10 then samples the exact GP conditional (KL of the fitted Gaussian ≈ its estimation bias)."""
    s = DDPMSchedule.ndp(200)
    xc = torch.tensor([[-1.0], [0.3]], dtype=DT)
    yc = torch.tensor([0.8, -0.5], dtype=DT)
    xt = torch.linspace(-2, 2, 6, dtype=DT).unsqueeze(-1)
    x = torch.cat([xc, xt])
    cov = squared_exponential(x, x, lengthscale=0.5) + 0.05**2 * torch.eye(8, dtype=DT)
    mean, post = conditional_gaussian(torch.zeros(2, dtype=DT), torch.zeros(6, dtype=DT), cov[:2, :2], cov[:2, 2:],
                                      cov[2:, 2:], yc, jitter=0.0)
    out = conditional_samples(_oracle_model(0.5, s), s, xc, yc, xt, n_samples=2000, generator=_gen(3), resample=10,
                              steps=100)
    assert out.shape == (2000, 6)
    kl = float(kl_mvn(out.mean(0), torch.cov(out.T), mean, post))
    assert kl < 0.1, kl  # 6-D fitted-Gaussian bias ≈ d(d+3)/(4n) = 0.007; naive replacement gives > 1
    naive = conditional_samples(_oracle_model(0.5, s), s, xc, yc, xt, n_samples=2000, generator=_gen(3), resample=1,
                                steps=100)
    assert float(kl_mvn(naive.mean(0), torch.cov(naive.T), mean, post)) > 5 * kl


def test_batched_conditional_samples_and_prior_shapes():
    s = DDPMSchedule.ndp(20)
    model = _oracle_model(0.5, s)
    out = conditional_samples(model, s, torch.zeros(3, 2, 1, dtype=DT), torch.zeros(3, 2, dtype=DT),
                              torch.ones(3, 4, 1, dtype=DT), n_samples=5, generator=_gen(0), resample=2)
    assert out.shape == (3, 5, 4)
    assert prior_samples(model, s, torch.zeros(7, 4, 1, dtype=DT), generator=_gen(1)).shape == (7, 4)
    with pytest.raises(ConfigError, match="n_samples"):
        conditional_samples(model, s, torch.zeros(2, 1, dtype=DT), torch.zeros(2, dtype=DT),
                            torch.ones(4, 1, dtype=DT), n_samples=0, generator=_gen(0))


def test_padded_contexts_change_nothing():
    """The padded context's input and value have no effect on the samples (it is hidden from the network's
    attention and from the conditioning)."""
    from scorelib.nets import BiDimensionalAttention
    torch.manual_seed(0)
    net = BiDimensionalAttention(hidden=8, layers=1, heads=2).double().eval()
    torch.nn.init.normal_(net.head[-1].weight)
    s = DDPMSchedule.ndp(10)
    xt = torch.linspace(-1, 1, 3, dtype=DT).unsqueeze(-1)
    alone = conditional_samples(net, s, torch.tensor([[0.2]], dtype=DT), torch.tensor([0.7], dtype=DT), xt,
                                n_samples=4, generator=_gen(5), resample=2)
    padded = conditional_samples(net, s, torch.tensor([[0.2], [5.0]], dtype=DT), torch.tensor([0.7, -9.0], dtype=DT),
                                 xt, n_samples=4, generator=_gen(5), resample=2,
                                 context_mask=torch.tensor([True, False]))
    moved = conditional_samples(net, s, torch.tensor([[0.2], [-3.0]], dtype=DT), torch.tensor([0.7, 4.0], dtype=DT),
                                xt, n_samples=4, generator=_gen(5), resample=2,
                                context_mask=torch.tensor([True, False]))
    torch.testing.assert_close(padded, moved)
    assert alone.shape == padded.shape == (4, 3)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_sampler_batch_over_the_row_limit_runs_in_equal_chunks_of_whole_functions(dtype):
    """eps_fn calls the network on at most chunk_rows rows (b·n·D) at a time: 301 functions of 11 points in
    ceil(301 / 32) = 10 calls of 30 or 31 whole functions (never a small remainder), whose ε equals one call's to
    round-off (a matrix product over fewer rows may sum in another order: not bitwise); at or under the limit, one
    call, bitwise the network's own output."""
    from scorelib.nets import BiDimensionalAttention
    from scorelib.ndp import eps_fn
    torch.manual_seed(0)
    net = BiDimensionalAttention(hidden=16, layers=2, heads=4).to(dtype).eval()
    torch.nn.init.normal_(net.head[-1].weight)
    sizes: list[int] = []
    net.register_forward_pre_hook(lambda module, args: sizes.append(args[0].shape[0]))
    g = _gen(2)
    x = torch.randn(301, 11, 1, generator=g, dtype=dtype)
    y = torch.randn(301, 11, generator=g, dtype=dtype)
    t = torch.tensor(7)
    with torch.no_grad():
        whole = net(x, y, torch.full((301,), 7, dtype=dtype))
        sizes.clear()
        assert torch.equal(eps_fn(net, x, chunk_rows=301 * 11)(y, t), whole) and sizes == [301]
        sizes.clear()
        chunked = eps_fn(net, x, chunk_rows=32 * 11 + 5)(y, t)
    assert len(sizes) == 10 and set(sizes) <= {30, 31} and sum(sizes) == 301
    eps = torch.finfo(dtype).eps
    torch.testing.assert_close(chunked, whole, rtol=64 * eps, atol=64 * eps * float(whole.abs().max()))


def test_padded_points_are_packed_away_not_masked():
    """With a mask that hides points, eps_fn calls the network on each function's real points alone, unmasked
    (functions grouped by their number of real points, each group in chunks under the row limit): ε at the real
    points equals the masked call's to round-off (float64, 64 ulp: the network ignores a masked point), and a padded
    point's ε is 0."""
    from scorelib.nets import BiDimensionalAttention
    from scorelib.ndp import eps_fn, pack_by_real_points
    torch.manual_seed(0)
    net = BiDimensionalAttention(hidden=16, layers=2, heads=4).double().eval()
    torch.nn.init.normal_(net.head[-1].weight)
    calls: list[tuple[int, int, bool]] = []
    net.register_forward_pre_hook(lambda module, args: calls.append((args[0].shape[0], args[0].shape[1],
                                                                      len(args) > 3 and args[3] is not None)))
    g = _gen(3)
    x = torch.randn(120, 9, 2, generator=g, dtype=DT)
    y = torch.randn(120, 9, generator=g, dtype=DT)
    mask = torch.rand(120, 9, generator=g) > 0.3
    mask[:, 0] = True
    with torch.no_grad():
        masked = net(x, y, torch.full((120,), 7, dtype=DT), mask)
        calls.clear()
        packed = eps_fn(net, x, mask, chunk_rows=20 * 9 * 2)(y, torch.tensor(7))
    counts = mask.sum(-1)
    assert {(n, m) for _, n, m in calls} <= {(int(p), False) for p in counts.unique()}  # real points only, unmasked
    assert sum(b for b, _, _ in calls) == 120 and all(b * n * 2 <= 20 * 9 * 2 for b, n, _ in calls)
    assert bool((packed[~mask] == 0).all())
    eps = torch.finfo(DT).eps
    torch.testing.assert_close(packed[mask], masked[mask], rtol=64 * eps, atol=64 * eps * float(masked.abs().max()))
    packs = pack_by_real_points(mask)
    assert sorted(int(i) for rows, _ in packs for i in rows) == list(range(120))
    for rows, points in packs:  # each row's real points, in their order
        assert bool(mask[rows[:, None], points].all()) and bool((points[:, 1:] > points[:, :-1]).all())


def test_unit_and_centred_scales_are_inverse_affine_maps():
    y = torch.tensor([0.0, 0.25, 0.5, 1.0], dtype=DT)
    torch.testing.assert_close(unit_to_centred(y), torch.tensor([-1.0, -0.5, 0.0, 1.0], dtype=DT), rtol=0, atol=0)
    torch.testing.assert_close(centred_to_unit(unit_to_centred(y)), y, rtol=0, atol=0)  # exact in binary


def _tiny_net():
    from scorelib.nets import BiDimensionalAttention
    return BiDimensionalAttention(hidden=8, layers=1, heads=2)


def _tiny_batches(n: int, g: torch.Generator) -> FunctionBatch:
    x = torch.rand(n, 5, 1, generator=g) * 4 - 2
    return FunctionBatch(x, torch.sin(2 * x[..., 0]), torch.ones(n, 5, dtype=torch.bool))


def test_fit_ndp_is_train_ndp_then_pack_weights():
    """fit_ndp = train_ndp + pack_weights + the losses, bit for bit, with the keys asked for; the batches may be
    drawn anywhere (they are moved to the network's device)."""
    s = DDPMSchedule.ndp(10)
    cfg = TrainConfig(steps=3, batch_size=4, lr=1e-3, ema_decay=0.9)
    with seeded(7):
        out = fit_ndp(_tiny_net(), _tiny_batches, s, cfg, _gen(1), key="net.a", losses_key="loss.a", progress=False)
    with seeded(7):
        result = train_ndp(_tiny_net(), _tiny_batches, s, cfg, _gen(1), progress=False)
    expected = {**pack_weights(result.best, "net.a"), "loss.a": torch.tensor(result.losses)}
    assert out.keys() == expected.keys() and out["loss.a"].shape == (3,)
    assert all(torch.equal(out[k], expected[k]) for k in out)
    assert all(v.device == torch.device("cpu") for v in out.values())


def test_complete_functions_keeps_observed_values_and_is_conditional_sampling():
    """One row: the completion is conditional_samples with the observed points as contexts (same generator: the
    same draws), scattered back into index order with the observed values exactly in place."""
    s = DDPMSchedule.ndp(20)
    x = torch.linspace(-2, 2, 6, dtype=DT).unsqueeze(-1)
    y = torch.tensor([[0.3, -0.2, 0.9, 0.1, -0.7, 0.5]], dtype=DT)
    observed = torch.tensor([[False, True, False, False, True, False]])
    model = _oracle_model(0.5, s)
    out = complete_functions(model, s, x, y, observed, n_samples=3, generator=_gen(2), resample=2, steps=10)
    assert out.shape == (1, 3, 6)
    torch.testing.assert_close(out[0][:, observed[0]], y[:, observed[0]].expand(3, 2), rtol=0, atol=0)
    ref = conditional_samples(model, s, x[observed[0]], y[0, observed[0]], x[~observed[0]], n_samples=3,
                              generator=_gen(2), resample=2, steps=10)
    torch.testing.assert_close(out[0][:, ~observed[0]], ref, rtol=0, atol=0)
    with pytest.raises(ConfigError, match="same number"):
        complete_functions(model, s, x, y.expand(2, -1), torch.stack([observed[0], ~observed[0]]), n_samples=1,
                           generator=_gen(0))
    with pytest.raises(ConfigError, match="need x"):
        complete_functions(model, s, x[:5], y, observed, n_samples=1, generator=_gen(0))


def test_the_step_function_chapter_samples_below_the_row_limit():
    """ndp_step_function's sampler batches (its n_samples chains of contexts + grid, and its prior draws) stay at or
    under CHUNK_ROWS at both profiles: one network call each, so its committed samples do not depend on the limit."""
    from replications.ndp_step_function.experiment import PROFILES
    from scorelib.ndp import CHUNK_ROWS
    for cfg in PROFILES.values():
        points = len(cfg.context_x) + cfg.grid_points
        assert cfg.n_samples * points <= CHUNK_ROWS and cfg.prior_samples * cfg.grid_points <= CHUNK_ROWS
