"""Reading documents: one per line of a text file, or one column of a CSV/TSV/Parquet table.

Encoding policy: files must be UTF-8. A line that is not valid UTF-8 is decoded with the
undecodable bytes replaced by U+FFFD and a warning names the line. Why not raise: one stray
Latin-1 byte in a corpus of 100,000 lines should not stop a clustering run, and a document
with one replaced character still embeds almost as before. A file that is not UTF-8 text at
all is refused with an InputError, because replacing most of it would cluster noise: one that
holds NUL bytes (binary, or UTF-16), or where most non-blank lines fail to decode.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from deepclust.errors import InputError

TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t", ".parquet": None, ".pq": None}


def read_text(
    path: str | os.PathLike, column: str | None = None, *, id_column: str | None = None
) -> tuple[list[str], np.ndarray]:
    """Documents from ``path`` and their ids.

    A ``.csv``/``.tsv``/``.parquet`` file is a table: ``column`` names the text column (it may be
    left out when exactly one column holds text); ``id_column`` optionally names the ids. Any
    other file is plain text with one document per line. Blank lines and missing cells are
    skipped with a warning; ids are then the 0-based line or row numbers of the documents kept,
    so results still map back to the file.

    Returns
    -------
    docs : list of str
    ids : ndarray, the ``id_column`` values, else 0-based line/row numbers
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise InputError(f"text file {file} does not exist")
    suffix = file.suffix.lower()
    if suffix in TABLE_SUFFIXES:
        return _read_table_column(file, TABLE_SUFFIXES[suffix], column, id_column)
    if column is not None or id_column is not None:
        raise InputError(f"{file}: column= and id_column= apply to .csv/.tsv/.parquet files; a {suffix or 'plain'} file has one document per line")
    lines = decode_lines(file.read_bytes(), file)
    kept = [i for i, line in enumerate(lines) if line.strip()]
    if not kept:
        raise InputError(f"{file} is empty: expected one document per line")
    _warn_skipped(file, "blank line(s)", "line", [i + 1 for i, line in enumerate(lines) if not line.strip()])
    return [lines[i] for i in kept], np.array(kept, dtype=np.int64)


def decode_lines(raw: bytes, file: Path) -> list[str]:
    """UTF-8 bytes -> lines (split on ``\\n``, a trailing ``\\r`` dropped); see the module docstring for bad bytes."""
    if b"\x00" in raw:
        line = raw[: raw.index(b"\x00")].count(b"\n") + 1
        raise InputError(
            f"{file} line {line} holds a NUL byte: this is a binary or UTF-16 file, not UTF-8 text; "
            "save it as UTF-8 (e.g. iconv -f UTF-16 -t UTF-8)"
        )
    raw = raw.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte-order mark is not part of the first document
    parts = raw.split(b"\n")
    if parts and parts[-1] == b"":  # the newline that ends the last line
        parts.pop()
    try:
        return [line.rstrip("\r") for line in raw.decode("utf-8").split("\n")[: len(parts)]]
    except UnicodeDecodeError:
        pass
    lines, bad = [], []
    for number, part in enumerate(parts, start=1):
        try:
            lines.append(part.decode("utf-8").rstrip("\r"))
        except UnicodeDecodeError:
            lines.append(part.decode("utf-8", errors="replace").rstrip("\r"))
            bad.append(number)
    shown = ", ".join(map(str, bad[:10])) + (f" and {len(bad) - 10} more" if len(bad) > 10 else "")
    if len(bad) > sum(1 for part in parts if part.strip()) / 2:
        raise InputError(
            f"{file} is not UTF-8 text: {len(bad)} of {len(parts)} lines cannot be decoded (lines {shown}); "
            "save it as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
        )
    warnings.warn(
        f"{file}: line(s) {shown} ({len(bad)} of {len(parts)}) are not valid UTF-8; "
        "their undecodable bytes were replaced by U+FFFD",
        stacklevel=3,
    )
    return lines


def _read_table_column(
    file: Path, separator: str | None, column: str | None, id_column: str | None
) -> tuple[list[str], np.ndarray]:
    try:
        if separator is None:
            table = pd.read_parquet(file)
        else:
            text = "\n".join(decode_lines(file.read_bytes(), file))
            table = pd.read_csv(io.StringIO(text), sep=separator)
    except InputError:
        raise
    except Exception as err:  # noqa: BLE001 - pandas/pyarrow raise many types for a malformed file
        raise InputError(f"cannot read {file} as a {'Parquet' if separator is None else 'delimited'} table: {err}") from err
    available = ", ".join(map(str, table.columns))
    if column is None:
        text_columns = [c for c in table.columns if pd.api.types.is_string_dtype(table[c]) or table[c].dtype == object]
        if len(text_columns) != 1:
            raise InputError(
                f"{file}: pass column= to say which column holds the documents; "
                f"{len(text_columns)} columns hold text. Available columns: {available}"
            )
        column = text_columns[0]
    for name, role in ((column, "text"), (id_column, "id")):
        if name is not None and name not in table.columns:
            raise InputError(f"{file} has no {role} column {name!r}; available columns: {available}")
    values = table[column]
    missing = values.isna() | (values.astype(str).str.strip() == "")
    if missing.all():
        raise InputError(f"{file}: column {column!r} holds no text (all {len(values)} cells are empty)")
    rows = np.flatnonzero(~missing.to_numpy())
    _warn_skipped(file, f"row(s) with an empty {column!r} cell", "row", np.flatnonzero(missing.to_numpy()).tolist())
    docs = values.iloc[rows].astype(str).tolist()
    ids = table[id_column].to_numpy()[rows] if id_column is not None else rows.astype(np.int64)
    return docs, ids


def _warn_skipped(file: Path, what: str, unit: str, numbers: list[int]) -> None:
    """Lines are numbered from 1 as an editor shows them; table rows from 0, as the ids are."""
    if numbers:
        shown = ", ".join(map(str, numbers[:10])) + (" ..." if len(numbers) > 10 else "")
        warnings.warn(f"{file}: skipped {len(numbers)} {what}: {unit} {shown}", stacklevel=3)
