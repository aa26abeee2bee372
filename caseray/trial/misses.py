"""Where a length trial's wrong additions go wrong (``caseray analyze misses``): for every wrong answer
of a reversed addition (carries written or not), the first token written wrong, the place responsible
for it -- a wrong digit's own place, or for a wrong carry the place it comes out of -- and whether
that place's two operand digits are equal, different, or one operand has no digit there.

Why: under coupled ids both operands' digits of one place share an id, and with one token per digit
two equal digits are the same key and value there (docs/FINDINGS.md, "The two digits of a place").
The right answer, its carries and each operand's digits are recomputed here by integer arithmetic
from the problem's (a, b); only the model's output is read from ``cells.parquet``. Reads a finished
length trial's folder or a retest's (``caseray analyze retest``), whose ``retest.json`` names its trial.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from caseray.core.errors import SpecError
from caseray.core.plain_data import load_json
from caseray.data.tasks import build_task, to_base
from caseray.trial.cells import CUT
from caseray.trial.spec import TrialSpec, stored_spec

TASKS = ("addition", "base9_addition")
RELATIONS = ("equal digits", "different digits", "one operand has none", "past both operands")


@dataclass(frozen=True)
class Miss:
    token: str  # the first wrong token: "digit", "carry", "stops early" or "runs on"
    place: int  # the responsible place, 0 = units: a digit's own; a carry's (written or missing) the place
    # below, whose column makes it; "runs on": the place past the sum
    a_digit: int | None  # a's digit there (None: a has no digit there)
    b_digit: int | None
    carry_in: int  # the right carry into that place
    wrote: str  # what was written where the first wrong token is ("" when the answer stopped)
    right: str

    @property
    def relation(self) -> str:
        if self.a_digit is None and self.b_digit is None:
            return RELATIONS[3]
        if self.a_digit is None or self.b_digit is None:
            return RELATIONS[2]
        return RELATIONS[0] if self.a_digit == self.b_digit else RELATIONS[1]

    @property
    def column(self) -> tuple:
        """(a's digit, b's digit, carry in) at the responsible place."""
        return self.a_digit, self.b_digit, self.carry_in

    @property
    def shape(self) -> str:
        return f"{column_text(self.column)}: {self.token} {self.wrote or 'none'} for {self.right or 'none'}"


def column_text(column: tuple) -> str:
    """``(1, None, 1)`` -> ``1+-, carry in 1``."""
    a, b, carry = column
    return f"{'-' if a is None else a}+{'-' if b is None else b}, carry in {carry}"


def digits_of(n: int, base: int) -> list[int]:
    """``n``'s digits in ``base``, units first."""
    return [int(ch) for ch in reversed(to_base(n, base))]


def carries_in(a: int, b: int, base: int) -> list[int]:
    """The carry into every place of a + b, units first, by column arithmetic."""
    da, db = digits_of(a, base), digits_of(b, base)
    out, carry = [], 0
    for i in range(len(digits_of(a + b, base))):
        out.append(carry)
        carry = ((da[i] if i < len(da) else 0) + (db[i] if i < len(db) else 0) + carry) // base
    return out


def right_tokens(a: int, b: int, base: int, carries: bool) -> list[tuple[str, int, str]]:
    """The right reversed answer as (token kind, place, character): with ``carries``, the units' digit,
    then a (carry in, digit) pair per place."""
    digits, cin = digits_of(a + b, base), carries_in(a, b, base)
    out = [("digit", 0, str(digits[0]))]
    for place in range(1, len(digits)):
        out += [("carry", place, str(cin[place]))] if carries else []
        out.append(("digit", place, str(digits[place])))
    return out


def first_miss(a: int, b: int, base: int, output: str, carries: bool) -> Miss | None:
    """The first wrong token of ``output`` (the model's reversed answer) for a + b; None if it is right."""
    right = right_tokens(a, b, base, carries)
    cut = output.endswith(CUT)  # (cells keep OUTPUT_CHARS characters of an output)
    output = output[:-len(CUT)] if cut else output
    k = next((i for i, (_, _, ch) in enumerate(right) if i >= len(output) or output[i] != ch), None)
    if cut and (k is None or k >= len(output)):
        return None  # right as far as it was kept: where it went wrong is not known
    if k is None:
        if len(output) == len(right):
            return None
        kind, place, wrote, want = "runs on", len(digits_of(a + b, base)), output[len(right)], ""
    else:
        kind, place, want = right[k]
        place = place - 1 if kind == "carry" else place  # a carry (or its absence) comes from the place below
        wrote = output[k] if k < len(output) else ""
        kind = kind if wrote else "stops early"
    columns = place_columns(a, b, base) + [(None, None, 0)]  # (runs on: the place past the sum)
    return Miss(kind, place, *columns[place], wrote, want)


