"""A small MLP score network, optionally conditioned on a noise level or time.

``MLP(x) -> [n, out]`` or ``MLP(x, t) -> [n, out]`` where ``t`` (``[n]`` or scalar) is embedded
with sinusoidal features (Vaswani et al. 2017, §3.5; as in Ho et al. 2020) and concatenated to x.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from scorelib.errors import ConfigError

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "softplus": nn.Softplus,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "elu": nn.ELU,
}


class SinusoidalEmbedding(nn.Module):
    """t ``[n]`` → ``[n, dim]``: (sin(t·ω_k), cos(t·ω_k)), ω_k = scale·10000^(-k/(dim/2))."""

    def __init__(self, dim: int, scale: float = 1.0) -> None:
        super().__init__()
        if dim % 2:
            raise ConfigError(f"embedding dim must be even, got {dim}")
        half = dim // 2
        self.register_buffer("freqs", scale * torch.exp(-math.log(10000.0) * torch.arange(half) / half))

    def forward(self, t: Tensor) -> Tensor:
        angles = t.reshape(-1, 1).to(self.freqs.dtype) * self.freqs
        return torch.cat([angles.sin(), angles.cos()], dim=-1)


def time_mlp(hidden: int, time_scale: float = 1.0) -> nn.Sequential:
    """t ``[n]`` → ``[n, hidden]``: the sinusoidal embedding, then Linear(H, 4H) → GELU → Linear(4H, H) (the
    time MLP of Ho et al. 2020's network, as the NDP attention models use it)."""
    return nn.Sequential(SinusoidalEmbedding(hidden, time_scale), nn.Linear(hidden, 4 * hidden), nn.GELU(),
                         nn.Linear(4 * hidden, hidden))


def zero_head(hidden: int) -> nn.Sequential:
    """``[..., hidden]`` → ``[..., 1]``: Linear → GELU → Linear with the last layer zero-initialised, so that an
    untrained noise model predicts ε = 0."""
    head = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, 1))
    nn.init.zeros_(head[-1].weight)
    nn.init.zeros_(head[-1].bias)
    return head


class MLP(nn.Module):
    """x ``[n, in_dim]`` (and t ``[n]`` if ``time_embedding > 0``) → ``[n, out_dim]``."""

    def __init__(
        self,
        in_dim: int,
        out_dim: int | None = None,
        hidden: Sequence[int] = (128, 128),
        activation: str = "softplus",
        time_embedding: int = 0,
        time_scale: float = 1.0,
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ConfigError(f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
        out_dim = in_dim if out_dim is None else out_dim
        self.embed = SinusoidalEmbedding(time_embedding, time_scale) if time_embedding else None
        layers: list[nn.Module] = []
        width = in_dim + time_embedding
        for h in hidden:
            layers += [nn.Linear(width, h), ACTIVATIONS[activation]()]
            width = h
        layers.append(nn.Linear(width, out_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor, t: Tensor | float | None = None) -> Tensor:
        if self.embed is None:
            if t is not None:
                raise ConfigError("this MLP has no time embedding; build it with time_embedding > 0")
            return self.net(x)
        if t is None:
            raise ConfigError("this MLP is time-conditioned: call it as model(x, t)")
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device).expand(x.shape[0])
        return self.net(torch.cat([x, self.embed(t)], dim=-1))
