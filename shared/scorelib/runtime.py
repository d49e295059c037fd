"""Device, seed and precision policy: the only place that decides where tensors live.

Every other function takes tensors (or a ``torch.Generator``) and follows their device.
``get_device("auto")`` picks CUDA, then MPS, then CPU; asking for a device that is absent is an
error, never a silent fallback.
"""

from __future__ import annotations

import contextlib
import os
import platform
import random
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np
import torch
from torch import Tensor

from scorelib.errors import ConfigError, DeviceUnavailableError

T = TypeVar("T")

DEVICE_CHOICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def get_device(name: str = "auto") -> torch.device:
    """Resolve a device name to a ``torch.device``.

    ``"auto"`` → CUDA if available, else MPS, else CPU. An explicit ``"cuda"`` or ``"mps"`` that is
    not available raises :class:`DeviceUnavailableError` (no silent fallback to the CPU).
    """
    if not isinstance(name, str) or name.split(":")[0] not in DEVICE_CHOICES:
        raise ConfigError(f"unknown device {name!r}; choose one of {', '.join(DEVICE_CHOICES)}")
    kind = name.split(":")[0]
    if kind == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if kind == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailableError(
            "device 'cuda' was requested but torch.cuda.is_available() is False on this machine "
            f"(torch {torch.__version__}); use device='cpu' or device='auto'"
        )
    if kind == "mps" and not _mps_available():
        raise DeviceUnavailableError(
            "device 'mps' was requested but is not available; use device='cpu' or device='auto'"
        )
    return torch.device(name)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices). Prefer explicit generators in library code."""
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded with ``seed``: randomness enters through it."""
    generator = torch.Generator(device=torch.device(device))
    generator.manual_seed(int(seed))
    return generator


def standard_normal(shape: tuple[int, ...] | torch.Size, generator: torch.Generator | None, *, like: Tensor) -> Tensor:
    """z ~ N(0, I) of ``shape`` in ``like``'s dtype, drawn on the generator's device (``like``'s without a
    generator), then moved to ``like``'s device: a CPU generator gives the same numbers on every device."""
    device = generator.device if generator is not None else like.device
    return torch.randn(shape, generator=generator, dtype=like.dtype, device=device).to(like.device)


def set_deterministic(enabled: bool = True) -> None:
    """Ask torch for deterministic kernels (bitwise-repeatable on CPU; best effort on CUDA)."""
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(enabled, warn_only=True)
    if torch.backends.cudnn.is_available():
        torch.backends.cudnn.benchmark = not enabled
        torch.backends.cudnn.deterministic = enabled


#: The allocator settings of a process that runs a chapter (its papermill kernel), applied by
#: :func:`kernel_environment`: glibc's and torch's defaults, whatever the parent process set. Both unset:
#: ``MALLOC_TRIM_THRESHOLD_``: a Dask nanny starts its workers with 65536, which switches off glibc's adaptive mmap
#: threshold, so every block over 128 kB is mapped and unmapped afresh (a full ndp_image_regression sweep so run spent
#: 37 % of its CPU time in the kernel). ``THP_MEM_ALLOC_ENABLE``: set to 1, torch aligns its CPU blocks of 2 MB and
#: more to huge pages and asks for them. That helped while NDP sampling called its network on half-gigabyte
#: activations, but since the samplers call it in chunks of 4 MB activations (:data:`scorelib.ndp.CHUNK_ROWS`) it is
#: neutral there (42.1 s with and without it, for 10 RePaint steps of 64 test functions × 128 samples), and it costs
#: the other chapters dearly: every such block is a fresh mapping whose huge pages the kernel zeroes at each fault (a
#: full score_matching retrain 144 s with 64 s of system time, against 108 s with 14 s; 2026-11-30, 2 threads).
#: Neither setting changes a number (tests/test_runtime.py).
KERNEL_ENVIRONMENT: Mapping[str, str | None] = {"THP_MEM_ALLOC_ENABLE": None, "MALLOC_TRIM_THRESHOLD_": None}


@contextlib.contextmanager
def kernel_environment(extra: Mapping[str, str | None] | None = None) -> Iterator[None]:
    """Within the block, ``os.environ`` holds :data:`KERNEL_ENVIRONMENT` and ``extra`` (None: unset), for the
    processes started there to inherit (torch reads these when it starts); restored on exit."""
    settings = {**KERNEL_ENVIRONMENT, **(extra or {})}
    before = {name: os.environ.get(name) for name in settings}
    try:
        for name, value in settings.items():
            _set_env(name, value)
        yield
    finally:
        for name, value in before.items():
            _set_env(name, value)


def _set_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def describe(device: torch.device | None = None) -> str:
    """One line of versions, device and threads, printed in every chapter's set-up cell."""
    device = device if device is not None else get_device("auto")
    gpu = ""
    if device.type == "cuda":
        gpu = f" ({torch.cuda.get_device_name(device)})"
    return (
        f"python {sys.version.split()[0]} | torch {torch.__version__} | numpy {np.__version__} | "
        f"device {device}{gpu} | torch threads {torch.get_num_threads()} | {platform.machine()}"
    )


def versions() -> dict[str, str]:
    """Versions of the packages a result depends on (recorded in metrics.json)."""
    import matplotlib
    import scorelib

    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": np.__version__,
        "matplotlib": matplotlib.__version__,
        "scorelib": scorelib.__version__,
    }


#: Files a run writes by itself (executed notebooks, every chapter's artifacts, committed sweeps): a change to them
#: does not make the code that produced a result "dirty". A chapter's *own* weights and config are the exception
#: (see :func:`git_commit`): results evaluated from uncommitted weights are not reproducible from the commit.
RESULT_FILES: tuple[str, ...] = ("**/*.ipynb", "**/artifacts/**", "**/sweeps/**")
#: The files of a chapter's artifacts folder that its results depend on.
OWN_ARTIFACTS: tuple[str, ...] = ("artifacts/weights.pt", "artifacts/config.json")


