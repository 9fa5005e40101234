"""DEC's clustering objective: Student's t soft assignment sharpened towards a target.

Xie, Girshick & Farhadi (2016), "Unsupervised Deep Embedding for Clustering Analysis".
"""

from __future__ import annotations

import torch
from torch import nn


def soft_assignment(z: torch.Tensor, centers: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """q_ij: Student's t kernel between embedding i and centre j, normalised over j."""
    squared = torch.cdist(z, centers).pow(2)
    kernel = (1.0 + squared / alpha).pow(-(alpha + 1.0) / 2.0)
    return kernel / kernel.sum(dim=1, keepdim=True)


def target_distribution(q: torch.Tensor) -> torch.Tensor:
    """p_ij ∝ q_ij² / f_j with f_j = Σ_i q_ij: emphasises confident assignments, evens out cluster sizes."""
    weight = q.pow(2) / q.sum(dim=0)
    return weight / weight.sum(dim=1, keepdim=True)


class StudentTObjective(nn.Module):
    """Trainable cluster centres in embedding space and the KL(P || Q) loss."""

    def __init__(self, centers: torch.Tensor, alpha: float = 1.0) -> None:
        super().__init__()
        self.centers = nn.Parameter(centers.clone())
        self.alpha = alpha

    def soft_assignment(self, z: torch.Tensor) -> torch.Tensor:
        return soft_assignment(z, self.centers, self.alpha)

    def loss(self, z: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """KL(P || Q) averaged over the batch."""
        q = self.soft_assignment(z)
        return torch.sum(target * (torch.log(target + 1e-12) - torch.log(q + 1e-12))) / len(z)
