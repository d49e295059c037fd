"""The one training loop of the book, an L-BFGS fit for deterministic objectives, and
``train_or_load`` (train, or load the committed result).

:func:`training_loop` is a generator: each step yields a :class:`TrainStep`, so a notebook can
take ``itertools.islice(training_loop(...), n)`` and plot the loss without callbacks.
:func:`train` runs it to the end behind a tqdm bar. Both stop with
:class:`~scorelib.errors.NonFiniteLossError` (the step and the loss) on a NaN or infinite loss.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from scorelib.artifacts import load_artifacts, save_artifacts
from scorelib.errors import ConfigError, NonFiniteLossError

#: ``loss_fn(model, batch, generator) -> scalar`` — what a chapter provides.
LossFn = Callable[[nn.Module, Tensor, torch.Generator], Tensor]
#: ``sample_batch(batch_size, generator) -> Tensor`` — fresh data each step.
BatchFn = Callable[[int, torch.Generator], Tensor]


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser settings: AdamW, optional cosine decay, gradient clipping and EMA."""

    steps: int
    batch_size: int
    lr: float = 1e-3
    weight_decay: float = 0.0
    grad_clip: float | None = 1.0
    ema_decay: float | None = 0.999
    cosine_decay: bool = True

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"TrainConfig.{name} must be a positive int, got {value!r}")
        if not self.lr > 0:
            raise ConfigError(f"TrainConfig.lr must be positive, got {self.lr!r}")
        if not self.weight_decay >= 0:
            raise ConfigError(f"TrainConfig.weight_decay must be non-negative, got {self.weight_decay!r}")
        # a clip norm <= 0 scales every gradient by max_norm/‖g‖ <= 0: no step, or gradient ascent
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ConfigError(f"TrainConfig.grad_clip must be positive or None, got {self.grad_clip!r}")
        if self.ema_decay is not None and not 0 < self.ema_decay < 1:
            raise ConfigError(f"TrainConfig.ema_decay must be in (0, 1), got {self.ema_decay!r}")


@dataclass
class TrainStep:
    step: int
    loss: float
    model: nn.Module


@dataclass
class TrainResult:
    model: nn.Module
    ema_model: nn.Module | None
    losses: list[float] = field(default_factory=list)

    @property
    def best(self) -> nn.Module:
        """The EMA weights when kept (what sampling should use), else the raw ones."""
        return self.ema_model if self.ema_model is not None else self.model


def _batches(data: Tensor | BatchFn, batch_size: int, generator: torch.Generator) -> Callable[[], Tensor]:
    if callable(data):
        return lambda: data(batch_size, generator)
    n = data.shape[0]

    def draw() -> Tensor:
        idx = torch.randint(0, n, (batch_size,), generator=generator, device=generator.device)
        return data[idx.to(data.device)]

    return draw


def training_loop(
    model: nn.Module,
    loss_fn: LossFn,
    data: Tensor | BatchFn,
    config: TrainConfig,
    generator: torch.Generator,
    *,
    ema: AveragedModel | None = None,
    nan_hint: str = "lower the learning rate or check the data",
) -> Iterator[TrainStep]:
    """Yield one :class:`TrainStep` per optimisation step (AdamW; clip; EMA update)."""
    # foreach: one multi-tensor update (torch picks it by itself on a GPU only); on the CPU its weights are bitwise
    # those of the per-parameter loop (tests/test_training.py), so it changes no committed result
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay, foreach=True)
    scheduler = (
        torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=config.steps) if config.cosine_decay else None
    )
    draw = _batches(data, config.batch_size, generator)
    params = list(model.parameters())  # gathered once: clipping walks no module tree per step
    update_ema = _ema_updater(ema, model) if ema is not None else None
    model.train()
    for step in range(1, config.steps + 1):
        loss = loss_fn(model, draw(), generator)
        value = float(loss.detach())
        if not math.isfinite(value):
            raise NonFiniteLossError(step, value, nan_hint)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip is not None:
            nn.utils.clip_grad_norm_(params, config.grad_clip, foreach=True)
        optimiser.step()
        if scheduler is not None:
            scheduler.step()
        if update_ema is not None:
            update_ema()
        yield TrainStep(step, value, model)


def _ema_updater(ema: AveragedModel, model: nn.Module) -> Callable[[], None]:
    """``ema.update_parameters(model)`` with its per-step bookkeeping done once: the parameter lists are gathered
    here, and the first-call test reads a Python counter instead of the ``n_averaged`` tensor (a host sync on a
    GPU). The update itself is the same call, ``ema.multi_avg_fn`` (``torch._foreach_lerp_`` for
    :func:`~torch.optim.swa_utils.get_ema_multi_avg_fn`) on the same tensors in the same order, so the averages
    are bitwise those of ``update_parameters``. Anything but one device and dtype, averaged buffers or a
    per-tensor ``avg_fn`` takes ``update_parameters`` itself."""
    averaged = [p.detach() for p in ema.parameters()]
    current = [p.detach() for p in model.parameters()]
    buffers = [(b_ema.detach(), b.detach()) for b_ema, b in zip(ema.module.buffers(), model.buffers(), strict=True)]
    kinds = {(t.device, t.dtype) for t in averaged + current}
    if ema.multi_avg_fn is None or ema.use_buffers or len(kinds) != 1 or len(averaged) != len(current):
        return lambda: ema.update_parameters(model)
    count = int(ema.n_averaged)

    @torch.no_grad()
    def update() -> None:
        nonlocal count
        if count == 0:
            torch._foreach_copy_(averaged, current)
        else:
            ema.multi_avg_fn(averaged, current, ema.n_averaged)
        for b_ema, b in buffers:
            b_ema.copy_(b)
        ema.n_averaged += 1
        count += 1

    return update


