"""Rule-following (RFFT): the input gives the algorithm as code; the output walks it line by line.

Each output line recites the code line about to run, then the variable states it reads and the
states after it (``code: before -> after``); the last lines are the returned digit list and the
answer. Written for addition in any base (addition, base9_addition).
"""

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


def trace(x: str, y: str, base: int) -> list[str]:
    """The executed program as lines, for digit strings x and y in ``base``."""
    n1, n2 = [int(d) for d in x], [int(d) for d in y]
    out = [f"num1={_lst(n1)},num2={_lst(n2)}", "result = []: result=[]", "carry = 0: carry=0"]
    result, carry = [], 0
    while True:
        go = bool(n1 or n2)
        out.append(f"while num1 or num2: num1={_lst(n1)},num2={_lst(n2)} -> {go}")
        if not go:
            break
        before1, before2 = _lst(n1), _lst(n2)
        d1 = n1.pop() if n1 else 0
        out.append(f"digit1 = num1.pop() if num1 else 0: num1={before1} -> digit1={d1},num1={_lst(n1)}")
        d2 = n2.pop() if n2 else 0
        out.append(f"digit2 = num2.pop() if num2 else 0: num2={before2} -> digit2={d2},num2={_lst(n2)}")
        total = d1 + d2 + carry
        out.append(f"total = digit1 + digit2 + carry: digit1={d1},digit2={d2},carry={carry} -> total={total}")
        before = _lst(result)
        result.insert(0, total % base)
        out.append(f"result.insert(0, total % {base}): total={total},result={before} -> result={_lst(result)}")
        carry = total // base
        out.append(f"carry = total // {base}: total={total} -> carry={carry}")
    out.append(f"if carry: carry={carry} -> {bool(carry)}")
    if carry:
        before = _lst(result)
        result.insert(0, carry)
        out.append(f"result.insert(0, carry): carry={carry},result={before} -> result={_lst(result)}")
    out.append(f"return result: result={_lst(result)}")
    return out


class RuleFollowing(Format):
    name = "rule_following"
    tasks = ("addition", "base9_addition")

    def prompt(self, task, a, b):
        return PROGRAM.format(base=task.base) + "\n" + task.question(a, b)

    def steps(self, task, a, b):
        return trace(task.num(a), task.num(b), task.base)

    def step_keys(self, task, a, b):
        return add_columns(task.num(a), task.num(b), task.base)


FORMATS.register("rule_following")(RuleFollowing())
