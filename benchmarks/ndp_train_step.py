"""Milliseconds per training step (forward + backward + AdamW) of an NDP noise model.

    python benchmarks/ndp_train_step.py [--model bidimensional|point] [--image SIZE] [--layers 3] [--hidden 32]
                                        [--heads 4] [--batch 32] [--points 60] [--dim 1] [--threads 2]
                                        [--repeats 30] [--device cpu]

The step is the NDP training objective (ε-prediction, L1 loss, t uniform in 1..T) on GP data from
:func:`scorelib.datasets.gp_functions`, or, with ``--image SIZE``, on SIZE×SIZE images as functions (the pixel
grid of :mod:`scorelib.image_functions`, D = 2, SIZE² points; random intensities: the cost does not depend on
them). ``--model point`` is the image chapter's plain attention over points (:class:`scorelib.nets.PointAttention`).
The target of the NDP issue: ≤ 70 ms at the defaults on 2 threads. The image chapter's model:
``--model point --image 8 --hidden 64 --layers 4``; MNIST's cost: the same with ``--image 28``.
Timings of a machine shared with other jobs are noisy: the median over ``--repeats`` steps is reported, after
5 warm-up steps, and with 2 threads a busy second core can slow OpenMP's spinning threads by an order of
magnitude (measured: 878 ms vs 45 ms); compare ``--threads 1`` or set ``OMP_WAIT_POLICY=PASSIVE``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from scorelib.datasets import gp_functions
from scorelib.image_functions import pixel_grid
from scorelib.nets import BiDimensionalAttention, PointAttention
from scorelib.runtime import describe, get_device
from scorelib.schedules import DDPMSchedule


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("bidimensional", "point"), default="bidimensional")
    parser.add_argument("--image", type=int, default=0, help="SIZE: SIZE×SIZE images instead of GP data")
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--points", type=int, default=60)
    parser.add_argument("--dim", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = get_device(args.device)
    print(" ".join(sys.argv))
    print(describe(device))

    gen = torch.Generator().manual_seed(0)
    if args.image:
        args.points, args.dim = args.image ** 2, 2
        x = pixel_grid(args.image, args.image).expand(args.batch, -1, -1).to(device)
        y = (2 * torch.rand(args.batch, args.points, generator=gen) - 1).to(device)
    else:
        data = gp_functions(args.batch, args.points, args.dim, generator=gen, dtype=torch.float32)
        x, y = data.x.to(device), data.y.to(device)
    schedule = DDPMSchedule.linear(T=500, beta_1=1e-4, beta_T=0.04)
    alpha_bars = schedule.alpha_bars.to(device=device, dtype=torch.float32)
    if args.model == "point":
        model = PointAttention(dim=args.dim, hidden=args.hidden, layers=args.layers, heads=args.heads).to(device)
    else:
        model = BiDimensionalAttention(hidden=args.hidden, layers=args.layers, heads=args.heads).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def step() -> None:
        t = torch.randint(1, schedule.T + 1, (args.batch,), generator=gen).to(device)
        eps = torch.randn(y.shape, generator=gen).to(device)
        ab = alpha_bars[t - 1].unsqueeze(-1)
        y_t = ab.sqrt() * y + (1 - ab).sqrt() * eps
        loss = (model(x, y_t, t) - eps).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(5):
        step()
    times = []
    for _ in range(args.repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {args.model}")
    print(f"{'L':>3} {'H':>4} {'batch':>6} {'N':>4} {'D':>3} {'threads':>8} {'params':>8} "
          f"{'median ms':>10} {'min ms':>8}")
    print(f"{args.layers:>3} {args.hidden:>4} {args.batch:>6} {args.points:>4} {args.dim:>3} {args.threads:>8} "
          f"{n_params:>8} {1e3 * statistics.median(times):>10.1f} {1e3 * min(times):>8.1f}")


if __name__ == "__main__":
    main()
