"""Row 3: log-likelihood through the probability-flow ODE (Song et al. 2021, App. D.2), exact divergence.

The score is the ``score_sde`` chapter's learnt VP score (MLP 3×128 on (x, sinusoidal features of 1000·t),
s_θ = -ε_θ/s(t)), loaded from its committed artifacts (a seeded untrained network if they are absent), on
the chapter's mixture points, in float64, t from 1e-5 to 1, rtol = atol = 1e-5, Dormand–Prince 5(4) in both:

- ours: :func:`scorelib.likelihood.pf_ode_log_likelihood` (torchdiffeq ``dopri5``);
- the score SDE reference code's way: ``scipy.integrate.solve_ivp(method="RK45")`` on the flattened state
  (x, Δ) as one NumPy vector, each evaluation converting to torch and back;
- bare: torchdiffeq on the same right-hand side written without the library's wrappers.

Each reports its function evaluations (``nfe``): RK45 in scipy and dopri5 in torchdiffeq choose their steps
differently, so the time per evaluation matters as much as the total.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from benchmarks.core import Benchmark, Contender
from scorelib.distributions import GaussianMixture
from scorelib.likelihood import exact_divergence, pf_ode_log_likelihood
from scorelib.nets import MLP
from scorelib.sde import VPSDE
from scorelib.training import unpack_weights

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "replications" / "score_sde" / "artifacts" / "weights.pt"
T_MIN, TOL = 1e-5, 1e-5
DTYPE = torch.float64


@dataclass(frozen=True)
class Sizes:
    points: int = 1000
    tol: float = TOL


QUICK = Sizes(points=50, tol=1e-3)  # a smoke run: the default tolerance costs about 8× the evaluations


def score_net(device: torch.device) -> tuple[MLP, str]:
    net = MLP(2, 2, hidden=(128, 128, 128), activation="silu", time_embedding=32, time_scale=1000.0)
    note = "score_sde's committed weights"
    if WEIGHTS.exists():
        state = torch.load(WEIGHTS, map_location="cpu", weights_only=True)
        unpack_weights(net, state, "net")
    else:  # a clone without the artifacts: time a seeded network instead
        torch.manual_seed(0)
        note = "untrained network (score_sde's weights not found)"
    return net.to(device=device, dtype=DTYPE).eval(), note


def likelihood(device: torch.device, sizes: Sizes) -> Benchmark:
    net, note = score_net(device)
    sde = VPSDE(0.1, 20.0)
    mix = GaussianMixture(torch.tensor([0.5, 0.3, 0.2]), torch.tensor([[-2.0, 0.0], [2.0, 1.0], [0.0, -2.5]]),
                          torch.stack([s**2 * torch.eye(2) for s in (0.3, 0.5, 0.2)]))
    x = mix.sample(sizes.points, torch.Generator().manual_seed(3))[0].to(device=device, dtype=DTYPE)
    bench = Benchmark("pf_likelihood", f"PF-ODE log-likelihood, {sizes.points} points, rtol = atol = {sizes.tol:g}",
                      "one solve", warmup=0)

    def score(y, t):
        _, std = sde.marginal(t)
        std = std.to(dtype=y.dtype, device=y.device)
        return -net(y, t) / (std.reshape(-1, 1) if std.dim() else std)

    last: dict[str, int] = {}

    def ours() -> None:
        last["ours"] = pf_ode_log_likelihood(score, x, sde, t_min=T_MIN, rtol=sizes.tol, atol=sizes.tol).nfe

    bench.contenders.append(Contender("scorelib pf_ode_log_likelihood (torchdiffeq dopri5)", "ours", ours,
                                      note=note, extra=lambda: {"nfe": last["ours"]}))

    # bare: the drift f - ½g²s and its divergence by D autograd passes, solved by torchdiffeq directly
    from torchdiffeq import odeint
    n, d = x.shape

    def drift(y: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        beta = sde.beta_min + t * (sde.beta_max - sde.beta_min)
        b_int = sde.beta_min * t + 0.5 * t**2 * (sde.beta_max - sde.beta_min)
        std = (-torch.expm1(-b_int)).sqrt()
        return -0.5 * beta * y + 0.5 * beta * net(y, t.expand(n)) / std

    def bare_rhs(t, state):
        last["bare"] += 1
        y = state[0].detach().requires_grad_(True)
        with torch.enable_grad():
            f = drift(y, t.clamp(T_MIN, 1.0))
            div = sum(torch.autograd.grad(f[:, i].sum(), y, retain_graph=i < d - 1)[0][:, i] for i in range(d))
        return f.detach(), div.detach()

    def bare() -> None:
        last["bare"] = 0
        times = torch.tensor([T_MIN, 1.0], dtype=DTYPE, device=device)
        odeint(bare_rhs, (x, torch.zeros(n, dtype=DTYPE, device=device)), times, rtol=sizes.tol, atol=sizes.tol,
               method="dopri5")

    bench.contenders.append(Contender("bare torch + torchdiffeq dopri5", "bare", bare,
                                      extra=lambda: {"nfe": last["bare"]}))

    # the reference code's loop: scipy's RK45 on a flat NumPy state
    from scipy import integrate

    def ode_func(t: float, state: np.ndarray) -> np.ndarray:
        y = torch.from_numpy(state[:-n].reshape(n, d)).to(device=device, dtype=DTYPE)
        vec_t = torch.ones(n, dtype=DTYPE, device=device) * t
        f, div = exact_divergence(lambda z: sde.reverse(score, probability_flow=True).drift(z, vec_t), y)
        return np.concatenate([f.cpu().numpy().reshape(-1), div.cpu().numpy()])

    def scipy_loop() -> None:
        init = np.concatenate([x.cpu().numpy().reshape(-1), np.zeros(n)])
        sol = integrate.solve_ivp(ode_func, (T_MIN, 1.0), init, rtol=sizes.tol, atol=sizes.tol, method="RK45")
        last["scipy"] = int(sol.nfev)

    bench.contenders.append(Contender("scipy solve_ivp RK45 (score SDE reference loop)", "peer", scipy_loop,
                                      extra=lambda: {"nfe": last["scipy"]}))
    return bench
