"""Where a plan's cells run when not in this process: a Dask ``LocalCluster`` sized to the machine, or an existing
Dask cluster.

A local cluster never oversubscribes the CPU: workers × torch threads per cell ≤ cores, with one task slot
per worker (a cell is a papermill kernel, a process of its own, so a worker only waits for it). An
existing cluster (``--scheduler tcp://host:8786``) may be a ``dask scheduler`` with ``dask worker``s, or
one that dask-jobqueue starts on SLURM/PBS; its workers must be able to import ``replications``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass

from distributed import Client, LocalCluster
from distributed.comm import parse_address

from scorelib.errors import ConfigError


#: How long a local worker may take to exit when the cluster closes before it is killed. Dask's own 4 s is short for
#: a worker that imported torch, on a loaded machine: its nanny then warns on the console as it kills it.
WORKER_EXIT_S = 60.0


def cores() -> int:
    """The CPU cores this process may use (its affinity, not the machine's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def local_layout(workers: int | None, threads: int | None, available: int | None = None) -> tuple[int, int]:
    """``(workers, torch threads per cell)`` with workers × threads ≤ cores: by default one single-threaded
    worker per core. A :class:`ConfigError` when the request would oversubscribe the machine."""
    available = available or cores()
    for name, value in (("--workers", workers), ("--threads", threads)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ConfigError(f"{name} must be a positive int, got {value!r}")
    threads = threads or (max(1, available // workers) if workers else 1)
    workers = workers or max(1, available // threads)
    if workers * threads > available:
        raise ConfigError(f"{workers} workers × {threads} torch threads oversubscribe the {available} cores of this "
                          f"machine: ask for at most {available // threads} workers, or fewer threads")
    return workers, threads


@dataclass
class Cluster:
    """A connected :class:`distributed.Client`, the torch threads each cell gets, and how to let go."""

    client: Client
    threads: int
    description: str
    close: Callable[[], None]

    @property
    def dashboard(self) -> str | None:
        """The Dask dashboard's address, when one is served (a local one needs bokeh)."""
        link = self.client.dashboard_link
        local = self.description.startswith("local")
        return link if link and (not local or importlib.util.find_spec("bokeh") is not None) else None


def check_target(scheduler: str | None = None, workers: int | None = None, threads: int | None = None) -> None:
    """A :class:`ConfigError` for a request :func:`connect` would refuse, before anything starts."""
    if scheduler is None:
        local_layout(workers, threads)
        return
    if workers is not None:
        raise ConfigError("--workers sizes a local cluster; an existing cluster (--scheduler) has its own workers")
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise ConfigError(f"--threads must be a positive int, got {threads!r}")
    try:
        parse_address(scheduler, strict=True)
    except ValueError as err:
        raise ConfigError(f"bad scheduler address {scheduler!r} ({err}): write it as tcp://HOST:PORT, e.g. "
                          f"tcp://login-node:8786") from err


async def _close_workers(nannies: list, timeout: float) -> None:
    """Ask every worker to exit at once, killing one only after ``timeout`` seconds."""
    await asyncio.gather(*(nanny.close(timeout=timeout) for nanny in nannies))


def connect(scheduler: str | None = None, *, workers: int | None = None, threads: int | None = None,
            timeout: float = 10.0) -> Cluster:
    """A new :class:`LocalCluster` (``scheduler`` None), or a client of the scheduler at ``scheduler``.
    On an existing cluster each cell uses ``threads`` torch threads (default 1, as Dask's workers)."""
    check_target(scheduler, workers, threads)
    if scheduler is None:
        n_workers, per_cell = local_layout(workers, threads)
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=":0")
        client = Client(cluster)

        def close() -> None:
            client.close()
            cluster.sync(_close_workers, list(cluster.workers.values()), WORKER_EXIT_S)
            cluster.close()

        return Cluster(client, per_cell, f"local cluster: {n_workers} workers × {per_cell} torch thread(s)", close)
    try:
        client = Client(scheduler, timeout=timeout)
    except (OSError, TimeoutError) as err:
        raise ConfigError(f"no Dask scheduler answered at {scheduler} within {timeout:g} s ({type(err).__name__}): "
                          f"start one (dask scheduler; dask worker {scheduler}), or drop --scheduler to run on this "
                          f"machine") from err
    n = len(client.scheduler_info().get("workers", {}))
    return Cluster(client, threads or 1, f"scheduler {scheduler}: {n} worker(s) × {threads or 1} torch thread(s)",
                   client.close)
