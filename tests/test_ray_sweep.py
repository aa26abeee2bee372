"""A tiny sweep on an embedded local Ray with a sqlite MLflow store (real Ray, real MLflow)."""

import pytest

from caseray.core.specs import from_dict
from caseray.sweep.spec import SweepSpec
from caseray.sweep.tracking import Tracker

pytestmark = pytest.mark.slow


def test_tiny_sweep_logs_one_parent_and_every_child(ray_local, tmp_path):
    from caseray.sweep.ray import run_sweep

    sweep = from_dict(SweepSpec, {
        "name": "tiny", "storage_path": str(tmp_path / "out"), "tracking_uri": f"sqlite:///{tmp_path}/mlflow.db",
        "base": {"task": {"high": 19}, "split": {"center": [10, 10], "half_width": 3}, "save_model": False,
                 "train": {"steps": 30, "batch_size": 32, "log_every": 10}},
        "axes": {"tokenizer": ["number", "digit"]}})
    outcomes = run_sweep(sweep)
    assert len(outcomes) == 2 and all(o.error is None and o.metrics for o in outcomes)
    assert {o.spec.tokenizer for o in outcomes} == {"number", "digit"}
    tracker = Tracker(sweep.tracking_uri)
    parents = tracker.client.search_runs([tracker.experiment_id], "tags.`caseray.kind` = 'sweep'")
    assert [p.info.run_name for p in parents] == [sweep.id]
    assert parents[0].info.status == "FINISHED"
    children = tracker.children(parents[0].info.run_id)
    assert len(children) == 2 and all(c.info.status == "FINISHED" for c in children)
    for child in children:
        names = {a.path for a in tracker.client.list_artifacts(child.info.run_id)}
        assert names == {"holemap.png", "holemap.html", "cells.parquet", "spec.json", "metrics.json", "images"}
        assert "test_acc" in child.data.metrics and child.data.params["train.steps"] == "30"
        history = tracker.client.get_metric_history(child.info.run_id, "train/loss")
        assert [m.step for m in history] == [10, 20, 30]
    # the report, from the real results: one summary row and one hole-map panel per tokenizer
    from caseray.report.sweep_report import report_sweep

    path, logged = report_sweep("tiny", sweep.storage_path, sweep.tracking_uri)
    text = path.read_text()
    assert logged and "| digit | 1 | 0 |" in text and "| number | 1 | 0 |" in text
    assert (path.parent / "holemaps.png").stat().st_size > 10_000 and (path.parent / "signature.png").exists()
    # the same sweep again: trials are found finished, no run is duplicated
    again = run_sweep(sweep)
    assert [o.metrics for o in again] == [o.metrics for o in outcomes]
    assert len(tracker.children(parents[0].info.run_id)) == 2
    assert len(tracker.client.search_runs([tracker.experiment_id], "tags.`caseray.kind` = 'sweep'")) == 1


def test_controls_are_run_and_paired(ray_local, tmp_path):
    """Two squares of one size at two centres share one random-split control; after the sweep each
    square trial's metrics.json and MLflow run carry hole_depth = control test acc - centre acc."""
    import json
    from pathlib import Path

    from caseray.sweep.ray import run_sweep

    sweep = from_dict(SweepSpec, {
        "name": "ctrl", "storage_path": str(tmp_path / "out"), "tracking_uri": f"sqlite:///{tmp_path}/mlflow.db",
        "controls": True,
        "base": {"task": {"high": 19}, "save_model": False, "train": {"steps": 30, "batch_size": 32}},
        "axes": {"split": [{"center": [6, 6], "half_width": 2}, {"center": [13, 12], "half_width": 2}]}})
    outcomes = run_sweep(sweep)
    kinds = sorted(o.spec.split.kind for o in outcomes)
    assert kinds == ["random", "square", "square"] and all(o.error is None for o in outcomes)
    read = {o.spec.split.kind + str(o.spec.split.center): json.loads((Path(o.out_dir) / "metrics.json").read_text())
            for o in outcomes}
    control = read["randomNone"]
    assert control["n_test"] == 25 and "hole_depth" not in control
    tracker = Tracker(sweep.tracking_uri)
    children = {c.data.tags["caseray.trial"]: c for c in tracker.children(tracker.parent_of(sweep.id))}
    for o in outcomes:
        if o.spec.split.kind == "square":
            m = read["square" + str(o.spec.split.center)]
            assert m["hole_depth"] == control["test_acc"] - m["centre_acc"]
            assert children[o.spec.name].data.metrics["hole_depth"] == m["hole_depth"]
