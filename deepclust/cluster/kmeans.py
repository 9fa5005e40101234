"""k-means with scikit-learn's API, on faiss when it is installed.

Lloyd's algorithm runs on a random sample of at most ``max_points_per_cluster`` rows per
cluster (faiss' own default, 256), from k-means++ seeds; one more Lloyd step over all rows
then moves each centre to the mean of all its rows, and every row is assigned to its
nearest centre. Rows are visited in blocks of ``batch_size``, so ``labels_`` and
``inertia_`` describe all the data and memory beyond the data stays bounded by the block. Both
backends start from the same seeds on the same sample and stop by the same rule, so
they agree within floating-point tolerance. faiss assigns rows about twice as fast at 1e6
rows; on the sample the two are about even (docs/benchmarks.md, "Scale").
"""

from __future__ import annotations

from numbers import Integral
from types import ModuleType
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.cluster import KMeans as SklearnKMeans
from sklearn.cluster import kmeans_plusplus
from sklearn.metrics import pairwise_distances_argmin_min
from sklearn.metrics.pairwise import euclidean_distances
from sklearn.utils import check_random_state
from sklearn.utils.random import sample_without_replacement
from sklearn.utils.validation import check_is_fitted

from deepclust._state import get_state, set_state
from deepclust._validation import check_features, check_n_clusters, check_params
from deepclust.errors import InputError

BACKENDS = ("auto", "faiss", "sklearn")

KMEANS_CONSTRAINTS: dict[str, tuple] = {
    "max_iter": (int, 1, None),
    "tol": (float, 0.0, None),
    "batch_size": (int, 1, None),
    "backend": ("choice", BACKENDS),
}


def faiss_module() -> ModuleType | None:
    """The faiss package when installed (``pip install deepclust[fast]``), else None."""
    try:
        import faiss
    except ImportError:
        return None
    return faiss


