"""VaDE's mixture prior: its full covariances against scikit-learn's Gaussian mixture."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.mixture import GaussianMixture

from deepclust.objectives import MixturePrior


def correlated_blobs() -> np.ndarray:
    rng = np.random.RandomState(0)
    return np.concatenate([rng.randn(200, 4) @ rng.randn(4, 4) + 5 * rng.randn(4) for _ in range(3)]).astype(np.float32)


def test_prior_of_a_full_mixture_gives_its_posteriors():
    z = correlated_blobs()
    gmm = GaussianMixture(3, covariance_type="full", random_state=0).fit(z)
    prior = MixturePrior(gmm.weights_, gmm.means_, gmm.covariances_)
    with torch.no_grad():
        proba = prior.responsibilities(torch.from_numpy(z)).numpy()
    np.testing.assert_allclose(proba, gmm.predict_proba(z), atol=1e-4)
    np.testing.assert_allclose(prior.precision_cholesky().detach().numpy(), gmm.precisions_cholesky_, rtol=1e-4, atol=1e-4)


def test_kl_falls_when_q_matches_the_component_it_sits_in():
    """KL(q || p) of a narrow q at a component's mean is below that of one far from every mean."""
    z = correlated_blobs()
    gmm = GaussianMixture(3, covariance_type="full", random_state=0).fit(z)
    prior = MixturePrior(gmm.weights_, gmm.means_, gmm.covariances_)
    mu = torch.from_numpy(np.stack([gmm.means_[0], gmm.means_[0] + 50]).astype(np.float32))
    logvar = torch.full_like(mu, -2.0)
    kl = prior.kl(mu, logvar, mu).detach()
    assert kl[0] < kl[1]


def test_diagonal_variances_start_a_diagonal_prior():
    variances = np.array([[1.0, 4.0], [0.25, 1.0]])
    prior = MixturePrior(np.array([0.5, 0.5]), np.zeros((2, 2)), variances)
    precision = prior.precision_cholesky() @ prior.precision_cholesky().mT
    np.testing.assert_allclose(precision.detach().numpy(), np.stack([np.diag(1 / v) for v in variances]), rtol=1e-5)


def test_posterior_of_rows_far_from_every_mean_is_a_distribution():
    """1e20 away, squared distances pass float32's range: the float32 posterior is NaN, the assigned one is not."""
    z = correlated_blobs()
    gmm = GaussianMixture(3, covariance_type="full", random_state=0).fit(z)
    prior = MixturePrior(gmm.weights_, gmm.means_, gmm.covariances_)
    far = torch.from_numpy(z[:5] * np.float32(1e20))
    with torch.no_grad():
        assert prior.responsibilities(far).isnan().any()  # what predict_proba returned before
        proba = prior.posterior(far)
        near = prior.posterior(torch.from_numpy(z))
    assert proba.dtype == torch.float32 and torch.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(dim=1).numpy(), 1.0, rtol=1e-6)
    np.testing.assert_allclose(near.numpy(), gmm.predict_proba(z), atol=1e-4)
