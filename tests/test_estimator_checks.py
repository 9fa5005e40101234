"""Every registered method passes scikit-learn's estimator checks (tiny settings)."""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from deepclust import METHODS, Hierarchical

TINY = dict(hidden_dims=(16,), embedding_dim=2, pretrain_epochs=2, batch_size=32, device="cpu", random_state=0)


def tiny(cls: type):
    params = cls().get_params()
    extra = {"cluster_epochs": 2} if "cluster_epochs" in params else {}
    return cls(n_clusters=2, **TINY, **extra)


# Checks skipped, and why:
EXPECTED_FAILURES: dict[str, str] = {}


@parametrize_with_checks(
    [tiny(info.cls) for info in METHODS.values()],
    expected_failed_checks=lambda estimator: EXPECTED_FAILURES,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


@parametrize_with_checks([Hierarchical(n_clusters=2)])
def test_hierarchical_is_sklearn_compatible(estimator, check):
    check(estimator)
