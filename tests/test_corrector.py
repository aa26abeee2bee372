"""The exact corrector against planted errors: for every error kind on every step format and task,
it names the planted first wrong line, the kind (or one that writes the very same line), and a
corrected solution that parses to the right answer."""

import random

import pytest
from conftest import TASK_NAMES
from hypothesis import given
from hypothesis import strategies as st

from caseray.data.faults import KINDS, Fault
from caseray.data.formats import FORMATS, get_format
from caseray.data.tasks import build_task
from caseray.lema.corrector import ABLATIONS, correct, correction_prompt
from caseray.lema.mistakes import plant
from helpers import draw_cell

STEP_FORMATS = ["scratchpad", "rule_following", "rule_following_numbered"]
CASES = [(t, f, k) for f in STEP_FORMATS for t in TASK_NAMES if t in FORMATS.get(f).tasks
         for k in get_format(f).fault_kinds(build_task(t))]


def test_every_kind_is_planted_somewhere():
    assert {k for _, _, k in CASES} == set(KINDS)
    assert len(CASES) == 66  # 4 kinds x 5 tasks x 3 step formats + base-9 and modulus kinds x 3


def same_line(fmt, task, a, b, kind, planted_line, text):
    """Whether planting ``kind`` somewhere else writes the very same wrong line (an ambiguous slip)."""
    wrong = text.split("\n")[planted_line]
    for part in range(4):
        for at in range(len(fmt.steps(task, a, b)) + 1):
            for delta in range(1, max(task.base, 2)):
                f = Fault(kind, at, part, delta)
                lines = fmt.faulty_lines(task, a, b, f)
                if f.line == planted_line and lines[planted_line] == wrong:
                    return True
    return False


def check_correction(fmt, task, a, b, mistake):
    c = correct(fmt, task, a, b, mistake.text)
    assert c is not None and c.step == mistake.line, (mistake, c)
    assert c.kind == mistake.kind or same_line(fmt, task, a, b, c.kind, c.step, mistake.text), (mistake, c)
    fixed = "\n".join(mistake.text.split("\n")[:c.step] + list(c.corrected))
    assert fmt.parse(fixed).answer == task.answer(a, b) and fmt.first_wrong_step(task, a, b, fixed) is None
    assert c.answer == task.answer(a, b)
    written = mistake.text.split("\n")
    assert c.wrong == (written[c.step] if c.step < len(written) else "")
    return c


@pytest.mark.parametrize("task_name,fmt_name,kind", CASES)
@given(data=st.data())
def test_corrector_finds_every_planted_error(task_name, fmt_name, kind, data):
    task, fmt = build_task(task_name), get_format(fmt_name)
    a, b = draw_cell(task, data)
    mistake = plant(fmt, task, a, b, random.Random(data.draw(st.integers(0, 10**6))), [kind])
    if mistake is None:  # the kind does not fit this cell (no carry to drop, sum below the modulus...)
        return
    assert mistake.kind == kind and fmt.parse(mistake.text).answer != task.answer(a, b)
    check_correction(fmt, task, a, b, mistake)


@pytest.mark.parametrize("task_name,fmt_name,kind", CASES)
def test_each_kind_fits_many_cells(task_name, fmt_name, kind):
    """Every kind is planted (and found) on a good share of a task's cells -- none is a dead letter."""
    task, fmt = build_task(task_name), get_format(fmt_name)
    rng = random.Random(0)
    a_all, b_all = task.cells()
    cells = [(int(a_all[i]), int(b_all[i])) for i in rng.sample(range(len(a_all)), 40)]
    planted = [m for a, b in cells if (m := plant(fmt, task, a, b, rng, [kind])) is not None]
    assert len(planted) >= 10, f"{kind} fits only {len(planted)}/40 cells"
    for m in planted:
        check_correction(fmt, task, m.a, m.b, m)


def test_dropped_carry_is_explained_with_its_numbers():
    task, fmt = build_task("addition"), get_format("scratchpad")
    text = "\n".join(fmt.faulty_lines(task, 59, 13, Fault("dropped_carry", 0)))
    assert text == "59+13,,C:0\n5+1,2,C:0\n+,62,C:0\n62"
    c = correct(fmt, task, 59, 13, text)
    assert (c.step, c.kind, c.wrong) == (1, "dropped_carry", "5+1,2,C:0")
    assert c.explanation == "9+3+0=12 is at least 10, so the carry is 1, not 0"
    assert c.text() == ("Incorrect step 2: 5+1,2,C:0\nExplanation: 9+3+0=12 is at least 10, so the carry is 1, "
                        "not 0\nCorrect solution:\n...\n5+1,2,C:1\n+,72,C:0\n72")


def test_ablations_leave_out_exactly_their_part():
    task, fmt = build_task("mod_addition"), get_format("scratchpad")
    text = "\n".join(fmt.faulty_lines(task, 100, 50, Fault("wrong_modulus")))
    c = correct(fmt, task, 100, 50, text)
    assert c.kind == "wrong_modulus" and c.explanation == "150 is at least 113, so 113 is subtracted"
    full = c.text()
    assert (full.startswith(f"Incorrect step {c.step + 1}: 150<113\nExplanation:")
            and "Correct solution:\n...\n150>=113" in full)
    assert c.text("no_step_index").startswith("Incorrect step: 150<113\n")
    assert "Explanation" not in c.text("no_explanation") and "Correct solution" in c.text("no_explanation")
    assert "Correct solution" not in c.text("no_correction") and "Explanation" in c.text("no_correction")
    assert (c.text(quote=False).startswith(f"Incorrect step {c.step + 1}\nExplanation:")
            and "150<113" not in c.text(quote=False))
    assert c.text("no_step_index", quote=False).startswith("Explanation:")
    assert set(ABLATIONS) == {"none", "no_step_index", "no_explanation", "no_correction"}
    prompt = correction_prompt(fmt, task, 100, 50, text)
    assert prompt.endswith(f"100+50=\n{text}\nCorrection:\n")


@pytest.mark.parametrize("fmt_name", STEP_FORMATS)
@given(data=st.data())
def test_any_corrupted_solution_is_corrected(fmt_name, data):
    """A model's own mistakes are arbitrary: truncations and random edits of a right solution."""
    task = build_task(data.draw(st.sampled_from(list(FORMATS.get(fmt_name).tasks))))
    fmt = get_format(fmt_name)
    a, b = draw_cell(task, data)
    lines = fmt.lines(task, a, b)
    i = data.draw(st.integers(0, len(lines) - 1))
    edit = data.draw(st.sampled_from(["truncate", "char", "drop_line", "extra_line"]))
    if edit == "truncate":
        got = lines[:i] + [data.draw(st.text("0123456789", min_size=1, max_size=3))]
    elif edit == "char":
        j = data.draw(st.integers(0, len(lines[i])))
        char = data.draw(st.sampled_from("0123456789,+=["))
        got = lines[:i] + [lines[i][:j] + char + lines[i][j + 1:]] + lines[i + 1:]
    elif edit == "drop_line":
        got = lines[:i] + lines[i + 1:]
    else:
        got = lines + [lines[-1]]
    text = "\n".join(got)
    c = correct(fmt, task, a, b, text)
    if c is None:
        assert text == "\n".join(lines)
        return
    first = next((k for k, (p, q) in enumerate(zip(got, lines)) if p != q), min(len(got), len(lines) - 1))
    assert c.step == first and (c.kind == "extra_line") == (edit == "extra_line")
    fixed = "\n".join(got[:c.step] + list(c.corrected))
    assert fmt.first_wrong_step(task, a, b, fixed) is None and c.explanation
