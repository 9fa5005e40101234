"""One registry from method names to estimator classes; the CLI and benchmarks read it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from deepclust.errors import InputError


@dataclass(frozen=True)
class MethodInfo:
    name: str
    cls: type
    summary: str


METHODS: dict[str, MethodInfo] = {}


def register(name: str, summary: str) -> Callable[[type], type]:
    """Class decorator: make an estimator available under ``name``."""

    def add(cls: type) -> type:
        if name in METHODS:
            raise RuntimeError(f"method name {name!r} registered twice")
        METHODS[name] = MethodInfo(name, cls, summary)
        return cls

    return add


def get_method(name: str) -> type:
    """The estimator class registered under ``name`` (case-insensitive)."""
    key = name.lower()
    if key not in METHODS:
        raise InputError(f"unknown method {name!r}; available: {', '.join(sorted(METHODS))}")
    return METHODS[key].cls
