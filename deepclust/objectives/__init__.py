"""Clustering objectives: a loss on the embedding together with the state it keeps."""

from deepclust.objectives.kmeans import KMeansObjective
from deepclust.objectives.mixture_prior import MixturePrior
from deepclust.objectives.student_t import StudentTObjective, soft_assignment, target_distribution

__all__ = ["KMeansObjective", "MixturePrior", "StudentTObjective", "soft_assignment", "target_distribution"]
