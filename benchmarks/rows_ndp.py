"""Row 4: Neural Diffusion Processes — the training step of both attention models at the chapters' sizes, and
RePaint conditional sampling.

- ``ndp_train_bidim``: :class:`~scorelib.nets.BiDimensionalAttention` (H = 32, L = 3, 4 heads) on GP draws,
  batch 32, N = 60, D = 1, T = 500 (``ndp_regression``'s network and batch);
- ``ndp_train_point``: :class:`~scorelib.nets.PointAttention` (H = 32, L = 3, 4 heads, 3 octaves of Fourier
  features, distance bias) on 8×8 images as functions, batch 32, N = 64, D = 2 (``ndp_image_regression``);
- ``ndp_repaint``: :func:`scorelib.ndp.conditional_samples` with the bi-dimensional model, one function with
  10 contexts and 50 targets, 32 samples, 50 respaced steps, U = 3 (``ndp_regression``'s sampler settings on
  fewer chains).

Ours is the book's training loop with :func:`scorelib.losses.ndp_loss` (the chapter's TrainConfig: EMA, clipping,
cosine decay; and with those off). Bare is forward + L1 loss + backward + AdamW written by hand (the loop of
``benchmarks/ndp_train_step.py``). Both models' attention over the points already is
:func:`torch.nn.functional.scaled_dot_product_attention` (over the D = 1 input dimensions the bi-dimensional
attention is the identity), so the SDPA contender is bare itself; the variant row writes the same attention as
two matmuls and a softmax, to show what SDPA gives.
"""

from __future__ import annotations

import contextlib
import types
from dataclasses import dataclass

import torch
import torch.nn.functional as F

import scorelib.nets.bidimensional_attention as bidim_module
import scorelib.nets.point_attention as point_module
from benchmarks.core import Benchmark, Contender
from scorelib.datasets import FunctionBatch, gp_functions
from scorelib.image_functions import pixel_grid
from scorelib.losses import ndp_loss
from scorelib.ndp import conditional_samples
from scorelib.nets import BiDimensionalAttention, PointAttention
from scorelib.schedules import DDPMSchedule
from scorelib.training import TrainConfig, training_loop
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

LR = 2e-3


@dataclass(frozen=True)
class Sizes:
    batch: int = 32
    points: int = 60
    image: int = 8
    train_steps: int = 5  # per timed call
    pool: int = 8  # function batches, cycled
    samples: int = 32
    contexts: int = 10
    targets: int = 50
    sample_steps: int = 50
    resample: int = 3


QUICK = Sizes(train_steps=2, pool=2, samples=4, targets=20, sample_steps=5, resample=2)


def _matmul_sdpa(q, k, v, attn_mask=None, **_):
    """softmax(q kᵀ/√d + mask) v by two matmuls: SDPA's maths without its fused kernel."""
    scores = (q @ k.transpose(-1, -2)) * (q.shape[-1] ** -0.5)
    if attn_mask is not None:
        scores = scores.masked_fill(~attn_mask, float("-inf")) if attn_mask.dtype == torch.bool else scores + attn_mask
    return torch.softmax(scores, dim=-1) @ v


_MATMUL_F = types.SimpleNamespace(**{k: getattr(F, k) for k in dir(F) if not k.startswith("__")})
_MATMUL_F.scaled_dot_product_attention = _matmul_sdpa


@contextlib.contextmanager
def matmul_attention():
    """Within the block, the library's attention models use :func:`_matmul_sdpa` for SDPA."""
    saved = bidim_module.F, point_module.F
    bidim_module.F = point_module.F = _MATMUL_F
    try:
        yield
    finally:
        bidim_module.F, point_module.F = saved


def _batches(kind: str, sizes: Sizes, device: torch.device) -> list[FunctionBatch]:
    gen = torch.Generator().manual_seed(0)
    out = []
    for _ in range(sizes.pool):
        if kind == "point":
            p = sizes.image**2
            x = pixel_grid(sizes.image, sizes.image).expand(sizes.batch, -1, -1).to(torch.float32)
            y = 2 * torch.rand(sizes.batch, p, generator=gen) - 1
            mask = torch.ones(sizes.batch, p, dtype=torch.bool)
            batch = FunctionBatch(x.contiguous(), y, mask)
        else:
            batch = gp_functions(sizes.batch, sizes.points, 1, generator=gen, dtype=torch.float32)
        out.append(FunctionBatch(batch.x.to(device), batch.y.to(device), batch.mask.to(device), None))
    return out


def _model(kind: str, device: torch.device):
    torch.manual_seed(0)
    if kind == "point":
        return PointAttention(dim=2, hidden=32, layers=3, heads=4, frequencies=3, distance_bias=True).to(device)
    return BiDimensionalAttention(hidden=32, layers=3, heads=4).to(device)


