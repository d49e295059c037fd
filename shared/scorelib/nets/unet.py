"""A small U-Net for single-channel images, conditioned on a time or noise level.

``UNet(x, t)``: ``x [batch, channels, H, W]``, ``t [batch]`` (or a scalar) → ``[batch, channels, H, W]``.
H and W must be divisible by 2^(len(channel_mults) - 1): 8×8 digits with two levels (8 → 4), 28×28
MNIST with two or three (28 → 14 → 7). A reduced version of Ho et al. (2020)'s network: residual
blocks with GroupNorm and SiLU, the sinusoidal embedding of t added to every block, strided
convolutions down, nearest-neighbour upsampling up, skip connections by concatenation, and no
attention (8×8 images do not need it). The last convolution starts at zero, so an untrained network
outputs zero.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from scorelib.errors import ConfigError
from scorelib.nets.mlp import SinusoidalEmbedding


def _groups(channels: int, groups: int) -> int:
    return groups if channels % groups == 0 else 1


class ResBlock(nn.Module):
    """GN → SiLU → conv3 → (+ embedding) → GN → SiLU → conv3, plus a (1×1) skip. ``[B, c_in, H, W] → [B, c_out, H, W]``."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, groups: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(c_in, groups), c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)
        self.norm2 = nn.GroupNorm(_groups(c_out, groups), c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(emb)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + self.skip(x)


class UNet(nn.Module):
    """x ``[batch, in_channels, H, W]``, t ``[batch]`` → ``[batch, in_channels, H, W]``.

    Args:
        in_channels: image channels (1 for digits and MNIST).
        base_channels: channels at full resolution; level k has ``base_channels * channel_mults[k]``.
        channel_mults: one entry per resolution; each level after the first halves H and W.
        embedding_dim: width of the sinusoidal embedding of t (and of its MLP).
        groups: GroupNorm groups (1 where the channels do not divide).
        time_scale: frequency scale of the embedding (``SinusoidalEmbedding``).
    """

    def __init__(self, in_channels: int = 1, base_channels: int = 32, channel_mults: Sequence[int] = (1, 2),
                 embedding_dim: int = 64, groups: int = 8, time_scale: float = 1.0) -> None:
        super().__init__()
        if not channel_mults:
            raise ConfigError("channel_mults needs at least one level")
        self.levels = len(channel_mults)
        chans = [base_channels * m for m in channel_mults]
        self.embed = nn.Sequential(SinusoidalEmbedding(embedding_dim, time_scale), nn.Linear(embedding_dim, embedding_dim),
                                   nn.SiLU(), nn.Linear(embedding_dim, embedding_dim))
        self.stem = nn.Conv2d(in_channels, chans[0], 3, padding=1)
        self.down_blocks = nn.ModuleList()
        self.downsample = nn.ModuleList()
        c = chans[0]
        for k, ch in enumerate(chans):
            self.down_blocks.append(ResBlock(c, ch, embedding_dim, groups))
            c = ch
            if k < self.levels - 1:
                self.downsample.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
        self.mid = ResBlock(c, c, embedding_dim, groups)
        self.up_blocks = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for k in reversed(range(self.levels)):
            self.up_blocks.append(ResBlock(c + chans[k], chans[k], embedding_dim, groups))
            c = chans[k]
            if k > 0:
                self.upsample.append(nn.Conv2d(c, chans[k - 1], 3, padding=1))
                c = chans[k - 1]
        self.out_norm = nn.GroupNorm(_groups(c, groups), c)
        self.out = nn.Conv2d(c, in_channels, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: Tensor, t: Tensor | float) -> Tensor:
        if x.dim() != 4:
            raise ConfigError(f"UNet expects x of shape [batch, channels, H, W], got {tuple(x.shape)}")
        factor = 2 ** (self.levels - 1)
        if x.shape[-2] % factor or x.shape[-1] % factor:
            raise ConfigError(f"H and W must be divisible by {factor} for {self.levels} levels, got {tuple(x.shape[-2:])}")
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device).expand(x.shape[0])
        emb = self.embed(t)
        h = self.stem(x)
        skips = []
        for k, block in enumerate(self.down_blocks):
            h = block(h, emb)
            skips.append(h)
            if k < self.levels - 1:
                h = self.downsample[k](h)
        h = self.mid(h, emb)
        for j, block in enumerate(self.up_blocks):
            h = block(torch.cat([h, skips.pop()], dim=1), emb)
            if j < self.levels - 1:
                h = self.upsample[j](F.interpolate(h, scale_factor=2, mode="nearest"))
        return self.out(F.silu(self.out_norm(h)))
