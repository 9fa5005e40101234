"""Shared fixtures: small real data, loaded once per session."""

from __future__ import annotations

import numpy as np
import pytest

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
