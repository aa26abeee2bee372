"""What a finished sweep shows: a table, one row per trial (printed, and on the MLflow parent run),
and a few numbers that compare whole sweeps in the MLflow runs table (the report has the figures)."""

from __future__ import annotations

from caseray.core.stats import sample_std
from caseray.core.tables import format_table
from caseray.lema.spec import lema_label
from caseray.sweep.spec import get_dotted

AXES_SHOWN = ("task.name", "format", "tokenizer", "split.kind", "model.scale", "seed")
RATES = ("train_acc", "test_acc", "square_acc", "centre_acc", "hole_depth")  # shown as percentages
SWEPT = ("test_acc", "square_acc", "centre_acc", "hole_depth")  # mean and spread on the parent run


def _value(metrics: dict, key: str) -> float | None:
    value = metrics.get(key)
    return None if value is None or value != value else float(value)


def columns(outcomes) -> tuple[list[str], list[list]]:
    """(head, rows): the trial's place (its name, the axes shown, its LEMA arm in a LEMA sweep), its
    rates (None where a trial has none) and whether it finished."""
    lema = any(o.spec.lema is not None for o in outcomes)  # a LEMA sweep: which arm each trial is
    head = ["trial", "task", "format", "tokenizer", "split", "model", "seed"] + ["lema"] * lema + [
        "train", "test", "square", "centre", "depth", "status"]
    rows = []
    for o in outcomes:
        d = o.spec.to_dict()
        place = [get_dotted(d, k) if k != "split.kind" or o.spec.lengths is None else "length" for k in AXES_SHOWN]
        rows.append([o.spec.label] + place + [lema_label(o.spec.lema)] * lema
                    + [_value(o.metrics, k) for k in RATES] + ["ok" if o.error is None and o.metrics else "FAILED"])
    return head, rows


def table(outcomes) -> str:
    head, rows = columns(outcomes)
    rates = range(len(head) - 1 - len(RATES), len(head) - 1)  # the columns before the status
    shown = [[_pct(v) if i in rates else str(v) for i, v in enumerate(row) if i] for row in rows]
    return format_table(head[1:], shown)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:6.1%}"


def sweep_metrics(outcomes) -> dict[str, float]:
    """``trials``, ``failed``, and over the finished trials that have it the mean and standard
    deviation (from two on) of each of ``SWEPT`` (``test_acc/mean``, ``hole_depth/std``, ...) and
    their count ``/n``."""
    done = [o.metrics for o in outcomes if o.error is None and o.metrics]
    out = {"trials": float(len(outcomes)), "failed": float(len(outcomes) - len(done))}
    for key in SWEPT:
        values = [v for v in (_value(m, key) for m in done) if v is not None]
        if values:
            mean = sum(values) / len(values)
            out |= {f"{key}/mean": mean, f"{key}/n": float(len(values))}
            if len(values) > 1:
                out[f"{key}/std"] = sample_std(values)
    return out
