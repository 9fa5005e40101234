"""The estimators users call; importing this package registers every method."""

from deepclust.methods.aekmeans import AEKMeans
from deepclust.methods.dcn import DCN
from deepclust.methods.dec import DEC, IDEC
from deepclust.methods.hierarchical import DeepHierarchical

__all__ = ["AEKMeans", "DCN", "DEC", "DeepHierarchical", "IDEC"]
