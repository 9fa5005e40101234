"""Data larger than memory: reading and writing it one block of rows at a time.

A :class:`RowFile` reads a Parquet file a record batch at a time
(``pyarrow.parquet.ParquetFile.iter_batches``) or a ``.npy`` file through a memory map, so
memory holds one block, never the file. A :class:`BlockWriter` appends blocks of results
to a ``.npy``, ``.parquet`` or ``.csv`` file that is complete or absent: it grows as a
temporary file beside the target and is renamed into place when the last block is in.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from sklearn.utils import check_random_state
from sklearn.utils.random import sample_without_replacement

from deepclust._validation import beyond_float32_message, check_count
from deepclust.errors import InputError
from deepclust.io.tables import PARQUET, existing_file, first_repeat
from deepclust.io.write import discard, temporary_beside

STREAM_SUFFIXES = (*PARQUET, ".npy")
OUTPUT_SUFFIXES = (".npy", *PARQUET, ".csv")


class RowFile:
    """Rows of a Parquet or ``.npy`` file, read in blocks as float32 arrays.

    Parameters
    ----------
    path : str or PathLike
        A ``.parquet``/``.pq`` table (numeric columns) or a 2-D ``.npy`` array.
    columns : list or tuple of str, or None
        Parquet only: the feature columns, distinct and in this order; None takes every column
        but ``id_column``.
    id_column : str or None
        Parquet only: a column of row ids, returned beside each block instead of row numbers.
        An empty id is an error, and so is an id repeated within one block (ids repeated in
        different blocks are not checked: that would hold every id in memory).

    Attributes
    ----------
    n_rows, n_features : int
    feature_names : list of str
    id_name : str
        ``id_column``, or ``"row"`` when ids are row numbers.
    named : bool
        Whether ``feature_names`` are the file's own column names (Parquet), not made up
        (``x0, x1, ...`` for ``.npy``).
    """

    def __init__(self, path: str | os.PathLike, *, columns: Sequence[str] | None = None, id_column: str | None = None) -> None:
        self.path = existing_file(path, "data")
        suffix = self.path.suffix.lower()
        if suffix not in STREAM_SUFFIXES:
            raise InputError(
                f"{self.path}: cannot stream {suffix or 'a file without ending'}; streaming reads "
                f"{', '.join(STREAM_SUFFIXES)} (convert CSV once with pyarrow, or np.save a float32 array)"
            )
        self._check_columns(columns, id_column)
        self.id_name = id_column or "row"
        self._id_column = id_column
        self.named = suffix != ".npy"
        if suffix == ".npy":
            if columns is not None or id_column is not None:
                raise InputError(f"{self.path}: columns and id_column apply to Parquet tables, not to .npy arrays")
            self._array = self._open_array()
            self.n_rows, self.n_features = self._array.shape
            self.feature_names = [f"x{j}" for j in range(self.n_features)]
        else:
            self._array = None
            self._parquet = self._open_parquet()
            self.n_rows = self._parquet.metadata.num_rows
            self.feature_names = self._feature_columns(columns)
            self.n_features = len(self.feature_names)
        if self.n_rows == 0:
            raise InputError(f"{self.path} has no rows")

    def _check_columns(self, columns: Sequence[str] | None, id_column: str | None) -> None:
        """``columns`` a list or tuple of distinct names without ``id_column``; ``id_column`` a name."""
        if id_column is not None and not isinstance(id_column, str):
            raise InputError(f"{self.path}: id_column must be a column name (a str) or None, got {id_column!r}")
        if columns is None:
            return
        # A str would be read as one column per character, a generator would be used up by the first pass.
        if not isinstance(columns, (list, tuple)) or not all(isinstance(name, str) for name in columns):
            raise InputError(f"{self.path}: columns must be a list or tuple of column names (str), got {columns!r}")
        repeated = sorted(name for name, count in Counter(columns).items() if count > 1)
        if repeated:
            raise InputError(f"{self.path}: columns lists {repeated} more than once; list each feature column once")
        if id_column in columns:
            raise InputError(f"{self.path}: the id column {id_column!r} is also listed in columns; ids are not features")

    def _open_array(self) -> np.ndarray:
        try:
            array = np.load(self.path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as err:
            raise InputError(f"cannot map {self.path} as a NumPy .npy file: {err}") from err
        if array.ndim != 2:
            raise InputError(f"{self.path} holds a {array.ndim}-D array {array.shape}; expected 2-D (rows, features)")
        if array.dtype.kind not in "biuf":
            raise InputError(f"{self.path} holds an array of {array.dtype}; expected numbers")
        return array

    def _open_parquet(self) -> pq.ParquetFile:
        try:
            # pre_buffer keeps every row group read so far: on a 1e7-row file, arrow's memory then grew
            # by ~280 MB per row group, instead of staying at one row group (~440 MB) without it.
            return pq.ParquetFile(self.path, pre_buffer=False)
        except (pa.ArrowException, OSError) as err:
            raise InputError(f"cannot read {self.path} as a Parquet file: {err}") from err

    def _feature_columns(self, columns: Sequence[str] | None) -> list[str]:
        schema = self._parquet.schema_arrow
        names = list(schema.names)
        wanted = [self._id_column] if self._id_column is not None else []
        wanted += list(columns) if columns is not None else []
        missing = [name for name in wanted if name not in names]
        if missing:
            raise InputError(f"{self.path} has no column(s) {missing}; available columns: {', '.join(names)}")
        features = list(columns) if columns is not None else [n for n in names if n != self._id_column]
        text = [n for n in features if not (pa.types.is_integer(schema.field(n).type) or pa.types.is_floating(schema.field(n).type))]
        if text:
            raise InputError(
                f"{self.path}: column(s) {text} are not numeric ({', '.join(str(schema.field(n).type) for n in text)}); "
                "pass columns=[...] with the numeric feature columns, or id_column= for an id"
            )
        if not features:
            raise InputError(f"{self.path} has no feature columns besides the id column {self._id_column!r}")
        return features

    def blocks(self, chunk_rows: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(X, ids)`` for consecutive blocks of at most ``chunk_rows`` rows, in file order."""
        chunk_rows = check_count(chunk_rows, "chunk_rows")
        if self._array is not None:
            for start in range(0, self.n_rows, chunk_rows):
                part = self._array[start : start + chunk_rows]
                rows = np.arange(start, start + len(part))
                yield self._checked(_float32(part), rows, lambda i, j: part[i, j]), rows
            return
        read = self.feature_names + ([self._id_column] if self._id_column is not None else [])
        start = 0
        for batch in self._parquet.iter_batches(batch_size=chunk_rows, columns=read):
            block = np.empty((batch.num_rows, self.n_features), dtype=np.float32)
            for j, name in enumerate(self.feature_names):
                # Nulls become NaN here, and are then reported by _checked.
                block[:, j] = _float32(batch.column(name).to_numpy(zero_copy_only=False))
            rows = np.arange(start, start + len(block))
            ids = self._checked_ids(batch.column(self._id_column), start) if self._id_column else rows
            yield self._checked(block, rows, lambda i, j: batch.column(self.feature_names[j])[i].as_py()), ids
            start += len(block)

    def sample(self, n_rows: int, random_state: int | np.random.RandomState | None = None) -> np.ndarray:
        """``n_rows`` rows drawn without replacement (all rows if there are fewer), in file order.

        One pass over the file that keeps only the drawn rows of each block.
        """
        n_rows = min(check_count(n_rows, "n_rows"), self.n_rows)
        chosen = np.sort(sample_without_replacement(self.n_rows, n_rows, random_state=check_random_state(random_state)))
        if self._array is not None:
            part = self._array[chosen]
            return self._checked(_float32(part), chosen, lambda i, j: part[i, j])
        parts, start = [], 0
        for block, _ in self.blocks(65536):
            lo, hi = np.searchsorted(chosen, [start, start + len(block)])
            parts.append(block[chosen[lo:hi] - start])
            start += len(block)
        return np.concatenate(parts)

    def _checked(self, block: np.ndarray, rows: np.ndarray, original: Callable[[int, int], float | None]) -> np.ndarray:
        """``block`` itself, or an InputError naming the first row and column that is missing or not finite in float32.

        ``rows`` are the block's row numbers in the file, ``original(i, j)`` the file's value at
        block row ``i``, column ``j`` (None if missing): a finite one was beyond float32's range.
        """
        finite = np.isfinite(block)
        if finite.all():
            return block
        i, j = (int(k) for k in np.argwhere(~finite)[0])
        where = f"{self.path}: row {rows[i]} column {self.feature_names[j]!r}"
        value = original(i, j)
        if value is not None and np.isfinite(value):
            raise InputError(f"{where} holds {beyond_float32_message(abs(value))}")
        raise InputError(f"{where} is missing, NaN or infinite; impute or drop such rows first")

    def _checked_ids(self, ids: pa.Array, start: int) -> np.ndarray:
        """The ids of a block as an array, or an InputError naming the first empty or repeated one."""
        if ids.null_count:
            row = start + int(np.flatnonzero(ids.is_null().to_numpy(zero_copy_only=False))[0])
            raise InputError(f"{self.path}: id column {self._id_column!r} is empty in row {row} (0-based); every row needs an id")
        values = ids.to_numpy(zero_copy_only=False)
        repeat = first_repeat(values)
        if repeat is not None:
            first, second = repeat
            raise InputError(
                f"{self.path}: id column {self._id_column!r} repeats id {values[second]!r} in rows {start + first} and "
                f"{start + second} (0-based); every row needs its own id"
            )
        return values


