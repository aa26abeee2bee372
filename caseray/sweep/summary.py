"""What a finished sweep prints: a table, one row per trial (the report has the figures)."""

from __future__ import annotations

from caseray.core.tables import format_table
from caseray.lema.spec import lema_label

AXES_SHOWN = ("task.name", "format", "tokenizer", "split.kind", "model.scale", "seed")


def _get(spec_dict: dict, dotted: str):
    node = spec_dict
    for part in dotted.split("."):
        node = node[part]
    return node


def _pct(metrics: dict, key: str) -> str:
    value = metrics.get(key)
    return "-" if value is None or value != value else f"{value:6.1%}"


def table(outcomes) -> str:
    lema = any(o.spec.lema is not None for o in outcomes)  # a LEMA sweep: which arm each trial is
    head = ["task", "format", "tokenizer", "split", "model", "seed"] + ["lema"] * lema + [
        "train", "test", "square", "centre", "depth", "status"]
    rows = []
    for o in outcomes:
        d = o.spec.to_dict()
        place = [str(_get(d, k)) if k != "split.kind" or o.spec.lengths is None else "length" for k in AXES_SHOWN]
        rows.append(place + [lema_label(o.spec.lema)] * lema + [
            _pct(o.metrics, "train_acc"), _pct(o.metrics, "test_acc"), _pct(o.metrics, "square_acc"),
            _pct(o.metrics, "centre_acc"), _pct(o.metrics, "hole_depth"),
            "ok" if o.error is None and o.metrics else "FAILED"])
    return format_table(head, rows)
