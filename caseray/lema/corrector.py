"""The exact corrector (LEMA): for a wrong step-by-step solution, the first incorrect step, an
explanation naming what is wrong there (with the numbers), and the solution corrected from that step
on (the earlier, right steps written as ``...``).

A program can do what LEMA asked GPT-4 for because the gold solution is known: the first wrong line
is the first that differs from it, and the kind of error is read off the numbers of that line.
Kinds are those of ``caseray.data.faults`` plus ``wrong_answer`` (steps right, answer wrong),
``wrong_carry`` (a carry where there is none), ``extra_line`` and ``wrong_line`` (anything else).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from caseray.data.formats.base import Format
from caseray.data.formats.rule_following import (
    MAINS,
    RuleFollowing,
    program_text,
    roles,
    solve_program,
)
from caseray.data.formats.scratchpad import carry_slips
from caseray.data.tasks import Task

INSTRUCTION = "Wrong solution: find the first wrong step, explain it, correct it."  # short: a char model reads it
ABLATIONS = ("none", "no_step_index", "no_explanation", "no_correction")


@dataclass(frozen=True)
class Correction:
    step: int  # index of the first incorrect line (0-based; the answer is the last line)
    kind: str
    wrong: str  # that line as written ('' where the solution ended before it)
    explanation: str
    corrected: tuple[str, ...]  # the right lines from ``step`` on, the answer last

    @property
    def answer(self) -> str:
        return self.corrected[-1]

    def text(self, ablation: str = "none", quote: bool = True) -> str:
        """The corrector's output: incorrect step, explanation, corrected solution (``ablation``
        leaves one part out). ``quote``: the incorrect step's line is written out after its index
        (without it the output holds no wrong line for the model to learn)."""
        wrong = self.wrong or "(the solution ends here)"
        index = "" if ablation == "no_step_index" else f" {self.step + 1}"
        parts = [f"Incorrect step{index}: {wrong}"] if quote else ([f"Incorrect step{index}"] if index else [])
        if ablation != "no_explanation":
            parts.append(f"Explanation: {self.explanation}")
        if ablation != "no_correction":
            parts += ["Correct solution:"] + (["..."] if self.step else []) + list(self.corrected)
        return "\n".join(parts)


def correction_prompt(fmt: Format, task: Task, a: int, b: int, wrong_text: str) -> str:
    """The correction example's input: instruction, question, the wrong solution."""
    return f"{INSTRUCTION}\n{fmt.prompt(task, a, b)}\n{wrong_text.strip()}\nCorrection:\n"


def correct(fmt: Format, task: Task, a: int, b: int, text: str) -> Correction | None:
    """The correction of ``text`` as a solution of cell (a, b); None if it is right throughout."""
    i = fmt.first_wrong_step(task, a, b, text)
    if i is None:
        return None
    gold = fmt.lines(task, a, b)
    got = list(fmt.parse(text).lines)
    kind, why = diagnose(fmt, task, a, b, gold, got, i)
    i = min(i, len(gold) - 1)  # lines after a right answer: the solution is corrected to end there
    return Correction(i, kind, got[i] if i < len(got) else "", why, tuple(gold[i:]))


def diagnose(fmt: Format, task: Task, a: int, b: int, gold: list[str], got: list[str], i: int) -> tuple[str, str]:
    """(kind, explanation) of the first wrong line ``i`` of ``got``."""
    last = len(gold) - 1
    if i > last:
        return "extra_line", f"the solution is complete with the answer {gold[-1]}; nothing follows it"
    if i >= len(got) or (i == len(got) - 1 and i < last):
        after = f"after {got[i - 1]} " if 0 < i <= len(got) else ""
        return "early_stop", f"the solution stops {after}before the calculation is finished; the next step is {gold[i]}"
    if i == last:
        return "wrong_answer", f"the steps give the answer {gold[-1]}, not {got[i]}"
    if isinstance(fmt, RuleFollowing):  # before the task checks: its lines are program lines
        found = _program_line(fmt, task, a, b, i, got[i])
    elif task.name in ("linear", "chicken_rabbit"):
        found = _equation(gold[i], got[i])
    else:
        found = _column(task, gold, i, got[i])
    return found or ("wrong_line", f"this step should be {gold[i]}, not {got[i]}")


