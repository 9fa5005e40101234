"""Clustering metrics: external (against known classes) and internal (geometry only)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import (
    adjusted_rand_score,
    calinski_harabasz_score,
    davies_bouldin_score,
    normalized_mutual_info_score,
    silhouette_score,
)
from sklearn.metrics.cluster import contingency_matrix

from deepclust.errors import InputError


def _check_labels(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Return both labellings as arrays after checking they are 1-D, non-empty and aligned."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.ndim != 1 or y_pred.ndim != 1:
        raise InputError(
            f"y_true and y_pred must be 1-D, got shapes {y_true.shape} and {y_pred.shape}"
        )
    if len(y_true) != len(y_pred):
        raise InputError(
            f"y_true and y_pred must have the same length, got {len(y_true)} and {len(y_pred)}"
        )
    if len(y_true) == 0:
        raise InputError("y_true and y_pred are empty (length 0); need at least one sample")
    return y_true, y_pred


def _contingency(y_true: ArrayLike, y_pred: ArrayLike) -> np.ndarray:
    """Counts with one row per predicted cluster and one column per true class."""
    y_true, y_pred = _check_labels(y_true, y_pred)
    return contingency_matrix(y_pred, y_true)


def cluster_accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Accuracy under the best one-to-one matching of clusters to classes.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        Class and cluster labels; any hashable, sortable values.

    Returns
    -------
    float
        Fraction of samples whose cluster is matched to their class (Hungarian
        matching). When the numbers of clusters and classes differ, samples in
        unmatched clusters count as wrong.
    """
    counts = _contingency(y_true, y_pred)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return float(counts[rows, cols].sum() / counts.sum())


def purity(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Fraction of samples belonging to the majority class of their cluster.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        Class and cluster labels.

    Returns
    -------
    float
        Purity in (0, 1]; never below :func:`cluster_accuracy`.
    """
    counts = _contingency(y_true, y_pred)
    return float(counts.max(axis=1).sum() / counts.sum())


def normalized_mutual_info(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Normalized mutual information (arithmetic mean normalisation, scikit-learn default).

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        Class and cluster labels.

    Returns
    -------
    float
        NMI in [0, 1].
    """
    y_true, y_pred = _check_labels(y_true, y_pred)
    return float(normalized_mutual_info_score(y_true, y_pred, average_method="arithmetic"))


def adjusted_rand(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Adjusted Rand index.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        Class and cluster labels.

    Returns
    -------
    float
        ARI; 1 for identical partitions, about 0 for random ones.
    """
    y_true, y_pred = _check_labels(y_true, y_pred)
    return float(adjusted_rand_score(y_true, y_pred))


def external_scores(y_true: ArrayLike, y_pred: ArrayLike) -> dict[str, float]:
    """All external scores of a clustering against known classes.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        Class and cluster labels.

    Returns
    -------
    dict
        Keys ``"acc"``, ``"nmi"``, ``"ari"``, ``"purity"``.
    """
    return {
        "acc": cluster_accuracy(y_true, y_pred),
        "nmi": normalized_mutual_info(y_true, y_pred),
        "ari": adjusted_rand(y_true, y_pred),
        "purity": purity(y_true, y_pred),
    }


def _scorable(labels: np.ndarray) -> bool:
    """Whether internal scores are defined: 2 <= number of labels < number of samples."""
    return 2 <= len(np.unique(labels)) < len(labels)


def internal_scores(
    embedding: ArrayLike,
    labels: ArrayLike,
    sample_size: int = 5000,
    random_state: int | None = 0,
) -> dict[str, float]:
    """Silhouette, Calinski-Harabasz and Davies-Bouldin scores of a clustering.

    Parameters
    ----------
    embedding : array-like of shape (n_samples, n_features)
        Points that were clustered.
    labels : array-like of shape (n_samples,)
        Cluster label of each point.
    sample_size : int, default=5000
        Silhouette is computed on a random subsample of at most this many rows.
    random_state : int or None, default=0
        Seed for the silhouette subsample.

    Returns
    -------
    dict
        Keys ``"silhouette"``, ``"calinski_harabasz"``, ``"davies_bouldin"``; all
        NaN when there are fewer than 2 distinct labels or as many labels as samples.
    """
    embedding, labels = np.asarray(embedding, dtype=float), np.asarray(labels)
    if embedding.ndim != 2 or labels.ndim != 1 or len(embedding) != len(labels):
        raise InputError(
            "embedding must be 2-D (n_samples, n_features) and labels 1-D of length n_samples, "
            f"got shapes {embedding.shape} and {labels.shape}"
        )
    if not np.isfinite(embedding).all():
        raise InputError("embedding contains NaN or infinite values")
    is_int = isinstance(sample_size, (int, np.integer)) and not isinstance(sample_size, bool)
    if not is_int or sample_size < 2:
        raise InputError(f"sample_size must be an integer >= 2, got {sample_size!r}")
    nan = float("nan")
    if not _scorable(labels):
        return {"silhouette": nan, "calinski_harabasz": nan, "davies_bouldin": nan}

    rng = np.random.default_rng(random_state)
    rows = rng.choice(len(labels), size=min(sample_size, len(labels)), replace=False)
    sub_x, sub_labels = embedding[rows], labels[rows]
    return {
        "silhouette": float(silhouette_score(sub_x, sub_labels)) if _scorable(sub_labels) else nan,
        "calinski_harabasz": float(calinski_harabasz_score(embedding, labels)),
        "davies_bouldin": float(davies_bouldin_score(embedding, labels)),
    }
