"""Trials on Ray Train workers (real Ray, 2 CPU workers over gloo): DDP and DeepSpeed ZeRO-2 give the
one-process result, log once to MLflow, and a killed worker resumes from its last Ray checkpoint."""

import json
import os
import signal
import threading
import time

import psutil
import pytest
import torch
from safetensors.torch import load_file

from caseray.specs import from_dict
from caseray.sweep import SweepSpec
from caseray.tracking import Tracker
from caseray.trial import run_trial

pytestmark = pytest.mark.slow

BASE = {"task": {"high": 19}, "split": {"center": [10, 10], "half_width": 3}, "tokenizer": "digit",
        "train": {"steps": 40, "batch_size": 32, "log_every": 10, "checkpoint_every": 10}}


def ray_train_sweep(tmp_path, backend: str, steps: int = 40, **resources) -> SweepSpec:
    return from_dict(SweepSpec, {
        "name": f"rt-{backend}", "storage_path": str(tmp_path / "out"), "tracking_uri": f"sqlite:///{tmp_path}/mlflow.db",
        "resources": {"backend": backend, "num_workers": 2, "cpus_per_trial": 2, **resources},
        "base": {**BASE, "train": {**BASE["train"], "steps": steps}}, "axes": {"seed": [0]}})


def weights(out_dir) -> dict:
    return load_file(out_dir / "model" / "model.safetensors")


def assert_close_models(a: dict, b: dict, atol: float) -> None:
    assert a.keys() == b.keys()
    worst = max(float((a[k].float() - b[k].float()).abs().max()) for k in a)
    assert worst < atol, f"largest weight difference {worst:g}"


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    """The same trial in one process, no Ray: the reference for the data-parallel runs."""
    sweep = ray_train_sweep(tmp_path_factory.mktemp("ref"), "ddp")
    spec = sweep.trials()[0]
    return run_trial(spec, tmp_path_factory.mktemp("one"))


def check_mlflow(sweep: SweepSpec, steps: int, resumed: bool = False) -> None:
    tracker = Tracker(sweep.tracking_uri)
    (parent,) = tracker.client.search_runs([tracker.experiment_id], "tags.`caseray.kind` = 'sweep'")
    (child,) = tracker.children(parent.info.run_id)
    assert child.info.status == "FINISHED"
    assert {a.path for a in tracker.client.list_artifacts(child.info.run_id)} == {
        "holemap.png", "cells.parquet", "spec.json", "metrics.json"}
    history = tracker.client.get_metric_history(child.info.run_id, "train/loss")
    logged = [m.step for m in history]
    assert sorted(set(logged)) == list(range(10, steps + 1, 10))
    if not resumed:
        assert len(logged) == len(set(logged))  # rank 0 only: no duplicates


def test_ddp_two_workers_equal_one_process(ray_local, tmp_path, one_process):
    from caseray.ray_sweep import run_sweep

    sweep = ray_train_sweep(tmp_path, "ddp")
    (outcome,) = run_sweep(sweep)
    assert outcome.error is None and outcome.metrics["train/steps"] == 40
    # the global batch is split over 2 ranks; gradients average back to the one-process gradient
    assert_close_models(weights(outcome.out_dir), weights(one_process.out_dir), atol=1e-4)
    assert outcome.metrics["train/final_loss"] == pytest.approx(one_process.metrics["train/final_loss"], rel=1e-3)
    assert outcome.metrics["train/final_loss"] < 0.8 * first_loss(sweep)
    check_mlflow(sweep, 40)
    ckpts = sorted(p.name for p in (tmp_path / "out" / sweep.id / "train" / outcome.spec.name).glob("step-*"))
    assert ckpts == ["step-00000030", "step-00000040"]  # reported through ray.train.report, newest 2 kept


def first_loss(sweep: SweepSpec) -> float:
    tracker = Tracker(sweep.tracking_uri)
    (child,) = tracker.client.search_runs([tracker.experiment_id], "tags.`caseray.kind` = 'trial'")
    return tracker.client.get_metric_history(child.info.run_id, "train/loss")[0].value


def test_deepspeed_zero2_on_cpu_equals_one_process(ray_local, tmp_path, one_process):
    from caseray.ray_sweep import run_sweep

    sweep = ray_train_sweep(tmp_path, "deepspeed", zero_stage=2)
    (outcome,) = run_sweep(sweep)
    assert outcome.error is None
    # ZeRO's flat fp32 buffers and its own clipping differ from torch's in the last bits; Adam
    # amplifies that in near-zero gradients, so the match is close, not exact
    assert_close_models(weights(outcome.out_dir), weights(one_process.out_dir), atol=1e-3)
    assert outcome.metrics["train/final_loss"] == pytest.approx(one_process.metrics["train/final_loss"], rel=1e-3)
    check_mlflow(sweep, 40)
    (ckpt,) = (tmp_path / "out" / sweep.id / "train" / outcome.spec.name).glob("step-00000040")
    shards = sorted(p.name for p in (ckpt / "engine").glob("zero_pp_rank_*"))
    assert shards == ["zero_pp_rank_0_mp_rank_00_optim_states.pt", "zero_pp_rank_1_mp_rank_00_optim_states.pt"]


def train_workers(since: float) -> list[psutil.Process]:
    """Live Ray Train worker processes started after ``since`` (not a finished run's leftovers)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "create_time"]):
        if proc.info["create_time"] >= since and any("RayTrainWorker" in p for p in proc.info["cmdline"] or []):
            found.append(proc)
    return found


def registered_step(run_dir) -> int:
    """The step of the newest checkpoint Ray Train's controller has registered for this run (0: none)."""
    try:
        snapshot = json.loads((run_dir / "checkpoint_manager_snapshot.json").read_text())
        return int(snapshot["latest_checkpoint_result"]["metrics"]["step"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def test_killed_worker_resumes_from_its_last_checkpoint(ray_local, tmp_path):
    """SIGKILL a Ray Train worker once Ray has registered the step-50 checkpoint; the restarted group
    resumes from a checkpoint and ends exactly where an uninterrupted DDP run ends (CPU, deterministic)."""
    from caseray.ray_sweep import run_sweep

    steps = 400
    straight = run_sweep(ray_train_sweep(tmp_path / "straight", "ddp", steps=steps))[0]
    sweep = ray_train_sweep(tmp_path / "killed", "ddp", steps=steps)
    ckpt_root = tmp_path / "killed" / "out" / sweep.id / "train" / straight.spec.name
    killed, since = [], time.time()

    def kill_after_a_checkpoint():
        deadline = time.time() + 300
        while time.time() < deadline and not killed:
            if registered_step(ckpt_root) >= 50 and (workers := train_workers(since)):
                os.kill(workers[-1].pid, signal.SIGKILL)
                killed.append(workers[-1].pid)
            time.sleep(0.05)

    killer = threading.Thread(target=kill_after_a_checkpoint)
    killer.start()
    (outcome,) = run_sweep(sweep)
    killer.join()
    assert killed, "no worker was killed"
    assert outcome.error is None and outcome.metrics["train/steps"] == steps
    assert 50 <= outcome.metrics["train/resumed_from"] < steps  # resumed from a checkpoint, not from scratch
    assert straight.metrics["train/resumed_from"] == 0
    a, b = weights(straight.out_dir), weights(outcome.out_dir)
    assert all(torch.equal(a[k], b[k]) for k in a)
    check_mlflow(sweep, steps, resumed=True)
