"""Assignment and embedding of data spread over a Dask cluster, block by block on the workers.

The functions return lazy Dask collections; ``.compute()``, ``.to_parquet(...)`` or
``dask.array.to_npy_stack(...)`` runs them on the active scheduler: a
``distributed.LocalCluster`` or a real one (``distributed.Client("tcp://host:8786")``).
The fitted model is sent to each worker once (one key in the graph), not with every block;
the workers need deepclust installed. A model fitted with column names (``feature_names_in_``)
gets a DataFrame's columns by name, in the order it was fitted on.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from deepclust.errors import InputError

try:
    import dask
    import dask.array as da
    import dask.dataframe as dd
except ImportError as err:  # an optional dependency
    raise ImportError("deepclust.scale.dask needs Dask: pip install 'deepclust[dask]'") from err

from deepclust.scale.streaming import check_fitted, fitted_names, predict_chunks


def predict_dask(model: Any, X: da.Array | dd.DataFrame, *, precision: str = "float32") -> da.Array | dd.Series:
    """Cluster of every row of a 2-D Dask array (a 1-D int64 array) or DataFrame (an int64 Series "cluster").

    Each block goes through :func:`deepclust.scale.streaming.predict_chunks`, so the labels
    equal ``model.predict`` on the whole data held in memory.
    """
    check_fitted(model, "predict_dask")
    shipped = dask.delayed(model, pure=True)
    if isinstance(X, dd.DataFrame):
        X = _feature_frame(X, model)
        return X.map_partitions(_predict_partition, shipped, precision, meta=pd.Series(dtype=np.int64, name="cluster"))
    rows = _whole_rows(X)
    return rows.map_blocks(_predict_block, shipped, precision, drop_axis=1, dtype=np.int64, meta=np.empty((0,), np.int64))


def transform_dask(model: Any, X: da.Array | dd.DataFrame) -> da.Array | dd.DataFrame:
    """``model.transform`` of every row (the embedding): a 2-D Dask array, or a DataFrame with columns z0, z1, ..."""
    check_fitted(model, "transform_dask")
    shipped = dask.delayed(model, pure=True)
    if isinstance(X, dd.DataFrame):
        X = _feature_frame(X, model)
        width = model.transform(_partition_rows(X.head(1, npartitions=-1), model)).shape[1]
        meta = pd.DataFrame({f"z{j}": pd.Series(dtype=np.float32) for j in range(width)})
        return X.map_partitions(_transform_partition, shipped, meta=meta)
    rows = _whole_rows(X)
    width = model.transform(np.asarray(rows[:1].compute(), dtype=np.float32)).shape[1]
    return rows.map_blocks(
        _transform_block, shipped, chunks=(rows.chunks[0], (width,)), dtype=np.float32, meta=np.empty((0, width), np.float32)
    )


def _feature_frame(frame: dd.DataFrame, model: Any) -> dd.DataFrame:
    """``frame`` with the columns ``model`` was fitted on, selected by name in that order (all, as they are, if it
    knows no names); an InputError before any block is read if one of them is not numeric (known from Dask's meta)."""
    names = fitted_names(model)
    if names is not None:
        missing = [name for name in names if name not in frame.columns]
        if missing:
            raise InputError(
                f"the DataFrame has no column(s) {missing}, which {type(model).__name__} was fitted on; "
                f"it has {', '.join(map(str, frame.columns))}"
            )
        frame = frame[names]
    text = {name: str(dtype) for name, dtype in frame.dtypes.items() if dtype.kind not in "biuf"}
    if text:
        raise InputError(
            f"the DataFrame's column(s) {list(text)} are not numeric ({', '.join(text.values())}); "
            f"{type(model).__name__} takes numbers: select the numeric feature columns, or encode these first"
        )
    return frame


def _partition_rows(part: pd.DataFrame, model: Any) -> pd.DataFrame | np.ndarray:
    """``part`` as ``model`` takes it: a DataFrame if it was fitted with column names (it then checks them), else an array."""
    return part if fitted_names(model) is not None else part.to_numpy()


def _whole_rows(X: Any) -> da.Array:
    """A 2-D Dask array whose blocks hold whole rows (blocks split the rows only)."""
    if not isinstance(X, da.Array):
        raise InputError(f"expected a dask.array.Array or dask.dataframe.DataFrame, got {type(X).__name__}")
    if X.ndim != 2:
        raise InputError(f"expected a 2-D Dask array (rows, features), got {X.ndim}-D with shape {X.shape}")
    if X.dtype.kind not in "biuf":
        raise InputError(f"the Dask array holds {X.dtype}; expected numbers")
    return X.rechunk({1: -1})


def _predict_block(block: np.ndarray | pd.DataFrame, model: Any, precision: str) -> np.ndarray:
    if len(block) == 0:
        return np.empty(0, dtype=np.int64)
    return predict_chunks(model, _float32(block), chunk_rows=len(block), precision=precision).astype(np.int64)


def _predict_partition(part: pd.DataFrame, model: Any, precision: str) -> pd.Series:
    labels = _predict_block(_partition_rows(part, model), model, precision)
    return pd.Series(labels, index=part.index, name="cluster")


def _transform_block(block: np.ndarray | pd.DataFrame, model: Any) -> np.ndarray:
    return np.asarray(model.transform(_float32(block)), dtype=np.float32)


def _float32(block: np.ndarray | pd.DataFrame) -> np.ndarray | pd.DataFrame:
    """A block as float32, an array without a copy where it already is one."""
    return block.astype(np.float32) if isinstance(block, pd.DataFrame) else np.asarray(block, dtype=np.float32)


def _transform_partition(part: pd.DataFrame, model: Any) -> pd.DataFrame:
    # An empty partition still needs the embedding's width: embed a row of zeros, keep none of it.
    rows = part if len(part) else pd.DataFrame(np.zeros((1, part.shape[1])), columns=part.columns)
    z = _transform_block(_partition_rows(rows, model), model)[: len(part)]
    return pd.DataFrame(z, index=part.index, columns=[f"z{j}" for j in range(z.shape[1])])
