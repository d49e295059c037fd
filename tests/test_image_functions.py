"""Images as functions: the pixel grid, round trips, context masks, MNIST's clear errors; and the plain attention
noise model's symmetry over pixels."""

from __future__ import annotations

import gzip

import pytest
import torch

from scorelib.errors import ConfigError, MissingDataError
from scorelib.image_functions import (context_mask, digits_images, functions_to_images, images_to_functions,
                                      mnist_images, pixel_grid)
from scorelib.nets import PointAttention


def test_pixel_grid_corners_and_order():
    g = pixel_grid(8, 8, torch.float64)
    assert g.shape == (64, 2)
    torch.testing.assert_close(g[0], torch.tensor([-2.0, 2.0], dtype=torch.float64))  # top-left
    torch.testing.assert_close(g[7], torch.tensor([2.0, 2.0], dtype=torch.float64))  # top-right: row-major
    torch.testing.assert_close(g[-1], torch.tensor([2.0, -2.0], dtype=torch.float64))  # bottom-right


def test_digits_round_trip_in_unit_interval():
    imgs = digits_images("test")
    assert imgs.shape[1:] == (8, 8) and float(imgs.min()) == 0.0 and float(imgs.max()) == 1.0
    fb = images_to_functions(imgs[:5])
    assert fb.x.shape == (5, 64, 2) and fb.y.shape == (5, 64) and bool(fb.mask.all())
    torch.testing.assert_close(functions_to_images(fb.y, 8, 8), imgs[:5])
    # the value at the top-left coordinate is the top-left pixel
    assert float(fb.y[0, 0]) == float(imgs[0, 0, 0])


def test_images_to_functions_rejects_bad_shapes():
    with pytest.raises(ConfigError, match=r"\[n, H, W\]"):
        images_to_functions(torch.zeros(8, 8))


@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.5, 0.75])
def test_random_masks_observe_the_fraction(fraction):
    m = context_mask("random", 8, 8, n=20, fraction=fraction, generator=torch.Generator().manual_seed(0))
    assert m.shape == (20, 64) and m.dtype == torch.bool
    assert (m.sum(-1) == round(fraction * 64)).all()
    assert len({tuple(r.tolist()) for r in m}) > 1  # a different subset per image


def test_half_masks():
    top = context_mask("top", 8, 8, n=2).reshape(2, 8, 8)
    left = context_mask("left", 8, 8).reshape(1, 8, 8)
    assert top[:, :4].all() and not top[:, 4:].any()
    assert left[:, :, :4].all() and not left[:, :, 4:].any()
    bottom = context_mask("bottom", 8, 8).reshape(8, 8)
    assert bool((bottom == ~top[0]).all())


def test_mask_errors():
    with pytest.raises(ConfigError, match="unknown context mask"):
        context_mask("diagonal", 8, 8)
    with pytest.raises(ConfigError, match=r"\(0, 1\)"):
        context_mask("random", 8, 8, fraction=1.5, generator=torch.Generator())
    with pytest.raises(ConfigError, match="generator"):
        context_mask("random", 8, 8, fraction=0.5)


def test_mnist_missing_names_the_files(tmp_path):
    with pytest.raises(MissingDataError, match="train-images-idx3-ubyte") as err:
        mnist_images(tmp_path)
    assert "nothing is downloaded" in str(err.value)
    with pytest.raises(ConfigError, match="unknown MNIST split"):
        mnist_images(tmp_path, "valid")


def _idx(n: int, h: int, w: int, pixels: bytes) -> bytes:
    return b"".join(v.to_bytes(4, "big") for v in (2051, n, h, w)) + pixels


def test_mnist_reads_idx_files_plain_and_gzipped(tmp_path):
    pixels = bytes(i % 256 for i in range(2 * 28 * 28))
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx(2, 28, 28, pixels)))
    imgs = mnist_images(tmp_path, "test")
    assert imgs.shape == (2, 28, 28) and float(imgs.max()) == 1.0 and float(imgs[0, 0, 1]) == pytest.approx(1 / 255)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(_idx(2, 28, 28, pixels[:100]))  # truncated
    with pytest.raises(MissingDataError, match="not an MNIST image file"):
        mnist_images(tmp_path, "train")


def _random_point_attention(distance_bias: bool = True) -> PointAttention:
    torch.manual_seed(0)
    net = PointAttention(dim=2, hidden=16, layers=2, heads=4, frequencies=3, distance_bias=distance_bias).double().eval()
    torch.nn.init.normal_(net.head[-1].weight, std=0.5)  # the zero head would make every check trivial
    return net


