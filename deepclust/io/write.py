"""Writing results so that an interrupted run never leaves a half-written file behind."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from deepclust.errors import InputError


#: How a temporary file being written beside its target ends (see :func:`temporary_beside`).
TEMPORARY_SUFFIX = ".tmp"


def write_atomic(path: str | os.PathLike, content: str | bytes) -> Path:
    """Write ``content`` to a temporary file beside ``path``, then rename it into place."""
    path = Path(path)
    handle, temporary, created = temporary_beside(path)
    try:
        os.chmod(temporary, 0o644)  # mkstemp makes owner-only files; results are for sharing
        with os.fdopen(handle, "wb") as out:
            out.write(content.encode() if isinstance(content, str) else content)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        discard(temporary, created)
        raise
    return path


def temporary_beside(path: Path) -> tuple[int, Path, list[Path]]:
    """A new temporary file in ``path``'s folder, created with its missing parents: (open handle, path, folders created).

    The folders are listed outermost first, so that :func:`discard` can remove them after a
    failed write: a failure must not leave behind empty folders the caller never had.
    """
    created: list[Path] = []
    try:
        for folder in missing_folders(path):
            try:
                folder.mkdir()
            except FileExistsError:  # made meanwhile by another process: not ours to remove
                continue
            created.append(folder)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=_temporary_prefix(path.name), suffix=TEMPORARY_SUFFIX)
    except OSError as err:
        discard(None, created)
        raise InputError(f"cannot write to {path.parent}: {err.strerror}") from err
    return handle, Path(temporary), created


def missing_folders(path: Path) -> list[Path]:
    """The folders above ``path`` that do not exist yet, outermost first (the order to create them in)."""
    return [folder for folder in reversed(path.parents) if not folder.exists()]


def is_temporary_of(name: str, target: str) -> bool:
    """Whether the file ``name`` is a temporary file :func:`temporary_beside` made for the file named ``target``."""
    return name.startswith(_temporary_prefix(target)) and name.endswith(TEMPORARY_SUFFIX)


def _temporary_prefix(target: str) -> str:
    """How a temporary file for the file named ``target`` starts: hidden, and named after it."""
    return f".{target}."


def discard(temporary: Path | None, created: list[Path]) -> None:
    """Remove a failed write's temporary file (if made), then the folders created for it, innermost first, while empty."""
    if temporary is not None:
        temporary.unlink(missing_ok=True)
    for folder in reversed(created):
        try:
            folder.rmdir()
        except OSError:  # something else was written there meanwhile: keep it, and so the folders above it
            return


def json_text(data: Any) -> str:
    """``data`` as indented JSON text with sorted keys; NumPy scalars and arrays become plain values.

    Anything else that JSON cannot hold raises ``TypeError``, naming the value.
    """

    def plain(value: Any) -> Any:
        if isinstance(value, (np.generic, np.ndarray)):
            return value.tolist()
        raise TypeError(f"{type(value).__name__} value {value!r} is not JSON")

    return json.dumps(data, indent=2, sort_keys=True, default=plain) + "\n"


def write_json(path: str | os.PathLike, data: Any) -> Path:
    return write_atomic(path, json_text(data))


def write_labels(path: str | os.PathLike, ids: np.ndarray, labels: np.ndarray, confidence: np.ndarray, outlier: np.ndarray) -> Path:
    """A run's ``labels.csv``: ``id,cluster,confidence,outlier``, one line per row (confidence to 4 decimals, outlier 0/1)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["id", "cluster", "confidence", "outlier"])
    confidence = np.round(np.asarray(confidence, dtype=np.float64), 4)
    writer.writerows(zip(np.asarray(ids).tolist(), np.asarray(labels).tolist(), confidence.tolist(), np.asarray(outlier, int).tolist()))
    return write_atomic(path, buffer.getvalue())
