"""The training loop, its NaN guard, TrainConfig validation, EMA, L-BFGS and determinism."""

from __future__ import annotations

import copy
import inspect
import itertools
import math

import pytest
import torch
from torch import nn

from scorelib import losses
from scorelib.errors import ConfigError, NonFiniteLossError
from scorelib.nets import MLP
from scorelib.training import TrainConfig, minimise_lbfgs, pack_weights, train, training_loop, unpack_weights

DT = torch.float64
TARGET = 3.0


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class Scalar(nn.Module):
    """One parameter θ; the loss (θ - 3)² has its minimiser at 3."""

    def __init__(self, start: float = 0.0) -> None:
        super().__init__()
        self.theta = nn.Parameter(torch.tensor(start, dtype=DT))


def quadratic(model: Scalar, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return (model.theta - batch.mean()) ** 2


DATA = torch.full((16, 1), TARGET, dtype=DT)


def test_training_loop_is_a_lazy_generator():
    model = Scalar()
    loop = training_loop(model, quadratic, DATA, TrainConfig(steps=100, batch_size=4), _gen(0))
    assert inspect.isgenerator(loop)
    assert float(model.theta.detach()) == 0.0  # nothing ran before the first step was asked for
    steps = list(itertools.islice(loop, 5))
    assert [s.step for s in steps] == [1, 2, 3, 4, 5]
    assert all(s.model is model for s in steps)
    assert steps[0].loss == pytest.approx(TARGET**2)  # loss before the first update
    assert next(loop).step == 6  # it resumes where islice stopped


def test_training_loop_runs_exactly_config_steps():
    states = list(training_loop(Scalar(), quadratic, DATA, TrainConfig(steps=7, batch_size=2), _gen(0)))
    assert len(states) == 7 and states[-1].step == 7


def test_train_drives_a_quadratic_to_its_minimiser():
    config = TrainConfig(steps=400, batch_size=4, lr=0.1, grad_clip=None, ema_decay=None)
    result = train(Scalar(), quadratic, DATA, config, _gen(0), progress=False)
    assert len(result.losses) == 400
    assert abs(float(result.model.theta.detach()) - TARGET) < 1e-3
    assert result.losses[-1] < 1e-6 < result.losses[0]
    assert result.ema_model is None and result.best is result.model


def test_train_draws_batches_from_a_function():
    seen = []

    def batch_fn(batch_size: int, generator: torch.Generator) -> torch.Tensor:
        seen.append(batch_size)
        return TARGET + 0.1 * torch.randn(batch_size, 1, generator=generator, dtype=DT)

    train(Scalar(), quadratic, batch_fn, TrainConfig(steps=3, batch_size=5, ema_decay=None), _gen(0), progress=False)
    assert seen == [5, 5, 5]


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_a_non_finite_loss_raises_with_its_step_and_value(bad):
    calls = {"n": 0}

    def loss_fn(model, batch, generator):
        calls["n"] += 1
        loss = quadratic(model, batch, generator)
        return loss * bad if calls["n"] == 7 else loss

    message = r"training loss became (nan|inf) at step 7; lower the learning rate"
    with pytest.raises(NonFiniteLossError, match=message) as info:
        train(Scalar(), loss_fn, DATA, TrainConfig(steps=20, batch_size=2), _gen(0), progress=False)
    assert info.value.step == 7
    assert (math.isnan(info.value.loss) if math.isnan(bad) else info.value.loss == bad)


def test_the_nan_guard_stops_before_the_bad_step_updates_the_model():
    poison = {"on": False}

    def loss_fn(model, batch, generator):
        return quadratic(model, batch, generator) * (math.nan if poison["on"] else 1.0)

    model = Scalar()
    loop = training_loop(model, loss_fn, DATA, TrainConfig(steps=10, batch_size=2), _gen(0), nan_hint="my hint")
    next(loop), next(loop)
    theta = float(model.theta.detach())
    poison["on"] = True
    with pytest.raises(NonFiniteLossError, match="at step 3; my hint"):
        next(loop)
    assert float(model.theta.detach()) == theta and math.isfinite(theta)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"steps": 0}, "steps"),
        ({"steps": 2.5}, "steps"),
        ({"steps": True}, "steps"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": "64"}, "batch_size"),
        ({"lr": 0.0}, "lr"),
        ({"lr": -1e-3}, "lr"),
        ({"lr": math.nan}, "lr"),
        ({"ema_decay": 0.0}, "ema_decay"),
        ({"ema_decay": 1.0}, "ema_decay"),
        ({"grad_clip": 0.0}, "grad_clip"),
        ({"grad_clip": -1.0}, "grad_clip"),  # would flip the gradients' sign: gradient ascent
        ({"weight_decay": -0.1}, "weight_decay"),
    ],
)
def test_train_config_rejects_bad_values(kwargs, field):
    with pytest.raises(ConfigError, match=rf"TrainConfig\.{field} must be"):
        TrainConfig(**({"steps": 10, "batch_size": 8} | kwargs))


