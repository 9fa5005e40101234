"""Assignment and embedding of data spread over a Dask cluster, block by block on the workers.

The functions return lazy Dask collections; ``.compute()``, ``.to_parquet(...)`` or
``dask.array.to_npy_stack(...)`` runs them on the active scheduler: a
``distributed.LocalCluster`` or a real one (``distributed.Client("tcp://host:8786")``).
The fitted model is sent to each worker once (one key in the graph), not with every block;
the workers need deepclust installed.
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

from deepclust.scale.streaming import predict_chunks


def predict_dask(model: Any, X: da.Array | dd.DataFrame, *, precision: str = "float32") -> da.Array | dd.Series:
    """Cluster of every row of a 2-D Dask array (a 1-D int64 array) or DataFrame (an int64 Series "cluster").

    Each block goes through :func:`deepclust.scale.streaming.predict_chunks`, so the labels
    equal ``model.predict`` on the whole data held in memory.
    """
    shipped = dask.delayed(model, pure=True)
    if isinstance(X, dd.DataFrame):
        return X.map_partitions(_predict_partition, shipped, precision, meta=pd.Series(dtype=np.int64, name="cluster"))
    rows = _whole_rows(X)
    return rows.map_blocks(_predict_block, shipped, precision, drop_axis=1, dtype=np.int64, meta=np.empty((0,), np.int64))


def transform_dask(model: Any, X: da.Array | dd.DataFrame) -> da.Array | dd.DataFrame:
    """``model.transform`` of every row (the embedding): a 2-D Dask array, or a DataFrame with columns z0, z1, ..."""
    shipped = dask.delayed(model, pure=True)
    if isinstance(X, dd.DataFrame):
        width = model.transform(X.head(1, npartitions=-1).to_numpy(np.float32)).shape[1]
        meta = pd.DataFrame({f"z{j}": pd.Series(dtype=np.float32) for j in range(width)})
        return X.map_partitions(_transform_partition, shipped, meta=meta)
    rows = _whole_rows(X)
    width = model.transform(np.asarray(rows[:1].compute(), dtype=np.float32)).shape[1]
    return rows.map_blocks(
        _transform_block, shipped, chunks=(rows.chunks[0], (width,)), dtype=np.float32, meta=np.empty((0, width), np.float32)
    )


def _whole_rows(X: Any) -> da.Array:
    """A 2-D Dask array whose blocks hold whole rows (blocks split the rows only)."""
    if not isinstance(X, da.Array):
        raise InputError(f"expected a dask.array.Array or dask.dataframe.DataFrame, got {type(X).__name__}")
    if X.ndim != 2:
        raise InputError(f"expected a 2-D Dask array (rows, features), got {X.ndim}-D with shape {X.shape}")
    return X.rechunk({1: -1})


def _predict_block(block: np.ndarray, model: Any, precision: str) -> np.ndarray:
    if len(block) == 0:
        return np.empty(0, dtype=np.int64)
    return predict_chunks(model, np.asarray(block, dtype=np.float32), chunk_rows=len(block), precision=precision).astype(np.int64)


def _predict_partition(part: pd.DataFrame, model: Any, precision: str) -> pd.Series:
    labels = _predict_block(part.to_numpy(np.float32), model, precision)
    return pd.Series(labels, index=part.index, name="cluster")


def _transform_block(block: np.ndarray, model: Any) -> np.ndarray:
    return np.asarray(model.transform(np.asarray(block, dtype=np.float32)), dtype=np.float32)


def _transform_partition(part: pd.DataFrame, model: Any) -> pd.DataFrame:
    rows = part.to_numpy(np.float32) if len(part) else np.zeros((1, part.shape[1]), np.float32)
    z = _transform_block(rows, model)[: len(part)]
    return pd.DataFrame(z, index=part.index, columns=[f"z{j}" for j in range(z.shape[1])])
