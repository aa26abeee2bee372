"""Tables as text: the one printer behind every table caseray shows (a sweep's trials, a plan, the
report's summary, the reproduced claims) -- aligned plain text for terminals, markdown for reports."""

from __future__ import annotations

from typing import Sequence


def format_table(head: Sequence[str], rows: Sequence[Sequence[str]], style: str = "text",
                 right: Sequence[int] = ()) -> str:
    """``head`` and string ``rows``; ``text``: columns padded to their widest cell (indices in
    ``right`` right-aligned) under a rule of dashes; ``markdown``: a pipe table."""
    if style == "markdown":
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows]) + "\n"
    if style != "text":
        raise ValueError(f"unknown table style {style!r}")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]

    def line(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([line(head), line(["-" * w for w in widths])] + [line(r) for r in rows])
