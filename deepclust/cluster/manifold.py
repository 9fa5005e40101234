"""Clusters on a manifold of an embedding (UMAP, or t-SNE on small data): N2D's clustering (see
:mod:`deepclust.methods.n2d`), and where DEC, IDEC, DCN and VaDE start with ``init="manifold"``.

N2D and DeepHierarchical may also lay out the input itself and keep whichever manifold is more
clustered (``MANIFOLD_SOURCES``)."""

from __future__ import annotations

import hashlib
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from sklearn.metrics import pairwise_distances_argmin, silhouette_score
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import NearestNeighbors

from deepclust.cluster.hierarchical import Hierarchical
from deepclust.cluster.kmeans import cluster_means
from deepclust.train import torch_threads_kept

#: UMAP's layout epochs below ``SMALL_DATA_ROWS`` rows (UMAP's own default), where they are cheap and
#: settle the layout: digits, seeds 0-5, N2D ACC 0.880 -> 0.912 and ward on the manifold 0.849 -> 0.909.
SMALL_DATA_UMAP_EPOCHS = 500
#: ... and from there on: 500 on MNIST-test took 2.4 times as long for the same ACC (0.950 against
#: 0.949, seed 0; USPS 0.965 against 0.964).
UMAP_EPOCHS = 200
SMALL_DATA_ROWS = 5_000
#: UMAP needs a few rows to lay out a manifold at all.
MIN_MANIFOLD_ROWS = 4
#: The manifold learners: ``"auto"`` is t-SNE below ``SMALL_DATA_ROWS`` rows and UMAP from there on.
#: On digits the same mixture found better clusters on t-SNE's 2-d map than on UMAP's layout, in
#: about UMAP's time (3 s): ACC 0.871 against 0.845 (``bench/heads.py --parts manifolds``, seeds
#: 0-2), 0.907 against 0.859 on 12 layouts of 6 embeddings, and whole N2D fits 0.915 against 0.869
#: (seeds 0-5; docs/benchmarks.md). On USPS and MNIST-test t-SNE took 23-26 s against UMAP's 5-6 s
#: (0.961 against 0.964, and 0.935 against 0.899), which would push N2D past a minute there.
MANIFOLDS = ("auto", "umap", "tsne")
#: Where the mixture on the manifold starts. ``"ward"`` (the default): from ward's tree on the layout, cut
#: at the cluster count, one EM run; ``"kmeans"``: scikit-learn's k-means starts, the most likely of
#: ``n_init``. On MNIST-test (AEKMeans seed 0's UMAP layout) five k-means starts all ended in a mixture
#: that merges two digits and splits another (ACC 0.813), ward's start in ACC 0.944 with a higher
#: likelihood; on USPS seeds 0-2 0.965 against 0.964, on 20 t-SNE maps of digits embeddings 0.894
#: against 0.893 with the worst seed 0.868 against 0.812 (docs/benchmarks.md).
MIXTURE_STARTS = ("ward", "kmeans")
#: t-SNE's perplexity (scikit-learn's default); 20, 40 and 50 each scored lower on digits.
TSNE_PERPLEXITY = 30.0
#: What N2D and DeepHierarchical lay out: ``"embedding"``, the autoencoder's (as in N2D's paper);
#: ``"input"``, the rows as given (their first ``INPUT_COMPONENTS`` principal components where they
#: have more features); ``"auto"``: below ``SMALL_DATA_ROWS`` rows both, keeping the one whose
#: clusters have the higher silhouette on their layout (:func:`more_clustered`), from there on the
#: embedding. An autoencoder fitted on a few thousand rows can lose neighbourhoods its input keeps:
#: on digits (1,797 rows of 64 pixels) t-SNE's map and the mixture scored ACC 0.944 on the input
#: against 0.879-0.926 on the embeddings of ten autoencoders, and the silhouette chose the input for
#: all ten; on USPS, MNIST-test and 3,000-row samples of them it chose the embedding every time,
#: which scored 0.80-0.97 against the input's 0.69-0.82 (docs/benchmarks.md). From 5,000 rows the
#: autoencoder has had enough rows there, and the input's layout would cost a second UMAP.
MANIFOLD_SOURCES = ("auto", "embedding", "input")
#: The input is laid out from at most this many principal components (the usual reduction before
#: t-SNE or UMAP), which also keep what a fitted model stores to place new rows small.
INPUT_COMPONENTS = 50
#: New rows reach a manifold through this many nearest training rows: fewer smear a row less across
#: cluster borders (see :class:`deepclust.N2D`).
INTERPOLATION_NEIGHBOURS = 5


