"""Saved models: a folder of JSON and safetensors that loads without running any code from it.

A model folder holds three files, written atomically, ``config.json`` last:

- ``config.json``: the format version, the deepclust version that wrote it, the class name,
  every parameter (``get_params``), caller metadata, and a SHA-256 of the two other files;
  for a scikit-learn ``Pipeline`` one entry per step.
- ``state.json``: the learned metadata of each estimator (``_get_state``'s first half).
- ``weights.safetensors``: every array: network weights, centres, the tree, ...

Loading looks the class up by name in :func:`saveable_classes` (an allow-list, never an
import path from the file), constructs it with the saved parameters and hands it the
saved state (``_set_state``). Every problem with the folder is an ``InputError``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as load_arrays
from safetensors.numpy import save as save_arrays
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from deepclust._state import decode_params, encode_params
from deepclust.errors import InputError
from deepclust.io.write import json_text, write_atomic

FORMAT = "deepclust-model"
FORMAT_VERSION = 1
CONFIG, STATE, WEIGHTS = "config.json", "state.json", "weights.safetensors"


def saveable_classes() -> dict[str, type]:
    """The only classes a saved model may name: registered methods, heads, the student, front ends."""
    from deepclust import embed
    from deepclust.cluster import Hierarchical, KMeans
    from deepclust.distill import Student
    from deepclust.registry import METHODS

    classes = {info.cls.__name__: info.cls for info in METHODS.values()}
    classes.update({cls.__name__: cls for cls in (Hierarchical, KMeans, Student)})
    classes.update({cls.__name__: cls for cls in (embed.TabularEncoder, embed.ImageEncoder, embed.TextEncoder, embed.SeriesEncoder)})
    return classes


def save(model: Any, path: str | os.PathLike, *, metadata: dict[str, Any] | None = None) -> Path:
    """Save a fitted deepclust estimator, or a ``Pipeline`` of them, to the folder ``path``.

    ``metadata`` (JSON values) is stored in ``config.json`` and returned by
    :func:`read_config`; the command line keeps the data's modality there.
    """
    path = Path(path)
    steps = _steps(model)
    entries, states, arrays = [], [], {}
    for i, (name, estimator) in enumerate(steps):
        meta, estimator_arrays = estimator._get_state()
        prefix = f"{i}." if isinstance(model, Pipeline) else ""
        arrays.update({prefix + key: np.ascontiguousarray(a) for key, a in estimator_arrays.items()})
        entries.append({"name": name, "class": type(estimator).__name__, "params": encode_params(estimator)})
        states.append(meta)
    from deepclust import __version__

    weights = save_arrays(arrays)
    state = (json.dumps({"states": states}, sort_keys=True) + "\n").encode()
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "deepclust_version": __version__,
        "class": "Pipeline" if isinstance(model, Pipeline) else entries[0]["class"],
        "steps": entries,
        "metadata": metadata or {},
        "sha256": {STATE: hashlib.sha256(state).hexdigest(), WEIGHTS: hashlib.sha256(weights).hexdigest()},
    }
    config_text = _config_json(config)  # fails before any file is touched, so a saved model stays whole
    write_atomic(path / WEIGHTS, weights)
    write_atomic(path / STATE, state)
    write_atomic(path / CONFIG, config_text)
    return path


def _config_json(config: dict[str, Any]) -> str:
    """``config.json``'s text; metadata JSON cannot hold is an InputError."""
    try:
        return json_text(config)
    except (TypeError, ValueError) as err:
        raise InputError(f"cannot save the model: its metadata must hold JSON values (str, int, float, bool, None, lists, dicts): {err}") from err


def read_config(path: str | os.PathLike) -> dict[str, Any]:
    """``config.json`` of a model folder, checked to be one this version of deepclust reads."""
    path = Path(path)
    if not path.is_dir():
        raise InputError(f"model folder {path} not found (expected a folder written by deepclust.save or `deepclust fit`)")
    config = _read_json(path / CONFIG)
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise InputError(f"{path / CONFIG} is not a deepclust model configuration")
    from deepclust import __version__

    if config.get("format_version") != FORMAT_VERSION:
        raise InputError(
            f"{path} was saved by deepclust {config.get('deepclust_version', '?')} in model format "
            f"{config.get('format_version')!r}; deepclust {__version__} reads format {FORMAT_VERSION} only. "
            "Load it with the version that saved it, or fit the model again"
        )
    return config


