"""User input as plain data: YAML (1.2 core-schema scalars) and JSON, read strictly and bounded.

PyYAML speaks YAML 1.1, where ``1e-3`` is a string, ``yes`` a boolean and ``017`` an octal number,
and where a mapping's repeated key silently replaces the first. ``load_text`` reads scalars as YAML
1.2 does (``true``/``false`` only; decimal, ``0o`` and ``0x`` integers; ``1e-3`` a number; ``.nan``
and ``.inf`` numbers, refused later by the specs), refuses repeated keys, and refuses documents that
nest deeper than ``MAX_DEPTH`` or expand (aliases counted each time they are used) to more than
``MAX_VALUES`` values -- an alias bomb is refused before anything copies or prints it. Errors are
``SpecError``s naming the field the text was meant for.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from caseray.core.errors import SpecError

MAX_DEPTH = 32
MAX_VALUES = 100_000


class _Loader(yaml.SafeLoader):
    """SafeLoader (plain data only, never objects) with YAML 1.2 core-schema scalars."""


_Loader.yaml_implicit_resolvers = {}  # YAML 1.1's resolvers (yes/no, 1_000, 0777, 1:30, dates) removed
_RESOLVERS = [
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    ("tag:yaml.org,2002:float", r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
                                r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$", list("-+.0123456789")),
]
for _tag, _pattern, _first in _RESOLVERS:
    _Loader.add_implicit_resolver(_tag, re.compile(_pattern), _first)


def _int(loader: _Loader, node) -> int:
    text = loader.construct_scalar(node)
    return int(text, {"0x": 16, "0o": 8}.get(text[:2], 10))


def _mapping(loader: _Loader, node, deep: bool = False) -> dict:
    loader.flatten_mapping(node)  # merge keys (<<) first: a merged key may be overridden once
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            repeated = key in seen
        except TypeError:  # an unhashable key ([1, 2]: x) is refused by PyYAML itself, below
            continue
        if repeated:
            raise yaml.constructor.ConstructorError(None, None, f"the key {str(key)[:80]!r} appears twice",
                                                    key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_Loader.add_constructor("tag:yaml.org,2002:int", _int)
_Loader.add_constructor("tag:yaml.org,2002:map", _mapping)


def too_deep(field: str) -> SpecError:
    return SpecError(field, f"nests deeper than {MAX_DEPTH} levels", [f"at most {MAX_DEPTH} levels"])


def check_size(data: Any, field: str) -> None:
    """Refuse ``data`` that nests deeper than ``MAX_DEPTH`` or holds more than ``MAX_VALUES`` values
    (shared references counted each time, as a copy or a print would expand them). Stops counting at
    the limit, so a bomb costs no more than the limit to refuse."""
    budget = [MAX_VALUES]

    def walk(node, depth):
        budget[0] -= 1
        if budget[0] < 0:
            raise SpecError(field, f"expands to more than {MAX_VALUES:,} values (YAML aliases or a very large "
                            "document)", [f"at most {MAX_VALUES:,} values"])
        if depth > MAX_DEPTH:
            raise too_deep(field)
        if isinstance(node, dict):
            for key, value in node.items():
                walk(key, depth + 1)
                walk(value, depth + 1)
        elif isinstance(node, (list, tuple)):
            for value in node:
                walk(value, depth + 1)

    walk(data, 0)


def load_yaml(text: str, field: str) -> Any:
    """YAML text -> plain data (see the module's docstring); errors name ``field``."""
    loader = None
    try:
        loader = _Loader(text)  # (its reader refuses control characters at once)
        node = loader.get_single_node()
        data = None if node is None else loader.construct_document(node)
    except yaml.YAMLError as err:
        raise SpecError(field, f"is not plain YAML: {_first_line(err)}") from None
    except RecursionError:
        raise too_deep(field) from None
    finally:
        if loader is not None:
            loader.dispose()
    check_size(data, field)
    return data


def load_json(text: str, field: str) -> Any:
    """JSON text -> plain data, with YAML's rules: no repeated keys, bounded size and depth."""
    def pairs(items):
        data = dict(items)
        if len(data) < len(items):
            key = next(k for i, (k, _) in enumerate(items) if k in dict(items[:i]))
            raise SpecError(field, f"the key {key[:80]!r} appears twice")
        return data

    try:
        data = json.loads(text, object_pairs_hook=pairs)
    except json.JSONDecodeError as err:
        raise SpecError(field, f"is not JSON: {err}") from None
    except RecursionError:
        raise too_deep(field) from None
    check_size(data, field)
    return data


def _first_line(err: Exception) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    where = next((line for line in lines if line.startswith("in ")), "")
    text = " ".join([lines[0], where]) if lines else type(err).__name__
    return text.replace('in "<unicode string>", ', "at ").rstrip(":")[:300]
