"""A sweep's trials read back from its results folder and from MLflow (a sqlite store and a real
MLflow server) are the records that were published; the report is attached to the sweep's parent run."""

import json
import re
import shutil
import urllib.parse
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pyarrow.parquet as pq
import pytest

from caseray.core.errors import SpecError
from caseray.data.splits import resolve_squares
from caseray.data.tasks import build_task
from caseray.report.sweep_report import report_sweep
from caseray.sweep import summary
from caseray.sweep.results import from_local, from_mlflow, write_manifest
from caseray.sweep.tracking import Tracker
from caseray.trial.figures import plot_holemap
from caseray.trial.interactive import write_holemap_html
from caseray.trial.result import TrialResult
from helpers import mlflow_server
from synthetic import record

SWEEP_ID = "synth-0a1b2c3d"


AXES = ("tokenizer", "seed", "format")


def publish(uri: str, storage, records) -> None:
    """Write records as a sweep does: trial folders (hole maps drawn), the manifest, one parent with
    the sweep's summary and a child per trial."""
    tracker = Tracker(uri)
    parent = tracker.parent_run(SWEEP_ID, {"name": "synth"})
    first = records[0]  # one hole map drawn (a second or so each), copied: the images' content is not read
    task = build_task(first.spec.task)
    holemap = plot_holemap(first.spec, task, first.cells, tuple(resolve_squares(task, first.spec.split)),
                           first.metrics, storage.parent / "holemap.png")
    interactive = write_holemap_html(first.spec, first.cells, "a hole map", storage.parent / "holemap.html")
    for r in records:
        out = storage / "trials" / r.name
        out.mkdir(parents=True)
        (out / "spec.json").write_text(json.dumps(r.spec.to_dict()))
        (out / "metrics.json").write_text(json.dumps(r.metrics))
        pq.write_table(r.cells, out / "cells.parquet")
        shutil.copy(holemap, out / "holemap.png")
        shutil.copy(interactive, out / "holemap.html")
        tracker.finish_trial(tracker.child_run(parent, SWEEP_ID, r.spec, AXES), TrialResult(r.name, out, r.metrics))
    outcomes = [SimpleNamespace(spec=r.spec, metrics=r.metrics, error=None) for r in records]
    tracker.log_summary(parent, *summary.columns(outcomes), summary.sweep_metrics(outcomes))
    write_manifest(storage, SWEEP_ID, {"name": "synth"}, [r.name for r in records])
    tracker.end_sweep(parent, ok=True)


def rest(uri: str, path: str, body: dict | None = None):
    """What the MLflow UI reads: the server's REST API (JSON), or an artifact's bytes."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{uri}/{path}", data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as r:
        raw = r.read()
    return raw if path.startswith("get-artifact") else json.loads(raw)


def check_what_the_ui_shows(uri: str) -> None:
    """Through the REST API the UI uses: runs named by their labels, axes as tags, each trial's dataset,
    its hole map as an image, and the sweep's summary metrics and table on the parent run."""
    exp = rest(uri, "api/2.0/mlflow/experiments/get-by-name?experiment_name=caseray")["experiment"]
    runs = rest(uri, "api/2.0/mlflow/runs/search", {"experiment_ids": [exp["experiment_id"]]})["runs"]
    tags = [{t["key"]: t["value"] for t in run["data"].get("tags", [])} for run in runs]
    parent, = [run for run, t in zip(runs, tags) if t.get("caseray.kind") == "sweep"]
    children = {t["caseray.trial"]: (run, t) for run, t in zip(runs, tags) if t.get("caseray.kind") == "trial"}
    assert sorted(children) == sorted(r.name for r in RECORDS)
    for r in RECORDS:
        run, t = children[r.name]
        spec = r.spec
        assert run["info"]["run_name"] == f"addition·{spec.format}·{spec.tokenizer}·square·h3·@10,10·tiny·s{spec.seed}"
        assert [t[f"axis.{k}"] for k in AXES] == [spec.tokenizer, str(spec.seed), spec.format]
        dataset = run["inputs"]["dataset_inputs"][0]["dataset"]
        assert dataset["name"] == f"grid-addition-{r.spec.format}-{dataset['digest']}" and len(dataset["digest"]) >= 8
        images = [f["path"] for f in rest(uri, f"api/2.0/mlflow/artifacts/list?run_id={run['info']['run_id']}"
                                          "&path=images")["files"] if f["path"].endswith(".png")]
        assert len(images) == 1 and images[0].startswith("images/hole_map+step+")
        png = rest(uri, f"get-artifact?path={urllib.parse.quote(images[0])}&run_uuid={run['info']['run_id']}")
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000  # a drawn map, not an empty file
    metrics = {m["key"]: m["value"] for m in parent["data"]["metrics"]}
    depths = [r.metrics["test_acc"] for r in RECORDS]
    assert metrics["trials"] == len(RECORDS) and metrics["failed"] == 0
    assert metrics["test_acc/mean"] == pytest.approx(sum(depths) / len(depths))
    table = json.loads(rest(uri, f"get-artifact?path=summary.json&run_uuid={parent['info']['run_id']}"))
    assert table["columns"][:2] == ["trial", "task"] and len(table["data"]) == len(RECORDS)


