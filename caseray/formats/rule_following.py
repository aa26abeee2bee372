"""Rule-following (RFFT): the input gives the algorithm as code; the output walks it line by line.

Each output line recites the code line about to run, then the variable states it reads and the
states after it (``code: before -> after``); the last lines are the returned digit list and the
answer. Written for addition in any base (addition, base9_addition). ``rule_following_numbered``
runs the same program but numbers its lines in the input and cites them by number.
"""

from caseray.faults import Fault, off_digit, strikes
from caseray.formats.base import FORMATS, Format
from caseray.formats.columns import add_columns

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


def _lst(digits: list[int]) -> str:
    return "[" + ",".join(map(str, digits)) + "]"


def run_program(x: str, y: str, base: int, fault: Fault | None = None) -> tuple[list[tuple[int, str, str]], str]:
    """The program run on digit strings x and y in ``base``: per executed line, its number in
    ``PROGRAM`` (1-based; 1 binds the arguments), the states it reads and the states after it; and
    the answer the returned digits spell. A ``fault`` strikes in loop pass ``fault.at``."""
    n1, n2 = [int(d) for d in x], [int(d) for d in y]
    out = [(1, "", f"num1={_lst(n1)},num2={_lst(n2)}"), (2, "", "result=[]"), (3, "", "carry=0")]
    result, carry, k = [], 0, 0
    while True:
        go = bool(n1 or n2)
        if go and k > 0 and strikes(fault, "early_stop", k - 1):
            go = False
            fault.hit(len(out))
        out.append((4, f"num1={_lst(n1)},num2={_lst(n2)}", str(go)))
        if not go:
            break
        before1, before2, had1 = _lst(n1), _lst(n2), bool(n1)
        d1 = n1.pop() if n1 else 0
        if strikes(fault, "wrong_copy", k) and had1:
            d1 = off_digit(d1, fault.delta, base)
            fault.hit(len(out))
        out.append((5, f"num1={before1}", f"digit1={d1},num1={_lst(n1)}"))
        d2 = n2.pop() if n2 else 0
        out.append((6, f"num2={before2}", f"digit2={d2},num2={_lst(n2)}"))
        total = d1 + d2 + carry
        if strikes(fault, "wrong_digit", k):
            total += fault.delta % base or 1
            fault.hit(len(out))
        out.append((7, f"digit1={d1},digit2={d2},carry={carry}", f"total={total}"))
        split = base
        if strikes(fault, "wrong_base", k) and base != 10 and total >= base:
            split = 10
            fault.hit(len(out))
        before = _lst(result)
        result.insert(0, total % split)
        out.append((8, f"total={total},result={before}", f"result={_lst(result)}"))
        carry = total // split
        if strikes(fault, "dropped_carry", k) and carry:
            carry = 0
            fault.hit(len(out))
        out.append((9, f"total={total}", f"carry={carry}"))
        k += 1
    out.append((10, f"carry={carry}", str(bool(carry))))
    if carry:
        before = _lst(result)
        result.insert(0, carry)
        out.append((11, f"carry={carry},result={before}", f"result={_lst(result)}"))
    out.append((12, f"result={_lst(result)}", ""))
    return out, "".join(map(str, result)).lstrip("0") or "0"


def executed(x: str, y: str, base: int) -> list[tuple[int, str, str]]:
    """The program's gold run (``run_program`` without a fault)."""
    return run_program(x, y, base)[0]


def trace(x: str, y: str, base: int) -> list[str]:
    """The executed program as lines, each reciting its code line: ``code: reads -> writes``."""
    return recite(executed(x, y, base), base)


def recite(run: list[tuple[int, str, str]], base: int) -> list[str]:
    code = PROGRAM.format(base=base).split("\n")
    lines = []
    for number, reads, writes in run:
        text = code[number - 1].strip().rstrip(":")
        if number == 1:
            lines.append(writes)
        elif not reads:
            lines.append(f"{text}: {writes}")
        elif not writes:
            lines.append(f"{text}: {reads}")
        else:
            lines.append(f"{text}: {reads} -> {writes}")
    return lines


def numbered(program: str) -> str:
    return "\n".join(f"{i} {line}" for i, line in enumerate(program.split("\n"), 1))


def trace_by_number(x: str, y: str, base: int) -> list[str]:
    """The executed program as lines that cite the code line by its number: ``L<n> reads -> writes``."""
    return cite(executed(x, y, base), base)


def cite(run: list[tuple[int, str, str]], base: int) -> list[str]:
    return [f"L{n} " + (f"{reads} -> {writes}" if reads and writes else reads or writes) for n, reads, writes in run]


class RuleFollowing(Format):
    name = "rule_following"
    tasks = ("addition", "base9_addition")

    def prompt(self, task, a, b):
        return PROGRAM.format(base=task.base) + "\n" + task.question(a, b)

    render = staticmethod(recite)  # program run -> lines

    def solve(self, task, a, b, fault=None):
        run, answer = run_program(task.num(a), task.num(b), task.base, fault)
        return self.render(run, task.base), answer

    def fault_kinds(self, task):
        extra = ("wrong_base",) if task.base != 10 else ()
        return ("dropped_carry", "wrong_digit", "wrong_copy", "early_stop") + extra

    def step_keys(self, task, a, b):
        return add_columns(task.num(a), task.num(b), task.base)


class RuleFollowingNumbered(RuleFollowing):
    """The same rule and the same execution, with the program's lines numbered in the input and
    cited by number in the output (``L7 digit1=5,digit2=8,carry=0 -> total=13``): about a third of
    the tokens of reciting each line's code."""

    name = "rule_following_numbered"

    def prompt(self, task, a, b):
        return numbered(PROGRAM.format(base=task.base)) + "\n" + task.question(a, b)

    render = staticmethod(cite)


FORMATS.register("rule_following")(RuleFollowing())
FORMATS.register("rule_following_numbered")(RuleFollowingNumbered())
