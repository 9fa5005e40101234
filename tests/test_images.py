"""Image front end: folders of files, decoding, bad files, ResNet-18 features, one-call clustering."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import deepclust
from deepclust.datasets import load_digits, load_mnist_test
from deepclust.embed import ImageEncoder, cluster_images
from deepclust.errors import InputError
from deepclust.io.images import read_image_folder
from deepclust.metrics import cluster_accuracy
from deepclust.nn.resnet import ResNet18Features

N_IMAGES = 300


def digit_images() -> tuple[np.ndarray, np.ndarray]:
    """28x28 uint8 digits: the MNIST test set from shared/datasets, or where a checkout has no
    shared folder, scikit-learn's 8x8 digits enlarged to 28x28 (so the tests run everywhere)."""
    try:
        X, y = load_mnist_test()
        return (X.reshape(-1, 28, 28) * 255).round().astype(np.uint8), y
    except InputError:
        X, y = load_digits()
        small = (X.reshape(-1, 8, 8) * 255).round().astype(np.uint8)
        return np.stack([np.asarray(Image.fromarray(im).resize((28, 28), Image.BILINEAR)) for im in small]), y


@pytest.fixture(scope="module")
def mnist_folder(tmp_path_factory):
    """300 MNIST test digits as PNG files ``<class>/<row>.png``; returns (folder, uint8 digits, classes)."""
    all_images, y = digit_images()
    rows = np.random.default_rng(0).choice(len(all_images), N_IMAGES, replace=False)
    folder = tmp_path_factory.mktemp("mnist_png")
    images = all_images[rows]
    for row, image, label in zip(rows, images, y[rows]):
        (folder / str(label)).mkdir(exist_ok=True)
        Image.fromarray(image).save(folder / str(label) / f"{row:05d}.png")
    return folder, dict(zip(rows.tolist(), images)), y[rows]


def write_rgb(path, size, colour):
    Image.new("RGB", size, colour).save(path)


# ------------------------------------------------------------------ folders and decoding
def test_folder_with_class_subfolders_gives_paths_and_labels(mnist_folder):
    folder, _, y = mnist_folder
    paths, labels, class_names = read_image_folder(folder)
    assert len(paths) == N_IMAGES and paths == sorted(paths)
    assert class_names == [str(d) for d in range(10)]
    assert sorted(labels.tolist()) == sorted(y.tolist())
    assert all(class_names[label] in path for path, label in zip(paths, labels))


def test_pixels_are_channels_first_in_unit_range_with_conv_parameters(mnist_folder):
    folder, digits, _ = mnist_folder
    paths, _, _ = read_image_folder(folder)
    encoder = ImageEncoder()
    X = encoder.fit_transform(paths)
    assert X.shape == (N_IMAGES, 784) and X.dtype == np.float32
    assert encoder.method_params_ == {"architecture": "conv", "input_shape": (1, 28, 28)}
    expected = np.stack([digits[int(Path(p).stem)] for p in paths]).reshape(N_IMAGES, -1) / 255
    np.testing.assert_allclose(X, expected, atol=1e-6)  # PNG is lossless, rows in the folder's order
    assert encoder.skipped_ == {}


def test_resize_and_colour_conversion_of_mixed_files_and_arrays(tmp_path):
    write_rgb(tmp_path / "a.jpg", (40, 30), (255, 0, 0))
    write_rgb(tmp_path / "b.png", (20, 20), (0, 0, 255))
    Image.new("L", (10, 12), 128).save(tmp_path / "c.bmp")
    paths, labels, _ = read_image_folder(tmp_path)
    assert labels is None and [p.rsplit("/", 1)[1] for p in paths] == ["a.jpg", "b.png", "c.bmp"]
    rgb = ImageEncoder(image_size=(8, 16)).fit(paths)
    X = rgb.transform(paths).reshape(3, 3, 8, 16)
    assert rgb.input_shape_ == (3, 8, 16)
    np.testing.assert_allclose(X[0].mean(axis=(1, 2)), [1, 0, 0], atol=0.02)  # red, channels first
    np.testing.assert_allclose(X[2].mean(axis=(1, 2)), [128 / 255] * 3, atol=0.01)  # grey repeated
    grey = ImageEncoder(image_size=8, color="grey").fit_transform(paths)
    assert grey.shape == (3, 64)
    array = np.zeros((2, 30, 40, 3), dtype=np.uint8)
    array[..., 1] = 255
    out = ImageEncoder(image_size=(15, 20), color="grey").fit_transform(array)
    np.testing.assert_allclose(out, 0.587, atol=1e-3)  # luma of pure green, resized


