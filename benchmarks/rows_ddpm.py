"""Rows 1-2: DDPM training steps and ancestral sampling on the 2-D mixture (the ``ddpm`` chapter's toy).

Every contender uses one network, the chapter's MLP 2 → 128 → 128 → 128 → 2 (SiLU, 32 sinusoidal features of
the step), one data pool of mixture samples, batch 512, the linear β schedule 1e-4 → 0.02 with T = 1000,
AdamW at lr 2e-3, and the ε-prediction L_simple loss. smalldiffusion parameterises the noise by σ (x + σε,
σ² = (1-ᾱ)/ᾱ) and feeds σ to the network where the others feed t: the same network and cost.
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.core import Benchmark, Contender
from benchmarks.peers import load
from scorelib import losses
from scorelib.distributions import GaussianMixture
from scorelib.nets import MLP
from scorelib.parameterization import as_eps_model
from scorelib.samplers import ddpm_ancestral
from scorelib.schedules import DDPMSchedule
from scorelib.training import TrainConfig, training_loop
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

T = 1000
BETA_1, BETA_T = 1e-4, 0.02
LR = 2e-3


@dataclass(frozen=True)
class Sizes:
    batch: int = 512
    pool: int = 20_000
    train_steps: int = 10  # training steps per timed call
    sample_points: int = 10_000
    small_points: int = 500  # where the per-step overhead shows
    sample_steps: int = T  # the schedule has this many steps (T = 1000 by default)


QUICK = Sizes(batch=512, pool=4096, train_steps=5, sample_points=500, small_points=100, sample_steps=100)


def toy_net(seed: int = 0) -> MLP:
    torch.manual_seed(seed)
    return MLP(2, 2, hidden=(128, 128, 128), activation="silu", time_embedding=32)


def pool(n: int, device: torch.device) -> torch.Tensor:
    """``[n, 2]`` samples of the chapter's three-component mixture (float32)."""
    mix = GaussianMixture(torch.tensor([0.5, 0.3, 0.2]), torch.tensor([[-2.0, 0.0], [2.0, 1.0], [0.0, -2.5]]),
                          torch.stack([s**2 * torch.eye(2) for s in (0.3, 0.5, 0.2)]))
    return mix.sample(n, torch.Generator().manual_seed(0))[0].to(device=device, dtype=torch.float32)


def _silence_progress_bar() -> None:
    """smalldiffusion's ``training_loop`` wraps its epochs in a tqdm bar, and the row runs it over 10⁹ epochs (the
    steps are drawn one at a time), so a bar with a total of 10⁹ printed at the start of ``python -m benchmarks``
    (issue 26). Its module's ``tqdm`` is given ``disable=True``, whatever the environment says."""
    module = sys.modules.get("smalldiffusion.diffusion")
    if module is not None and hasattr(module, "tqdm"):
        module.tqdm = functools.partial(module.tqdm, disable=True)


def _steps(n: int, it) -> None:
    for _ in range(n):
        next(it)


# --------------------------------------------------------------------------------------------
# Row 1: training
# --------------------------------------------------------------------------------------------


