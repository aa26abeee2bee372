"""MLflow under faults: secrets never reach a param, tag or warning; a retried trial's run runs again;
a real sweep's server killed for 30 s (calls wait and land, nothing lost or twice) or down past the retry
budget (the trial still finishes, ``caseray sync`` logs it later, idempotently)."""

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
import warnings
from pathlib import Path

import pytest
from mlflow.exceptions import MlflowException
from test_shared_stores import LOGGED, trial_spec, write_trial

from caseray.cli.main import main
from caseray.core.errors import SpecError
from caseray.sweep.results import write_manifest
from caseray.sweep.tracking import Retrying, Tracker, TrackingUnavailable
from helpers import free_port

SECRET_URI = "s3://AKIAKEY:hunter2@bucket/sweeps?X-Amz-Signature=deadbeef"


def test_params_and_tags_are_redacted(tmp_path):
    tracker = Tracker(f"sqlite:///{tmp_path}/mlflow.db")
    parent = tracker.parent_run("s-0a1b2c3d", {"storage_path": SECRET_URI, "tracking_uri": "http://bob:pw9@host:5000"})
    child = tracker.child_run(parent, "s-0a1b2c3d", trial_spec(0))
    logged = json.dumps([tracker.client.get_run(r).data.to_dictionary() for r in (parent, child)])
    assert "hunter2" not in logged and "deadbeef" not in logged and "pw9" not in logged
    params = tracker.client.get_run(parent).data.params
    assert params["storage_path"] == "s3://***@bucket/sweeps?X-Amz-Signature=***"
    assert params["tracking_uri"] == "http://***@host:5000"


def test_warnings_and_errors_name_the_redacted_uri(tmp_path):
    uri = f"http://alice:s3cret@127.0.0.1:{free_port()}"  # nothing listens there
    with warnings.catch_warnings(record=True) as caught, pytest.raises(TrackingUnavailable) as err:
        warnings.simplefilter("always")
        Tracker(uri, retry_s=1.5)
    shown = [str(w.message) for w in caught]
    assert len(shown) == 1 and shown[0].startswith(f"MLflow at {uri.replace('alice:s3cret', '***')} is unreachable")
    assert "s3cret" not in str(err.value) + "".join(shown)


class Flaky:
    """A client whose ``call`` fails ``n`` times with ``error()`` and then answers."""

    def __init__(self, n: int, error):
        self.n, self.error, self.calls = n, error, 0

    def call(self, x):
        self.calls += 1
        if self.calls <= self.n:
            self.error()
        return x


def sqlite_locked():
    """What MLflow's sqlite store raises while another writer holds the file."""
    import sqlalchemy.exc

    try:
        raise sqlalchemy.exc.OperationalError("INSERT", {}, Exception("database is locked"))
    except sqlalchemy.exc.OperationalError as e:
        raise MlflowException(message=str(e), error_code="TEMPORARILY_UNAVAILABLE") from e


def not_found():
    raise MlflowException("run 'abc' not found", error_code="RESOURCE_DOES_NOT_EXIST")


def test_a_locked_sqlite_store_is_retried_quietly():
    client = Flaky(3, sqlite_locked)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert Retrying(client, "sqlite:////x/mlflow.db", retry_s=30).call(7) == 7
    assert client.calls == 4 and not caught  # contention, not an outage: no warning
    client = Flaky(1, not_found)
    with pytest.raises(MlflowException, match="not found"):
        Retrying(client, "sqlite:////x/mlflow.db", retry_s=30).call(7)
    assert client.calls == 1  # a real error is raised at once


def test_a_bad_retry_budget_is_a_spec_error(tmp_path, monkeypatch):
    monkeypatch.setenv("CASERAY_TRACKING_RETRY_S", "soon")
    with pytest.raises(SpecError, match="CASERAY_TRACKING_RETRY_S: 'soon' is not a number of seconds"):
        Tracker(f"sqlite:///{tmp_path}/mlflow.db")


def test_a_retried_trial_runs_again_and_ends_finished(tmp_path):
    tracker = Tracker(f"sqlite:///{tmp_path}/mlflow.db")
    parent = tracker.parent_run("s-0a1b2c3d", {"name": "s"})
    spec = trial_spec(0)
    first = tracker.child_run(parent, "s-0a1b2c3d", spec)
    tracker.fail(first)  # the first attempt crashed
    assert tracker.client.get_run(first).info.status == "FAILED"
    assert tracker.child_run(parent, "s-0a1b2c3d", spec) == first  # the retry finds it ...
    assert tracker.client.get_run(first).info.status == "RUNNING"  # ... and runs it again
    tracker.finish_trial(first, write_trial(tmp_path, spec))
    assert tracker.child_run(parent, "s-0a1b2c3d", spec) == first
    assert tracker.client.get_run(first).info.status == "FINISHED"  # a finished run stays finished
    assert len(tracker.children(parent)) == 1