def nearest_centers(X: np.ndarray, centers: np.ndarray, *, backend: str, batch_size: int = 65536) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest centre of each row and the squared distance to it.

    Works through ``X`` in blocks of ``batch_size`` rows (``X`` may be a memory map), so the
    distance matrix never holds more than ``batch_size * n_centers`` entries.
    """
    labels = np.empty(len(X), dtype=np.int32)
    distances = np.empty(len(X), dtype=np.float32)
    if backend == "faiss":
        index = faiss_module().IndexFlatL2(centers.shape[1])
        index.add(np.ascontiguousarray(centers, dtype=np.float32))
    for start in range(0, len(X), batch_size):
        block = np.ascontiguousarray(X[start : start + batch_size], dtype=np.float32)
        if backend == "faiss":
            squared, nearest = index.search(block, 1)
            squared, nearest = squared[:, 0], nearest[:, 0]
        else:
            nearest, squared = pairwise_distances_argmin_min(block, centers, metric="sqeuclidean")
        labels[start : start + len(block)] = nearest
        # Distances come from ||x||² + ||c||² - 2 x·c, which can round to just below zero.
        distances[start : start + len(block)] = np.maximum(squared, 0)
    return labels, distances


def cluster_means(X: np.ndarray, labels: np.ndarray, centers: np.ndarray, *, batch_size: int = 65536) -> np.ndarray:
    """Mean of the rows of each cluster, summed block by block; an empty cluster keeps its centre."""
    k = len(centers)
    sums = np.zeros(centers.shape, dtype=np.float64)
    for start in range(0, len(X), batch_size):
        block = np.asarray(X[start : start + batch_size], dtype=np.float32)
        rows = labels[start : start + len(block)]
        # Per-cluster sums as one sparse product: (k x rows one-hot) @ block.
        sums += sparse.csr_matrix((np.ones(len(block), dtype=np.float32), (rows, np.arange(len(block)))), shape=(k, len(block))) @ block
    counts = np.bincount(labels, minlength=k)[:, None]
    return np.where(counts > 0, sums / np.maximum(counts, 1), centers).astype(np.float32)


def _lloyd_faiss(X: np.ndarray, centers: np.ndarray, max_iter: int, tol: float) -> tuple[np.ndarray, int]:
    """Lloyd iterations with faiss' nearest-centre search; scikit-learn's stopping rule.

    Stops when the labels no longer change or the centres move less than ``tol`` (summed
    squared shift). An empty cluster restarts at the row farthest from its centre.
    """
    k = len(centers)
    previous = None
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        labels, distances = nearest_centers(X, centers, backend="faiss", batch_size=len(X))
        if previous is not None and np.array_equal(labels, previous):
            break
        new = cluster_means(X, labels, centers, batch_size=len(X))
        empty = np.flatnonzero(np.bincount(labels, minlength=k) == 0)
        if len(empty):
            new[empty] = X[np.argsort(distances)[-len(empty) :]]
        shift = float(((new - centers) ** 2).sum())
        centers, previous = new, labels
        if shift <= tol:
            break
    return centers, n_iter


class KMeans(ClusterMixin, TransformerMixin, BaseEstimator):
    """k-means clustering with scikit-learn's interface, on faiss when it is installed.

    Parameters
    ----------
    n_clusters : int
        Number of clusters.
    n_init : int or "auto"
        Number of k-means++ starts; the one with the lowest inertia on the sample is kept.
        ``"auto"`` means 1, as in scikit-learn for k-means++.
    max_iter : int
        Upper bound on Lloyd iterations of each start.
    tol : float
        Stop when the centres move less than ``tol`` times the mean feature variance
        (summed squared shift), scikit-learn's rule.
    max_points_per_cluster : int or None
        Lloyd's algorithm runs on a random sample of at most ``max_points_per_cluster *
        n_clusters`` rows (faiss' default is 256); None uses every row.
    batch_size : int
        Rows per block when assigning all rows to their nearest centre.
    backend : {"auto", "faiss", "sklearn"}
        ``"auto"``: faiss when installed (``pip install deepclust[fast]``), else scikit-learn.
    random_state : int, RandomState or None
        Seed for the sample and the k-means++ starts.

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features), float32
    labels_ : ndarray of shape (n_samples,), int32
        Nearest centre of every training row.
    inertia_ : float
        Sum of squared distances of every training row to its centre.
    n_iter_ : int
        Lloyd iterations of the start that was kept.
    backend_ : str
        The backend that was used: "faiss" or "sklearn".
    n_features_in_ : int

    Examples
    --------
    >>> from deepclust import KMeans
    >>> from deepclust.datasets import load_digits
    >>> X, _ = load_digits()
    >>> model = KMeans(n_clusters=10, random_state=0).fit(X)
    >>> model.predict(X[:3]).shape
    (3,)
    """

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        n_init: int | str = "auto",
        max_iter: int = 300,
        tol: float = 1e-4,
        max_points_per_cluster: int | None = 256,
        batch_size: int = 65536,
        backend: str = "auto",
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.n_clusters = n_clusters
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.max_points_per_cluster = max_points_per_cluster
        self.batch_size = batch_size
        self.backend = backend
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None) -> KMeans:
        """Find the centres on a sample of ``X``, then assign every row of ``X`` to one."""
        X = check_features(self, X, reset=True)
        k = check_n_clusters(self, len(X))
        check_params(self, KMEANS_CONSTRAINTS)
        n_init = self._check_n_init()
        self.backend_ = self._resolve_backend()
        rng = check_random_state(self.random_state)
        sample = self._sample(X, k, rng)
        tol = float(np.mean(np.var(sample, axis=0))) * self.tol
        best = None
        for _ in range(n_init):
            seed = int(rng.randint(np.iinfo(np.int32).max))
            centers, n_iter = self._lloyd(sample, k, seed, tol)
            inertia = float(nearest_centers(sample, centers, backend=self.backend_, batch_size=self.batch_size)[1].sum(dtype=np.float64))
            if best is None or inertia < best[0]:
                best = (inertia, centers, n_iter)
        _, centers, self.n_iter_ = best
        if len(sample) < len(X):
            # The centres have seen only the sample; one Lloyd step over every row moves each to the
            # mean of all its rows, which removes the sample's noise from the objective.
            labels, _ = nearest_centers(X, centers, backend=self.backend_, batch_size=self.batch_size)
            centers = cluster_means(X, labels, centers, batch_size=self.batch_size)
        self.cluster_centers_ = centers
        self.labels_, distances = nearest_centers(X, centers, backend=self.backend_, batch_size=self.batch_size)
        self.inertia_ = float(distances.sum(dtype=np.float64))
        return self

    def _check_n_init(self) -> int:
        if self.n_init == "auto":
            return 1
        if isinstance(self.n_init, bool) or not isinstance(self.n_init, Integral) or self.n_init < 1:
            raise InputError(f"KMeans: n_init must be a positive integer or 'auto', got {self.n_init!r}")
        return int(self.n_init)

    def _resolve_backend(self) -> str:
        installed = faiss_module() is not None
        if self.backend == "faiss" and not installed:
            raise InputError("KMeans: backend='faiss' needs the faiss package: pip install 'deepclust[fast]' (or faiss-cpu)")
        if self.backend == "auto":
            return "faiss" if installed else "sklearn"
        return self.backend

    def _sample(self, X: np.ndarray, k: int, rng: np.random.RandomState) -> np.ndarray:
        """At most ``max_points_per_cluster * k`` rows drawn without replacement, in file order."""
        limit = self.max_points_per_cluster
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, Integral) or limit < 1):
            raise InputError(f"KMeans: max_points_per_cluster must be a positive integer or None, got {limit!r}")
        if limit is None or limit * k >= len(X):
            return np.ascontiguousarray(X)
        # Sorted indices read a memory-mapped X front to back.
        rows = np.sort(sample_without_replacement(len(X), limit * k, random_state=rng))
        return np.ascontiguousarray(X[rows])

    def _lloyd(self, sample: np.ndarray, k: int, seed: int, tol: float) -> tuple[np.ndarray, int]:
        """One k-means++ start refined by Lloyd's algorithm on the sample."""
        seeds, _ = kmeans_plusplus(sample, k, random_state=seed)
        if self.backend_ == "faiss":
            return _lloyd_faiss(sample, seeds.astype(np.float32), self.max_iter, tol)
        # scikit-learn takes tol relative to the variance and rescales it itself.
        model = SklearnKMeans(k, init=seeds, n_init=1, max_iter=self.max_iter, tol=self.tol, random_state=seed).fit(sample)
        return model.cluster_centers_.astype(np.float32), int(model.n_iter_)

    # ------------------------------------------------------------ using the model
    def _rows(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        return check_features(self, X, reset=False)

    def predict(self, X: Any) -> np.ndarray:
        """Index of the nearest centre of each row of ``X``."""
        return nearest_centers(self._rows(X), self.cluster_centers_, backend=self.backend_, batch_size=self.batch_size)[0]

    def transform(self, X: Any) -> np.ndarray:
        """Euclidean distance of each row of ``X`` to every centre, shape (n_samples, n_clusters)."""
        return euclidean_distances(self._rows(X), self.cluster_centers_)

    def score(self, X: Any, y: Any = None) -> float:
        """Opposite of the inertia of ``X`` (larger is better, as scikit-learn scores are)."""
        _, distances = nearest_centers(self._rows(X), self.cluster_centers_, backend=self.backend_, batch_size=self.batch_size)
        return -float(distances.sum(dtype=np.float64))

    def fit_predict(self, X: Any, y: Any = None) -> np.ndarray:
        return self.fit(X).labels_

    # ------------------------------------------- saving (the format: deepclust.io.models)
    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Centres, labels and the scalars of the fit as JSON metadata and named arrays."""
        return get_state(self)

    def _set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Make this estimator (constructed with the saved parameters) the fitted model that was saved."""
        set_state(self, meta, arrays)
        if self.backend_ == "faiss" and faiss_module() is None:
            self.backend_ = "sklearn"  # saved where faiss was installed, loaded where it is not: same labels
