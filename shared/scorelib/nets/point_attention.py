"""A plain attention noise model over a set of points: ``model(x [batch, points, D], y [batch, points],
t [batch] or 0-d, mask [batch, points] | None) -> eps [batch, points]`` — the NDP's image-regression
network (Dutordoir et al. 2022, §5.3, use plain attention over pixels there, not the bi-dimensional model).

Each point embeds (x_n, y_n) jointly (``D + 1 → H``): the input dimensions are *not* exchangeable here (a
pixel's row and column mean different things), so the bi-dimensional model's dimension invariance is
neither needed nor wanted, and one attention over the points per block is D times cheaper. A block adds
the time embedding, applies multi-head self-attention across the points (padded points masked out as
keys), adds a per-point linear path, and splits the result into a residual path, (h + gelu(r))/√2, and a
skip path; the summed skips (÷√L) go through a head whose last layer is zero-initialised.

The per-point path matters: the skips are all the head sees, and without it a point's own noisy value
reaches them only through attention, diluted 1/N among N points until the attention learns to look at
itself. (The bi-dimensional model has this path implicitly: with D = 1 its attention over the input
dimensions returns each point's own value.) Measured, NDP on SE GP data, 1,000 steps: L1 loss 0.475 without
it, against 0.390 for the bi-dimensional model. No positional encoding: the model is
equivariant to permuting the points (the coordinates travel with them).

With ``frequencies = K > 0`` each coordinate also enters through deterministic Fourier features
``sin(2^k π x / 2), cos(2^k π x / 2)``, k = 0..K-1 (Tancik et al. 2020): a plain linear-GELU embedding of raw
coordinates separates neighbouring pixels poorly, and the attention must tell them apart to learn which
pixels co-vary. They are functions of each point's own inputs, so the equivariance is untouched.

With ``distance_bias=True`` every head's attention logits get ``-s_h |x_i - x_j|²`` (learnt s_h > 0): a
head can start local. Without it, a model on 8×8 digits denoised pixel by pixel for 6,000+ steps before its
attention found which pixels go together. The bias depends on pairs of inputs only, so the model stays
equivariant to the points' order.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from scorelib.errors import ConfigError
from scorelib.nets.mlp import time_mlp, zero_head


class PointAttentionBlock(nn.Module):
    """``(h [batch, points, H], t_emb [batch, H], mask) -> (h', skip)``, both ``[batch, points, H]``."""

    def __init__(self, hidden: int, heads: int, distance_bias: bool = False) -> None:
        super().__init__()
        if (2 * hidden) % heads:
            raise ConfigError(f"2·hidden = {2 * hidden} must be divisible by heads = {heads}")
        self.heads = heads
        if distance_bias:  # per-head scales s_h, from global (0.1) to local (8): logits - s_h |x_i - x_j|²
            self.log_scale = nn.Parameter(torch.linspace(math.log(0.1), math.log(8.0), heads))
        self.time = nn.Linear(hidden, hidden)
        self.qkv = nn.Linear(hidden, 3 * 2 * hidden)
        self.proj = nn.Linear(2 * hidden, 2 * hidden)
        self.local = nn.Linear(hidden, 2 * hidden)  # each point's own path (see the module docstring)

    def forward(self, h: Tensor, t_emb: Tensor, mask: Tensor | None,
                sq_dist: Tensor | None = None) -> tuple[Tensor, Tensor]:
        b, n, hidden = h.shape
        z = h + self.time(t_emb)[:, None, :]
        q, k, v = (u.reshape(b, n, self.heads, -1).transpose(1, 2) for u in self.qkv(z).chunk(3, dim=-1))
        attn_mask = None if mask is None else mask[:, None, None, :]  # [b, 1, 1, n]: keys only
        if sq_dist is not None and hasattr(self, "log_scale"):  # [b, heads, n, n] additive bias
            bias = -self.log_scale.exp().to(q.dtype)[None, :, None, None] * sq_dist[:, None]
            attn_mask = bias if mask is None else bias.masked_fill(~mask[:, None, None, :], float("-inf"))
        att = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)  # [b, heads, n, 2H/heads]
        out = self.proj(att.transpose(1, 2).reshape(b, n, 2 * hidden)) + self.local(z)  # [b, n, 2H]
        residual, skip = out.chunk(2, dim=-1)
        return (h + F.gelu(residual)) / math.sqrt(2.0), F.gelu(skip)


