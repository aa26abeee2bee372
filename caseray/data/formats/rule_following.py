"""Rule-following (RFFT): the input gives the algorithm as code; the output walks it line by line.

Each output line recites the code line about to run, then the variable states it reads and the
states after it (``code: reads -> writes``); a ``def`` line binds the arguments; the last lines are
the returned value and the answer. Additions run ``add`` alone (the study's program). The other
tasks run a short ``solve`` over digit-list subroutines -- ``add``, ``sub`` (with borrow) and
``half`` (long division by 2) --, whose lines follow it in the listing: modular addition adds, then
compares with the modulus and subtracts it; the linear function adds b + b, a + that, then 3;
chicken & rabbit doubles the heads, subtracts from the legs, halves (rabbits) and subtracts from the
heads (chickens). ``rule_following_numbered`` runs the same programs with their lines numbered in
the input and cited by number.
"""

from __future__ import annotations

from caseray.data.faults import Fault, off_digit, step_fault_kinds, strikes
from caseray.data.formats.base import FORMATS, Format
from caseray.data.formats.columns import add_columns
from caseray.data.formats.scratchpad import Scratchpad

PROGRAM = """def add(num1, num2):
    result = []
    carry = 0
    while num1 or num2:
        digit1 = num1.pop() if num1 else 0
        digit2 = num2.pop() if num2 else 0
        total = digit1 + digit2 + carry
        result.insert(0, total % {base})
        carry = total // {base}
    if carry:
        result.insert(0, carry)
    return result"""

SUB = """def sub(num1, num2):
    result = []
    borrow = 0
    while num1:
        digit1 = num1.pop()
        digit2 = num2.pop() if num2 else 0
        diff = digit1 - digit2 - borrow
        borrow = 1 if diff < 0 else 0
        result.insert(0, diff + 10 * borrow)
    while len(result) > 1 and result[0] == 0:
        result.pop(0)
    return result"""

HALF = """def half(num):
    result = []
    rem = 0
    while num:
        digit = num.pop(0)
        cur = rem * 10 + digit
        result.append(cur // 2)
        rem = cur % 2
    while len(result) > 1 and result[0] == 0:
        result.pop(0)
    return result"""

MAINS = {
    "mod_addition": """def solve(a, b):
    total = add(a, b)
    if value(total) >= {modulus}:
        total = sub(total, {modulus_digits})
    return total""",
    "linear": """def solve(a, b):
    t = add(b, b)
    t = add(a, t)
    t = add(t, [3])
    return t""",
    "chicken_rabbit": """def solve(heads, legs):
    t = add(heads, heads)
    t = sub(legs, t)
    rabbits = half(t)
    chickens = sub(heads, rabbits)
    return rabbits, chickens""",
}
USES = {"mod_addition": ("add", "sub"), "linear": ("add",), "chicken_rabbit": ("add", "sub", "half")}
# what a program line does (the corrector explains a wrong line by it), per function and line
ROLES = {"add": {4: "loop", 5: "pop", 6: "pop", 7: "sum", 8: "insert", 9: "carry"},
         "sub": {4: "loop", 5: "pop", 6: "pop", 7: "diff", 8: "borrow", 9: "insert_sub"},
         "half": {4: "loop", 5: "pop", 6: "cur", 7: "append", 8: "rem"}}
SOLVE_ROLES = {"mod_addition": {3: "compare"}}  # a ``solve``'s own lines differ per task (linear's line 3 is a call)

Run = list[tuple[int, str, str]]  # per executed line: (line number in the listing, reads, writes)


def _lst(digits: list[int]) -> str:
    return "[" + ",".join(map(str, digits)) + "]"


def _digits(n: int | str) -> list[int]:
    return [int(d) for d in str(n)]


def listing(task) -> list[tuple[str, str]]:
    """The task's program: (function name, code) in the order the input shows them."""
    if task.name not in MAINS:
        return [("add", PROGRAM.format(base=task.base))]
    main = MAINS[task.name].format(modulus=getattr(task, "modulus", 0),
                                   modulus_digits=_lst(_digits(getattr(task, "modulus", 0))))
    code = {"add": PROGRAM.format(base=10), "sub": SUB, "half": HALF}
    return [("solve", main)] + [(name, code[name]) for name in USES[task.name]]