def git_commit(path: str | os.PathLike | None = None) -> str | None:
    """The commit of the repository holding ``path``, with ``-dirty`` if tracked files other than results
    (:data:`RESULT_FILES`) differ from it, or the weights and config in ``path``'s own ``artifacts/`` do; None
    outside a git checkout. A refresh or retrain that goes chapter after chapter thus records the commit of the
    code, not a tree made dirty by the chapters run before it."""
    import subprocess

    cwd = os.fspath(path) if path is not None else os.getcwd()
    excludes = [f":(top,exclude,glob){pattern}" for pattern in RESULT_FILES]
    own = [name for name in OWN_ARTIFACTS if os.path.exists(os.path.join(cwd, name))]

    def changed(*pathspec: str) -> bool:
        return bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", *pathspec],
                                   cwd=cwd, capture_output=True, text=True, check=True, timeout=10).stdout.strip())

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = changed(":/", *excludes) or (bool(own) and changed(*own))
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "")


class num_threads(contextlib.ContextDecorator):  # noqa: N801 - used like torch.no_grad
    """``with num_threads(1): ...`` (or ``@num_threads(1)`` on a function) runs the block with ``n``
    intra-op CPU threads, then restores the previous count. Small networks (an MLP on 2-D points, an
    8×8 U-Net) are dominated by per-operation overhead, which extra threads only add to, most of all
    on a shared machine. Results are bitwise repeatable either way. Re-entrant: nested and recursive
    uses restore their own previous count."""

    def __init__(self, n: int) -> None:
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ConfigError(f"the number of threads must be a positive int, got {n!r}")
        self.n = n
        self._previous: list[int] = []

    def __enter__(self) -> None:
        self._previous.append(torch.get_num_threads())
        torch.set_num_threads(self.n)

    def __exit__(self, *exc) -> None:
        torch.set_num_threads(self._previous.pop())


def map_chunks(fn: Callable[[T], Tensor], chunks: Sequence[T], device: torch.device) -> list[Tensor]:
    """``[fn(c) for c in chunks]``, on the CPU spread over one Python thread per intra-op thread, each running
    its chunks on one intra-op thread (the grad mode of the caller); on any other device, or with one thread or
    one chunk, in order in the calling thread.

    Each chunk is computed by one thread, so the results do not depend on the schedule: bitwise repeatable, and
    bitwise equal to the same chunks on one intra-op thread (not to two intra-op threads, which sum in another
    order). Worth it where a chunk is many small operations, each too short for two intra-op threads to share:
    the NDP samplers' network calls take 1.3-1.4x less time on 2 cores this way (benchmarks/README.md)."""
    threads = torch.get_num_threads()
    if device.type != "cpu" or threads == 1 or len(chunks) < 2:
        return [fn(c) for c in chunks]
    grad = torch.is_grad_enabled()

    def run(c: T) -> Tensor:
        torch.set_num_threads(1)  # this thread's own OpenMP setting
        with torch.set_grad_enabled(grad):
            return fn(c)
    with num_threads(1), ThreadPoolExecutor(min(threads, len(chunks)), thread_name_prefix="scorelib-chunk") as pool:
        return list(pool.map(run, chunks))


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run the block with torch's global RNG seeded with ``seed``, then restore the RNG state it had.

    For code that draws from the global RNG and takes no generator, above all ``nn.Module``
    construction: a network built under ``seeded(s)`` has the same initial weights whatever ran before.
    """
    with torch.random.fork_rng():
        torch.manual_seed(int(seed))
        yield


class SeedStreams:
    """The named random streams of one chapter: each sub-experiment draws from its own generator, so
    changing one never shifts another's data.

    Stream ``part`` with ``offset`` o under the run's ``seed`` s is seeded with
    ``1000·s + 100·o + parts[part]`` (offsets index repeats of a part, e.g. one per kernel or variant).

    >>> streams = SeedStreams({"train": 1, "init": 2})
    >>> streams.seed(3, "init", offset=1)
    3102
    """

    def __init__(self, parts: Mapping[str, int]) -> None:
        ids = list(parts.values())
        if not ids or any(not isinstance(i, int) or not 1 <= i <= 99 for i in ids) or len(set(ids)) != len(ids):
            raise ConfigError(f"stream ids must be distinct ints in 1..99, got {dict(parts)!r}")
        self.parts = dict(parts)

    def seed(self, seed: int, part: str, offset: int = 0) -> int:
        """The integer seed of stream ``part`` (repeat ``offset``) under the run seed ``seed``."""
        if part not in self.parts:
            raise ConfigError(f"unknown random stream {part!r}; this chapter has {', '.join(self.parts)}")
        if not isinstance(offset, int) or not 0 <= offset <= 9:
            raise ConfigError(f"a stream offset must be an int in 0..9, got {offset!r}")
        return 1000 * seed + 100 * offset + self.parts[part]

    def generator(self, seed: int, part: str, offset: int = 0) -> torch.Generator:
        """A CPU generator for the stream: data are drawn on the CPU, so they are identical on every
        machine, then moved to the device once."""
        return make_generator(self.seed(seed, part, offset), "cpu")

    def build(self, make: Callable[[], T], seed: int, part: str, offset: int = 0) -> T:
        """``make()`` (typically a network's constructor) under :func:`seeded` with the stream's seed:
        its initial weights depend on the seed alone, never on the global RNG's history."""
        with seeded(self.seed(seed, part, offset)):
            return make()
