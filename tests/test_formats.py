import numpy as np
import pytest
from conftest import FORMAT_NAMES, TASK_NAMES
from hypothesis import given
from hypothesis import strategies as st

from caseray.core.errors import SpecError
from caseray.data.formats import FORMATS, get_format
from caseray.data.tasks import TaskSpec, build_task
from helpers import draw_cell

PAIRS = [(t, f) for t in TASK_NAMES for f in FORMAT_NAMES if t in FORMATS.get(f).tasks]


def test_every_task_has_direct_and_scratchpad_and_additions_have_rules():
    assert len(PAIRS) == 20  # 5 tasks x (direct, scratchpad, rule_following, numbered)
    assert ("chicken_rabbit", "rule_following_numbered") in PAIRS


def test_scratchpad_and_direct_write_the_papers_59_plus_13():
    """Hu et al.'s example, as the reference quotes it: direct ``59+13=72``; scratchpad lines
    ``59+13,,C:0`` / ``5+1,2,C:1`` / ``+,72,C:0`` / ``72``."""
    task = build_task("addition")
    direct = get_format("direct")
    assert direct.prompt(task, 59, 13) + direct.target(task, 59, 13) == "59+13=72"
    assert get_format("scratchpad").lines(task, 59, 13) == ["59+13,,C:0", "5+1,2,C:1", "+,72,C:0", "72"]


def _column_oracle(x: int, y: int, base: int, op: str) -> list[str]:
    """The lines of x op y (``+`` with carry ``C:``, ``-`` with borrow ``B:``, x >= y) recomputed by
    whole-number arithmetic: after i columns the operands have lost their last i digits, the result
    so far is (x mod base^i op y mod base^i) mod base^i in i digits, and the carry (borrow) is what
    spilled over (fell short)."""
    xs, ys = np.base_repr(x, base), np.base_repr(y, base)
    mark = "C" if op == "+" else "B"
    lines = [f"{xs}{op}{ys},,{mark}:0"]
    for i in range(1, (max(len(xs), len(ys)) if op == "+" else len(xs)) + 1):
        lo_x, lo_y = x % base**i, y % base**i
        value = lo_x + lo_y if op == "+" else lo_x - lo_y
        spill = value // base**i if op == "+" else int(value < 0)
        digits = np.base_repr(value % base**i, base).rjust(i, "0")
        lines.append(f"{xs[:-i] if i < len(xs) else ''}{op}{ys[:-i] if i < len(ys) else ''},{digits},{mark}:{spill}")
    return lines


@given(st.integers(0, 10**12), st.integers(0, 10**12))
def test_scratchpad_lines_recompute_by_hand(a, b):
    for name, base in (("addition", 10), ("base9_addition", 9)):
        lines = get_format("scratchpad").lines(build_task(name), a, b)
        assert lines[:-1] == _column_oracle(a, b, base, "+")
        assert lines[-1] == np.base_repr(a + b, base)  # the sum, no leading zeros


@given(st.integers(2, 300), st.data())
def test_mod_scratchpad_compares_then_subtracts_with_borrow(m, data):
    a, b = data.draw(st.integers(0, m - 1)), data.draw(st.integers(0, m - 1))
    task = build_task(TaskSpec("mod_addition", modulus=m, high=m - 1))
    lines, s = get_format("scratchpad").lines(task, a, b), a + b
    add = _column_oracle(a, b, 10, "+")
    if s < m:
        assert lines == add + [f"{s}<{m}", str(s)]
    else:
        assert lines == add + [f"{s}>={m}"] + _column_oracle(s, m, 10, "-") + [str(s - m)]
    assert int(lines[-1]) == s % m


def test_unavailable_format_is_a_clear_error():
    from caseray.data.formats.base import Format

    class AdditionOnly(Format):
        name, tasks = "addition_only", ("addition", "base9_addition")

    with pytest.raises(SpecError, match="addition_only.*linear.*addition, base9_addition"):
        AdditionOnly().check_task(build_task("linear"))
    allowed = "allowed: direct, rule_following, rule_following_columns, rule_following_numbered, scratchpad"
    with pytest.raises(SpecError, match=allowed):
        get_format("chain_of_thought")


@pytest.mark.parametrize("task_name,fmt_name", PAIRS)
@given(data=st.data())
def test_parse_gives_back_answer_and_steps(task_name, fmt_name, data):
    task, fmt = build_task(task_name), get_format(fmt_name)
    a, b = draw_cell(task, data)
    text = fmt.target(task, a, b)
    parsed = fmt.parse(text)
    assert parsed.answer == task.answer(a, b)
    assert list(parsed.steps) == fmt.steps(task, a, b)
    assert fmt.first_wrong_step(task, a, b, text) is None
    assert fmt.first_wrong_step(task, a, b, text + "\n") is None  # trailing newline from generation


@pytest.mark.parametrize("task_name,fmt_name", PAIRS)
@given(data=st.data())
def test_checker_finds_a_planted_error(task_name, fmt_name, data):
    task, fmt = build_task(task_name), get_format(fmt_name)
    a, b = draw_cell(task, data)
    lines = fmt.lines(task, a, b)
    k = data.draw(st.integers(0, len(lines) - 1))
    planted = list(lines)
    planted[k] = planted[k] + data.draw(st.sampled_from(["1", "0", "x", ",C:1"]))
    text = "\n".join(planted)
    assert fmt.first_wrong_step(task, a, b, text) == k
    assert fmt.is_correct(task, a, b, text) == (k != len(lines) - 1)
    # a trace that stops early points at the first missing line
    assert fmt.first_wrong_step(task, a, b, "\n".join(lines[:k])) == k


