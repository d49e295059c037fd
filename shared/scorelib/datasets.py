"""Data sets of the book. Nothing is downloaded: data are generated, or ship with a package.

- :func:`digits` — scikit-learn's 8×8 handwritten digits (1,797 images shipped with the package),
  scaled to [-1, 1], with a fixed train/test split.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from scorelib.errors import ConfigError

#: The digits split is fixed once for the whole book (independent of any chapter's seed).
DIGITS_SPLIT_SEED = 20190101
DIGITS_TEST_FRACTION = 0.2


def digits(split: Literal["train", "test", "all"] = "train", dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    """scikit-learn's ``load_digits`` as images ``[n, 1, 8, 8]`` in [-1, 1] and labels ``[n]`` (int64).

    Pixel values 0..16 map to v/8 - 1. The split is a fixed permutation (seed
    :data:`DIGITS_SPLIT_SEED`): the last 20% (359 images) are ``"test"``, the rest (1,438) ``"train"``.
    """
    if split not in ("train", "test", "all"):
        raise ConfigError(f"unknown digits split {split!r}; choose 'train', 'test' or 'all'")
    from sklearn.datasets import load_digits  # shipped with scikit-learn: no download

    data = load_digits()
    images = torch.as_tensor(data.images, dtype=torch.float64).unsqueeze(1) / 8.0 - 1.0  # [1797, 1, 8, 8]
    labels = torch.as_tensor(data.target, dtype=torch.int64)
    if split == "all":
        return images.to(dtype), labels
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(DIGITS_SPLIT_SEED))
    n_test = round(DIGITS_TEST_FRACTION * len(labels))
    idx = order[-n_test:] if split == "test" else order[:-n_test]
    return images[idx].to(dtype), labels[idx]
