"""Distillation: a student network reproduces a clustering on rows it never saw."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.mixture import GaussianMixture
from sklearn.utils.estimator_checks import parametrize_with_checks

from deepclust import DEC, InputError, Student, distill
from deepclust.metrics import cluster_accuracy


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The students are tiny: a second thread only adds hand-offs, which cost seconds on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def kmeans_teacher(digits) -> tuple[KMeans, float]:
    """k-means on digits and the seconds its fit took."""
    X, _ = digits
    start = time.perf_counter()
    model = KMeans(10, n_init=10, random_state=0).fit(X)
    return model, time.perf_counter() - start


@pytest.fixture(scope="module")
def kmeans_student(digits, kmeans_teacher) -> Student:
    X, _ = digits
    return distill(kmeans_teacher[0], X, random_state=0, device="cpu")


def test_student_agrees_with_kmeans_on_held_out_digits(digits, kmeans_teacher, kmeans_student):
    X, y = digits
    teacher, student = kmeans_teacher[0], kmeans_student
    # Observed: 0.953 agreement on the 359 held-out rows (0.955 to 0.967 over seeds 1-3).
    assert student.agreement_ >= 0.94
    # k-means has no confidences, so every one of the 1438 training rows is kept.
    assert (student.n_train_, student.n_holdout_) == (1438, 359)
    # The student's clustering is about as accurate as its teacher's (observed 0.79 both).
    assert cluster_accuracy(y, student.predict(X)) >= cluster_accuracy(y, teacher.labels_) - 0.03


def test_predicting_a_batch_is_much_faster_than_refitting(digits, kmeans_teacher, kmeans_student):
    X, _ = digits
    timings = []
    for _ in range(3):
        start = time.perf_counter()
        kmeans_student.predict(X)
        timings.append(time.perf_counter() - start)
    # Observed: about 2 ms to predict all 1797 rows against 0.14 s (idle) to 0.5 s (busy) to refit k-means.
    assert 10 * min(timings) < kmeans_teacher[1]


def test_same_random_state_gives_the_same_student(digits, kmeans_teacher, kmeans_student):
    X, _ = digits
    again = distill(kmeans_teacher[0], X, random_state=0, device="cpu")
    np.testing.assert_array_equal(again.predict_proba(X), kmeans_student.predict_proba(X))
    assert again.agreement_ == kmeans_student.agreement_
    other = distill(kmeans_teacher[0], X, random_state=1, device="cpu")
    assert not np.allclose(other.predict_proba(X), kmeans_student.predict_proba(X))


def test_image_student_trains_on_shifted_copies_and_takes_the_shape_from_its_teacher(digits):
    X, y = digits
    X = np.kron(X.reshape(-1, 8, 8), np.ones((1, 2, 2), dtype=np.float32)).reshape(len(X), -1)  # 16x16 images
    teacher = DEC(10, input_shape=(16, 16), hidden_dims=(64,), pretrain_epochs=30, cluster_epochs=1, random_state=0, device="cpu").fit(X)
    student = distill(teacher, X, random_state=0, device="cpu")
    assert student.input_shape == (1, 16, 16)
    plain = distill(teacher, X, random_state=0, device="cpu", input_shape=None)
    assert plain.input_shape is None
    # Same rows, seed and network: only the augmentation can make the training losses differ.
    assert student.history_.losses != plain.history_.losses
    assert student.agreement_ >= 0.85  # observed 0.894 (0.914 without augmentation on these upscaled digits)


def test_student_t_teacher_trains_only_on_its_confident_rows(blobs):
    X, _ = blobs
    teacher = DEC(4, hidden_dims=(64, 64), embedding_dim=5, pretrain_epochs=10, cluster_epochs=5, device="cpu", random_state=0)
    teacher.fit(X)
    everyone = distill(teacher, X, confidence=0.0, random_state=0, device="cpu")
    confident = distill(teacher, X, confidence=0.5, random_state=0, device="cpu")
    assert everyone.n_holdout_ == confident.n_holdout_ == 80
    assert everyone.n_train_ == 320
    # Each cluster keeps the rows at or above its median confidence: about half of 320.
    assert 155 <= confident.n_train_ <= 165
    assert confident.agreement_ >= 0.95


def test_teacher_with_predict_proba_and_no_labels(blobs):
    X, y = blobs
    teacher = GaussianMixture(4, random_state=0).fit(X)
    student = distill(teacher, X, random_state=0, device="cpu")
    assert student.agreement_ >= 0.95
    assert cluster_accuracy(y, student.predict(X)) >= 0.95


def test_labels_array_keeps_label_values_and_skips_noise(blobs):
    X, y = blobs
    names = np.array(["a", "b", "c", "d"])[y]
    student = distill(names, X, random_state=0, device="cpu")
    assert list(student.classes_) == ["a", "b", "c", "d"]
    assert student.agreement_ >= 0.95
    noisy = np.where(np.arange(len(y)) % 10 == 0, -1, y)
    student = distill(noisy, X, random_state=0, device="cpu")
    assert student.n_train_ + student.n_holdout_ == 360
    assert -1 not in student.classes_


def test_student_probabilities_are_consistent_with_predictions(blobs):
    X, y = blobs
    student = Student((32,), epochs=20, device="cpu", random_state=0).fit(X, y)
    proba = student.predict_proba(X)
    assert proba.shape == (len(X), 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(student.classes_[proba.argmax(axis=1)], student.predict(X))
    assert student.score(X, y) >= 0.95


def test_fit_leaves_the_callers_random_generator_alone(blobs):
    X, y = blobs
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    Student((8,), epochs=1, device="cpu", random_state=0).fit(X, y)
    np.testing.assert_array_equal(torch.rand(3), expected)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda X, y: distill(y[:-1], X), "labels has 399 entries but X has 400 rows"),
        (lambda X, y: distill(KMeans(4), X), "KMeans teacher is not fitted"),
        (lambda X, y: distill(KMeans(4, n_init=1).fit(X[:100]), X), "fitted on 100 rows but X has 400"),
        (lambda X, y: distill(np.zeros(len(X)), X), "hold 1 cluster.*at least 2"),
        (lambda X, y: distill(y, X, confidence=1.5), r"confidence must be a number in \[0, 1\)"),
        (lambda X, y: distill(y, X, holdout=1), r"holdout must be a number in \[0, 1\)"),
        (lambda X, y: Student().fit(X, y[:, None]), "labels must be 1-D"),
        (lambda X, y: Student().fit(X, y + 0.5), "continuous"),
        (lambda X, y: Student().fit(X, np.ones(len(X))), "one class only"),
        (lambda X, y: Student(hidden_dims=(0,)).fit(X, y), "hidden_dims must be a tuple of positive integers"),
        (lambda X, y: Student(epochs=0).fit(X, y), r"epochs must be in \[1, inf\]"),
        (lambda X, y: Student(label_smoothing=0.7).fit(X, y), r"label_smoothing must be in \[0.0, 0.5\]"),
        (lambda X, y: Student(input_shape=(3, 3)).fit(X, y), r"input_shape=\(1, 3, 3\) holds 9 values per image, but X has 20 features"),
        (lambda X, y: Student().fit(X, y, sample_weight=-np.ones(len(X))), "sample_weight must be finite, non-negative"),
        (lambda X, y: Student().fit(np.where(X > 5, np.nan, X), y), "NaN"),
    ],
)
def test_bad_input_names_the_problem(blobs, call, message):
    X, y = blobs
    with pytest.raises(InputError, match=message):
        call(X, y)


def test_predict_checks_the_feature_count(blobs):
    X, y = blobs
    student = Student((8,), epochs=1, device="cpu", random_state=0).fit(X, y)
    with pytest.raises(InputError, match="X has 3 features, but Student is expecting 20"):
        student.predict(X[:, :3])


# Checks skipped, and why:
EXPECTED_FAILURES = {
    "check_supervised_y_2d": "labels must be 1-D: a column vector is refused with an InputError, not reshaped",
    "check_sample_weight_equivalence_on_dense_data": "mini-batch training: weighting a row is not the same as repeating it",
}


@parametrize_with_checks(
    [Student((16,), epochs=5, batch_size=64, lr=0.01, device="cpu", random_state=0)],
    expected_failed_checks=lambda estimator: EXPECTED_FAILURES,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
