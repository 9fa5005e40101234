"""Reading time series: a CSV/TSV file with one series per row, or a NumPy array.

Rows of a delimited file may have different lengths (shorter rows simply end, or end in
empty cells); every cell up to a row's end must be a finite number, a cell that is not names
its line and field, and every series needs at least 2 values. An optional first line of
column names is recognised when none of its cells is a number, or when they number the
columns ``0..L-1`` or ``1..L`` (pandas' ``to_csv(index=False)`` of an array). Long-format
files (``series_id,time,value``, one row per time step) are refused with how to pivot them,
and repeated ids in ``id_column`` are warned about. NumPy files hold ``(n, length)`` or
``(n, length, channels)``.
"""

from __future__ import annotations

import csv
import io
import os
import warnings

import numpy as np

from deepclust.errors import InputError
from deepclust.io.tables import NUMPY, existing_file, first_repeat, read_array

DELIMITERS = {".csv": ",", ".tsv": "\t", ".txt": ","}
SEPARATOR_NAMES = {",": "',' in .csv and .txt", "\t": "a tab in .tsv"}
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
    _check_delimiter(rows[0], delimiter, source)
    header, rows, position = _split_header(rows, id_column, source)
    if not rows:
        raise InputError(f"{source} has a header line but no series")
    if header is not None:
        _refuse_long_format(header, rows, 0 if position is None else position, source)

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
    if position is None:
        ids_array = np.arange(len(series))
    else:
        ids_array = np.array(ids)
        _warn_on_repeated_ids(ids_array, [line for line, _ in rows], id_column, source)
    if len({len(s) for s in series}) == 1:
        return np.stack(series), ids_array
    return series, ids_array


def _check_delimiter(first: tuple[int, list[str]], delimiter: str, source: str) -> None:
    """A first line that is one field holding another common separator was written with that separator."""
    line, row = first
    if len(row) != 1:
        return
    for other in (";", "\t", ","):
        if other != delimiter and other in row[0]:
            raise InputError(
                f"{source} line {line}: the fields look separated by {other!r}, but series files are read with "
                f"{SEPARATOR_NAMES[delimiter]}; rewrite the file with that separator"
            )


def _split_header(
    rows: list[tuple[int, list[str]]], id_column: str | int | None, source: str
) -> tuple[list[str] | None, list[tuple[int, list[str]]], int | None]:
    """``(header or None, the data rows, position of the id column or None)``."""
    position = id_column if isinstance(id_column, int) and not isinstance(id_column, bool) else None
    first = rows[0][1]
    header = None
    cells = [c.strip() for j, c in enumerate(first) if j != position and c.strip() != id_column]
    if _is_header(cells, next_width=len(rows[1][1]) if len(rows) > 1 else None, width=len(first)):
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
    return header, rows, position


def _is_header(cells: list[str], *, width: int, next_width: int | None) -> bool:
    """Column names: no cell is a number, or the cells number the columns ``0..L-1`` or ``1..L``
    (as ``pandas.DataFrame(X).to_csv(index=False)`` writes them; pandas' index column is a
    nameless cell that ``id_column=0`` takes away) of a line as wide as the next one: a table of
    equal-length series, as pandas writes it. A ramp 1, 2, ... of another length is a series."""
    numbered = width == next_width and any(cells == [str(i) for i in range(start, start + len(cells))] for start in (0, 1))
    return numbered or not any(_is_number(c) for c in cells if c)


def _refuse_long_format(header: list[str], rows: list[tuple[int, list[str]]], column: int, source: str) -> None:
    """Three named columns whose id column repeats: one row per time step (``series_id,time,value``), not per series."""
    if len(header) != 3 or column >= 3:
        return
    seen: dict[str, int] = {}
    for line, row in rows:
        value = row[column].strip() if column < len(row) else ""
        if value in seen:
            name = header[column]
            other = [h for j, h in enumerate(header) if j != column]
            raise InputError(
                f"{source} looks like long format (one row per time step): its header is {header} and column "
                f"{name!r} repeats {value!r} on lines {seen[value]} and {line}. The series reader wants one series "
                f"per row; pivot it first, e.g. pandas.read_csv(path).pivot(index={name!r}, columns={other[0]!r}, "
                f"values={other[1]!r}).to_csv(new_path), and read that with id_column={name!r}"
            )
        seen[value] = line


def _warn_on_repeated_ids(ids: np.ndarray, lines: list[int], id_column: str | int | None, source: str) -> None:
    """Warn, as the table reader does, when two series share an id."""
    repeat = first_repeat(ids)
    if repeat is not None:
        first, again = repeat
        warnings.warn(
            f"{source}: id column {id_column!r} repeats ids (e.g. {str(ids[again])!r} on lines "
            f"{lines[first]} and {lines[again]}); evaluate matches labels by id",
            stacklevel=4,
        )


def _numbers(row: list[str], line: int, source: str, skipped: int | None) -> np.ndarray:
    """One row as float32 values; the first cell that is not a finite number is named by line and field."""
    if not row:
        raise InputError(f"{source} line {line} holds an id but no values")
    try:
        values = np.array(row, dtype=np.float64)
    except ValueError:
        values = None
    if values is not None and np.isfinite(values).all():
        if len(values) < 2:
            raise InputError(f"{source} line {line} holds 1 value; a series needs at least 2")
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
