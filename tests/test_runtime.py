"""Device and seed policy: explicit devices never fall back silently; seeds are validated."""

from __future__ import annotations

import os
import random
import subprocess
import sys

import numpy as np
import pytest
import torch

from scorelib.errors import ConfigError, DeviceUnavailableError
from scorelib.runtime import _mps_available, describe, get_device, make_generator, seed_everything


def test_cpu_is_always_available():
    assert get_device("cpu") == torch.device("cpu")
    assert get_device("cpu:0") == torch.device("cpu:0")


def test_auto_prefers_cuda_then_mps_then_cpu():
    if torch.cuda.is_available():
        expected = "cuda"
    elif _mps_available():
        expected = "mps"
    else:
        expected = "cpu"
    assert get_device("auto").type == expected
    assert get_device().type == expected  # "auto" is the default, never "cuda"


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present: nothing to refuse")
def test_cuda_when_unavailable_raises_instead_of_falling_back():
    for name in ("cuda", "cuda:0"):
        with pytest.raises(DeviceUnavailableError, match="device 'cuda' was requested but .* is False"):
            get_device(name)


@pytest.mark.skipif(_mps_available(), reason="MPS is present: nothing to refuse")
def test_mps_when_unavailable_raises():
    with pytest.raises(DeviceUnavailableError, match="device 'mps' was requested"):
        get_device("mps")


@pytest.mark.parametrize("name", ["gpu", "CUDA", "", "tpu:0", None, 0])
def test_unknown_device_names_raise(name):
    with pytest.raises(ConfigError, match="unknown device .*; choose one of auto, cpu, cuda, mps"):
        get_device(name)


