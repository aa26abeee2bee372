"""Train/test splits of a task's grid: Leave-Square-Out (one or several squares), random, and regions
(squares and diagonal bands, minus kept parts: ``caseray.data.regions``).

A square (a0, b0, h) holds every cell with |a - a0| <= h and |b - b0| <= h (inclusive L-inf).
``make_split`` labels every valid cell train/test (and ``unused`` when ``data_size`` subsamples
the training cells), and records its ring and its L-inf distance to the nearest training cell.

A cell's ring is its L-inf distance to the centre of the square that holds it (squares never
overlap, so there is one), whatever other squares lie nearer; a cell outside every square gets the
distance to the nearest square's centre (no square: -1). A region's cells have their depth as ring
instead (1 on the region's border, growing inward; -1 outside it) and the index of their hold part
as ``square`` (``caseray.data.regions``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from caseray.core.errors import SpecError
from caseray.core.fields import check_fields, floats, ints, spec_field
from caseray.core.specs import check_int, to_dict
from caseray.data.regions import RegionPart, check_parts, first_part, region_mask
from caseray.data.tasks import Task

SPLIT_KINDS = ("square", "squares", "random", "region")


@dataclass(frozen=True)
class SplitSpec:
    kind: str = spec_field("square", "which cells are held out for testing", choices=SPLIT_KINDS)
    center: tuple[int, int] | None = spec_field(None, "square: (a0, b0); null: the task's usual centre")
    half_width: int = spec_field(10, "square: h; the paper's main setting (21x21 cells)", bounds=ints(0))
    squares: tuple[tuple[int, int, int], ...] = spec_field((), "squares: explicit (a0, b0, h); empty: random")
    n_squares: int = spec_field(3, "squares, random: how many", bounds=ints(1, 50))
    half_width_range: tuple[int, int] = spec_field((10, 19), "squares, random: h drawn from this range")
    test_fraction: float | None = spec_field(None, "random: share of cells held out (null: 0.3)",
                                             bounds=floats(0.0, 1.0, low_open=True))
    test_size: int | None = spec_field(None, "random: exact number held out (e.g. a square's size)",
                                       bounds=ints(1))
    seed: int = spec_field(42, "random squares / random split", bounds=ints(0))
    max_test_fraction: float = spec_field(0.3, "guard: the test part may hold at most this share of the grid",
                                          bounds=floats(0.0, 1.0, low_open=True))
    hold: tuple[RegionPart, ...] = spec_field((), "region: the parts held out, each {square: [a0, b0, h]} or "
                                              "{band: {offset: c, width: w, a_range: [lo, hi]}} (|a - b - c| <= w)")
    keep: tuple[RegionPart, ...] = spec_field((), "region: parts kept in training out of the held-out ones "
                                              "(same shapes); test = union(hold) - union(keep)")

    def __post_init__(self):
        check_fields(self)
        lo, hi = self.half_width_range
        check_int("half_width_range[0]", lo, minimum=0)
        check_int("half_width_range[1]", hi, minimum=lo)
        for i, sq in enumerate(self.squares):
            if len(sq) != 3:
                raise SpecError(f"squares[{i}]", f"expected (a0, b0, h), got {sq!r}")
            for j, v in enumerate(sq):
                check_int(f"squares[{i}][{j}]", v, minimum=0)
        if self.center is not None:
            for j, v in enumerate(self.center):
                check_int(f"center[{j}]", v, minimum=0)
        if self.kind == "random" and self.test_fraction is not None and self.test_size is not None:
            raise SpecError("test_size", "give test_fraction or test_size, not both")
        check_parts(self.kind, self.hold, self.keep)

    def effective(self) -> dict:
        """Only the fields this kind uses: what names its data."""
        keys = {"square": ("center", "half_width"), "random": ("test_fraction", "test_size", "seed"),
                "squares": ("squares",) if self.squares else ("n_squares", "half_width_range", "seed"),
                "region": ("hold", "keep")}
        out = {"kind": self.kind, "max_test_fraction": self.max_test_fraction}
        out.update({k: to_dict(getattr(self, k)) for k in keys[self.kind]})  # (a region's parts as plain data)
        return out

    @property
    def has_squares(self) -> bool:
        """Squares held out (rings measured from their centres): what square statistics read."""
        return self.kind in ("square", "squares")


@dataclass(frozen=True)
class Split:
    a: np.ndarray  # every valid cell, row-major
    b: np.ndarray
    split: np.ndarray  # "train" | "test" | "unused"
    ring: np.ndarray  # L-inf distance to its own square's centre; outside: to the nearest one's (-1: no squares);
    #                   a region: depth inside (1 on its border), -1 outside
    square: np.ndarray  # index of the square (a region: the first hold part) holding the cell (-1: none)
    dist_train: np.ndarray  # L-inf distance to the nearest training cell (0 for training cells)
    squares: tuple[tuple[int, int, int], ...]


def default_center(task: Task) -> tuple[int, int]:
    """The paper's centres: (50, 50) on 0-99, (56, 56) for mod 113, (70, 50) for chicken & rabbit."""
    mid = (task.low + task.high + 1) // 2
    if task.name == "chicken_rabbit":
        return round(1.4 * mid), mid
    return mid, mid


