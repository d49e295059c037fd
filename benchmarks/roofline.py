"""The roofline rows of ``python -m benchmarks``: this machine's float32 matmul peak, and the FLOP rate that the book's
hot loops reach, each as a fraction of that peak.

- ``peak``: the best of several square float32 matmuls (``n × n`` by ``n × n``, 2n³ FLOPs) at the benchmark's thread
  count: the most the machine does with torch in the best case.
- The hot loops, at the chapters' own shapes, their FLOPs counted by :class:`torch.utils.flop_counter.FlopCounterMode`
  (matrix products and convolutions, forward and backward; elementwise work is not counted, so a loop bound by memory
  or by per-operation overhead shows a low fraction):

  - ``ndp_repaint_call``: one RePaint network call at the full ``ndp_regression`` test set (256 functions × 128
    samples, 1 to 9 contexts + 50 targets), through :func:`scorelib.ndp.eps_fn` as the sampler calls it;
  - ``unet_train_ddpm`` / ``unet_train_ncsn``: one training step (forward, MSE, backward, AdamW) of the digits U-Nets
    at ``ddpm``'s (batch 64) and ``ncsn``'s (batch 128, σ-conditioned) full profiles;
  - ``ndp_train_step``: one training step of ``ndp_regression``'s bi-dimensional attention model (batch 32, N = 60);
  - ``ddpm_ancestral_step``: one step of Ho et al.'s Algorithm 2 with the ``ddpm`` toy MLP on 10,000 points.

The CPU flash-attention kernel is not in torch's FLOP table; it is counted here by torch's own SDPA formulas
(4·B·H·L·S·E forward, 2.5× that backward).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

from scorelib.runtime import num_threads

_CPU_FLASH = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
_CPU_FLASH_BACKWARD = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward


def _cpu_flash_flops(query, key, value, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query, key, value)


def _cpu_flash_backward_flops(grad_out, query, key, value, *args, out_shape=None, **kwargs) -> int:
    return sdpa_backward_flop_count(grad_out, query, key, value)


def counted_flops(fn: Callable[[], object]) -> int:
    """The FLOPs of one ``fn()`` (matmuls, convolutions and attention, forward and backward). Counted on one intra-op
    thread: the counter sees the calling thread's operations only, and on one thread
    :func:`scorelib.runtime.map_chunks` runs every chunk there (the FLOPs do not depend on the threads)."""
    mode = FlopCounterMode(display=False, custom_mapping={_CPU_FLASH: _cpu_flash_flops,
                                                          _CPU_FLASH_BACKWARD: _cpu_flash_backward_flops})
    with num_threads(1), mode:
        fn()
    return mode.get_total_flops()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _times(fn: Callable[[], object], device: torch.device, rounds: int, warmup: int = 1) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(rounds):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        out.append(time.perf_counter() - start)
    return out


def matmul_peak(device: torch.device, n: int = 4096, rounds: int = 5) -> tuple[float, float]:
    """``(best GFLOP/s, median GFLOP/s)`` of ``n × n`` float32 matmuls on ``device``."""
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    times = _times(lambda: a @ b, device, rounds)
    return 2 * n**3 / min(times) / 1e9, 2 * n**3 / statistics.median(times) / 1e9


@dataclass
class HotLoop:
    """One hot loop: ``run()`` does one unit of its work; ``why`` says what bounds it where it is far from the peak."""

    name: str
    title: str
    run: Callable[[], object]
    why: str


def _train_step(net: torch.nn.Module, inputs: tuple, target: torch.Tensor) -> Callable[[], object]:
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        F.mse_loss(net(*inputs), target).backward()
        opt.step()
    return step


def hot_loops(device: torch.device, quick: bool = False) -> list[HotLoop]:
    """The hot loops at the chapters' full shapes (``quick``: far smaller batches, for a smoke run)."""
    from benchmarks.rows_ddpm import toy_net
    from replications.ddpm import experiment as ddpm
    from replications.ncsn import experiment as ncsn
    from scorelib.ndp import eps_fn
    from scorelib.nets import BiDimensionalAttention
    from scorelib.schedules import DDPMSchedule

    g = torch.Generator().manual_seed(0)
    loops = []

    # the NDP RePaint network call at the ndp_regression test set's shape
    functions, samples, slots, targets = (16 if quick else 256), 128, 9, 50
    rows = functions * samples
    ndp = BiDimensionalAttention(hidden=32, layers=3, heads=4).to(device).eval()
    x = (torch.rand(rows, slots + targets, 1, generator=g) * 4 - 2).to(device)
    contexts = torch.randint(1, slots + 1, (functions,), generator=g).repeat_interleave(samples)
    real = torch.cat([torch.arange(slots)[None] < contexts[:, None], torch.ones(rows, targets, dtype=torch.bool)], 1)
    y = torch.randn(rows, slots + targets, generator=g).to(device)
    call = eps_fn(ndp, x, real.to(device))
    t = torch.tensor(100, device=device)

    def repaint_call() -> None:
        with torch.no_grad():
            call(y, t)
    loops.append(HotLoop("ndp_repaint_call", f"one RePaint network call, {functions} functions × {samples} samples, "
                         f"1-{slots} contexts + {targets} targets (ndp_regression)", repaint_call,
                         "small shapes: 4-head attention over ≤ 59 points with 16 features a head, and 32-64-wide "
                         "linear layers; the elementwise work between them (GELU, softmax, residuals) is not counted"))

    # the digits U-Nets' training steps at the full profiles' batches
    unet = ddpm.digits_net(ddpm.FULL).to(device)
    batch = 8 if quick else ddpm.FULL.digits_train.batch_size
    imgs = torch.randn(batch, 1, 8, 8, generator=g).to(device)
    steps = torch.randint(1, 1000, (batch,), generator=g).to(device)
    loops.append(HotLoop("unet_train_ddpm", f"one digits U-Net training step, batch {batch}, 8×8 (ddpm)",
                         _train_step(unet, (imgs, steps), torch.randn_like(imgs)),
                         "small shapes: 8×8 and 4×4 feature maps with 16-32 channels, so each convolution is a few "
                         "MFLOPs and per-operation overhead (about 100 operations forward and backward) dominates"))
    sigma_net = ncsn.digits_net(ncsn.FULL).to(device)
    batch = 8 if quick else ncsn.FULL.digits_train.batch_size
    imgs = torch.randn(batch, 1, 8, 8, generator=g).to(device)
    sigmas = torch.rand(batch, generator=g).add(0.01).to(device)
    loops.append(HotLoop("unet_train_ncsn", f"one σ-conditioned digits U-Net training step, batch {batch}, 8×8 (ncsn)",
                         _train_step(sigma_net, (imgs, sigmas), torch.randn_like(imgs)),
                         "as the ddpm U-Net, with twice the batch"))

    # the NDP training step
    bidim = BiDimensionalAttention(hidden=32, layers=3, heads=4).to(device)
    xb = (torch.rand(32, 60, 1, generator=g) * 4 - 2).to(device)
    yb = torch.randn(32, 60, generator=g).to(device)
    tb = torch.randint(1, 500, (32,), generator=g).float().to(device)
    loops.append(HotLoop("ndp_train_step", "one NDP training step, batch 32, N = 60, D = 1 (ndp_regression)",
                         _train_step(bidim, (xb, yb, tb), torch.randn_like(yb)),
                         "small shapes: 1,920 rows of 32-64 features, so every operation is tens of microseconds "
                         "and overhead-bound"))

    # the DDPM ancestral step
    mlp = toy_net().to(device).eval()
    sched = DDPMSchedule.linear(1000)
    points = 1000 if quick else 10_000
    xs = torch.randn(points, 2, generator=g).to(device)
    i = 500
    a, ab, b = float(sched.alphas[i]), float(sched.alpha_bars[i]), float(sched.betas[i])
    tt = torch.full((points,), float(i + 1), device=device)

    def ancestral() -> None:
        with torch.no_grad():
            eps = mlp(xs, tt)
            _ = (xs - b / (1 - ab) ** 0.5 * eps) / a**0.5 + b**0.5 * torch.randn_like(xs)
    loops.append(HotLoop("ddpm_ancestral_step", f"one DDPM ancestral step, toy MLP 2→128→128→128→2, {points:,} points "
                         "(ddpm)", ancestral,
                         "a 2-wide input and output and 128-wide hidden layers: the GEMMs are thin, and the SiLUs and "
                         "the update are elementwise passes over memory"))
    return loops


