"""SIGKILL a Ray Train worker in the middle of a trial (real processes, real Ray, CPU DDP over gloo):
Ray Train restarts the worker group, the trial resumes from its last registered checkpoint, and its
weights and per-cell results equal an uninterrupted run's; MLflow holds one run for the trial."""

import json
import os
import signal
import threading
import time

import psutil
import pyarrow.parquet as pq
import pytest
import torch

from helpers import check_one_finished_child, model_weights, ray_train_sweep

pytestmark = pytest.mark.slow


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
    from caseray.sweep.ray import run_sweep

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
    a, b = model_weights(straight.out_dir), model_weights(outcome.out_dir)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert pq.read_table(straight.out_dir / "cells.parquet").equals(pq.read_table(outcome.out_dir / "cells.parquet"))
    check_one_finished_child(sweep, steps, resumed=True)
