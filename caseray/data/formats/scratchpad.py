"""Scratchpad: digit-by-digit lines with the carry, as in Hu et al. (example 59+13)::

    59+13,,C:0      remaining operands, partial result, carry
    5+1,2,C:1
    +,72,C:0
    72              the answer

Modular addition then compares the sum with the modulus and, when needed, subtracts it digit by
digit with a borrow (``B:``). Linear function and chicken & rabbit write their own short solutions.
"""

from caseray.data.faults import Fault, miscopy, off_digit, step_fault_kinds, strikes
from caseray.data.formats.base import FORMATS, Format
from caseray.data.formats.columns import Step, add_columns, half_columns, sub_columns
from caseray.data.tasks import Task


def column_lines(x: str, y: str, op: str, base: int = 10, fault: Fault | None = None, part: int = 0,
                 first_line: int = 0) -> tuple[list[str], str]:
    """x + y, or x - y (x >= y) with a borrow, on digit strings from the right: one line per column
    (the operands left, the result so far, carry ``C:`` or borrow ``B:``); returns (lines, result).
    A ``fault`` of this ``part`` strikes at its column; ``first_line``: where these lines start."""
    mark = "C" if op == "+" else "B"
    lines, result, c = [f"{x}{op}{y},,{mark}:0"], "", 0
    for k in range(max(len(x), len(y))):
        dx, dy = (int(x[-1]) if x else 0), (int(y[-1]) if y else 0)
        x, y = x[:-1], y[:-1]
        if op == "+":
            total = dx + dy + c
            digit, c = total % base, total // base
        else:
            diff = dx - dy - c
            c = int(diff < 0)
            digit = diff + base * c
        here = first_line + len(lines)
        if strikes(fault, "wrong_digit", k, part):
            digit = off_digit(digit, fault.delta, base)
            fault.hit(here)
        elif strikes(fault, "dropped_carry", k, part) and c:
            c = 0
            fault.hit(here)
        elif op == "+" and strikes(fault, "wrong_base", k, part) and base != 10 and total >= base:
            digit, c = total % 10, total // 10
            fault.hit(here)
        elif strikes(fault, "wrong_copy", k, part) and (x or y):
            x, y = (miscopy(x, fault.delta, base), y) if x else (x, miscopy(y, fault.delta, base))
            fault.hit(here)
        result = str(digit) + result
        lines.append(f"{x}{op}{y},{result},{mark}:{c}")
        if strikes(fault, "early_stop", k, part) and (x or y):
            fault.hit(first_line + len(lines))
            break
    else:
        if op == "+":
            return lines, (str(c) if c else "") + result
    return lines, (result if op == "+" else result.lstrip("0") or "0")


def addition_lines(x: str, y: str, base: int, fault: Fault | None = None, part: int = 0,
                   first_line: int = 0) -> tuple[list[str], str]:
    return column_lines(x, y, "+", base, fault, part, first_line)


def subtraction_lines(x: str, y: str, base: int = 10, fault: Fault | None = None, part: int = 1,
                      first_line: int = 0) -> tuple[list[str], str]:
    return column_lines(x, y, "-", base, fault, part, first_line)


def stopped(fault: Fault | None) -> bool:
    return fault is not None and fault.kind == "early_stop" and fault.line is not None


def _addition(task: Task, a: int, b: int, fault=None) -> tuple[list[str], str]:
    return addition_lines(task.num(a), task.num(b), task.base, fault)


def _mod_addition(task: Task, a: int, b: int, fault=None) -> tuple[list[str], str]:
    lines, total = addition_lines(str(a), str(b), 10, fault)
    m = task.modulus
    if stopped(fault):
        return lines, total
    if int(total) < m:
        return lines + [f"{total}<{m}"], total
    if strikes(fault, "wrong_modulus", 0):
        fault.hit(len(lines))
        return lines + [f"{total}<{m}"], total
    sub, diff = subtraction_lines(total, str(m), 10, fault, part=1, first_line=len(lines) + 1)
    return lines + [f"{total}>={m}"] + sub, diff


