"""The MLP score network and its sinusoidal time embedding."""

from __future__ import annotations

import math

import pytest
import torch

from scorelib.errors import ConfigError
from scorelib.nets import MLP, SinusoidalEmbedding
from scorelib.nets.mlp import ACTIVATIONS


def _x(n: int = 5, d: int = 3) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_output_shape(activation):
    assert MLP(3, hidden=(8, 8), activation=activation)(_x()).shape == (5, 3)
    assert MLP(3, out_dim=2, hidden=(8,), activation=activation)(_x()).shape == (5, 2)
    assert MLP(3, hidden=())(_x()).shape == (5, 3)  # no hidden layer: an affine map


def test_time_conditioning_is_used():
    net = MLP(3, hidden=(16,), time_embedding=8)
    x = _x()
    out = net(x, 0.5)
    assert out.shape == (5, 3)
    # a scalar t is broadcast over the batch, an [n] tensor is used per sample
    torch.testing.assert_close(out, net(x, torch.full((5,), 0.5)), atol=0, rtol=0)
    assert not torch.allclose(out, net(x, 0.9))
    per_sample = net(x, torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5]))
    torch.testing.assert_close(per_sample[-1], out[-1], atol=0, rtol=0)
    assert not torch.allclose(per_sample[0], out[0])


def test_time_conditioned_mlp_without_t_raises():
    with pytest.raises(ConfigError, match=r"time-conditioned: call it as model\(x, t\)"):
        MLP(3, time_embedding=4)(_x())


def test_unconditioned_mlp_with_t_raises():
    with pytest.raises(ConfigError, match="has no time embedding"):
        MLP(3)(_x(), 0.5)


def test_unknown_activation_raises():
    with pytest.raises(ConfigError, match="unknown activation 'gelu'; choose one of"):
        MLP(3, activation="gelu")


@pytest.mark.parametrize("dim", [1, 5, 7])
def test_sinusoidal_embedding_odd_dim_raises(dim):
    with pytest.raises(ConfigError, match=f"embedding dim must be even, got {dim}"):
        SinusoidalEmbedding(dim)


def test_sinusoidal_embedding_closed_form():
    # dim 4: ω = (1, 10000^(-1/2)) = (1, 0.01); t = 2 → (sin 2, sin 0.02, cos 2, cos 0.02)
    emb = SinusoidalEmbedding(4)(torch.tensor([2.0]))
    expected = torch.tensor([[math.sin(2), math.sin(0.02), math.cos(2), math.cos(0.02)]])
    torch.testing.assert_close(emb, expected, atol=1e-6, rtol=0)
    scaled = SinusoidalEmbedding(4, scale=3.0)(torch.tensor([2.0]))
    torch.testing.assert_close(scaled, SinusoidalEmbedding(4)(torch.tensor([6.0])), atol=1e-6, rtol=0)
