"""Each spec field declared once: its default, what it is, and the values it takes.

``spec_field(default, "what it is", choices=..., bounds=...)`` keeps the doc and the allowed values in
the dataclass field's metadata. ``check_fields(spec)`` -- the first line of every spec's
``__post_init__`` -- enforces them, a ``SpecError`` names them, and ``caseray spec show`` and
``caseray trial --help`` print them: nothing is kept twice, and nothing is read from source comments
(an installed wheel documents itself). Checks that relate several fields stay in ``__post_init__`` and
name what is allowed through ``allowed(cls, name)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

from caseray.core.errors import SpecError
from caseray.core.registry import Registry
from caseray.core.specs import SCALARS, check_choice, check_int


@dataclasses.dataclass(frozen=True)
class Bounds:
    """The range of a number field: ``low``..``high`` (either may be open-ended), ``int`` or ``float``."""

    kind: type
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # (floats) the low end itself is excluded: a learning rate above 0

    def check(self, name: str, value: Any) -> None:
        if self.kind is int:
            try:
                check_int(name, value, self.low, self.high)
            except SpecError as err:
                raise SpecError(err.field, err.message, err.allowed or [self.text()]) from None
            return
        SCALARS[float](value, name)  # a finite number, not a bool
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            raise SpecError(name, f"{value:g} is not {'above' if self.low_open else 'at least'} {number(self.low)}",
                            [self.text()])
        if self.high is not None and value > self.high:
            raise SpecError(name, f"{value:g} is above the maximum {number(self.high)}", [self.text()])

    def text(self) -> str:
        """``1 .. 50``, ``>= 0``, ``> 0 and <= 10``."""
        low = None if self.low is None else f"{'>' if self.low_open else '>='} {number(self.low)}"
        if self.high is None:
            return low or "any number"
        return f"{number(self.low)} .. {number(self.high)}" if low and not self.low_open else \
            f"{low + ' and ' if low else ''}<= {number(self.high)}"


def number(value: float) -> str:
    """``1,000,000`` rather than ``1e+06``; ``0.5`` as it is."""
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


def ints(low: int | None = None, high: int | None = None) -> Bounds:
    return Bounds(int, low, high)


def floats(low: float | None = None, high: float | None = None, low_open: bool = False) -> Bounds:
    return Bounds(float, low, high, low_open)


Names = Iterable | Callable[[], Iterable] | Registry  # values, what returns them, or a registry


def spec_field(default: Any = dataclasses.MISSING, doc: str = "", *, factory: Callable | None = None,
               choices: Names | None = None, forms: Names = (), bounds: Bounds | None = None) -> Any:
    """A dataclass field with its documentation and allowed values. ``choices`` are enforced (each
    element of a tuple field); ``forms`` are shapes a field's own check accepts beyond them
    (``number:<bound>``), shown but not enforced here; ``bounds`` the range of a number."""
    metadata = {"doc": doc, "choices": choices, "forms": forms, "bounds": bounds}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def _values(names: Names | None) -> list:
    if names is None:
        return []
    if isinstance(names, Registry):
        return names.names()
    return list(names() if callable(names) else names)


def _field(cls, name: str) -> dataclasses.Field:
    return {f.name: f for f in dataclasses.fields(cls)}[name]


def doc(cls, name: str) -> str:
    """What field ``name`` of spec class ``cls`` is ("" where nothing is said)."""
    return _field(cls, name).metadata.get("doc", "")


def choices(cls, name: str) -> list:
    """The values field ``name`` must take (empty: it is not a choice)."""
    return _values(_field(cls, name).metadata.get("choices"))


def _shown(meta) -> list[str]:
    return [str(v) for v in _values(meta.get("choices")) + _values(meta.get("forms"))]


def allowed(cls, name: str) -> list[str]:
    """What a person may write in field ``name``: its choices, other forms, or its range."""
    meta = _field(cls, name).metadata
    bounds = meta.get("bounds")
    return _shown(meta) + ([bounds.text()] if bounds is not None else [])


def allowed_note(cls, name: str) -> str:
    """``one of: a, b`` or ``range: 1 .. 50`` for field ``name`` ("" where any value of its type goes)."""
    meta = _field(cls, name).metadata
    shown = _shown(meta)
    if shown:
        return "one of: " + ", ".join(shown)
    return f"range: {meta['bounds'].text()}" if meta.get("bounds") is not None else ""


def check_fields(spec) -> None:
    """Enforce every field's declared choices and bounds (a field whose default is None may be None)."""
    for f in dataclasses.fields(spec):
        value, meta = getattr(spec, f.name), f.metadata
        if value is None and f.default is None:
            continue
        if meta.get("choices") is not None:
            known = _values(meta["choices"])
            if isinstance(value, tuple) and isinstance(f.default, tuple):  # a tuple field: each element
                for i, item in enumerate(value):
                    check_choice(f"{f.name}[{i}]", item, known)
            elif isinstance(meta["choices"], Registry):  # its own words: "unknown task 'x'"
                meta["choices"].get(value, f.name)
            else:
                check_choice(f.name, value, known)
        if meta.get("bounds") is not None:
            meta["bounds"].check(f.name, value)

