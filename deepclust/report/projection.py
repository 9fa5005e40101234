"""The 2-D map of an embedding: UMAP (umap-learn), t-SNE or PCA on a bounded sample of rows."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.decomposition import PCA

from deepclust.errors import InputError
from deepclust.train import torch_threads_kept

MAP_METHODS = ("umap", "tsne", "pca")
#: A subsampled map keeps at least this many rows of every cluster (all rows of a smaller one).
MIN_ROWS_PER_CLUSTER = 20


@dataclass(frozen=True)
class Map2D:
    """Coordinates of the rows ``rows`` (indices into the full data) and how they were made."""

    coordinates: np.ndarray
    rows: np.ndarray
    method: str
    n_total: int

    @property
    def subsampled(self) -> bool:
        return len(self.rows) < self.n_total


def map_2d(
    embedding: np.ndarray, *, labels: np.ndarray | None = None, method: str = "umap", max_points: int = 5000, random_state: int = 0
) -> Map2D:
    """Project about ``max_points`` rows (a uniform random sample, sorted) of ``embedding`` to 2-D.

    Given ``labels``, the sample is topped up to ``MIN_ROWS_PER_CLUSTER`` rows of every cluster, so
    that no small cluster is missing from the map. A 2-D embedding is shown as it is. UMAP keeps
    local neighbourhoods and is the default; t-SNE does too but is slower; PCA is a linear view,
    instant at any size.
    """
    if method not in MAP_METHODS:
        raise InputError(f"map method must be one of {list(MAP_METHODS)}, got {method!r}")
    embedding = np.asarray(embedding, dtype=np.float32)
    n = len(embedding)
    rows = _sample_rows(n, labels, max_points, np.random.default_rng(random_state)) if n > max_points else np.arange(n)
    sample = embedding[rows]
    if sample.shape[1] <= 2:
        coordinates = np.pad(sample, ((0, 0), (0, 2 - sample.shape[1])))
        return Map2D(coordinates, rows, "the embedding itself (2-D)", n)
    if method == "pca" or len(sample) < 16:  # too few rows for a neighbour graph
        return Map2D(PCA(2, random_state=random_state).fit_transform(sample), rows, "PCA", n)
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = min(30.0, (len(sample) - 1) / 3)
        coordinates = TSNE(2, perplexity=perplexity, init="pca", random_state=random_state).fit_transform(sample)
        return Map2D(coordinates, rows, "t-SNE", n)
    import umap

    with warnings.catch_warnings(), torch_threads_kept():
        # "n_jobs overridden by setting random_state": reproducibility is the point
        warnings.simplefilter("ignore", UserWarning)
        reducer = umap.UMAP(n_components=2, n_neighbors=min(15, len(sample) - 1), random_state=random_state)
        coordinates = reducer.fit_transform(sample)
    return Map2D(np.asarray(coordinates), rows, "UMAP", n)


def _sample_rows(n: int, labels: np.ndarray | None, max_points: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted rows: ``max_points`` drawn uniformly, plus rows of each cluster the draw left below ``MIN_ROWS_PER_CLUSTER``."""
    chosen = np.zeros(n, dtype=bool)
    chosen[rng.choice(n, size=max_points, replace=False)] = True
    for cluster in np.unique(labels) if labels is not None else ():
        members = np.flatnonzero(labels == cluster)
        missing = min(MIN_ROWS_PER_CLUSTER, len(members)) - int(chosen[members].sum())
        if missing > 0:
            chosen[rng.choice(members[~chosen[members]], size=missing, replace=False)] = True
    return np.flatnonzero(chosen)
