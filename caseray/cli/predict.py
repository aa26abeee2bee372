"""``caseray predict-hole``: will this square leave a hole? Answered from a finished radius sweep
(``sweeps/hole_radius.py``) by its r*, with each rule's record on positions it was not fitted to;
``--against`` scores the rules on every square of another finished sweep (out of sample)."""

from __future__ import annotations

import argparse

from caseray.cli.common import Command
from caseray.cli.predict_cells import read_fitted
from caseray.cli.report import add_min_train, add_source_args, check_min_train
from caseray.core.errors import SpecError
from caseray.core.tables import format_table
from caseray.report.aggregate import label
from caseray.report.cell_predictor import MODELS
from caseray.report.holes import group_axes, square_units
from caseray.report.radius import PREDICTION_HEAD, predict_hole, predict_sweep, prediction_rows


def add_args(p: argparse.ArgumentParser) -> None:
    add_source_args(p)
    p.add_argument("--center", type=int, nargs=2, metavar=("A", "B"), help="the square's centre")
    p.add_argument("--half-width", type=int, metavar="H", help="the square's half-width h")
    p.add_argument("--against", metavar="SWEEP",
                   help="score the predictions on every square of this finished sweep (same storage)")
    p.add_argument("--for", dest="plan", metavar="SWEEP_FILE", help="with --cells: predict every square of a "
                   "sweep not yet run (a YAML/JSON sweep file or a shipped sweep's preset): write predictions down "
                   "before the run")
    add_min_train(p)
    p.add_argument("--cells", action="store_true", help="the per-cell predictor (report.cell_predictor): "
                   "failure probability from split-decided features, scored leaving positions out")
    p.add_argument("--model", choices=MODELS, default="logistic", help="with --cells: the fitted predictor's "
                   "model -- logistic regression (a weight per feature) or boosted trees (features combined)")
    p.add_argument("--fit-also", action="append", default=[], metavar="SWEEP",
                   help="with --cells: fit on this finished sweep's squares too (repeatable); grouped by the axes "
                   "any fitting sweep varies, pooled over what differs between them (grid, steps, sizes)")


def _units(records, sweep_id: str, axes: list[str]):
    units = [u for u in square_units(records, axes) if u.control_acc is not None]
    if not units:
        raise SpecError("sweep", f"sweep {sweep_id} has no square trials paired with a control",
                        ["a radius sweep: python sweeps/hole_radius.py --preset quick"])
    return units


def cmd_predict(args) -> None:
    for flag, given in (("--for", args.plan is not None), ("--fit-also", bool(args.fit_also)),
                        ("--model", args.model != "logistic")):
        if given and not args.cells:
            raise SpecError(flag, f"{flag} belongs to the per-cell predictor", [f"--cells {flag} ..."])
    if args.against is None and not args.cells and (args.center is None or args.half_width is None):
        raise SpecError("--center", "give --center A B and --half-width H, or --against SWEEP, or --cells")
    if (args.center is None) != (args.half_width is None):
        raise SpecError("--center" if args.center is None else "--half-width", "give --center A B and "
                        "--half-width H together")
    if (args.half_width is not None and args.half_width < 0) or (args.center and min(args.center) < 0):
        raise SpecError("--half-width" if args.half_width is not None and args.half_width < 0 else "--center",
                        "must be >= 0")
    check_min_train(args)
    sweep_id, records = read_fitted(args.sweep, args)
    axes = group_axes(records)
    if args.cells:
        from caseray.cli.predict_cells import predict_cells

        return predict_cells(args, sweep_id, records)
    if args.against is not None:  # both sweeps grouped by the axes either varies, so groups match
        test_id, test_records = read_fitted(args.against, args)
        axes = group_axes(records + test_records)
        units, test = _units(records, sweep_id, axes), _units(test_records, test_id, axes)
        seen = {(u.centre, u.h) for u in units}
        new = [u for u in test if (u.centre, u.h) not in seen]
        print(f"{test_id}: {len({(u.centre, u.h) for u in test})} squares, {len({(u.centre, u.h) for u in new})} "
              f"of them at positions or sizes {sweep_id} did not measure; predicted from {sweep_id}")
        print(format_table(PREDICTION_HEAD, prediction_rows(predict_sweep(units, test), lambda g: label(axes, g)),
                           "markdown"))
        return
    units = _units(records, sweep_id, axes)
    where = f"square at {tuple(args.center)}, h = {args.half_width}"
    for a in predict_hole(units, tuple(args.center), args.half_width):
        r = "none up to the largest h measured" if a.r_star == float("inf") else f"{a.r_star:g}"
        right, n = a.track_record
        seen = "" if a.observed is None else f"; measured in this sweep: {'a hole' if a.observed else 'no hole'}"
        print(f"[{label(axes, a.group)}, rule {a.rule}] {where}: {'HOLE' if a.predicted else 'no hole'} predicted "
              f"(r* = {r} from {a.positions} positions; right on {right}/{n} left-out position-sizes){seen}")


COMMAND = Command("predict-hole", "will a square leave a hole? (from a finished radius sweep's r*)", add_args,
                  cmd_predict, ("caseray predict-hole radius-quick --center 25 25 --half-width 4",
                                "caseray predict-hole radius-quick --against radius-local",
                                "caseray predict-hole atlas-quick --cells --against atlas-heldout"))
