"""Reading tables: CSV/TSV (pyarrow's reader), Parquet, and NumPy ``.npy``/``.npz`` arrays.

Every problem a user can fix becomes an InputError naming the file and, where there is one,
the line or column: a missing file, an unknown ending, an empty file, a row with more or
fewer fields than the header. Rows keep the file's order; an id column is taken out of the
features and returned beside them, so results can be written back against the user's ids.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from deepclust.errors import InputError

DELIMITERS = {".csv": ",", ".tsv": "\t"}
PARQUET = (".parquet", ".pq")
NUMPY = (".npy", ".npz")
TABLE_SUFFIXES = (*DELIMITERS, *PARQUET, *NUMPY)


def existing_file(path: str | os.PathLike, what: str) -> Path:
    """``path`` as a Path, or an InputError when no file is there."""
    file = Path(path).expanduser()
    if file.is_dir():
        raise InputError(f"{file} is a folder; expected a {what} file")
    if not file.is_file():
        raise InputError(f"{what} file {file} does not exist")
    return file


def read_table(path: str | os.PathLike, id_column: str | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """A table from ``path`` and its row ids, rows in file order.

    ``.csv``/``.tsv`` (first line is the header; every row must have as many fields),
    ``.parquet``/``.pq``, or a 2-D ``.npy``/``.npz`` array (columns named ``x0, x1, ...``).
    ``id_column`` names a column that identifies rows: it is removed from the table and
    returned as ``ids``; without it the ids are the 0-based row numbers.
    """
    file = existing_file(path, "table")
    suffix = file.suffix.lower()
    if suffix in DELIMITERS:
        frame = _read_delimited(file, DELIMITERS[suffix], text_columns=[id_column] if id_column else [])
    elif suffix in PARQUET:
        try:
            frame = pq.read_table(file).to_pandas()
        except (pa.ArrowException, OSError) as err:
            raise InputError(f"cannot read {file} as a Parquet file: {err}") from err
    elif suffix in NUMPY:
        array = read_array(file)
        if array.ndim != 2:
            raise InputError(f"{file} holds a {array.ndim}-D array {array.shape}; a table must be 2-D (rows, columns)")
        frame = pd.DataFrame(array, columns=[f"x{j}" for j in range(array.shape[1])])
    else:
        raise InputError(f"{file}: unknown file type {suffix or '(no ending)'!r}; tables are read from {', '.join(TABLE_SUFFIXES)}")
    if len(frame) == 0:
        raise InputError(f"{file} has no data rows (only a header, or nothing)")
    duplicated = frame.columns[frame.columns.duplicated()].unique().tolist()
    if duplicated:
        raise InputError(f"{file}: column name(s) {duplicated} appear more than once in the header")
    return split_ids(frame, id_column, source=str(file))


def first_repeat(ids: Any) -> tuple[int, int] | None:
    """Positions ``(earlier, later)`` of the first id that occurs a second time, or None when all differ."""
    values = np.asarray(ids)
    later = pd.Series(values).duplicated().to_numpy()
    if not later.any():
        return None
    second = int(np.flatnonzero(later)[0])
    return int(np.flatnonzero(values == values[second])[0]), second


def split_ids(frame: pd.DataFrame, id_column: str | None, *, source: str = "the table") -> tuple[pd.DataFrame, np.ndarray]:
    """``(frame without id_column, its values)``; without an id column, ``(frame, 0..n-1)``."""
    if id_column is None:
        return frame, np.arange(len(frame))
    if id_column not in frame.columns:
        raise InputError(f"{source} has no id column {id_column!r}; available columns: {', '.join(map(str, frame.columns))}")
    ids = frame[id_column]
    if ids.isna().any():
        raise InputError(f"{source}: id column {id_column!r} is empty in row {int(np.flatnonzero(ids.isna())[0])} (0-based); every row needs an id")
    repeat = first_repeat(ids)
    if repeat is not None:
        warnings.warn(f"{source}: id column {id_column!r} repeats ids (e.g. {str(ids.iloc[repeat[1]])!r}); evaluate matches labels by id", stacklevel=2)
    return frame.drop(columns=id_column), ids.to_numpy()


def read_array(file: Path) -> np.ndarray:
    """The numeric array in a ``.npy`` file, or in a ``.npz`` file (its only array, or the one named ``X`` or ``data``)."""
    try:
        loaded = np.load(file, allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            array = loaded
        else:
            with loaded:
                names = list(loaded.files)
                name = next((n for n in ("X", "data") if n in names), names[0] if len(names) == 1 else None)
                if name is None:
                    raise InputError(f"{file} holds the arrays {names}; name the data array 'X' (or keep only one)")
                array = loaded[name]
    except InputError:
        raise
    except (ValueError, OSError, EOFError) as err:  # pickled objects, a truncated or foreign file
        raise InputError(f"cannot read {file} as a NumPy file: {err}") from err
    if array.size == 0:
        raise InputError(f"{file} holds an empty array {array.shape}")
    if array.dtype.kind not in "biuf":
        raise InputError(f"{file} holds an array of {array.dtype}; expected numbers")
    return array


def _read_delimited(file: Path, delimiter: str, text_columns: list[str]) -> pd.DataFrame:
    """pyarrow's CSV reader, single-threaded so that a bad row's line number is known.

    ``text_columns`` are read as text exactly as written (ids such as ``007`` keep their zeros).
    """
    if file.stat().st_size == 0:
        raise InputError(f"{file} is empty: expected a header line and one line per row")
    bad_rows: list = []

    def refuse(row: pa_csv.InvalidRow) -> str:
        bad_rows.append(row)
        return "error"

    try:
        table = pa_csv.read_csv(
            file,
            read_options=pa_csv.ReadOptions(use_threads=False),
            parse_options=pa_csv.ParseOptions(delimiter=delimiter, invalid_row_handler=refuse),
            convert_options=pa_csv.ConvertOptions(strings_can_be_null=True, column_types={c: pa.string() for c in text_columns}),
        )
    except pa.ArrowException as err:
        if bad_rows:
            row = bad_rows[0]
            where = f"line {row.number}" if row.number is not None else "a row"
            raise InputError(
                f"{file} {where} has {row.actual_columns} field(s) but the header has {row.expected_columns}: "
                f"{row.text[:80]!r}; every row needs one value (possibly empty) per column"
            ) from err
        if "invalid UTF8" in str(err):
            raise InputError(f"{file}: {_not_utf8(file)}") from err
        if "Empty CSV file" in str(err):
            raise InputError(f"{file} is empty: expected a header line and one line per row") from err
        raise InputError(f"cannot read {file} as a {'CSV' if delimiter == ',' else 'TSV'} table: {err}") from err
    try:
        binary = [field.name for field in table.schema if pa.types.is_binary(field.type) or pa.types.is_large_binary(field.type)]
        frame = table.to_pandas()
    except UnicodeDecodeError as err:  # a column name that is not UTF-8
        raise InputError(f"{file}: {_not_utf8(file)}") from err
    if binary:  # pyarrow keeps a column with bytes that are not UTF-8 as raw bytes
        raise InputError(f"{file}: column(s) {binary}: {_not_utf8(file)}")
    return frame


def _not_utf8(file: Path) -> str:
    """Where ``file`` stops being UTF-8, and what to do about it."""
    content = file.read_bytes()
    try:
        content.decode("utf-8")
        where = ""
    except UnicodeDecodeError as err:
        line = content.count(b"\n", 0, err.start) + 1
        where = f" (line {line})"
    return f"the file is not UTF-8 text{where}; save it as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
