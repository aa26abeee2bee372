"""Frozen-dataclass specs: strict loading from plain dicts, JSON round-trip and stable hashes.

``from_dict(Cls, data)`` rejects unknown keys and wrong types with a :class:`SpecError` naming the
dotted field path; value checks live in each class's ``__post_init__``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from collections.abc import Mapping
from typing import Any, get_args, get_origin, get_type_hints

from caseray.core.errors import SpecError


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def _coerce(tp: Any, value: Any, path: str) -> Any:
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(option, value, path)
            except SpecError as err:
                errors.append(err)
        raise errors[0] if len(errors) == 1 else SpecError(path, f"{value!r} has the wrong type",
                                                             [_type_name(o) for o in options])
    if origin is tuple:
        args = get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise SpecError(path, f"expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v, f"{path}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise SpecError(path, f"expected {len(args)} values, got {len(value)}")
        return tuple(_coerce(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, path)
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise SpecError(path, f"expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(path, f"expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SpecError(path, f"expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise SpecError(path, f"expected a string, got {value!r}")
        return value
    raise TypeError(f"specs: unsupported field type {tp!r} at {path}")


def from_dict(cls: type, data: Any, path: str = "") -> Any:
    """Build the frozen dataclass ``cls`` from a (nested) mapping, strictly."""
    if isinstance(data, cls):
        return data
    if not isinstance(data, Mapping):
        raise SpecError(path or cls.__name__, f"expected a mapping of {cls.__name__} fields, got {data!r}")
    names = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in names:
            raise SpecError(_join(path, str(key)), "unknown key", names)
    hints = get_type_hints(cls)
    kwargs = {k: _coerce(hints[k], v, _join(path, k)) for k, v in data.items()}
    try:
        return cls(**kwargs)
    except SpecError as err:
        raise err.under(path) from None


def to_dict(spec: Any) -> Any:
    """A JSON-ready nested dict (tuples become lists)."""
    if dataclasses.is_dataclass(spec):
        return {f.name: to_dict(getattr(spec, f.name)) for f in dataclasses.fields(spec)}
    if isinstance(spec, (list, tuple)):
        return [to_dict(v) for v in spec]
    return spec


def canonical_json(obj: Any) -> str:
    return json.dumps(to_dict(obj), sort_keys=True, separators=(",", ":"))


def stable_hash(obj: Any, length: int = 12) -> str:
    """Hex digest of the canonical JSON of ``obj``: equal specs, equal names, on every machine."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:length]


# --- value checks used by __post_init__ -------------------------------------------------------


def check_int(field: str, value: Any, minimum: int | None = None, maximum: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(field, f"expected an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise SpecError(field, f"{value} is below the minimum {minimum}")
    if maximum is not None and value > maximum:
        raise SpecError(field, f"{value} is above the maximum {maximum}")


def check_float(field: str, value: Any, low: float, high: float, low_open: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(field, f"expected a number, got {value!r}")
    if value < low or value > high or (low_open and value == low):
        bracket = "(" if low_open else "["
        raise SpecError(field, f"{value} is outside {bracket}{low}, {high}]")


def check_choice(field: str, value: Any, allowed) -> None:
    if value not in allowed:
        raise SpecError(field, f"{value!r} is not allowed", list(allowed))


def flatten(data: Any, prefix: str = "") -> dict[str, str]:
    """Nested dict -> {"train.lr": "0.003", ...} (MLflow params are strings)."""
    if isinstance(data, dict):
        out: dict[str, str] = {}
        for k, v in data.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: json.dumps(data) if isinstance(data, (list, tuple)) else str(data)}