def roofline_rows(device: torch.device, rounds: int, quick: bool = False,
                  log: Callable[[str], None] = print) -> list[dict]:
    """The peak row and one row per hot loop: median ms, GFLOP/s and the fraction of the peak (JSON rows)."""
    peak, peak_median = matmul_peak(device, 1024 if quick else 4096, max(rounds, 3))
    log(f"  roofline: matmul peak {peak:.1f} GFLOP/s (median {peak_median:.1f})")
    rows = [{"benchmark": "roofline", "contender": "matmul peak", "kind": "peak", "ours": False,
             "unit": f"{1024 if quick else 4096}² float32 matmul", "status": "ok", "gflops": peak,
             "gflops_median": peak_median, "fraction_of_peak": 1.0}]
    for loop in hot_loops(device, quick):
        flops = counted_flops(loop.run)
        times = _times(loop.run, device, rounds)
        median = statistics.median(times)
        rate = flops / median / 1e9
        log(f"  roofline: {loop.name} {1e3 * median:.1f} ms, {rate:.1f} GFLOP/s")
        rows.append({"benchmark": "roofline", "contender": loop.name, "kind": "hot loop", "ours": True,
                     "unit": loop.title, "status": "ok", "median_ms": 1e3 * median, "flops": flops, "gflops": rate,
                     "fraction_of_peak": rate / peak, "rounds": rounds, "bound": loop.why})
    return rows


def format_roofline(rows: list[dict]) -> str:
    """The roofline rows as a fixed-width table."""
    head = f"{'roofline':<22} {'median ms':>10} {'GFLOP':>9} {'GFLOP/s':>9} {'of peak':>8}"
    lines = [head, "-" * len(head)]
    for row in rows:
        ms = f"{row['median_ms']:.1f}" if "median_ms" in row else ""
        gflop = f"{row['flops'] / 1e9:.2f}" if "flops" in row else ""
        lines.append(f"{row['contender']:<22} {ms:>10} {gflop:>9} {row['gflops']:>9.1f} "
                     f"{100 * row['fraction_of_peak']:>7.0f}%")
    return "\n".join(lines)
