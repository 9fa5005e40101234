"""Hierarchical clustering: every linkage/metric pair on known structure, cuts, subsetting, DeepHierarchical."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest
from scipy.cluster.hierarchy import cut_tree, dendrogram, is_valid_linkage
from sklearn.cluster import AgglomerativeClustering
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning

from deepclust import DeepHierarchical, Hierarchical, InputError
from deepclust.cluster.hierarchical import LINKAGES, METRICS
from deepclust.metrics import cluster_accuracy

# Four groups whose merges tie in height (1.0 inside the squares), so a height cut cannot give 4.
TIED_GROUPS = np.array([[0, 0], [0, 1], [1, 0], [1, 1], [5, 5], [5, 6], [6, 5], [6, 6], [10, 0], [10, 1]], float)
VALID_PAIRS = [(linkage, metric) for linkage in LINKAGES for metric in METRICS if linkage != "ward" or metric == "euclidean"]


@pytest.fixture(scope="module")
def spanning_blobs() -> tuple[np.ndarray, np.ndarray]:
    """Six blobs in 5-D whose centres span every direction, so they stay apart under every
    metric: Mahalanobis whitening shrinks only directions the centres spread along, and
    centring a row (correlation) leaves enough dimensions."""
    X, y = make_blobs(n_samples=400, n_features=5, centers=6, cluster_std=0.5, random_state=0)
    return X.astype(np.float32), y


@pytest.mark.parametrize(("linkage", "metric"), VALID_PAIRS)
def test_every_valid_pair_recovers_the_blobs(linkage, metric, spanning_blobs):
    X, y = spanning_blobs
    model = Hierarchical(n_clusters=6, linkage=linkage, metric=metric).fit(X)
    assert cluster_accuracy(y, model.labels_) >= 0.99
    assert model.n_clusters_ == 6
    assert is_valid_linkage(model.linkage_matrix_)
    np.testing.assert_array_equal(model.predict(X), model.labels_)


def test_tree_attributes_match_the_linkage_matrix(blobs):
    X, y = blobs
    model = Hierarchical(n_clusters=4).fit(X)
    n = len(X)
    assert model.linkage_matrix_.shape == (n - 1, 4)
    np.testing.assert_array_equal(model.children_, model.linkage_matrix_[:, :2].astype(int))
    np.testing.assert_array_equal(model.distances_, model.linkage_matrix_[:, 2])
    assert model.linkage_matrix_[-1, 3] == n  # the root holds every sample
    assert len(dendrogram(model.linkage_matrix_, no_plot=True)["leaves"]) == n
    assert sorted(np.unique(model.labels_)) == [0, 1, 2, 3]
    for k in range(4):
        np.testing.assert_allclose(model.cluster_centers_[k], X[model.labels_ == k].mean(axis=0), rtol=1e-5)
    assert cluster_accuracy(y, model.labels_) == 1.0


def test_distance_threshold_cuts_between_the_within_and_between_blob_merges(blobs):
    X, y = blobs
    heights = Hierarchical(n_clusters=4).fit(X).distances_
    threshold = (heights[-4] + heights[-3]) / 2  # the last three merges join the four blobs
    model = Hierarchical(n_clusters=None, distance_threshold=threshold).fit(X)
    assert model.n_clusters_ == 4
    assert cluster_accuracy(y, model.labels_) == 1.0
    assert Hierarchical(n_clusters=None, distance_threshold=heights[-1] + 1).fit(X).n_clusters_ == 1
    assert Hierarchical(n_clusters=None, distance_threshold=0.0).fit(X).n_clusters_ == len(X)


@pytest.mark.parametrize("linkage", LINKAGES)
def test_tied_merge_heights_still_give_exactly_n_clusters(linkage):
    model = Hierarchical(n_clusters=4, linkage=linkage).fit(TIED_GROUPS)
    assert model.n_clusters_ == 4
    expected = cut_tree(model.linkage_matrix_, n_clusters=4)[:, 0]
    np.testing.assert_array_equal(model.labels_, np.unique(expected, return_inverse=True)[1])
    np.testing.assert_array_equal(model.predict(TIED_GROUPS), model.labels_)


def test_fewer_distinct_rows_than_n_clusters_warns_and_keeps_duplicates_together():
    X = np.repeat(np.arange(10.0)[:, None] * [1, 2], 5, axis=0)
    with pytest.warns(ConvergenceWarning, match="n_clusters=20 but the data has only 10 distinct rows"):
        model = Hierarchical(n_clusters=20).fit(X)
    assert model.n_clusters_ == 10
    np.testing.assert_array_equal(model.labels_, np.unique(model.labels_[::5].repeat(5), return_inverse=True)[1])
    np.testing.assert_array_equal(model.predict(X), model.labels_)


@pytest.mark.parametrize("linkage", LINKAGES)
def test_distance_threshold_keeps_only_merges_strictly_below_it_as_scikit_learn(linkage):
    model = Hierarchical(n_clusters=None, linkage=linkage, distance_threshold=1.0).fit(TIED_GROUPS)
    reference = AgglomerativeClustering(n_clusters=None, linkage=linkage, distance_threshold=1.0).fit(TIED_GROUPS)
    assert model.n_clusters_ == reference.n_clusters_ == len(TIED_GROUPS)  # every first merge is at exactly 1.0


def test_float64_input_is_clustered_in_float64():
    rng = np.random.default_rng(0)
    times = 1.7e9 + np.r_[rng.normal(0, 3, (20, 1)), rng.normal(40, 3, (20, 1))]  # epoch seconds: float32 rounds to 128
    model = Hierarchical(n_clusters=2).fit(times)
    np.testing.assert_array_equal(model.labels_, np.repeat(model.labels_[[0, 20]], 20))
    assert model.labels_[0] != model.labels_[20]
    np.testing.assert_allclose(model.cluster_centers_[model.labels_[[0, 20]], 0], [times[:20].mean(), times[20:].mean()])
    huge = Hierarchical(n_clusters=2).fit(times * 1e30)  # finite in float64, infinite in float32
    np.testing.assert_array_equal(huge.labels_, model.labels_)


def test_large_input_is_condensed_quickly_and_stays_accurate():
    X, y = make_blobs(n_samples=100_000, n_features=10, centers=5, random_state=0)
    start = time.perf_counter()
    model = Hierarchical(n_clusters=5, random_state=0).fit(X)
    # Measured 2.8 s on 2 cores (4-6 s while other jobs loaded them); the bound leaves room.
    assert time.perf_counter() - start < 10
    assert model.representatives_.shape == (5000, 10)
    assert model.linkage_matrix_.shape == (4999, 4)
    assert len(model.representative_labels_) == 5000
    assert cluster_accuracy(y, model.labels_) >= 0.99


@pytest.mark.parametrize(("linkage", "metric"), [("ward", "euclidean"), ("average", "cosine"), ("complete", "mahalanobis")])
def test_subset_predict_on_training_data_equals_labels(linkage, metric):
    X, y = make_blobs(n_samples=3000, n_features=3, centers=4, cluster_std=0.5, random_state=1)
    model = Hierarchical(n_clusters=4, linkage=linkage, metric=metric, max_points=300, random_state=0).fit(X)
    assert len(model.representatives_) == 300
    np.testing.assert_array_equal(model.predict(X), model.labels_)
    assert cluster_accuracy(y, model.labels_) >= 0.99
    again = Hierarchical(n_clusters=4, linkage=linkage, metric=metric, max_points=300, random_state=0).fit(X)
    np.testing.assert_array_equal(again.labels_, model.labels_)


def test_repeated_rows_are_condensed_without_a_kmeans_warning():
    """A manifold packs rows onto one point: more rows than max_points, but fewer distinct ones."""
    X, y = make_blobs(n_samples=200, n_features=3, centers=4, cluster_std=0.5, random_state=1)
    X, y = np.repeat(X, 5, axis=0), np.repeat(y, 5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # k-means warned "Number of distinct clusters (200) found smaller than n_clusters (300)"
        model = Hierarchical(n_clusters=4, max_points=300, random_state=0).fit(X)
    assert len(model.representatives_) == 200
    np.testing.assert_array_equal(model.predict(X), model.labels_)
    assert cluster_accuracy(y, model.labels_) >= 0.99


def test_predict_assigns_new_points_to_the_nearest_blob(blobs):
    X, y = blobs
    model = Hierarchical(n_clusters=4).fit(X[::2])
    # Unseen rows land with the training rows of the same blob.
    assert cluster_accuracy(y[1::2], model.predict(X[1::2])) == 1.0


def test_singular_covariance_is_handled_for_mahalanobis(spanning_blobs):
    X, y = spanning_blobs
    X = np.hstack([X, np.ones((len(X), 1), np.float32), X[:, :1]])  # a constant and a repeated feature
    model = Hierarchical(n_clusters=6, linkage="average", metric="mahalanobis").fit(X)
    assert cluster_accuracy(y, model.labels_) >= 0.99


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (dict(linkage="ward", metric="cosine"), r"linkage='ward' with metric='cosine' is not a valid pair.*'euclidean'.*'average'"),
        (dict(linkage="centroid"), r"linkage must be one of \['ward', 'single', 'complete', 'average'\], got 'centroid'"),
        (dict(metric="manhattan"), r"metric must be one of \['euclidean', 'cosine', 'correlation', 'mahalanobis'\], got 'manhattan'"),
        (dict(n_clusters=0), "n_clusters must be a positive integer, got 0"),
        (dict(n_clusters=500), r"n_clusters=500 is larger than the number of samples \(400\)"),
        (dict(n_clusters=50, max_points=20), "n_clusters=50 is larger than max_points=20"),
        (dict(n_clusters=4, distance_threshold=1.0), "exactly one of n_clusters and distance_threshold"),
        (dict(n_clusters=None), "set n_clusters or distance_threshold"),
        (dict(n_clusters=None, distance_threshold=-1.0), r"distance_threshold must be in \[0.0, inf\], got -1.0"),
        (dict(max_points=1), r"max_points must be in \[2, inf\], got 1"),
    ],
)
def test_bad_parameters_raise_input_errors_that_name_them(params, message, blobs):
    with pytest.raises(InputError, match=message):
        Hierarchical(**params).fit(blobs[0])


def test_cosine_on_a_zero_row_says_which_row(blobs):
    X = blobs[0].copy()
    X[7] = 0
    with pytest.raises(InputError, match=r"metric='cosine' is undefined for rows that are all zeros \(row 7\)"):
        Hierarchical(n_clusters=4, linkage="average", metric="cosine").fit(X)


def test_deep_hierarchical_rejects_a_bad_pair_before_pretraining(blobs):
    with pytest.raises(InputError, match="DeepHierarchical: linkage='ward' with metric='correlation'"):
        DeepHierarchical(metric="correlation", pretrain_epochs=10_000).fit(blobs[0])


REDUCED = dict(n_clusters=10, hidden_dims=(256, 128), pretrain_epochs=20, batch_size=128, device="cpu", random_state=0)


def test_deep_hierarchical_clusters_digits_on_a_reduced_budget(digits, one_torch_thread):
    X, y = digits
    model = DeepHierarchical(**REDUCED).fit(X)
    # Observed ACC 0.944 on t-SNE's map of the input, which the silhouette chose (0.637 against the embedding's
    # 0.582; the tree on the embedding's map scored 0.915); raw k-means reaches about 0.79 on digits.
    assert cluster_accuracy(y, model.labels_) >= 0.90
    assert model.manifold_of_ == "input" and model.manifold_scores_["input"] > model.manifold_scores_["embedding"]
    assert model.manifold_.shape == (len(X), 2)
    np.testing.assert_array_equal(model.labels_, model.hierarchical_.labels_)
    np.testing.assert_array_equal(model.predict(X), model.labels_)
    assert is_valid_linkage(model.hierarchical_.linkage_matrix_)
    assert model.cluster_centers_.shape == (10, 10)
    np.testing.assert_allclose(model.cluster_centers_[3], model.transform(X)[model.labels_ == 3].mean(axis=0), rtol=1e-5)


def test_deep_hierarchical_places_new_rows_on_its_manifold(digits, one_torch_thread):
    X, y = digits
    held_out = np.random.default_rng(0).permutation(len(X))[:400]
    fitted = np.setdiff1d(np.arange(len(X)), held_out)
    model = DeepHierarchical(**REDUCED).fit(X[fitted])
    # Observed ACC 0.935 on these held-out rows (0.946 on the fitted ones), on the input's map; on the
    # embedding's map they were 0.873 (0.902).
    assert model.manifold_of_ == "input"
    assert cluster_accuracy(y[held_out], model.predict(X[held_out])) >= 0.90


def test_deep_hierarchical_on_the_embedding_itself(digits, one_torch_thread):
    X, y = digits
    model = DeepHierarchical(**REDUCED, manifold="none").fit(X)
    assert model.manifold_ is None and model.manifold_rows_ is None and model.manifold_of_ is None
    np.testing.assert_array_equal(model.labels_, Hierarchical(10, random_state=0).fit(model.transform(X)).labels_)
    # Observed ACC 0.762: the tree on the embedding finds the digits far less well than on its manifold.
    assert cluster_accuracy(y, model.labels_) >= 0.72
    np.testing.assert_array_equal(model.predict(X), model.labels_)


def test_deep_hierarchical_counts_the_clusters_it_found(one_torch_thread):
    X = np.repeat(np.random.default_rng(0).normal(size=(3, 6)), 30, axis=0).astype(np.float32)
    model = DeepHierarchical(n_clusters=5, hidden_dims=(16,), embedding_dim=4, pretrain_epochs=3, device="cpu", random_state=0)
    with pytest.warns(ConvergenceWarning, match="only 3 distinct rows"):
        model.fit(X)
    assert model.n_clusters_ == 3
    assert model.cluster_centers_.shape == (3, 4)
    assert model.cluster_centers_.dtype == np.float32
    np.testing.assert_array_equal(model.predict(X), model.labels_)


def test_deep_hierarchical_refuses_the_inputs_manifold_without_a_manifold(blobs):
    with pytest.raises(InputError, match="manifold_of='input' lays out a manifold of the input, but manifold='none'"):
        DeepHierarchical(manifold="none", manifold_of="input", pretrain_epochs=10_000).fit(blobs[0])
