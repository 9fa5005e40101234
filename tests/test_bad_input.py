"""Bad input raises deepclust.InputError (a ValueError) with a message that names the problem."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from deepclust import DCN, DEC, IDEC, N2D, AEKMeans, DeepHierarchical, InputError, VaDE
from deepclust.train import resolve_device

TINY = dict(n_clusters=2, hidden_dims=(8,), embedding_dim=2, pretrain_epochs=1, device="cpu", random_state=0)
GOOD = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)


def with_value(value: float, dtype: type = np.float32) -> np.ndarray:
    X = GOOD.astype(dtype)
    X[3, 1] = value
    return X


@pytest.mark.parametrize("cls", [AEKMeans, DEC, IDEC, DCN])
@pytest.mark.parametrize(
    ("X", "message"),
    [
        (with_value(np.nan), "NaN or infinity"),
        (with_value(np.inf), "NaN or infinity"),
        (with_value(1e39, np.float64), "beyond float32's range \\(largest magnitude 1e\\+39"),  # finite, but not in float32
        (np.zeros((0, 3)), "0 sample"),
        (np.arange(5.0), "must be 2-D"),
        (np.array([["a", "b"], ["c", "d"]]), "must be numeric"),
        ([[1.0, "x"], [2.0, "y"]], "must be numeric"),
    ],
)
def test_bad_arrays_are_rejected_with_a_named_problem(cls, X, message):
    with pytest.raises(InputError, match=message):
        cls(**TINY).fit(X)


def test_input_error_is_a_value_error():
    assert issubclass(InputError, ValueError)


def test_more_clusters_than_samples():
    with pytest.raises(InputError, match="n_clusters=30 is larger than the number of samples \\(20\\)"):
        IDEC(**{**TINY, "n_clusters": 30}).fit(GOOD)


@pytest.mark.parametrize("k", [0, -1, 2.5, "ten"])
def test_n_clusters_must_be_a_positive_integer(k):
    with pytest.raises(InputError, match="n_clusters must be a positive integer"):
        IDEC(**{**TINY, "n_clusters": k}).fit(GOOD)


def test_predict_with_the_wrong_number_of_features():
    model = IDEC(**TINY).fit(GOOD)
    with pytest.raises(InputError, match="X has 4 features, but IDEC is expecting 3"):
        model.predict(np.zeros((5, 4), dtype=np.float32))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"pretrain_epochs": -1}, "pretrain_epochs must be in \\[0, inf\\]"),
        ({"pretrain_epochs": "many"}, 'pretrain_epochs must be an integer or "auto", got \'many\''),
        ({"batch_size": 0}, "batch_size must be in"),
        ({"architecture": "transformer"}, "architecture must be one of \\['dense', 'conv', 'temporal'\\]"),
        ({"tol": 2.0}, "tol must be in \\[0.0, 1.0\\]"),
        ({"init": "random"}, "init must be one of \\['manifold', 'kmeans'\\], got 'random'"),
        ({"cluster_lr": 0.0}, "cluster_lr must be in"),
        ({"architecture": "conv"}, "input_shape"),
        ({"architecture": "conv", "input_shape": (2, 2)}, "holds 4 values per sample, but X has 3 features"),
        ({"architecture": "temporal"}, "input_shape=\\(length,\\) or \\(channels, length\\)"),
        ({"lr": float("nan")}, "lr must be a finite number, got nan"),
        ({"noise": float("nan")}, "noise must be a finite number"),
        ({"alpha": float("inf")}, "alpha must be a finite number"),
        ({"hidden_dims": (0,)}, "hidden_dims must be a tuple of positive integers, got \\(0,\\)"),
        ({"hidden_dims": (-5, 10)}, "hidden_dims must be a tuple of positive integers"),
        ({"hidden_dims": 32}, "hidden_dims must be a tuple of positive integers, got 32"),
        ({"hidden_dims": np.array([8, 8])}, "hidden_dims must be a tuple"),
        ({"input_shape": "8x8"}, "input_shape must be a tuple of positive integers or None"),
        ({"input_shape": (2.5, 8)}, "input_shape must be a tuple of positive integers or None"),
        ({"architecture": "conv", "input_shape": (-1, -3)}, "input_shape must be a tuple of positive integers"),
        ({"random_state": "x"}, "random_state must be None, an integer"),
        ({"random_state": -1}, "random_state must be None, an integer"),
    ],
)
def test_bad_parameters_name_the_parameter(params, message):
    with pytest.raises(InputError, match=message):
        IDEC(**{**TINY, **params}).fit(GOOD)


def test_asking_for_cuda_without_a_gpu_is_an_input_error():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(InputError, match="no CUDA device"):
        resolve_device("cuda")
    assert resolve_device("auto").type == "cpu"


def test_sparse_input_is_an_input_error():
    import scipy.sparse

    with pytest.raises(InputError, match="X is a sparse matrix; deepclust needs dense rows"):
        IDEC(**TINY).fit(scipy.sparse.csr_matrix(GOOD))


@pytest.mark.parametrize("cls", [IDEC, DCN, VaDE])
def test_training_that_diverges_says_so_instead_of_returning_nan_centres(cls):
    """Far too high a learning rate drives the loss to NaN or infinity; the fit must not end with NaN centres and one cluster."""
    from sklearn.datasets import make_blobs

    X, _ = make_blobs(300, n_features=8, centers=4, random_state=0)
    model = cls(4, hidden_dims=(32, 32), embedding_dim=4, pretrain_epochs=3, cluster_epochs=5, cluster_lr=1e4, random_state=0)
    with pytest.raises(InputError, match="diverged"):
        model.fit(X)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"manifold": "pca"}, "manifold must be one of \\['auto', 'umap', 'tsne'\\], got 'pca'"),
        ({"umap_dim": 0}, "umap_dim must be in \\[1, inf\\]"),
        ({"umap_dim": 2.5}, "umap_dim must be an integer or None"),
        ({"umap_min_dist": 5.0}, "umap_min_dist must be in \\[0.0, 1.0\\]"),
        ({"umap_min_dist": float("nan")}, "umap_min_dist must be a finite number"),
    ],
)
def test_bad_n2d_parameters_are_refused_before_pretraining(params, message):
    with pytest.raises(InputError, match=message):
        N2D(**{**TINY, **params}).fit(GOOD)


def test_fewer_clusters_than_asked_for_is_a_warning():
    X = np.repeat(GOOD[:2], 10, axis=0)  # two distinct rows cannot make three clusters
    with pytest.warns(ConvergenceWarning, match="only 2 of the 3 clusters hold training rows"):
        IDEC(**{**TINY, "n_clusters": 3, "init": "kmeans"}).fit(X)


@pytest.mark.parametrize(
    ("make", "X", "message"),
    [
        (lambda: N2D(**TINY), GOOD[:3], "N2D needs at least 4 samples"),
        (lambda: VaDE(**{**TINY, "n_clusters": 1}), GOOD[:1], "VaDE needs at least 2 samples"),
        (lambda: DeepHierarchical(**{**TINY, "n_clusters": 5, "max_points": 3}), GOOD, "n_clusters=5 is larger than max_points=3"),
        (lambda: DeepHierarchical(**TINY, manifold="pca"), GOOD, r"manifold must be one of \[.*'none'\], got 'pca'"),
    ],
)
def test_what_a_method_cannot_fit_is_refused_before_pretraining(make, X, message):
    model = make()
    with pytest.raises(InputError, match=message):
        model.fit(X)
    assert not hasattr(model, "history_")  # no training time was spent
