"""Neural Diffusion Processes (Dutordoir et al. 2022): a DDPM over the values of a function at a set of
inputs, with a noise model that sees the inputs. This module is the glue between
:class:`~scorelib.datasets.FunctionBatch`, the network (``model(x [b, n, D], y_t [b, n], t [b], mask [b, n])
-> ε [b, n]``, e.g. :class:`~scorelib.nets.BiDimensionalAttention`), a
:class:`~scorelib.schedules.DDPMSchedule` and the samplers:

- :func:`prior_samples` — unconditional function draws at given inputs (Ho et al. 2020, Algorithm 2);
- :func:`train_ndp` — the book's one training loop with :func:`scorelib.losses.ndp_loss`;
  :func:`fit_ndp` — a chapter's fit: train a network on the device and return its EMA weights and losses
  as artifact entries;
- :func:`conditional_samples` — draws at target inputs given context points, by RePaint (Lugmayr et al.
  2022, Algorithm 1) on the joint vector [context, target] (the paper's conditional sampling, §3.3);
  :func:`complete_functions` — the same for functions on shared inputs with an observed mask (image completion);
- :func:`unit_to_centred` / :func:`centred_to_unit` — values in [0, 1] ↔ the model's [-1, 1].

The samplers may use a respaced schedule (fewer steps; ``steps``), calling the network with the original
step indices.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from scorelib.datasets import FunctionBatch
from scorelib.errors import ConfigError
from scorelib.losses import ndp_loss
from scorelib.runtime import map_chunks, standard_normal
from scorelib.samplers import EpsModel, ddpm_ancestral, repaint
from scorelib.schedules import DDPMSchedule
from scorelib.training import TrainConfig, TrainResult, pack_weights, train

FunctionBatchFn = Callable[[int, torch.Generator], FunctionBatch]


def unit_to_centred(y: Tensor) -> Tensor:
    """Values in [0, 1] → [-1, 1] (2y - 1): centred and of unit scale, as DDPM scales images, so the data
    match the N(0, I) prior."""
    return 2 * y - 1


def centred_to_unit(y: Tensor) -> Tensor:
    """The inverse of :func:`unit_to_centred`: (y + 1)/2."""
    return (y + 1) / 2


#: The most (function, point, input dimension) rows one network call gets in a sampler: a larger batch runs in
#: equal chunks of whole functions (none a small remainder). A call's activations (64 features a row) stay at
#: 4 MB a tensor, near the size of a core's cache, so the elementwise operations between the matrix products do not
#: stream from memory. One call at the full ndp_regression test set's size (0.5 GB a tensor) took 9.8-13.8 s on
#: 2 cores, when the allocator took it from and gave it back to the operating system at every operation. In
#: chunks of 2^17 rows it took 6.8 s. Measured on 2 threads (2026-11-30): 4.13 µs a row in chunks of 2^17, and
#: 2.98 µs a row in chunks of 2^14, with 3.0-3.05 from 2^13 to 2^15 (the bi-dimensional model, 4,096 functions of
#: 59 points, padded contexts). For the image model, 147 µs a function instead of 292 (1,024 images of 64 pixels).
#: Each function's ε depends on its own rows only, but a matrix product over fewer rows may sum in another
#: order, so chunked ε equals one call's to round-off, not bitwise (tests/test_ndp.py). Only batches over the
#: limit are chunked. Of the book's samplers these are the ndp_regression test sets and ndp_image_regression's
#: completions and prior draws, both retrained with this limit. ndp_step_function's batches (256 samples × 19
#: points) are below it.
CHUNK_ROWS = 2**14


def eps_fn(model: nn.Module, x: Tensor, mask: Tensor | None = None, timesteps: Tensor | None = None,
           chunk_rows: int = CHUNK_ROWS) -> EpsModel:
    """``(y_t [b, n], t 0-d) -> ε [b, n]``: the network with its inputs ``x [b, n, D]`` (and mask) closed
    over, in the sampler's calling convention. ``timesteps`` maps a respaced step k to the network's step
    ``timesteps[k - 1]`` (:meth:`DDPMSchedule.respaced`). The network's step is looked up on the device (no
    ``int(t)``, which would wait for a GPU at every step). The network is called on at most ``chunk_rows``
    rows (b·n·D) at a time (:data:`CHUNK_ROWS`); on the CPU the chunks are spread over one Python thread per
    intra-op thread, each chunk on one intra-op thread (:func:`scorelib.runtime.map_chunks`: 1.3-1.4x less time
    on 2 cores than two intra-op threads sharing each of these small operations; a chunk's ε does not depend on
    the schedule).

    With a ``mask [b, n]`` (True = real point) that hides any point, the padding is packed away instead of
    masked (:func:`pack_by_real_points`): functions with the same number of real points are called together on
    those points alone, unmasked, and their ε scattered back; a padded point's ε is 0. This relies on the
    network's contract that a masked point changes nothing at the real points (true of the NDP models: no
    positional encoding, padded keys never attended), so it equals the masked call to round-off. On the
    ``ndp_regression`` test set (59 points, 1 to 9 of them padded contexts) it takes 1.3-1.4x less time, as CPU
    attention over a masked batch is slower than over a shorter one (benchmarks/README.md)."""
    table = None if timesteps is None else torch.cat([timesteps.new_zeros(1), timesteps])  # table[k]: S_k
    cast: dict[tuple[torch.dtype, torch.device], Tensor] = {}
    packs = None if mask is None or bool(mask.all()) else pack_by_real_points(mask)
    x_packs = [x] if packs is None else [x[rows[:, None], points] for rows, points in packs]
    # the network calls: (pack, first, end) of equal chunks of whole functions, none a small remainder
    calls: list[tuple[int, int, int]] = []
    for k, x_pack in enumerate(x_packs):
        b, n, d = x_pack.shape
        per_call = max(1, chunk_rows // (n * d))  # functions a network call gets
        bounds = torch.linspace(0, b, -(-b // per_call) + 1).round().long().tolist()
        calls += [(k, i, j) for i, j in zip(bounds[:-1], bounds[1:])]

    def fn(y_t: Tensor, t: Tensor) -> Tensor:
        t = torch.as_tensor(t, device=y_t.device).reshape(1)
        if table is None:
            step = t.to(y_t.dtype)
        else:
            key = (y_t.dtype, y_t.device)
            if key not in cast:
                cast[key] = table.to(dtype=y_t.dtype, device=y_t.device)
            step = cast[key].index_select(0, t.long())
        if packs is None:
            if len(calls) == 1:
                return model(x, y_t, step.expand(y_t.shape[0]).contiguous(), mask)
            y_packs = [y_t]
        else:
            y_packs = [y_t[rows[:, None], points] for rows, points in packs]

        def call(kij: tuple[int, int, int]) -> Tensor:
            k, i, j = kij
            m = None if packs is not None or mask is None else mask[i:j]
            return model(x_packs[k][i:j], y_packs[k][i:j], step.expand(j - i).contiguous(), m)
        eps = map_chunks(call, calls, y_t.device)
        if packs is None:
            return torch.cat(eps)
        out = torch.zeros_like(y_t)
        for (k, i, j), e in zip(calls, eps):
            rows, points = packs[k]
            out[rows[i:j, None], points[i:j]] = e
        return out
    return fn


def pack_by_real_points(mask: Tensor) -> list[tuple[Tensor, Tensor]]:
    """The rows of ``mask [b, n]`` (True = real point) grouped by their number of real points p: a list of
    ``(rows [r], points [r, p])``, the row indices of each group and each row's real points in their order
    (so ``x[rows[:, None], points]`` is the group's functions without their padding). Rows without a real point
    are left out."""
    counts = mask.sum(-1)
    order = torch.sort((~mask).to(torch.uint8), dim=-1, stable=True).indices  # real points first, in order
    packs = []
    for p in torch.unique(counts).tolist():
        if p == 0:
            continue
        rows = torch.nonzero(counts == p).squeeze(-1)
        packs.append((rows, order[rows, :p]))
    return packs


def train_ndp(model: nn.Module, batches: FunctionBatchFn, schedule: DDPMSchedule,
              config: TrainConfig, generator: torch.Generator, *, progress: bool = True,
              description: str = "NDP, eq. (8)") -> TrainResult:
    """Fit ``model`` with :func:`~scorelib.losses.ndp_loss` on fresh functions ``batches(batch_size, generator)``
    each step (AdamW, clipping, EMA: :func:`scorelib.training.train`)."""
    def loss_fn(net: nn.Module, batch: FunctionBatch, gen: torch.Generator) -> Tensor:
        return ndp_loss(net, batch, schedule, generator=gen)
    return train(model, loss_fn, batches, config, generator, progress=progress, description=description)


def _to_device(batch: FunctionBatch, device: torch.device) -> FunctionBatch:
    return FunctionBatch(batch.x.to(device), batch.y.to(device), batch.mask.to(device),
                         None if batch.f is None else batch.f.to(device))


def fit_ndp(net: nn.Module, batches: FunctionBatchFn, schedule: DDPMSchedule, config: TrainConfig,
            generator: torch.Generator, *, device: torch.device | str = "cpu", key: str = "net",
            losses_key: str = "losses", progress: bool = True, description: str = "NDP, eq. (8)") -> dict[str, Tensor]:
    """Train one NDP and pack it as artifact entries: the fit shared by the NDP chapters.

    ``net`` (built under its seed, e.g. by :meth:`scorelib.runtime.SeedStreams.build`) moves to ``device`` and
    :func:`train_ndp` fits it on ``batches(batch_size, generator)``, each moved to ``device`` (a chapter draws
    them on the CPU, so they are the same on every machine). Returns the EMA weights under ``"{key}.*"``
    (:func:`scorelib.training.pack_weights`) and the per-step losses ``[steps]`` under ``losses_key``.
    """
    device = torch.device(device)
    result = train_ndp(net.to(device), lambda n, g: _to_device(batches(n, g), device), schedule, config, generator,
                       progress=progress, description=description)
    out = pack_weights(result.best, key)
    out[losses_key] = torch.tensor(result.losses)
    return out


def _schedule(schedule: DDPMSchedule, steps: int | None) -> tuple[DDPMSchedule, Tensor | None]:
    if steps is None or steps == schedule.T:
        return schedule, None
    return schedule.respaced(steps)



def prior_samples(model: nn.Module, schedule: DDPMSchedule, x: Tensor, *, generator: torch.Generator,
                  steps: int | None = None) -> Tensor:
    """Function values ``[b, n]`` at inputs ``x [b, n, D]``, one draw per function, by ancestral sampling."""
    sched, timesteps = _schedule(schedule, steps)
    y_init = standard_normal(x.shape[:2], generator, like=x)
    return ddpm_ancestral(eps_fn(model, x, None, timesteps), y_init, generator=generator, schedule=sched)


def conditional_samples(model: nn.Module, schedule: DDPMSchedule, x_context: Tensor, y_context: Tensor,
                        x_target: Tensor, *, n_samples: int, generator: torch.Generator, resample: int = 10,
                        steps: int | None = None, renoise_beta: str = "t", context_mask: Tensor | None = None
                        ) -> Tensor:
    """Samples of f at the targets given the contexts: ``x_context [B, C, D]``, ``y_context [B, C]``,
    ``x_target [B, M, D]`` → ``[B, n_samples, M]`` (unbatched ``[C, D]``, ``[C]``, ``[M, D]`` →
    ``[n_samples, M]``). All B·n_samples chains run as one batch of RePaint (U = ``resample`` rounds per
    step, jump length 1; ``renoise_beta`` as in :func:`scorelib.samplers.repaint`); the network takes that batch
    in chunks of at most :data:`CHUNK_ROWS` rows. Functions with fewer contexts are padded: ``context_mask [B, C]``
    (True = real context) hides the padding from the network's attention and from the conditioning, so each
    function is sampled as if it had only its real contexts."""
    unbatched = x_context.dim() == 2
    if unbatched:
        x_context, y_context, x_target = x_context[None], y_context[None], x_target[None]
    if x_context.dim() != 3 or x_target.dim() != 3 or y_context.shape != x_context.shape[:2]:
        raise ConfigError(f"need x_context [B, C, D], y_context [B, C], x_target [B, M, D]; got "
                          f"{tuple(x_context.shape)}, {tuple(y_context.shape)}, {tuple(x_target.shape)}")
    if not isinstance(n_samples, int) or isinstance(n_samples, bool) or n_samples < 1:
        raise ConfigError(f"n_samples must be a positive int, got {n_samples!r}")
    B, C, _ = x_context.shape
    M = x_target.shape[1]
    x_all = torch.cat([x_context, x_target], 1).repeat_interleave(n_samples, 0)  # [B·S, C+M, D]
    known = torch.cat([y_context, torch.zeros(B, M, dtype=y_context.dtype, device=y_context.device)], 1)
    known = known.repeat_interleave(n_samples, 0)  # [B·S, C+M]
    if context_mask is None:
        context_mask = torch.ones(B, C, dtype=torch.bool, device=y_context.device)
    elif unbatched:
        context_mask = context_mask[None]
    if tuple(context_mask.shape) != (B, C):
        raise ConfigError(f"context_mask must be [B, C] = [{B}, {C}], got {tuple(context_mask.shape)}")
    context_mask = context_mask.to(device=y_context.device, dtype=torch.bool)
    target_mask = torch.ones(B, M, dtype=torch.bool, device=y_context.device)
    real = torch.cat([context_mask, target_mask], 1).repeat_interleave(n_samples, 0)  # [B·S, C+M]
    mask = torch.cat([context_mask, ~target_mask], 1).repeat_interleave(n_samples, 0)  # known entries
    attend = None if bool(real.all()) else real
    sched, timesteps = _schedule(schedule, steps)
    y_init = standard_normal(tuple(known.shape), generator, like=x_all)
    y = repaint(eps_fn(model, x_all, attend, timesteps), y_init, generator=generator, schedule=sched, known=known,
                mask=mask, resample=resample, renoise_beta=renoise_beta)
    out = y[:, C:].reshape(B, n_samples, M)
    return out[0] if unbatched else out


def complete_functions(model: nn.Module, schedule: DDPMSchedule, x: Tensor, y: Tensor, observed: Tensor, *,
                       n_samples: int, generator: torch.Generator, resample: int = 10, steps: int | None = None,
                       renoise_beta: str = "t") -> Tensor:
    """Complete partly observed functions on shared inputs (e.g. images on their pixel grid, Dutordoir et al.
    2022, §5.3): ``x [P, D]``, ``y [n, P]`` (only the observed entries are read) and ``observed [n, P]`` (bool,
    the same number K of True in every row) → ``[n, n_samples, P]``, the observed values in place and
    :func:`conditional_samples` (RePaint, contexts = the observed points) at the others.

    Each row is reordered observed-first (a stable sort, so both parts keep their index order), sampled as one
    batch, and scattered back into the original order.
    """
    if x.dim() != 2 or y.dim() != 2 or tuple(observed.shape) != tuple(y.shape) or y.shape[1] != x.shape[0]:
        raise ConfigError(f"need x [P, D], y [n, P] and observed [n, P]; got {tuple(x.shape)}, {tuple(y.shape)}, "
                          f"{tuple(observed.shape)}")
    counts = observed.sum(1)
    if bool((counts != counts[0]).any()) or not 0 < int(counts[0]) < y.shape[1]:
        raise ConfigError(f"every row of observed must hold the same number of observed points, between 1 and "
                          f"{y.shape[1] - 1}; got {counts.tolist()}: complete rows with different counts separately")
    n, p = y.shape
    c = int(counts[0])
    order = torch.argsort((~observed).to(torch.int8), dim=1, stable=True)  # observed points first
    xs = x[order]  # [n, P, D]
    ys = y.gather(1, order)
    samples = conditional_samples(model, schedule, xs[:, :c], ys[:, :c], xs[:, c:], n_samples=n_samples,
                                  generator=generator, resample=resample, steps=steps, renoise_beta=renoise_beta)
    full = torch.cat([ys[:, None, :c].expand(n, n_samples, c), samples], -1)
    out = torch.empty_like(full)
    return out.scatter_(2, order[:, None, :].expand(n, n_samples, p), full)  # back to the original order
