"""Hole statistics of a sweep's square trials, against their paired controls.

One ``SquareUnit`` per held-out square per trial (a ``squares`` trial gives several): its centre,
inner-half, border and square accuracy (exact), ring slope with its bootstrap interval, and the
test accuracy of the paired random-split control (``caseray.trial.control``) when that trial is in
the sweep. ``hole_depth`` = control accuracy - centre accuracy. A unit *has a hole* when its depth
is at least ``HOLE_DEPTH``: the centre fails where a random split of the same size is solved.

Seeds are the unit of replication: per-seed values are averaged over positions first, then given
as mean ± std over seeds with a Student-t 95% interval (``core.stats``). Trials that did not fit their
training cells (``FIT_TRAIN``) are left out of the report's hole statistics and named (``fitted_records``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from caseray.core.stats import t_interval
from caseray.core.tables import format_table
from caseray.data.splits import resolve_squares
from caseray.data.tasks import build_task
from caseray.report.aggregate import axis_values, varying_axes
from caseray.sweep.results import TrialRecord
from caseray.trial.control import control_spec
from caseray.trial.metrics import summarize

HOLE_DEPTH = 0.5  # centre accuracy at least this far below the control's: a hole
FIT_TRAIN = 0.9  # a square trial whose training accuracy is below this did not fit: its holes say nothing


def format_mean(mean: float, std: float, n: int) -> str:
    """``mean ± std`` (the mean alone for one value, ``-`` for none)."""
    if n == 0 or math.isnan(mean):
        return "-"
    return f"{mean:.2f}" if n < 2 else f"{mean:.2f} ± {std:.2f}"


def format_interval(values) -> str:
    """``mean ± std [low, high]``: ``core.stats.t_interval``."""
    mean, std, lo, hi, n = t_interval(values)
    text = format_mean(mean, std, n)
    return text if n < 2 else f"{text} [{lo:.2f}, {hi:.2f}]"


@dataclass(frozen=True)
class SquareUnit:
    trial: str  # the square trial's name
    group: tuple  # the trial's values on the sweep's axes other than split and seed
    centre: tuple[int, int]
    h: int
    seed: int
    mirror_held_out: bool  # the square's mirror image (b, a) is held out too (or it is its own: a = b)
    train_acc: float
    centre_acc: float
    inner_acc: float
    border_acc: float
    square_acc: float
    ring_slope: float
    ring_slope_lo: float
    ring_slope_hi: float
    control_acc: float | None

    @property
    def diagonal(self) -> bool:
        return self.centre[0] == self.centre[1]

    @property
    def hole_depth(self) -> float:
        return math.nan if self.control_acc is None else self.control_acc - self.centre_acc

    @property
    def has_hole(self) -> bool:
        return self.hole_depth >= HOLE_DEPTH


def _square_stats(record: TrialRecord, squares) -> dict:
    c = record.cells
    return summarize(c["split"].to_numpy(zero_copy_only=False), c["accuracy"].to_numpy(), c["ring"].to_numpy(),
                     c["square"].to_numpy(), c["dist_train"].to_numpy(), tuple(squares))


def _mirrored(squares, k: int) -> bool:
    """The mirror square (b0, a0, h) lies inside a held-out square (itself, on the diagonal)."""
    a0, b0, h = squares[k]
    return any(abs(b0 - a1) <= h1 - h and abs(a0 - b1) <= h1 - h for a1, b1, h1 in squares)


def paired_control(record: TrialRecord, by_hash: dict[str, TrialRecord]) -> TrialRecord | None:
    """The record's paired random-split control among ``by_hash`` ({spec hash: record}), if it is there."""
    control = control_spec(record.spec)
    return None if control is None else by_hash.get(control.hash)


def square_units(records: list[TrialRecord], axes: list[str] | None = None) -> list[SquareUnit]:
    """Every held-out square of every square trial, paired with its control when the sweep has it;
    grouped by ``axes`` (default: the square trials' axes other than split and seed)."""
    by_hash = {r.spec.hash: r for r in records}
    square = square_records(records)
    axes = group_axes(records) if axes is None else axes
    units = []
    for r in square:
        squares = resolve_squares(build_task(r.spec.task), r.spec.split)
        m = _square_stats(r, squares)
        ctrl = paired_control(r, by_hash)
        for k, (a0, b0, h) in enumerate(squares):
            pre = f"sq{k}/" if len(squares) > 1 else ""
            units.append(SquareUnit(
                r.name, axis_values(r, axes), (a0, b0), h, r.spec.seed, _mirrored(squares, k),
                m["train_acc"], *(m[pre + key] for key in ("centre_acc", "inner_acc", "border_acc", "square_acc",
                                                           "ring_slope", "ring_slope_lo", "ring_slope_hi")),
                None if ctrl is None else ctrl.metrics["test_acc"]))
    return units