def manifold_learner(manifold: str, n_rows: int) -> str:
    """``"umap"`` or ``"tsne"``: the learner that ``manifold`` (one of ``MANIFOLDS``) means for ``n_rows`` rows."""
    if manifold == "auto":
        return "tsne" if n_rows < SMALL_DATA_ROWS else "umap"
    return manifold


def umap_epochs(n_rows: int) -> int:
    """UMAP's layout epochs for a manifold of ``n_rows`` rows."""
    return SMALL_DATA_UMAP_EPOCHS if n_rows < SMALL_DATA_ROWS else UMAP_EPOCHS


#: The last ``KEPT_LAYOUTS`` layouts made, by their inputs, oldest first. ``n_clusters="auto"`` lays out
#: the pretrained embedding for the density criterion, and N2D or ``init="manifold"`` lays out the same
#: rows again when the count chosen is its 10 components; a fit that differs from the last only after
#: pretraining (another ``init``, clustering parameters, a resumed checkpoint) lays out the same
#: embedding; the input's layout (``manifold_of="auto"``) does not depend on the autoencoder at all, so
#: every fit of the same rows and seed lays it out alike. A seeded layout is the same each time, so the
#: second is taken from here.
_kept_layouts: dict[tuple, np.ndarray] = {}
KEPT_LAYOUTS = 4
_kept_layouts_lock = threading.Lock()