class PointAttention(nn.Module):
    """``forward(x [batch, points, D], y [batch, points], t, mask [batch, points] | None) -> [batch, points]``.

    Args:
        dim: input dimension D.
        hidden: width H of every embedding (even).
        layers: number L of attention blocks.
        heads: attention heads (must divide 2H).
        time_scale: multiplies t inside the sinusoidal embedding (t is the integer step 1..T).
        frequencies: number K of octaves of Fourier features of the inputs (0: raw inputs only).
        distance_bias: add ``-s_h |x_i - x_j|²`` to the attention logits of head h, with learnt scales s_h
            initialised from 0.1 (global) to 8 (local): a relative, hence still equivariant, notion of
            locality (see the module docstring).
    """

    def __init__(self, dim: int = 2, hidden: int = 64, layers: int = 4, heads: int = 4, time_scale: float = 1.0,
                 frequencies: int = 0, distance_bias: bool = False) -> None:
        super().__init__()
        if not isinstance(layers, int) or layers < 1:
            raise ConfigError(f"layers must be a positive int, got {layers!r}")
        if not isinstance(frequencies, int) or frequencies < 0:
            raise ConfigError(f"frequencies must be a non-negative int, got {frequencies!r}")
        self.dim = dim
        self.register_buffer("octaves", (2.0 ** torch.arange(frequencies)) * math.pi / 2, persistent=False)
        self.embed = nn.Sequential(nn.Linear(dim * (1 + 2 * frequencies) + 1, hidden), nn.GELU(),
                                   nn.Linear(hidden, hidden))
        self.time_embed = time_mlp(hidden, time_scale)
        self.blocks = nn.ModuleList(PointAttentionBlock(hidden, heads, distance_bias) for _ in range(layers))
        self.distance_bias = distance_bias
        self.head = zero_head(hidden)  # the untrained model predicts ε = 0

    def features(self, x: Tensor) -> Tensor:
        """``x [b, n, D]`` → ``[b, n, D(1 + 2K)]``: the inputs and their Fourier features."""
        if len(self.octaves) == 0:
            return x
        phase = (x.unsqueeze(-1) * self.octaves.to(x.dtype)).flatten(-2)  # [b, n, D·K]
        return torch.cat([x, phase.sin(), phase.cos()], -1)

    def forward(self, x: Tensor, y: Tensor, t: Tensor | float, mask: Tensor | None = None) -> Tensor:
        if x.dim() != 3 or y.shape != x.shape[:2] or x.shape[-1] != self.dim:
            raise ConfigError(f"need x [batch, points, {self.dim}] and y [batch, points], got {tuple(x.shape)} and "
                              f"{tuple(y.shape)}")
        b = x.shape[0]
        if mask is not None:
            mask = mask.to(device=x.device, dtype=torch.bool)
            if self.distance_bias and mask.device.type == "cpu" and bool(mask.all()):
                # no key is padded: the bias needs no -inf, and masked_fill of nothing is the identity, so this is
                # bitwise the same; the masked training step took 1.17x the time at the image chapter's shape
                # (benchmarks/README.md). The check is a host read, free on the CPU; on a GPU it would wait for the
                # device at every call, so the mask stays there.
                mask = None
        h = self.embed(torch.cat([self.features(x), y.unsqueeze(-1)], -1))  # [b, n, H]
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device).expand(b)
        t_emb = self.time_embed(t.to(self.embed[0].weight.dtype))
        sq_dist = torch.cdist(x, x).square() if self.distance_bias else None  # [b, n, n]
        skip = torch.zeros_like(h)
        for block in self.blocks:
            h, s = block(h, t_emb, mask, sq_dist)
            skip = skip + s
        return self.head(skip / math.sqrt(len(self.blocks))).squeeze(-1)