def _inside(task: Task, a0: int, b0: int, h: int) -> bool:
    (alo, ahi), (blo, bhi) = task.a_range, task.b_range
    return alo <= a0 - h and a0 + h <= ahi and blo <= b0 - h and b0 + h <= bhi


def _overlap(s: tuple[int, int, int], t: tuple[int, int, int]) -> bool:
    return max(abs(s[0] - t[0]), abs(s[1] - t[1])) <= s[2] + t[2]


def _random_squares(task: Task, spec: SplitSpec) -> list[tuple[int, int, int]]:
    rng = np.random.default_rng(spec.seed)
    lo, hi = spec.half_width_range
    (alo, ahi), (blo, bhi) = task.a_range, task.b_range
    for _ in range(200):  # whole restarts
        squares: list[tuple[int, int, int]] = []
        for _ in range(1000):
            h = int(rng.integers(lo, hi + 1))
            if ahi - alo < 2 * h or bhi - blo < 2 * h:
                raise SpecError("split.half_width_range", f"a square of half-width {h} does not fit the grid "
                                f"a in [{alo}, {ahi}], b in [{blo}, {bhi}]")
            sq = (int(rng.integers(alo + h, ahi - h + 1)), int(rng.integers(blo + h, bhi - h + 1)), h)
            if not any(_overlap(sq, t) for t in squares) and _square_mask(task, [sq]).any():
                squares.append(sq)
                if len(squares) == spec.n_squares:
                    if _square_mask(task, squares).sum() <= spec.max_test_fraction * len(task.cells()[0]):
                        return squares
                    break  # above the guard: draw the whole set again
    raise SpecError("split.n_squares", f"could not place {spec.n_squares} non-overlapping squares with "
                    f"half-widths {spec.half_width_range} inside the grid within max_test_fraction="
                    f"{spec.max_test_fraction}; ask for fewer or smaller squares")


def _square_mask(task: Task, squares, a=None, b=None) -> np.ndarray:
    if a is None:
        a, b = task.cells()
    mask = np.zeros(a.shape, dtype=bool)
    for a0, b0, h in squares:
        mask |= (np.abs(a - a0) <= h) & (np.abs(b - b0) <= h)
    return mask


def resolve_squares(task: Task, spec: SplitSpec) -> list[tuple[int, int, int]]:
    """The held-out squares, checked: inside the grid, non-overlapping, not empty (a random split and
    a region have none: a region's square parts are parts, its rings depths)."""
    if spec.kind in ("random", "region"):
        return []
    if spec.kind == "square":
        a0, b0 = spec.center if spec.center is not None else default_center(task)
        squares, field = [(a0, b0, spec.half_width)], "split.center"
    elif spec.squares:
        squares, field = [tuple(s) for s in spec.squares], "split.squares"
    else:
        return _random_squares(task, spec)
    for i, (a0, b0, h) in enumerate(squares):
        (alo, ahi), (blo, bhi) = task.a_range, task.b_range
        if 2 * h > min(ahi - alo, bhi - blo):
            raise SpecError(field.replace("center", "half_width"), f"half-width {h} does not fit the grid "
                            f"{task.axes[0]} in [{alo}, {ahi}], {task.axes[1]} in [{blo}, {bhi}]",
                            f"at most {min(ahi - alo, bhi - blo) // 2}")
        if not _inside(task, a0, b0, h):
            raise SpecError(field, f"square centre ({a0}, {b0}) with half-width {h} reaches outside the "
                            f"grid {task.axes[0]} in [{alo}, {ahi}], {task.axes[1]} in [{blo}, {bhi}]",
                            f"centres with {alo + h} <= {task.axes[0]} <= {ahi - h} and "
                            f"{blo + h} <= {task.axes[1]} <= {bhi - h}")
        for j in range(i):
            if _overlap(squares[i], squares[j]):
                raise SpecError(field, f"squares {squares[j]} and {squares[i]} overlap")
        if not _square_mask(task, [squares[i]]).any():
            raise SpecError(field, f"square {squares[i]} holds no valid cell of task {task.name!r}")
    return squares


