"""``caseray predict-hole SWEEP --cells``: the per-cell predictor (``report.cell_predictor``) fitted on
one sweep's squares -- its weights, its leave-positions-out record, and with ``--against`` its
record on another sweep's squares; with ``--center`` / ``--half-width``, that square's centre."""

from __future__ import annotations

from dataclasses import fields as fields_of

from caseray.cli.common import tracking_uri
from caseray.core.errors import SpecError
from caseray.core.tables import format_table
from caseray.data.splits import SplitSpec
from caseray.data.tasks import TaskSpec, build_task
from caseray.report import cell_predictor as cp
from caseray.report.aggregate import axis_value, axis_values, label
from caseray.report.holes import fitted_records, group_axes, square_records, unfit_text
from caseray.report.sweep_report import read_records

HEAD = ["group", "cells", "squares (position x trial)", "per-cell AUC", "squares called right", "majority class",
        "weights"]


def read_fitted(sweep: str, args):
    """A sweep's records without its square trials that did not fit (``--min-train``), naming those."""
    sweep_id, records = read_records(sweep, args.storage, tracking_uri(args), args.source)
    records, unfit = fitted_records(records, args.min_train)
    if unfit:
        print(f"{sweep_id}: {len(unfit)} square trial(s) left out, train accuracy below {args.min_train}: "
              + ", ".join(f"{name} ({unfit_text(*fit)})" for name, fit in sorted(unfit.items())))
    return sweep_id, records


def pooled(args, sweep_id: str, records) -> tuple[str, list]:
    """The fitting sweeps' records pooled (``--fit-also``), each trial once."""
    names, seen = [sweep_id], {r.name for r in records}
    for other in args.fit_also:
        try:
            other_id, more = read_fitted(other, args)
        except SpecError as err:  # (the reader names its argument "sweep"; here it came from --fit-also)
            raise SpecError("--fit-also" if err.field == "sweep" else err.field, err.message, err.allowed) from None
        if other_id in names:
            raise SpecError("--fit-also", f"{other_id} is already fitted on", ["each sweep once"])
        names.append(other_id)
        records = records + [r for r in more if r.name not in seen]
        seen |= {r.name for r in more}
    return " + ".join(names), records


POOLED = ("task.high", "task.low", "train.")  # what the per-cell fit pools over (prefixes of spec fields)


def model_axes(records) -> list[str]:
    """The axes the per-cell predictor is fitted per: those the fitting trials vary, except the grid's
    range and the training budget (``POOLED``): the features are measured in grid units and trials that
    did not fit are left out, so squares from 0-49 and 0-99, 1,000 and 5,000 steps, fit together."""
    axes = []
    for axis in group_axes(records):
        fields = ([f"task.{f.name}" for f in fields_of(TaskSpec)] if axis == "task"
                  else [axis])
        axes += [f for f in fields if not f.startswith(POOLED) and len({axis_value(r, f) for r in records}) > 1]
    return axes


def _data(records, sweep_id: str, axes) -> dict:
    data = cp.cell_data(records, lambda r: axis_values(r, axes))
    if not data:
        raise SpecError("sweep", f"sweep {sweep_id} has no square trials", ["a sweep holding out squares"])
    return data


def _fitting(fit, data):
    """``fit(data)``; cells of one outcome only (every held-out cell failed, or none) are exit 2."""
    try:
        return fit(data)
    except ValueError as err:
        raise SpecError("sweep", f"{err} (in a group, or once one position is left out)",
                        ["fitting sweeps whose squares include holes and solved squares in every group"]) from None


def _row(group, axes, data, model, auc, calls) -> list[str]:
    right, majority = cp.call_accuracy(calls)
    weights = ", ".join(f"{k} {v:+.2f}" for k, v in cp.coefficients(model).items()) or "(boosted trees)"
    return [label(axes, group), str(len(data.failed)), str(len(calls)), f"{auc:.3f}", f"{right:.2f}",
            f"{majority:.2f}", weights]


