"""Held-out regions beyond squares (``SplitSpec(kind="region")``): a union of parts minus kept parts.

A part is one of two shapes, written in a spec as one key:

- ``{square: [a0, b0, h]}``: the cells with |a - a0| <= h and |b - b0| <= h (inclusive L-inf, as
  the square splits); it must lie inside the grid.
- ``{band: {offset: c, width: w, a_range: [lo, hi]}}``: the cells with |a - b - c| <= w and
  lo <= a <= hi (``a_range`` null or left out: the whole grid's a). The band is a diagonal strip:
  ``offset: 0`` runs along a = b; its ``a_range`` must lie inside the grid, the band itself is cut
  by the grid's edges.

The held-out (test) cells are union(``hold``) minus union(``keep``): ``keep`` parts stay in
training, e.g. the (50, 50) h = 10 square minus the band |a - b| <= 2::

    split:
      kind: region
      hold: [{square: [50, 50, 10]}]
      keep: [{band: {offset: 0, width: 2}}]

Every part must count: a hold part holds at least one valid cell no earlier hold part holds, and a
keep part removes at least one held-out cell no earlier keep part removes (a part that does
nothing is a mistake in the spec, refused naming it). The grid-level checks (``region_mask``) run
when a dataset spec is built, with the task; ``check_parts`` checks the shapes alone.

Rings and parts of a region (``caseray.data.splits.make_split``): a held-out cell's ring is its
depth, the L-inf distance to the nearest valid cell not held out (1 on the region's border, growing
inward; unused cells of a ``data_size`` subsample count as not held out: depth is the region's
geometry, ``dist_train`` the distance to training); a cell outside the region has ring -1. A
held-out cell's ``square`` is the index of the first hold part that holds it; -1 elsewhere (kept
cells included).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from caseray.core.errors import SpecError
from caseray.core.fields import check_fields, ints, spec_field
from caseray.core.specs import check_int, stable_hash, to_dict

SHAPES = ("square", "band")


@dataclass(frozen=True)
class Band:
    offset: int = spec_field(0, "c: the cells with |a - b - c| <= width (0: along a = b)", bounds=ints())
    width: int = spec_field(0, "w: the band's half-width across the diagonal (0: one diagonal)", bounds=ints(0))
    a_range: tuple[int, int] | None = spec_field(None, "[lo, hi]: only cells with lo <= a <= hi (null: every a)")

    def __post_init__(self):
        check_fields(self)
        if self.a_range is not None:
            lo, hi = self.a_range
            check_int("a_range[0]", lo, minimum=0)
            check_int("a_range[1]", hi, minimum=lo)

    def mask(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        inside = np.abs(a - b - self.offset) <= self.width
        if self.a_range is not None:
            inside &= (self.a_range[0] <= a) & (a <= self.a_range[1])
        return inside

    def text(self) -> str:
        span = "" if self.a_range is None else f"@{self.a_range[0]}..{self.a_range[1]}"
        return f"band{self.offset}w{self.width}{span}"


@dataclass(frozen=True)
class RegionPart:
    square: tuple[int, int, int] | None = spec_field(None, "[a0, b0, h]: the cells with |a - a0| <= h and "
                                                     "|b - b0| <= h")
    band: Band | None = spec_field(None, "a diagonal band: {offset: c, width: w, a_range: [lo, hi]}")

    def __post_init__(self):
        check_fields(self)
        if self.square is not None:
            for j, v in enumerate(self.square):
                check_int(f"square[{j}]", v, minimum=0)

    def mask(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if self.square is not None:
            a0, b0, h = self.square
            return (np.abs(a - a0) <= h) & (np.abs(b - b0) <= h)
        return self.band.mask(a, b)

    def text(self) -> str:
        return "sq{},{},{}".format(*self.square) if self.square is not None else self.band.text()


def check_parts(kind: str, hold: tuple, keep: tuple) -> None:
    """The parts' shapes, without a grid: a region has hold parts, each part exactly one shape; other
    kinds have none."""
    if kind != "region":
        for name, parts in (("hold", hold), ("keep", keep)):
            if parts:
                raise SpecError(name, f"only a region split holds out parts; this split is {kind!r}",
                                ["kind: region", "leave hold and keep empty"])
        return
    if not hold:
        raise SpecError("hold", "a region split needs at least one hold part",
                        ["[{square: [a0, b0, h]}]", "[{band: {offset: c, width: w}}]"])
    for name, parts in (("hold", hold), ("keep", keep)):
        for i, part in enumerate(parts):
            given = [s for s in SHAPES if getattr(part, s) is not None]
            if len(given) != 1:
                what = "both a square and a band" if given else "neither a square nor a band"
                raise SpecError(f"{name}[{i}]", f"a part is one shape; this one has {what}",
                                ["{square: [a0, b0, h]}", "{band: {offset: c, width: w, a_range: [lo, hi]}}"])


def _check_inside(task, part: RegionPart, field: str) -> None:
    """A square inside the grid; a band's a_range inside the grid's a."""
    (alo, ahi), (blo, bhi) = task.a_range, task.b_range
    x, y = task.axes
    if part.square is not None:
        a0, b0, h = part.square
        if not (alo <= a0 - h and a0 + h <= ahi and blo <= b0 - h and b0 + h <= bhi):
            raise SpecError(f"{field}.square", f"square ({a0}, {b0}) with half-width {h} reaches outside the "
                            f"grid {x} in [{alo}, {ahi}], {y} in [{blo}, {bhi}]",
                            f"centres with {alo + h} <= {x} <= {ahi - h} and {blo + h} <= {y} <= {bhi - h}")
    elif part.band.a_range is not None:
        lo, hi = part.band.a_range
        if lo < alo or hi > ahi:
            raise SpecError(f"{field}.band.a_range", f"[{lo}, {hi}] reaches outside the grid's {x} in "
                            f"[{alo}, {ahi}]", f"{alo} <= lo <= hi <= {ahi}")


def _nothing(part: RegionPart, field: str, message: str, empty: bool, a, b) -> SpecError:
    """A part that does nothing, named by its shape where it holds no valid cell at all (a band by its
    offset, with the offsets that meet the grid); by its index where other parts make it idle."""
    if not empty:
        return SpecError(field, message)
    if part.band is not None:
        d = a - b
        return SpecError(f"{field}.band.offset", message, f"offsets with cells: {int(d.min())} .. {int(d.max())}")
    return SpecError(f"{field}.square", message)


def region_mask(task, hold: tuple, keep: tuple, a: np.ndarray | None = None,
                b: np.ndarray | None = None) -> np.ndarray:
    """Which of the valid cells (a, b) (default: all of ``task``'s) are held out, every part checked
    against the grid: inside it, and each part doing something (see the module docstring)."""
    if a is None:
        a, b = task.cells()
    held = np.zeros(a.shape, dtype=bool)
    for i, part in enumerate(hold):
        _check_inside(task, part, f"split.hold[{i}]")
        cells = part.mask(a, b)
        if not (cells & ~held).any():
            why = f"holds no valid cell of task {task.name!r}" if not cells.any() else \
                "adds nothing: hold parts before it hold every cell of it"
            raise _nothing(part, f"split.hold[{i}]", f"{part.text()} {why}", not cells.any(), a, b)
        held |= cells
    kept = np.zeros(a.shape, dtype=bool)
    for i, part in enumerate(keep):
        _check_inside(task, part, f"split.keep[{i}]")
        cells = part.mask(a, b) & held
        if not (cells & ~kept).any():
            why = "it meets no held-out cell" if not cells.any() else \
                "keep parts before it already keep every held-out cell it meets"
            raise _nothing(part, f"split.keep[{i}]", f"{part.text()} removes nothing: {why}",
                           not part.mask(a, b).any(), a, b)
        kept |= cells
    test = held & ~kept
    if not test.any():
        raise SpecError("split.keep", "the keep parts keep every held-out cell: the test part is empty")
    return test


def first_part(hold: tuple, a: np.ndarray, b: np.ndarray, test: np.ndarray) -> np.ndarray:
    """Per cell, the index of the first hold part that holds it, for held-out (``test``) cells; -1
    elsewhere."""
    part = np.full(a.shape, -1, dtype=np.int16)
    for i in reversed(range(len(hold))):
        part[hold[i].mask(a, b)] = i
    return np.where(test, part, -1).astype(np.int16)


def region_text(hold: tuple, keep: tuple) -> str:
    """A compact description, ``sq50,50,10-band0w2``: hold parts joined by ``+``, each keep part after
    a ``-`` (a readable label; names use ``region_key``)."""
    return "+".join(p.text() for p in hold) + "".join(f"-{p.text()}" for p in keep)


def region_key(hold: tuple, keep: tuple) -> str:
    """A short hash of the parts: what a trial's name says of its region (its full hash holds all)."""
    return stable_hash({"hold": to_dict(hold), "keep": to_dict(keep)}, 6)
