"""Frozen-dataclass specs: strict loading from plain dicts, JSON round-trip and stable hashes.

``from_dict(Cls, data)`` rejects unknown keys and wrong types with a :class:`SpecError` naming the
dotted field path; value checks live in each class's ``__post_init__``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import types
import typing
from collections.abc import Mapping
from typing import Any, get_args, get_origin, get_type_hints

from caseray.core.errors import SpecError, did_you_mean

# every integer a spec holds fits a signed 32-bit int (seeds are combined into 64-bit generator seeds)
INT_RANGE = (-(2**31), 2**31 - 1)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def _coerce(tp: Any, value: Any, path: str) -> Any:
    """``value`` as type ``tp`` (a union, a tuple, a nested spec, or a scalar); else a ``SpecError``."""
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return _coerce_union(get_args(tp), value, path)
    if origin is tuple:
        return _coerce_tuple(get_args(tp), value, path)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, path)
    if tp is Any:
        return value
    if tp in SCALARS:
        return SCALARS[tp](value, path)
    raise TypeError(f"specs: unsupported field type {tp!r} at {path}")


def _coerce_union(options: tuple, value: Any, path: str) -> Any:
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
    raise errors[0] if len(errors) == 1 else SpecError(path, f"{short(value)} has the wrong type",
                                                         [_type_name(o) for o in options])


def _coerce_tuple(args: tuple, value: Any, path: str) -> tuple:
    if not isinstance(value, (list, tuple)):
        raise SpecError(path, f"expected a list, got {value!r}")
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(_coerce(args[0], v, f"{path}[{i}]") for i, v in enumerate(value))
    if len(value) != len(args):
        raise SpecError(path, f"expected {len(args)} values, got {len(value)}")
    return tuple(_coerce(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value)))


def _as_bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise SpecError(path, f"expected true or false, got {value!r}")
    return value


def _as_int(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(path, f"expected an integer, got {short(value)}")
    _check_int_range(path, value)
    return value


def _as_float(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(path, f"expected a number, got {short(value)}")
    if not math.isfinite(value):
        raise SpecError(path, f"{value} is not a finite number", ["a finite number"])
    return float(value)


def _as_str(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise SpecError(path, f"expected a string, got {short(value)}")
    return value


SCALARS = {bool: _as_bool, int: _as_int, float: _as_float, str: _as_str}


def short(value: Any, limit: int = 120, quote: bool = True) -> str:
    """``repr(value)`` (or ``str``) cut to ``limit`` characters: error messages stay one readable line,
    whatever the input's size."""
    if isinstance(value, (dict, list, tuple)) and len(value) > 20:
        value = type(value).__name__ + f" of {len(value)} items"
        quote = False
    if isinstance(value, int) and value.bit_length() > 256:  # (Python refuses to print ints of > 4300 digits)
        value, quote = f"an integer of {value.bit_length()} bits", False
    text = repr(value) if quote else str(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def field_name(key: Any) -> str:
    """A key as an error message names it: plain (dotted) names as they are, anything else quoted and cut."""
    text = str(key)
    plain = 0 < len(text) <= 60 and all(c.isascii() and (c.isalnum() or c in "_-.") for c in text)
    return text if plain else short(key, 60)


def _check_int_range(field: str, value: int) -> None:
    if not INT_RANGE[0] <= value <= INT_RANGE[1]:
        raise SpecError(field, f"{short(value, 40)} is outside the integers a spec holds",
                        [f"{INT_RANGE[0]} .. {INT_RANGE[1]}"])


def from_dict(cls: type, data: Any, path: str = "") -> Any:
    """Build the frozen dataclass ``cls`` from a (nested) mapping, strictly."""
    if isinstance(data, cls):
        return data
    if not isinstance(data, Mapping):
        raise SpecError(path or cls.__name__, f"expected a mapping of {cls.__name__} fields, got {short(data)}")
    names = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in names:
            raise SpecError(_join(path, field_name(key)), "unknown key" + did_you_mean(key, names), names)
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
        raise SpecError(field, f"expected an integer, got {short(value)}")
    _check_int_range(field, value)
    if minimum is not None and value < minimum:
        raise SpecError(field, f"{value} is below the minimum {minimum}")
    if maximum is not None and value > maximum:
        raise SpecError(field, f"{value} is above the maximum {maximum}")


def check_choice(field: str, value: Any, allowed) -> None:
    try:
        known = value in allowed
    except TypeError:  # an unhashable value (a list, a mapping) is never a choice
        known = False
    if not known:
        hint = did_you_mean(value, allowed) if isinstance(value, str) else ""
        raise SpecError(field, f"{short(value)} is not allowed{hint}", list(allowed))


def flatten(data: Any, prefix: str = "") -> dict[str, str]:
    """Nested dict -> {"train.lr": "0.003", ...} (MLflow params are strings)."""
    if isinstance(data, dict):
        out: dict[str, str] = {}
        for k, v in data.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: json.dumps(data) if isinstance(data, (list, tuple)) else str(data)}
