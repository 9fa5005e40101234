"""Fitted state as JSON metadata plus named NumPy arrays: what saved models are made of.

An estimator's learned attributes (names ending in ``_``) are encoded value by value:
plain JSON values stay as they are; arrays go to the ``arrays`` dict under a dotted key
(the attribute's name, then the path inside it); torch modules go there as their
``state_dict``; a few known objects (``TrainingLog``, ``torch.device``, nested estimators
that implement the state protocol, a short list of scikit-learn estimators whose fitted state
is plain data, such as ``GaussianMixture``) are tagged with ``"__kind__"``. Decoding never
creates an object from a name found in the data alone: modules are rebuilt by the owner from
its own parameters, nested estimators only from classes the owner or this module lists. Nothing here runs
code from a file, so a tampered file can at worst fail to load.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import torch

from deepclust.errors import InputError
from deepclust.train import TrainingLog

KIND = "__kind__"
_ATTRIBUTE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*_$")
_SKLEARN_ATTRIBUTE = re.compile(r"^_?[A-Za-z][A-Za-z0-9_]*$")


def _sklearn_classes() -> dict[str, type]:
    """scikit-learn estimators whose fitted state is plain data (arrays, numbers, strings), saved attribute by attribute."""
    from sklearn.cluster import KMeans, MiniBatchKMeans
    from sklearn.decomposition import PCA, TruncatedSVD
    from sklearn.mixture import GaussianMixture
    from sklearn.preprocessing import StandardScaler

    return {cls.__name__: cls for cls in (GaussianMixture, KMeans, MiniBatchKMeans, PCA, StandardScaler, TruncatedSVD)}


class _ModuleSlot:
    """Placeholder for a torch module until its owner has rebuilt it from its parameters."""

    def __init__(self, key: str) -> None:
        self.key = key


def learned_attributes(obj: Any) -> list[str]:
    """Names of the fitted attributes of ``obj``: public, ending in ``_`` (scikit-learn's convention)."""
    return sorted(name for name in vars(obj) if _ATTRIBUTE.match(name))


def encode(value: Any, key: str, arrays: dict[str, np.ndarray]) -> Any:
    """JSON-serialisable form of ``value``; arrays and weights are added to ``arrays`` under ``key``."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else {KIND: "float", "value": repr(value)}
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "US" or (value.dtype == object and all(isinstance(v, str) for v in value.flat)):
            return {KIND: "strings", "values": value.tolist(), "object": value.dtype == object}
        if value.dtype == object:
            raise TypeError(f"cannot save {key}: an array of Python objects")
        arrays[key] = np.ascontiguousarray(value)
        return {KIND: "array", "key": key}
    if isinstance(value, torch.nn.Module):
        for name, tensor in value.state_dict().items():
            arrays[f"{key}.{name}"] = tensor.detach().cpu().numpy()
        return {KIND: "module", "key": key}
    if isinstance(value, os.PathLike):  # a checkpoint path: saved as the string it names
        return os.fspath(value)
    if isinstance(value, torch.device):
        return {KIND: "device", "value": str(value)}
    if isinstance(value, TrainingLog):
        return {KIND: "training_log", "losses": value.losses, "samples": value.samples, "seconds": value.seconds}
    if isinstance(value, tuple):
        return {KIND: "tuple", "items": [encode(v, f"{key}.{i}", arrays) for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [encode(v, f"{key}.{i}", arrays) for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        return {
            KIND: "dict",
            "items": [[encode(k, f"{key}.k{i}", arrays), encode(v, f"{key}.{i}", arrays)] for i, (k, v) in enumerate(value.items())],
        }
    if hasattr(value, "_get_state") and hasattr(value, "get_params"):
        meta, sub_arrays = value._get_state()
        arrays.update({f"{key}.{name}": array for name, array in sub_arrays.items()})
        return {KIND: "estimator", "class": type(value).__name__, "params": encode_params(value), "state": meta, "key": key}
    if _sklearn_classes().get(type(value).__name__) is type(value):
        params = encode_params(value)
        fitted = {name: encode(v, f"{key}.{name}", arrays) for name, v in vars(value).items() if name not in params}
        return {KIND: "sklearn", "class": type(value).__name__, "params": params, "attributes": fitted}
    raise TypeError(f"cannot save {key}: values of type {type(value).__name__} have no file format")


def encode_params(estimator: Any) -> dict[str, Any]:
    """``get_params(deep=False)`` in JSON form; a ``RandomState`` object is saved as None (it has no portable value)."""
    params, arrays = {}, {}
    for name, value in estimator.get_params(deep=False).items():
        params[name] = None if isinstance(value, np.random.RandomState) else encode(value, f"params.{name}", arrays)
    if arrays:
        raise TypeError(f"cannot save the parameters of {type(estimator).__name__}: {sorted(arrays)} hold arrays or networks")
    return params


def decode(value: Any, arrays: Mapping[str, np.ndarray], classes: Iterable[type] = ()) -> Any:
    """Inverse of :func:`encode`; modules come back as placeholders for the owner to rebuild."""
    if isinstance(value, list):
        return [decode(v, arrays, classes) for v in value]
    if not isinstance(value, dict):
        return value
    kind = value.get(KIND)
    try:
        if kind == "float":
            return float(value["value"])
        if kind == "array":
            return np.array(arrays[value["key"]])
        if kind == "strings":
            return np.array(value["values"], dtype=object if value["object"] else None)
        if kind == "module":
            return _ModuleSlot(value["key"])
        if kind == "device":
            return _available_device(value["value"])
        if kind == "training_log":
            return TrainingLog([float(x) for x in value["losses"]], int(value["samples"]), float(value["seconds"]))
        if kind == "tuple":
            return tuple(decode(v, arrays, classes) for v in value["items"])
        if kind == "dict":
            return {decode(k, arrays, classes): decode(v, arrays, classes) for k, v in value["items"]}
        if kind == "estimator":
            allowed = {cls.__name__: cls for cls in classes}
            if value["class"] not in allowed:
                raise InputError(f"saved state holds a {value['class']!r}, which is not one of {sorted(allowed)}")
            estimator = allowed[value["class"]](**decode_params(value["params"]))
            prefix = value["key"] + "."
            estimator._set_state(value["state"], {k[len(prefix) :]: a for k, a in arrays.items() if k.startswith(prefix)})
            return estimator
        if kind == "sklearn":
            allowed = _sklearn_classes()
            if value["class"] not in allowed:
                raise InputError(f"saved state holds a scikit-learn {value['class']!r}, which is not one of {sorted(allowed)}")
            estimator = allowed[value["class"]](**decode_params(value["params"]))
            for name, attribute in value["attributes"].items():
                if not _SKLEARN_ATTRIBUTE.match(name):
                    raise InputError(f"saved {value['class']} names {name!r}, which is not an attribute name")
                setattr(estimator, name, decode(attribute, arrays, classes))
            return estimator
    except KeyError as err:
        raise InputError(f"saved state is incomplete: {kind or 'entry'} is missing {err}") from err
    raise InputError(f"saved state holds an entry of unknown kind {kind!r}")


def decode_params(params: Any) -> dict[str, Any]:
    if not isinstance(params, dict):
        raise InputError(f"saved parameters must be a JSON object, got {type(params).__name__}")
    return {name: decode(value, {}) for name, value in params.items()}


def get_state(obj: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Every learned attribute of ``obj`` as (metadata, arrays)."""
    arrays: dict[str, np.ndarray] = {}
    meta = {name: encode(getattr(obj, name), name, arrays) for name in learned_attributes(obj)}
    return meta, arrays


def set_state(
    obj: Any,
    meta: Mapping[str, Any],
    arrays: Mapping[str, np.ndarray],
    *,
    modules: Callable[[], Mapping[str, Callable[[], torch.nn.Module]]] | None = None,
    classes: Iterable[type] = (),
) -> None:
    """Restore what :func:`get_state` saved onto ``obj``, freshly made with the same parameters.

    ``modules()`` is called once every other attribute is restored (so it may read
    ``n_features_in_``, ``n_clusters_``, ...) and maps each network attribute to a function
    that builds it empty; the saved weights are then loaded into it exactly. ``classes``
    lists the estimator classes nested state may hold.
    """
    if not isinstance(meta, Mapping):
        raise InputError(f"saved state of {type(obj).__name__} must be a JSON object")
    classes = tuple(classes)
    slots = []
    for name, value in meta.items():
        if not _ATTRIBUTE.match(name):
            raise InputError(f"saved state of {type(obj).__name__} names {name!r}, which is not a learned attribute")
        decoded = decode(value, arrays, classes)
        if isinstance(decoded, _ModuleSlot):
            slots.append((name, decoded.key))
        else:
            setattr(obj, name, decoded)
    device = getattr(obj, "device_", torch.device("cpu"))
    builders = modules() if slots and modules is not None else {}
    for name, key in slots:
        if name not in builders:
            raise InputError(f"saved state of {type(obj).__name__} holds a network {name!r} it does not have")
        module = builders[name]()
        prefix = key + "."
        weights = {k[len(prefix) :]: torch.from_numpy(np.array(a)) for k, a in arrays.items() if k.startswith(prefix)}
        try:
            module.load_state_dict(weights, strict=True)
        except RuntimeError as err:
            first = str(err).strip().splitlines()
            raise InputError(
                f"saved weights of {type(obj).__name__}.{name} do not fit its architecture: "
                + " ".join(line.strip() for line in first[:3])
            ) from err
        setattr(obj, name, module.to(device).eval())


def _available_device(name: str) -> torch.device:
    """The saved device where this machine has it, else the CPU (a GPU-trained model loads anywhere)."""
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as err:
        raise InputError(f"saved device {name!r} is not a device name") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        return torch.device("cpu")
    return device
