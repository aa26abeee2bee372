"""What a LEMA trial does on top of its CoT trial (``TrialSpec.lema``): which mistakes, how many
corrections, which ablation."""

from __future__ import annotations

from dataclasses import dataclass

from caseray.core.errors import SpecError
from caseray.core.fields import check_fields, floats, ints, spec_field
from caseray.core.specs import check_choice
from caseray.data.faults import KINDS
from caseray.data.formats import get_format
from caseray.data.tasks import build_task
from caseray.lema.corrector import ABLATIONS

SOURCES = ("own", "synthetic", "mixed")


@dataclass(frozen=True)
class LemaSpec:
    mistake_source: str = spec_field("synthetic", "own: the CoT model's wrong samples; synthetic: planted "
                                     "faults; mixed: both", choices=SOURCES)
    correction_ratio: float = spec_field(0.5, "correction examples per CoT example",
                                         bounds=floats(0.0, 100.0, low_open=True))
    equal_size: bool = spec_field(False, "replace CoT examples by corrections: the total stays the CoT set's size")
    ablation: str = spec_field("none", "leave out one part of the corrections (LEMA's ablations)",
                               choices=ABLATIONS)
    samples: int = spec_field(4, "own: solutions sampled per training question", bounds=ints(1, 1000))
    temperature: float = spec_field(1.0, "own: sampling temperature", bounds=floats(0.0, 100.0, low_open=True))
    max_questions: int = spec_field(2000, "own: training questions sampled (a seeded subset)", bounds=ints(1))
    error_kinds: tuple[str, ...] = spec_field((), "synthetic: kinds to plant (empty: every kind the format has)",
                                              choices=KINDS)
    quote_step: bool = spec_field(True, "write the incorrect step's line after its index (false: the index only)")

    def __post_init__(self):
        check_fields(self)
        if self.equal_size and self.correction_ratio >= 1:
            raise SpecError("correction_ratio", f"{self.correction_ratio} with equal_size would replace every CoT "
                            "example", "below 1 with equal_size")
        if not isinstance(self.quote_step, bool):
            raise SpecError("quote_step", f"expected true or false, got {self.quote_step!r}")

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
