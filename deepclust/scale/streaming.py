"""Bigger than memory: fit on a sample of a file, then label or embed the whole file block by block.

Memory holds one block of ``chunk_rows`` rows (plus, for Parquet, the row group it comes
from), never the file; results are appended to the output file as each block is done.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from numbers import Integral
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from deepclust.errors import InputError
from deepclust.io.chunks import BlockWriter, RowFile
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

    The file is read once, block by block, keeping only the drawn rows.
    """
    return model.fit(RowFile(path, columns=columns, id_column=id_column).sample(n_rows, random_state))


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
    """Cluster of every row of a Parquet or ``.npy`` file, written to ``out_path`` as it is computed.

    ``out_path`` ends in ``.npy`` (the labels, in row order), ``.parquet`` or ``.csv`` (columns
    ``row`` — or ``id_column`` — and ``cluster``). ``precision="bfloat16"`` speeds up deep
    methods, see :func:`predict_chunks`. Returns the path written.
    """
    assign = _assigner(model, precision)
    return _stream(assign, path, out_path, chunk_rows, columns, id_column, "cluster")


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
    """
    return _stream(model.transform, path, out_path, chunk_rows, columns, id_column, "z")


def predict_chunks(model: Any, X: np.ndarray, *, chunk_rows: int = 65536, precision: str = "float32") -> np.ndarray:
    """``model.predict(X)`` block by block, for an in-memory or memory-mapped ``X``.

    ``precision="bfloat16"`` runs a deep method's encoder under ``torch.autocast`` (CPUs
    with AVX-512 BF16 or AMX, and GPUs) and assigns the float32 embedding by the method's
    own rule: 2.6-3.7x the float32 rate on 2 cores, no label changed in docs/benchmarks.md
    ("Scale"). ``torch.compile`` was measured too and is not used: it did not win reliably.
    """
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, Integral) or chunk_rows < 1:
        raise InputError(f"chunk_rows must be a positive integer, got {chunk_rows!r}")
    assign = _assigner(model, precision)
    return np.concatenate([assign(X[start : start + chunk_rows]) for start in range(0, len(X), chunk_rows)])


def _assigner(model: Any, precision: str) -> Callable[[np.ndarray], np.ndarray]:
    """``model.predict``, or for a deep method in bfloat16: its encoder under autocast, then its ``_assign``."""
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}")
    if precision == "float32":
        return model.predict
    if not isinstance(model, DeepClusterer):
        raise InputError(f"precision={precision!r} applies to deepclust's deep methods, not to {type(model).__name__}")
    check_is_fitted(model)

    def assign(block: np.ndarray) -> np.ndarray:
        data = model._data(block)
        with torch.autocast(model.device_.type, dtype=torch.bfloat16):
            z = model._embed(data)
        return model._assign(z.float()).cpu().numpy()

    return assign


def _stream(
    apply: Callable[[np.ndarray], np.ndarray],
    path: str | os.PathLike,
    out_path: str | os.PathLike,
    chunk_rows: int,
    columns: Sequence[str] | None,
    id_column: str | None,
    value_name: str,
) -> Path:
    """Read ``path`` in blocks, ``apply`` to each, append the results to ``out_path``."""
    rows = RowFile(path, columns=columns, id_column=id_column)
    with BlockWriter(out_path, rows.n_rows, id_name=rows.id_name, value_name=value_name) as writer:
        for X, ids in rows.blocks(chunk_rows):
            try:
                values = apply(X)
            except InputError as err:
                raise InputError(f"{rows.path}: {err}") from err
            writer.write(ids, np.asarray(values))
    return writer.path
