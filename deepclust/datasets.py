"""Labelled benchmark data sets, read offline from a local folder.

Every loader returns ``(X, y)``: ``X`` float32 of shape (n_samples, n_features) with
values in [0, 1] (images flattened), ``y`` int64 class labels (for evaluation only).
"""

from __future__ import annotations

import gzip
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np
import sklearn.datasets

from deepclust.errors import InputError

DATASETS = ("digits", "usps", "mnist_test")
#: (height, width) of the image each flattened row holds: pass it as a method's ``input_shape``
#: so that training can augment the images (see ``augment`` in :class:`deepclust.IDEC`).
IMAGE_SHAPES = {"digits": (8, 8), "usps": (16, 16), "mnist_test": (28, 28)}
ENV_VAR = "DEEPCLUST_DATA"

_MNIST_IMAGES = "t10k-images-idx3-ubyte.gz"
_MNIST_LABELS = "t10k-labels-idx1-ubyte.gz"
_USPS_FILE = "usps.npz"
_FILES = {"mnist_test": (_MNIST_IMAGES, _MNIST_LABELS), "usps": (_USPS_FILE,)}


def _dataset_dir(name: str, path: str | os.PathLike | None) -> Path:
    """Find the folder holding data set ``name``.

    ``path`` (or else ``$DEEPCLUST_DATA``) may be the datasets root or the data set's
    own folder; without either, ``shared/datasets`` beside the repository is used.
    """
    base = path if path is not None else os.environ.get(ENV_VAR) or None
    if base is not None:
        root = Path(base).expanduser()
        candidates = [root / name, root]
    else:
        roots = [Path(__file__).resolve().parents[2], Path.cwd().parent]
        candidates = [r / "shared" / "datasets" / name for r in roots]
    for folder in candidates:
        if all((folder / f).is_file() for f in _FILES[name]):
            return folder
    tried = ", ".join(str(c) for c in candidates)
    raise InputError(
        f"data set {name!r} not found: no folder among [{tried}] holds {', '.join(_FILES[name])}; "
        f"pass path= or set {ENV_VAR} to the datasets root"
    )


def _read_idx(file: Path, magic: int) -> np.ndarray:
    """Read a gzipped IDX file of unsigned bytes; ``magic`` fixes the number of dimensions."""
    try:
        with gzip.open(file, "rb") as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as err:
        raise InputError(f"cannot read gzipped IDX file {file}: {err}") from err
    ndim = magic & 0xFF
    header = np.frombuffer(data[: 4 * (ndim + 1)], dtype=">u4")
    if len(header) != ndim + 1 or header[0] != magic:
        found = int(header[0]) if len(header) else None
        raise InputError(f"{file} is not an IDX file: magic number {found}, expected {magic}")
    shape = tuple(int(d) for d in header[1:])
    payload = np.frombuffer(data, dtype=np.uint8, offset=4 * (ndim + 1))
    if payload.size != np.prod(shape):
        raise InputError(
            f"{file} is corrupt: header gives shape {shape} ({int(np.prod(shape))} bytes) "
            f"but the payload has {payload.size} bytes"
        )
    return payload.reshape(shape)


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits: X of shape (1797, 64) scaled to [0, 1], y in 0-9."""
    X, y = sklearn.datasets.load_digits(return_X_y=True)
    return (X / 16).astype(np.float32), y.astype(np.int64)


def load_mnist_test(path: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """MNIST test set from the original gzipped IDX files.

    Parameters
    ----------
    path : str or path-like, optional
        Datasets root or the ``mnist_test`` folder itself; default ``$DEEPCLUST_DATA``,
        then ``shared/datasets`` beside the repository.

    Returns
    -------
    X : ndarray of shape (10000, 784), float32 in [0, 1]
    y : ndarray of shape (10000,), int64 in 0-9
    """
    folder = _dataset_dir("mnist_test", path)
    images = _read_idx(folder / _MNIST_IMAGES, magic=2051)
    labels = _read_idx(folder / _MNIST_LABELS, magic=2049)
    if len(images) != len(labels):
        raise InputError(
            f"{folder}: {len(images)} images but {len(labels)} labels; the files do not match"
        )
    X = images.reshape(len(images), -1).astype(np.float32) / 255
    return X, labels.astype(np.int64)


def load_usps(path: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """USPS handwritten digits (train and test together) from ``usps/usps.npz``.

    Parameters
    ----------
    path : str or path-like, optional
        Datasets root or the ``usps`` folder itself; default ``$DEEPCLUST_DATA``,
        then ``shared/datasets`` beside the repository.

    Returns
    -------
    X : ndarray of shape (9298, 256), float32 in [0, 1]
    y : ndarray of shape (9298,), int64 in 0-9
    """
    file = _dataset_dir("usps", path) / _USPS_FILE
    try:
        with np.load(file) as npz:
            arrays = {key: npz[key] for key in ("images", "labels") if key in npz.files}
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile) as err:
        raise InputError(f"cannot read npz file {file}: {err}") from err
    if len(arrays) != 2:
        raise InputError(f"{file} must hold arrays 'images' and 'labels', found {sorted(arrays)}")
    images, labels = arrays["images"], arrays["labels"]
    if images.ndim < 2 or labels.ndim != 1 or len(images) != len(labels):
        raise InputError(
            f"{file}: 'images' {images.shape} and 'labels' {labels.shape} must have the same "
            "number of rows, with labels 1-D"
        )
    return images.reshape(len(images), -1).astype(np.float32), labels.astype(np.int64)


_LOADERS = {
    "digits": lambda path: load_digits(),
    "usps": load_usps,
    "mnist_test": load_mnist_test,
}


def load(name: str, path: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Load a data set by name (one of :data:`DATASETS`); ``path`` is ignored for "digits"."""
    if name not in DATASETS:
        raise InputError(f"unknown data set {name!r}; valid names: {', '.join(DATASETS)}")
    return _LOADERS[name](path)