def load_model(path: str | os.PathLike) -> Any:
    """The fitted estimator (or ``Pipeline``) saved in ``path`` by :func:`save`; predicts exactly as it did."""
    path = Path(path)
    config = read_config(path)
    files = {name: _read_bytes(path / name) for name in (STATE, WEIGHTS)}
    checksums = config.get("sha256") if isinstance(config.get("sha256"), dict) else {}
    for name, content in files.items():
        if hashlib.sha256(content).hexdigest() != checksums.get(name):
            raise InputError(f"{path / name} was changed after the model was saved (its checksum differs); save the model again")
    try:
        arrays = load_arrays(files[WEIGHTS])
    except (SafetensorError, ValueError) as err:
        raise InputError(f"{path / WEIGHTS} is not a readable safetensors file: {err}") from err
    state_file = _read_json(path / STATE, files[STATE])
    states = state_file.get("states") if isinstance(state_file, dict) else None
    entries = config.get("steps")
    if (
        not isinstance(entries, list)
        or not entries
        or not all(isinstance(entry, dict) for entry in entries)
        or not isinstance(states, list)
        or len(states) != len(entries)
    ):
        raise InputError(f"{path}: {CONFIG} and {STATE} do not describe the same estimators")
    allowed = saveable_classes()
    steps = []
    for i, (entry, state) in enumerate(zip(entries, states)):
        prefix = f"{i}." if config["class"] == "Pipeline" else ""
        own = {key[len(prefix) :]: a for key, a in arrays.items() if key.startswith(prefix)}
        steps.append((entry.get("name"), _restore(entry, state, own, allowed, path)))
    if config["class"] == "Pipeline":
        return Pipeline(steps)
    if len(steps) != 1 or steps[0][1].__class__.__name__ != config["class"]:
        raise InputError(f"{path / CONFIG}: class {config['class']!r} does not match its saved estimator")
    return steps[0][1]


def _steps(model: Any) -> list[tuple[str, Any]]:
    """``(name, estimator)`` of each estimator to save, after checking it can be saved."""
    steps = list(model.steps) if isinstance(model, Pipeline) else [(type(model).__name__, model)]
    allowed = saveable_classes()
    for name, estimator in steps:
        if allowed.get(type(estimator).__name__) is not type(estimator):
            raise TypeError(
                f"cannot save {type(estimator).__name__} (step {name!r}): saved models hold {', '.join(sorted(allowed))} "
                "or a Pipeline of them"
            )
        try:
            check_is_fitted(estimator)
        except NotFittedError as err:
            raise InputError(f"cannot save {type(estimator).__name__}: it is not fitted; call fit first") from err
    return steps


def _restore(entry: Any, state: Any, arrays: dict[str, np.ndarray], allowed: dict[str, type], path: Path) -> Any:
    """One estimator: allow-listed class, saved parameters, saved state."""
    if not isinstance(entry, dict) or entry.get("class") not in allowed:
        name = entry.get("class") if isinstance(entry, dict) else entry
        raise InputError(f"{path / CONFIG} names class {name!r}, which is not one deepclust saves ({', '.join(sorted(allowed))})")
    cls = allowed[entry["class"]]
    try:
        estimator = cls(**decode_params(entry.get("params")))
        estimator._set_state(state, arrays)
    except InputError as err:
        raise InputError(f"{path}: cannot restore {cls.__name__}: {err}") from err
    except (TypeError, ValueError, KeyError, AttributeError, RuntimeError) as err:
        raise InputError(f"{path}: cannot restore {cls.__name__} from its saved state ({type(err).__name__}: {err})") from err
    return estimator


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise InputError(f"cannot read {path}: {err.strerror}") from err


def _read_json(path: Path, content: bytes | None = None) -> Any:
    try:
        return json.loads(_read_bytes(path) if content is None else content)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"{path} is not valid JSON ({err})") from err
