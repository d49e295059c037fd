"""The GPU path, run where CUDA exists (skipped on CPU-only machines such as CI).

The device policy resolves CUDA, and the same seeded computation on the CPU and on the GPU agrees: samples drawn
with a CPU generator are the same numbers on every device (``runtime.standard_normal``), so a float64 sampler or
training run differs between devices only by floating-point reassociation, far below the tolerances used here.
"""

from __future__ import annotations

import pytest
import torch

from scorelib.losses import ddpm_loss
from scorelib.nets import MLP
from scorelib.runtime import describe, get_device, make_generator
from scorelib.samplers import ddpm_ancestral
from scorelib.schedules import DDPMSchedule, linear_betas
from scorelib.training import TrainConfig, train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="needs a CUDA GPU (CPU-only machines test that an absent GPU is an error)")

SCHEDULE = DDPMSchedule(linear_betas(100, 1e-4, 0.2))


def _eps_model(device: torch.device) -> torch.nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = MLP(2, hidden=(64, 64), time_embedding=16, time_scale=1 / SCHEDULE.T)
    return model.double().to(device)


def test_device_policy_resolves_cuda_and_names_the_gpu():
    assert get_device("auto").type == "cuda" and get_device("cuda").type == "cuda"
    assert torch.cuda.get_device_name(0) in describe(get_device("cuda"))


def test_ancestral_sampling_agrees_between_cpu_and_cuda():
    outs = {}
    for name in ("cpu", "cuda"):
        device = torch.device(name)
        x_init = torch.randn(512, 2, generator=make_generator(1), dtype=torch.float64).to(device)
        outs[name] = ddpm_ancestral(_eps_model(device), x_init, generator=make_generator(2), schedule=SCHEDULE)
    assert outs["cuda"].device.type == "cuda" and torch.isfinite(outs["cuda"]).all()
    torch.testing.assert_close(outs["cuda"].cpu(), outs["cpu"], rtol=1e-8, atol=1e-8)


def test_training_on_cuda_stays_there_and_matches_the_cpu_run():
    data = torch.randn(2048, 2, generator=make_generator(3), dtype=torch.float64) * 0.5 + 1.0
    config = TrainConfig(steps=40, batch_size=128, lr=1e-3)
    runs = {}
    for name in ("cpu", "cuda"):
        device = torch.device(name)
        model = _eps_model(device)
        result = train(model, lambda m, x0, g: ddpm_loss(m, x0, SCHEDULE, generator=g), data.to(device), config,
                       make_generator(4), progress=False)
        assert all(p.device.type == name for p in result.model.parameters())
        runs[name] = result
    torch.testing.assert_close(torch.tensor(runs["cuda"].losses), torch.tensor(runs["cpu"].losses), rtol=1e-6, atol=1e-8)
    for p_gpu, p_cpu in zip(runs["cuda"].model.parameters(), runs["cpu"].model.parameters()):
        torch.testing.assert_close(p_gpu.cpu(), p_cpu, rtol=1e-6, atol=1e-8)


def test_schedule_lookups_in_a_training_step_make_no_host_sync():
    schedule = DDPMSchedule(linear_betas(100, 1e-4, 0.2))
    x = torch.zeros(64, 2, device="cuda")
    t = torch.randint(1, schedule.T + 1, (64,), device="cuda")
    expected = schedule.alpha_bars[t.cpu() - 1].float().cuda()
    schedule.at(schedule.alpha_bars, t, x)  # the schedule moves to the GPU once
    torch.cuda.set_sync_debug_mode("error")
    try:
        got = schedule.at(schedule.alpha_bars, t, x)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert got.device.type == "cuda" and torch.equal(got[:, 0], expected)
