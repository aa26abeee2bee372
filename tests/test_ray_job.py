"""The user's command, for real: `ray job submit --working-dir . -- …` against a local Ray head.

The head is started as the README says, with Ray's defaults: `ray start` turns token authentication
on, and the job CLI sends the token only with `RAY_AUTH_MODE=token` (the README's command). The token
lives in a file of the test's own (`RAY_AUTH_TOKEN_PATH`), never in `~/.ray`. The job runs a tiny
sweep; the MLflow store must then hold one parent run and every child run with its artifacts.
"""

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from caseray.sweep.tracking import Tracker
from helpers import free_port, stop_ray_head

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
RAY = str(Path(sys.executable).parent / "ray")


@pytest.fixture
def ray_head(tmp_path):
    # the head (and so the job) must use this interpreter's environment, activated or not
    token = tmp_path / "ray_token"
    token.write_text(secrets.token_hex(32))
    token.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN")}
    env.update(RAY_AUTH_TOKEN_PATH=str(token),
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    port, dash = free_port(), free_port()
    subprocess.run([RAY, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port),
                    "--dashboard-host", "127.0.0.1", "--dashboard-port", str(dash), "--num-cpus", "2",
                    "--object-store-memory", str(300 * 1024 * 1024), "--disable-usage-stats"],
                   env=env, check=True, capture_output=True, timeout=180)
    try:
        yield f"http://127.0.0.1:{dash}", env
    finally:
        stop_ray_head(port)  # this head only: never `ray stop`, which ends every Ray here


def test_ray_job_submit_runs_a_sweep_into_mlflow(ray_head, tmp_path):
    address, env = ray_head
    spec = tmp_path / "sweep.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "job", "storage_path": str(tmp_path / "out"), "tracking_uri": f"sqlite:///{tmp_path}/mlflow.db",
        "base": {"task": {"high": 19}, "split": {"center": [10, 10], "half_width": 3}, "save_model": False,
                 "train": {"steps": 20, "batch_size": 32, "log_every": 10}},
        "axes": {"tokenizer": ["number", "digit"]}}))
    env = {**env, "CASERAY_CACHE": str(tmp_path / "cache")}
    submit = [RAY, "job", "submit", "--address", address, "--working-dir", str(REPO), "--",
              sys.executable, "-m", "caseray.cli", "sweep", "run", str(spec)]
    refused = subprocess.run(submit, env=env, capture_output=True, text=True, timeout=120, cwd=REPO)
    assert refused.returncode != 0 and "Token authentication is enabled" in refused.stdout + refused.stderr
    for _ in range(10):  # a head just started may not have its job agent yet ("try again later")
        job = subprocess.run(submit, env={**env, "RAY_AUTH_MODE": "token"}, capture_output=True, text=True,
                             timeout=600, cwd=REPO)
        if "No available agent to submit job" not in job.stderr:
            break
        time.sleep(3)
    assert job.returncode == 0, job.stdout[-3000:] + job.stderr[-3000:]
    assert "succeeded" in job.stdout + job.stderr and "2 trials in" in job.stdout
    tracker = Tracker(f"sqlite:///{tmp_path}/mlflow.db")
    parents = tracker.client.search_runs([tracker.experiment_id], "tags.`caseray.kind` = 'sweep'")
    assert len(parents) == 1
    children = tracker.children(parents[0].info.run_id)
    assert len(children) == 2 and all(c.info.status == "FINISHED" for c in children)
    for child in children:
        assert {a.path for a in tracker.client.list_artifacts(child.info.run_id)} == {
            "holemap.png", "holemap.html", "cells.parquet", "spec.json", "metrics.json", "images"}
    # the sweep's report, written at its end and attached to the parent run
    assert "report: " in job.stdout
    report = {a.path for a in tracker.client.list_artifacts(parents[0].info.run_id, "report")}
    assert {"report/report.md", "report/holemaps.png", "report/summary.csv"} <= report
