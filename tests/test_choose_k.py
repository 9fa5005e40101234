import numpy as np
import pytest
from sklearn.datasets import make_blobs
from threadpoolctl import threadpool_limits

from deepclust.cluster import KSelection, select_n_clusters
from deepclust.cluster import density
from deepclust.cluster.choose_k import CLEAR_SILHOUETTE, CRITERIA
from deepclust.cluster.density import JOIN_AFFINITY
from deepclust.errors import InputError
from deepclust.metrics import adjusted_rand


@pytest.fixture(autouse=True)
def one_thread():
    """k-means and BLAS threads oversubscribe a busy 2-core machine; one thread is far faster."""
    with threadpool_limits(1):
        yield


def separated_blobs(centers: int, per_centre: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Well-separated Gaussian blobs in 10-d: centres spread over [-20, 20], unit spread."""
    return make_blobs(
        n_samples=per_centre * centers,
        n_features=10,
        centers=centers,
        cluster_std=1.0,
        center_box=(-20, 20),
        random_state=0,
    )


@pytest.mark.parametrize("centers", [3, 7, 15])
def test_default_criterion_finds_the_true_k(centers):
    X, y = separated_blobs(centers)
    result = select_n_clusters(X, random_state=0)
    assert isinstance(result, KSelection)
    assert result.criterion == "silhouette"  # "auto": well-separated blobs have a clear silhouette
    assert result.best_k == centers
    assert len(np.unique(result.labels)) == centers
    # The labelling at best_k recovers the blobs, not just their number.
    assert adjusted_rand(y, result.labels) == pytest.approx(1.0)


@pytest.mark.parametrize("centers", [3, 7])
def test_density_joins_the_fragments_umap_makes_of_a_blob(centers):
    """200 rows a blob: UMAP's layout breaks each of 3 blobs into pieces (5 dense groups in all);
    the embedding's neighbours join them again. Scores fall below the join level exactly at best_k."""
    X, y = separated_blobs(centers, per_centre=200)
    result = select_n_clusters(X, criterion="density", random_state=0)
    assert result.best_k == centers
    assert adjusted_rand(y, result.labels) == pytest.approx(1.0)
    assert result.scores[centers] < JOIN_AFFINITY
    assert np.isnan(result.scores[centers + 1]) or result.scores[centers + 1] >= JOIN_AFFINITY


@pytest.mark.parametrize("n_rows", [3, 4, 9])
def test_density_on_too_few_rows_for_two_dense_groups_takes_the_smallest_k(n_rows):
    Z = np.random.default_rng(0).normal(size=(n_rows, 3))
    result = select_n_clusters(Z, (2, n_rows - 1), criterion="density", random_state=0)
    assert result.best_k == 2 and all(np.isnan(s) for s in result.scores.values())


def test_density_on_a_random_subset_of_large_data(monkeypatch):
    monkeypatch.setattr(density, "MAX_ROWS", 400)  # the layout is made of 400 of the 1,200 rows
    X, _ = separated_blobs(4, per_centre=300)
    assert select_n_clusters(X, criterion="density", random_state=0).best_k == 4


def test_auto_asks_density_where_silhouette_finds_no_clear_structure(digits):
    """Raw digits: the best average silhouette is far below CLEAR_SILHOUETTE, so density decides."""
    X, _ = digits
    by_silhouette = select_n_clusters(X, criterion="silhouette", random_state=0)
    assert by_silhouette.scores[by_silhouette.best_k] < CLEAR_SILHOUETTE
    result = select_n_clusters(X, random_state=0)
    assert result.criterion == "density"
    assert result.scores[result.best_k] < JOIN_AFFINITY
    assert 9 <= result.best_k <= 12


@pytest.mark.parametrize("criterion", list(CRITERIA))
def test_every_criterion_finds_three_centres(criterion):
    # 100 points per centre: BIC's full covariances (55 parameters each in 10-d) turn
    # near-singular with ~15 points per cluster, and then BIC favours the largest k.
    X, _ = separated_blobs(3, per_centre=100)
    result = select_n_clusters(X, (2, 8), criterion=criterion, random_state=0, n_resamples=5)
    assert result.best_k == 3
    assert result.criterion == ("silhouette" if criterion == "auto" else criterion)  # "auto" names the one that decided


def test_scores_cover_the_range_and_best_k_is_the_best_score():
    X, _ = separated_blobs(3)
    result = select_n_clusters(X, (2, 6), criterion="davies_bouldin", random_state=0)
    assert sorted(result.scores) == [2, 3, 4, 5, 6]  # both ends included, as the estimators' k_range
    assert all(np.isfinite(s) for s in result.scores.values())
    assert result.scores[result.best_k] == min(result.scores.values())  # lower is better
    assert result.labels.shape == (len(X),)


def test_stability_ties_go_to_the_largest_k():
    # Three blobs where k=2 merges the same two every time: k=2 and k=3 are both perfectly
    # stable, and the finer, true k must win.
    X, _ = separated_blobs(3)
    result = select_n_clusters(X, (2, 3), criterion="stability", random_state=0, n_resamples=4)
    assert result.scores[2] == result.scores[3] == pytest.approx(1.0)
    assert result.best_k == 3


def test_silhouette_on_a_subsample_of_large_data():
    X, _ = make_blobs(n_samples=20_000, n_features=10, centers=4, center_box=(-20, 20), random_state=1)
    result = select_n_clusters(X, (2, 6), random_state=0, sample_size=500, n_init=1)
    assert result.best_k == 4


def test_same_random_state_gives_the_same_result():
    X, _ = make_blobs(n_samples=300, n_features=5, centers=4, cluster_std=3.0, random_state=2)
    for criterion in ("density", "silhouette", "stability"):
        a = select_n_clusters(X, (2, 6), criterion=criterion, random_state=7, n_resamples=3)
        b = select_n_clusters(X, (2, 6), criterion=criterion, random_state=7, n_resamples=3)
        assert a.scores == b.scores
        assert a.best_k == b.best_k
        np.testing.assert_array_equal(a.labels, b.labels)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k_range": (5, 4)}, "k_range=\\(5, 4\\) is empty or starts below 2"),
        ({"k_range": (1, 5)}, "starts below 2"),
        ({"k_range": (2, 3.5)}, "must be a pair of integers \\(low, high\\)"),
        ({"k_range": range(2, 5)}, "must be a pair of integers"),
        ({"k_range": (2, 30)}, "reaches 30 clusters, but Z has only 30 samples; give a smaller k_range, e.g. \\(2, 29\\)"),
        ({"criterion": "elbow"}, "criterion must be one of \\['auto', 'density', 'silhouette', 'calinski_harabasz'"),
        ({"n_resamples": 1}, "n_resamples must be an integer >= 2"),
        ({"sample_size": True}, "sample_size must be an integer"),
    ],
)
def test_bad_parameters_raise_input_error(kwargs, message):
    X, _ = separated_blobs(3, per_centre=10)
    with pytest.raises(InputError, match=message):
        select_n_clusters(X, **kwargs)


