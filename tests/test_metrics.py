import math

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from deepclust.errors import InputError
from deepclust.metrics import (
    adjusted_rand,
    cluster_accuracy,
    external_scores,
    internal_scores,
    normalized_mutual_info,
    purity,
)

Y_TRUE = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 2])


def test_accuracy_of_permuted_labelling_is_one():
    permuted = np.array([2, 0, 1])[Y_TRUE]
    assert cluster_accuracy(Y_TRUE, permuted) == 1.0
    assert purity(Y_TRUE, permuted) == 1.0


def test_accuracy_with_more_clusters_than_classes():
    y_true = [0, 0, 0, 0, 1, 1, 1, 1]
    y_pred = [0, 0, 1, 1, 2, 2, 2, 3]
    # Best matching: cluster 2 -> class 1 (3 samples), cluster 0 or 1 -> class 0 (2 samples);
    # clusters left unmatched count as wrong, so 5 of 8 are right.
    assert cluster_accuracy(y_true, y_pred) == pytest.approx(5 / 8)
    # Purity lets several clusters share a class: every sample is in its cluster's majority.
    assert purity(y_true, y_pred) == 1.0


def test_accuracy_with_fewer_clusters_than_classes():
    assert cluster_accuracy([0, 1, 2, 3], [0, 0, 1, 1]) == pytest.approx(0.5)


def test_accuracy_is_invariant_to_relabelling_and_label_type():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 4, size=200)
    y_pred = np.where(rng.random(200) < 0.7, y_true, rng.integers(0, 5, size=200))
    acc = cluster_accuracy(y_true, y_pred)
    names = np.array(["a", "b", "c", "d", "e"])
    assert cluster_accuracy(y_true, names[y_pred]) == pytest.approx(acc)
    assert cluster_accuracy(names[y_true], 100 - 7 * y_pred) == pytest.approx(acc)
    assert cluster_accuracy(y_true, rng.permutation(5)[y_pred]) == pytest.approx(acc)
    assert 0.5 < acc < 1.0


@pytest.mark.parametrize("seed", range(5))
def test_purity_at_least_accuracy(seed):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 3, size=100)
    y_pred = rng.integers(0, 6, size=100)
    assert purity(y_true, y_pred) >= cluster_accuracy(y_true, y_pred)


def test_external_scores_keys_and_values():
    scores = external_scores(Y_TRUE, Y_TRUE + 5)
    assert set(scores) == {"acc", "nmi", "ari", "purity"}
    assert all(v == pytest.approx(1.0) for v in scores.values())
    assert normalized_mutual_info([0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(0.0)
    assert adjusted_rand([0, 0, 1, 1], [0, 1, 0, 1]) < 0


def test_internal_scores_separate_blobs_from_shuffled_labels():
    X, y = make_blobs(n_samples=600, centers=4, cluster_std=0.5, center_box=(-20, 20),
                      random_state=0)
    good = internal_scores(X, y)
    assert set(good) == {"silhouette", "calinski_harabasz", "davies_bouldin"}
    assert good["silhouette"] > 0.7
    shuffled = internal_scores(X, np.random.default_rng(0).permutation(y))
    assert shuffled["silhouette"] < 0.1
    assert good["calinski_harabasz"] > shuffled["calinski_harabasz"]
    assert good["davies_bouldin"] < shuffled["davies_bouldin"]


def test_internal_scores_subsample_for_silhouette():
    X, y = make_blobs(n_samples=600, centers=3, random_state=1)
    assert internal_scores(X, y, sample_size=100)["silhouette"] == pytest.approx(
        internal_scores(X, y)["silhouette"], abs=0.1)


@pytest.mark.parametrize("labels", [np.zeros(5), np.arange(5)])
def test_internal_scores_nan_when_undefined(labels):
    scores = internal_scores(np.random.default_rng(0).random((5, 2)), labels)
    assert all(math.isnan(v) for v in scores.values())


@pytest.mark.parametrize("func", [cluster_accuracy, purity, normalized_mutual_info,
                                  adjusted_rand, external_scores])
def test_bad_label_input_raises(func):
    with pytest.raises(InputError, match="3 and 2"):
        func([0, 1, 1], [0, 1])
    with pytest.raises(InputError, match="empty"):
        func([], [])
    with pytest.raises(InputError, match="1-D"):
        func([[0, 1], [1, 0]], [[0, 1], [1, 0]])


def test_internal_scores_bad_input_raises():
    X = np.random.default_rng(0).random((10, 2))
    y = np.arange(10) % 2
    with pytest.raises(InputError, match="labels"):
        internal_scores(X, y[:5])
    with pytest.raises(InputError, match="2-D"):
        internal_scores(X[:, 0], y)
    with pytest.raises(InputError, match="NaN"):
        internal_scores(np.where(X > 0.5, np.nan, X), y)
    with pytest.raises(InputError, match="sample_size"):
        internal_scores(X, y, sample_size=0)
