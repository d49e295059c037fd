"""The shared figure helpers: tiling, image panels, density contours."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scorelib.claims import markdown_table
from scorelib.errors import ConfigError
from scorelib.plotting import density_contours, figure, show_image, tile_images


def test_tile_images_places_each_image_and_the_gaps():
    imgs = torch.arange(5 * 2 * 3, dtype=torch.float64).reshape(5, 2, 3)
    canvas = tile_images(imgs, cols=2, gap=1, fill=-1.0)
    assert canvas.shape == (3 * 3 - 1, 2 * 4 - 1)
    np.testing.assert_array_equal(canvas[3:5, 4:7], imgs[3].numpy())  # row 1, column 1
    np.testing.assert_array_equal(canvas[2, :], -1.0)  # the gap between rows
    np.testing.assert_array_equal(canvas[6:8, 4:7], -1.0)  # the empty sixth slot
    no_gap = tile_images(imgs[:4], cols=2)
    np.testing.assert_array_equal(no_gap, imgs[:4].reshape(2, 2, 2, 3).permute(0, 2, 1, 3).reshape(4, 6).numpy())
    with pytest.raises(ConfigError, match=r"\[k, h, w\]"):
        tile_images(imgs[0], cols=2)


def test_show_image_and_density_contours_draw():
    fig, axes = figure(ncols=2)
    show_image(axes[0, 0], torch.rand(8, 8), vmin=0.0, vmax=1.0, title="x")
    assert axes[0, 0].get_xticks().size == 0 and axes[0, 0].get_title() == "x"
    log_p = lambda x: -0.5 * (x**2).sum(-1)  # noqa: E731
    cs = density_contours(axes[0, 1], log_p, 3.0, n=41, levels=[-2.0, -1.0])
    assert list(cs.levels) == [-2.0, -1.0]
    cs = density_contours(axes[0, 1], log_p, (-3.0, 3.0), n=41, density=True, levels=[0.5])
    assert list(cs.levels) == [0.5]


def test_markdown_table_escapes_pipes():
    md = markdown_table(["a", "b"], [[1, "x|y"]])
    assert md == "| a | b |\n|---|---|\n| 1 | x\\|y |"