def program_text(task) -> str:
    return "\n".join(code for _, code in listing(task))


def roles(task) -> dict[int, tuple[str, str]]:
    """Line number in the listing -> (function, role) for the lines with a role."""
    out, start = {}, 0
    for name, code in listing(task):
        for line, role in (SOLVE_ROLES.get(task.name, {}) if name == "solve" else ROLES.get(name, {})).items():
            out[start + line] = (name, role)
        start += len(code.split("\n"))
    return out


class Tracer:
    """Runs the listing's functions on digit lists, recording every executed line; a ``fault``
    strikes in the call that is its ``part`` (calls counted in order) at loop pass ``at``."""

    def __init__(self, functions: list[tuple[str, str]], fault: Fault | None = None):
        self.offset, line = {}, 0
        for name, code in functions:
            self.offset[name] = line
            line += len(code.split("\n"))
        self.run: Run = []
        self.fault, self.calls = fault, 0

    def emit(self, fn: str, n: int, reads: str, writes: str) -> None:
        self.run.append((self.offset[fn] + n, reads, writes))

    def strikes(self, kind: str, at: int, part: int) -> bool:
        return strikes(self.fault, kind, at, part)

    def hit(self) -> None:
        self.fault.hit(len(self.run))

    def _part(self) -> int:
        self.calls += 1
        return self.calls - 1

    def _enter(self, fn: str, args: str, state: str) -> None:
        """A function's first three lines: its arguments, ``result = []``, its state ``= 0``."""
        self.emit(fn, 1, "", args)
        self.emit(fn, 2, "", "result=[]")
        self.emit(fn, 3, "", f"{state}=0")

    def _loops(self, fn: str, go: bool, reads: str, k: int, part: int) -> bool:
        """Line 4, the ``while``: its condition, cut short after pass ``k - 1`` by an ``early_stop``."""
        if go and k > 0 and self._struck("early_stop", k - 1, part):
            go = False
        self.emit(fn, 4, reads, str(go))
        return go

    def _struck(self, kind: str, k: int, part: int, applies: bool = True) -> bool:
        """Whether the fault strikes at pass ``k`` of call ``part`` (where it ``applies``); if so the
        line it strikes is recorded (the next one emitted)."""
        if self.strikes(kind, k, part) and applies:
            self.hit()
            return True
        return False

    def add(self, n1: list[int], n2: list[int], base: int = 10) -> list[int]:
        part, n1, n2 = self._part(), list(n1), list(n2)
        self._enter("add", f"num1={_lst(n1)},num2={_lst(n2)}", "carry")
        result, carry, k = [], 0, 0
        while self._loops("add", bool(n1 or n2), f"num1={_lst(n1)},num2={_lst(n2)}", k, part):
            before1, before2, had1 = _lst(n1), _lst(n2), bool(n1)
            d1 = n1.pop() if n1 else 0
            if self._struck("wrong_copy", k, part, had1):
                d1 = off_digit(d1, self.fault.delta, base)
            self.emit("add", 5, f"num1={before1}", f"digit1={d1},num1={_lst(n1)}")
            d2 = n2.pop() if n2 else 0
            self.emit("add", 6, f"num2={before2}", f"digit2={d2},num2={_lst(n2)}")
            total = d1 + d2 + carry
            if self._struck("wrong_digit", k, part):
                total += self.fault.delta % base or 1
            self.emit("add", 7, f"digit1={d1},digit2={d2},carry={carry}", f"total={total}")
            split = 10 if self._struck("wrong_base", k, part, base != 10 and total >= base) else base
            before = _lst(result)
            result.insert(0, total % split)
            self.emit("add", 8, f"total={total},result={before}", f"result={_lst(result)}")
            carry = total // split
            if self._struck("dropped_carry", k, part, carry > 0):
                carry = 0
            self.emit("add", 9, f"total={total}", f"carry={carry}")
            k += 1
        self.emit("add", 10, f"carry={carry}", str(bool(carry)))
        if carry:
            before = _lst(result)
            result.insert(0, carry)
            self.emit("add", 11, f"carry={carry},result={before}", f"result={_lst(result)}")
        self.emit("add", 12, f"result={_lst(result)}", "")
        return result

    def sub(self, n1: list[int], n2: list[int]) -> list[int]:
        part, n1, n2 = self._part(), list(n1), list(n2)
        self._enter("sub", f"num1={_lst(n1)},num2={_lst(n2)}", "borrow")
        result, borrow, k = [], 0, 0
        while self._loops("sub", bool(n1), f"num1={_lst(n1)}", k, part):
            before1, before2 = _lst(n1), _lst(n2)
            d1 = n1.pop()
            if self._struck("wrong_copy", k, part):
                d1 = off_digit(d1, self.fault.delta, 10)
            self.emit("sub", 5, f"num1={before1}", f"digit1={d1},num1={_lst(n1)}")
            d2 = n2.pop() if n2 else 0
            self.emit("sub", 6, f"num2={before2}", f"digit2={d2},num2={_lst(n2)}")
            diff = d1 - d2 - borrow
            self.emit("sub", 7, f"digit1={d1},digit2={d2},borrow={borrow}", f"diff={diff}")
            borrow = right = int(diff < 0)
            if self._struck("dropped_carry", k, part, borrow > 0):
                borrow = 0  # the digit is written as borrowed, the borrow is not carried on
            self.emit("sub", 8, f"diff={diff}", f"borrow={borrow}")
            digit = diff + 10 * right
            if self._struck("wrong_digit", k, part):
                digit = off_digit(digit, self.fault.delta, 10)
            before = _lst(result)
            result.insert(0, digit)
            self.emit("sub", 9, f"diff={diff},borrow={right},result={before}", f"result={_lst(result)}")
            k += 1
        return self._strip("sub", 10, result)

    def half(self, num: list[int]) -> list[int]:
        part, num = self._part(), list(num)
        self._enter("half", f"num={_lst(num)}", "rem")
        result, rem, k = [], 0, 0
        while self._loops("half", bool(num), f"num={_lst(num)}", k, part):
            before = _lst(num)
            d = num.pop(0)
            if self._struck("wrong_copy", k, part):
                d = off_digit(d, self.fault.delta, 10)
            self.emit("half", 5, f"num={before}", f"digit={d},num={_lst(num)}")
            cur = rem * 10 + d
            self.emit("half", 6, f"rem={rem},digit={d}", f"cur={cur}")
            q = cur // 2
            if self._struck("wrong_digit", k, part):
                q = off_digit(q, self.fault.delta, 10)
            before = _lst(result)
            result.append(q)
            self.emit("half", 7, f"cur={cur},result={before}", f"result={_lst(result)}")
            rem = cur % 2
            if self._struck("dropped_carry", k, part, rem > 0):
                rem = 0
            self.emit("half", 8, f"cur={cur}", f"rem={rem}")
            k += 1
        return self._strip("half", 9, result)

    def _strip(self, fn: str, n: int, result: list[int]) -> list[int]:
        """``while len(result) > 1 and result[0] == 0: result.pop(0)`` then ``return result``."""
        while True:
            go = len(result) > 1 and result[0] == 0
            self.emit(fn, n, f"result={_lst(result)}", str(go))
            if not go:
                break
            before = _lst(result)
            result.pop(0)
            self.emit(fn, n + 1, f"result={before}", f"result={_lst(result)}")
        self.emit(fn, n + 2, f"result={_lst(result)}", "")
        return result


