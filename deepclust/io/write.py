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


def write_atomic(path: str | os.PathLike, content: str | bytes) -> Path:
    """Write ``content`` to a temporary file beside ``path``, then rename it into place."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise InputError(f"cannot write to {path.parent}: {err.strerror}") from err
    try:
        os.chmod(temporary, 0o644)  # mkstemp makes owner-only files; results are for sharing
        with os.fdopen(handle, "wb") as out:
            out.write(content.encode() if isinstance(content, str) else content)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


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
