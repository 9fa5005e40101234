"""Input and parameter checks shared by all estimators; every failure is an InputError."""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.utils.validation import validate_data

from deepclust.errors import InputError

FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_features(estimator: Any, X: Any, *, reset: bool) -> np.ndarray:
    """A finite, non-empty 2-D float32 array; with ``reset=False`` also the fitted feature count.

    scikit-learn's own checks do the work; their errors become InputErrors that also name
    the estimator, and text where numbers belong gets a message that says so.
    """
    name = type(estimator).__name__
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # values beyond float32 get a message of their own below
            return validate_data(estimator, X, reset=reset, dtype=np.float32, ensure_min_samples=1)
    except TypeError as err:
        if "sparse" in str(err).lower():
            raise InputError(f"{name}: X is a sparse matrix; deepclust needs dense rows, e.g. X.toarray()") from err
        raise
    except ValueError as err:
        if "convert" in str(err) and "float" in str(err):
            raise InputError(
                f"{name}: X must be numeric (floats or integers) but holds text ({err}); "
                "encode text or categorical columns first"
            ) from err
        message = str(err)
        if ("NaN" in message or "infinity" in message) and _beyond_float32(X):
            message = f"X holds {beyond_float32_message(np.nanmax(np.abs(np.asarray(X, dtype=np.float64))))}"
        elif "NaN" in message or "infinity" in message:
            message = "X contains NaN or infinity; impute or drop the missing or infinite values first"
        elif "Expected 2D array" in message:
            message = f"X must be 2-D (n_samples, n_features), got {np.ndim(X)}-D input. Reshape your data, e.g. X.reshape(-1, 1) for a single feature"
        raise InputError(f"{name}: {message}") from err


def beyond_float32_message(magnitude: float) -> str:
    """The message for finite values (largest ``magnitude``) that float32, which the models compute in, makes infinite.

    The estimators' check and the streaming reader (io/chunks.py) say it in the same words.
    """
    return f"values beyond float32's range (largest magnitude {magnitude:.3g}, limit {FLOAT32_MAX:.2g}); scale the features first"


def _beyond_float32(X: Any) -> bool:
    """Whether ``X`` is finite but holds numbers that float32 turns into infinity."""
    try:
        values = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return bool(np.isfinite(values).all() and np.abs(values).max(initial=0.0) > FLOAT32_MAX)


def check_count(value: Any, name: str, low: int = 1) -> int:
    """``value`` as an int, or an InputError: an integer (not a bool, not 2.7) of at least ``low``."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
        expected = "a positive integer" if low == 1 else f"an integer >= {low}"
        raise InputError(f"{name} must be {expected}, got {value!r}")
    return int(value)


def check_n_clusters(estimator: Any, n_samples: int, *, allow_auto: bool = False) -> int | None:
    """``n_clusters`` must be an integer in [1, n_samples] (or ``"auto"`` where allowed: returns None)."""
    k = estimator.n_clusters
    name = type(estimator).__name__
    if allow_auto and isinstance(k, str) and k == "auto":
        check_k_range(estimator.k_range, n_samples, name)
        return None
    if isinstance(k, bool) or not isinstance(k, Integral) or k < 1:
        accepted = "a positive integer or 'auto'" if allow_auto else "a positive integer"
        raise InputError(f"{name}: n_clusters must be {accepted}, got {k!r}")
    if k > n_samples:
        raise InputError(f"{name}: n_clusters={k} is larger than the number of samples ({n_samples})")
    return int(k)


def check_k_range(k_range: Any, n_samples: int, owner: str, data: str = "X") -> range:
    """``k_range=(low, high)``: the inclusive range of cluster counts to try, each in [2, n_samples - 1].

    One meaning everywhere: the estimators' ``n_clusters="auto"`` and ``select_n_clusters`` both
    read it so; ``owner`` and ``data`` name the caller and its array in the messages.
    """
    if (
        not isinstance(k_range, (tuple, list))
        or len(k_range) != 2
        or not all(isinstance(k, Integral) and not isinstance(k, bool) for k in k_range)
    ):
        raise InputError(f"{owner}: k_range must be a pair of integers (low, high), both included, got {k_range!r}")
    low, high = int(k_range[0]), int(k_range[1])
    if not 2 <= low <= high:
        raise InputError(f"{owner}: k_range=({low}, {high}) is empty or starts below 2; need 2 <= low <= high")
    if high >= n_samples:
        smaller = f"a smaller k_range, e.g. ({low}, {n_samples - 1}), or " if n_samples - 1 >= low else ""
        raise InputError(
            f"{owner}: k_range=({low}, {high}) reaches {high} clusters, but {data} has only {n_samples} samples; give {smaller}a number of clusters"
        )
    return range(low, high + 1)


def check_params(estimator: Any, constraints: dict[str, tuple]) -> None:
    """Check parameters against ``{name: (kind, low, high)}``, ``{name: ("choice", options)}``,
    ``{name: ("auto", (kind, low, high))}`` (the string "auto" or a number within the bounds) or
    ``{name: ("optional", (kind, low, high))}`` (None or a number within the bounds).

    ``kind`` is ``int`` or ``float``; bounds are inclusive, ``None`` means unbounded.
    """
    name = type(estimator).__name__
    for param, rule in constraints.items():
        value = getattr(estimator, param)
        if rule[0] == "choice":
            if value not in rule[1]:
                raise InputError(f"{name}: {param} must be one of {list(rule[1])}, got {value!r}")
            continue
        alternative = {"auto": ' or "auto"', "optional": " or None"}.get(rule[0], "")
        if alternative:
            if (rule[0] == "auto" and isinstance(value, str) and value == "auto") or (rule[0] == "optional" and value is None):
                continue
            rule = rule[1]
        kind, low, high = rule
        numeric = Integral if kind is int else Real
        if isinstance(value, bool) or not isinstance(value, numeric):
            expected = ("an integer" if kind is int else "a number") + alternative
            raise InputError(f"{name}: {param} must be {expected}, got {value!r}")
        if not isinstance(value, Integral) and not math.isfinite(value):  # NaN passes every comparison below
            raise InputError(f"{name}: {param} must be a finite number, got {value!r}")
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"[{'-inf' if low is None else low}, {'inf' if high is None else high}]"
            raise InputError(f"{name}: {param} must be in {bounds}, got {value!r}")


def check_int_tuple(estimator: Any, param: str, *, optional: bool = False) -> tuple[int, ...] | None:
    """A parameter that must be a tuple (or list) of positive integers, e.g. ``hidden_dims``;
    with ``optional``, None too. Returns it as a tuple of ints (or None)."""
    value = getattr(estimator, param)
    if optional and value is None:
        return None
    if not isinstance(value, (tuple, list)) or not all(
        isinstance(v, Integral) and not isinstance(v, bool) and v >= 1 for v in value
    ):
        alternative = " or None" if optional else ""
        raise InputError(f"{type(estimator).__name__}: {param} must be a tuple of positive integers{alternative}, got {value!r}")
    return tuple(int(v) for v in value)
