"""``caseray predict-hole SWEEP --cells``: the per-cell predictor (``report.cell_predictor``) fitted on
one sweep's squares -- its weights, its leave-positions-out record, and with ``--against`` its
record on another sweep's squares; with ``--center`` / ``--half-width``, that square's centre."""

from __future__ import annotations

import numpy as np

from caseray.cli.common import tracking_uri
from caseray.core.errors import SpecError
from caseray.core.tables import format_table
from caseray.data.splits import SplitSpec, make_split
from caseray.data.tasks import build_task
from caseray.report import cell_predictor as cp
from caseray.report.aggregate import axis_value, label
from caseray.report.holes import group_axes, square_records
from caseray.report.sweep_report import read_records

HEAD = ["group", "cells", "squares (position x trial)", "per-cell AUC", "squares called right", "majority class",
        "weights"]


def _data(records, sweep_id: str, axes) -> dict:
    data = cp.cell_data(records, lambda r: tuple(axis_value(r, a) for a in axes))
    if not data:
        raise SpecError("sweep", f"sweep {sweep_id} has no square trials", ["a sweep holding out squares"])
    return data


def _row(group, axes, data, model, auc, calls) -> list[str]:
    right, majority = cp.call_accuracy(calls)
    weights = ", ".join(f"{k} {v:+.2f}" for k, v in cp.coefficients(model).items())
    return [label(axes, group), str(len(data.failed)), str(len(calls)), f"{auc:.3f}", f"{right:.2f}",
            f"{majority:.2f}", weights]


def predict_cells(args, sweep_id: str, records) -> None:
    test = None
    if args.against is not None:
        test_id, test_records = read_records(args.against, args.storage, tracking_uri(args), args.source)
        axes = group_axes(records + test_records)
        test = _data(test_records, test_id, axes)
    else:
        axes = group_axes(records)
    data = _data(records, sweep_id, axes)
    rows = []
    for group, d in data.items():
        model = cp.fit(d)
        if test is not None:
            t = test.get(group)
            if t is not None:
                rows.append(_row(group, axes, t, model, cp.auc(model, t), cp.position_calls(model, t)))
        else:
            rows.append(_row(group, axes, d, model, *cp.leave_positions_out(d)))
    where = f"{test_id}'s squares, fitted on {sweep_id}'s" if test is not None else \
        f"{sweep_id}, each position predicted by a fit without it"
    print(f"per-cell failure predictor ({', '.join(cp.FEATURES)}); {where}:")
    print(format_table(HEAD, rows, "markdown"))
    if args.center is not None and args.half_width is not None:
        _one_square(args, records, data, axes)


def _one_square(args, records, data, axes) -> None:
    """Failure probability at the centre of a square the sweep's task might hold out."""
    spec = square_records(records)[0].spec
    split = make_split(build_task(spec.task), SplitSpec(center=tuple(args.center), half_width=args.half_width))
    h = np.where(split.square >= 0, args.half_width, 0)
    x = cp.cell_features(split.a, split.b, split.split, split.ring, h, split.dist_train)
    centre = split.ring[split.split == "test"] == 0
    for group, d in data.items():
        p = float(cp.fit(d).predict_proba(x[centre])[:, 1][0])
        print(f"[{label(axes, group)}] square at {tuple(args.center)}, h = {args.half_width}: centre fails with "
              f"p = {p:.2f} ({'HOLE' if p >= 0.5 else 'no hole'} predicted)")
