"""Rule-following for a small model (``rule_following_columns``): the program in the input, as in RFFT,
and an output that runs it one column per line, units first, with the program's state for that column
only -- no digit list recited whole.

    input:  the column program, then 57+68=
    output: 7+8+0=15      (the units: digits 7 and 8, carry in 0, total 15)
            5+6+1=12      (the tens: carry in 1 from the line before)
            0+0+1=01      (the carry left over: a column of its own)
            =521          (the answer, units first: the last digit of each line)

A total is written as two digits of the task's base (the carry on to the next column, the column's
digit). Every digit of line n belongs to column n, so with coupled positions (``ColumnPlaces``) the
digits of a column share an id across lines and with the prompt, and a role tells them apart.
"""

from __future__ import annotations

from caseray.data.formats.base import FORMATS, Format
from caseray.data.formats.columns import add_columns

# the program the input shows (no digit in it: every digit of a prompt is an operand's). Version 2
# writes it in 148 characters (version 1: 238, the same loop with longer names): the program is most of
# a short problem's tokens, and a row's cost grows with them.
PROGRAM = """def add(x, y):
  c = zero
  while x or y or c:
    p = pop(x)
    q = pop(y)
    t = p + q + c
    show(p, q, c, t)
    c = t // base
  show(answer)"""


class RuleFollowingColumns(Format):
    name = "rule_following_columns"
    version = 2  # the shorter program
    tasks = ("addition", "base9_addition")
    place_rule = "columns"

    def prompt(self, task, a, b):
        return PROGRAM + "\n" + task.question(a, b)

    def solve(self, task, a, b, fault=None):
        if fault is not None:
            raise ValueError(f"{self.name} plants no faults (it has no fault kinds)")
        x, y = task.num(a)[::-1], task.num(b)[::-1]  # units first
        lines, carry, column = [], 0, 0
        while column < max(len(x), len(y)) or carry:
            p = int(x[column]) if column < len(x) else 0
            q = int(y[column]) if column < len(y) else 0
            total = p + q + carry
            lines.append(f"{p}+{q}+{carry}={total // task.base}{total % task.base}")
            carry, column = total // task.base, column + 1
        return lines, "=" + task.answer(a, b)[::-1]

    def lines(self, task, a, b):
        steps, answer = self.solve(task, a, b)
        return steps + [answer]

    def read_answer(self, text: str) -> str | None:
        answer = self.parse(text).answer
        return None if answer is None else answer.removeprefix("=")[::-1]

    def step_keys(self, task, a, b):
        return add_columns(task.num(a), task.num(b), task.base)


FORMATS.register("rule_following_columns")(RuleFollowingColumns())
