"""Choosing the number of clusters on an embedding by an internal criterion or by stability."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from numbers import Integral

import numpy as np
from numpy.typing import ArrayLike
from sklearn.cluster import KMeans
from sklearn.metrics import (
    adjusted_rand_score,
    calinski_harabasz_score,
    davies_bouldin_score,
    silhouette_score,
)
from sklearn.mixture import GaussianMixture
from sklearn.utils import check_array

from deepclust._validation import check_count, check_k_range
from deepclust.cluster.density import density_scores
from deepclust.errors import InputError
from deepclust.train import seed_from

#: ``"auto"`` keeps silhouette's choice where its best average silhouette shows "reasonable
#: structure" (at least 0.5, Kaufman & Rousseeuw 1990), else it asks the density criterion.
#: Measured: on Gaussian blobs (3-15 centres, raw or an autoencoder's embedding) silhouette's
#: best was 0.61-0.94 and its k exact, while density split a blob in two on some embeddings;
#: on the autoencoder embeddings of digits, USPS and MNIST-test it was 0.21-0.30, where
#: silhouette picked 2-13 and density 9-10.
CLEAR_SILHOUETTE = 0.5

#: Criterion name -> whether a higher score is better (None: "auto" picks one of two criteria).
#: The only list of valid names.
CRITERIA: dict[str, bool | None] = {
    "auto": None,
    "density": False,
    "silhouette": True,
    "calinski_harabasz": True,
    "davies_bouldin": False,
    "bic": False,
    "stability": True,
}


@dataclass(frozen=True, eq=False)
class KSelection:
    """Outcome of :func:`select_n_clusters`.

    Attributes
    ----------
    best_k : int
        Number of clusters with the best score; the largest such k on a tie.
    criterion : str
        Criterion the scores come from.
    scores : dict of int to float
        Score of every k tried (NaN where k-means found fewer than k clusters: too few distinct points).
    labels : ndarray of shape (n_samples,)
        Labelling at ``best_k``: k-means, or the Gaussian mixture for ``"bic"``.
    """

    best_k: int
    criterion: str
    scores: dict[int, float]
    labels: np.ndarray


def select_n_clusters(
    Z: ArrayLike,
    k_range: tuple[int, int] = (2, 20),
    *,
    criterion: str = "auto",
    random_state: int | np.random.RandomState | None = None,
    n_init: int = 3,
    sample_size: int = 5000,
    n_resamples: int = 10,
) -> KSelection:
    """Pick the number of clusters of ``Z`` by ``criterion``.

    Every k from ``k_range[0]`` to ``k_range[1]`` (both included, as the estimators' ``k_range``)
    is a candidate:

    - ``"silhouette"`` (higher is better), ``"calinski_harabasz"`` (higher),
      ``"davies_bouldin"`` (lower): the score of a k-means clustering.
    - ``"bic"`` (lower): Bayesian information criterion of a full-covariance Gaussian mixture.
      Each cluster has d(d+1)/2 covariance parameters, so BIC needs many points per cluster:
      on 3 blobs of 40 points in 10-d it picked k=8, whose near-singular components fit
      too well; with 60 or more points per blob it picked 3.
    - ``"stability"`` (higher): k-means is fitted on ``n_resamples`` bootstrap resamples,
      each fit labels all points, and the score is the mean adjusted Rand index over all
      pairs of these labellings.
    - ``"density"``: the dense groups of a UMAP layout of ``Z``, joined where ``Z``'s own
      neighbours cross between them (:mod:`deepclust.cluster.density`); a score is the largest
      affinity left between the k clusters, and k is where it falls below the join level.
    - ``"auto"`` (the default): silhouette's choice where its best score shows clear structure
      (``CLEAR_SILHOUETTE``, 0.5), else density's. ``KSelection.criterion`` says which decided.

    Exact score ties go to the largest k: splitting well-separated groups coarsely is as stable
    as the true split (both score an ARI of 1), so stability would otherwise favour small k.

    Measured (k in 2..20; ``python bench/heads.py --parts autok`` for the deep embeddings): on
    well-separated blobs in 10-d with 3, 7 and 15 centres every criterion found the true k; on the
    autoencoder embeddings of digits, USPS and MNIST-test silhouette picked 2-14 (USPS often 2),
    while density picked 9-10 on all nine (seeds 0-2). Silhouette is the fastest (1-4 s there);
    density lays out a UMAP manifold (4-11 s); BIC took 11 s on digits.

    The candidate clusterings of the scoring criteria stay k-means on ``Z``. Gaussian mixtures on a
    10-d UMAP layout of ``Z``, still scored by silhouette on ``Z``, were measured against them
    (``python bench/heads.py --parts candidates``): within 10 +- 1 in 16 of 27 selections against
    13 of 27, for 5 times the time: no clear gain.

    Parameters
    ----------
    Z : array-like of shape (n_samples, n_features)
        Points to cluster, typically an embedding.
    k_range : (int, int), default=(2, 20)
        ``(low, high)``: the numbers of clusters tried, both included; ``2 <= low <= high < n_samples``.
    criterion : {"auto", "density", "silhouette", "calinski_harabasz", "davies_bouldin", "bic", \
"stability"}, default="auto"
        How k is chosen.
    random_state : int, RandomState or None, default=None
        Seeds k-means, the mixtures, the silhouette subsample, the resamples and density's UMAP
        layout; an int makes the result reproducible. An int is the seed itself, as the
        estimators pass theirs: N2D and ``init="manifold"`` then find density's layout ready
        (:func:`~deepclust.cluster.manifold.umap_layout`) when the count chosen is 10 and
        their manifold is UMAP's (5,000 rows or more).
    n_init : int, default=3
        Restarts of each k-means or Gaussian mixture fit; the best is kept.
    sample_size : int, default=5000
        Silhouette is computed on a random subsample of at most this many points, which keeps
        large data (1e5 points) fast.
    n_resamples : int, default=10
        Bootstrap resamples per k for ``"stability"``; at least 2.

    Returns
    -------
    KSelection
        ``best_k``, the ``scores`` of every k and the ``labels`` at ``best_k``.

    Raises
    ------
    InputError
        If ``Z`` is not a finite 2-D numeric array, ``k_range`` is not a pair ``2 <= low <= high``
        below ``n_samples``, ``criterion`` is unknown, or a count parameter is out of range.
    """
    if criterion not in CRITERIA:
        raise InputError(f"criterion must be one of {list(CRITERIA)}, got {criterion!r}")
    Z = _check_embedding(Z)
    ks = check_k_range(k_range, len(Z), "select_n_clusters", data="Z")
    for name, value, low in (("n_init", n_init, 1), ("sample_size", sample_size, 2), ("n_resamples", n_resamples, 2)):
        check_count(value, name, low)

    seed = seed_from(random_state)  # also refuses a negative or too large int
    if isinstance(random_state, Integral) and not isinstance(random_state, bool):
        seed = int(random_state)  # the seed itself (see random_state above)
    if criterion == "density":
        return _by_density(Z, ks, seed, n_init)
    if criterion == "auto":
        by_silhouette = _by_scores(Z, ks, "silhouette", seed, n_init, sample_size, n_resamples)
        if by_silhouette.scores[by_silhouette.best_k] >= CLEAR_SILHOUETTE:
            return by_silhouette
        return _by_density(Z, ks, seed, n_init)
    return _by_scores(Z, ks, criterion, seed, n_init, sample_size, n_resamples)


def _by_density(Z: np.ndarray, ks: range, seed: int, n_init: int) -> KSelection:
    """The ``"density"`` criterion (:mod:`deepclust.cluster.density`); labels: k-means at its k."""
    distinct = len(np.unique(Z, axis=0))
    if distinct < ks.start:
        raise InputError(f"Z has {distinct} distinct point(s), too few distinct points for any k in ({ks.start}, {ks.stop - 1})")
    scores, best_k = density_scores(Z, ks, seed)
    best_k = min(best_k, distinct)
    labels = KMeans(best_k, n_init=n_init, random_state=seed).fit_predict(Z)
    return KSelection(best_k=best_k, criterion="density", scores=scores, labels=labels)


def _by_scores(Z: np.ndarray, ks: range, criterion: str, seed: int, n_init: int, sample_size: int, n_resamples: int) -> KSelection:
    """The k whose clustering scores best under one of the scoring criteria."""
    scores, labellings = {}, {}
    for k in ks:
        if criterion == "bic":
            mixture = GaussianMixture(k, n_init=n_init, random_state=seed).fit(Z)
            scores[k], labellings[k] = float(mixture.bic(Z)), mixture.predict(Z)
            continue
        labels = KMeans(k, n_init=n_init, random_state=seed).fit_predict(Z)
        labellings[k] = labels
        if len(np.unique(labels)) < k:  # too few distinct points for k clusters
            scores[k] = float("nan")
        elif criterion == "silhouette":
            size = sample_size if sample_size < len(Z) else None
            scores[k] = float(silhouette_score(Z, labels, sample_size=size, random_state=seed))
        elif criterion == "calinski_harabasz":
            scores[k] = float(calinski_harabasz_score(Z, labels))
        elif criterion == "davies_bouldin":
            scores[k] = float(davies_bouldin_score(Z, labels))
        else:
            scores[k] = _stability(Z, k, n_init, n_resamples, seed)

    valid = {k: s for k, s in scores.items() if not np.isnan(s)}
    if not valid:
        raise InputError(f"no k in ({ks.start}, {ks.stop - 1}) gave k distinct clusters; Z has too few distinct points to choose k")
    pick = max if CRITERIA[criterion] else min
    best_k = pick(reversed(valid), key=valid.get)  # a tie goes to the largest k
    return KSelection(best_k=best_k, criterion=criterion, scores=scores, labels=labellings[best_k])


def _check_embedding(Z: ArrayLike) -> np.ndarray:
    """A finite 2-D float array with at least 2 rows; every failure is an InputError."""
    if np.ndim(Z) != 2:
        raise InputError(f"Z must be 2-D (n_samples, n_features), got {np.ndim(Z)}-D input")
    try:
        return check_array(Z, dtype=[np.float64, np.float32], ensure_min_samples=2)
    except (TypeError, ValueError) as err:  # TypeError: a sparse matrix
        raise InputError(f"Z: {err}") from err


def _stability(Z: np.ndarray, k: int, n_init: int, n_resamples: int, seed: int) -> float:
    """Mean pairwise ARI of the labellings of all of Z by k-means fitted on bootstrap resamples."""
    rng = np.random.default_rng([seed, k])
    labellings = []
    for _ in range(n_resamples):
        rows = rng.integers(len(Z), size=len(Z))
        model = KMeans(k, n_init=n_init, random_state=int(rng.integers(np.iinfo(np.int32).max)))
        labellings.append(model.fit(Z[rows]).predict(Z))
    return float(np.mean([adjusted_rand_score(a, b) for a, b in combinations(labellings, 2)]))