def test_corrupt_files_are_skipped_with_a_warning_and_labelled_minus_one(tmp_path, mnist_folder, one_torch_thread):
    _, digits, _ = mnist_folder
    for i, image in enumerate(list(digits.values())[:40]):
        Image.fromarray(image).save(tmp_path / f"{i:03d}.png")
    good = (tmp_path / "000.png").read_bytes()
    (tmp_path / "010a_truncated.png").write_bytes(good[: len(good) // 2])
    (tmp_path / "020a_text.png").write_text("not an image")
    (tmp_path / "030a_empty.jpg").write_bytes(b"")
    paths, _, _ = read_image_folder(tmp_path)
    bad = {paths.index(str(tmp_path / name)) for name in ("010a_truncated.png", "020a_text.png", "030a_empty.jpg")}
    encoder = ImageEncoder()
    with pytest.warns(UserWarning, match=r"skipped 3 unreadable image file\(s\): .*010a_truncated\.png"):
        X = encoder.fit_transform(paths)
    assert set(encoder.skipped_) == bad and X.shape == (43, 784) and np.isfinite(X).all()
    with pytest.warns(UserWarning, match="skipped 3 unreadable"):
        labels = cluster_images(tmp_path, n_clusters=3, method="aekmeans", pretrain_epochs=2)
    assert (labels[sorted(bad)] == -1).all() and (labels[[i for i in range(43) if i not in bad]] >= 0).all()


def test_folder_without_images_names_the_folder_and_what_it_holds(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InputError, match=r"holds no image files .* found 1 other files, e\.g\. notes\.txt") as info:
        read_image_folder(tmp_path)
    assert str(tmp_path) in str(info.value)
    with pytest.raises(InputError, match="is not a folder"):
        cluster_images(tmp_path / "missing")
    (tmp_path / "broken.png").write_text("not an image")
    with pytest.raises(InputError, match=r"none of the 1 image files could be read; first failure: .*broken\.png"):
        cluster_images(tmp_path)


# ------------------------------------------------------------------ clustering
def test_cluster_images_from_png_folder_recovers_digits(mnist_folder, one_torch_thread):
    folder, _, _ = mnist_folder
    paths, y, _ = read_image_folder(folder)
    # Small batches: enough optimiser steps on 300 images in 20 epochs (the default 256 x 50 gives 0.51, 4x slower).
    labels = deepclust.cluster_images(folder, n_clusters=10, method="aekmeans", pretrain_epochs=20, batch_size=32, random_state=0)
    assert labels.shape == (N_IMAGES,) and set(labels) <= set(range(10))
    # Measured 0.63 with seeds 0 and 1 (conv autoencoder + k-means); chance is about 0.12.
    assert cluster_accuracy(y, labels) >= 0.5


# ------------------------------------------------------------------ ResNet-18 and saved state
@pytest.fixture
def resnet_weights(tmp_path):
    """A random-weight state dict in torchvision's layout, classifier included, saved to a .pth file."""
    torch.manual_seed(0)
    state = ResNet18Features().state_dict()
    state["fc.weight"], state["fc.bias"] = torch.randn(1000, 512), torch.zeros(1000)
    file = tmp_path / "resnet18.pth"
    torch.save(state, file)
    return file


def test_resnet18_features_from_a_local_weights_file_and_state_round_trip(mnist_folder, resnet_weights):
    folder, _, _ = mnist_folder
    paths, _, _ = read_image_folder(folder)
    encoder = ImageEncoder("resnet18", weights=resnet_weights, image_size=32).fit(paths[:12])
    X = encoder.transform(paths[:12])
    assert X.shape == (12, 512) and X.dtype == np.float32 and np.isfinite(X).all()
    assert encoder.method_params_ == {"architecture": "dense"} and encoder.input_shape_ == (1, 32, 32)
    meta, arrays = encoder._get_state()
    restored = ImageEncoder(**encoder.get_params())
    restored._set_state(json.loads(json.dumps(meta)), arrays)
    np.testing.assert_array_equal(restored.transform(paths[:12]), X)


def test_pixel_encoder_state_round_trip(mnist_folder):
    folder, _, _ = mnist_folder
    paths, _, _ = read_image_folder(folder)
    encoder = ImageEncoder(image_size=20).fit(paths[:5])
    meta, arrays = encoder._get_state()
    restored = ImageEncoder(**encoder.get_params())
    restored._set_state(json.loads(json.dumps(meta)), arrays)
    np.testing.assert_array_equal(restored.transform(paths[5:15]), encoder.transform(paths[5:15]))
    assert restored.method_params_ == encoder.method_params_


def test_resnet18_needs_a_fitting_local_weights_file(tmp_path, mnist_folder):
    folder, _, _ = mnist_folder
    paths, _, _ = read_image_folder(folder)
    with pytest.raises(InputError, match=r"needs weights=.* never downloaded"):
        ImageEncoder("resnet18").fit(paths)
    with pytest.raises(InputError, match=r"does not exist"):
        ImageEncoder("resnet18", weights=tmp_path / "nope.pth").fit(paths)
    torch.save({"layer.weight": torch.zeros(2, 2)}, tmp_path / "other.pth")
    with pytest.raises(InputError, match=r"do not fit torchvision's resnet18"):
        ImageEncoder("resnet18", weights=tmp_path / "other.pth").fit(paths)
