"""Reading time series: a CSV/TSV file with one series per row, or a NumPy array.

Rows of a delimited file may have different lengths (shorter rows simply end, or end in
empty cells); every cell up to a row's end must be a finite number, and a cell that is not
names its line and field. An optional first line of column names is recognised when none of
its cells is a number. NumPy files hold ``(n, length)`` or ``(n, length, channels)``.
"""

from __future__ import annotations

import csv
import io
import os

import numpy as np

from deepclust.errors import InputError
from deepclust.io.tables import NUMPY, existing_file, read_array

DELIMITERS = {".csv": ",", ".tsv": "\t", ".txt": ","}
SERIES_SUFFIXES = (*DELIMITERS, *NUMPY)


def read_series(
    path: str | os.PathLike, *, id_column: str | int | None = None
) -> tuple[np.ndarray | list[np.ndarray], np.ndarray]:
    """Series from ``path`` and their ids, in file order.

    ``id_column`` names the column of a delimited file that identifies each series (by its
    header name, or by position from 0, e.g. the class column that starts each row of a UCR
    archive file); without it the ids are the 0-based row numbers.

    Returns
    -------
    series : float32 array (n, length) or (n, length, channels) when all have one length,
        else a list of 1-D float32 arrays
    ids : ndarray
    """
    file = existing_file(path, "series")
    suffix = file.suffix.lower()
    if suffix in NUMPY:
        if id_column is not None:
            raise InputError(f"{file}: id_column= applies to delimited files; a NumPy file holds only the series")
        array = read_array(file)
        if array.ndim not in (2, 3):
            raise InputError(f"{file} holds a {array.ndim}-D array {array.shape}; series must be (n, length) or (n, length, channels)")
        return array.astype(np.float32), np.arange(len(array))
    if suffix not in DELIMITERS:
        raise InputError(f"{file}: unknown file type {suffix or '(no ending)'!r}; series are read from {', '.join(SERIES_SUFFIXES)}")
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(f"{file} is not UTF-8 text ({err.reason} at byte {err.start})") from err
    return _parse_rows(text, DELIMITERS[suffix], id_column, str(file))


def _parse_rows(
    text: str, delimiter: str, id_column: str | int | None, source: str
) -> tuple[np.ndarray | list[np.ndarray], np.ndarray]:
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    rows = [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]
    if not rows:
        raise InputError(f"{source} is empty: expected one series per line")
    position = id_column if isinstance(id_column, int) and not isinstance(id_column, bool) else None
    first_line, first = rows[0]
    cells = [c for j, c in enumerate(first) if j != position]
    if all(not _is_number(c) for c in cells if c.strip()):  # a header: no cell is a number
        header = [c.strip() for c in first]
        rows = rows[1:]
        if isinstance(id_column, str):
            if id_column not in header:
                raise InputError(f"{source} has no id column {id_column!r}; its header holds {header}")
            position = header.index(id_column)
    elif isinstance(id_column, str):
        raise InputError(f"{source} has no header line, so id_column={id_column!r} cannot be found; give its position (0 for the first column)")
    if id_column is not None and position is None:
        raise InputError(f"id_column must be a column name or a position (int), got {id_column!r}")
    if not rows:
        raise InputError(f"{source} has a header line but no series")

    series, ids = [], []
    for line, row in rows:
        if position is not None:
            if position >= len(row):
                raise InputError(f"{source} line {line} has {len(row)} field(s), so no id in field {position + 1}")
            ids.append(row[position].strip())
            row = row[:position] + row[position + 1 :]
        while row and not row[-1].strip():  # shorter series end in empty cells
            row = row[:-1]
        series.append(_numbers(row, line, source, skipped=position))
    ids_array = np.array(ids) if position is not None else np.arange(len(series))
    if len({len(s) for s in series}) == 1:
        return np.stack(series), ids_array
    return series, ids_array


def _numbers(row: list[str], line: int, source: str, skipped: int | None) -> np.ndarray:
    """One row as float32 values; the first cell that is not a finite number is named by line and field."""
    if not row:
        raise InputError(f"{source} line {line} holds an id but no values")
    try:
        values = np.array(row, dtype=np.float64)
    except ValueError:
        values = None
    if values is not None and np.isfinite(values).all():
        return values.astype(np.float32)
    for j, cell in enumerate(row):
        field = j + 1 + (skipped is not None and j >= skipped)
        if not cell.strip():
            raise InputError(f"{source} line {line}, field {field} is empty inside the series; only a row's last cells may be empty")
        if not _is_number(cell) or not np.isfinite(float(cell)):
            raise InputError(f"{source} line {line}, field {field}: {cell.strip()!r} is not a finite number")
    raise InputError(f"{source} line {line} holds values that are not finite numbers")


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True