def training(device: torch.device, sizes: Sizes) -> Benchmark:
    data = pool(sizes.pool, device)
    sched = DDPMSchedule.linear(T, BETA_1, BETA_T)
    k = sizes.train_steps
    bench = Benchmark("ddpm_train", f"DDPM training, MLP 3×128, batch {sizes.batch}, T = {T}",
                      f"{k} training steps")

    def loss_fn(model, x0, gen):
        return losses.ddpm_loss(model, x0, sched, generator=gen)

    def ours(features: bool) -> Contender:
        config = TrainConfig(steps=10**9, batch_size=sizes.batch, lr=LR,
                             **({"ema_decay": 0.995} if features else
                                {"ema_decay": None, "grad_clip": None, "cosine_decay": False}))
        net = toy_net().to(device)
        ema = AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay)) if config.ema_decay else None
        gen = torch.Generator(device=device).manual_seed(1)
        it = training_loop(net, loss_fn, data, config, gen, ema=ema)
        name = ("scorelib, chapter defaults (EMA, clip, cosine)" if features
                else "scorelib, features off")
        return Contender(name, "ours", lambda: _steps(k, it))

    bench.contenders += [ours(True), ours(False)]

    # the practical limit: the same work written by hand
    net = toy_net().to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=LR)
    gen = torch.Generator(device=device).manual_seed(1)
    ab = sched.alpha_bars.to(device=device, dtype=torch.float32)
    sqrt_ab, sqrt_1m_ab = ab.sqrt(), (1 - ab).sqrt()

    def bare_loss(model: nn.Module, g: torch.Generator) -> torch.Tensor:
        """One batch of ε-prediction L_simple written by hand (Ho et al. 2020, Algorithm 1)."""
        x0 = data[torch.randint(0, len(data), (sizes.batch,), generator=g, device=device)]
        t = torch.randint(0, T, (sizes.batch,), generator=g, device=device)
        eps = torch.randn(x0.shape, generator=g, device=device)
        x_t = sqrt_ab[t, None] * x0 + sqrt_1m_ab[t, None] * eps
        return (model(x_t, (t + 1).float()) - eps).pow(2).sum(-1).mean()

    def bare() -> None:
        for _ in range(k):
            loss = bare_loss(net, gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    bench.contenders.append(Contender("bare torch", "bare", bare))

    # the same by hand with the chapter's features: clipping, cosine decay, EMA (foreach lerp)
    f_net = toy_net().to(device)
    f_params = list(f_net.parameters())
    f_ema = [p.detach().clone() for p in f_params]
    f_opt = torch.optim.AdamW(f_params, lr=LR)
    f_sched = torch.optim.lr_scheduler.CosineAnnealingLR(f_opt, T_max=10**6)
    f_gen = torch.Generator(device=device).manual_seed(1)

    def bare_features() -> None:
        for _ in range(k):
            loss = bare_loss(f_net, f_gen)
            f_opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(f_params, 1.0)
            f_opt.step()
            f_sched.step()
            with torch.no_grad():
                torch._foreach_lerp_(f_ema, f_params, 1 - 0.995)

    bench.contenders.append(Contender("bare torch + clip, cosine, EMA by hand", "variant", bare_features,
                                      note="the features of the chapter defaults"))

    # smalldiffusion: its training_loop over a DataLoader of the pool (its API)
    sd, status = load("smalldiffusion")
    if sd is None:
        bench.contenders.append(Contender("smalldiffusion training_loop", "peer", None, status))
    else:
        class SDNet(nn.Module, sd.ModelMixin):
            def __init__(self) -> None:
                super().__init__()
                self.net = toy_net()
                self.input_dims = (2,)

            def forward(self, x, sigma, cond=None):
                return self.net(x, sigma.reshape(-1).expand(x.shape[0]))

        from torch.utils.data import DataLoader
        _silence_progress_bar()
        torch.manual_seed(1)
        loader = DataLoader(data, batch_size=sizes.batch, shuffle=True, drop_last=True)
        sd_it = sd.training_loop(loader, SDNet().to(device), sd.ScheduleDDPM(T, BETA_1, BETA_T), epochs=10**9, lr=LR)
        bench.contenders.append(Contender("smalldiffusion training_loop", "peer", lambda: _steps(k, sd_it),
                                          note="its DataLoader batches item by item"))

    # diffusers: DDPMScheduler.add_noise in a hand loop (the loop of its training examples)
    diffusers, status = load("diffusers")
    if diffusers is None:
        bench.contenders.append(Contender("diffusers DDPMScheduler loop", "peer", None, status))
    else:
        scheduler = diffusers.DDPMScheduler(num_train_timesteps=T, beta_start=BETA_1, beta_end=BETA_T,
                                            beta_schedule="linear", clip_sample=False, variance_type="fixed_large")
        d_net = toy_net().to(device)
        d_opt = torch.optim.AdamW(d_net.parameters(), lr=LR)
        d_gen = torch.Generator(device=device).manual_seed(1)

        def diffusers_loop() -> None:
            for _ in range(k):
                x0 = data[torch.randint(0, len(data), (sizes.batch,), generator=d_gen, device=device)]
                t = torch.randint(0, T, (sizes.batch,), generator=d_gen, device=device)
                noise = torch.randn(x0.shape, generator=d_gen, device=device)
                loss = F.mse_loss(d_net(scheduler.add_noise(x0, noise, t), (t + 1).float()), noise)
                d_opt.zero_grad(set_to_none=True)
                loss.backward()
                d_opt.step()

        bench.contenders.append(Contender("diffusers DDPMScheduler loop", "peer", diffusers_loop))

    # denoising-diffusion-pytorch: GaussianDiffusion1D's loss (a 2-channel sequence of length 1) in a hand loop
    ddp, status = load("denoising_diffusion_pytorch")
    if ddp is None:
        bench.contenders.append(Contender("denoising-diffusion-pytorch GaussianDiffusion1D", "peer", None, status))
    else:
        class DDPNet(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.net = toy_net()
                self.channels, self.self_condition = 2, False
                self.random_or_learned_sinusoidal_cond = False

            def forward(self, x, t, x_self_cond=None):
                return self.net(x[..., 0], t.float() + 1)[..., None]

        diffusion = ddp.GaussianDiffusion1D(DDPNet(), seq_length=1, timesteps=T, objective="pred_noise",
                                            beta_schedule="linear", auto_normalize=False).to(device)
        # its "linear" β's are 1e-4 → 0.02 scaled by 1000/T: at T = 1000 the chapter's schedule
        g_opt = torch.optim.AdamW(diffusion.parameters(), lr=LR)
        g_gen = torch.Generator(device=device).manual_seed(1)

        def ddp_loop() -> None:
            for _ in range(k):
                x0 = data[torch.randint(0, len(data), (sizes.batch,), generator=g_gen, device=device)]
                loss = diffusion(x0[..., None])
                g_opt.zero_grad(set_to_none=True)
                loss.backward()
                g_opt.step()

        bench.contenders.append(Contender("denoising-diffusion-pytorch GaussianDiffusion1D", "peer", ddp_loop,
                                          note="its loss, a hand loop (no Trainer1D)"))
    return bench


# --------------------------------------------------------------------------------------------
# Row 2: ancestral sampling
# --------------------------------------------------------------------------------------------


def sampling(device: torch.device, sizes: Sizes, points: int | None = None) -> Benchmark:
    steps, n = sizes.sample_steps, points or sizes.sample_points
    beta_T = BETA_T * T / steps  # a shorter chain keeps ᾱ_T small (as the ddpm chapter's quick digits do)
    sched = DDPMSchedule.linear(steps, BETA_1 * T / steps, beta_T)
    net = toy_net().to(device).eval()
    name = "ddpm_sample" if points is None else "ddpm_sample_small"
    bench = Benchmark(name, f"ancestral sampling, {steps} steps, {n} points", f"{steps} steps × {n} points",
                      warmup=0 if n >= 5000 else 1)

    def ours() -> None:
        g = torch.Generator(device=device).manual_seed(2)
        x_T = torch.randn(n, 2, generator=g, device=device)
        ddpm_ancestral(as_eps_model(net, "eps", sched), x_T, generator=g, schedule=sched)

    bench.contenders.append(Contender("scorelib ddpm_ancestral", "ours", ours))

    coef_eps = (sched.betas / (1 - sched.alpha_bars).sqrt()).to(device=device, dtype=torch.float32)
    inv_sqrt_a = (1 / sched.alphas.sqrt()).to(device=device, dtype=torch.float32)
    sigma = sched.betas.sqrt().to(device=device, dtype=torch.float32)

    def bare() -> None:
        g = torch.Generator(device=device).manual_seed(2)
        x = torch.randn(n, 2, generator=g, device=device)
        with torch.no_grad():
            for i in reversed(range(steps)):
                eps = net(x, torch.full((n,), float(i + 1), device=device))
                x = inv_sqrt_a[i] * (x - coef_eps[i] * eps)
                if i > 0:
                    x = x + sigma[i] * torch.randn(x.shape, generator=g, device=device)

    bench.contenders.append(Contender("bare torch", "bare", bare))

    diffusers, status = load("diffusers")
    if diffusers is None:
        bench.contenders.append(Contender("diffusers DDPMScheduler.step loop", "peer", None, status))
    else:
        scheduler = diffusers.DDPMScheduler(num_train_timesteps=steps, beta_start=BETA_1 * T / steps,
                                            beta_end=beta_T, beta_schedule="linear", clip_sample=False,
                                            variance_type="fixed_large")
        scheduler.set_timesteps(steps)

        def diffusers_loop() -> None:
            g = torch.Generator(device=device).manual_seed(2)
            x = torch.randn(n, 2, generator=g, device=device)
            with torch.no_grad():
                for t in scheduler.timesteps:
                    eps = net(x, torch.full((n,), float(t) + 1, device=device))
                    x = scheduler.step(eps, t, x, generator=g).prev_sample

        bench.contenders.append(Contender("diffusers DDPMScheduler.step loop", "peer", diffusers_loop))

    sd, status = load("smalldiffusion")
    if sd is None:
        bench.contenders.append(Contender("smalldiffusion samples", "peer", None, status))
    else:
        class SDNet(nn.Module, sd.ModelMixin):
            def __init__(self) -> None:
                super().__init__()
                self.net = net
                self.input_dims = (2,)

            def forward(self, x, sigma, cond=None):
                return self.net(x, sigma.reshape(-1).expand(x.shape[0]))

        sd_net = SDNet()
        sd_sched = sd.ScheduleDDPM(steps, BETA_1 * T / steps, beta_T)
        sigmas = sd_sched.sample_sigmas(steps).to(device)

        def sd_loop() -> None:
            torch.manual_seed(2)
            xt = torch.randn(n, 2, device=device) * sigmas[0]
            for _ in sd.samples(sd_net, sigmas, gam=1.0, mu=0.5, xt=xt):
                pass

        bench.contenders.append(Contender("smalldiffusion samples (DDPM: γ=1, μ=½)", "peer", sd_loop))
    return bench
