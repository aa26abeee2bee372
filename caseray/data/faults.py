"""Planted errors: a ``Fault`` makes a format's own solution generator go wrong at one place and carry
on consistently from there (a dropped carry changes every later digit, as a real slip would).

Error kinds (``KINDS``), each applied at one position ``at`` (a column, loop pass or equation line):

- ``dropped_carry``: a carry (or borrow) of 1 is written as 0;
- ``wrong_digit``: a digit of a sum, difference, product or half is off by ``delta``;
- ``wrong_copy``: a number copied from the question or an earlier line has one digit changed;
- ``early_stop``: the solution ends after this position and answers with what it has;
- ``wrong_modulus``: modular addition: a sum >= the modulus is declared smaller (nothing subtracted);
- ``wrong_base``: base-9 addition: a column sum is split with 10 instead of 9.

The generator records in ``fault.line`` the index of the first line the fault made wrong, so the
planted position is known without comparing texts (the corrector is tested against it).
"""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("dropped_carry", "wrong_digit", "wrong_copy", "early_stop", "wrong_modulus", "wrong_base")
STEP_KINDS = ("dropped_carry", "wrong_digit", "wrong_copy", "early_stop")  # every step format, every task
TASK_KINDS = {"base9_addition": ("wrong_base",), "mod_addition": ("wrong_modulus",)}


def step_fault_kinds(task) -> tuple[str, ...]:
    """The kinds a step-by-step solution of ``task`` can carry (scratchpad and rule-following alike)."""
    return STEP_KINDS + TASK_KINDS.get(task.name, ())


@dataclass
class Fault:
    kind: str
    at: int = 0  # column / loop pass / equation line (per format; 0 = first)
    part: int = 0  # which sub-calculation of a solution (modular addition: 0 the sum, 1 the subtraction)
    delta: int = 1  # wrong_digit / wrong_copy: how far the digit is off (mod the base)
    line: int | None = None  # set by the generator: the index of the first line the fault made wrong

    def hits(self, kind: str, at: int, part: int = 0) -> bool:
        return self.kind == kind and self.at == at and self.part == part

    def hit(self, line: int) -> None:
        if self.line is None:
            self.line = line


def strikes(fault: Fault | None, kind: str, at: int, part: int = 0) -> bool:
    return fault is not None and fault.hits(kind, at, part)


def off_digit(digit: int, delta: int, base: int) -> int:
    """A different digit: ``digit + delta`` mod ``base`` (delta mod base is never 0)."""
    step = delta % base or 1
    return (digit + step) % base


def miscopy(number: str, delta: int, base: int = 10) -> str:
    """``number`` (digit string) with its last digit changed -- the leading one only if it is the
    only digit; never a new leading zero."""
    if not number:
        return number
    i = len(number) - 1
    new = off_digit(int(number[i]), delta, base)
    if i == 0 and new == 0 and len(number) > 1:
        new = off_digit(new, 1, base)
    return number[:i] + str(new) + number[i + 1:]
