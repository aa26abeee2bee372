"""What every format shares: the target text layout, the parser and the first-wrong-step checker.

A target is the format's steps, one per line, then the final answer on the last line. Parsing any
text (generated text included) gives back ``Parsed(answer, steps)``; the checker compares the
lines with the gold solution of the question and names the first line that differs.
"""

from __future__ import annotations

from dataclasses import dataclass

from caseray.core.errors import SpecError
from caseray.core.registry import Registry
from caseray.data.faults import Fault
from caseray.data.formats.columns import Step
from caseray.data.tasks import Task

FORMATS: Registry["Format"] = Registry("format")


@dataclass(frozen=True)
class Parsed:
    answer: str | None  # None when the text holds no line at all
    steps: tuple[str, ...]

    @property
    def lines(self) -> tuple[str, ...]:
        return self.steps if self.answer is None else self.steps + (self.answer,)


class Format:
    name = ""
    version = 1
    tasks: tuple[str, ...] = ()  # the task names this format can write
    place_rule = "answer"  # how coupled positions read its text (caseray.data.places.PLACE_RULES)

    def check_task(self, task: Task | str, field: str = "format") -> None:
        name = task if isinstance(task, str) else task.name
        if name not in self.tasks:
            raise SpecError(field, f"{self.name!r} is not available for task {name!r}; "
                            f"tasks with it: {', '.join(self.tasks)}")

    def prompt(self, task: Task, a: int, b: int) -> str:
        return task.question(a, b)

    def solve(self, task: Task, a: int, b: int, fault: Fault | None = None) -> tuple[list[str], str]:
        """(step lines, final answer) of cell (a, b); with a ``fault`` (``caseray.data.faults``) the
        solution goes wrong where the fault strikes and carries on consistently from there."""
        raise NotImplementedError

    def steps(self, task: Task, a: int, b: int) -> list[str]:
        """The gold solution's lines before the answer line."""
        return self.solve(task, a, b)[0]

    def fault_kinds(self, task: Task) -> tuple[str, ...]:
        """The error kinds that can be planted in this format's solutions of ``task``."""
        return ()

    def fault_parts(self, task: Task) -> int:
        """How many sub-calculations (``Fault.part``) a solution of ``task`` has (at least 2, the
        count planting has always drawn from: the same seed plants the same mistakes)."""
        return 2

    def faulty_lines(self, task: Task, a: int, b: int, fault: Fault) -> list[str]:
        steps, answer = self.solve(task, a, b, fault)
        return steps + [answer]

    @property
    def has_steps(self) -> bool:
        return type(self).step_keys is not Format.step_keys

    def step_keys(self, task: Task, a: int, b: int) -> list[Step] | None:
        """The steps (``caseray.data.formats.columns.Step``: op, column, digits, carry in) the solution
        of cell (a, b) is made of -- the one step decomposition the step-coverage predictors read
        (``Step.anywhere()`` drops the column); None for a format that writes no steps (direct)."""
        return None

    def lines(self, task: Task, a: int, b: int) -> list[str]:
        return self.steps(task, a, b) + [task.answer(a, b)]

    def target(self, task: Task, a: int, b: int) -> str:
        return "\n".join(self.lines(task, a, b))

    @staticmethod
    def parse(text: str) -> Parsed:
        lines = text.strip("\n").split("\n") if text.strip() else []
        lines = [line.rstrip() for line in lines]
        if not lines:
            return Parsed(None, ())
        return Parsed(lines[-1], tuple(lines[:-1]))

    def first_wrong_step(self, task: Task, a: int, b: int, text: str) -> int | None:
        """Index of the first line of ``text`` that differs from the gold solution; None if all right.

        Lines are numbered from 0; the answer is the last line, so a right trace with a wrong answer
        points at the answer line, and a text that stops early points at the first missing line.
        """
        gold = self.lines(task, a, b)
        got = self.parse(text).lines
        for i, line in enumerate(gold):
            if i >= len(got) or got[i] != line:
                return i
        return None if len(got) == len(gold) else len(gold)

    def read_answer(self, text: str) -> str | None:
        """The plain final answer of ``text`` (as ``Task.answer`` writes it), None without one."""
        return self.parse(text).answer

    def is_correct(self, task: Task, a: int, b: int, text: str) -> bool:
        return self.read_answer(text) == task.answer(a, b)


def get_format(name: str, task: Task | str | None = None, field: str = "format") -> Format:
    """The registered format ``name``, checked against ``task`` (the package's ``get_format`` also
    applies format options)."""
    fmt = FORMATS.get(name, field)
    if task is not None:
        fmt.check_task(task, field)
    return fmt
