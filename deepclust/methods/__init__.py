"""The estimators users call; importing this package registers every method."""

from deepclust.methods.aekmeans import AEKMeans
from deepclust.methods.dcn import DCN
from deepclust.methods.dec import DEC, IDEC
from deepclust.methods.hierarchical import DeepHierarchical
from deepclust.methods.n2d import N2D
from deepclust.methods.vade import VaDE

__all__ = ["AEKMeans", "DCN", "DEC", "DeepHierarchical", "IDEC", "N2D", "VaDE"]
