"""Seconds per gradient step: exact score matching vs sliced score matching, over D.

    python benchmarks/sliced_vs_exact.py [--dims 2 8 16 32 64 128] [--repeats 9] [--device cpu]
"""

from __future__ import annotations

import argparse
import sys


from replications.score_matching import experiment as ex
from scorelib.runtime import describe, get_device


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[2, 8, 16, 32, 64, 128])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = get_device(args.device)
    print(" ".join(sys.argv))
    print(describe(device))
    print(f"{'D':>5} {'SM ms':>9} {'SSM ms':>9} {'ratio':>7} {'SM passes':>10} {'SSM passes':>11}")
    for dim in args.dims:
        r = ex.step_cost(ex.FULL, dim, 0, device, args.repeats)
        print(f"{dim:>5} {1e3 * r['SM_seconds']:>9.2f} {1e3 * r['SSM_seconds']:>9.2f} "
              f"{r['SM_seconds'] / r['SSM_seconds']:>7.1f} {r['SM_passes']:>10.0f} {r['SSM_passes']:>11.0f}")


if __name__ == "__main__":
    main()
