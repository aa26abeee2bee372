"""A sweep on Ray's own autoscaler (the fake multi-node provider: every "node" a raylet on this
machine). The cluster starts as a head alone carrying ``caseray_driver`` and no CPUs, like the
autoscaling configs in clusters/; the trials need CPUs, which only worker nodes have. The autoscaler
must add workers for the queued trials, every trial must finish on a worker with its MLflow run (an
MLflow server: a multi-node sweep refuses sqlite) and its outputs in an object store (a local S3:
it refuses a local disk), and the idle workers must then be removed."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from caseray.sweep.storage import Store
from caseray.sweep.tracking import Tracker
from helpers import free_port, mlflow_server, s3_server, stop_ray_head

pytestmark = pytest.mark.slow
RAY = str(Path(sys.executable).parent / "ray")
MAX_WORKERS = 2
IDLE_MINUTES = 0.1  # 6 s


def fake_cluster_config(port: int) -> dict:
    """A cluster-launcher config for Ray's fake provider (the launcher's keys, with no cloud)."""
    return {
        "cluster_name": "caseray-fake", "max_workers": MAX_WORKERS, "head_node_type": "ray.head.default",
        "provider": {"type": "fake_multinode", "gcs_address": f"127.0.0.1:{port}", "use_node_id_as_ip": True,
                     "disable_node_updaters": True, "disable_launch_config_check": True},
        "available_node_types": {
            "ray.head.default": {"resources": {"CPU": 0, "caseray_driver": 1}, "node_config": {}, "max_workers": 0},
            "cpu_worker": {"resources": {"CPU": 1}, "node_config": {}, "min_workers": 0, "max_workers": MAX_WORKERS},
        },
        "upscaling_speed": 1.0, "idle_timeout_minutes": IDLE_MINUTES, "auth": {}, "docker": {},
        "file_mounts": {}, "cluster_synced_files": [], "file_mounts_sync_continuously": False,
        "rsync_exclude": [], "rsync_filter": [], "initialization_commands": [], "setup_commands": [],
        "head_setup_commands": [], "worker_setup_commands": [], "head_start_ray_commands": [],
        "worker_start_ray_commands": [],
    }


@pytest.fixture
def s3(monkeypatch):
    with s3_server() as env:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        yield env


@pytest.fixture
def autoscaling_cluster(tmp_path, s3):
    """A head with the autoscaler (test-only: 127.0.0.1, token auth off; its nodes get the S3
    endpoint and keys from its environment); yields (address, environment for its clients)."""
    port = free_port()
    config = tmp_path / "cluster.json"
    config.write_text(json.dumps(fake_cluster_config(port)))
    env = {**os.environ, **s3, "RAY_AUTH_MODE": "disabled", "RAY_FAKE_CLUSTER": "1",
           "AUTOSCALER_UPDATE_INTERVAL_S": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    subprocess.run([RAY, "start", "--head", f"--autoscaling-config={config}", "--node-ip-address", "127.0.0.1",
                    "--port", str(port), "--num-cpus", "0", "--resources", json.dumps({"caseray_driver": 1}),
                    "--include-dashboard", "false", "--object-store-memory", str(200 * 1024 * 1024),
                    "--disable-usage-stats"], env=env, check=True, capture_output=True, timeout=180)
    try:
        yield f"127.0.0.1:{port}", {**env, "RAY_ADDRESS": f"127.0.0.1:{port}"}
    finally:
        stop_ray_head(port)  # this head only: never `ray stop`, which ends every Ray here


def read_log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def trial_errors() -> str:
    """Ray Tune's error files of the latest session (for a failure message)."""
    files = Path("/tmp/ray/session_latest/artifacts").glob("*/*/driver_artifacts/*/error.txt")
    return "\n".join(f.read_text()[-2000:] for f in files)


def test_a_sweep_scales_the_cluster_up_and_back_down(autoscaling_cluster, tmp_path):
    address, env = autoscaling_cluster
    with mlflow_server(tmp_path) as (uri, _):
        spec = tmp_path / "sweep.yaml"
        spec.write_text(yaml.safe_dump({
            "name": "autoscale", "storage_path": f"s3://sweeps/{tmp_path.name}", "tracking_uri": uri,
            "base": {"task": {"high": 19}, "split": {"center": [10, 10], "half_width": 3}, "save_model": False,
                     "train": {"steps": 40, "batch_size": 32, "log_every": 20}},
            "axes": {"seed": [0, 1, 2]}, "resources": {"cpus_per_trial": 1}}))
        log = tmp_path / "nodes.jsonl"
        watcher = subprocess.Popen([sys.executable, str(Path(__file__).with_name("node_log.py")), address, str(log)],
                                   env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 60
            while not (log.exists() and read_log(log)):
                assert watcher.poll() is None and time.time() < deadline, "the node log did not start"
                time.sleep(0.5)
            assert read_log(log)[0]["workers"] == []  # the head alone: no CPU for any trial
            sweep = subprocess.run([sys.executable, "-m", "caseray.cli", "sweep", "run", str(spec)], env=env,
                                   capture_output=True, text=True, timeout=420)
            assert sweep.returncode == 0, sweep.stdout[-3000:] + sweep.stderr[-3000:] + trial_errors()
            deadline = time.time() + 120
            while read_log(log)[-1]["workers"] and time.time() < deadline:  # idle workers go after IDLE_MINUTES
                time.sleep(1)
        finally:
            watcher.kill()
        samples = read_log(log)
        changes = [(s["t"], len(s["workers"])) for i, s in enumerate(samples)
                   if i == 0 or len(s["workers"]) != len(samples[i - 1]["workers"])]
        print("alive workers over time (s, n):", changes)
        assert max(len(s["workers"]) for s in samples) == MAX_WORKERS  # 3 queued trials asked for 2 workers
        assert samples[-1]["workers"] == [], "idle workers were not removed"

        tracker = Tracker(uri)
        sweep_id = tracker.sweep_ids()[0]
        children = tracker.children(tracker.parent_of(sweep_id))
        assert len(children) == 3 and all(c.info.status == "FINISHED" for c in children)
        placed = {c.data.tags["caseray.trial"]: c.data.tags["caseray.node_id"] for c in children}
        print("trial placement:", placed)
        workers_seen = {w for s in samples for w in s["workers"]}
        assert set(placed.values()) <= workers_seen and not set(placed.values()) & set(samples[0]["heads"])
        store = Store(f"s3://sweeps/{tmp_path.name}")
        for child in children:
            assert "cells.parquet" in {a.path for a in tracker.client.list_artifacts(child.info.run_id)}
            assert store.exists("trials", child.data.tags["caseray.trial"], "metrics.json")
        assert store.exists(sweep_id, "sweep.json") and store.exists(sweep_id, "tuner.pkl")  # Tune's state too
        assert store.exists(sweep_id, "report", "report.md")  # the sweep's report, uploaded
