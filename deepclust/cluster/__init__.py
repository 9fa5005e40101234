"""Clustering utilities that work on an embedding."""

from deepclust.cluster.choose_k import KSelection, select_n_clusters
from deepclust.cluster.hierarchical import Hierarchical

__all__ = ["Hierarchical", "KSelection", "select_n_clusters"]