def _kept_layout(z: np.ndarray, params: tuple, make: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``make(z)``, or a copy of the layout kept from a recent call with the same rows and ``params``."""
    z = np.ascontiguousarray(z)
    key = (hashlib.blake2b(z.view(np.uint8)).hexdigest(), z.shape, z.dtype.str, *params)
    with _kept_layouts_lock:
        layout = _kept_layouts.get(key)
    if layout is None:
        layout = make(z)
        with _kept_layouts_lock:
            _kept_layouts[key] = layout
            while len(_kept_layouts) > KEPT_LAYOUTS:
                del _kept_layouts[next(iter(_kept_layouts))]
    return layout.copy()


def umap_layout(z: np.ndarray, n_components: int, *, n_neighbors: int, min_dist: float, seed: int) -> np.ndarray:
    """UMAP coordinates of the rows of ``z`` (float32); small inputs (``MIN_MANIFOLD_ROWS`` at least) get the neighbours and components they allow.

    The same inputs twice in a row give the first call's layout (a copy) without laying it out again.
    """
    return _kept_layout(
        z,
        ("umap", n_components, n_neighbors, min_dist, seed),
        lambda z: _new_umap_layout(z, n_components, n_neighbors=n_neighbors, min_dist=min_dist, seed=seed),
    )


def _new_umap_layout(z: np.ndarray, n_components: int, *, n_neighbors: int, min_dist: float, seed: int) -> np.ndarray:
    """UMAP's layout of ``z`` itself (see :func:`umap_layout`)."""
    from umap import UMAP  # imported here: numba compilation makes the import slow

    n_neighbors = min(n_neighbors, len(z) - 1)
    # Exact neighbours from scikit-learn (a tree search in the low-dimensional embedding) spare
    # UMAP its approximate search, whose numba compilation alone took 20 s of every new process.
    distances, neighbours = NearestNeighbors(n_neighbors=n_neighbors).fit(z).kneighbors(z)
    with warnings.catch_warnings(), torch_threads_kept():
        warnings.filterwarnings("ignore", message=".*n_jobs value.*")  # seeded UMAP runs on one thread
        warnings.filterwarnings("ignore", message=".*precomputed_knn.*")  # no search index: none is needed
        layout = UMAP(
            n_components=min(n_components, len(z) - 2),
            n_neighbors=n_neighbors,
            min_dist=min_dist,
            n_epochs=umap_epochs(len(z)),
            precomputed_knn=(neighbours, distances, None),
            random_state=seed,
        ).fit_transform(z)
    return layout.astype(np.float32)


def tsne_layout(z: np.ndarray, *, seed: int) -> np.ndarray:
    """t-SNE's 2-d map of the rows of ``z``, seeded by ``seed``; small inputs get the perplexity they allow.

    In float64: a map spreads over tens of units, and in float32 a mixture's covariance of a few rows
    there (12 random rows, 2 clusters) failed its Cholesky factorisation. Kept as UMAP's layout is.
    """
    return _kept_layout(z, ("tsne", seed), lambda z: _new_tsne_layout(z, seed=seed))


def _new_tsne_layout(z: np.ndarray, *, seed: int) -> np.ndarray:
    """t-SNE's map of ``z`` itself (see :func:`tsne_layout`)."""
    perplexity = min(TSNE_PERPLEXITY, (len(z) - 1) / 3)  # scikit-learn wants fewer than n_samples; 3x keeps it meaningful
    init = "pca" if z.shape[1] >= 2 else "random"  # PCA needs at least as many features as map dimensions
    return TSNE(2, perplexity=perplexity, init=init, random_state=seed).fit_transform(z).astype(np.float64)


def manifold_layout(
    z: np.ndarray,
    n_clusters: int,
    *,
    seed: int,
    manifold: str = "auto",
    n_components: int | None = None,
    n_neighbors: int = 20,
    min_dist: float = 0.0,
) -> np.ndarray:
    """The rows of ``z`` on the manifold ``manifold`` (one of ``MANIFOLDS``): t-SNE's 2-d map, or UMAP's
    ``n_components`` (one per cluster when None) with ``n_neighbors`` and ``min_dist``."""
    if manifold_learner(manifold, len(z)) == "tsne":
        return tsne_layout(z, seed=seed)
    return umap_layout(z, n_components or n_clusters, n_neighbors=n_neighbors, min_dist=min_dist, seed=seed)


def interpolated_layout(rows: np.ndarray, training_rows: np.ndarray, layout: np.ndarray) -> np.ndarray:
    """Manifold coordinates of ``rows`` (embedded, or reduced input: as ``training_rows`` were laid out): the
    inverse-distance mean of the ``layout`` coordinates of their ``INTERPOLATION_NEIGHBOURS`` nearest
    ``training_rows``; a training row keeps its own."""
    k = min(INTERPOLATION_NEIGHBOURS, len(training_rows))
    distances, neighbours = NearestNeighbors(n_neighbors=k).fit(training_rows).kneighbors(rows)
    exact = distances[:, 0] == 0
    weights = 1.0 / np.maximum(distances, 1e-12)
    weights /= weights.sum(axis=1, keepdims=True)
    coordinates = np.einsum("nk,nkd->nd", weights, layout[neighbours])
    coordinates[exact] = layout[neighbours[exact, 0]]
    return coordinates


def manifold_sources(source: str, n_rows: int) -> tuple[str, ...]:
    """What ``source`` (one of ``MANIFOLD_SOURCES``) lays out for ``n_rows`` rows, the embedding first."""
    if source == "auto":
        return ("embedding", "input") if n_rows < SMALL_DATA_ROWS else ("embedding",)
    return (source,)


#: Input rows: an array, or a tensor on any device, which is copied to the host only when the input is laid out.
InputRows = np.ndarray | torch.Tensor


def _on_host(x: InputRows) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x


def layout_rows(source: str, z: np.ndarray, x: InputRows, *, seed: int) -> tuple[np.ndarray, PCA | None]:
    """The rows ``source`` (``"embedding"`` or ``"input"``) lays out, of training rows ``x`` embedded as ``z``, and the
    principal components that reduce the input (None for the embedding, or where ``x`` has few enough features)."""
    if source == "embedding":
        return z, None
    x = _on_host(x)
    components = min(INPUT_COMPONENTS, *x.shape)
    reduction = PCA(components, random_state=seed).fit(x) if x.shape[1] > components else None
    return new_layout_rows(source, z, x, reduction), reduction


def new_layout_rows(source: str, z: np.ndarray, x: InputRows, reduction: PCA | None) -> np.ndarray:
    """Rows ``x``, embedded as ``z``, as :func:`layout_rows` laid out those of ``source`` (float32)."""
    if source == "embedding":
        return z
    x = _on_host(x)
    return (x if reduction is None else reduction.transform(x)).astype(np.float32)


def more_clustered(clusterings: dict[str, tuple[np.ndarray, np.ndarray]]) -> tuple[str, dict[str, float]]:
    """The source whose ``(layout, labels)`` has the highest silhouette, and every source's silhouette (none for one source).

    Silhouettes are comparable between layouts made alike (t-SNE's maps of as many rows, or UMAP's); a
    single cluster scores -1, the worst; on a tie the first source wins.
    """
    if len(clusterings) == 1:
        return next(iter(clusterings)), {}
    scores = {
        source: float(silhouette_score(layout, labels)) if 2 <= len(np.unique(labels)) < len(labels) else -1.0
        for source, (layout, labels) in clusterings.items()
    }
    return max(scores, key=scores.__getitem__), scores


@dataclass(frozen=True, eq=False)
class ManifoldClusters:
    """Outcome of :func:`cluster_on_manifold`.

    Attributes
    ----------
    layout : ndarray of shape (n_samples, n_components)
        Coordinates of the rows on the manifold (UMAP's or t-SNE's).
    mixture : GaussianMixture
        The mixture fitted on ``layout``.
    labels : ndarray of shape (n_samples,)
        The mixture's cluster of each row.
    centres : ndarray of shape (n_clusters, embedding_dim)
        Mean embedding of each cluster's rows (float32); an empty component takes the row
        nearest its mean on the manifold.
    """

    layout: np.ndarray
    mixture: GaussianMixture
    labels: np.ndarray
    centres: np.ndarray


def cluster_on_manifold(
    rows: np.ndarray,
    n_clusters: int,
    *,
    seed: int,
    embedding: np.ndarray | None = None,
    covariance: str = "full",
    init: str = "ward",
    n_init: int = 5,
    **layout_params: Any,
) -> ManifoldClusters:
    """N2D's clustering of ``rows`` (embedded, or the input): a manifold, then a Gaussian mixture.

    The manifold is :func:`manifold_layout`'s, with ``layout_params`` (``manifold``, ``n_components``,
    ``n_neighbors``, ``min_dist``). The mixture starts from ward's clusters on the layout
    (``init="ward"``, see ``MIXTURE_STARTS``), or keeps the most likely of ``n_init`` k-means starts
    (``init="kmeans"``, scikit-learn's, also where the layout has fewer distinct points than clusters).
    The centres are the clusters' means in ``embedding``, the rows' embedding (``rows`` themselves when None).
    """
    z = rows if embedding is None else embedding
    layout = manifold_layout(rows, n_clusters, seed=seed, **layout_params)
    wards = Hierarchical(n_clusters, linkage="ward", random_state=seed).fit(layout) if init == "ward" else None
    # Ward never splits identical rows: with fewer distinct points on the layout than clusters it finds
    # fewer clusters (n_clusters_), leaving components without a mean to start from; k-means' start takes over.
    if wards is not None and wards.n_clusters_ == n_clusters:
        mixture = mixture_from_clusters(layout, wards.labels_, n_clusters, covariance, seed=seed)
    else:
        mixture = GaussianMixture(n_clusters, covariance_type=covariance, n_init=n_init, random_state=seed).fit(layout)
    labels = mixture.predict(layout)
    # An empty component's centre is the embedding of the row nearest its mean on the manifold.
    nearest_rows = pairwise_distances_argmin(mixture.means_, layout)
    return ManifoldClusters(layout, mixture, labels, cluster_means(z, labels, z[nearest_rows]))


def mixture_from_clusters(X: np.ndarray, labels: np.ndarray, n_clusters: int, covariance: str, *, seed: int) -> GaussianMixture:
    """A Gaussian mixture fitted to ``X`` by EM from the clusters ``labels``: their shares, means and covariances."""
    dims = X.shape[1]
    counts = np.bincount(labels, minlength=n_clusters).astype(np.float64)
    means = np.stack([X[labels == c].mean(axis=0) for c in range(n_clusters)])
    regularised = np.eye(dims) * GaussianMixture().reg_covar  # scikit-learn's floor on every covariance
    covariances = np.stack([np.cov(X[labels == c], rowvar=False, bias=True).reshape(dims, dims) for c in range(n_clusters)])
    covariances += regularised
    precisions = {
        "full": lambda: np.linalg.inv(covariances),
        "tied": lambda: np.linalg.inv(np.einsum("k,kij->ij", counts / counts.sum(), covariances)),
        "diag": lambda: 1.0 / np.diagonal(covariances, axis1=1, axis2=2),
        "spherical": lambda: 1.0 / np.diagonal(covariances, axis1=1, axis2=2).mean(axis=1),
    }[covariance]()
    mixture = GaussianMixture(
        n_clusters, covariance_type=covariance, weights_init=counts / counts.sum(), means_init=means,
        precisions_init=precisions, random_state=seed,
    ).fit(X)
    # The start is spent: a fitted mixture without it saves as plain parameters, like a k-means-started one.
    return mixture.set_params(weights_init=None, means_init=None, precisions_init=None)


@dataclass(frozen=True, eq=False)
class ChosenManifold:
    """Outcome of :func:`cluster_on_chosen_manifold`.

    Attributes
    ----------
    source : {"embedding", "input"}
        What the kept clustering's manifold was laid out from.
    scores : dict
        Silhouette of each source's clusters on its layout; empty where only one was laid out.
    rows : ndarray of shape (n_samples, n_dims)
        The rows laid out: the embedding, or the reduced input.
    reduction : sklearn.decomposition.PCA or None
        The principal components that reduced the input (see :func:`layout_rows`).
    clusters : ManifoldClusters
        The kept clustering; its centres are mean embeddings either way.
    """

    source: str
    scores: dict[str, float]
    rows: np.ndarray
    reduction: PCA | None
    clusters: ManifoldClusters


def cluster_on_chosen_manifold(
    z: np.ndarray, x: InputRows, n_clusters: int, *, seed: int, source: str = "auto", **params: Any
) -> ChosenManifold:
    """N2D's clustering (:func:`cluster_on_manifold` with ``params``) of each layout ``source`` (one of
    ``MANIFOLD_SOURCES``) means for the training rows ``x`` embedded as ``z``; the more clustered is kept."""
    candidates = {}
    for name in manifold_sources(source, len(z)):
        rows, reduction = layout_rows(name, z, x, seed=seed)
        candidates[name] = (rows, reduction, cluster_on_manifold(rows, n_clusters, seed=seed, embedding=z, **params))
    chosen, scores = more_clustered({name: (c[2].layout, c[2].labels) for name, c in candidates.items()})
    return ChosenManifold(chosen, scores, *candidates[chosen])
