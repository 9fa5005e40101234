"""Training on randomly rotated and shifted images (DEC-DA style augmentation)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deepclust import IDEC, AEKMeans, InputError
from deepclust.metrics import cluster_accuracy
from deepclust.nn.augment import random_affine


def bar_images(n: int = 64, side: int = 16) -> torch.Tensor:
    """Flattened images of one bright vertical bar in the middle column."""
    images = torch.zeros(n, 1, side, side)
    images[:, :, 3:-3, side // 2] = 1.0
    return images.reshape(n, -1)


def test_random_affine_moves_each_image_by_a_small_seeded_amount():
    x = bar_images()
    first = random_affine(x, (1, 16, 16), torch.Generator().manual_seed(0))
    again = random_affine(x, (1, 16, 16), torch.Generator().manual_seed(0))
    other = random_affine(x, (1, 16, 16), torch.Generator().manual_seed(1))
    torch.testing.assert_close(first, again)
    assert not torch.allclose(first, other)
    assert first.shape == x.shape
    # Each image moved, but by at most 10% of the width plus the rotation's sway: the bar's
    # centre of mass stays within 3 pixels of the middle column, and the ink is about kept.
    columns = torch.arange(16.0).repeat(16)
    centre = (first * columns).sum(dim=1) / first.sum(dim=1)
    assert (first - x).abs().sum(dim=1).min() > 0
    assert ((centre - 8).abs() <= 3).all()
    torch.testing.assert_close(first.sum(dim=1), x.sum(dim=1), rtol=0.15, atol=0)


def test_auto_augments_images_of_at_least_16_pixels_a_side(digits):
    X, _ = digits
    X = X[:300]
    large = np.kron(X.reshape(-1, 8, 8), np.ones((1, 2, 2), dtype=np.float32)).reshape(len(X), -1)  # 16x16
    params = dict(n_clusters=10, hidden_dims=(64,), embedding_dim=5, pretrain_epochs=3, random_state=0, device="cpu")

    def losses(data, **extra):
        return AEKMeans(**params, **extra).fit(data).history_["pretrain"].losses

    # The same seed and data: only augmentation can make the losses differ.
    assert losses(large, input_shape=(16, 16)) != losses(large)
    assert losses(large, input_shape=(16, 16), augment=False) == losses(large)
    assert losses(X, input_shape=(8, 8)) == losses(X)  # below 16 pixels: auto leaves it alone
    assert losses(X, input_shape=(8, 8), augment=True) != losses(X)
    first = AEKMeans(**params, input_shape=(16, 16)).fit(large)
    again = AEKMeans(**params, input_shape=(16, 16)).fit(large)
    np.testing.assert_array_equal(first.labels_, again.labels_)


def test_augmented_idec_clusters_digits(digits):
    X, y = digits
    model = IDEC(n_clusters=10, input_shape=(8, 8), augment=True, cluster_epochs=20, random_state=0, device="cpu").fit(X)
    assert cluster_accuracy(y, model.labels_) >= 0.75
    np.testing.assert_array_equal(model.predict(X), model.labels_)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (dict(augment=True), "augment=True rotates and shifts images, so it needs input_shape"),
        (dict(augment=True, architecture="temporal", input_shape=(64,)), "architecture 'dense' or 'conv'"),
        (dict(input_shape=(7, 7)), r"input_shape=\(1, 7, 7\) holds 49 values per image, but X has 64 features"),
        (dict(augment="sometimes"), "augment must be one of"),
    ],
)
def test_augmentation_that_cannot_apply_is_refused(digits, params, message):
    X, _ = digits
    with pytest.raises(InputError, match=message):
        AEKMeans(n_clusters=3, pretrain_epochs=1, device="cpu", **params).fit(X[:50])
