"""The verdicts as people read them: a markdown table and a summary that says plainly what did not
reproduce."""

from __future__ import annotations

from caseray.core.tables import format_table
from caseray.report.reproduce.claims import Verdict

VERDICT_WORDS = {True: "reproduced", False: "NOT reproduced", None: "not measurable"}


def table(verdicts: list[Verdict]) -> str:
    rows = [[v.claim, v.measured, VERDICT_WORDS[v.reproduced] + (f" — {v.note}" if v.note else "")] for v in verdicts]
    return format_table(["claim", "measured (mean ± std over seeds [t 95% interval])", "verdict"], rows, "markdown")


def summary(verdicts: list[Verdict]) -> str:
    """What reproduced and, plainly, what did not."""
    no = [v for v in verdicts if v.reproduced is False]
    unknown = [v for v in verdicts if v.reproduced is None]
    lines = [f"{sum(v.reproduced is True for v in verdicts)} of {len(verdicts)} claims reproduced."]
    lines += [f"Not reproduced: {v.claim} ({v.measured})." for v in no]
    lines += [f"Not measurable: {v.claim} ({v.note})." for v in unknown]
    return "\n\n".join(lines) + "\n"