class BlockWriter:
    """Results written block by block to ``.npy``, ``.parquet``/``.pq`` or ``.csv``; whole or not at all.

    ``values`` of each block are labels (1-D) or an embedding (2-D). ``.npy`` holds the
    values alone (row ``i`` of the output is row ``i`` of the input); the tables hold an id
    column (``id_name``) and the values (``value_name``, or ``{value_name}0, ...`` for 2-D).
    Use as a context manager: on an exception nothing is left behind. The file gets the
    permissions of any new file (``0o666`` less the umask).
    """

    def __init__(self, path: str | os.PathLike, n_rows: int, *, id_name: str = "row", value_name: str = "cluster") -> None:
        self.path = Path(path)
        self.suffix = self.path.suffix.lower()
        if self.suffix not in OUTPUT_SUFFIXES:
            raise InputError(f"{self.path}: cannot write {self.suffix or 'a file without ending'}; write {', '.join(OUTPUT_SUFFIXES)}")
        if self.path.is_dir():
            raise InputError(f"{self.path} is a folder; give the path of a file to write, ending in {', '.join(OUTPUT_SUFFIXES)}")
        self.n_rows, self.id_name, self.value_name = n_rows, id_name, value_name
        handle, self._temporary, self._created = temporary_beside(self.path)
        os.close(handle)
        self._out: np.ndarray | pq.ParquetWriter | pa_csv.CSVWriter | None = None
        self._written = 0

    def write(self, ids: np.ndarray, values: np.ndarray) -> None:
        """Append one block: ``ids`` and ``values`` have one entry (or row) per input row."""
        if len(values) != len(ids):
            raise InputError(f"{self.path}: {len(values)} results for a block of {len(ids)} rows; expected one per row")
        if self.suffix == ".npy":
            if self._out is None:
                shape = (self.n_rows, *values.shape[1:])
                self._out = np.lib.format.open_memmap(self._temporary, mode="w+", dtype=values.dtype, shape=shape)
            self._out[self._written : self._written + len(values)] = values
        else:
            table = self._table(ids, values)
            if self._out is None:
                writer = pq.ParquetWriter if self.suffix in PARQUET else pa_csv.CSVWriter
                self._out = writer(self._temporary, table.schema)
            self._out.write_table(table)
        self._written += len(values)

    def _table(self, ids: np.ndarray, values: np.ndarray) -> pa.Table:
        if values.ndim == 1:
            named = {self.value_name: values}
        else:
            named = {f"{self.value_name}{j}": values[:, j] for j in range(values.shape[1])}
        if self.id_name in named:
            raise InputError(f"{self.path}: the id column {self.id_name!r} has the name of an output column; rename the id column")
        return pa.table({self.id_name: ids, **named})

    def close(self) -> Path:
        """Finish the file and rename it into place; the file must have received every row.

        On failure the partial file is dropped.
        """
        try:
            if self._written != self.n_rows:
                raise InputError(f"{self.path}: {self._written} results were written for {self.n_rows} rows; expected one per row")
            if isinstance(self._out, np.ndarray):
                self._out.flush()
            elif self._out is not None:
                self._out.close()
            self._out = None
            # mkstemp made the file private (0o600); a finished output gets the permissions of any new file.
            os.chmod(self._temporary, 0o666 & ~_umask())
            os.replace(self._temporary, self.path)
        except BaseException:
            self.abort()
            raise
        return self.path

    def abort(self) -> None:
        """Drop the partial file, and the folders made for it."""
        if self._out is not None and not isinstance(self._out, np.ndarray):
            self._out.close()
        self._out = None
        discard(self._temporary, self._created)

    def __enter__(self) -> BlockWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


def _float32(values: np.ndarray) -> np.ndarray:
    """``values`` as float32 (no copy if they are); a finite value beyond its range turns infinite
    without a NumPy warning, and RowFile._checked names it."""
    with np.errstate(over="ignore"):
        return np.asarray(values, dtype=np.float32)


def _umask() -> int:
    """The process's umask: reading it means setting it, so it is set straight back (at once:
    a thread creating a file in between would create it with no mask)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
