"""glibc's heap thresholds, pinned for a benchmark process, so that a row's calls are not timed against page faults.

By default glibc serves a block over its mmap threshold (128 kB at first) from a fresh mapping and unmaps it on
free, raising the threshold as such blocks come back, and returns the top of its heap to the system once it exceeds
the trim threshold. A loop over tensors of a few MB (the 10,000-point ancestral sampler: 5 MB activations) then
faults its memory in again at many steps, and how many depends on the history of the process: on 2 threads the
same call took 9 to 18 s from one run to the next, with 1.1 to 1.6 million minor faults per 200 steps.
:func:`pin_allocator` fixes the mmap threshold at glibc's largest dynamic value (32 MiB on 64-bit) and the trim
threshold at 1 GiB, with ``mallopt``: the same loop then runs with 12-18x fewer faults, in 6.6 s a call, and its
paired ratios settle (benchmarks/README.md). Every contender of a row runs in the same process, so the setting is
the same for all of them. The chapters' kernels keep glibc's defaults: no chapter ran faster with it.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt's parameter numbers (malloc.h)
MMAP_THRESHOLD = 32 * 2**20
TRIM_THRESHOLD = 2**30


def pin_allocator() -> str:
    """Pin glibc's mmap and trim thresholds for this process (from the next allocation on); returns what the
    process now runs with: ``"pinned (mmap 32 MiB, trim 1 GiB)"``, or ``"default"`` (no glibc, or it refused)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, TypeError, AttributeError):
        return "default"
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    if mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1:
        return f"pinned (mmap {MMAP_THRESHOLD // 2**20} MiB, trim {TRIM_THRESHOLD // 2**30} GiB)"
    return "default"