RECORDS = [record(tokenizer=t, seed=s, fmt=f, hole=1 if t == "number" else -1)
           for t in ("number", "digit") for s in (0, 1) for f in ("direct", "scratchpad")]


def check_same_from_both(uri, tmp_path):
    storage = tmp_path / "sweeps"
    publish(uri, storage, RECORDS)
    local_id, local = from_local(storage, "synth")  # a name that names one sweep
    remote_id, remote = from_mlflow(uri, SWEEP_ID, tmp_path / "downloads")
    assert local_id == remote_id == SWEEP_ID and len(local) == len(RECORDS)
    assert [r.name for r in local] == [r.name for r in remote] == sorted(r.name for r in RECORDS)
    published = {r.name: r for r in RECORDS}
    for read in local + remote:  # each reader against what was published, not only against the other
        sent = published[read.name]
        assert read.spec == sent.spec and read.metrics == sent.metrics and read.cells.equals(sent.cells), read.name
    path, logged = report_sweep("synth", storage, uri, source="mlflow", out=tmp_path / "report")
    assert logged and "| scratchpad |" in path.read_text()
    tracker = Tracker(uri)
    parent = tracker.parent_of(SWEEP_ID)
    names = {a.path for a in tracker.client.list_artifacts(parent, "report")}
    assert {"report/report.md", "report/report.html", "report/holemaps.png", "report/summary.csv"} <= names
    # the interactive page on the parent run; each child run's own interactive hole map
    page = Path(tracker.client.download_artifacts(parent, "report/report.html", str(tmp_path / "got"))).read_text()
    assert re.search(r'Plotly\.newPlot\(\s*"holemaps"', page) and page.count("plotly.js v") == 1
    for child in tracker.children(parent):
        assert "holemap.html" in {a.path for a in tracker.client.list_artifacts(child.info.run_id)}


def test_results_folder_and_sqlite_store_agree(tmp_path):
    check_same_from_both(f"sqlite:///{tmp_path}/mlflow.db", tmp_path)


@pytest.mark.slow
def test_results_folder_and_mlflow_server_agree(tmp_path):
    with mlflow_server(tmp_path) as (uri, _):
        check_same_from_both(uri, tmp_path)
        check_what_the_ui_shows(uri)


def test_unknown_and_ambiguous_sweeps_are_clear_errors(tmp_path):
    write_manifest(tmp_path, "grid-11111111", {}, [])
    write_manifest(tmp_path, "grid-22222222", {}, [])
    with pytest.raises(SpecError, match="names 2 sweeps.*grid-11111111, grid-22222222"):
        from_local(tmp_path, "grid")
    with pytest.raises(SpecError, match="no sweep 'gird'"):
        from_local(tmp_path, "gird")
    with pytest.raises(SpecError, match="there is no MLflow store at"):
        report_sweep("gird", tmp_path, f"sqlite:///{tmp_path}/none.db")
    assert not (tmp_path / "none.db").exists()
    with pytest.raises(SpecError, match="rows: 'tokeniser' is not a trial-spec field"):
        storage = tmp_path / "s"
        publish(f"sqlite:///{tmp_path}/mlflow.db", storage, RECORDS[:1])
        report_sweep(SWEEP_ID, storage, rows="tokeniser")


