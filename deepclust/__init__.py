"""deepclust: deep clustering with a scikit-learn API.

Learn a representation of unlabelled data with a neural network, cluster it, and evaluate
the clusters.
"""

from importlib.metadata import PackageNotFoundError, version

from deepclust.cluster import Hierarchical
from deepclust.distill import Student, distill
from deepclust.errors import InputError
from deepclust.methods import AEKMeans, DCN, DEC, DeepHierarchical, IDEC
from deepclust.registry import METHODS, get_method

try:
    __version__ = version("deepclust")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"

__all__ = ["AEKMeans", "DCN", "DEC", "DeepHierarchical", "Hierarchical", "IDEC", "InputError", "METHODS", "Student", "distill", "get_method", "__version__"]
