"""The two halves of "case-based or rule-based?" in one table: per model configuration (format and its
options, tokenizer, scale, positions), how far its length trials follow the rule past their training
lengths (exact match at L, 2L, 3L with L the longest training length), and whether its Leave-Square-
Out trials leave a hole (hole depth against the paired random-split control, ring slope).
"""

from __future__ import annotations

import math

from caseray.core.tables import format_table
from caseray.report.holes import SquareUnit, format_interval, per_seed, square_units
from caseray.report.lengths import configuration
from caseray.sweep.results import TrialRecord

MULTIPLES = (1, 2, 3)  # exact match read at L, 2L, 3L


def _at(records: list[TrialRecord], digits: int) -> list[float]:
    return [r.metrics.get(f"len_acc/{digits}", math.nan) for r in records]


def length_cells(records: list[TrialRecord]) -> list[str]:
    """exact match at L, 2L, 3L (mean ± std [t 95%] over seeds), '-' where a length was not tested."""
    if not records:
        return ["-"] * (len(MULTIPLES) + 1)
    longest = max(r.spec.lengths.train_digits[1] for r in records)
    cells = [f"1-{longest}"]
    for k in MULTIPLES:
        values = _at(records, k * longest)
        cells.append("-" if all(math.isnan(v) for v in values) else format_interval(values))
    return cells


def hole_cells(units: list[SquareUnit]) -> list[str]:
    """hole depth and ring slope (per seed, positions pooled) and the squares they cover."""
    if not units:
        return ["-"] * 3
    sizes = sorted({u.h for u in units})
    return [format_interval(per_seed(units, lambda u: u.hole_depth)),
            format_interval(per_seed(units, lambda u: u.ring_slope)),
            f"{len({u.centre for u in units})} positions, h={','.join(map(str, sizes))}"]


def halves_rows(records: list[TrialRecord]) -> list[list[str]]:
    lengths: dict[str, list[TrialRecord]] = {}
    for r in records:
        if r.spec.lengths is not None:
            lengths.setdefault(configuration(r.spec), []).append(r)
    by_name = {r.name: r for r in records}
    squares: dict[str, list[SquareUnit]] = {}
    for u in square_units(records, axes=[]):
        squares.setdefault(configuration(by_name[u.trial].spec), []).append(u)
    rows = []
    for config in sorted(set(lengths) | set(squares)):
        rows.append([config, *length_cells(lengths.get(config, [])), *hole_cells(squares.get(config, []))])
    return rows


HEADER = ["configuration", "trained digits", "exact at L", "exact at 2L", "exact at 3L",
          "hole depth (control - centre)", "ring slope", "squares"]


def halves_table(records: list[TrialRecord]) -> str | None:
    """The markdown table, or None when the records hold no configuration with both halves."""
    rows = halves_rows(records)
    if not any(r[2] != "-" for r in rows) or not any(r[5] != "-" for r in rows):
        return None
    return format_table(HEADER, rows, "markdown")