def test_analysis_scripts_draw_and_tabulate_a_sweep(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    storage = tmp_path / "sweeps"
    publish(f"sqlite:///{tmp_path}/mlflow.db", storage, RECORDS)

    def run(script, *args):
        done = subprocess.run([sys.executable, str(repo / "analysis" / script), "synth", "--storage", str(storage),
                               *args], capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    assert run("hole_map_grid.py", "--rows", "format", "--cols", "tokenizer", "--per-seed").strip() == "holemaps.png"
    assert (tmp_path / "holemaps.png").stat().st_size > 10_000
    assert "signature.png" in run("curves.py", "--by", "tokenizer")
    table = run("step_coverage.py")
    assert table.count("addition-scratchpad") == 4 and "| written |" in table and "| implicit |" in table
    bad = subprocess.run([sys.executable, str(repo / "analysis" / "hole_map_grid.py"), "synth", "--storage",
                          str(storage), "--rows", "colour"], capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "rows: 'colour' is not a trial-spec field" in bad.stderr


def test_a_report_logs_to_mlflow_only_when_a_store_is_named(tmp_path, monkeypatch, capsys):
    """Reading never writes: ``caseray report`` from a results folder creates no ./mlflow.db; with
    ``--tracking-uri`` it attaches the report to the sweep's parent run."""
    from caseray.cli.main import main

    storage, db = tmp_path / "sweeps", tmp_path / "store" / "mlflow.db"
    db.parent.mkdir()
    publish(f"sqlite:///{db}", storage, RECORDS)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main(["report", "synth", "--storage", str(storage), "--out", str(tmp_path / "r1")]) == 0
    assert "logged to" not in capsys.readouterr().out
    assert list(work.iterdir()) == []
    assert main(["report", "synth", "--storage", str(storage), "--out", str(tmp_path / "r2"),
                 "--tracking-uri", f"sqlite:///{db}"]) == 0
    assert "logged to the sweep's MLflow parent run" in capsys.readouterr().out
    tracker = Tracker(f"sqlite:///{db}")
    assert "report.md" in {a.path.split("/")[-1] for a in tracker.client.list_artifacts(
        tracker.parent_of(SWEEP_ID), "report")}


def test_system_metrics_follow_mlflows_own_switch(tmp_path, monkeypatch):
    """MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING=true puts CPU and memory samples on the trial's run; unset, none."""
    import time

    tracker = Tracker(f"sqlite:///{tmp_path}/mlflow.db")
    parent = tracker.parent_run(SWEEP_ID, {"name": "synth"})
    off, on = (tracker.child_run(parent, SWEEP_ID, r.spec) for r in RECORDS[:2])
    with tracker.system_metrics(off):
        time.sleep(1.5)
    monkeypatch.setenv("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "true")
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.5")
    with tracker.system_metrics(on):
        time.sleep(2.5)
    assert not any(k.startswith("system/") for k in tracker.client.get_run(off).data.metrics)
    logged = tracker.client.get_run(on).data.metrics
    assert {"system/cpu_utilization_percentage", "system/system_memory_usage_megabytes"} <= set(logged)


def test_a_dataset_logged_by_two_drivers_at_once_is_tried_again(tmp_path, monkeypatch):
    """A server refuses the second of two identical dataset inserts made at once (a unique key): the
    run tries again and gets its input; a store that keeps refusing costs a warning, never the trial."""
    from mlflow.exceptions import MlflowException

    tracker = Tracker(f"sqlite:///{tmp_path}/mlflow.db")
    parent = tracker.parent_run(SWEEP_ID, {"name": "synth"})
    real, calls = tracker.client._client.log_inputs, []

    def collide_once(run_id, datasets):
        calls.append(run_id)
        if len(calls) == 1:
            raise MlflowException("UNIQUE constraint failed: datasets.experiment_id, datasets.name")
        return real(run_id, datasets=datasets)

    monkeypatch.setattr(tracker.client._client, "log_inputs", collide_once)
    run_id = tracker.child_run(parent, SWEEP_ID, RECORDS[0].spec)
    assert len(calls) == 2 and tracker.client.get_run(run_id).inputs.dataset_inputs[0].dataset.name.startswith("grid-")

    def refuse(run_id, datasets):
        raise MlflowException("UNIQUE constraint failed")

    monkeypatch.setattr(tracker.client._client, "log_inputs", refuse)
    with pytest.warns(RuntimeWarning, match="its dataset was not logged"):
        other = tracker.child_run(parent, SWEEP_ID, RECORDS[1].spec)
    assert tracker.client.get_run(other).info.status == "RUNNING"


def test_sync_and_the_report_read_results_without_torch():
    import subprocess
    import sys

    code = ("import sys\nimport caseray.cli.sync, caseray.sweep.results, caseray.sweep.storage\n"
            "import caseray.sweep.tracking\n"
            "import caseray.trial.result, caseray.report.build, caseray.report.sweep_report\n"
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)
