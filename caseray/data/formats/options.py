"""Format options (``TrialSpec.format_options``): how the digits of a direct or scratchpad solution are
written -- axes of one format, not new formats.

- ``reverse``: the answer line's digits least-significant first (``59+13=`` -> ``27``), the order a
  carry flows in; the answer read back is un-reversed.
- ``index_hints``: every digit of the operands and the answer carries its place as a letter before
  it (Zhou et al., 2024): place 1 (units) is ``a``, place 2 ``b``, ...: ``59+13=`` -> ``b5a9+b1a3=``,
  answer ``b7a2``. Training rows shift the letters by a random offset (drawn from the dataset's seed)
  so every letter is trained; test rows start at ``a``. 26 letters: places up to 26.
- ``carries`` (with ``reverse``, direct answers): each answer digit after the carry into its place, units
  first; the units have no carry in, so the answer starts with their digit (``59+13=`` -> ``217``: digit
  2; carry 1, digit 7). With coupled ids the ``=`` and every carry take the id of the place they open, a
  digit its own place's, so every quantity a token needs sits at its own id -- no token has to find the
  *next* place's id (``caseray.data.places.CarryPlaces``).

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
OPTIONS = ("reverse", "index_hints", "carries")
# the form ``carries`` writes, in dataset keys and trial names: 1 (commit fe53c4a, measured then changed)
# wrote the units' carry and put the ``=`` on id 0; 2: neither
CARRIES_FORM = 2


@dataclass(frozen=True)
class FormatOptions:
    reverse: bool = spec_field(False, "write the answer's digits units first")
    index_hints: bool = spec_field(False, "each digit of the operands and the answer after its place letter "
                                   "(units: a)")
    carries: bool = spec_field(False, "a reversed direct answer with the carry into each place before its "
                               "digit (units: no carry)")

    def __post_init__(self):
        for name in OPTIONS:
            if not isinstance(getattr(self, name), bool):
                raise SpecError(name, f"{getattr(self, name)!r} is not a boolean", ["true", "false"])

    @property
    def plain(self) -> bool:
        return not any(getattr(self, name) for name in OPTIONS)

    @property
    def enabled(self) -> tuple[str, ...]:
        """The options turned on, in ``OPTIONS`` order (labels: ``direct+reverse+carries``)."""
        return tuple(name for name in OPTIONS if getattr(self, name))

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
        if self.carries and (format_name != "direct" or not self.reverse or self.index_hints):
            raise SpecError("format_options.carries", "carries are written into a reversed direct answer, "
                            f"not of {format_name!r} with reverse={self.reverse}, index_hints={self.index_hints}",
                            ["format: direct, reverse: true, index_hints: false"])


def hinted(digits: str, offset: int = 0) -> str:
    """``digits`` with each one's place letter before it (units: ``HINTS[offset]``)."""
    n = len(digits)
    if n + offset > len(HINTS):
        raise SpecError("format_options.index_hints", f"a {n}-digit number at hint offset {offset} needs "
                        f"{n + offset} place letters; there are {len(HINTS)}", f"numbers up to {len(HINTS)} digits")
    return "".join(HINTS[offset + n - 1 - i] + d for i, d in enumerate(digits))


def with_carries(task, a: int, b: int, reversed_answer: str) -> str:
    """A reversed answer's digits each after the carry into its place (``carries``), but the units' (no
    carry in): place k's carry is what places 1..k-1 of a and b (and their carries) leave, in the task's
    base. Hand-written: the carries are the answer's ground truth, computed from the operands' digits,
    not from the model."""
    da, db = (task.num(n)[::-1] for n in (a, b))
    carry, pairs = 0, []
    for k, digit in enumerate(reversed_answer):
        pairs.append(f"{carry}{digit}" if k else digit)
        column = sum(int(d[k], task.base) for d in (da, db) if k < len(d)) + carry
        carry = column // task.base
    return "".join(pairs)


def unhinted(text: str) -> str:
    return "".join(ch for ch in text if ch not in HINTS)


class Optioned(Format):
    """``base`` written with ``options``; ``hint_offset`` shifts the place letters (training rows)."""

    def __init__(self, base: Format, options: FormatOptions, hint_offset: int = 0):
        self.base, self.options, self.hint_offset = base, options, hint_offset
        self.name, self.version, self.tasks = base.name, base.version, base.tasks

    @property
    def place_rule(self) -> str:
        """How coupled ids read the text (``caseray.data.places.PLACE_RULES``): a carries answer's pairs
        share a place."""
        return "carries" if self.options.carries else self.base.place_rule

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
        if self.options.carries:  # digit, then (carry, digit) pairs: the digits are every second character
            if len(answer) % 2 == 0:
                return None
            answer = answer[0::2]
        if self.options.reverse:  # un-reverse the digits, then drop the letters
            chars = re.findall(r"[a-z]?\d|[^\d]", answer) if self.options.index_hints else list(answer)
            answer = "".join(reversed(chars))
        return unhinted(answer) if self.options.index_hints else answer

    def solve(self, task, a, b, fault=None):
        steps, answer = self.base.solve(task, a, b, fault)
        return steps, self._final(task, a, b, answer)

    def lines(self, task, a, b):
        return self.base.steps(task, a, b) + [self._final(task, a, b, task.answer(a, b))]

    def _final(self, task, a, b, answer: str) -> str:
        line = self.answer_line(answer)
        return with_carries(task, a, b, line) if self.options.carries else line

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
