"""Shared fixtures: small real data, loaded once per session."""

from __future__ import annotations

import os

# Before NumPy, torch, scikit-learn or faiss load their OpenMP runtimes: idle OpenMP threads then
# sleep instead of spinning. On cores shared with other processes the spinning made
# tests/test_kmeans.py + tests/test_scale.py take 50-69 s instead of 11 s (2 cores, load 4-5).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from deepclust.datasets import load_digits


@pytest.fixture(scope="session")
def digits() -> tuple[np.ndarray, np.ndarray]:
    return load_digits()


@pytest.fixture(scope="session")
def blobs() -> tuple[np.ndarray, np.ndarray]:
    """Four well-separated Gaussian clusters in 20 dimensions (known structure)."""
    from sklearn.datasets import make_blobs

    X, y = make_blobs(n_samples=400, n_features=20, centers=4, cluster_std=1.0, random_state=0)
    return X.astype(np.float32), y


@pytest.fixture
def one_torch_thread():
    """Small networks train many times faster on one thread than on two busy cores (and the same
    on every machine: results do not depend on how many cores CI has). Use with
    ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
