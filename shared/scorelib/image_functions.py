"""Images as functions (Dutordoir et al. 2022, §5.3; the talk's *Experiment: image regression* slide).

An H×W grey-scale image is the function from pixel coordinates to intensity: pixel (i, j) sits at
``x = (-2 + 4 j/(W-1), 2 - 4 i/(H-1))`` in [-2, 2]² (x₁ left → right, x₂ top → bottom) and has value
y ∈ [0, 1]. A batch of images becomes a :class:`~scorelib.datasets.FunctionBatch` with ``x [n, H·W, 2]``
(the same grid for every image) and ``y [n, H·W]``, pixels in row-major order.

- :func:`pixel_grid`, :func:`images_to_functions`, :func:`functions_to_images`;
- :func:`digits_images` — scikit-learn's shipped 8×8 digits in [0, 1] (the book's fixed split);
- :func:`mnist_images` — MNIST 28×28 from a local folder (nothing is downloaded; a clear error names the
  expected files when they are absent);
- :func:`context_mask` — which pixels are observed: a random fraction, or the top/bottom/left/right half.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor

from scorelib.datasets import FunctionBatch, digits
from scorelib.errors import ConfigError, MissingDataError

#: The inputs span [-2, 2]² (as the NDP regression data span [-2, 2]).
COORD_RANGE = (-2.0, 2.0)
MNIST_FILES = {"train": "train-images-idx3-ubyte", "test": "t10k-images-idx3-ubyte"}
MaskKind = Literal["random", "top", "bottom", "left", "right"]
MASK_KINDS: tuple[str, ...] = ("random", "top", "bottom", "left", "right")


def pixel_grid(height: int, width: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """Pixel coordinates ``[H·W, 2]`` in row-major order: (x₁, x₂) = (column, -row) mapped onto [-2, 2]²."""
    lo, hi = COORD_RANGE
    cols = torch.linspace(lo, hi, width, dtype=torch.float64)
    rows = torch.linspace(hi, lo, height, dtype=torch.float64)
    r, c = torch.meshgrid(rows, cols, indexing="ij")
    return torch.stack([c.reshape(-1), r.reshape(-1)], -1).to(dtype)


def images_to_functions(images: Tensor) -> FunctionBatch:
    """``images [n, H, W]`` (or ``[n, 1, H, W]``) with values in [0, 1] → a FunctionBatch on the pixel grid."""
    if images.dim() == 4 and images.shape[1] == 1:
        images = images[:, 0]
    if images.dim() != 3:
        raise ConfigError(f"need images [n, H, W] or [n, 1, H, W], got {tuple(images.shape)}")
    n, h, w = images.shape
    x = pixel_grid(h, w, images.dtype).to(images.device).expand(n, h * w, 2)
    y = images.reshape(n, h * w)
    return FunctionBatch(x, y, torch.ones(n, h * w, dtype=torch.bool, device=images.device))


def functions_to_images(y: Tensor, height: int, width: int) -> Tensor:
    """Values ``[..., H·W]`` in row-major pixel order → ``[..., H, W]``."""
    return y.reshape(*y.shape[:-1], height, width)


def digits_images(split: Literal["train", "test", "all"] = "train", dtype: torch.dtype = torch.float32) -> Tensor:
    """scikit-learn's 8×8 digits ``[n, 8, 8]`` with intensities in [0, 1] (0..16 → v/16), the fixed split of
    :func:`scorelib.datasets.digits`."""
    images, _ = digits(split, torch.float64)
    return ((images[:, 0] + 1) / 2).to(dtype)


def _read_idx_images(path: Path) -> Tensor:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    magic, n, h, w = (int.from_bytes(data[i:i + 4], "big") for i in range(0, 16, 4))
    if magic != 2051 or len(data) != 16 + n * h * w:
        raise MissingDataError(f"{path} is not an MNIST image file (idx3-ubyte, magic 2051 and {n}×{h}×{w} bytes); "
                               "re-download it from the MNIST page")
    return torch.frombuffer(bytearray(data[16:]), dtype=torch.uint8).reshape(n, h, w)


def mnist_images(folder: str | Path, split: Literal["train", "test"] = "train",
                 dtype: torch.dtype = torch.float32) -> Tensor:
    """MNIST ``[n, 28, 28]`` in [0, 1] from a local folder holding ``train-images-idx3-ubyte`` and/or
    ``t10k-images-idx3-ubyte`` (optionally ``.gz``), the files of the MNIST distribution. Nothing is
    downloaded: a missing folder or file raises :class:`MissingDataError` naming what to put where."""
    if split not in MNIST_FILES:
        raise ConfigError(f"unknown MNIST split {split!r}; choose 'train' or 'test'")
    folder = Path(folder)
    name = MNIST_FILES[split]
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return (_read_idx_images(candidate).to(torch.float64) / 255.0).to(dtype)
    raise MissingDataError(f"MNIST {split} images not found: expected {folder / name} or {folder / name}.gz. "
                           "Download the four idx files of MNIST (e.g. from the dataset's home page or a mirror) "
                           "into that folder; nothing is downloaded at run time. The chapter uses scikit-learn's "
                           "8×8 digits when no MNIST folder is given.")


def context_mask(kind: str, height: int, width: int, *, n: int = 1, fraction: float = 0.5,
                 generator: torch.Generator | None = None) -> Tensor:
    """Observed pixels ``[n, H·W]`` (bool, row-major). ``"random"``: exactly round(fraction·H·W) pixels chosen
    uniformly per image (needs ``generator``); ``"top"``/``"bottom"``: the upper/lower H/2 rows;
    ``"left"``/``"right"``: the left/right W/2 columns (the same for every image)."""
    if kind not in MASK_KINDS:
        raise ConfigError(f"unknown context mask {kind!r}; choose one of {', '.join(MASK_KINDS)}")
    p = height * width
    if kind == "random":
        if not 0 < fraction < 1:
            raise ConfigError(f"the context fraction must lie in (0, 1), got {fraction}")
        if generator is None:
            raise ConfigError("a random context mask needs a generator")
        k = round(fraction * p)
        order = torch.rand(n, p, generator=generator, device=generator.device).argsort(-1)
        return torch.zeros(n, p, dtype=torch.bool, device=generator.device).scatter_(1, order[:, :k], True)
    rows = torch.arange(height)[:, None].expand(height, width)
    cols = torch.arange(width)[None, :].expand(height, width)
    half = {"top": rows < height // 2, "bottom": rows >= height - height // 2,
            "left": cols < width // 2, "right": cols >= width - width // 2}[kind]
    return half.reshape(1, p).expand(n, p).clone()