def test_train_config_accepts_its_documented_options():
    TrainConfig(steps=1, batch_size=1, grad_clip=None, ema_decay=None, weight_decay=0.0, cosine_decay=False)


def test_the_ema_model_differs_from_the_raw_model_and_lags_it():
    decay = 0.9
    config = TrainConfig(steps=30, batch_size=2, lr=0.05, grad_clip=None, ema_decay=decay, cosine_decay=False)
    result = train(Scalar(), quadratic, DATA, config, _gen(0), progress=False)
    raw, ema = float(result.model.theta.detach()), float(result.ema_model.theta.detach())
    assert result.best is result.ema_model and result.ema_model is not result.model
    assert 0.0 < ema < raw < TARGET  # θ climbs from 0 to 3: the average trails behind

    # the EMA by hand over the same trajectory: e_1 = θ_1, e_k = d·e_{k-1} + (1-d)·θ_k
    model = Scalar()
    thetas = [float(s.model.theta.detach()) for s in training_loop(model, quadratic, DATA, config, _gen(0))]
    assert thetas[-1] == raw
    e = thetas[0]
    for t in thetas[1:]:
        e = decay * e + (1 - decay) * t
    assert ema == pytest.approx(e, abs=1e-12)


def test_minimise_lbfgs_with_newton_steps_solves_least_squares_to_machine_precision():
    g = _gen(1)
    x = torch.randn(40, 3, generator=g, dtype=DT)
    y = x @ torch.tensor([1.5, -2.0, 0.5], dtype=DT) + 0.7 + 0.1 * torch.randn(40, generator=g, dtype=DT)
    w = torch.zeros(3, dtype=DT, requires_grad=True)
    b = torch.zeros((), dtype=DT, requires_grad=True)

    def objective() -> torch.Tensor:
        return 0.5 * ((x @ w + b - y) ** 2).sum()

    final = minimise_lbfgs(objective, [w, b], newton_steps=2)
    design = torch.cat([x, torch.ones(40, 1, dtype=DT)], dim=1)
    solution = torch.linalg.lstsq(design, y[:, None]).solution[:, 0]
    torch.testing.assert_close(torch.cat([w.detach(), b.detach()[None]]), solution, atol=1e-12, rtol=0)
    assert final == pytest.approx(float(objective().detach()), abs=0)


def test_minimise_lbfgs_raises_on_a_non_finite_objective():
    p = torch.ones(2, dtype=DT, requires_grad=True)
    with pytest.raises(NonFiniteLossError, match="L-BFGS objective is not finite"):
        minimise_lbfgs(lambda: (p**2).sum() * math.nan, [p])


def _dsm_run(seed: int, init: nn.Module) -> list[float]:
    model = copy.deepcopy(init)

    def batch_fn(batch_size: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randn(batch_size, 2, generator=generator)

    def loss_fn(net, batch, generator):
        return losses.denoising_score_matching(net, batch, 0.5, generator=generator)

    config = TrainConfig(steps=25, batch_size=32, lr=1e-2)
    return train(model, loss_fn, batch_fn, config, _gen(seed), progress=False).losses


def test_same_seed_gives_bitwise_identical_losses_on_cpu():
    init = MLP(2, hidden=(16, 16))
    with torch.no_grad():  # weights from an explicit generator, shared by every run
        g = _gen(2)
        for p in init.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=g))
    first, second = _dsm_run(0, init), _dsm_run(0, init)
    assert first == second  # float equality of every step: bitwise
    assert _dsm_run(1, init) != first  # and the seed does drive the data and the noise


