"""A small decorator registry: ``@TASKS.register("addition")`` and ``TASKS.get("addition")``."""

from __future__ import annotations

from typing import Callable, Generic, TypeVar

from caseray.core.errors import SpecError, did_you_mean
from caseray.core.specs import short

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def add(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = obj
            return obj

        return add

    def get(self, name: str, field: str | None = None) -> T:
        if name not in self._items:
            raise SpecError(field or self.kind, f"unknown {self.kind} {short(name)}{did_you_mean(name, self.names())}",
                            self.names())
        return self._items[name]

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: str) -> bool:
        return name in self._items
