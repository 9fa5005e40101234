"""Modality front ends: scikit-learn transformers that turn images, text, tables and series into rows.

Each ``fit``/``transform`` returns a float32 array (n_rows, n_features) that any deep method or
head accepts, so ``Pipeline([("embed", front_end), ("cluster", method)])`` works.
"""

from deepclust.embed.images import ImageEncoder, cluster_images
from deepclust.embed.loading import LoadedData, load
from deepclust.embed.series import ClusterProfile, SeriesEncoder, cluster_profiles, cluster_series
from deepclust.embed.tabular import TabularEncoder, cluster_table, flag_outliers, outlier_fences
from deepclust.embed.text import TextEncoder, cluster_text, describe_clusters

__all__ = [
    "ClusterProfile", "ImageEncoder", "LoadedData", "SeriesEncoder", "TabularEncoder", "TextEncoder",
    "cluster_images", "cluster_profiles", "cluster_series", "cluster_table", "cluster_text", "describe_clusters",
    "flag_outliers", "load", "outlier_fences",
]
