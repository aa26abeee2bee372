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
import threading
import time
from pathlib import Path

import pytest

from caseray.specs import from_dict
from caseray.sweep import SweepSpec
from caseray.tracking import Tracker
from caseray.storage import Store
from helpers import free_port, mlflow_server, s3_server

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
def autoscaling_cluster(tmp_path, monkeypatch, s3):
    """A head with the autoscaler (test-only: 127.0.0.1, token auth off; its nodes get the S3
    endpoint and keys from its environment); yields its address."""
    port = free_port()
    config = tmp_path / "cluster.json"
    config.write_text(json.dumps(fake_cluster_config(port)))
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_FAKE_CLUSTER": "1", "AUTOSCALER_UPDATE_INTERVAL_S": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    subprocess.run([RAY, "start", "--head", f"--autoscaling-config={config}", "--node-ip-address", "127.0.0.1",
                    "--port", str(port), "--num-cpus", "0", "--resources", json.dumps({"caseray_driver": 1}),
                    "--include-dashboard", "false", "--object-store-memory", str(200 * 1024 * 1024),
                    "--disable-usage-stats"], env=env, check=True, capture_output=True, timeout=180)
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{port}")
    try:
        yield f"127.0.0.1:{port}"
    finally:
        import ray

        ray.shutdown()
        subprocess.run([RAY, "stop", "--force"], env=env, capture_output=True, timeout=120)


class NodeLog:
    """Alive worker nodes over time, sampled every half second from the GCS."""

    def __init__(self):
        self.samples: list[tuple[float, int]] = []
        self.workers_seen: set[str] = set()
        self._stop = threading.Event()
        self._start = time.time()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def workers(self) -> list[str]:
        import ray

        return [n["NodeID"] for n in ray.nodes() if n["Alive"] and not n["Resources"].get("caseray_driver")]

    def _poll(self):
        while not self._stop.is_set():
            alive = self.workers()
            self.workers_seen.update(alive)
            self.samples.append((round(time.time() - self._start, 1), len(alive)))
            time.sleep(0.5)

    def stop(self):
        self._stop.set()
        self._thread.join()

    def changes(self) -> list[tuple[float, int]]:
        """(seconds, alive workers) whenever the count changed."""
        return [s for i, s in enumerate(self.samples) if i == 0 or s[1] != self.samples[i - 1][1]]


def test_a_sweep_scales_the_cluster_up_and_back_down(autoscaling_cluster, tmp_path):
    import ray

    from caseray.ray_sweep import run_sweep

    with mlflow_server(tmp_path) as (uri, _):
        sweep = from_dict(SweepSpec, {
            "name": "autoscale", "storage_path": f"s3://sweeps/{tmp_path.name}", "tracking_uri": uri,
            "base": {"task": {"high": 19}, "split": {"center": [10, 10], "half_width": 3}, "save_model": False,
                     "train": {"steps": 40, "batch_size": 32, "log_every": 20}},
            "axes": {"seed": [0, 1, 2]}, "resources": {"cpus_per_trial": 1}})
        ray.init(address=autoscaling_cluster, log_to_driver=False)
        head = ray.get_runtime_context().get_node_id()
        nodes = NodeLog()
        assert nodes.workers() == []  # the head alone: no CPU for any trial
        outcomes = run_sweep(sweep)
        deadline = time.time() + 120
        while nodes.workers() and time.time() < deadline:  # idle workers go after IDLE_MINUTES
            time.sleep(1)
        nodes.stop()
        print("alive workers over time (s, n):", nodes.changes())

        assert all(o.error is None and o.metrics for o in outcomes), [o.error for o in outcomes]
        assert max(n for _, n in nodes.samples) == MAX_WORKERS  # the queue of 3 trials asked for 2 workers
        assert nodes.samples[-1][1] == 0, "idle workers were not removed"
        tracker = Tracker(uri)
        children = tracker.children(tracker.parent_of(sweep.id))
        assert len(children) == 3 and all(c.info.status == "FINISHED" for c in children)
        placed = {c.data.tags["caseray.trial"]: c.data.tags["caseray.node_id"] for c in children}
        print("trial placement:", placed)
        assert head not in placed.values() and set(placed.values()) <= nodes.workers_seen
        store = Store(sweep.storage_path)
        for child in children:
            assert "cells.parquet" in {a.path for a in tracker.client.list_artifacts(child.info.run_id)}
            assert store.exists("trials", child.data.tags["caseray.trial"], "metrics.json")
        assert store.exists(sweep.id, "sweep.json") and store.exists(sweep.id, "tuner.pkl")  # Tune's state too