@pytest.mark.parametrize("distance_bias", [False, True])
def test_point_attention_is_equivariant_to_the_pixel_order(distance_bias):
    net = _random_point_attention(distance_bias)
    g = torch.Generator().manual_seed(1)
    x = pixel_grid(4, 4, torch.float64).expand(3, -1, -1)
    y = torch.randn(3, 16, generator=g, dtype=torch.float64)
    t = torch.tensor([2.0, 40.0, 300.0], dtype=torch.float64)
    perm = torch.randperm(16, generator=g)
    with torch.no_grad():
        out, out_p = net(x, y, t), net(x[:, perm], y[:, perm], t)
    assert float(out.abs().max()) > 1e-3
    torch.testing.assert_close(out_p, out[:, perm], atol=1e-5, rtol=0)
    # but not invariant to swapping the two coordinates: rows and columns are different things in an image
    with torch.no_grad():
        swapped = net(x.flip(-1), y, t)
    assert float((swapped - out).abs().max()) > 1e-4


@pytest.mark.parametrize("distance_bias", [False, True])
def test_point_attention_ignores_masked_points(distance_bias):
    net = _random_point_attention(distance_bias)
    g = torch.Generator().manual_seed(2)
    x = pixel_grid(4, 4, torch.float64).expand(2, -1, -1)
    y = torch.randn(2, 16, generator=g, dtype=torch.float64)
    mask = torch.ones(2, 16, dtype=torch.bool)
    mask[:, 10:] = False
    y2 = y.clone()
    y2[:, 10:] = 100.0
    with torch.no_grad():
        a, b = net(x, y, 5.0, mask), net(x, y2, 5.0, mask)
        c = net(x[:, :10], y[:, :10], 5.0)
    torch.testing.assert_close(a[:, :10], b[:, :10], atol=1e-10, rtol=0)
    torch.testing.assert_close(a[:, :10], c, atol=1e-10, rtol=0)


def test_an_all_true_mask_is_bitwise_the_same_as_none_forward_and_backward():
    """The distance-bias model drops a mask that hides nothing (on the CPU): the same outputs and gradients, bit for
    bit, as the masked call it replaces (float32, as the chapter trains)."""
    torch.manual_seed(0)
    nets = [PointAttention(dim=2, hidden=16, layers=2, heads=4, frequencies=3, distance_bias=True) for _ in range(2)]
    torch.nn.init.normal_(nets[0].head[-1].weight, std=0.5)  # the zero head would make the check trivial
    nets[1].load_state_dict(nets[0].state_dict())
    g = torch.Generator().manual_seed(3)
    x = pixel_grid(4, 4).expand(3, -1, -1)
    y = torch.randn(3, 16, generator=g)
    t = torch.tensor([2.0, 40.0, 300.0])
    outs = [nets[0](x, y, t, torch.ones(3, 16, dtype=torch.bool)), nets[1](x, y, t)]
    assert torch.equal(outs[0], outs[1]) and float(outs[0].detach().abs().max()) > 1e-3
    for out in outs:
        out.square().sum().backward()
    for a, b in zip(nets[0].parameters(), nets[1].parameters()):
        assert torch.equal(a.grad, b.grad)


def test_point_attention_bad_input():
    net = PointAttention(dim=2, hidden=8, layers=1, heads=2)
    with pytest.raises(ConfigError, match=r"x \[batch, points, 2\]"):
        net(torch.zeros(1, 5, 1), torch.zeros(1, 5), 1.0)
    with pytest.raises(ConfigError, match="divisible"):
        PointAttention(hidden=10, heads=8)


def test_fourier_features_separate_neighbouring_pixels():
    net = PointAttention(dim=2, hidden=8, layers=1, heads=2, frequencies=3)
    f = net.features(pixel_grid(8, 8).unsqueeze(0))[0]
    assert f.shape == (64, 2 * (1 + 2 * 3))
    torch.testing.assert_close(f[:, :2], pixel_grid(8, 8))
    with pytest.raises(ConfigError, match="frequencies"):
        PointAttention(frequencies=-1)


def test_distance_bias_makes_local_heads_local():
    """With the bias, a head with a large scale attends to near points: moving a far point barely matters."""
    torch.manual_seed(0)
    net = PointAttention(dim=2, hidden=16, layers=1, heads=4, distance_bias=True).double().eval()
    torch.nn.init.normal_(net.head[-1].weight, std=0.5)
    with torch.no_grad():
        net.blocks[0].log_scale.fill_(torch.log(torch.tensor(50.0)))  # every head very local
    x = pixel_grid(4, 4, torch.float64).unsqueeze(0)
    y = torch.randn(1, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    y_far = y.clone()
    y_far[0, 15] += 5.0  # the bottom-right pixel, far from the top-left one
    with torch.no_grad():
        change = (net(x, y_far, 10.0) - net(x, y, 10.0)).abs()[0]
    assert float(change[0]) < 1e-6 < float(change[15])