def test_make_generator_is_deterministic():
    a = torch.randn(5, generator=make_generator(7))
    b = torch.randn(5, generator=make_generator(7, "cpu"))
    c = torch.randn(5, generator=make_generator(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert make_generator(7).device == torch.device("cpu")


def test_seed_everything_seeds_the_global_generators():
    seed_everything(11)
    first = (torch.rand(3), np.random.rand(), random.random())
    seed_everything(11)
    second = (torch.rand(3), np.random.rand(), random.random())
    assert torch.equal(first[0], second[0]) and first[1:] == second[1:]


@pytest.mark.parametrize("seed", [-1, True, "0", 1.5, None])
def test_seed_everything_rejects_bad_seeds(seed):
    with pytest.raises(ConfigError, match="seed must be a non-negative int"):
        seed_everything(seed)


def test_describe_mentions_torch_and_the_device():
    line = describe(torch.device("cpu"))
    assert f"torch {torch.__version__}" in line and "device cpu" in line
    assert f"device {get_device('auto')}" in describe()


def test_num_threads_is_a_reentrant_decorator():
    from scorelib.runtime import num_threads

    before = torch.get_num_threads()
    one = num_threads(1)

    @one
    def depth(n: int) -> int:
        assert torch.get_num_threads() == 1
        return 0 if n == 0 else 1 + depth(n - 1)

    assert depth(3) == 3
    assert torch.get_num_threads() == before


def test_seed_streams_formula_and_errors():
    from scorelib.runtime import SeedStreams, make_generator

    streams = SeedStreams({"train": 1, "init": 7})
    assert streams.seed(2, "init") == 2007 and streams.seed(2, "train", offset=3) == 2301
    a = torch.randn(4, generator=streams.generator(2, "train", 3))
    assert torch.equal(a, torch.randn(4, generator=make_generator(2301)))
    with pytest.raises(ConfigError, match="unknown random stream 'test'; this chapter has train, init"):
        streams.seed(0, "test")
    with pytest.raises(ConfigError, match="distinct"):
        SeedStreams({"a": 1, "b": 1})


def test_seeded_construction_ignores_and_restores_the_global_rng():
    from scorelib.runtime import SeedStreams

    streams = SeedStreams({"init": 1})
    torch.manual_seed(123)
    first = streams.build(lambda: torch.nn.Linear(3, 2), 0, "init").weight
    after = torch.rand(1)
    torch.manual_seed(123)
    torch.rand(5)  # a different history of the global RNG
    second = streams.build(lambda: torch.nn.Linear(3, 2), 0, "init").weight
    assert torch.equal(first, second)
    torch.manual_seed(123)
    assert torch.equal(torch.rand(1), after), "the global RNG state is restored"


def test_git_commit_is_dirty_for_code_changes_but_not_for_recorded_results(tmp_path):
    import subprocess

    from scorelib.runtime import git_commit

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    (tmp_path / "ch" / "artifacts").mkdir(parents=True)
    files = {"ch/experiment.py": "x = 1\n", "ch/ch.ipynb": "{}", "ch/artifacts/metrics.json": "{}",
             "ch/artifacts/MANIFEST.json": "{}", "ch/artifacts/weights.pt": "w"}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    git("init", "-q")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    head = git_commit(tmp_path / "ch")
    assert head is not None and not head.endswith("-dirty")
    for name in ("ch/ch.ipynb", "ch/artifacts/metrics.json", "ch/artifacts/MANIFEST.json"):
        (tmp_path / name).write_text('{"changed": true}')
    assert git_commit(tmp_path / "ch") == head, "a refreshed notebook or recorded metrics are results, not code"
    (tmp_path / "other/artifacts").mkdir(parents=True)
    (tmp_path / "other/artifacts/weights.pt").write_text("w")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "other")
    head = git_commit(tmp_path / "ch")
    (tmp_path / "other/artifacts/weights.pt").write_text("retrained")
    assert git_commit(tmp_path / "ch") == head, "another chapter's retrained weights are not this chapter's code"
    assert git_commit(tmp_path / "other") == head + "-dirty", "its own retrained weights are"
    (tmp_path / "ch/artifacts/weights.pt").write_text("retrained")
    assert git_commit(tmp_path / "ch") == head + "-dirty"
    (tmp_path / "ch/artifacts/weights.pt").write_text("w")
    (tmp_path / "ch/experiment.py").write_text("x = 2\n")
    assert git_commit(tmp_path / "ch") == head + "-dirty", "a code change is dirty"


def test_kernel_environment_sets_and_unsets_for_the_block_and_restores(monkeypatch):
    from scorelib.runtime import KERNEL_ENVIRONMENT, kernel_environment
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")  # as a Dask nanny sets it
    monkeypatch.setenv("THP_MEM_ALLOC_ENABLE", "1")  # as a shell might
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert KERNEL_ENVIRONMENT == {"THP_MEM_ALLOC_ENABLE": None, "MALLOC_TRIM_THRESHOLD_": None}
    with kernel_environment({"OMP_NUM_THREADS": "3"}):
        assert "THP_MEM_ALLOC_ENABLE" not in os.environ and "MALLOC_TRIM_THRESHOLD_" not in os.environ
        assert os.environ["OMP_NUM_THREADS"] == "3"
    assert os.environ["MALLOC_TRIM_THRESHOLD_"] == "65536" and os.environ["THP_MEM_ALLOC_ENABLE"] == "1"
    assert "OMP_NUM_THREADS" not in os.environ
    with pytest.raises(RuntimeError), kernel_environment():
        raise RuntimeError("a failing kernel")
    assert os.environ["MALLOC_TRIM_THRESHOLD_"] == "65536"  # restored on error too


_ALLOCATOR_PROBE = """
import hashlib, torch
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.GELU(), torch.nn.Linear(256, 64))
x = torch.randn(8192, 64)  # 2 MB and more per activation: the huge-page path
loss = net(x).square().mean()
loss.backward()
print(hashlib.sha256(b"".join(t.detach().numpy().tobytes() for t in [loss, *(p.grad for p in net.parameters())])).hexdigest())
"""


def test_the_kernel_allocator_settings_change_no_number():
    """THP_MEM_ALLOC_ENABLE=1 (which the kernel environment unsets) changes where torch's CPU blocks lie, not what is
    computed: a forward and backward with activations over 2 MB give bitwise the same loss and gradients in processes
    with and without it."""
    from scorelib.runtime import kernel_environment

    def probe() -> str:
        return subprocess.run([sys.executable, "-c", _ALLOCATOR_PROBE], capture_output=True, text=True, check=True,
                              env={**os.environ, "OMP_NUM_THREADS": "2"}).stdout.strip()
    with kernel_environment():
        plain = probe()
    with kernel_environment({"THP_MEM_ALLOC_ENABLE": "1"}):
        huge = probe()
    assert len(plain) == 64 and plain == huge


def test_map_chunks_runs_each_chunk_on_one_thread_with_the_callers_grad_mode():
    """map_chunks on 2 CPU threads: the results of 1-thread chunks, bitwise and in order, whatever the schedule;
    each chunk sees one intra-op thread and the caller's grad mode; the caller's thread count is restored."""
    from scorelib.runtime import map_chunks, num_threads
    a = torch.randn(64, 300, generator=torch.Generator().manual_seed(0))
    chunks = list(range(8))
    seen: list[tuple[int, bool]] = []

    def fn(i: int) -> torch.Tensor:
        seen.append((torch.get_num_threads(), torch.is_grad_enabled()))
        return (a[i::8] @ a.T).sum(0)
    with num_threads(1):
        serial = [fn(i) for i in chunks]
    seen.clear()
    with num_threads(2), torch.no_grad():
        threaded = map_chunks(fn, chunks, torch.device("cpu"))
        assert torch.get_num_threads() == 2
    assert all(torch.equal(u, v) for u, v in zip(serial, threaded))
    assert seen == [(1, False)] * 8
    with num_threads(2):
        assert map_chunks(lambda i: torch.tensor(i), [5], torch.device("cpu"))[0] == 5  # one chunk: in place