def training(kind: str, device: torch.device, sizes: Sizes) -> Benchmark:
    batches = _batches(kind, sizes, device)
    sched = DDPMSchedule.ndp(500, 3e-4, 0.5)
    k = sizes.train_steps
    shape = (f"8×8 images, N = {sizes.image**2}, D = 2" if kind == "point"
             else f"GP data, N = {sizes.points}, D = 1")
    title = ("NDP training, point attention" if kind == "point" else "NDP training, bi-dimensional attention")
    bench = Benchmark(f"ndp_train_{'point' if kind == 'point' else 'bidim'}",
                      f"{title} (H 32, L 3, 4 heads), batch {sizes.batch}, {shape}", f"{k} training steps")

    def ours(features: bool) -> Contender:
        config = TrainConfig(steps=10**9, batch_size=sizes.batch, lr=LR,
                             **({"ema_decay": 0.995} if features else
                                {"ema_decay": None, "grad_clip": None, "cosine_decay": False}))
        net = _model(kind, device)
        ema = AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay)) if config.ema_decay else None
        gen = torch.Generator(device=device).manual_seed(1)
        counter = iter(range(10**12))

        def data(n, g):
            return batches[next(counter) % len(batches)]

        def loss_fn(model, batch, g):
            return ndp_loss(model, batch, sched, generator=g)

        it = training_loop(net, loss_fn, data, config, gen, ema=ema)

        def run() -> None:
            for _ in range(k):
                next(it)

        name = "scorelib, chapter defaults (EMA, clip, cosine)" if features else "scorelib, features off"
        return Contender(name, "ours", run)

    bench.contenders += [ours(True), ours(False)]

    def bare_loop(attention) -> callable:
        net = _model(kind, device)
        opt = torch.optim.AdamW(net.parameters(), lr=LR)
        gen = torch.Generator(device=device).manual_seed(1)
        alpha_bars = sched.alpha_bars.to(device=device, dtype=torch.float32)
        counter = iter(range(10**12))

        def run() -> None:
            with attention():
                for _ in range(k):
                    batch = batches[next(counter) % len(batches)]
                    y = batch.y
                    t = torch.randint(1, sched.T + 1, (y.shape[0],), generator=gen, device=device)
                    eps = torch.randn(y.shape, generator=gen, device=device)
                    ab = alpha_bars[t - 1].unsqueeze(-1)
                    y_t = ab.sqrt() * y + (1 - ab).sqrt() * eps
                    loss = (net(batch.x, y_t, t.float()) - eps).abs().mean()
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
        return run

    bench.contenders.append(Contender("bare torch (SDPA attention, as the library)", "bare",
                                      bare_loop(contextlib.nullcontext)))
    bench.contenders.append(Contender("bare torch, attention by matmul + softmax", "variant",
                                      bare_loop(matmul_attention)))
    return bench


def repaint(device: torch.device, sizes: Sizes) -> Benchmark:
    sched = DDPMSchedule.ndp(500, 3e-4, 0.5)
    net = _model("bidim", device).eval()
    gen = torch.Generator().manual_seed(4)
    data = gp_functions(1, sizes.contexts + sizes.targets, 1, generator=gen, dtype=torch.float32)
    xc, yc = data.x[0, :sizes.contexts].to(device), data.y[0, :sizes.contexts].to(device)
    xt = data.x[0, sizes.contexts:].to(device)
    s, steps, u = sizes.samples, sizes.sample_steps, sizes.resample
    bench = Benchmark("ndp_repaint", f"NDP RePaint, {s} samples, {sizes.contexts} contexts + {sizes.targets} targets, "
                      f"{steps} respaced steps, U = {u}", "one conditional draw", warmup=1)

    def ours() -> None:
        g = torch.Generator().manual_seed(5)
        conditional_samples(net, sched, xc, yc, xt, n_samples=s, generator=g, resample=u, steps=steps)

    bench.contenders.append(Contender("scorelib conditional_samples", "ours", ours))

    # bare: the same RePaint chain written by hand on the respaced schedule
    small, timesteps = sched.respaced(steps)
    f32 = dict(device=device, dtype=torch.float32)
    betas, ab = small.betas.to(**f32), small.alpha_bars.to(**f32)
    coef_eps, inv_sqrt_a, sigma = (small.betas / (1 - small.alpha_bars).sqrt()).to(**f32), \
        (1 / small.alphas.sqrt()).to(**f32), small.betas.sqrt().to(**f32)
    x_all = torch.cat([xc, xt], 0).expand(s, -1, -1)
    c = sizes.contexts
    known = torch.cat([yc, torch.zeros(sizes.targets, **f32)]).expand(s, -1)
    mask = (torch.arange(c + sizes.targets, device=device) < c).expand(s, -1)
    t_net = timesteps.to(**f32)

    def bare() -> None:
        g = torch.Generator().manual_seed(5)

        def z():
            return torch.randn(known.shape, generator=g).to(device)

        y = z()
        with torch.no_grad():
            for i in reversed(range(steps)):
                rounds = u if i > 0 else 1
                t = t_net[i].expand(s)
                for r in range(rounds):
                    y_known = ab[i - 1].sqrt() * known + (1 - ab[i - 1]).sqrt() * z() if i > 0 else known
                    y_prev = inv_sqrt_a[i] * (y - coef_eps[i] * net(x_all, y, t))
                    if i > 0:
                        y_prev = y_prev + sigma[i] * z()
                    y_prev = torch.where(mask, y_known, y_prev)
                    if r < rounds - 1:
                        y = (1 - betas[i]).sqrt() * y_prev + betas[i].sqrt() * z()
                y = y_prev

    bench.contenders.append(Contender("bare torch", "bare", bare))
    return bench

