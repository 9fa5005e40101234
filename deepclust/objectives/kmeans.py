"""DCN's clustering objective: the k-means loss with alternating centroid updates.

Yang, Fu, Sidiropoulos & Hong (2017), "Towards K-means-friendly Spaces".
"""

from __future__ import annotations

import torch
from torch import nn


class KMeansObjective(nn.Module):
    """Centroids (not trained by gradient) and the squared distance of each point to its own."""

    def __init__(self, centers: torch.Tensor, counts: torch.Tensor | None = None) -> None:
        super().__init__()
        self.register_buffer("centers", centers.clone())
        self.register_buffer("counts", torch.ones(len(centers)) if counts is None else counts.clone().float())

    def assign(self, z: torch.Tensor) -> torch.Tensor:
        """Index of the nearest centroid of each row."""
        return torch.cdist(z, self.centers).argmin(dim=1)

    def loss(self, z: torch.Tensor, assignment: torch.Tensor) -> torch.Tensor:
        return (z - self.centers[assignment]).pow(2).sum(dim=1).mean()

    @torch.no_grad()
    def update(self, z: torch.Tensor) -> torch.Tensor:
        """Assign a batch, then move each centroid towards its points with step 1/count (DCN eq. 8).

        The step shrinks as a cluster accumulates points, as in online k-means; adding the
        batch's points at once equals visiting them one by one to first order. Returns the
        assignment (index of the nearest centroid of each row, before the move).
        """
        assignment = self.assign(z)
        sums = torch.zeros_like(self.centers).index_add_(0, assignment, z)
        sizes = torch.bincount(assignment, minlength=len(self.centers)).to(z.dtype)
        self.counts += sizes
        self.centers += (sums - sizes[:, None] * self.centers) / self.counts[:, None]
        return assignment
