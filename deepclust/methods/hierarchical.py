"""DeepHierarchical: pretrain an autoencoder, then agglomerative clustering of its embedding."""

from __future__ import annotations

import os

import numpy as np
import torch

from deepclust.checkpoint import Checkpoint
from deepclust.cluster.hierarchical import Hierarchical, check_leaves, check_linkage_metric
from deepclust.methods.base import DeepClusterer
from deepclust.registry import register


@register("hierarchical", "Autoencoder pretraining, then hierarchical (agglomerative) clustering of the embedding.")
class DeepHierarchical(DeepClusterer):
    """Autoencoder + hierarchical clustering (scikit-learn API).

    The tree is built by :class:`~deepclust.cluster.Hierarchical` on the embedding and cut
    into ``n_clusters``, or into fewer when the embedding has fewer distinct rows (with a
    ``ConvergenceWarning``; ``n_clusters_`` is then the number found). ``labels_`` and
    ``predict`` both use the tree's rule on the embedding — the label of the nearest
    representative (a training row's own leaf, or its
    k-means micro-cluster when there are more than ``max_points`` rows) — so
    ``predict(X_train) == labels_``.

    Parameters
    ----------
    linkage : {"ward", "single", "complete", "average"}
        Linkage of the tree; ward needs ``metric="euclidean"``.
    metric : {"euclidean", "cosine", "correlation", "mahalanobis"}
        Distance between embedded rows.
    max_points : int
        Largest number of tree leaves; larger data is first condensed by k-means.

    The other parameters are those of :class:`~deepclust.methods.base.DeepClusterer`.

    Attributes
    ----------
    hierarchical_ : Hierarchical
        The fitted tree (``linkage_matrix_``, ``representatives_``, ...) on the embedding.
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

    _constraints = {"max_points": (int, 2, None)}  # linkage and metric: check_linkage_metric in check_parameters
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
        self.linkage = linkage
        self.metric = metric
        self.max_points = max_points

    def check_parameters(self) -> torch.device:
        check_linkage_metric(self)
        return super().check_parameters()

    def _check_before_training(self, n_samples: int) -> None:
        check_leaves(self)

    def _cluster(self, data: torch.Tensor, generator: torch.Generator, seed: int, checkpoint: Checkpoint | None) -> None:
        self.hierarchical_ = Hierarchical(
            self.n_clusters_, linkage=self.linkage, metric=self.metric, max_points=self.max_points, random_state=seed
        ).fit(self._embed(data).cpu().numpy())
        self.n_clusters_ = self.hierarchical_.n_clusters_
        self.cluster_centers_ = self.hierarchical_.cluster_centers_.astype(np.float32)  # the embedding's dtype

    def _assign(self, z: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.hierarchical_.predict(z.cpu().numpy())).to(z.device)
