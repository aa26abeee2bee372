"""What a LEMA trial does on top of its CoT trial (``TrialSpec.lema``): which mistakes, how many
corrections, which ablation."""

from __future__ import annotations

from dataclasses import dataclass

from caseray.core.errors import SpecError
from caseray.core.specs import check_choice, check_float, check_int
from caseray.data.faults import KINDS
from caseray.data.formats import get_format
from caseray.data.tasks import build_task
from caseray.lema.corrector import ABLATIONS

SOURCES = ("own", "synthetic", "mixed")


@dataclass(frozen=True)
class LemaSpec:
    mistake_source: str = "synthetic"
    correction_ratio: float = 0.5  # correction examples per CoT example
    equal_size: bool = False  # replace CoT examples by corrections: the total stays the CoT set's size
    ablation: str = "none"  # leave out one part of the corrections (LEMA's ablations)
    samples: int = 4  # own: solutions sampled per training question
    temperature: float = 1.0  # own: sampling temperature
    max_questions: int = 2000  # own: training questions sampled (a seeded subset)
    error_kinds: tuple[str, ...] = ()  # synthetic: kinds to plant (empty: every kind the format has)
    quote_step: bool = True  # write the incorrect step's line after its index (false: the index only)

    def __post_init__(self):
        check_choice("mistake_source", self.mistake_source, SOURCES)
        check_float("correction_ratio", self.correction_ratio, 0.0, 100.0, low_open=True)
        if self.equal_size and self.correction_ratio >= 1:
            raise SpecError("correction_ratio", f"{self.correction_ratio} with equal_size would replace every CoT "
                            "example", "below 1 with equal_size")
        check_choice("ablation", self.ablation, ABLATIONS)
        if not isinstance(self.quote_step, bool):
            raise SpecError("quote_step", f"expected true or false, got {self.quote_step!r}")
        check_int("samples", self.samples, minimum=1, maximum=1000)
        check_float("temperature", self.temperature, 0.0, 100.0, low_open=True)
        check_int("max_questions", self.max_questions, minimum=1)
        for i, kind in enumerate(self.error_kinds):
            check_choice(f"error_kinds[{i}]", kind, KINDS)

    def check_format(self, format_name: str, task) -> None:
        """The trial's format must write steps, and plant every asked-for kind."""
        kinds = get_format(format_name).fault_kinds(build_task(task))
        if not kinds:
            raise SpecError("format", f"LEMA corrects step-by-step solutions; {format_name!r} writes none",
                            ["scratchpad", "rule_following", "rule_following_numbered"])
        for i, kind in enumerate(self.error_kinds):
            check_choice(f"lema.error_kinds[{i}]", kind, kinds)


def lema_label(lema) -> str:
    """``CoT alone`` or the LEMA setting: ``synthetic 0.25 equal-size no_explanation``."""
    if lema is None:
        return "CoT alone"
    parts = [lema.mistake_source, f"{lema.correction_ratio:g}"]
    parts += ["equal-size"] if lema.equal_size else []
    parts += [lema.ablation] if lema.ablation != "none" else []
    parts += [] if lema.quote_step else ["unquoted"]
    return " ".join(parts)