# --- scratchpad columns: "x+y,result,C:carry" / "x-y,result,B:borrow" / "T<m" ---------------------

COLUMN = re.compile(r"^(\d*)([+-])(\d*),(\d*),([CB]):(\d)$")
COMPARE = re.compile(r"^(\d+)(<|>=)(\d+)$")


def _column(task: Task, gold: list[str], i: int, line: str) -> tuple[str, str] | None:
    g, w = COLUMN.match(gold[i]), COLUMN.match(line)
    if g is None:
        return _compare(gold[i], line)
    if w is None:
        return None
    p = COLUMN.match(gold[i - 1]) if i else None
    op, base = g[2], (task.base if g[2] == "+" else 10)
    if p is None or not g[4]:  # the first line: the question's numbers
        return "wrong_copy", (f"the calculation starts from {g[1]}{op}{g[3]}, "
                              f"the numbers to be {'added' if op == '+' else 'subtracted'}")
    xp, yp, c_in = p[1], p[3], int(p[6])
    d1, d2 = int(xp[-1]) if xp else 0, int(yp[-1]) if yp else 0
    if (w[1], w[2], w[3]) != (g[1], g[2], g[3]):
        return "wrong_copy", (f"taking the last digits off {xp or 'nothing'} and {yp or 'nothing'} leaves "
                              f"{g[1] or 'nothing'} and {g[3] or 'nothing'}, "
                              f"not {w[1] or 'nothing'} and {w[3] or 'nothing'}")
    if w[4][1:] != g[4][1:]:
        return "wrong_copy", f"the digits found so far, {p[4] or 'none'}, are kept as they are"
    if op == "+":
        return _add_column(g, w, d1, d2, c_in, base)
    return _sub_column(g, w, d1, d2, c_in)


def _compare(gold: str, line: str) -> tuple[str, str] | None:
    """A modular addition's compare line (``total >= m?``), explained."""
    c, said = COMPARE.match(gold), COMPARE.match(line)
    if c and said and c[1] == said[1]:
        total, m = int(c[1]), int(c[3])
        return "wrong_modulus", (f"{total} is at least {m}, so {m} is subtracted" if total >= m
                                 else f"{total} is less than {m}, so nothing is subtracted")
    return None


