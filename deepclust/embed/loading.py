"""``deepclust.load``: read a file or folder, tell what kind of data it holds, and return what clustering it needs.

The kind (modality) comes from the path unless ``modality=`` says it: a folder holds images;
``.txt`` is text (one document per line); ``.csv``/``.tsv``/``.parquet``/``.pq`` is a table
(``modality="text"`` or ``"series"`` reads it as documents or as one series per row);
``.npy``/``.npz`` is a table when 2-D, series when 3-D ``(n, length, channels)`` and images
when 4-D ``(n, height, width, channels)``. Readers and front ends of each kind are imported
only when that kind is loaded.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import clone

from deepclust.errors import InputError
from deepclust.io.tables import DELIMITERS, NUMPY, PARQUET, read_array

MODALITIES = ("tabular", "series", "images", "text")


@dataclass
class LoadedData:
    """What :func:`load` read, and what clustering it needs.

    Attributes
    ----------
    modality : {"tabular", "series", "images", "text"}
    data : what ``front_end.fit`` takes (a DataFrame, series, image paths or an array, documents)
    ids : ndarray, one per row: the user's ids (``id_column=``; image paths relative to the
        folder), else 0..n-1
    labels : ndarray or None, ground truth the data carries (image sub-folder names), for evaluation only
    front_end : an unfitted transformer for this modality
    method_params : dict, parameters a deep method needs for the front end's output,
        e.g. ``{"architecture": "temporal", "input_shape": (1, 128)}``
    """

    modality: str
    data: Any
    ids: np.ndarray
    labels: np.ndarray | None
    front_end: Any
    method_params: dict


def load(path: str | os.PathLike, modality: str | None = None, **options: Any) -> LoadedData:
    """Read ``path`` as ``modality`` (detected from the path when None); see the module docstring.

    ``options`` go to the reader when it takes them (``id_column=`` for tables and series,
    ``column=`` for text in a table) and otherwise to the front end (``length=`` of
    :class:`SeriesEncoder`, ``image_size=`` of ``ImageEncoder``, ...); any other is an InputError.

    Example
    -------
    >>> loaded = deepclust.load("customers.csv", id_column="id")          # doctest: +SKIP
    >>> X = loaded.front_end.fit_transform(loaded.data)                    # doctest: +SKIP
    >>> labels = IDEC(n_clusters=5, **loaded.method_params).fit_predict(X)  # doctest: +SKIP
    """
    target = Path(path).expanduser()
    if not target.exists():
        raise InputError(f"{target} does not exist")
    if modality is not None and modality not in MODALITIES:
        raise InputError(f"modality must be one of {list(MODALITIES)} or None (detect it), got {modality!r}")
    array = read_array(target) if target.is_file() and target.suffix.lower() in NUMPY else None
    modality = modality or _detect(target, array)
    return _LOADERS[modality](target, array, options)


def _detect(target: Path, array: np.ndarray | None) -> str:
    if target.is_dir():
        return "images"
    suffix = target.suffix.lower()
    if array is not None:
        kinds = {2: "tabular", 3: "series", 4: "images"}
        if array.ndim not in kinds:
            raise InputError(f"{target} holds a {array.ndim}-D array {array.shape}; expected 2-D (a table), 3-D (series) or 4-D (images)")
        return kinds[array.ndim]
    if suffix == ".txt":
        return "text"
    if suffix in DELIMITERS or suffix in PARQUET:
        return "tabular"
    known = ", ".join([*DELIMITERS, *PARQUET, *NUMPY, ".txt"])
    raise InputError(f"{target}: unknown file type {suffix or '(no ending)'!r}; deepclust reads {known} files and image folders")


def _split_options(options: dict[str, Any], reader: Callable | None, front_end: type, modality: str) -> tuple[dict, dict]:
    """Options the reader takes, and options the front end takes; anything else is an InputError."""
    reader_names = set(inspect.signature(reader).parameters) - {"path"} if reader is not None else set()
    front_names = set(front_end().get_params(deep=False))
    unknown = sorted(set(options) - reader_names - front_names)
    if unknown:
        accepted = ", ".join(sorted(reader_names | front_names))
        raise InputError(f"load: unknown option(s) {unknown} for {modality} data; accepted: {accepted}")
    return ({k: v for k, v in options.items() if k in reader_names}, {k: v for k, v in options.items() if k not in reader_names})


def _load_tabular(target: Path, array: np.ndarray | None, options: dict[str, Any]) -> LoadedData:
    from deepclust.embed.tabular import METHOD_PARAMS, TabularEncoder
    from deepclust.io.tables import read_table

    reader_options, front_options = _split_options(options, read_table, TabularEncoder, "tabular")
    frame, ids = read_table(target, **reader_options)
    return LoadedData("tabular", frame, ids, None, TabularEncoder(**front_options), dict(METHOD_PARAMS))


def _load_series(target: Path, array: np.ndarray | None, options: dict[str, Any]) -> LoadedData:
    from deepclust.embed.series import SeriesEncoder
    from deepclust.io.series import read_series

    reader_options, front_options = _split_options(options, read_series, SeriesEncoder, "series")
    series, ids = read_series(target, **reader_options)
    front_end = SeriesEncoder(**front_options)
    return LoadedData("series", series, ids, None, front_end, dict(clone(front_end).fit(series).method_params_))


def _load_images(target: Path, array: np.ndarray | None, options: dict[str, Any]) -> LoadedData:
    from deepclust.embed.images import ImageEncoder
    from deepclust.io.images import read_image_folder

    if target.is_dir():
        _, front_options = _split_options(options, read_image_folder, ImageEncoder, "images")
        paths, codes, class_names = read_image_folder(target)
        labels = None if codes is None else np.array(class_names)[codes]  # the sub-folder names, as the report shows them
        data, ids = paths, np.array([os.path.relpath(p, target) for p in paths])
    elif array is not None:
        _, front_options = _split_options(options, None, ImageEncoder, "images")
        data, ids, labels = array, np.arange(len(array)), None
    else:
        raise InputError(f"{target} is a single file; images are read from a folder (or a 4-D .npy array)")
    front_end = ImageEncoder(**front_options)
    # Fitting reads only the first image's size and colour: cheap, and it fixes the autoencoder's input shape.
    return LoadedData("images", data, ids, labels, front_end, dict(clone(front_end).fit(data).method_params_))


def _load_text(target: Path, array: np.ndarray | None, options: dict[str, Any]) -> LoadedData:
    from deepclust.embed.text import TextEncoder
    from deepclust.io.text import read_text

    reader_options, front_options = _split_options(options, read_text, TextEncoder, "text")
    docs, ids = read_text(target, **reader_options)
    return LoadedData("text", docs, ids, None, TextEncoder(**front_options), {"architecture": "dense"})


_LOADERS: dict[str, Callable[[Path, np.ndarray | None, dict[str, Any]], LoadedData]] = {
    "tabular": _load_tabular,
    "series": _load_series,
    "images": _load_images,
    "text": _load_text,
}