def predict_cells(args, sweep_id: str, records) -> None:
    """Fitted per group of ``model_axes``; another sweep's squares are scored per group of those axes and
    its own, each by the model of its fitting group (e.g. a 0-99 grid by the tokenizer's model)."""
    plan = _plan(args.plan) if args.plan is not None else None  # (a bad file: refused before any fit)
    sweep_id, records = pooled(args, sweep_id, records)
    fit_axes = model_axes(records)
    data = _data(records, sweep_id, fit_axes)
    models = {group: _fitting(lambda c: cp.fit(c, args.model), d) for group, d in data.items()}
    if args.against is not None:
        test_id, test_records = read_fitted(args.against, args)
        axes = fit_axes + [a for a in group_axes(test_records) if a not in fit_axes]
        scored, rows = test_records, []
        for group, t in _data(test_records, test_id, axes).items():
            model = models.get(group[:len(fit_axes)])
            if model is None:
                print(f"[{label(axes, group)}] not scored: no fitting sweep has its {', '.join(fit_axes)}")
                continue
            rows.append(_row(group, axes, t, model, cp.auc(model, t), cp.position_calls(model, t)))
        where = f"{test_id}'s squares, fitted on {sweep_id}'s"
    else:
        axes, scored, where = fit_axes, records, f"{sweep_id}, each position predicted by a fit without it"
        rows = [_row(group, axes, d, models[group], *_fitting(lambda c: cp.leave_positions_out(c, model=args.model), d))
                for group, d in data.items()]
    print(f"per-cell failure predictor ({', '.join(cp.FEATURES)}); {where}:")
    print(format_table(HEAD, rows, "markdown"))
    rule = cp.fold_reach(scored, lambda r: axis_values(r, axes))
    print(f"\nthe fold-reach rule (nothing fitted: a hole where the centre's |a - b| lies more than {cp.REACH} "
          "outside the |a - b| trained for its sum; per cell, that distance as its score):")
    print(format_table(["group", "cells", "per-cell AUC", "squares (position x trial)", "called right",
                        "majority class"],
                       [[label(axes, g), str(len(f)), f"{cp.score_auc(s, f):.3f}", str(len(c)),
                         *(f"{v:.2f}" for v in cp.call_accuracy(c))] for g, (c, s, f) in rule.items()], "markdown"))
    _seed_bracket(scored, axes)
    if args.center is not None and args.half_width is not None:
        _one_square(args, records, models, fit_axes)
    if plan is not None:
        _planned(plan, models, fit_axes)


def _seed_bracket(records, axes) -> None:
    bracket = cp.seed_bracket(records, lambda r: axis_values(r, axes))
    if bracket:
        print("\nhow well any predictor of the split alone could do (seeds of one split differ; per-cell AUC of "
              "one seed's failures scored by the other seeds' failure share -- low -- and by every seed's -- high):")
        print(format_table(["group", "other seeds", "every seed"],
                           [[label(axes, g), f"{lo:.3f}", f"{hi:.3f}"] for g, (lo, hi) in bracket.items()], "markdown"))


def _one_square(args, records, models, axes) -> None:
    """Failure probability at the centre of a square the sweep's task might hold out."""
    spec = square_records(records)[0].spec
    split, _, x = cp.split_features(build_task(spec.task), SplitSpec(center=tuple(args.center),
                                                                     half_width=args.half_width))
    centre = split.ring[split.split == "test"] == 0
    for group, model in models.items():
        p = float(model.predict_proba(x[centre])[:, 1][0])
        print(f"[{label(axes, group)}] square at {tuple(args.center)}, h = {args.half_width}: centre fails with "
              f"p = {p:.2f} ({'HOLE' if p >= 0.5 else 'no hole'} predicted)")


def _plan(target: str):
    """The square trials of a sweep not yet run (validated as ``caseray sweep run`` would)."""
    from caseray.cli.sweep import sweep_data
    from caseray.core.specs import from_dict
    from caseray.sweep.spec import SweepSpec

    sweep = from_dict(SweepSpec, sweep_data(target, None))
    specs = [s for s in sweep.trials() if s.lengths is None and s.split.kind in ("square", "squares")]
    if not specs:
        raise SpecError("--for", f"{target} holds out no squares", ["a sweep of square trials"])
    return specs


def _planned(specs, models: dict, axes) -> None:
    """Per planned square (position, h, group): the predicted failure probability of its centre."""
    rows, first_seed = [], min(s.seed for s in specs)
    for spec in specs:
        group = tuple(_planned_axis(spec, a) for a in axes)
        if group not in models or spec.seed != first_seed:
            continue  # (the features do not depend on the seed: one row per square)
        task = build_task(spec.task)
        split, squares, x = cp.split_features(task, spec.split)
        test = split.split == "test"
        p, steps = models[group].predict_proba(x)[:, 1], cp.reach_steps(x, cp.grid_side(split.a, split.b))
        for k, (a0, b0, hk) in enumerate(squares):
            at = (split.ring[test] == 0) & (split.square[test] == k)
            q, step = float(p[at][0]), float(steps[at][0])
            rows.append([label(axes, group), f"0-{task.high}", f"({a0}, {b0})", str(hk), f"{q:.2f}",
                         "HOLE" if q >= 0.5 else "no hole", f"{step:.0f}",
                         "HOLE" if step > cp.REACH + 1e-9 else "no hole"])
    print(format_table(["group", "grid", "centre", "h", "p(centre fails)", "predicted",
                        "d steps outside its sum's", f"fold-reach rule (> {cp.REACH})"], rows, "markdown"))


def _planned_axis(spec, axis: str):
    from caseray.sweep.results import TrialRecord

    return axis_value(TrialRecord(spec, {}, None), axis)
