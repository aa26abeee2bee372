"""A worker node lost in the middle of an inline trial whose results go to an object store (Ray's
multi-node test cluster, a local S3, an MLflow server): the trial is retried on the other node from
the last checkpoint it reported to Tune, and ends bit-identical to an uninterrupted run."""

import os
import threading
import time

import pytest
import torch

from caseray.core.specs import from_dict
from caseray.sweep.spec import SweepSpec
from caseray.sweep.storage import Store
from caseray.sweep.tracking import Tracker
from caseray.trial.run import run_trial
from helpers import mlflow_server, model_weights, s3_server

pytestmark = pytest.mark.slow
STEPS = 100


@pytest.fixture
def cluster(tmp_path, monkeypatch):
    """A head without CPUs and two 1-CPU worker nodes, each with its own temp dir (so its own staging
    folder, as on separate machines; the driver too), all reaching the local S3."""
    import tempfile

    import ray
    from ray.cluster_utils import Cluster

    (tmp_path / "driver").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "driver"))  # this test's own staging folder
    with s3_server() as env:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
        for name in ("a", "b"):
            (tmp_path / f"node-{name}").mkdir()
            cluster.add_node(num_cpus=1, env_vars={"TMPDIR": str(tmp_path / f"node-{name}")})
        ray.init(address=cluster.address, log_to_driver=False)
        cluster.wait_for_nodes()
        try:
            yield cluster
        finally:
            ray.shutdown()
            cluster.shutdown()


def lose_the_trials_node(cluster, sweep: SweepSpec, lost: list) -> None:
    """Once the trial has logged step 30 (so reported its step-20 checkpoint), kill the node it runs on."""
    tracker = Tracker(sweep.tracking_uri)
    deadline = time.time() + 300
    while time.time() < deadline:
        runs = tracker.client.search_runs([tracker.experiment_id], "tags.`caseray.kind` = 'trial'")
        if runs and (node_id := runs[0].data.tags.get("caseray.node_id")):
            steps = [m.step for m in tracker.client.get_metric_history(runs[0].info.run_id, "train/loss")]
            if max(steps, default=0) >= 30:
                (node,) = [n for n in cluster.worker_nodes if n.node_id == node_id]
                cluster.remove_node(node, allow_graceful=False)
                lost.append(node_id)
                return
        time.sleep(0.05)


def test_a_trial_on_a_lost_node_resumes_elsewhere(cluster, tmp_path):
    from caseray.sweep.ray import run_sweep

    with mlflow_server(tmp_path) as (uri, _):
        sweep = from_dict(SweepSpec, {
            "name": "lost", "storage_path": f"s3://sweeps/{tmp_path.name}", "tracking_uri": uri,
            "base": {"task": {"high": 19}, "split": {"center": [10, 10], "half_width": 3}, "tokenizer": "digit",
                     "train": {"steps": STEPS, "batch_size": 32, "log_every": 10, "checkpoint_every": 10}},
            "axes": {"seed": [0]}})
        lost = []
        killer = threading.Thread(target=lose_the_trials_node, args=(cluster, sweep, lost))
        killer.start()
        (outcome,) = run_sweep(sweep)
        killer.join()
    assert lost, "the trial's node was never lost"
    assert outcome.error is None and outcome.metrics["train/steps"] == STEPS
    assert 20 <= outcome.metrics["train/resumed_from"] < STEPS  # from a checkpoint, not from scratch
    Store(sweep.storage_path).download(tmp_path / "lost" / "model" / "model.safetensors",
                                       "trials", outcome.spec.name, "model", "model.safetensors")
    straight = run_trial(outcome.spec, tmp_path / "straight")  # the same trial, never interrupted
    a, b = model_weights(straight.out_dir), model_weights(tmp_path / "lost")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert os.listdir(tmp_path / "node-a") and os.listdir(tmp_path / "node-b")  # staged on both nodes