def test_sync_of_an_unknown_sweep_is_a_clear_error(tmp_path, capsys):
    write_manifest(tmp_path, "grid-11111111", {}, [])
    assert main(["sync", "grid-2", "--storage", str(tmp_path), "--tracking-uri", f"sqlite:///{tmp_path}/m.db"]) == 2
    err = capsys.readouterr().err
    assert "sweep: no sweep 'grid-2'" in err and "grid-11111111" in err  # the ones there
    assert not (tmp_path / "m.db").exists()


def start_server(folder: Path, port: int) -> subprocess.Popen:
    """``caseray ui`` on ``folder``'s sqlite store at ``port`` (as tests/helpers.py's mlflow_server,
    but on a port of our choosing, so a restarted server answers at the same URI)."""
    proc = subprocess.Popen([sys.executable, "-m", "caseray.cli", "ui", "--tracking-uri",
                             f"sqlite:///{folder}/mlflow.db", "--port", str(port)], cwd=folder,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return proc
        except OSError:
            assert proc.poll() is None and time.time() < deadline, "the MLflow server did not come up"
            time.sleep(0.5)


def kill(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, 9)
    proc.wait(timeout=30)


@contextlib.contextmanager
def server(folder: Path, port: int):
    procs = [start_server(folder, port)]
    try:
        yield procs
    finally:
        kill(procs[-1])


OUTAGE_S = 30  # the server down mid-sweep, as the issue sets it


def sync(storage, uri, capsys) -> str:
    assert main(["sync", "s-0a1b2c3d", "--storage", str(storage), "--tracking-uri", uri]) == 0
    return capsys.readouterr().out


@pytest.mark.slow
def test_server_down_past_the_budget_then_sync(tmp_path, capsys):
    """Down longer than the retry budget: progress is dropped with one warning (later calls do not
    wait again), the trial finishes anyway, and ``caseray sync`` logs it once the server is back."""
    port, storage = free_port(), tmp_path / "sweeps"
    spec = trial_spec(0)
    result = write_trial(storage / "trials", spec)
    write_manifest(storage, "s-0a1b2c3d", {"name": "s"}, [spec.name, trial_spec(1).name])  # one never ran
    uri = f"http://carol:pw7@127.0.0.1:{port}"  # the server takes no login; the URI's secret must not show
    with server(tmp_path, port) as procs:
        tracker = Tracker(uri, retry_s=2)
        run_id = tracker.child_run(tracker.parent_run("s-0a1b2c3d", {"name": "s"}), "s-0a1b2c3d", spec)
        kill(procs[0])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            start = time.time()
            tracker.log_metrics(run_id, {"train/loss": 1.0}, 5)
            waited, start = time.time() - start, time.time()
            tracker.log_metrics(run_id, {"train/loss": 0.5}, 10)
            tracker.finish_trial(run_id, result)
            assert 1.5 < waited < 10 and time.time() - start < 2  # the budget is spent once per outage
        said = [str(w.message) for w in caught]
        assert len(said) == 2 and "is unreachable" in said[0] and "`caseray sync`" in said[1]
        assert "pw7" not in "".join(said)
        procs.append(start_server(tmp_path, port))
        assert tracker.client.get_run(run_id).info.status == "RUNNING"
        said = sync(storage, uri, capsys)
        assert f"1 logged to MLflow at http://***@127.0.0.1:{port}" in said and "pw7" not in said
        assert "0 logged" in sync(storage, uri, capsys)  # twice: nothing new
        (child,) = tracker.children(tracker.parent_of("s-0a1b2c3d"))
        assert child.info.run_id == run_id and child.info.status == "FINISHED"
        assert {a.path for a in tracker.client.list_artifacts(run_id)} == LOGGED
        assert tracker.client.get_run(tracker.parent_of("s-0a1b2c3d")).info.status == "RUNNING"  # 1 of 2 ran


@pytest.mark.slow
def test_sync_fills_a_fresh_store_from_a_real_trial(tmp_path, capsys):
    from caseray.trial.run import run_trial
    from helpers import tiny_spec

    storage = tmp_path / "sweeps"
    spec = tiny_spec()
    run_trial(spec, storage / "trials")
    write_manifest(storage, "s-0a1b2c3d", {"name": "s", "storage_path": SECRET_URI}, [spec.name])
    uri = f"sqlite:///{tmp_path}/fresh.db"
    assert "1 of 1 trials finished" in sync(storage, uri, capsys)
    assert "0 logged" in sync(storage, uri, capsys)
    tracker = Tracker(uri)
    parent = tracker.client.get_run(tracker.parent_of("s-0a1b2c3d"))
    assert parent.info.status == "FINISHED" and parent.data.params["storage_path"].startswith("s3://***@bucket")
    (child,) = tracker.children(parent.info.run_id)
    metrics = json.loads((storage / "trials" / spec.name / "metrics.json").read_text())
    assert child.info.status == "FINISHED" and child.data.metrics["test_acc"] == pytest.approx(metrics["test_acc"])
    assert child.data.params["seed"] == str(spec.seed) and child.data.tags["caseray.spec_hash"] == spec.hash
    assert {a.path for a in tracker.client.list_artifacts(child.info.run_id)} >= LOGGED | {"images"}


@pytest.mark.slow
def test_a_real_sweep_rides_out_a_server_outage(ray_local, tmp_path):
    """A real two-trial sweep (Ray, inline trials) whose server is killed once the first progress is
    logged and is back 30 s later: the sweep finishes, every run and step lands once."""
    import threading

    from caseray.core.specs import from_dict
    from caseray.sweep.ray import run_sweep
    from caseray.sweep.spec import SweepSpec

    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    sweep = from_dict(SweepSpec, {
        "name": "outage", "storage_path": str(tmp_path / "out"), "tracking_uri": uri,
        "base": {"task": {"high": 19}, "split": {"center": [10, 10], "half_width": 3}, "save_model": False,
                 "train": {"steps": 60, "batch_size": 32, "log_every": 10}},
        "axes": {"tokenizer": ["number", "digit"]}})
    killed = []
    with server(tmp_path, port) as procs:
        def outage():
            tracker = Tracker(uri)
            while not tracker.client.search_runs([tracker.experiment_id], "metrics.`train/loss` > 0"):
                time.sleep(0.2)
            kill(procs[0])
            killed.append(time.time())
            time.sleep(OUTAGE_S)
            procs.append(start_server(tmp_path, port))

        thread = threading.Thread(target=outage, daemon=True)
        thread.start()
        outcomes = run_sweep(sweep)
        ended = time.time()
        thread.join(timeout=300)
        assert killed and killed[0] + OUTAGE_S < ended  # down while the sweep ran, which waited for it
        assert all(o.error is None and o.metrics for o in outcomes) and len(outcomes) == 2
        assert all((tmp_path / "out" / "trials" / o.spec.name / "metrics.json").exists() for o in outcomes)
        tracker = Tracker(uri)
        (parent,) = tracker.client.search_runs([tracker.experiment_id], "tags.`caseray.kind` = 'sweep'")
        assert parent.info.status == "FINISHED"
        children = tracker.children(parent.info.run_id)
        assert sorted(c.data.tags["caseray.trial"] for c in children) == sorted(o.spec.name for o in outcomes)
        for child in children:
            assert child.info.status == "FINISHED"
            steps = [m.step for m in tracker.client.get_metric_history(child.info.run_id, "train/loss")]
            assert sorted(steps) == [10, 20, 30, 40, 50, 60]


@contextlib.contextmanager
def answering(status: int, body: str, delay: float = 0.0):
    """A local HTTP server that answers every request with ``status`` and ``body`` after ``delay`` s."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def answer(self):
            time.sleep(delay)
            self.send_response(status)
            self.end_headers()
            self.wfile.write(body.encode())

        do_GET = do_POST = answer

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def mlflow_error(uri: str) -> Exception:
    import mlflow

    with pytest.raises(Exception) as caught:
        mlflow.MlflowClient(tracking_uri=uri).get_experiment_by_name("x")
    return caught.value


LOCKED = '{"error_code": "TEMPORARILY_UNAVAILABLE", "message": "database is locked"}'


@pytest.mark.parametrize("status, body, delay, retried", [
    (500, "Internal Server Error", 0, True),  # an overloaded or failing server
    (502, "Bad Gateway", 0, True),  # a proxy before a restarting server
    (503, LOCKED, 0, True),  # the server's own store busy
    (429, "Too Many Requests", 0, True),
    (200, "{}", 3, True),  # no answer within MLFLOW_HTTP_REQUEST_TIMEOUT
    (404, "Not Found", 0, False),  # not an MLflow server: retrying cannot help
    (400, '{"error_code": "INVALID_PARAMETER_VALUE", "message": "database is locked"}', 0, False),
])
def test_what_is_retried_is_judged_by_type_and_code(status, body, delay, retried, monkeypatch):
    from caseray.sweep.tracking import transient

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "1")
    with answering(status, body, delay) as uri:
        assert transient(mlflow_error(uri)) is retried


def test_a_server_that_is_not_there_and_a_busy_sqlite_are_retried_and_bugs_are_not(monkeypatch):
    from caseray.sweep.tracking import busy, transient

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    assert transient(mlflow_error(f"http://127.0.0.1:{free_port()}"))  # connection refused
    with pytest.raises(MlflowException) as locked:
        sqlite_locked()
    assert transient(locked.value) and busy(locked.value)
    assert not transient(MlflowException("exists", error_code="RESOURCE_ALREADY_EXISTS"))
    assert not transient(ValueError("API request to x failed with exception: database is locked"))