def train(
    model: nn.Module,
    loss_fn: LossFn,
    data: Tensor | BatchFn,
    config: TrainConfig,
    generator: torch.Generator,
    *,
    progress: bool = True,
    description: str = "training",
) -> TrainResult:
    """Run :func:`training_loop` to the end with a progress bar; returns the model, EMA and losses."""
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay)) if config.ema_decay else None
    losses: list[float] = []
    bar = tqdm(total=config.steps, desc=description, disable=not progress, mininterval=1.0, leave=False)
    for state in training_loop(model, loss_fn, data, config, generator, ema=ema):
        losses.append(state.loss)
        bar.update(1)
        if state.step % 50 == 0:
            bar.set_postfix(loss=f"{state.loss:.4g}")
    bar.close()
    model.eval()
    ema_model = ema.module if ema is not None else None
    if ema_model is not None:
        ema_model.eval()
    return TrainResult(model, ema_model, losses)


def minimise_lbfgs(
    objective: Callable[[], Tensor],
    params: list[Tensor],
    *,
    max_iter: int = 500,
    tolerance_grad: float = 1e-10,
    tolerance_change: float = 1e-14,
    history_size: int = 50,
    newton_steps: int = 0,
) -> float:
    """Minimise a deterministic, full-batch ``objective()`` over ``params`` with L-BFGS
    (strong-Wolfe line search). For the convex or smooth low-dimensional fits of the book
    (a Gaussian's precision, an ICA unmixing matrix), where stochastic training would only add
    noise. Returns the final objective; raises :class:`NonFiniteLossError` if it becomes NaN.

    L-BFGS's line search compares objective values, so it stalls where they agree to machine
    precision: a parameter error of about √eps·scale. ``newton_steps`` > 0 then polishes with exact
    Newton steps (Hessian by double backpropagation; for a few dozen parameters only), which reach
    the minimiser to machine precision because they use gradients alone.
    """
    optimiser = torch.optim.LBFGS(
        params,
        lr=1.0,
        max_iter=max_iter,
        tolerance_grad=tolerance_grad,
        tolerance_change=tolerance_change,
        history_size=history_size,
        line_search_fn="strong_wolfe",
    )
    evaluations = 0

    def closure() -> Tensor:
        nonlocal evaluations
        evaluations += 1
        optimiser.zero_grad(set_to_none=True)
        loss = objective()
        if not torch.isfinite(loss):
            raise NonFiniteLossError(evaluations, float(loss.detach()), "the L-BFGS objective is not finite")
        loss.backward()
        return loss

    optimiser.step(closure)
    for _ in range(newton_steps):
        _newton_step(objective, params)
    return float(objective().detach())


def _newton_step(objective: Callable[[], Tensor], params: list[Tensor]) -> None:
    """θ ← θ - H⁻¹∇J(θ) with the exact Hessian of ``objective`` over the flattened ``params``."""
    grads = torch.autograd.grad(objective(), params, create_graph=True)
    flat = torch.cat([g.reshape(-1) for g in grads])
    rows = [torch.cat([h.reshape(-1) for h in torch.autograd.grad(flat[i], params, retain_graph=True)])
            for i in range(flat.numel())]
    # pinv: a parameterisation may leave directions the objective ignores (a zero Hessian block)
    step = torch.linalg.pinv(torch.stack(rows), hermitian=True) @ flat.detach()
    with torch.no_grad():
        offset = 0
        for p in params:
            p -= step[offset:offset + p.numel()].view_as(p)
            offset += p.numel()  # objectives with a Jacobian trace need autograd here


def train_or_load(
    fit: Callable[[], Mapping[str, Tensor]],
    *,
    config: Any,
    artifact_dir: str | os.PathLike | None,
    retrain: bool,
    retrain_hint: str = "",
    map_location: torch.device | str = "cpu",
) -> dict[str, Tensor]:
    """Return the fitted tensors: from ``fit()`` when ``retrain`` (and save them to
    ``artifact_dir`` if given), else from the artifacts made with the same ``config``.

    ``config`` is a dataclass or a mapping; it is stored beside the weights and compared on load,
    so changed code settings never silently reuse old weights. Saving happens only after ``fit``
    returned: an interrupted retrain leaves the previous artifacts untouched.
    """
    config_dict = asdict(config) if hasattr(config, "__dataclass_fields__") else dict(config)
    if retrain:
        tensors = dict(fit())
        if artifact_dir is not None:
            save_artifacts(artifact_dir, tensors, config_dict)
        return tensors
    if artifact_dir is None:
        raise ConfigError("retrain=False needs an artifact folder to load from")
    return load_artifacts(artifact_dir, config_dict, retrain_hint=retrain_hint, map_location=map_location)



def pack_weights(module: nn.Module, prefix: str) -> dict[str, Tensor]:
    """``module``'s state dict as CPU tensors under ``"{prefix}.{name}"`` (for :func:`train_or_load`'s
    artifacts; the EMA wrapper's step counter is dropped)."""
    return {f"{prefix}.{k}": v.detach().cpu() for k, v in module.state_dict().items() if k != "n_averaged"}


def unpack_weights(module: nn.Module, state: Mapping[str, Tensor], prefix: str, *,
                   skip: Collection[str] = ()) -> nn.Module:
    """Load the ``"{prefix}.*"`` entries of ``state`` into ``module`` (strictly: a missing or unexpected
    key is an error, as for a stale artifact) and return it in eval mode. ``skip``: names stored under
    the same prefix beside the weights (e.g. ``"losses"``, ``"samples"``), which are not loaded."""
    head = prefix + "."
    module.load_state_dict({k[len(head):]: v for k, v in state.items()
                            if k.startswith(head) and k[len(head):] not in skip})
    return module.eval()
