"""VaDE's clustering objective: a Gaussian-mixture prior on the latent space of a VAE.

Jiang et al. (2017), "Variational Deep Embedding: An Unsupervised and Generative Approach
to Clustering". The generative story is c ~ Cat(pi), z ~ N(mu_c, diag(var_c)), x ~ p(x|z);
the encoder gives q(z|x) = N(mu(x), diag(exp(logvar(x)))) and q(c|x) is approximated by
the prior's posterior p(c|z) at a sample z (the "responsibilities").
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn


class MixturePrior(nn.Module):
    """p(c) p(z|c) with diagonal covariances; every part is learned with the network."""

    def __init__(self, weights: np.ndarray, means: np.ndarray, variances: np.ndarray) -> None:
        super().__init__()
        as_tensor = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731
        self.weight_logits = nn.Parameter(as_tensor(weights).clamp_min(1e-6).log())
        self.means = nn.Parameter(as_tensor(means))
        self.log_variances = nn.Parameter(as_tensor(variances).clamp_min(1e-6).log())

    def log_joint(self, z: torch.Tensor) -> torch.Tensor:
        """log p(c) + log N(z | mu_c, var_c), shape (n, n_components)."""
        log_weights = torch.log_softmax(self.weight_logits, dim=0)
        squared = (z.unsqueeze(1) - self.means).pow(2) / self.log_variances.exp()
        log_density = -0.5 * (squared + self.log_variances + math.log(2 * math.pi)).sum(dim=2)
        return log_weights + log_density

    def responsibilities(self, z: torch.Tensor) -> torch.Tensor:
        """p(c | z): the posterior over components, used as q(c|x)."""
        return torch.softmax(self.log_joint(z), dim=1)

    def kl(self, mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Per-row KL(q(z, c | x) || p(z, c)) of the ELBO, with q(c|x) = p(c|z) at the sample ``z``."""
        gamma = self.responsibilities(z)
        log_weights = torch.log_softmax(self.weight_logits, dim=0)
        variances = self.log_variances.exp()
        # E_q(z|x)[-log p(z|c)] for each component, up to the constant that cancels with the entropy's.
        cross = 0.5 * (
            self.log_variances + (logvar.exp().unsqueeze(1) + (mu.unsqueeze(1) - self.means).pow(2)) / variances
        ).sum(dim=2)
        latent = (gamma * cross).sum(dim=1) - 0.5 * (1 + logvar).sum(dim=1)
        categorical = (gamma * (torch.log(gamma.clamp_min(1e-10)) - log_weights)).sum(dim=1)
        return latent + categorical