@given(st.integers(0, 10**20), st.integers(0, 10**20))
def test_scratchpad_and_rules_add_long_numbers(a, b):
    for name in ("addition", "base9_addition"):
        task = build_task(name)
        for fmt in (get_format("scratchpad"), get_format("rule_following")):
            lines = fmt.lines(task, a, b)
            assert lines[-1] == task.answer(a, b)
            if fmt.name == "scratchpad":  # the last step's partial result (with its carry) is the sum
                rest, partial, carry = lines[-2].split(",")
                assert rest == "+" and ((carry == "C:1") * "1" + partial) == lines[-1]


def test_mod_scratchpad_subtracts_only_when_needed():
    task, fmt = build_task("mod_addition"), get_format("scratchpad")
    assert fmt.steps(task, 50, 10)[-1] == "60<113"
    steps = fmt.steps(task, 100, 50)
    assert "150>=113" in steps and steps[-1] == "-,037,B:0" and fmt.lines(task, 100, 50)[-1] == "37"
    task2 = build_task(TaskSpec("mod_addition", modulus=97, high=96))
    assert fmt.lines(task2, 96, 96)[-1] == str(192 % 97)


def test_rule_following_states_the_program_and_walks_it():
    task, fmt = build_task("base9_addition"), get_format("rule_following")
    prompt = fmt.prompt(task, 80, 8)  # 88+8 in base 9
    assert "total % 9" in prompt and prompt.endswith("88+8=")
    steps = fmt.steps(task, 80, 8)
    assert steps[0] == "num1=[8,8],num2=[8]"
    assert "total = digit1 + digit2 + carry: digit1=8,digit2=8,carry=0 -> total=16" in steps
    assert steps[-1] == "return result: result=[1,0,7]" and fmt.lines(task, 80, 8)[-1] == "107"


@pytest.mark.parametrize("task_name,a,b,expect", [
    ("mod_addition", 100, 50, ["if value(total) >= 113: total=[1,5,0] -> True",
                               "total = sub(total, [1,1,3]): total=[3,7]"]),
    ("mod_addition", 10, 5, ["if value(total) >= 113: total=[1,5] -> False"]),
    ("linear", 7, 5, ["t = add(b, b): t=[1,0]", "t = add(a, t): t=[1,7]", "t = add(t, [3]): t=[2,0]"]),
    ("chicken_rabbit", 30, 20, ["t = sub(legs, t): t=[2,0]", "rabbits = half(t): rabbits=[1,0]",
                                "return rabbits, chickens: rabbits=[1,0],chickens=[1,0]"]),
])
def test_rule_following_for_every_task_composes_short_programs(task_name, a, b, expect):
    task, fmt = build_task(task_name), get_format("rule_following")
    prompt = fmt.prompt(task, a, b)
    assert prompt.startswith("def solve(") and "def add(num1, num2):" in prompt
    assert ("def sub(num1, num2):" in prompt) == (task_name != "linear")
    assert ("def half(num):" in prompt) == (task_name == "chicken_rabbit")
    steps = fmt.steps(task, a, b)
    assert all(line in steps for line in expect)
    assert fmt.lines(task, a, b)[-1] == task.answer(a, b)
    numbered = get_format("rule_following_numbered")
    assert len(numbered.steps(task, a, b)) == len(steps)
    assert numbered.prompt(task, a, b).startswith("1 def solve(")
    assert numbered.lines(task, a, b)[-1] == task.answer(a, b)


def test_numbered_rule_following_runs_the_same_program_citing_line_numbers():
    task = build_task("base9_addition")
    full, numbered = get_format("rule_following"), get_format("rule_following_numbered")
    prompt = numbered.prompt(task, 80, 8)
    assert prompt.startswith("1 def add(num1, num2):\n2     result = []") and "\n12     return result\n" in prompt
    steps = numbered.steps(task, 80, 8)
    assert len(steps) == len(full.steps(task, 80, 8))  # one line per executed line, as in the full trace
    assert steps[0] == "L1 num1=[8,8],num2=[8]" and "L7 digit1=8,digit2=8,carry=0 -> total=16" in steps
    assert steps[-1] == "L12 result=[1,0,7]" and numbered.lines(task, 80, 8)[-1] == "107"
    assert len(numbered.target(task, 80, 8)) < 0.7 * len(full.target(task, 80, 8))


# what the line with each role says, written here from the programs' meaning (not read from them)
ROLE_TEXT = {"loop": r"^\s*while num", "pop": r"= num\d?\.pop\(", "sum": r"^\s*total = digit1 \+ digit2 \+ carry$",
             "insert": r"^\s*result\.insert\(0, total % \d+\)$", "carry": r"^\s*carry = total // \d+$",
             "diff": r"^\s*diff = digit1 - digit2 - borrow$", "borrow": r"^\s*borrow = 1 if diff < 0 else 0$",
             "insert_sub": r"^\s*result\.insert\(0, diff \+ 10 \* borrow\)$", "cur": r"^\s*cur = rem \* 10 \+ digit$",
             "append": r"^\s*result\.append\(cur // 2\)$", "rem": r"^\s*rem = cur % 2$",
             "compare": r"^\s*if value\(total\) >= \d+:$"}


@pytest.mark.parametrize("task_name", TASK_NAMES)
def test_every_role_line_is_the_program_line_it_names(task_name):
    """The corrector explains a wrong line by its role: each role's line number must point at that line
    of the listing the model reads (every function, at its offset in the task's program)."""
    import re

    from caseray.data.formats.rule_following import program_text, roles

    task = build_task(TaskSpec(task_name))
    lines = program_text(task).split("\n")
    found = roles(task)
    assert found, task_name
    for line, (function, role) in found.items():
        assert re.search(ROLE_TEXT[role], lines[line - 1]), (function, role, line, lines[line - 1])