def test_unpack_weights_skips_named_entries_beside_the_weights_and_is_strict_otherwise():
    net = nn.Linear(3, 2)
    state = pack_weights(net, "toy.net") | {"toy.net.losses": torch.zeros(5), "toy.other.weight": torch.zeros(1)}
    assert set(state) == {"toy.net.weight", "toy.net.bias", "toy.net.losses", "toy.other.weight"}
    loaded = unpack_weights(nn.Linear(3, 2), state, "toy.net", skip=("losses",))
    assert not loaded.training and torch.equal(loaded.weight, net.weight) and torch.equal(loaded.bias, net.bias)
    with pytest.raises(RuntimeError, match="losses"):
        unpack_weights(nn.Linear(3, 2), state, "toy.net")


def test_the_loops_ema_is_bitwise_averaged_model_update_parameters():
    """The loop updates the EMA with lists gathered once; the averages must be bitwise those of
    AveragedModel.update_parameters (the committed EMA weights depend on it)."""
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    def net():
        torch.manual_seed(0)
        return MLP(2, 2, hidden=(16, 16), activation="silu", time_embedding=4)

    def loss_fn(model, x, gen):
        return (model(x, torch.ones(len(x))) - x).pow(2).mean()

    data = torch.randn(64, 2, generator=torch.Generator().manual_seed(3))
    config = TrainConfig(steps=25, batch_size=8, ema_decay=0.9)
    model = net()
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.9))
    for _ in training_loop(model, loss_fn, data, config, _gen(0), ema=ema):
        pass

    ref_model = net()
    ref_ema = AveragedModel(ref_model, multi_avg_fn=get_ema_multi_avg_fn(0.9))
    shadow = TrainConfig(steps=25, batch_size=8, ema_decay=0.9)
    for _ in training_loop(ref_model, loss_fn, data, shadow, _gen(0), ema=None):
        ref_ema.update_parameters(ref_model)
    assert int(ema.n_averaged) == int(ref_ema.n_averaged) == 25
    for (k, a), (_, b) in zip(ema.state_dict().items(), ref_ema.state_dict().items()):
        assert torch.equal(a, b), k


def test_the_loops_multi_tensor_adamw_and_clipping_are_bitwise_the_per_parameter_ones():
    """The loop runs AdamW and gradient clipping on torch's multi-tensor (foreach) path; the committed weights were
    trained with the per-parameter loop, so on the CPU the two must agree bitwise (clipping active, cosine decay,
    weight decay)."""
    def net():
        torch.manual_seed(0)
        return MLP(2, 2, hidden=(32, 32), activation="silu", time_embedding=8)

    def loss_fn(model, x, gen):
        return 50 * (model(x, torch.rand(len(x), generator=gen)) - x).pow(2).mean()  # large: the clip is active

    data = torch.randn(256, 2, generator=torch.Generator().manual_seed(3))
    config = TrainConfig(steps=40, batch_size=32, lr=3e-3, weight_decay=1e-2, grad_clip=0.5, ema_decay=None)
    model = net()
    losses = [s.loss for s in training_loop(model, loss_fn, data, config, _gen(0))]

    ref = net()
    optimiser = torch.optim.AdamW(ref.parameters(), lr=3e-3, weight_decay=1e-2, foreach=False)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=40)
    gen, clipped = _gen(0), 0
    for step in range(40):
        loss = loss_fn(ref, data[torch.randint(0, 256, (32,), generator=gen)], gen)
        assert float(loss.detach()) == losses[step]
        optimiser.zero_grad()
        loss.backward()
        clipped += float(nn.utils.clip_grad_norm_(list(ref.parameters()), 0.5, foreach=False)) > 0.5
        optimiser.step()
        scheduler.step()
    assert clipped > 20
    for a, b in zip(model.parameters(), ref.parameters(), strict=True):
        assert torch.equal(a, b)
