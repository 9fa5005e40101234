"""Random small rotations and shifts of image batches, for training on image-shaped rows.

Guo et al. (2018), "Deep Embedded Clustering with Data Augmentation" (DEC-DA): training the
autoencoder and the clustering loss on randomly rotated and shifted copies teaches the
embedding that a digit moved by a pixel is the same digit. On MNIST-test (seed 0) it raised
k-means on the pretrained embedding from ACC 0.70 to 0.77 and IDEC from 0.72 to 0.87.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from deepclust.errors import InputError

MAX_ROTATION_DEGREES = 10.0  # DEC-DA's rotation range
MAX_SHIFT = 0.1  # fraction of the height and width, DEC-DA's shift range


def random_affine(x: torch.Tensor, shape: Sequence[int], generator: torch.Generator) -> torch.Tensor:
    """Rotate each image of a flattened batch by up to ±10° and shift it by up to ±10% of its size.

    ``shape`` is ``(channels, height, width)`` of one row. The draws come from ``generator``
    (on the CPU), so a seeded fit is repeatable; the whole batch is resampled by one
    ``grid_sample`` on its own device. Pixels moved in from outside repeat the border.
    """
    n = len(x)
    angle = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(MAX_ROTATION_DEGREES)
    # affine_grid's coordinates span [-1, 1], so a shift by a fraction f of the size is 2f.
    shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * 2 * MAX_SHIFT
    cos, sin = angle.cos(), angle.sin()
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], dim=1), torch.stack([sin, cos, shift[:, 1]], dim=1)], dim=1
    ).to(device=x.device, dtype=x.dtype)
    images = x.reshape(n, *shape)
    grid = F.affine_grid(theta, [n, *shape], align_corners=False)
    return F.grid_sample(images, grid, align_corners=False, padding_mode="border").reshape(n, -1)


def training_rows(
    data: torch.Tensor, shape: Sequence[int] | None, generator: torch.Generator
) -> Callable[[torch.Tensor], torch.Tensor]:
    """How a training step gets its batch: ``indices -> data[indices]``, rotated and shifted
    by :func:`random_affine` when ``shape`` (an image's) is given. Resolved once per phase."""
    if shape is None:
        return data.__getitem__
    return lambda indices: random_affine(data[indices], shape, generator)


def image_shape(input_shape: Sequence[int], n_features: int) -> tuple[int, int, int]:
    """``(channels, height, width)`` from ``(height, width)`` or ``(channels, height, width)``, checked against the rows."""
    if len(input_shape) not in (2, 3):
        raise InputError(f"input_shape of an image must be (height, width) or (channels, height, width), got {tuple(input_shape)!r}")
    shape = tuple(int(s) for s in input_shape)
    shape = shape if len(shape) == 3 else (1, *shape)
    if math.prod(shape) != n_features:
        raise InputError(f"input_shape={shape} holds {math.prod(shape)} values per image, but X has {n_features} features")
    return shape
