"""A sweep whose driver is SIGKILLed mid-sweep: ``--resume`` finishes only the unfinished trials, and
MLflow ends with one parent and exactly one child run per trial (real processes, real Ray)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from caseray.core.specs import from_dict
from caseray.sweep.spec import SweepSpec
from caseray.sweep.tracking import Tracker

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]


def sweep_command(spec: Path, *extra: str) -> list[str]:
    # one CPU: trials run one after another, so the kill lands between finished and unfinished ones
    return [sys.executable, "-m", "caseray.cli", "sweep", "run", str(spec), "--num-cpus", "1", *extra]


def kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL the driver and every process it started (its embedded Ray included)."""
    family = psutil.Process(proc.pid).children(recursive=True)
    os.killpg(proc.pid, signal.SIGKILL)
    for child in family:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    proc.wait(timeout=60)


def test_resume_after_the_driver_is_killed(tmp_path):
    data = {"name": "crash", "storage_path": str(tmp_path / "out"), "tracking_uri": f"sqlite:///{tmp_path}/mlflow.db",
            "base": {"task": {"high": 19}, "split": {"center": [10, 10], "half_width": 3}, "save_model": False,
                     "train": {"steps": 150, "batch_size": 32, "log_every": 50}},
            "axes": {"seed": [0, 1, 2]}}
    spec_file = tmp_path / "sweep.yaml"
    spec_file.write_text(yaml.safe_dump(data))
    sweep = from_dict(SweepSpec, data)
    trials = tmp_path / "out" / "trials"
    env = {**os.environ, "CASERAY_CACHE": str(tmp_path / "cache")}

    driver = subprocess.Popen(sweep_command(spec_file), cwd=REPO, env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 400
    while time.time() < deadline and len(list(trials.glob("*/metrics.json"))) < 1:
        assert driver.poll() is None, "the sweep ended before it could be killed"
        time.sleep(0.2)
    kill_tree(driver)
    finished = {p.parent.name: p.stat().st_mtime_ns for p in trials.glob("*/metrics.json")}
    assert 1 <= len(finished) < 3, finished

    resumed = subprocess.run(sweep_command(spec_file, "--resume"), cwd=REPO, env=env, capture_output=True,
                             text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "3 trials in" in resumed.stdout
    done = {p.parent.name: p.stat().st_mtime_ns for p in trials.glob("*/metrics.json")}
    assert len(done) == 3
    assert all(done[name] == mtime for name, mtime in finished.items())  # finished trials were not re-run

    tracker = Tracker(sweep.tracking_uri)
    (parent,) = tracker.client.search_runs([tracker.experiment_id], "tags.`caseray.kind` = 'sweep'")
    assert parent.info.run_name == sweep.id and parent.info.status == "FINISHED"
    children = tracker.children(parent.info.run_id)
    assert sorted(c.data.tags["caseray.trial"] for c in children) == sorted(done)  # one run a trial, none twice
    for child in children:
        assert child.info.status == "FINISHED"
        assert {a.path for a in tracker.client.list_artifacts(child.info.run_id)} == {
            "holemap.png", "holemap.html", "cells.parquet", "spec.json", "metrics.json", "images"}
