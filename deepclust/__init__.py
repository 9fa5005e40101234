"""deepclust: deep clustering with a scikit-learn API.

Learn a representation of unlabelled data with a neural network, cluster it, and evaluate
the clusters.
"""

from importlib.metadata import PackageNotFoundError, version

from deepclust.cluster import Hierarchical, KMeans
from deepclust.distill import Student, distill
from deepclust.embed.images import cluster_images
from deepclust.embed.loading import LoadedData, load
from deepclust.embed.series import cluster_series
from deepclust.embed.tabular import cluster_table
from deepclust.embed.text import cluster_text
from deepclust.errors import InputError
from deepclust.io.models import load_model, save
from deepclust.methods import AEKMeans, DCN, DEC, DeepHierarchical, IDEC, N2D, VaDE
from deepclust.registry import METHODS, get_method

try:
    __version__ = version("deepclust")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"

__all__ = ["AEKMeans", "DCN", "DEC", "DeepHierarchical", "Hierarchical", "IDEC", "KMeans", "InputError", "N2D", "VaDE", "METHODS", "Student", "distill", "get_method", "load_model", "save", "cluster_images", "cluster_text", "cluster_series", "cluster_table", "LoadedData", "load", "__version__"]