OPS = {"+": lambda x, y: x + y, "-": lambda x, y: x - y, "*": lambda x, y: x * y, "/": lambda x, y: x // y}


def carry_slips(x: int, y: int, op: str) -> list[int]:
    """The results of ``x op y`` written with one carry (borrow) dropped, one per carrying column;
    2*y is y+y. Empty for halving, and for any operand that is negative."""
    if op == "*":
        op, x = "+", y
    if op not in "+-" or x < 0 or y < 0:
        return []
    right, out = OPS[op](x, y), []
    for kind, column, dx, dy, c_in in (add_columns(str(x), str(y), 10) if op == "+" else sub_columns(str(x), str(y))):
        moved = (int(dx or 0) + int(dy or 0) + c_in) >= 10 if op == "+" else int(dx) - int(dy or 0) - c_in < 0
        if moved:
            out.append(right - 10 ** (column + 1) if op == "+" else right + 10 ** (column + 1))
    return out


def equation_lines(steps, fault: Fault | None = None) -> tuple[list[str], list[int]]:
    """Lines ``x op y = value``, one per step ``(operands(values so far), op, copied)`` where
    ``copied`` (0 or 1) names the operand taken from the question or an earlier line."""
    lines, values = [], []
    for k, (operands, op, copied) in enumerate(steps):
        pair = list(operands(values))
        if strikes(fault, "wrong_copy", k):
            pair[copied] = int(miscopy(str(pair[copied]), fault.delta))
            fault.hit(k)
        x, y = pair
        value = OPS[op](x, y)
        slips = carry_slips(x, y, op)
        if strikes(fault, "wrong_digit", k) and value >= 0:
            value = int(miscopy(str(value), fault.delta))
            fault.hit(k)
        elif strikes(fault, "dropped_carry", k) and slips:
            value = slips[0]
            fault.hit(k)
        lines.append(f"{x}{op}{y}={value}")
        values.append(value)
        if strikes(fault, "early_stop", k) and k < len(steps) - 1:
            fault.hit(k + 1)
            break
    return lines, values


def _linear(task: Task, a: int, b: int, fault=None) -> tuple[list[str], str]:
    lines, v = equation_lines([(lambda v: (2, b), "*", 1), (lambda v: (a, v[0]), "+", 1),
                               (lambda v: (v[1], 3), "+", 0)], fault)
    return lines, str(v[-1])


def _chicken_rabbit(task: Task, a: int, b: int, fault=None) -> tuple[list[str], str]:
    heads, legs = b, 2 * a
    lines, v = equation_lines([(lambda v: (2, heads), "*", 1), (lambda v: (legs, v[0]), "-", 1),
                               (lambda v: (v[1], 2), "/", 0), (lambda v: (heads, v[2]), "-", 1)], fault)
    return lines, (f"{v[2]},{v[3]}" if len(v) == 4 else str(v[-1]))


def _addition_steps(task: Task, a: int, b: int) -> list[Step]:
    return add_columns(task.num(a), task.num(b), task.base)


def _mod_addition_steps(task: Task, a: int, b: int) -> list[Step]:
    total, m = a + b, task.modulus
    steps = add_columns(str(a), str(b), 10) + [Step("compare", None, str(total), str(m), 0)]  # the whole sum
    return steps + (sub_columns(str(total), str(m)) if total >= m else [])


def _linear_steps(task: Task, a: int, b: int) -> list[Step]:
    return (add_columns(str(b), str(b), 10, "double") + add_columns(str(a), str(2 * b), 10)
            + add_columns(str(a + 2 * b), "3", 10, "plus3"))


def _chicken_rabbit_steps(task: Task, a: int, b: int) -> list[Step]:
    rabbits, _ = task.rabbits_chickens(a, b)
    return (add_columns(str(b), str(b), 10, "double") + sub_columns(str(2 * a), str(2 * b))
            + half_columns(str(2 * a - 2 * b)) + sub_columns(str(b), str(rabbits), 10, "chickens"))


class Scratchpad(Format):
    name = "scratchpad"
    solvers = {"addition": _addition, "base9_addition": _addition, "mod_addition": _mod_addition,
               "linear": _linear, "chicken_rabbit": _chicken_rabbit}
    step_makers = {"addition": _addition_steps, "base9_addition": _addition_steps,
                   "mod_addition": _mod_addition_steps, "linear": _linear_steps,
                   "chicken_rabbit": _chicken_rabbit_steps}
    tasks = tuple(solvers)

    def solve(self, task, a, b, fault=None):
        return self.solvers[task.name](task, a, b, fault)

    def fault_kinds(self, task):
        return step_fault_kinds(task)

    def step_keys(self, task, a, b):
        return self.step_makers[task.name](task, a, b)


FORMATS.register("scratchpad")(Scratchpad())
