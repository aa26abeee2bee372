"""The arithmetic tasks, each a 2-D grid of operand cells (a, b): the paper's five, and
``difference`` (a - b, without the a <-> b symmetry of the additions).

A task maps a cell to a compact question and its answer, both strings (answers are always compared
as strings). ``TaskSpec`` carries the parameters (operand range, base, modulus, offset) with the
paper's values as defaults; ``build_task(spec)`` returns the ready :class:`Task`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from caseray.core.errors import SpecError
from caseray.core.fields import check_fields, ints, spec_field
from caseray.core.registry import Registry
from caseray.core.specs import to_dict

TASKS: Registry[type["Task"]] = Registry("task")


MAX_SIDE = 2000  # operand values per axis: up to 4 million cells


@dataclass(frozen=True)
class TaskSpec:
    name: str = spec_field("addition", "which task", choices=TASKS)
    low: int | None = spec_field(None, "smallest operand value on both axes (null: the task's default)",
                                 bounds=ints(0))
    high: int | None = spec_field(None, "largest operand value (chicken & rabbit: largest number of heads); "
                                  "null: the task's default", bounds=ints(1))
    base: int | None = spec_field(None, "only base9_addition (default 9)", bounds=ints(2, 10))
    modulus: int | None = spec_field(None, "only mod_addition (default 113)", bounds=ints(2))
    offset: int | None = spec_field(None, "only difference: added to a - b so no answer is negative "
                                    "(default: high)", bounds=ints(0))

    def __post_init__(self):
        check_fields(self)
        cls = TASKS.get(self.name, "name")
        for key in ("low", "high", "base", "modulus", "offset"):
            if getattr(self, key) is not None and key not in cls.params:
                raise SpecError(key, f"task {self.name!r} takes no {key}", cls.params)
        low, high = self.resolved("low"), self.resolved("high")
        if high <= low:
            raise SpecError("high", f"high={high} must be above low={low}")
        if high - low + 1 > MAX_SIDE:  # every cell is made, split and evaluated: a grid must fit in memory
            raise SpecError("high", f"{high - low + 1:,} values per axis ({low}..{high})",
                            [f"at most {MAX_SIDE:,} values per axis (high - low < {MAX_SIDE:,})"])
        if "offset" in cls.params and self.resolved("offset") < high - low:
            raise SpecError("offset", f"offset={self.offset} makes a - b + offset negative at a={low}, b={high}",
                            [f"at least high - low = {high - low}"])

    def resolved(self, key: str) -> int:
        value = getattr(self, key)
        if value is None and key == "offset":  # its default follows the grid: high
            return self.resolved("high")
        return TASKS.get(self.name).defaults[key] if value is None else value

    def key(self) -> dict:
        """The task as dataset names hold it: fields added since at their defaults left out, so
        existing datasets keep their names."""
        out = to_dict(self)
        if out["offset"] is None:
            del out["offset"]
        return out


def to_base(n: int, base: int) -> str:
    if base == 10:
        return str(n)
    if n == 0:
        return "0"
    out = []
    while n:
        n, r = divmod(n, base)
        out.append(str(r))
    return "".join(reversed(out))


class Task:
    """A grid task. Subclasses set ``name``, ``version``, ``params``, ``defaults`` and the maths."""

    name = ""
    version = 1
    params: tuple[str, ...] = ("low", "high")
    defaults: dict[str, int] = {"low": 0, "high": 99}
    axes = ("a", "b")  # what the grid's rows and columns mean
    base = 10
    length_ok = False  # can make n-digit problems for length generalization

    def __init__(self, spec: TaskSpec):
        self.spec = spec
        self.low, self.high = spec.resolved("low"), spec.resolved("high")

    # grid ----------------------------------------------------------------------------------
    @property
    def a_range(self) -> tuple[int, int]:
        return self.low, self.high

    @property
    def b_range(self) -> tuple[int, int]:
        return self.low, self.high

    def valid(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.ones(np.broadcast(a, b).shape, dtype=bool)

    def cells(self) -> tuple[np.ndarray, np.ndarray]:
        """Every valid cell, row-major (a, then b)."""
        a, b = np.meshgrid(np.arange(self.a_range[0], self.a_range[1] + 1),
                           np.arange(self.b_range[0], self.b_range[1] + 1), indexing="ij")
        keep = self.valid(a, b)
        return a[keep].astype(np.int64), b[keep].astype(np.int64)

    # maths ---------------------------------------------------------------------------------
    def question(self, a: int, b: int) -> str:
        raise NotImplementedError

    def answer(self, a: int, b: int) -> str:
        raise NotImplementedError

    def num(self, n: int) -> str:
        return to_base(n, self.base)

    def answer_bound(self) -> int:
        """A bound on the answers' values whose digits size digit places (``TrialSpec.longest_place``)."""
        return self.high * 2 + 1


@TASKS.register("addition")
class Addition(Task):
    name = "addition"
    length_ok = True

    def question(self, a, b):
        return f"{self.num(a)}+{self.num(b)}="

    def answer(self, a, b):
        return self.num(a + b)


@TASKS.register("base9_addition")
class BaseAddition(Addition):
    name = "base9_addition"
    params = ("low", "high", "base")
    defaults = {"low": 0, "high": 99, "base": 9}

    def __init__(self, spec):
        super().__init__(spec)
        self.base = spec.resolved("base")


@TASKS.register("mod_addition")
class ModAddition(Task):
    name = "mod_addition"
    params = ("low", "high", "modulus")
    defaults = {"low": 0, "high": 112, "modulus": 113}

    def __init__(self, spec):
        super().__init__(spec)
        self.modulus = spec.resolved("modulus")

    def question(self, a, b):
        return f"{a}+{b}="

    def answer(self, a, b):
        return str((a + b) % self.modulus)


@TASKS.register("linear")
class Linear(Task):
    """f(a, b) = a + 2b + 3."""

    name = "linear"

    def question(self, a, b):
        return f"({a},{b})="

    def answer(self, a, b):
        return str(a + 2 * b + 3)


@TASKS.register("difference")
class Difference(Task):
    """a - b + offset (offset default: high, so no answer is negative): a and b play different roles."""

    name = "difference"
    params = ("low", "high", "offset")

    def __init__(self, spec):
        super().__init__(spec)
        self.offset = spec.resolved("offset")

    def question(self, a, b):
        return f"{a}-{b}="

    def answer(self, a, b):
        return str(a - b + self.offset)

    def answer_bound(self) -> int:
        return max(super().answer_bound(), self.high - self.low + self.offset)


@TASKS.register("chicken_rabbit")
class ChickenRabbit(Task):
    """h heads and l legs; rabbits (4 legs) and chickens (2 legs). Grid cell (a, b) = (l/2, h)."""

    name = "chicken_rabbit"
    axes = ("l/2", "h")

    @property
    def a_range(self):
        return self.low, 2 * self.high

    def valid(self, a, b):
        return (b <= a) & (a <= 2 * b)

    def question(self, a, b):
        return f"h{b},l{2 * a}="

    def rabbits_chickens(self, a: int, b: int) -> tuple[int, int]:
        return a - b, 2 * b - a

    def answer(self, a, b):
        r, c = self.rabbits_chickens(a, b)
        return f"{r},{c}"


def build_task(spec: TaskSpec | str) -> Task:
    if isinstance(spec, str):
        spec = TaskSpec(name=spec)
    return TASKS.get(spec.name, "task.name")(spec)
