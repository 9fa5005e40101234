"""Time series as rows for the temporal (1-D convolutional) autoencoder.

:class:`SeriesEncoder` brings every series to one layout: resampled to a common length,
z-normalised per channel, shifted so that its dominant Fourier component starts at phase
zero, and flattened channel by channel. A deep method with
``architecture="temporal", input_shape=encoder.input_shape_`` learns the embedding it clusters.

Why resampling, not padding: the autoencoder's reconstruction loss has no mask, so padded
steps would be reconstructed as if they were data. Resampling (linear interpolation) assumes
each series covers the same span — one cycle, one event, one recording — at its own rate.

Why the phase shift: the same shape starting at a different time is, to a Euclidean or
convolutional autoencoder, a different series; on sines, squares and ramps with random
shifts the autoencoder's clusters follow the shift, not the shape (ACC near chance).
Shifting each series circularly so that its strongest frequency has phase zero lines them
up. Set ``align=False`` when the time at which things happen is what tells clusters apart.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.metrics import pairwise_distances_chunked
from sklearn.utils.validation import check_is_fitted

from deepclust.errors import InputError
from deepclust.io.series import read_series
from deepclust.registry import get_method


class SeriesEncoder(TransformerMixin, BaseEstimator):
    """Resample, z-normalise and align time series; output one flattened row per series.

    Parameters
    ----------
    length : int, optional
        Steps every series is resampled to (linear interpolation). Default: the longest
        series seen by ``fit``.
    normalize : bool
        Z-normalise each series per channel (mean 0, standard deviation 1), so clusters follow
        shape rather than level or scale. A constant series becomes zeros.
    align : bool
        Shift each series circularly so its dominant Fourier component has phase zero (all
        channels by the same amount), which removes random shifts; see the module docstring.

    Input
    -----
    An array ``(n, length)`` or ``(n, length, channels)``, or a list of 1-D ``(length_i,)`` or
    2-D ``(length_i, channels)`` arrays of unequal lengths (:func:`deepclust.io.series.read_series`
    returns either).

    Attributes
    ----------
    length_ : int
    n_channels_ : int
    input_shape_ : tuple (channels, length)
        The layout of each output row: channel by channel, ``length_`` steps each.
    method_params_ : dict
        ``{"architecture": "temporal", "input_shape": input_shape_}``: what a deep method needs.

    Example
    -------
    >>> encoder = SeriesEncoder()                                    # doctest: +SKIP
    >>> X = encoder.fit_transform(series)                            # doctest: +SKIP
    >>> IDEC(n_clusters=3, **encoder.method_params_).fit(X)          # doctest: +SKIP
    """

    def __init__(self, length: int | None = None, *, normalize: bool = True, align: bool = True) -> None:
        self.length = length
        self.normalize = normalize
        self.align = align

    def fit(self, X: Any, y: Any = None) -> SeriesEncoder:
        """Fix the common length and the number of channels."""
        if self.length is not None and (isinstance(self.length, bool) or not isinstance(self.length, Integral) or self.length < 2):
            raise InputError(f"SeriesEncoder: length must be an integer >= 2 or None, got {self.length!r}")
        series = as_series_list(X)
        channels = {s.shape[1] for s in series}
        if len(channels) > 1:
            raise InputError(f"SeriesEncoder: all series need the same number of channels, got {sorted(channels)}")
        self.n_channels_ = channels.pop()
        self.length_ = int(self.length) if self.length is not None else max(len(s) for s in series)
        self._set_output_params()
        return self

    def _set_output_params(self) -> None:
        self.input_shape_ = (self.n_channels_, self.length_)
        self.method_params_ = {"architecture": "temporal", "input_shape": self.input_shape_}

    def transform(self, X: Any) -> np.ndarray:
        """Float32 array ``(n, channels * length)``: prepared series, flattened channel by channel."""
        return self.prepare(X).transpose(0, 2, 1).reshape(-1, self.n_channels_ * self.length_).astype(np.float32)

    def prepare(self, X: Any) -> np.ndarray:
        """The prepared series as an array ``(n, length, channels)``, for plotting and profiles."""
        check_is_fitted(self)
        series = as_series_list(X)
        for i, s in enumerate(series):
            if s.shape[1] != self.n_channels_:
                raise InputError(f"SeriesEncoder was fitted on {self.n_channels_} channel(s); series {i} has {s.shape[1]}")
        data = np.stack([_resample(s, self.length_) for s in series])
        if self.normalize:
            std = data.std(axis=1, keepdims=True)
            data = np.divide(data - data.mean(axis=1, keepdims=True), std, out=np.zeros_like(data), where=std > 1e-8)
        if self.align:
            data = _align_phase(data)
        return data

    # ------------------------------------------------------------ saved models
    def _get_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        check_is_fitted(self)
        return {"length": self.length_, "channels": self.n_channels_}, {}

    def _set_state(self, meta: dict, arrays: dict[str, np.ndarray]) -> None:
        try:
            self.length_, self.n_channels_ = int(meta["length"]), int(meta["channels"])
        except (KeyError, TypeError, ValueError) as err:
            raise InputError(f"saved SeriesEncoder state is incomplete or malformed: {err!r}") from err
        self._set_output_params()


def as_series_list(X: Any) -> list[np.ndarray]:
    """Each series as a float64 array ``(length, channels)``; an InputError names the first bad one."""
    if isinstance(X, (str, os.PathLike)):
        raise InputError(f"expected series (an array or a list of arrays), got the path {str(X)!r}; read it with deepclust.load or deepclust.io.series.read_series")
    if hasattr(X, "to_numpy"):  # a DataFrame: one series per row
        X = X.to_numpy()
    if isinstance(X, np.ndarray) and X.dtype.kind in "biuf":  # one block: checked at once, not series by series
        if X.ndim not in (2, 3) or len(X) == 0 or X.shape[1] < 2:
            raise InputError(f"a series array must be (n, length) or (n, length, channels) with n >= 1 and length >= 2, got shape {X.shape}")
        block = (X[:, :, None] if X.ndim == 2 else X).astype(np.float64)
        bad = np.argwhere(~np.isfinite(block).all(axis=2))
        if len(bad):
            raise InputError(f"series {bad[0][0]} holds NaN or infinity at step {bad[0][1]}; fill or drop the missing values first")
        return list(block)
    try:
        items: Sequence[Any] = list(X)
    except TypeError as err:
        raise InputError(f"expected an array or a list of series, got {type(X).__name__}") from err
    if not items:
        raise InputError("expected at least one series, got none")
    series = []
    for i, item in enumerate(items):
        try:
            s = np.asarray(item, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise InputError(f"series {i} is not numeric ({err})") from err
        if s.ndim == 1:
            s = s[:, None]
        if s.ndim != 2 or len(s) < 2:
            raise InputError(f"series {i} must be 1-D (length,) or 2-D (length, channels) with length >= 2, got shape {s.shape}")
        bad = np.flatnonzero(~np.isfinite(s).all(axis=1))
        if len(bad):
            raise InputError(f"series {i} holds NaN or infinity at step {bad[0]}; fill or drop the missing values first")
        series.append(s)
    return series


def _resample(series: np.ndarray, length: int) -> np.ndarray:
    """Linear interpolation of ``(steps, channels)`` onto ``length`` evenly spaced steps over the same span."""
    if len(series) == length:
        return series
    old, new = np.linspace(0.0, 1.0, len(series)), np.linspace(0.0, 1.0, length)
    return np.stack([np.interp(new, old, channel) for channel in series.T], axis=1)


def _align_phase(data: np.ndarray) -> np.ndarray:
    """Shift each series ``(length, channels)`` circularly so its strongest frequency has phase zero.

    The strongest (channel, frequency) pair other than the mean picks the shift; every channel
    moves by the same fraction of a step (a phase rotation in the Fourier domain).
    """
    n, length, channels = data.shape
    spectrum = np.fft.rfft(data, axis=1)  # (n, frequencies, channels)
    magnitude = np.abs(spectrum[:, 1:, :]).reshape(n, -1)
    strongest = magnitude.argmax(axis=1)
    frequency, channel = strongest // channels + 1, strongest % channels
    phase = np.angle(spectrum[np.arange(n), frequency, channel])
    rotation = np.exp(-1j * np.outer(phase / frequency, np.arange(spectrum.shape[1])))
    return np.fft.irfft(spectrum * rotation[:, :, None], n=length, axis=1)


@dataclass
class ClusterProfile:
    """A cluster's typical series, for plotting: ``(length,)`` or ``(length, channels)`` each."""

    mean: np.ndarray
    medoid: np.ndarray
    medoid_index: int
    size: int


