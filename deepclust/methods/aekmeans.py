"""AEKMeans: pretrain an autoencoder, then k-means on its embedding (the staged baseline)."""

from __future__ import annotations

import torch

from deepclust.checkpoint import Checkpoint
from deepclust.methods.base import DeepClusterer
from deepclust.registry import register


@register("aekmeans", "Autoencoder pretraining, then k-means on the embedding (baseline).")
class AEKMeans(DeepClusterer):
    """Autoencoder + k-means.

    Takes the shared parameters of :class:`~deepclust.methods.base.DeepClusterer`.

    Examples
    --------
    >>> from deepclust import AEKMeans
    >>> from deepclust.datasets import load_digits
    >>> X, y = load_digits()
    >>> labels = AEKMeans(n_clusters=10, pretrain_epochs=5, random_state=0).fit_predict(X)
    """

    def _cluster(self, data: torch.Tensor, generator: torch.Generator, seed: int, checkpoint: Checkpoint | None) -> None:
        _, self.cluster_centers_ = self._initial_clusters(self._embed(data), data, seed, "kmeans")
