"""Format options (``TrialSpec.format_options``): how the digits of a direct or scratchpad solution are
written -- axes of one format, not new formats.

- ``reverse``: the answer line's digits least-significant first (``59+13=`` -> ``27``), the order a
  carry flows in; the answer read back is un-reversed.
- ``index_hints``: every digit of the operands and the answer carries its place as a letter before
  it (Zhou et al., 2024): place 1 (units) is ``a``, place 2 ``b``, ...: ``59+13=`` -> ``b5a9+b1a3=``,
  answer ``b7a2``. Training rows shift the letters by a random offset (drawn from the dataset's seed)
  so every letter is trained; test rows start at ``a``. 26 letters: places up to 26.

``Optioned`` wraps a registered format with its options: the prompt and the answer line are written
as asked, steps are the format's own, ``read_answer`` gives back the plain answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from caseray.core.errors import SpecError
from caseray.core.fields import spec_field
from caseray.data.formats import base
from caseray.data.formats.base import Format, Parsed

OPTION_FORMATS = ("direct", "scratchpad")
OPTION_TASKS = ("addition", "base9_addition")
HINTS = "abcdefghijklmnopqrstuvwxyz"
DIGIT_RUN = re.compile(r"\d+")


@dataclass(frozen=True)
class FormatOptions:
    reverse: bool = spec_field(False, "write the answer's digits units first")
    index_hints: bool = spec_field(False, "each digit of the operands and the answer after its place letter "
                                   "(units: a)")

    def __post_init__(self):
        for name in ("reverse", "index_hints"):
            if not isinstance(getattr(self, name), bool):
                raise SpecError(name, f"{getattr(self, name)!r} is not a boolean", ["true", "false"])

    @property
    def plain(self) -> bool:
        return not (self.reverse or self.index_hints)

    def check(self, format_name: str, task_name: str) -> None:
        """Options apply to direct and scratchpad answers of the n-digit addition tasks."""
        if self.plain:
            return
        if format_name not in OPTION_FORMATS:
            raise SpecError("format_options", f"reverse / index_hints are options of direct and scratchpad, "
                            f"not {format_name!r}", list(OPTION_FORMATS))
        if task_name not in OPTION_TASKS:
            raise SpecError("format_options", f"reverse / index_hints are defined for the addition tasks, "
                            f"not {task_name!r}", list(OPTION_TASKS))


def hinted(digits: str, offset: int = 0) -> str:
    """``digits`` with each one's place letter before it (units: ``HINTS[offset]``)."""
    n = len(digits)
    if n + offset > len(HINTS):
        raise SpecError("format_options.index_hints", f"a {n}-digit number at hint offset {offset} needs "
                        f"{n + offset} place letters; there are {len(HINTS)}", f"numbers up to {len(HINTS)} digits")
    return "".join(HINTS[offset + n - 1 - i] + d for i, d in enumerate(digits))


def unhinted(text: str) -> str:
    return "".join(ch for ch in text if ch not in HINTS)


class Optioned(Format):
    """``base`` written with ``options``; ``hint_offset`` shifts the place letters (training rows)."""

    def __init__(self, base: Format, options: FormatOptions, hint_offset: int = 0):
        self.base, self.options, self.hint_offset = base, options, hint_offset
        self.name, self.version, self.tasks = base.name, base.version, base.tasks

    def with_offset(self, hint_offset: int) -> Optioned:
        return Optioned(self.base, self.options, hint_offset)

    def _digits(self, digits: str) -> str:
        return hinted(digits, self.hint_offset) if self.options.index_hints else digits

    def prompt(self, task, a, b):
        return DIGIT_RUN.sub(lambda m: self._digits(m.group()), self.base.prompt(task, a, b))

    def answer_line(self, answer: str) -> str:
        """The plain answer as this format writes it: hinted, then (pairs of) digits reversed."""
        line = self._digits(answer)
        if self.options.reverse:
            width = 2 if self.options.index_hints else 1
            line = "".join(line[i:i + width] for i in range(len(line) - width, -width, -width))
        return line

    def read_answer(self, text: str) -> str | None:
        answer = self.parse(text).answer
        if answer is None:
            return None
        if self.options.reverse:  # un-reverse the digits, then drop the letters
            chars = re.findall(r"[a-z]?\d|[^\d]", answer) if self.options.index_hints else list(answer)
            answer = "".join(reversed(chars))
        return unhinted(answer) if self.options.index_hints else answer

    def solve(self, task, a, b, fault=None):
        steps, answer = self.base.solve(task, a, b, fault)
        return steps, self.answer_line(answer)

    def lines(self, task, a, b):
        return self.base.steps(task, a, b) + [self.answer_line(task.answer(a, b))]

    def step_keys(self, task, a, b):
        return self.base.step_keys(task, a, b)

    @property
    def has_steps(self) -> bool:
        return self.base.has_steps

    def fault_kinds(self, task):
        return ()  # LEMA's corrector reads plain answers

    @staticmethod
    def parse(text: str) -> Parsed:
        return Format.parse(text)


def get_format(name: str, task=None, field: str = "format", options: FormatOptions | None = None) -> Format:
    """The registered format ``name`` (checked against ``task``), written with ``options`` when they
    are set (and allowed for this format and task)."""
    fmt = base.get_format(name, task, field)
    if options is None or options.plain:
        return fmt
    if task is not None:
        options.check(name, task if isinstance(task, str) else task.name)
    return Optioned(fmt, options)
