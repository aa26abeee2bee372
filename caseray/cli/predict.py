"""``caseray predict-hole``: will this square leave a hole? Answered from a finished radius sweep
(``sweeps/hole_radius.py``) by its r*, with the rule's record on positions it was not fitted to."""

from __future__ import annotations

import argparse

from caseray.cli.common import Command
from caseray.cli.report import add_source_args
from caseray.core.errors import SpecError
from caseray.report.aggregate import label
from caseray.report.holes import group_axes, square_units
from caseray.report.radius import predict_hole
from caseray.report.sweep_report import read_records


def add_args(p: argparse.ArgumentParser) -> None:
    add_source_args(p)
    p.add_argument("--center", required=True, type=int, nargs=2, metavar=("A", "B"), help="the square's centre")
    p.add_argument("--half-width", required=True, type=int, metavar="H", help="the square's half-width h")


def cmd_predict(args) -> None:
    if args.half_width < 0 or min(args.center) < 0:
        raise SpecError("--half-width" if args.half_width < 0 else "--center", "must be >= 0")
    sweep_id, records = read_records(args.sweep, args.storage, args.tracking_uri, args.source)
    units = square_units(records)
    answers = predict_hole(units, tuple(args.center), args.half_width)
    if not answers:
        raise SpecError("sweep", f"sweep {sweep_id} has no square trials paired with a control",
                        ["a radius sweep: python sweeps/hole_radius.py --preset quick"])
    axes = group_axes(records)
    where = f"square at {tuple(args.center)}, h = {args.half_width}"
    for a in answers:
        r = "none up to the largest h measured" if a.r_star == float("inf") else f"{a.r_star:g}"
        right, n = a.track_record
        seen = "" if a.observed is None else f"; measured in this sweep: {'a hole' if a.observed else 'no hole'}"
        print(f"[{label(axes, a.group)}] {where}: {'HOLE' if a.predicted else 'no hole'} predicted "
              f"(r* = {r} from {a.positions} positions; the rule was right on {right}/{n} left-out "
              f"position-sizes){seen}")


COMMAND = Command("predict-hole", "will a square leave a hole? (from a finished radius sweep's r*)", add_args,
                  cmd_predict)