def _add_column(g, w, d1: int, d2: int, c_in: int, base: int) -> tuple[str, str] | None:
    """An addition column's wrong digit or carry (``g``: the gold line's match, ``w``: the written one's)."""
    t = d1 + d2 + c_in
    said = f"{d1}+{d2}+{c_in}={t}"
    if w[4][:1] == g[4][:1] and w[6] == g[6]:
        return None
    if base != 10 and t >= base and (w[4][:1], w[6]) == (str(t % 10), str(t // 10)):
        return "wrong_base", f"{said} is split in base {base}, not 10: digit {t % base}, carry {t // base}"
    if w[4][:1] != g[4][:1]:
        return "wrong_digit", f"{said}, so the digit written is {t % base}, not {w[4][:1]}"
    if g[6] == "1":
        return "dropped_carry", f"{said} is at least {base}, so the carry is 1, not 0"
    return "wrong_carry", f"{said} is less than {base}, so the carry is 0, not {w[6]}"


def _sub_column(g, w, d1: int, d2: int, c_in: int) -> tuple[str, str] | None:
    """A subtraction column's wrong digit or borrow."""
    t = d1 - d2 - c_in
    said = f"{d1}-{d2}-{c_in}={t}"
    if w[4][:1] != g[4][:1]:
        return "wrong_digit", f"{said}, so the digit written is {g[4][0]}, not {w[4][:1]}"
    if w[6] != g[6]:
        if g[6] == "1":
            return "dropped_carry", f"{said} is below 0, so 1 is borrowed from the next digit (B:1), not B:0"
        return "wrong_carry", f"{said} is not below 0, so nothing is borrowed (B:0)"
    return None


# --- equations: "x op y=value" (linear function, chicken & rabbit) --------------------------------

EQUATION = re.compile(r"^(-?\d+)([+\-*/])(-?\d+)=(-?\d+)$")


def _equation(gold: str, line: str) -> tuple[str, str] | None:
    g, w = EQUATION.match(gold), EQUATION.match(line)
    if g is None or w is None:
        return None
    if (w[1], w[2], w[3]) != (g[1], g[2], g[3]):
        return "wrong_copy", (f"this step works on {g[1]}{g[2]}{g[3]} (numbers from the question and the step "
                              f"before), not {w[1]}{w[2]}{w[3]}")
    x, op, y, value, said = int(g[1]), g[2], int(g[3]), int(w[4]), int(g[4])
    slips = carry_slips(x, y, op)
    if value in slips:
        place = 10 ** (len(str(abs(said - value))) - 1)
        moved = "carry" if op in "+*" else "borrow"
        return "dropped_carry", f"{x}{op}{y}={said}: the {moved} into the {place}s place was dropped, giving {value}"
    if len(w[4]) == len(g[4]) and sum(p != q for p, q in zip(w[4], g[4])) == 1:
        return "wrong_digit", f"{x}{op}{y}={said}, not {value}"
    return None


# --- rule-following: the program's lines with the states they read and write --------------------

STATE = re.compile(r"(\w+)=(\[[^\]]*\]|[^,]+)")


def _program_line(fmt: RuleFollowing, task: Task, a: int, b: int, i: int, line: str) -> tuple[str, str] | None:
    run = solve_program(task, a, b)[0]
    n, reads, writes = run[i]
    code_lines = program_text(task).split("\n")
    gold = fmt.render([run[i]], code_lines)[0]
    head = gold[:len(gold) - len(f"{reads} -> {writes}" if reads and writes else reads or writes)]
    code = code_lines[n - 1].strip()
    if not line.startswith(head):
        return "wrong_line", f"the line that runs next is `{code}`"
    body = line[len(head):]
    got_reads, _, got_writes = body.partition(" -> ") if reads and writes else ("", "", body)
    if reads and writes and got_reads != reads:
        return "wrong_copy", f"before `{code}` the states are {reads}, not {got_reads}"
    base = task.base if task.name not in MAINS else 10
    return _role_line(roles(task).get(n, ("", ""))[1], dict(STATE.findall(reads)), reads, writes, got_writes,
                      code, base, task)


def _role_line(role: str, s: dict, reads: str, writes: str, got_writes: str, code: str, base: int,
               task: Task) -> tuple[str, str] | None:
    """A program line's mistake explained by what the line does (``ROLES``); ``s``: the states it read."""
    if role == "loop" and writes == "True":
        return "early_stop", f"{reads}: digits are left, so the loop goes on"
    if role == "pop":
        return "wrong_copy", f"`{code}` gives {writes}"
    if role == "sum":
        t = int(s["digit1"]) + int(s["digit2"]) + int(s["carry"])
        return "wrong_digit", f"{s['digit1']}+{s['digit2']}+{s['carry']}={t}, not {got_writes.partition('=')[2]}"
    if role == "insert":
        t, inner = int(s["total"]), s["result"][1:-1]
        if base != 10 and t >= base and got_writes == f"result=[{t % 10}{',' + inner if inner else ''}]":
            return "wrong_base", f"the base is {base}: {t} % {base} = {t % base}, not {t} % 10"
        return "wrong_digit", f"{t} % {base} = {t % base} goes in front of the result"
    if role == "carry":
        t = int(s["total"])
        if writes == "carry=1":
            return "dropped_carry", f"{t} // {base} = 1, so the carry is 1, not 0"
        return "wrong_carry", f"{t} // {base} = {t // base}"
    if role == "borrow":
        if writes == "borrow=1":
            return "dropped_carry", f"{s['diff']} is below 0, so 1 is borrowed from the next digit (borrow=1)"
        return "wrong_carry", f"{s['diff']} is not below 0, so nothing is borrowed"
    if role == "rem":
        if writes == "rem=1":
            return "dropped_carry", f"{s['cur']} is odd: the remainder 1 is carried into the next digit"
        return "wrong_carry", f"{s['cur']} is even: no remainder"
    if role in ("diff", "insert_sub", "cur", "append"):
        return "wrong_digit", f"`{code}` gives {writes}, not {got_writes}"
    if role == "compare":
        if writes == "True":
            return "wrong_modulus", f"{reads} is at least {task.modulus}, so {task.modulus} is subtracted"
        return "wrong_modulus", f"{reads} is less than {task.modulus}, so nothing is subtracted"
    return None
