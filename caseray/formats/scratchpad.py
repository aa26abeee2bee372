"""Scratchpad: digit-by-digit lines with the carry, as in Hu et al. (example 59+13)::

    59+13,,C:0      remaining operands, partial result, carry
    5+1,2,C:1
    +,72,C:0
    72              the answer

Modular addition then compares the sum with the modulus and, when needed, subtracts it digit by
digit with a borrow (``B:``). Linear function and chicken & rabbit write their own short solutions.
"""

from caseray.formats.base import FORMATS, Format
from caseray.formats.columns import add_columns, half_columns, sub_columns
from caseray.tasks import Task


def addition_lines(x: str, y: str, base: int) -> tuple[list[str], str]:
    """Lines adding digit strings x + y from the right; returns (lines, sum digits)."""
    lines, result, carry = [f"{x}+{y},,C:0"], "", 0
    while x or y:
        total = (int(x[-1]) if x else 0) + (int(y[-1]) if y else 0) + carry
        x, y = x[:-1], y[:-1]
        result, carry = str(total % base) + result, total // base
        lines.append(f"{x}+{y},{result},C:{carry}")
    return lines, (str(carry) if carry else "") + result


def subtraction_lines(x: str, y: str, base: int = 10) -> tuple[list[str], str]:
    """Lines for x - y (x >= y) from the right with a borrow; returns (lines, difference)."""
    lines, result, borrow = [f"{x}-{y},,B:0"], "", 0
    while x or y:
        diff = (int(x[-1]) if x else 0) - (int(y[-1]) if y else 0) - borrow
        x, y = x[:-1], y[:-1]
        borrow = int(diff < 0)
        result = str(diff + base * borrow) + result
        lines.append(f"{x}-{y},{result},B:{borrow}")
    return lines, result.lstrip("0") or "0"


def _addition(task: Task, a: int, b: int) -> list[str]:
    return addition_lines(task.num(a), task.num(b), task.base)[0]


def _mod_addition(task: Task, a: int, b: int) -> list[str]:
    lines, total = addition_lines(str(a), str(b), 10)
    m = task.modulus
    if int(total) < m:
        return lines + [f"{total}<{m}"]
    return lines + [f"{total}>={m}"] + subtraction_lines(total, str(m))[0]


def _linear(task: Task, a: int, b: int) -> list[str]:
    return [f"2*{b}={2 * b}", f"{a}+{2 * b}={a + 2 * b}", f"{a + 2 * b}+3={a + 2 * b + 3}"]


def _chicken_rabbit(task: Task, a: int, b: int) -> list[str]:
    heads, legs = b, 2 * a
    rabbits, chickens = task.rabbits_chickens(a, b)
    return [f"2*{heads}={2 * heads}", f"{legs}-{2 * heads}={legs - 2 * heads}",
            f"{legs - 2 * heads}/2={rabbits}", f"{heads}-{rabbits}={chickens}"]


def _addition_steps(task: Task, a: int, b: int) -> list:
    return add_columns(task.num(a), task.num(b), task.base)


def _mod_addition_steps(task: Task, a: int, b: int) -> list:
    total, m = a + b, task.modulus
    steps = add_columns(str(a), str(b), 10) + [("compare", total, m)]
    return steps + (sub_columns(str(total), str(m)) if total >= m else [])


def _linear_steps(task: Task, a: int, b: int) -> list:
    return (add_columns(str(b), str(b), 10, "double") + add_columns(str(a), str(2 * b), 10)
            + add_columns(str(a + 2 * b), "3", 10, "plus3"))


def _chicken_rabbit_steps(task: Task, a: int, b: int) -> list:
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

    def steps(self, task, a, b):
        return self.solvers[task.name](task, a, b)

    def step_keys(self, task, a, b):
        return self.step_makers[task.name](task, a, b)


FORMATS.register("scratchpad")(Scratchpad())