def _number(digits: list[int]) -> str:
    return "".join(map(str, digits)).lstrip("0") or "0"


def solve_program(task, a: int, b: int, fault: Fault | None = None) -> tuple[Run, str]:
    """The task's program run on cell (a, b): the executed lines and the answer they give."""
    t = Tracer(listing(task), fault)
    if task.name not in MAINS:
        result = t.add(_digits(task.num(a)), _digits(task.num(b)), task.base)
        return t.run, _number(result)
    return t.run, MAIN_RUNS[task.name](t, task, a, b)


def _mod_addition(t: Tracer, task, a: int, b: int) -> str:
    t.emit("solve", 1, "", f"a={_lst(_digits(a))},b={_lst(_digits(b))}")
    total = t.add(_digits(a), _digits(b))
    t.emit("solve", 2, "", f"total={_lst(total)}")
    big = int(_number(total)) >= task.modulus
    if t._struck("wrong_modulus", 0, 0, big):
        big = False
    t.emit("solve", 3, f"total={_lst(total)}", str(big))
    if big:
        total = t.sub(total, _digits(task.modulus))
        t.emit("solve", 4, "", f"total={_lst(total)}")
    t.emit("solve", 5, f"total={_lst(total)}", "")
    return _number(total)


def _linear(t: Tracer, task, a: int, b: int) -> str:
    t.emit("solve", 1, "", f"a={_lst(_digits(a))},b={_lst(_digits(b))}")
    v = t.add(_digits(b), _digits(b))
    t.emit("solve", 2, "", f"t={_lst(v)}")
    v = t.add(_digits(a), v)
    t.emit("solve", 3, "", f"t={_lst(v)}")
    v = t.add(v, [3])
    t.emit("solve", 4, "", f"t={_lst(v)}")
    t.emit("solve", 5, f"t={_lst(v)}", "")
    return _number(v)


