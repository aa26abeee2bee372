"""Many trial drivers on one MLflow store at once: a sqlite file and a local ``mlflow server``.

Each driver is its own process (spawned) doing what a sweep's trial driver does against the store --
``Tracker(uri)``, ``parent_run``, ``child_run``, progress through ``log_metrics``, ``finish_trial``
with a finished trial folder -- all released at one barrier, so the first open of a fresh store,
the experiment's creation, the parent run's and every write really collide. Checked: no lost run,
no duplicate run, no failed driver ("database is locked" or any other), every child FINISHED with
its metrics once per step and its artifacts.
"""

import json
import multiprocessing as mp
import time
from pathlib import Path

import pytest

from caseray.core.local_folders import FOLDERS_FILE
from caseray.core.specs import from_dict
from caseray.sweep.storage import RESULT_FILES
from caseray.trial.result import CURVE
from caseray.trial.spec import TrialSpec
from helpers import mlflow_server

STEPS = (5, 10, 15)
LOGGED = set(RESULT_FILES) - {FOLDERS_FILE, CURVE}  # (no path: or hf: folders, no curve; the PNG: a stand-in)


def trial_spec(seed: int) -> TrialSpec:
    return from_dict(TrialSpec, {"task": {"high": 19}, "split": {"center": [10, 10], "half_width": 3}, "seed": seed})


class Result:
    """What ``finish_trial`` reads of a ``TrialResult``."""

    def __init__(self, out_dir: Path, metrics: dict):
        self.out_dir, self.metrics = out_dir, metrics


def write_trial(folder: Path, spec: TrialSpec) -> Result:
    """A finished trial's folder as ``run_trial`` leaves it (tiny files, the same names)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = folder / spec.name
    out.mkdir(parents=True, exist_ok=True)
    metrics = {"train/steps": STEPS[-1], "test_acc": 0.5, "train_acc": 1.0}
    (out / "spec.json").write_text(json.dumps(spec.to_dict()))
    pq.write_table(pa.table({"a": [1, 2], "b": [3, 4], "accuracy": [1.0, 0.0]}), out / "cells.parquet")
    (out / "holemap.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (out / "metrics.json").write_text(json.dumps(metrics))
    return Result(out, metrics)


def drive(uri: str, sweep_id: str, seed: int, folder: str, barrier) -> tuple[str, str | None]:
    """One trial driver: (its sweep id, the error it met or None)."""
    from caseray.sweep.tracking import Tracker

    spec = trial_spec(seed)
    result = write_trial(Path(folder), spec)
    barrier.wait(timeout=240)
    try:
        tracker = Tracker(uri)
        parent = tracker.parent_run(sweep_id, {"name": sweep_id.rsplit("-", 1)[0], "tracking_uri": uri})
        run_id = tracker.child_run(parent, sweep_id, spec)
        for step in STEPS:
            tracker.log_metrics(run_id, {"train/loss": 1.0 / step, "train/lr": 1e-3}, step)
        tracker.finish_trial(run_id, result)
        return sweep_id, None
    except Exception as err:  # counted, not raised: the test reports every failure at once
        return sweep_id, f"{type(err).__name__}: {err}"


def run_drivers(uri: str, sweeps: dict[str, int], folder: Path) -> list[tuple[str, str | None]]:
    """``sweeps``: sweep id -> number of trial drivers; all of them started together."""
    jobs = [(sweep_id, seed) for sweep_id, n in sweeps.items() for seed in range(n)]
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager, ctx.Pool(len(jobs)) as pool:
        barrier = manager.Barrier(len(jobs))
        return pool.starmap(drive, [(uri, s, seed, str(folder), barrier) for s, seed in jobs])


def check_store(uri: str, sweeps: dict[str, int], outcomes) -> None:
    from caseray.sweep.tracking import Tracker

    failures = [err for _, err in outcomes if err]
    locked = [err for err in failures if "database is locked" in err]
    assert not failures, f"{len(failures)} drivers failed ({len(locked)} 'database is locked'): {failures[:3]}"
    tracker = Tracker(uri)
    for sweep_id, n in sweeps.items():
        parents = tracker.client.search_runs(
            [tracker.experiment_id], f"tags.`caseray.sweep_id` = '{sweep_id}' and tags.`caseray.kind` = 'sweep'")
        assert len(parents) == 1, f"{sweep_id}: {len(parents)} parent runs"
        children = tracker.children(parents[0].info.run_id)
        hashes = [c.data.tags["caseray.spec_hash"] for c in children]
        assert sorted(hashes) == sorted(trial_spec(seed).hash for seed in range(n)), \
            f"{sweep_id}: {n} trials, {len(children)} child runs ({len(hashes) - len(set(hashes))} duplicated)"
        for child in children:
            assert child.info.status == "FINISHED"
            history = tracker.client.get_metric_history(child.info.run_id, "train/loss")
            assert sorted(m.step for m in history) == list(STEPS)
            assert {a.path for a in tracker.client.list_artifacts(child.info.run_id)} == LOGGED


# 16 drivers at once, of two sweeps at once: 8 race for each parent run, all 16 for the fresh store
TWO_SWEEPS = {"left-11111111": 8, "right-22222222": 8}


@pytest.mark.slow
def test_sixteen_drivers_of_two_sweeps_on_one_sqlite_store(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    check_store(uri, TWO_SWEEPS, run_drivers(uri, TWO_SWEEPS, tmp_path / "trials"))


@pytest.mark.slow
def test_sixteen_drivers_of_two_sweeps_on_one_mlflow_server(tmp_path):
    with mlflow_server(tmp_path) as (uri, _):
        check_store(uri, TWO_SWEEPS, run_drivers(uri, TWO_SWEEPS, tmp_path / "trials"))


@pytest.mark.slow
def test_a_servers_election_remakes_a_deleted_run_passes_a_dead_claim_and_hides_its_claims(tmp_path, monkeypatch):
    from caseray.sweep.tracking import CLAIM, CLAIMED_BY, Tracker, runs

    monkeypatch.setattr(runs, "CLAIM_WAIT_S", 1.0)
    with mlflow_server(tmp_path) as (uri, _):
        tracker = Tracker(uri, retry_s=0)
        claim = f"{CLAIM}/{tracker.experiment_id}/sweep"
        first = tracker.parent_run("s-1", {})
        assert tracker.parent_run("s-1", {}) == first  # found, not elected again
        tracker.client.delete_run(first)
        second = tracker.parent_run("s-1", {})  # claim #0 names a deleted run: claim #1 makes another
        assert second != first and tracker.parent_of("s-1") == second
        assert tracker.client.get_experiment_by_name(f"{claim}/s-1#1").tags[CLAIMED_BY] == second

        tracker.client.create_experiment(f"{claim}/s-2#0")  # a winner that died before naming its run
        started = time.time()
        made = tracker.parent_run("s-2", {})
        assert time.time() - started >= 1.0 and tracker.parent_of("s-2") == made
        assert tracker.client.get_experiment_by_name(f"{claim}/s-2#1").tags[CLAIMED_BY] == made

        shown = {e.name for e in tracker.client.search_experiments()}  # the UI's list: claims are deleted
        assert not any(name.startswith(CLAIM) for name in shown - {f"{claim}/s-2#0"})
