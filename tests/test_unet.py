"""The small U-Net and the σ-conditioning wrapper: shape contracts, conditioning, and errors."""

from __future__ import annotations

import pytest
import torch

from scorelib.errors import ConfigError
from scorelib.nets import MLP, SigmaConditioned, UNet


def _randomise_output(net: UNet) -> None:
    """The last convolution starts at zero; give it weights so the output depends on the input."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        net.out.weight.copy_(0.1 * torch.randn(net.out.weight.shape, generator=g))


@pytest.mark.parametrize(("size", "mults"), [(8, (1, 2)), (28, (1, 2)), (28, (1, 2, 2)), (8, (1,))])
def test_unet_keeps_the_image_shape(size, mults):
    torch.manual_seed(0)
    net = UNet(1, base_channels=8, channel_mults=mults, embedding_dim=16)
    x = torch.randn(3, 1, size, size)
    out = net(x, torch.rand(3))
    assert out.shape == (3, 1, size, size)
    assert torch.equal(out, torch.zeros_like(out))  # zero-initialised output layer
    assert net(x, 0.5).shape == x.shape  # a scalar t is broadcast over the batch


def test_unet_output_depends_on_t_and_is_per_sample():
    torch.manual_seed(0)
    net = UNet(1, base_channels=8, embedding_dim=16)
    _randomise_output(net)
    x = torch.randn(4, 1, 8, 8)
    a, b = net(x, torch.zeros(4)), net(x, torch.ones(4))
    assert not torch.allclose(a, b)
    # batch elements do not interact (GroupNorm normalises per sample)
    assert torch.allclose(net(x[:1], torch.zeros(1)), a[:1], atol=1e-6)


def test_unet_trains_through_every_parameter():
    torch.manual_seed(0)
    net = UNet(1, base_channels=8, embedding_dim=16)
    _randomise_output(net)
    net(torch.randn(2, 1, 8, 8), torch.rand(2)).pow(2).sum().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not bool(p.grad.abs().sum() > 0)]
    assert not missing, missing


def test_unet_rejects_bad_shapes():
    net = UNet(1, base_channels=8, channel_mults=(1, 2, 2), embedding_dim=16)
    with pytest.raises(ConfigError):
        net(torch.randn(2, 1, 10, 10), 0.1)  # 10 is not divisible by 4
    with pytest.raises(ConfigError):
        net(torch.randn(2, 64), 0.1)


class _Constant(torch.nn.Module):
    def forward(self, x, t):
        return torch.ones_like(x) * t.view((-1,) + (1,) * (x.dim() - 1))


def test_sigma_conditioned_feeds_log_sigma_and_divides_by_sigma():
    x = torch.zeros(3, 1, 8, 8)
    sigma = torch.tensor([0.5, 1.0, 2.0])
    out = SigmaConditioned(_Constant())(x, sigma)  # net returns log σ everywhere
    expected = (torch.log(sigma) / sigma).view(3, 1, 1, 1).expand_as(x)
    assert torch.allclose(out, expected)
    raw = SigmaConditioned(_Constant(), scale_output=False)(x, sigma)
    assert torch.allclose(raw, torch.log(sigma).view(3, 1, 1, 1).expand_as(x))
    mlp = SigmaConditioned(MLP(2, 2, time_embedding=8))
    assert mlp(torch.zeros(5, 2), torch.tensor(3.0)).shape == (5, 2)  # a 0-d σ is broadcast
