"""The bi-dimensional attention noise model of Neural Diffusion Processes (Dutordoir et al. 2022, §4, Fig. 2).

``model(x [batch, points, dims], y [batch, points], t [batch] or 0-d, mask [batch, points] | None)
-> eps [batch, points]``.

Each (point n, input dimension d) gets its own embedding of the pair (x_{n,d}, y_n) ``[batch, points,
dims, hidden]``. A block adds the time embedding, then sums multi-head self-attention across the input
dimensions (for each point) and across the points (for each dimension, padded points masked out as keys);
the sum is split into a residual path, (h + gelu(r))/√2, and a skip path, gelu(s). The skips of all blocks
are summed (÷√L), mean-pooled over the input dimensions and mapped to ε by a head whose last layer is
zero-initialised (the untrained model predicts ε = 0). There is no positional encoding anywhere, so the
model is equivariant to permuting the points and invariant to permuting the input dimensions (the
properties tests/test_bidimensional_attention.py checks).

Both attentions run as one batched call each, on the tensor reshaped to ``[batch·points, heads, dims,
head_dim]`` (two matmuls and a softmax, :func:`_attention`: the sequences are a few dimensions long, where
that beats the CPU flash kernel; with D = 1 it is the identity on v) and ``[batch·dims, heads, points,
head_dim]`` (:func:`torch.nn.functional.scaled_dot_product_attention` with the point mask): no loop over
sequences.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from scorelib.errors import ConfigError
from scorelib.nets.mlp import time_mlp, zero_head


def _attention(q: Tensor, k: Tensor, v: Tensor, key_mask: Tensor | None = None) -> Tensor:
    """softmax(q kᵀ/√d_h) v over the last two dims: ``q, k, v [s, heads, len, d_h]``, ``key_mask [s, 1, 1, len]``
    (True = attend). Batched matmuls, for the short sequences over input dimensions."""
    scores = (q @ k.transpose(-1, -2)) * (q.shape[-1] ** -0.5)  # [s, heads, len, len]
    if key_mask is not None:
        scores = scores.masked_fill(~key_mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


class _AxisAttention(nn.Module):
    """Multi-head self-attention along one axis of ``h [batch, points, dims, hidden]`` → ``[..., out]``."""

    def __init__(self, hidden: int, out: int, heads: int) -> None:
        super().__init__()
        if out % heads:
            raise ConfigError(f"2·hidden = {out} must be divisible by heads = {heads}")
        self.heads = heads
        self.qkv = nn.Linear(hidden, 3 * out)
        self.proj = nn.Linear(out, out)

    def forward(self, h: Tensor, axis: str, key_mask: Tensor | None) -> Tensor:
        b, n, d, _ = h.shape
        out = self.qkv.out_features // 3
        if axis == "dims" and d == 1:  # softmax over a single key is 1: the attention returns v exactly, and q, k
            # (whose gradients are then exactly 0) are not computed: v alone, from the v rows of the same weights
            return self.proj(F.linear(h, self.qkv.weight[2 * out:], self.qkv.bias[2 * out:]))
        q, k, v = self.qkv(h).chunk(3, dim=-1)  # each [b, n, d, out]
        hd = out // self.heads

        if axis == "dims":  # sequences along d, one per (b, n)
            def split(z: Tensor) -> Tensor:
                return z.reshape(b * n, d, self.heads, hd).transpose(1, 2)  # [b·n, heads, d, hd]
            att = _attention(split(q), split(k), split(v))
            att = att.transpose(1, 2).reshape(b, n, d, out)
        else:  # sequences along n, one per (b, d)
            def split(z: Tensor) -> Tensor:
                return z.permute(0, 2, 1, 3).reshape(b * d, n, self.heads, hd).transpose(1, 2)  # [b·d, heads, n, hd]
            attn_mask = None
            if key_mask is not None:  # [b, n] → [b·d, 1, 1, n]: padded points are never attended to
                attn_mask = key_mask[:, None, :].expand(b, d, n).reshape(b * d, 1, 1, n)
            att = F.scaled_dot_product_attention(split(q), split(k), split(v), attn_mask=attn_mask)
            att = att.transpose(1, 2).reshape(b, d, n, out).permute(0, 2, 1, 3)
        return self.proj(att)


class BiDimensionalAttentionBlock(nn.Module):
    """``(h [batch, points, dims, hidden], t_emb [batch, hidden], mask) -> (h', skip)``, both ``[…, hidden]``."""

    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        self.time = nn.Linear(hidden, hidden)
        self.att_dims = _AxisAttention(hidden, 2 * hidden, heads)
        self.att_points = _AxisAttention(hidden, 2 * hidden, heads)

    def forward(self, h: Tensor, t_emb: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
        z = h + self.time(t_emb)[:, None, None, :]
        z = self.att_dims(z, "dims", None) + self.att_points(z, "points", mask)  # [b, n, d, 2·hidden]
        residual, skip = z.chunk(2, dim=-1)
        return (h + F.gelu(residual)) / math.sqrt(2.0), F.gelu(skip)


class BiDimensionalAttention(nn.Module):
    """The NDP noise model: ``forward(x [batch, points, dims], y [batch, points], t [batch] or 0-d,
    mask [batch, points] bool | None) -> [batch, points]``.

    Args:
        hidden: width H of every embedding (even: the sinusoidal time embedding has H features).
        layers: number L of bi-dimensional attention blocks.
        heads: attention heads (must divide 2H).
        time_scale: multiplies t inside the sinusoidal embedding (t is the integer step 1..T by default).

    ``mask`` marks real points (True) and padding (False): padded points are never attended to, so they
    do not change the outputs at real points; their own outputs are meaningless.
    """

    def __init__(self, hidden: int = 64, layers: int = 5, heads: int = 8, time_scale: float = 1.0) -> None:
        super().__init__()
        if not isinstance(layers, int) or layers < 1:
            raise ConfigError(f"layers must be a positive int, got {layers!r}")
        self.embed = nn.Linear(2, hidden)  # (x_{n,d}, y_n) per point and dimension
        self.time_embed = time_mlp(hidden, time_scale)
        self.blocks = nn.ModuleList(BiDimensionalAttentionBlock(hidden, heads) for _ in range(layers))
        self.head = zero_head(hidden)  # the untrained model predicts ε = 0

    def forward(self, x: Tensor, y: Tensor, t: Tensor | float, mask: Tensor | None = None) -> Tensor:
        if x.dim() != 3 or y.shape != x.shape[:2]:
            raise ConfigError(f"need x [batch, points, dims] and y [batch, points], got {tuple(x.shape)} and "
                              f"{tuple(y.shape)}")
        b, n, d = x.shape
        if mask is not None:
            mask = mask.to(device=x.device, dtype=torch.bool)
        h = torch.stack([x, y.unsqueeze(-1).expand(b, n, d)], dim=-1)  # [b, n, d, 2]
        h = F.gelu(self.embed(h))  # [b, n, d, H]
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device).expand(b)
        t_emb = self.time_embed(t.to(self.embed.weight.dtype))  # [b, H]
        skip = torch.zeros_like(h)
        for block in self.blocks:
            h, s = block(h, t_emb, mask)
            skip = skip + s
        skip = skip.mean(dim=2) / math.sqrt(len(self.blocks))  # [b, n, H]: mean over input dimensions
        return self.head(skip).squeeze(-1)  # [b, n]
