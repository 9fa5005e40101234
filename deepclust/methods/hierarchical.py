"""DeepHierarchical: pretrain an autoencoder, then agglomerative clustering of N2D's manifold of its embedding
(or, on small data, of its input, where that is more clustered; or of the embedding itself)."""

from __future__ import annotations

import os

import numpy as np
import torch

from deepclust.checkpoint import Checkpoint
from deepclust.cluster.hierarchical import Hierarchical, check_leaves, check_linkage_metric
from deepclust.cluster.kmeans import cluster_means
from deepclust.cluster.manifold import (
    MANIFOLD_SOURCES,
    MANIFOLDS,
    MIN_MANIFOLD_ROWS,
    interpolated_layout,
    manifold_layout,
    manifold_sources,
    more_clustered,
    new_layout_rows,
    layout_rows,
)
from deepclust.errors import InputError
from deepclust.methods.base import DeepClusterer
from deepclust.registry import register


#: Where DeepHierarchical builds its tree: N2D's manifold of the embedding (as N2D lays it out), or "none": the embedding itself.
TREE_SPACES = (*MANIFOLDS, "none")


@register(
    "hierarchical", "Autoencoder pretraining, then hierarchical (agglomerative) clustering of N2D's manifold of the embedding."
)
class DeepHierarchical(DeepClusterer):
    """Autoencoder + hierarchical clustering (scikit-learn API).

    The tree is built by :class:`~deepclust.cluster.Hierarchical` on N2D's manifold of the
    embedding (``manifold``; see :class:`~deepclust.N2D`), or of the input where that is more
    clustered (``manifold_of``), or on the embedding itself with ``manifold="none"``, and cut
    into ``n_clusters``, or into fewer when there are fewer distinct rows (with a
    ``ConvergenceWarning``; ``n_clusters_`` is then the number found).
    ``labels_`` and ``predict`` both use the tree's rule: the label of the nearest
    representative (a training row's own leaf, or its k-means micro-cluster when there are
    more than ``max_points`` rows), new rows reaching the manifold by N2D's interpolation, so
    ``predict(X_train) == labels_``.

    Ward's tree on the manifold found the clusters far better than on the embedding (one
    autoencoder each, seed 0, ACC): USPS 0.965 against 0.759, MNIST-test 0.936 against 0.762;
    digits 0.898 against 0.820 over seeds 0-2 (docs/benchmarks.md). The manifold costs UMAP's
    layout (6 s on 10,000 rows, 92 s on 100,000) or t-SNE's below 5,000 rows (3 s on digits).

    Parameters
    ----------
    manifold_of : {"auto", "embedding", "input"}
        What the manifold is laid out from, as in :class:`~deepclust.N2D`: ``"auto"`` compares the
        embedding's and the input's below 5,000 rows and keeps the one where the tree's clusters
        have the higher silhouette (``manifold_scores_``).
    manifold : {"auto", "umap", "tsne", "none"}
        Where the tree is built: N2D's manifold of the embedding (``"auto"``: t-SNE's 2-d map
        below 5,000 rows, else UMAP with one component per cluster, 20 neighbours and
        ``min_dist=0``), or ``"none"``: the embedding itself. Below 4 rows no manifold can be
        laid out, and the embedding is used.
    linkage : {"ward", "single", "complete", "average"}
        Linkage of the tree; ward needs ``metric="euclidean"``.
    metric : {"euclidean", "cosine", "correlation", "mahalanobis"}
        Distance between rows where the tree is built: their manifold coordinates, or their embedding.
    max_points : int
        Largest number of tree leaves; larger data is first condensed by k-means.

    The other parameters are those of :class:`~deepclust.methods.base.DeepClusterer`.

    Attributes
    ----------
    hierarchical_ : Hierarchical
        The fitted tree (``linkage_matrix_``, ``representatives_``, ...) on the manifold (or the embedding).
    manifold_ : ndarray of shape (n_samples, n_components) or None
        Coordinates of the training rows on the manifold; None when the tree is on the embedding.
    manifold_of_ : {"embedding", "input"} or None
        What ``manifold_`` was laid out from; None without one.
    manifold_scores_ : dict
        Silhouette of the tree's clusters on each layout compared; empty where at most one was laid out.
    manifold_rows_ : ndarray of shape (n_samples, n_dims) or None
        The training rows as they were laid out (embedded, or the reduced input), which place new
        rows on the manifold; None without one.
    input_reduction_ : sklearn.decomposition.PCA or None
        The principal components that reduce the input before its layout (see :class:`~deepclust.N2D`).
    n_clusters_ : int
        Number of clusters found: ``n_clusters`` (or the ``"auto"`` choice) unless the
        embedding has fewer distinct rows.
    cluster_centers_ : ndarray of shape (n_clusters_, embedding_dim), float32
        Mean embedding of each cluster.

    Examples
    --------
    >>> from deepclust import DeepHierarchical
    >>> from deepclust.datasets import load_digits
    >>> X, y = load_digits()
    >>> labels = DeepHierarchical(n_clusters=10, pretrain_epochs=5, random_state=0).fit_predict(X)
    """

    # linkage and metric: check_linkage_metric in check_parameters
    _constraints = {"max_points": (int, 2, None), "manifold_of": ("choice", MANIFOLD_SOURCES), "manifold": ("choice", TREE_SPACES)}
    _state_classes = (Hierarchical,)

    def __init__(
        self,
        n_clusters: int | str = 10,
        *,
        k_range: tuple[int, int] = (2, 20),
        k_criterion: str = "auto",
        hidden_dims: tuple[int, ...] = (500, 500, 2000),
        embedding_dim: int = 10,
        architecture: str = "dense",
        input_shape: tuple[int, ...] | None = None,
        noise: float = 0.0,
        augment: bool | str = "auto",
        pretrain_epochs: int | str = "auto",
        manifold_of: str = "auto",
        manifold: str = "auto",
        linkage: str = "ward",
        metric: str = "euclidean",
        max_points: int = 5000,
        batch_size: int = 256,
        lr: float = 1e-3,
        precision: str = "auto",
        device: str = "auto",
        random_state: int | np.random.RandomState | None = None,
        verbose: bool = False,
        checkpoint: str | os.PathLike | None = None,
    ) -> None:
        super().__init__(
            n_clusters,
            k_range=k_range,
            k_criterion=k_criterion,
            hidden_dims=hidden_dims,
            embedding_dim=embedding_dim,
            architecture=architecture,
            input_shape=input_shape,
            noise=noise,
            augment=augment,
            pretrain_epochs=pretrain_epochs,
            batch_size=batch_size,
            lr=lr,
            precision=precision,
            device=device,
            random_state=random_state,
            verbose=verbose,
            checkpoint=checkpoint,
        )
        self.manifold_of = manifold_of
        self.manifold = manifold
        self.linkage = linkage
        self.metric = metric
        self.max_points = max_points

    def check_parameters(self) -> torch.device:
        check_linkage_metric(self)
        device = super().check_parameters()
        if self.manifold == "none" and self.manifold_of == "input":
            raise InputError(
                "DeepHierarchical: manifold_of='input' lays out a manifold of the input, but manifold='none' builds the tree "
                "on the embedding without one; pass manifold='auto' (or 'umap', 'tsne') to use the input's manifold"
            )
        return device

    def _check_before_training(self, n_samples: int) -> None:
        check_leaves(self)

    def _cluster(self, data: torch.Tensor, generator: torch.Generator, seed: int, checkpoint: Checkpoint | None) -> None:
        z = self._embed(data).cpu().numpy()
        self.manifold_of_ = self.manifold_rows_ = self.input_reduction_ = self.manifold_ = None
        self.manifold_scores_: dict[str, float] = {}
        if self.manifold == "none" or len(z) < MIN_MANIFOLD_ROWS:
            self.hierarchical_ = self._tree(seed).fit(z)
        else:
            candidates = {}
            for source in manifold_sources(self.manifold_of, len(z)):
                rows, reduction = layout_rows(source, z, data, seed=seed)
                layout = manifold_layout(rows, self.n_clusters_, seed=seed, manifold=self.manifold)
                candidates[source] = (rows, reduction, layout, self._tree(seed).fit(layout))
            self.manifold_of_, self.manifold_scores_ = more_clustered({s: (c[2], c[3].labels_) for s, c in candidates.items()})
            self.manifold_rows_, self.input_reduction_, self.manifold_, self.hierarchical_ = candidates[self.manifold_of_]
        self.n_clusters_ = self.hierarchical_.n_clusters_
        # Centres live in the autoencoder's embedding, like every method's; every cluster of the cut holds rows.
        self.cluster_centers_ = cluster_means(z, self.hierarchical_.labels_, np.zeros((self.n_clusters_, z.shape[1]), np.float32))

    def _tree(self, seed: int) -> Hierarchical:
        """An unfitted tree with this model's parameters."""
        return Hierarchical(self.n_clusters_, linkage=self.linkage, metric=self.metric, max_points=self.max_points, random_state=seed)

    def _assign(self, z: torch.Tensor, data: torch.Tensor) -> torch.Tensor:
        rows = z.cpu().numpy()
        if self.manifold_ is not None:
            rows = new_layout_rows(self.manifold_of_, rows, data, self.input_reduction_)
            rows = interpolated_layout(rows, self.manifold_rows_, self.manifold_)
        return torch.from_numpy(self.hierarchical_.predict(rows)).to(z.device)
