"""Column steps: the single-digit operations a written calculation is made of.

A step is a hashable key naming what one column of a calculation needs: the operation, the column
(counted from the right), the digits there ('' where a number has run out) and the incoming carry
or borrow. Two cells that share a key exercise the same step; the step-coverage predictor
(``caseray.report.step_coverage``) asks which keys of a test cell never occur in training, with the
column (``step+column``) or without it (``step``: the same digits and carry in any column).
"""

from __future__ import annotations

from typing import NamedTuple


class Step(NamedTuple):
    """One step: (op, column, x, y, carry) -- a plain tuple by value. ``column`` is None for a step
    that is not a column's (the comparison with the modulus)."""

    op: str
    column: int | None
    x: str
    y: str
    carry: int  # the carry, borrow or remainder coming in

    def anywhere(self) -> Step:
        """The same step in no particular column: the key of the column-free ``step`` predictor."""
        return self._replace(column=None)

    def __str__(self) -> str:
        return str(tuple(self))


def add_columns(x: str, y: str, base: int, op: str = "add") -> list[Step]:
    """Steps of x + y (digit strings in ``base``) from the right: (op, column, dx, dy, carry in)."""
    steps, carry = [], 0
    for k in range(max(len(x), len(y))):
        dx = x[-1 - k] if k < len(x) else ""
        dy = y[-1 - k] if k < len(y) else ""
        steps.append(Step(op, k, dx, dy, carry))
        carry = (int(dx or 0) + int(dy or 0) + carry) // base
    return steps


def sub_columns(x: str, y: str, base: int = 10, op: str = "sub") -> list[Step]:
    """Steps of x - y (x >= y) from the right: (op, column, dx, dy, borrow in)."""
    steps, borrow = [], 0
    for k in range(len(x)):
        dx, dy = x[-1 - k], (y[-1 - k] if k < len(y) else "")
        steps.append(Step(op, k, dx, dy, borrow))
        borrow = int(int(dx) - int(dy or 0) - borrow < 0)
    return steps


def half_columns(x: str, op: str = "half") -> list[Step]:
    """Steps of x / 2 (long division from the left): (op, column from the right, digit, remainder in)."""
    steps, rem = [], 0
    for i, d in enumerate(x):
        steps.append(Step(op, len(x) - 1 - i, d, "", rem))
        rem = (10 * rem + int(d)) % 2
    return steps