def test_count(task: Task, spec: SplitSpec, squares=None) -> int:
    """How many cells the test part holds, checked against the guard (no text is generated)."""
    a, b = task.cells()
    if spec.kind == "random":
        n = spec.test_size if spec.test_size is not None else int((spec.test_fraction or 0.3) * len(a))
        n = max(n, 1)
    elif spec.kind == "region":
        n = int(region_mask(task, spec.hold, spec.keep, a, b).sum())
    else:
        n = int(_square_mask(task, squares if squares is not None else resolve_squares(task, spec), a, b).sum())
    if n >= len(a):
        raise SpecError("split", f"the test part holds every one of the {len(a)} cells: none is left to train on",
                        f"at most {len(a) - 1} cells")
    limit = spec.max_test_fraction * len(a)
    if n > limit:
        raise SpecError("split", f"the test part holds {n} of {len(a)} cells ({n / len(a):.0%}), above "
                        f"max_test_fraction={spec.max_test_fraction}", f"at most {int(limit)} cells")
    return n


def chebyshev_distance(mask: np.ndarray) -> np.ndarray:
    """L-inf distance from every grid position to the nearest True position of ``mask``."""
    if not mask.any():
        raise ValueError("no training cell to measure distances from")
    dist = np.where(mask, 0, -1).astype(np.int32)
    reached, d = mask.copy(), 0
    while (dist < 0).any():
        d += 1
        grown = reached.copy()
        grown[1:] |= reached[:-1]
        grown[:-1] |= reached[1:]
        wide = grown.copy()
        wide[:, 1:] |= grown[:, :-1]
        wide[:, :-1] |= grown[:, 1:]
        dist[wide & ~reached] = d
        reached = wide
    return dist


def make_split(task: Task, spec: SplitSpec, data_size: int | None = None, seed: int = 0) -> Split:
    a, b = task.cells()
    squares = resolve_squares(task, spec)
    n_test = test_count(task, spec, squares)
    if spec.kind == "random":
        test = np.zeros(len(a), dtype=bool)
        test[np.random.default_rng(spec.seed).choice(len(a), size=n_test, replace=False)] = True
    elif spec.kind == "region":
        test = region_mask(task, spec.hold, spec.keep, a, b)
    else:
        test = _square_mask(task, squares, a, b)
    split = np.where(test, "test", "train").astype(object)
    train_idx = np.flatnonzero(~test)
    if data_size is not None:
        if data_size > len(train_idx):
            raise SpecError("data_size", f"{data_size} is larger than the {len(train_idx)} training cells",
                            f"1..{len(train_idx)}")
        keep = np.random.default_rng(seed).choice(train_idx, size=data_size, replace=False)
        split[np.setdiff1d(train_idx, keep)] = "unused"
    # ring and square membership
    ring = np.full(len(a), -1, dtype=np.int32)
    square = np.full(len(a), -1, dtype=np.int16)
    if squares:  # a cell inside square k: ring to k's own centre; outside all squares: to the nearest centre
        d = np.stack([np.maximum(np.abs(a - a0), np.abs(b - b0)) for a0, b0, _ in squares])
        inside = np.stack([d[i] <= h for i, (_, _, h) in enumerate(squares)])
        held = inside.any(axis=0)
        square = np.where(held, inside.argmax(axis=0), -1).astype(np.int16)
        own = d[np.maximum(square, 0), np.arange(len(a))]
        ring = np.where(held, own, d.min(axis=0)).astype(np.int32)
    if spec.kind == "region":  # depth inside the region, -1 outside; the first hold part holding it
        ring = np.where(test, _distance_to(task, a, b, ~test), -1).astype(np.int32)
        square = first_part(spec.hold, a, b, test)
    dist = _distance_to(task, a, b, split == "train")
    return Split(a, b, split.astype(str), ring, square, dist, tuple(squares))


def _distance_to(task: Task, a: np.ndarray, b: np.ndarray, source: np.ndarray) -> np.ndarray:
    """Per cell (a, b), the L-inf distance to the nearest cell where ``source`` is True (on the dense grid)."""
    alo, blo = task.a_range[0], task.b_range[0]
    grid = np.zeros((task.a_range[1] - alo + 1, task.b_range[1] - blo + 1), dtype=bool)
    grid[a[source] - alo, b[source] - blo] = True
    return chebyshev_distance(grid)[a - alo, b - blo]