def _chicken_rabbit(t: Tracer, task, a: int, b: int) -> str:
    heads, legs = _digits(b), _digits(2 * a)
    t.emit("solve", 1, "", f"heads={_lst(heads)},legs={_lst(legs)}")
    v = t.add(heads, heads)
    t.emit("solve", 2, "", f"t={_lst(v)}")
    v = t.sub(legs, v)
    t.emit("solve", 3, "", f"t={_lst(v)}")
    rabbits = t.half(v)
    t.emit("solve", 4, "", f"rabbits={_lst(rabbits)}")
    chickens = t.sub(heads, rabbits)
    t.emit("solve", 5, "", f"chickens={_lst(chickens)}")
    t.emit("solve", 6, f"rabbits={_lst(rabbits)},chickens={_lst(chickens)}", "")
    return f"{_number(rabbits)},{_number(chickens)}"


MAIN_RUNS = {"mod_addition": _mod_addition, "linear": _linear, "chicken_rabbit": _chicken_rabbit}  # MAINS, run


def recite(run: Run, code: list[str]) -> list[str]:
    """Lines that recite the code line: ``code: reads -> writes`` (a ``def`` line: its bindings)."""
    lines = []
    for number, reads, writes in run:
        text = code[number - 1].strip().rstrip(":")
        if text.startswith("def "):
            lines.append(writes)
        elif not reads:
            lines.append(f"{text}: {writes}")
        elif not writes:
            lines.append(f"{text}: {reads}")
        else:
            lines.append(f"{text}: {reads} -> {writes}")
    return lines


def cite(run: Run, code: list[str]) -> list[str]:
    """Lines that cite the code line by its number: ``L<n> reads -> writes``."""
    return [f"L{n} " + (f"{reads} -> {writes}" if reads and writes else reads or writes) for n, reads, writes in run]


def numbered(program: str) -> str:
    return "\n".join(f"{i} {line}" for i, line in enumerate(program.split("\n"), 1))


class RuleFollowing(Format):
    name = "rule_following"
    tasks = ("addition", "base9_addition", "mod_addition", "linear", "chicken_rabbit")
    render = staticmethod(recite)  # program run, code lines -> output lines

    def prompt(self, task, a, b):
        return program_text(task) + "\n" + task.question(a, b)

    def solve(self, task, a, b, fault=None):
        run, answer = solve_program(task, a, b, fault)
        return self.render(run, program_text(task).split("\n")), answer

    def step_keys(self, task, a, b):
        if task.name in MAINS:
            return Scratchpad.step_makers[task.name](task, a, b)
        return add_columns(task.num(a), task.num(b), task.base)

    def fault_kinds(self, task):
        return step_fault_kinds(task)

    def fault_parts(self, task):
        return {"linear": 3, "chicken_rabbit": 4}.get(task.name, 2)  # calls of add / sub / half


class RuleFollowingNumbered(RuleFollowing):
    """The same rule and the same execution, with the program's lines numbered in the input and
    cited by number in the output (``L7 digit1=5,digit2=8,carry=0 -> total=13``): about a third of
    the tokens of reciting each line's code."""

    name = "rule_following_numbered"
    render = staticmethod(cite)

    def prompt(self, task, a, b):
        return numbered(program_text(task)) + "\n" + task.question(a, b)


FORMATS.register("rule_following")(RuleFollowing())
FORMATS.register("rule_following_numbered")(RuleFollowingNumbered())