def cluster_profiles(series: Any, labels: Any, *, encoder: SeriesEncoder | None = None) -> dict[int, ClusterProfile]:
    """Mean and medoid series of every cluster (labels < 0, e.g. outliers, are left out).

    Profiles are taken on the prepared series (``encoder.prepare``: resampled, z-normalised,
    aligned) — a mean of unaligned series would blur shifted shapes into a flat line. Pass the
    fitted encoder the clustering used; by default a ``SeriesEncoder()`` is fitted here. The
    medoid is the member with the smallest summed distance to the others, and
    ``medoid_index`` its row in ``series``.
    """
    encoder = encoder if encoder is not None else SeriesEncoder().fit(series)
    data = encoder.prepare(series)
    labels = np.asarray(labels)
    if labels.shape != (len(data),):
        raise InputError(f"labels must have one entry per series ({len(data)}), got shape {labels.shape}")
    flat = data.reshape(len(data), -1)
    squeeze = (lambda a: a[..., 0]) if encoder.n_channels_ == 1 else (lambda a: a)
    profiles = {}
    for label in np.unique(labels[labels >= 0]):
        members = np.flatnonzero(labels == label)
        sums = np.concatenate(list(pairwise_distances_chunked(flat[members], reduce_func=lambda d, start: d.sum(axis=1))))
        medoid = int(members[sums.argmin()])
        profiles[int(label)] = ClusterProfile(squeeze(data[members].mean(axis=0)), squeeze(data[medoid]), medoid, len(members))
    return profiles


def cluster_series(
    series: Any,
    n_clusters: int | str = "auto",
    *,
    method: str = "idec",
    random_state: int | None = 0,
    length: int | None = None,
    align: bool = True,
    **method_params: Any,
) -> np.ndarray:
    """Cluster time series in one call; returns one label per series, in input order.

    ``series`` is an array, a list of unequal-length arrays, or a file path (read by
    :func:`deepclust.io.series.read_series`). :class:`SeriesEncoder` (``length``, ``align``)
    prepares them and the registered deep ``method`` clusters them with its temporal
    autoencoder; ``method_params`` are passed on (e.g. ``pretrain_epochs=30``).
    """
    if isinstance(series, (str, os.PathLike)):
        series, _ = read_series(series)
    encoder = SeriesEncoder(length, align=align)
    X = encoder.fit_transform(series)
    model = get_method(method)(n_clusters=n_clusters, random_state=random_state, **{**encoder.method_params_, **method_params})
    return model.fit(X).labels_
