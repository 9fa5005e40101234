"""Bigger than memory: fit on a sample of a file, then label or embed the whole file block by block.

Memory holds one block of ``chunk_rows`` rows (plus, for Parquet, the row group it comes
from), never the file. Each block's results go to a temporary file beside the output, which is
renamed into place when the last block is in: the output is complete or absent.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from deepclust._validation import check_count
from deepclust.errors import InputError
from deepclust.io.chunks import BlockWriter, RowFile
from deepclust.io.tables import PARQUET
from deepclust.methods.base import DeepClusterer

PRECISIONS = ("float32", "bfloat16")


def fit_sample(
    model: Any,
    path: str | os.PathLike,
    *,
    n_rows: int = 100_000,
    columns: Sequence[str] | None = None,
    id_column: str | None = None,
    random_state: int | np.random.RandomState | None = None,
) -> Any:
    """Fit ``model`` on ``n_rows`` rows drawn at random from a Parquet or ``.npy`` file.

    The file is read once, block by block, keeping only the drawn rows. From Parquet the
    model is fitted on a DataFrame, so it records the column names (``feature_names_in_``)
    and :func:`predict_file` later reads the columns by name, whatever their order in a file.
    """
    rows = RowFile(path, columns=columns, id_column=id_column)
    sample = rows.sample(n_rows, random_state)
    return model.fit(pd.DataFrame(sample, columns=rows.feature_names, copy=False) if rows.named else sample)


def predict_file(
    model: Any,
    path: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    chunk_rows: int = 65536,
    columns: Sequence[str] | None = None,
    id_column: str | None = None,
    precision: str = "float32",
) -> Path:
    """Cluster of every row of a Parquet or ``.npy`` file, written to ``out_path`` block by block.

    ``out_path`` ends in ``.npy`` (the labels, in row order), ``.parquet`` or ``.csv`` (columns
    ``row`` — or ``id_column`` — and ``cluster``); it must not be the input file. A model
    fitted with column names (see :func:`fit_sample`) gets a Parquet file's columns by name,
    in its own order. An empty id, or an id repeated within one block of ``chunk_rows`` rows,
    is an error. ``precision="bfloat16"`` speeds up deep methods, see :func:`predict_chunks`.
    Returns the path written.
    """
    check_fitted(model, "predict_file")
    assign = _assigner(model, precision)
    return _stream(model, assign, path, out_path, chunk_rows, columns, id_column, "cluster")


def transform_file(
    model: Any,
    path: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    chunk_rows: int = 65536,
    columns: Sequence[str] | None = None,
    id_column: str | None = None,
) -> Path:
    """``model.transform`` of every row of a file (the embedding), written block by block.

    ``.npy`` output is one (n_rows, n_components) array; tables get columns ``z0, z1, ...``.
    Columns and ids are read and checked as in :func:`predict_file`.
    """
    check_fitted(model, "transform_file")
    return _stream(model, model.transform, path, out_path, chunk_rows, columns, id_column, "z")


def predict_chunks(model: Any, X: np.ndarray | pd.DataFrame, *, chunk_rows: int = 65536, precision: str = "float32") -> np.ndarray:
    """``model.predict(X)`` block by block, for an in-memory or memory-mapped ``X``.

    ``precision="bfloat16"`` runs a deep method's encoder under ``torch.autocast`` (CPUs
    with AVX-512 BF16 or AMX, and GPUs) and assigns the float32 embedding by the method's
    own rule: 2.6-3.7x the float32 rate on 2 cores, no label changed in docs/benchmarks.md
    ("Scale"). ``torch.compile`` was measured too and is not used: it did not win reliably.
    """
    chunk_rows = check_count(chunk_rows, "chunk_rows")
    check_fitted(model, "predict_chunks")
    assign = _assigner(model, precision)
    return np.concatenate([assign(X[start : start + chunk_rows]) for start in range(0, len(X), chunk_rows)])


def check_fitted(model: Any, caller: str) -> None:
    """An InputError unless ``model`` is a fitted estimator: checked before any file is read or any work sent out."""
    try:
        check_is_fitted(model)
    except NotFittedError as err:
        raise InputError(f"{caller}: {type(model).__name__} is not fitted yet; fit it (e.g. with fit_sample) first") from err
    except TypeError as err:
        raise InputError(f"{caller}: expected a fitted estimator, got {type(model).__name__}") from err


def fitted_names(model: Any) -> list[str] | None:
    """The column names ``model`` was fitted on (``feature_names_in_``), or None when it was fitted on an array."""
    names = getattr(model, "feature_names_in_", None)
    return None if names is None else [str(name) for name in names]


def _assigner(model: Any, precision: str) -> Callable[[np.ndarray], np.ndarray]:
    """``model.predict``, or for a deep method in bfloat16: its encoder under autocast, then its ``_assign``."""
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}")
    if precision == "float32":
        return model.predict
    if not isinstance(model, DeepClusterer):
        raise InputError(f"precision={precision!r} applies to deepclust's deep methods, not to {type(model).__name__}")

    def assign(block: np.ndarray) -> np.ndarray:
        data = model._data(block)
        with torch.autocast(model.device_.type, dtype=torch.bfloat16):
            z = model._embed(data)
        return model._assign(z.float(), data).cpu().numpy()

    return assign


def _open_rows(model: Any, path: str | os.PathLike, columns: Sequence[str] | None, id_column: str | None) -> RowFile:
    """``path``'s rows; from Parquet, for a model fitted with column names, those columns in the fitted order."""
    fitted = fitted_names(model)
    if fitted is None or Path(path).suffix.lower() not in PARQUET:
        return RowFile(path, columns=columns, id_column=id_column)
    if columns is not None:
        given = RowFile(path, columns=columns, id_column=id_column)
        if sorted(given.feature_names) != sorted(fitted):
            raise InputError(
                f"{given.path}: columns={given.feature_names} are not the columns {type(model).__name__} was fitted on: {fitted}"
            )
    return RowFile(path, columns=fitted, id_column=id_column)


def _stream(
    model: Any,
    apply: Callable[[Any], np.ndarray],
    path: str | os.PathLike,
    out_path: str | os.PathLike,
    chunk_rows: int,
    columns: Sequence[str] | None,
    id_column: str | None,
    value_name: str,
) -> Path:
    """Read ``path`` in blocks, ``apply`` to each, write the results to ``out_path``."""
    rows = _open_rows(model, path, columns, id_column)
    if Path(out_path).exists() and Path(out_path).samefile(rows.path):
        raise InputError(f"{out_path}: this is the input file, which the output would overwrite; write to another path")
    # Blocks with their column names let the model check them (scikit-learn's feature_names_in_ check).
    by_name = rows.named and fitted_names(model) is not None
    with BlockWriter(out_path, rows.n_rows, id_name=rows.id_name, value_name=value_name) as writer:
        for X, ids in rows.blocks(chunk_rows):
            try:
                values = apply(pd.DataFrame(X, columns=rows.feature_names, copy=False) if by_name else X)
            except InputError as err:
                raise InputError(f"{rows.path}: {err}") from err
            writer.write(ids, np.asarray(values))
    return writer.path
