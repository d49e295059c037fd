"""``python -m benchmarks``: the runner's contract, not its timings (those are measurements of a machine).

One small row at ``--quick`` sizes, with the peer libraries hidden (a module of each name that raises
ImportError comes first on the path): the JSON rows keep their schema and a missing peer is reported in its
row, not a crash. ``--device cuda`` without a GPU stops with one line that says how to run on the CPU.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
PEERS = ("smalldiffusion", "diffusers", "denoising_diffusion_pytorch")
FIELDS = {"benchmark", "contender", "kind", "ours", "median_ms", "ratio_to_bare", "ratio_iqr",
          "ratio_to_fastest_peer", "status", "unit"}


def _run(args: list[str], hide: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    path = [str(ROOT / "shared"), str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    if hide is not None:
        hide.mkdir(exist_ok=True)
        for name in PEERS:
            (hide / f"{name}.py").write_text('raise ImportError("hidden by tests/test_benchmarks.py")\n')
        path.insert(0, str(hide))
    env["PYTHONPATH"] = os.pathsep.join(path)
    return subprocess.run([sys.executable, "-m", "benchmarks", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def test_a_quick_row_writes_the_json_rows_and_reports_missing_peers(tmp_path):
    out = tmp_path / "rows.json"
    proc = _run(["--quick", "--only", "ddpm_sample", "--rounds", "2", "--warmup", "0", "--threads", "1",
                 "--json", str(out)], hide=tmp_path / "hidden")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(out.read_text())
    assert {r["benchmark"] for r in rows} == {"ddpm_sample"}
    for row in rows:
        assert FIELDS <= row.keys(), row
    by_name = {r["contender"]: r for r in rows}
    bare = [r for r in rows if r["kind"] == "bare"]
    assert len(bare) == 1 and bare[0]["ratio_to_bare"] == 1.0
    ours = [r for r in rows if r["ours"]]
    assert ours and all(r["median_ms"] > 0 and r["ratio_iqr"][0] <= r["ratio_iqr"][1] for r in ours)
    peers = [r for r in rows if r["kind"] == "peer"]
    assert peers and all(r["status"].startswith("not installed") and r["median_ms"] is None for r in peers)
    assert all(r["ratio_to_fastest_peer"] is None for r in rows)  # no peer ran
    assert "not installed" in proc.stdout and "scorelib ddpm_ancestral" in by_name
    # glibc's heap thresholds are pinned for the whole process, so for every contender alike (benchmarks/allocator.py)
    assert {r["allocator"] for r in rows} == {"pinned (mmap 32 MiB, trim 1 GiB)"}


def test_the_allocator_can_be_left_at_glibcs_defaults(tmp_path):
    out = tmp_path / "rows.json"
    proc = _run(["--quick", "--only", "ddpm_sample_small", "--rounds", "1", "--warmup", "0", "--threads", "1",
                 "--allocator", "default", "--json", str(out)], hide=tmp_path / "hidden")
    assert proc.returncode == 0, proc.stderr
    assert {r["allocator"] for r in json.loads(out.read_text())} == {"default"} and "allocator default" in proc.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_cuda_without_a_gpu_fails_with_one_clear_line():
    proc = _run(["--device", "cuda", "--only", "ddpm_sample"])
    assert proc.returncode != 0
    message = proc.stderr.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in message
    assert "no CUDA GPU" in message and "--device cpu" in message


def test_flops_are_counted_for_matmuls_and_the_cpu_attention_kernel():
    """The roofline's FLOP count: 2n³ for an n × n matmul; for CPU attention, torch's SDPA formula 4·B·H·L·S·E
    forward (the CPU flash kernel is missing from torch's own table), and 2.5× that backward."""
    import torch.nn.functional as F

    from benchmarks.roofline import counted_flops
    a = torch.randn(64, 64)
    assert counted_flops(lambda: a @ a) == 2 * 64**3
    q = torch.randn(3, 4, 10, 16, requires_grad=True)
    forward = 4 * 3 * 4 * 10 * 10 * 16
    assert counted_flops(lambda: F.scaled_dot_product_attention(q, q, q)) == forward
    assert counted_flops(lambda: F.scaled_dot_product_attention(q, q, q).sum().backward()) == forward * 7 // 2
    from scorelib.nets import BiDimensionalAttention
    from scorelib.ndp import eps_fn
    from scorelib.runtime import num_threads
    net = BiDimensionalAttention(hidden=8, layers=1, heads=2).eval()
    x, y = torch.randn(40, 5, 1), torch.randn(40, 5)
    one_call = counted_flops(lambda: net(x, y, torch.full((40,), 3.0)))
    with num_threads(2), torch.no_grad():  # chunks on worker threads are counted too
        assert counted_flops(lambda: eps_fn(net, x, chunk_rows=50)(y, torch.tensor(3))) == one_call > 0


def test_the_roofline_rows_give_a_rate_and_a_fraction_of_the_peak(tmp_path):
    out = tmp_path / "roofline.json"
    proc = _run(["--quick", "--only", "roofline", "--rounds", "1", "--threads", "1", "--json", str(out)])
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(out.read_text())
    peak = [r for r in rows if r["kind"] == "peak"]
    loops = {r["contender"]: r for r in rows if r["kind"] == "hot loop"}
    assert len(peak) == 1 and peak[0]["gflops"] > 0
    assert set(loops) == {"ndp_repaint_call", "unet_train_ddpm", "unet_train_ncsn", "ndp_train_step",
                          "ddpm_ancestral_step"}
    for row in loops.values():
        assert row["flops"] > 0 and row["median_ms"] > 0 and row["bound"]
        assert row["fraction_of_peak"] == pytest.approx(row["gflops"] / peak[0]["gflops"])
    assert "of peak" in proc.stdout and "ndp_repaint_call" in proc.stdout