FOLDER = "a finished length trial's or retest's folder"
COLUMNS = ("a", "b", "split", "n_digits", "answer_correct", "output")


def trial_of(folder: str | Path) -> tuple[Path, TrialSpec]:
    """A trial or retest folder with cells, and the trial's spec: a length trial of reversed direct
    addition without index hints; bad input names ``folder``."""
    folder = Path(folder)
    if not (folder / "cells.parquet").is_file():
        raise SpecError("folder", f"no cells in {folder} (no cells.parquet)", FOLDER)
    home = folder
    if (folder / "retest.json").is_file():
        home = load_json((folder / "retest.json").read_text(), "folder")
        if not isinstance(home, dict) or not isinstance(home.get("folder"), str):
            raise SpecError("folder", f"{folder}/retest.json names no trial folder", FOLDER)
        home = Path(home["folder"])
    if not (home / "spec.json").is_file():
        raise SpecError("folder", f"no trial spec for {folder} ({home}/spec.json)", FOLDER)
    spec = stored_spec(load_json((home / "spec.json").read_text(), "folder"))
    options = spec.format_options
    if (spec.task.name not in TASKS or spec.format != "direct" or spec.lengths is None or options is None
            or not options.reverse or options.index_hints):
        raise SpecError("folder", f"{spec.name} is not a length trial of reversed direct addition",
                        f"tasks {list(TASKS)}, lengths set, format: direct, format_options.reverse: true "
                        "(no index hints)")
    return folder, spec


def read_test_cells(folder: Path, digits: set[int] | None):
    """``folder``'s test cells (``digits``: those lengths only), with every column a miss needs."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(folder / "cells.parquet")
    except (OSError, pa.ArrowException) as err:
        raise SpecError("folder", f"{folder}/cells.parquet cannot be read: {err}", FOLDER) from None
    missing = [c for c in COLUMNS if c not in table.column_names]
    if missing:
        raise SpecError("folder", f"{folder}/cells.parquet has no {', '.join(missing)} column (outputs are kept "
                        "since 2026-12-05; an older trial: evaluate it again with caseray analyze retest)", FOLDER)
    table = table.filter(pc.equal(table["split"], "test"))
    return table.filter(pc.is_in(table["n_digits"], value_set=pa.array(sorted(digits)))) if digits else table


def place_columns(a: int, b: int, base: int) -> list[tuple]:
    """(a's digit, b's digit, carry in) at every place of a + b (None: that operand has no digit there)."""
    da, db, cin = digits_of(a, base), digits_of(b, base), carries_in(a, b, base)
    return [(da[i] if i < len(da) else None, db[i] if i < len(db) else None, cin[i]) for i in range(len(cin))]


def equal_share(columns: list[tuple]) -> float:
    """The share of a sum's places (``place_columns``) whose two operand digits are equal: where a miss
    would fall on equal digits if it fell on a place at random."""
    return sum(a is not None and a == b for a, b, _ in columns) / len(columns)


@dataclass(frozen=True)
class Misses:
    spec: TrialSpec
    rows: int  # test rows read
    misses: list[Miss]
    chance: float  # the mean equal_share of the wrong answers' problems
    columns: Counter  # (a's digit, b's digit, carry in) -> how many places of the rows read have it

    def tally(self, top: int = 5) -> dict:
        """Counts by relation, the commonest shapes, and the commonest columns with how many places of
        the rows read hold each (misses first made there / places: a per-place rate)."""
        return {"misses": len(self.misses), "relations": {r: sum(m.relation == r for m in self.misses)
                                                          for r in RELATIONS},
                "shapes": Counter(m.shape for m in self.misses).most_common(top),
                "columns": [(c, n, self.columns[c])
                            for c, n in Counter(m.column for m in self.misses).most_common(top)]}


def folder_misses(folder: str | Path, digits: set[int] | None = None) -> Misses:
    """Every wrong answer's miss in ``folder``'s test cells (``digits``: those lengths only)."""
    folder, spec = trial_of(folder)
    table = read_test_cells(folder, digits)
    base, carries = build_task(spec.task).base, bool(spec.format_options.carries)
    out, shares, columns = [], [], Counter()
    for row in table.select(["a", "b", "answer_correct", "output"]).to_pylist():
        a, b = int(row["a"]), int(row["b"])
        row_columns = place_columns(a, b, base)
        columns.update(row_columns)
        miss = None if row["answer_correct"] else first_miss(a, b, base, row["output"] or "", carries)
        if miss is not None:  # (every token right but judged wrong: not a miss of the digits)
            out.append(miss)
            shares.append(equal_share(row_columns))
    return Misses(spec, table.num_rows, out, sum(shares) / len(shares) if shares else float("nan"), columns)
