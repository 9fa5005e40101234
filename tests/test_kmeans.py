"""deepclust.KMeans: faiss and scikit-learn backends agree, and both match scikit-learn's KMeans."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans as SklearnKMeans
from sklearn.datasets import make_blobs
from sklearn.utils.estimator_checks import parametrize_with_checks

from deepclust import InputError, KMeans
from deepclust.cluster import kmeans as kmeans_module
from deepclust.metrics import adjusted_rand, cluster_accuracy

needs_faiss = pytest.mark.skipif(kmeans_module.faiss_module() is None, reason="faiss is not installed")


@pytest.fixture(scope="module")
def many_blobs() -> tuple[np.ndarray, np.ndarray]:
    """Eight clusters in 16 dimensions, 12000 rows: more than the sample KMeans fits on (256 per cluster)."""
    X, y = make_blobs(n_samples=12000, n_features=16, centers=8, cluster_std=2.0, random_state=1)
    return X.astype(np.float32), y


@needs_faiss
def test_faiss_and_sklearn_backends_find_the_same_clusters(many_blobs):
    X, y = many_blobs
    fast = KMeans(8, backend="faiss", random_state=0).fit(X)
    slow = KMeans(8, backend="sklearn", random_state=0).fit(X)
    assert (fast.backend_, slow.backend_) == ("faiss", "sklearn")
    assert adjusted_rand(fast.labels_, slow.labels_) == 1.0
    assert fast.inertia_ == pytest.approx(slow.inertia_, rel=1e-4)
    np.testing.assert_allclose(np.sort(fast.cluster_centers_, axis=0), np.sort(slow.cluster_centers_, axis=0), atol=1e-3)
    assert cluster_accuracy(y, fast.labels_) > 0.99


@pytest.mark.parametrize("backend", [pytest.param("faiss", marks=needs_faiss), "sklearn"])
def test_objective_within_one_percent_of_scikit_learn_kmeans(many_blobs, backend):
    X, _ = many_blobs
    ours = KMeans(8, backend=backend, random_state=0).fit(X)  # fitted on a 2048-row sample
    reference = SklearnKMeans(8, n_init=1, random_state=0).fit(X)
    assert ours.inertia_ <= reference.inertia_ * 1.01
    assert adjusted_rand(ours.labels_, reference.labels_) > 0.99


def test_inertia_and_labels_describe_every_row(many_blobs):
    X, _ = many_blobs
    model = KMeans(8, random_state=0).fit(X)
    squared = ((X[:, None, :] - model.cluster_centers_[None]) ** 2).sum(axis=2)
    np.testing.assert_array_equal(model.labels_, squared.argmin(axis=1))
    assert model.inertia_ == pytest.approx(squared.min(axis=1).sum(), rel=1e-4)
    assert model.labels_.dtype == np.int32 and model.cluster_centers_.dtype == np.float32
    np.testing.assert_array_equal(model.predict(X), model.labels_)
    np.testing.assert_allclose(model.transform(X[:50]), np.sqrt(squared[:50]), rtol=1e-3, atol=1e-3)
    assert model.score(X) == pytest.approx(-model.inertia_, rel=1e-5)


@pytest.mark.parametrize("backend", [pytest.param("faiss", marks=needs_faiss), "sklearn"])
def test_batched_assignment_matches_one_block(blobs, backend):
    X, _ = blobs
    whole = KMeans(4, backend=backend, random_state=0).fit(X)
    batched = KMeans(4, backend=backend, batch_size=64, random_state=0).fit(X)
    np.testing.assert_array_equal(whole.labels_, batched.labels_)
    assert whole.inertia_ == pytest.approx(batched.inertia_, rel=1e-5)


def test_memory_mapped_input_gives_the_same_model(many_blobs, tmp_path):
    X, _ = many_blobs
    np.save(tmp_path / "X.npy", X)
    mapped = KMeans(8, random_state=3).fit(np.load(tmp_path / "X.npy", mmap_mode="r"))
    in_memory = KMeans(8, random_state=3).fit(X)
    np.testing.assert_array_equal(mapped.labels_, in_memory.labels_)
    np.testing.assert_array_equal(mapped.cluster_centers_, in_memory.cluster_centers_)


def test_more_starts_never_raise_the_objective(many_blobs):
    X = many_blobs[0][:3000]
    one = KMeans(12, n_init=1, max_points_per_cluster=None, random_state=0).fit(X)
    five = KMeans(12, n_init=5, max_points_per_cluster=None, random_state=0).fit(X)
    assert five.inertia_ <= one.inertia_ * (1 + 1e-6)


def test_same_random_state_same_result(blobs):
    X, _ = blobs
    first, second = (KMeans(4, random_state=7).fit(X) for _ in range(2))
    np.testing.assert_array_equal(first.cluster_centers_, second.cluster_centers_)


@needs_faiss
def test_empty_cluster_restarts_at_the_farthest_row():
    X = np.array([[0.0, 0.0], [0.1, 0.0], [10.0, 0.0], [10.1, 0.0]], dtype=np.float32)
    start = np.array([[0.0, 0.0], [10.0, 0.0], [100.0, 100.0]], dtype=np.float32)  # the third centre attracts no row
    centers, _ = kmeans_module._lloyd_faiss(X, start, max_iter=10, tol=0.0)
    labels, _ = kmeans_module.nearest_centers(X, centers, backend="faiss")
    assert len(np.unique(labels)) == 3


def test_without_faiss_auto_falls_back_and_faiss_is_refused(blobs, monkeypatch):
    X, _ = blobs
    monkeypatch.setattr(kmeans_module, "faiss_module", lambda: None)
    assert KMeans(4, random_state=0).fit(X).backend_ == "sklearn"
    with pytest.raises(InputError, match=r"deepclust\[fast\]"):
        KMeans(4, backend="faiss").fit(X)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n_clusters": 0}, "n_clusters"),
        ({"n_clusters": 500}, "larger than the number of samples"),
        ({"n_init": 0}, "n_init"),
        ({"max_points_per_cluster": 0}, "max_points_per_cluster"),
        ({"backend": "gpu"}, "backend"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_parameters_are_input_errors(blobs, params, message):
    X, _ = blobs
    with pytest.raises(InputError, match=message):
        KMeans(**{"n_clusters": 4, **params}).fit(X)


def test_predict_checks_the_number_of_features(blobs):
    X, _ = blobs
    model = KMeans(4, random_state=0).fit(X)
    with pytest.raises(InputError, match="features"):
        model.predict(X[:, :5])


def test_state_round_trip_keeps_the_model(blobs):
    X, _ = blobs
    model = KMeans(4, random_state=0).fit(X)
    meta, arrays = model._get_state()
    restored = KMeans(**model.get_params())
    restored._set_state(meta, arrays)
    np.testing.assert_array_equal(restored.predict(X), model.labels_)
    assert restored.inertia_ == model.inertia_


@parametrize_with_checks([KMeans(n_clusters=3, random_state=0)])
def test_kmeans_is_sklearn_compatible(estimator, check):
    check(estimator)
