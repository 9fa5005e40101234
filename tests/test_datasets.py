import gzip
import re
import struct
from pathlib import Path

import numpy as np
import pytest

from deepclust import datasets
from deepclust.errors import InputError

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
MNIST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
USPS_COUNTS = [1553, 1269, 929, 824, 852, 716, 834, 792, 708, 821]


def shared_root(name: str) -> Path:
    """The shared datasets root, skipping the test when data set ``name`` is not there."""
    if not (SHARED / name).is_dir():
        pytest.skip(f"shared data set folder {SHARED / name} is absent")
    return SHARED


def write_idx(file: Path, magic: int, array: np.ndarray, payload_cut: int = 0) -> None:
    """Write ``array`` as a gzipped IDX file, dropping the last ``payload_cut`` bytes."""
    payload = array.astype(np.uint8).tobytes()
    header = struct.pack(f">{1 + array.ndim}I", magic, *array.shape)
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_bytes(gzip.compress(header + payload[: len(payload) - payload_cut]))


def write_mnist(root: Path, n: int = 3, image_magic: int = 2051, payload_cut: int = 0) -> Path:
    """A tiny fake ``mnist_test`` folder under ``root``; returns the folder."""
    folder = root / "mnist_test"
    images = np.arange(n * 28 * 28).reshape(n, 28, 28) % 256
    write_idx(folder / "t10k-images-idx3-ubyte.gz", image_magic, images, payload_cut)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", 2049, np.arange(n) % 10)
    return folder


def check_xy(X, y, n, d, counts=None):
    assert X.shape == (n, d) and X.dtype == np.float32
    assert y.shape == (n,) and y.dtype == np.int64
    assert X.min() >= 0.0 and X.max() <= 1.0
    if counts is not None:
        assert np.bincount(y).tolist() == counts


def test_digits():
    X, y = datasets.load_digits()
    check_xy(X, y, 1797, 64)
    assert X.max() == 1.0
    assert np.unique(y).tolist() == list(range(10))


def test_mnist_test_via_argument():
    X, y = datasets.load_mnist_test(shared_root("mnist_test"))
    check_xy(X, y, 10000, 784, MNIST_COUNTS)
    assert X.max() == 1.0


def test_usps_via_argument():
    X, y = datasets.load_usps(shared_root("usps"))
    check_xy(X, y, 9298, 256, USPS_COUNTS)


@pytest.mark.parametrize("name, n", [("mnist_test", 10000), ("usps", 9298)])
def test_path_to_dataset_folder_itself(name, n):
    X, _ = datasets.load(name, shared_root(name) / name)
    assert len(X) == n


@pytest.mark.parametrize("name, n", [("mnist_test", 10000), ("usps", 9298)])
def test_path_from_environment(monkeypatch, name, n):
    monkeypatch.setenv(datasets.ENV_VAR, str(shared_root(name)))
    monkeypatch.chdir("/")
    X, _ = datasets.load(name)
    assert len(X) == n


def test_default_path_without_environment(monkeypatch):
    shared_root("usps")
    monkeypatch.delenv(datasets.ENV_VAR, raising=False)
    _, y = datasets.load_usps()
    assert np.bincount(y).tolist() == USPS_COUNTS


def test_fake_mnist_in_tmp_path(tmp_path):
    write_mnist(tmp_path, n=3)
    X, y = datasets.load_mnist_test(tmp_path)
    check_xy(X, y, 3, 784)
    assert X[0, 255] == np.float32(255 / 255) and X[0, 256] == 0.0
    assert y.tolist() == [0, 1, 2]


def test_missing_folder_names_path(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere"
    with pytest.raises(InputError, match=re.escape(str(missing / "mnist_test"))):
        datasets.load_mnist_test(missing)
    monkeypatch.setenv(datasets.ENV_VAR, str(missing))
    with pytest.raises(InputError, match=re.escape(str(missing / "usps"))):
        datasets.load_usps()


def test_wrong_magic_raises(tmp_path):
    folder = write_mnist(tmp_path, image_magic=3049)
    with pytest.raises(InputError, match="magic number 3049, expected 2051") as info:
        datasets.load_mnist_test(tmp_path)
    assert str(folder / "t10k-images-idx3-ubyte.gz") in str(info.value)


def test_truncated_payload_raises(tmp_path):
    write_mnist(tmp_path, payload_cut=100)
    with pytest.raises(InputError, match="payload has 2252 bytes"):
        datasets.load_mnist_test(tmp_path)


def test_not_gzip_raises(tmp_path):
    folder = write_mnist(tmp_path)
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not a gzip file")
    with pytest.raises(InputError, match="t10k-labels-idx1-ubyte.gz") as info:
        datasets.load_mnist_test(tmp_path)
    assert info.value.__cause__ is not None


def test_truncated_gzip_stream_raises(tmp_path):
    file = write_mnist(tmp_path) / "t10k-images-idx3-ubyte.gz"
    file.write_bytes(file.read_bytes()[:40])
    with pytest.raises(InputError, match="cannot read"):
        datasets.load_mnist_test(tmp_path)


def test_mismatched_mnist_lengths_raise(tmp_path):
    folder = write_mnist(tmp_path, n=3)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", 2049, np.arange(4))
    with pytest.raises(InputError, match="3 images but 4 labels"):
        datasets.load_mnist_test(folder)


def test_bad_usps_files_raise(tmp_path):
    file = tmp_path / "usps" / "usps.npz"
    file.parent.mkdir()
    np.savez(file, images=np.zeros((4, 16, 16), np.float32))
    with pytest.raises(InputError, match="'images' and 'labels'"):
        datasets.load_usps(tmp_path)
    np.savez(file, images=np.zeros((4, 16, 16), np.float32), labels=np.arange(3))
    with pytest.raises(InputError, match="same number of rows"):
        datasets.load_usps(tmp_path)
    file.write_bytes(b"garbage")
    with pytest.raises(InputError, match="cannot read npz") as info:
        datasets.load_usps(tmp_path)
    assert info.value.__cause__ is not None


def test_fake_usps_in_tmp_path(tmp_path):
    images = np.random.default_rng(0).random((5, 16, 16), dtype=np.float32)
    np.savez(tmp_path / "usps.npz", images=images, labels=np.arange(5))
    X, y = datasets.load_usps(tmp_path)
    check_xy(X, y, 5, 256)
    np.testing.assert_array_equal(X, images.reshape(5, 256))


def test_load_dispatcher():
    X, _ = datasets.load("digits")
    assert X.shape == (1797, 64)
    assert set(datasets.DATASETS) == {"digits", "usps", "mnist_test"}
    with pytest.raises(InputError, match="digits, usps, mnist_test"):
        datasets.load("cifar")
