"""Ray, in one module: a sweep's trials as a Ray Tune grid.

Each Tune trial is a small driver function. With ``backend: inline`` it runs the trial right there
(the fast path for tiny single-process CPU trials: no worker group to start). Every trial logs to
its own MLflow child run under the sweep's parent run (caseray.tracking) and writes its outputs to
``<storage>/trials/<trial name>/``, so a retried, resumed or repeated trial is found again, not rerun.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

from caseray.data import cache_root
from caseray.specs import from_dict
from caseray.sweep import SweepSpec, sweep_to_dict
from caseray.tracking import Tracker, absolute_uri, numeric
from caseray.trial import run_trial
from caseray.trial_spec import TrialSpec

LOCAL_OBJECT_STORE = 256 * 1024 * 1024  # Ray's default takes ~30% of RAM; tiny trials need little


@dataclass
class TrialOutcome:
    spec: TrialSpec
    metrics: dict
    out_dir: Path | None
    error: str | None


def _trial_fn(config: dict) -> None:
    """The Tune trainable: one trial, logged to MLflow, reported to Tune."""
    from ray import tune

    os.environ["CASERAY_CACHE"] = config["cache_dir"]
    spec = from_dict(TrialSpec, config["spec"])
    tracker = Tracker(config["tracking_uri"])
    run_id = tracker.child_run(config["parent_run_id"], config["sweep_id"], spec)

    def report(step: int, metrics: dict) -> None:
        tracker.log_metrics(run_id, metrics, step)
        tune.report({**numeric(metrics), "step": step})

    try:
        result = run_trial(spec, config["trials_dir"], on_report=report)
    except BaseException:
        tracker.fail(run_id)
        raise
    tracker.finish_trial(run_id, result)
    tune.report({**numeric(result.metrics), "trial_done": 1})


def _trial_name(trial) -> str:
    """Tune's trial names and folders: the trial spec's own name (hash-based, never a timestamp)."""
    return from_dict(TrialSpec, trial.config["spec"]).name


def init_ray(num_cpus: int | None = None) -> None:
    import ray

    if ray.is_initialized():
        return
    if os.environ.get("RAY_ADDRESS"):  # inside `ray job submit`, or pointed at a cluster
        ray.init(address=os.environ["RAY_ADDRESS"], log_to_driver=False)
    else:  # an embedded local Ray: loopback only, small object store
        ray.init(num_cpus=num_cpus, include_dashboard=False, object_store_memory=LOCAL_OBJECT_STORE,
                 log_to_driver=False, _node_ip_address="127.0.0.1")


def storage_root(sweep: SweepSpec) -> str:
    path = sweep.storage_path
    return path if "://" in path else str(Path(path).resolve())


def run_sweep(sweep: SweepSpec, resume: bool = False, num_cpus: int | None = None) -> list[TrialOutcome]:
    """Run every trial of ``sweep`` on Ray Tune; ``resume`` continues a crashed sweep."""
    specs = sweep.trials()  # every grid cell validated before Ray starts
    import ray
    from ray import tune

    root = storage_root(sweep)
    tracking_uri = absolute_uri(sweep.tracking_uri)
    tracker = Tracker(tracking_uri)
    parent = tracker.parent_run(sweep.id, sweep_to_dict(sweep))
    init_ray(num_cpus)
    res = sweep.resources
    threads = max(1, int(res.cpus_per_trial))
    config = {
        "spec": tune.grid_search([replace(s, threads=threads).to_dict() for s in specs]),
        "tracking_uri": tracking_uri, "parent_run_id": parent, "sweep_id": sweep.id,
        "trials_dir": f"{root}/trials", "cache_dir": str(cache_root().resolve()),
    }
    trainable = tune.with_resources(_trial_fn, {"cpu": res.cpus_per_trial, "gpu": res.gpus_per_trial})
    slots = res.max_concurrent_trials or max(1, int(ray.cluster_resources().get("CPU", 1) // res.cpus_per_trial))
    experiment = f"{root}/{sweep.id}"
    if resume and tune.Tuner.can_restore(experiment):
        tuner = tune.Tuner.restore(experiment, trainable, resume_errored=True)
    else:
        tuner = tune.Tuner(trainable, param_space=config,
                           tune_config=tune.TuneConfig(max_concurrent_trials=slots, trial_name_creator=_trial_name,
                                                       trial_dirname_creator=_trial_name),
                           run_config=tune.RunConfig(name=sweep.id, storage_path=root, verbose=1,
                                                     failure_config=tune.FailureConfig(max_failures=1)))
    grid = tuner.fit()
    outcomes = []
    for result in grid:
        spec = from_dict(TrialSpec, result.config["spec"])
        out = Path(config["trials_dir"]) / spec.name
        done = (out / "metrics.json").exists()
        metrics = json.loads((out / "metrics.json").read_text()) if done else {}
        outcomes.append(TrialOutcome(spec, metrics, out if done else None,
                                     None if result.error is None else str(result.error)))
    tracker.end_sweep(parent, ok=all(o.error is None and o.metrics for o in outcomes))
    return outcomes
