"""``python -m benchmarks``: scorelib side by side with bare torch and the peer libraries, in one table.

    python -m benchmarks [--device cpu|cuda] [--json PATH] [--rounds N] [--warmup N] [--quick]
                         [--only ROW ...] [--threads N] [--allocator pinned|default]

Rows (``--only`` takes these names): ddpm_train, ddpm_sample_small (1000 steps, 500 points: the per-step
overhead shows), ddpm_sample (10,000 points), pf_likelihood, ndp_train_bidim, ndp_train_point, ndp_repaint, and
roofline (the machine's matmul peak and the fraction of it the hot loops reach: :mod:`benchmarks.roofline`).
Each contender of a row does the same work; times are paired per round and divided by the round's bare-torch time (see :mod:`benchmarks.core`). ``--quick`` shrinks the sizes (fewer points and steps) for a
smoke run of a minute. A peer that is not installed (``benchmarks/requirements.txt``) is reported in its row.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
from collections.abc import Callable

import torch

ROWS = ("ddpm_train", "ddpm_sample_small", "ddpm_sample", "pf_likelihood", "ndp_train_bidim", "ndp_train_point",
        "ndp_repaint", "roofline")
#: paired rounds per row by default (the slow rows need fewer to settle)
DEFAULT_ROUNDS = {"ddpm_train": 15, "ddpm_sample_small": 7, "ddpm_sample": 5, "pf_likelihood": 4,
                  "ndp_train_bidim": 12, "ndp_train_point": 12, "ndp_repaint": 5, "roofline": 5}


def _builders(quick: bool) -> dict[str, Callable]:
    from benchmarks import rows_ddpm, rows_likelihood, rows_ndp
    d = rows_ddpm.QUICK if quick else rows_ddpm.Sizes()
    lik = rows_likelihood.QUICK if quick else rows_likelihood.Sizes()
    ndp = rows_ndp.QUICK if quick else rows_ndp.Sizes()
    return {
        "ddpm_train": lambda dev: rows_ddpm.training(dev, d),
        "ddpm_sample_small": lambda dev: rows_ddpm.sampling(dev, d, d.small_points),
        "ddpm_sample": lambda dev: rows_ddpm.sampling(dev, d),
        "pf_likelihood": lambda dev: rows_likelihood.likelihood(dev, lik),
        "ndp_train_bidim": lambda dev: rows_ndp.training("bidim", dev, ndp),
        "ndp_train_point": lambda dev: rows_ndp.training("point", dev, ndp),
        "ndp_repaint": lambda dev: rows_ndp.repaint(dev, ndp),
    }


def resolve_device(name: str) -> torch.device:
    """The device, or SystemExit with one line when CUDA is asked for and absent."""
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise SystemExit("benchmarks: --device cuda asked for, but no CUDA GPU is present "
                             "(torch.cuda.is_available() is False); run on the CPU with --device cpu")
        return torch.device(name)
    if name != "cpu":
        raise SystemExit(f"benchmarks: unknown device {name!r}; use cpu or cuda")
    return torch.device("cpu")


def environment(device: torch.device, threads: int, allocator: str = "default") -> dict:
    from benchmarks.peers import version
    env = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "command": " ".join(["python -m benchmarks"] + sys.argv[1:]), "python": platform.python_version(),
           "torch": torch.__version__, "device": str(device), "threads": threads,
           "cpu_count": os.cpu_count(), "allocator": allocator,
           "peers": {p: version(p) for p in ("smalldiffusion", "diffusers", "denoising-diffusion-pytorch")}}
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--json", metavar="PATH", help="also write the table as a JSON list of rows")
    parser.add_argument("--rounds", type=int, default=None, help="paired rounds per row (default: per row, 5-15)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls per contender first (default 2)")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run of about a minute")
    parser.add_argument("--only", nargs="+", choices=ROWS, metavar="ROW", help=f"rows to run: {', '.join(ROWS)}")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--allocator", choices=("pinned", "default"), default="pinned",
                        help="glibc's heap thresholds: pinned (default; benchmarks/allocator.py) or glibc's own")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    os.environ.setdefault("TQDM_DISABLE", "1")  # the peers' progress bars
    torch.set_num_threads(args.threads)
    from benchmarks.allocator import pin_allocator
    env = environment(device, args.threads, pin_allocator() if args.allocator == "pinned" else "default")
    print(f"# {env['command']}  ({env['date']}; torch {env['torch']}, {device}, {args.threads} threads, "
          f"allocator {env['allocator']})")
    builders = _builders(args.quick)
    rows: list[dict] = []
    from benchmarks.core import format_table, time_rounds
    from benchmarks.roofline import format_roofline, roofline_rows
    roofline: list[dict] = []
    for name in args.only or ROWS:
        rounds = args.rounds or (3 if args.quick else DEFAULT_ROUNDS[name])
        if name == "roofline":
            print(f"roofline: matmul peak and hot loops — {rounds} rounds each", file=sys.stderr)
            roofline = roofline_rows(device, rounds, args.quick, log=lambda m: print(m, file=sys.stderr))
            continue
        bench = builders[name](device)
        print(f"{name}: {bench.title} — {rounds} rounds of {bench.unit}", file=sys.stderr)
        rows += time_rounds(bench, device, rounds, args.warmup, log=lambda m: print(m, file=sys.stderr))
    if rows:
        print(format_table(rows))
        print("* ours; '/ bare' and '/ peer': median over paired rounds of the time divided by that round's bare "
              "torch (fastest peer) time; IQR: the middle half of the ratio to bare")
    if roofline:
        print(format_roofline(roofline))
        print("GFLOP: counted by torch.utils.flop_counter (matmuls, convolutions, attention); 'of peak': the median "
              "rate over the best float32 matmul rate")
    if args.json:
        stamp = {k: env[k] for k in ("date", "device", "threads", "torch", "allocator")}
        with open(args.json, "w") as f:
            json.dump([row | stamp for row in rows + roofline], f, indent=1)
    return 0
