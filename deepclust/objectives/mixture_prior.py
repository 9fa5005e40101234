"""VaDE's clustering objective: a Gaussian-mixture prior on the latent space of a VAE.

Jiang et al. (2017), "Variational Deep Embedding: An Unsupervised and Generative Approach
to Clustering". The generative story is c ~ Cat(pi), z ~ N(mu_c, Sigma_c), x ~ p(x|z);
the encoder gives q(z|x) = N(mu(x), diag(exp(logvar(x)))) and q(c|x) is approximated by
the prior's posterior p(c|z) at a sample z (the "responsibilities"). The paper's Sigma_c
are diagonal; here they are full, because the clusters of an autoencoder's embedding are
correlated ellipsoids (see :class:`~deepclust.methods.VaDE` for what that is worth).
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
from torch import nn


class MixturePrior(nn.Module):
    """p(c) p(z|c) with full covariances; every part is learned with the network.

    ``covariances`` has shape (k, d, d), or (k, d) for diagonal ones to start from. Each
    covariance is held as the Cholesky factor U of its precision (Sigma^-1 = U U^T, U upper
    triangular, as scikit-learn's ``precisions_cholesky_``): ``log_precision_diagonal`` and
    ``precision_off_diagonal`` (only its strict upper triangle is used), so it stays positive
    definite under any gradient step and needs no inverse.
    """

    def __init__(self, weights: np.ndarray, means: np.ndarray, covariances: np.ndarray) -> None:
        super().__init__()
        as_tensor = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float64)  # noqa: E731
        covariances = as_tensor(covariances)
        if covariances.dim() == 2:
            covariances = torch.diag_embed(covariances.clamp_min(1e-6))
        # U = L^-T for Sigma = L L^T.
        identity = torch.eye(covariances.shape[-1], dtype=covariances.dtype)
        factor = torch.linalg.solve_triangular(torch.linalg.cholesky(covariances), identity, upper=False).mT
        self.weight_logits = nn.Parameter(as_tensor(weights).clamp_min(1e-6).log().float())
        self.means = nn.Parameter(as_tensor(means).float())
        self.log_precision_diagonal = nn.Parameter(torch.diagonal(factor, dim1=1, dim2=2).log().float())
        self.precision_off_diagonal = nn.Parameter(torch.triu(factor, diagonal=1).float())

    def precision_cholesky(self) -> torch.Tensor:
        """U of each component, shape (k, d, d): upper triangular with U U^T the precision."""
        return torch.triu(self.precision_off_diagonal, diagonal=1) + torch.diag_embed(self.log_precision_diagonal.exp())

    def _whiten(self, z: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
        """(z - mu_c) U_c for each row and component, shape (n, k, d)."""
        return torch.einsum("nkd,kde->nke", z.unsqueeze(1) - self.means, factor)

    def log_joint(self, z: torch.Tensor) -> torch.Tensor:
        """log p(c) + log N(z | mu_c, Sigma_c), shape (n, n_components)."""
        log_weights = torch.log_softmax(self.weight_logits, dim=0)
        squared = self._whiten(z, self.precision_cholesky()).pow(2).sum(dim=2)
        log_density = self.log_precision_diagonal.sum(dim=1) - 0.5 * (squared + z.shape[1] * math.log(2 * math.pi))
        return log_weights + log_density

    def responsibilities(self, z: torch.Tensor) -> torch.Tensor:
        """p(c | z): the posterior over components, used as q(c|x)."""
        return torch.softmax(self.log_joint(z), dim=1)

    def posterior(self, z: torch.Tensor) -> torch.Tensor:
        """p(c | z) for assigning rows, computed in float64 and returned in float32.

        A row about 1e19 from every mean has a squared distance beyond float32's range, where the
        float32 posterior is NaN; float64 holds the square of any float32 embedding.
        """
        return copy.deepcopy(self).double().responsibilities(z.double()).float()

    def kl(self, mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Per-row KL(q(z, c | x) || p(z, c)) of the ELBO, with q(c|x) = p(c|z) at the sample ``z``."""
        gamma = self.responsibilities(z)
        log_weights = torch.log_softmax(self.weight_logits, dim=0)
        factor = self.precision_cholesky()
        # E_q(z|x)[-log p(z|c)] for each component, up to the constant that cancels with the entropy's:
        # with z = mu + eps, E|(z - mu_c) U|^2 = |(mu - mu_c) U|^2 + sum_j var_j |U_j.|^2.
        spread = logvar.exp() @ factor.pow(2).sum(dim=2).T
        cross = 0.5 * (self._whiten(mu, factor).pow(2).sum(dim=2) + spread) - self.log_precision_diagonal.sum(dim=1)
        latent = (gamma * cross).sum(dim=1) - 0.5 * (1 + logvar).sum(dim=1)
        categorical = (gamma * (torch.log(gamma.clamp_min(1e-10)) - log_weights)).sum(dim=1)
        return latent + categorical