@pytest.mark.parametrize(
    ("Z", "message"),
    [
        (np.zeros(10), "Z must be 2-D \\(n_samples, n_features\\), got 1-D"),
        (np.zeros((4, 3, 2)), "got 3-D"),
        (np.array([[0.0, 1.0], [np.nan, 2.0], [3.0, 4.0]]), "NaN"),
    ],
)
def test_bad_embedding_raises_input_error(Z, message):
    with pytest.raises(InputError, match=message):
        select_n_clusters(Z, (2, 2))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_identical_points_cannot_be_split():
    with pytest.raises(InputError, match="too few distinct points"):
        select_n_clusters(np.ones((20, 3)), (2, 3), random_state=0)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_k_with_fewer_distinct_points_than_clusters_is_not_chosen():
    """Two distinct points score a perfect silhouette at every k; only k=2 is a real clustering of them."""
    Z = np.repeat([[0.0, 0.0], [5.0, 5.0]], 10, axis=0)
    selection = select_n_clusters(Z, (2, 4), random_state=0)
    assert selection.best_k == 2
    assert np.isnan(selection.scores[3]) and np.isnan(selection.scores[4])
    assert len(np.unique(selection.labels)) == 2


def test_report_k_per_criterion_on_digits(digits, capsys):
    """Informative only: digits have 10 classes but need not form 10 geometric clusters."""
    X, _ = digits
    picks = {
        criterion: select_n_clusters(X, (2, 15), criterion=criterion, random_state=0, n_init=1).best_k
        for criterion in CRITERIA
    }
    with capsys.disabled():
        print(f"\nk picked on raw digits (10 classes), k in 2..15: {picks}")
    assert all(2 <= k <= 15 for k in picks.values())


def test_density_leaves_its_layout_to_the_manifold_clustering_of_the_count_it_picks(monkeypatch):
    """An int random_state is density's UMAP seed itself, so N2D's UMAP manifold (10 components for
    10 clusters, the same seed) is density's layout, taken without laying it out again; laid out
    afresh it is the same. (Below 5,000 rows N2D's default manifold is t-SNE, so nothing is shared.)"""
    from deepclust.cluster import manifold

    X, _ = separated_blobs(10)
    made = []
    new_layout = manifold._new_umap_layout
    monkeypatch.setattr(manifold, "_new_umap_layout", lambda *args, **kwargs: made.append(args[1]) or new_layout(*args, **kwargs))
    manifold._kept_layouts.clear()
    assert select_n_clusters(X, criterion="density", random_state=3).best_k == 10
    shared = manifold.cluster_on_manifold(X.astype(np.float32), 10, seed=3, manifold="umap")
    assert made == [10]
    shared.layout[:] = 0.0  # the caller's copy: the layout kept is untouched
    kept = manifold.cluster_on_manifold(X.astype(np.float32), 10, seed=3, manifold="umap").layout
    assert made == [10] and kept.any()
    manifold._kept_layouts.clear()
    np.testing.assert_array_equal(manifold.cluster_on_manifold(X.astype(np.float32), 10, seed=3, manifold="umap").layout, kept)
    assert made == [10, 10]
    manifold.cluster_on_manifold(X.astype(np.float32), 10, seed=4, manifold="umap")  # another seed is another layout
    assert made == [10, 10, 10]