def fitted_records(records: list[TrialRecord], min_train: float = FIT_TRAIN) -> tuple[list[TrialRecord], dict]:
    """The records without the square trials that did not fit their training cells -- their own or
    their paired control's train accuracy below ``min_train`` -- and those left out, {name: (train
    accuracy, the control's or None)}: a hole in a model that did not learn its training cells, or
    against a control that did not, is not a generalization result. Other trials are kept as they are."""
    by_hash = {r.spec.hash: r for r in records}
    unfit = {}
    for r in square_records(records):
        ctrl = paired_control(r, by_hash)
        own = r.metrics.get("train_acc", math.nan)
        theirs = None if ctrl is None else ctrl.metrics.get("train_acc", math.nan)
        if not own >= min_train or (theirs is not None and not theirs >= min_train):
            unfit[r.name] = (own, theirs)
    return [r for r in records if r.name not in unfit], unfit


def unfit_text(train: float, control: float | None) -> str:
    """How ``fitted_records`` names a left-out trial's fit: its train accuracy, then its control's."""
    return f"{train:.2f}" + ("" if control is None else f"; control {control:.2f}")


def square_records(records: list[TrialRecord]) -> list[TrialRecord]:
    """The grid trials that hold out squares (not random splits, not length trials)."""
    return [r for r in records if r.spec.lengths is None and r.spec.split.has_squares]


def group_axes(records: list[TrialRecord]) -> list[str]:
    return varying_axes(square_records(records), exclude=("seed", "split"))


def by(units: list[SquareUnit], *keys: str) -> dict[tuple, list[SquareUnit]]:
    out: dict[tuple, list[SquareUnit]] = {}
    for u in units:
        out.setdefault(tuple(getattr(u, k) for k in keys), []).append(u)
    return dict(sorted(out.items(), key=lambda kv: str(kv[0])))


def per_seed(units: list[SquareUnit], value) -> list[float]:
    """``value(unit)`` averaged over the units of each seed (positions pooled): one value per seed (NaN
    where a seed has none, e.g. no paired control)."""
    values = [np.asarray([value(u) for u in us], dtype=float) for us in by(units, "seed").values()]
    return [float(v[~np.isnan(v)].mean()) if (~np.isnan(v)).any() else float("nan") for v in values]


BY_SQUARE_MAX = 60  # rows of the by-square table at most (an atlas has its own figure)


def square_rows(units: list[SquareUnit], label) -> list[list[str]]:
    """Per group and held-out square (centre, h): seeds, centre wrong in k of them, square and inner-half
    accuracy by seed, hole depth (control - centre) mean ± std over seeds."""
    rows = []
    for (group, centre, h), us in by(units, "group", "centre", "h").items():
        us = sorted(us, key=lambda u: u.seed)
        depth = [u.hole_depth for u in us if not math.isnan(u.hole_depth)]
        rows.append([label(group), f"({centre[0]}, {centre[1]})", str(h), str(len(us)),
                     f"{sum(u.centre_acc < 1 for u in us)} of {len(us)}",
                     " / ".join(f"{u.square_acc:.2f}" for u in us), " / ".join(f"{u.inner_acc:.2f}" for u in us),
                     format_mean(*t_interval(depth)[:2], len(depth)) if depth else "-"])
    return rows


def square_sections(units: list[SquareUnit], label) -> list[str]:
    """The report's by-square table (every held-out square of the sweep, with or without controls)."""
    rows = square_rows(units, label)
    if not rows:
        return []
    note = "" if len(rows) <= BY_SQUARE_MAX else f" (the first {BY_SQUARE_MAX} of {len(rows)})"
    return ["## Holes by square",
            "Per held-out square: in how many seeds its centre cell is wrong; exact match on the square and on "
            "its inner half (ring ≤ h/2), seed by seed; hole depth = the paired control's test accuracy - the "
            f"centre's, mean ± std over seeds{note}.",
            format_table(["group", "centre", "h", "seeds", "centre wrong", "square acc by seed",
                          "inner half by seed", "hole depth"], rows[:BY_SQUARE_MAX], "markdown")]
