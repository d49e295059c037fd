"""Noise-level conditioning of a score network: s_θ(x, σ) = f_θ(x, log σ) / σ.

Song & Ermon (2019) condition on σ through the network (their NCSN uses conditional instance
normalisation); here any time-conditioned network (``MLP(time_embedding>0)``, ``UNet``) gets log σ as
its "time". The output is divided by σ (Song & Ermon 2020, technique 3): the target −z/σ of the
σ²-weighted loss then becomes −z for the raw network at every level, a scale it can fit.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class SigmaConditioned(nn.Module):
    """``forward(x [n, ...], sigma [n] or 0-d) -> [n, ...]`` = ``net(x, log σ) / σ``.

    Args:
        net: a network called as ``net(x, t)`` with ``t [n]``.
        scale_output: divide by σ (default); ``False`` returns ``net(x, log σ)`` itself.
    """

    def __init__(self, net: nn.Module, scale_output: bool = True) -> None:
        super().__init__()
        self.net = net
        self.scale_output = scale_output

    def forward(self, x: Tensor, sigma: Tensor | float) -> Tensor:
        sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device).expand(x.shape[0])
        out = self.net(x, torch.log(sigma))
        if self.scale_output:
            out = out / sigma.view((-1,) + (1,) * (x.dim() - 1))
        return out
