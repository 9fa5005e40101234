"""Clustering utilities that work on an embedding."""

from deepclust.cluster.choose_k import KSelection, select_n_clusters
from deepclust.cluster.hierarchical import Hierarchical
from deepclust.cluster.kmeans import KMeans

__all__ = ["Hierarchical", "KMeans", "KSelection", "select_n_clusters"]
