"""A sweep on Ray, in phases (``run_sweep``): its trials as a Ray Tune grid, each trial run inline or on Ray Train.

Each Tune trial is a small driver function (Ray Train V2's Tune pattern). With ``backend: inline`` it
runs the trial right there (the fast path for tiny single-process CPU trials: no worker group to
start); with ``ddp`` or ``deepspeed`` it builds a ``TorchTrainer`` whose workers run the same trial
function data-parallel, checkpoint through ``ray.train.report`` and resume from
``ray.train.get_checkpoint()`` when Ray restarts them. Every trial logs to its own MLflow child run
(from rank 0 only) under the sweep's parent run (caseray.sweep.tracking), and writes its outputs to
``<storage>/trials/<trial name>/``, so a retried, resumed or repeated trial is found again, not rerun
(with an object store, through a staging folder on the trial's node: caseray.sweep.storage). An
inline trial checkpoints through Tune too, into the sweep's storage, so a trial whose node is lost
resumes on another from its last checkpoint.

Credentials in the tracking URI never reach Tune's param space (which Tune writes to its experiment
files) or a printout: the config carries the redacted URI; the real one travels to the drivers and
workers as a function argument (``tune.with_parameters``, a closure for Ray Train's workers).
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
from dataclasses import dataclass, replace
from pathlib import Path

from caseray.core.errors import SpecError, WriteFailed
from caseray.data.datasets import cache_root
from caseray.sweep import summary
from caseray.sweep.ray.drivers import CHECKPOINTS_KEPT, MAX_FAILURES, TrialJob, finished, trial_dirname, trial_driver
from caseray.sweep.ray.environment import signals_to_caseray
from caseray.sweep.ray.preflight import RUN_CONFIG_TAG, check, concurrent_trials, driver_resources, run_config
from caseray.sweep.results import pair_controls, write_manifest
from caseray.sweep.spec import SweepSpec, waves
from caseray.sweep.tracking import Tracker, TrackingUnavailable
from caseray.trial.spec import TrialSpec, stored_spec


@dataclass
class TrialOutcome:
    spec: TrialSpec
    metrics: dict
    out_dir: Path | None
    error: str | None


def run_sweep(sweep: SweepSpec, resume: bool = False, num_cpus: int | None = None) -> list[TrialOutcome]:
    """Run every trial of ``sweep`` on Ray Tune (``resume``: continue a crashed sweep), in phases:
    ``check`` (every refusal, before anything is written: trials, a resume's run config, Ray, storage),
    then the MLflow parent run, ``start`` (its run config, the manifest), ``tune_trials`` (one driver
    per trial; the trials others start from, ``init``, in a wave before them), ``collect`` (each
    trial's outcome) and ``pair_controls`` (square trials get ``hole_depth`` from their finished
    random-split controls). Once made, the parent run ends
    FINISHED, FAILED (a trial failed, or any exception) or KILLED (SIGINT / SIGTERM)."""
    specs, root, tracking_uri = check(sweep, resume, num_cpus)
    try:
        tracker = Tracker(tracking_uri)
        parent = tracker.parent_run(sweep.id, sweep.to_dict())
    except TrackingUnavailable as err:  # down from the start: nothing has run yet
        raise SpecError("tracking_uri", f"{err}; start the server or pick another store",
                        ["an MLflow server that answers", "sqlite:///<file>"]) from None
    with parent_run_ended(tracker, parent):
        job = start(sweep, specs, root, tracking_uri, tracker, parent)
        outcomes, stages = [], waves(specs)
        for i, wave in enumerate(stages):  # pretraining trials finish before their fine-tunes start
            experiment = f"{sweep.id}-pretraining" if i < len(stages) - 1 else sweep.id
            outcomes += collect(wave, job, tune_trials(sweep, wave, job, resume, tracking_uri, experiment))
        pair_controls(outcomes, job.storage, tracker, job.parent_run_id, sweep.id)
        tracker.log_summary(parent, *summary.columns(outcomes), summary.sweep_metrics(outcomes))
        tracker.end_sweep(parent, ok=all(o.error is None and o.metrics for o in outcomes))
    return outcomes


class Terminated(BaseException):
    """SIGTERM during a sweep, raised so that the sweep's parent run is ended (Ray's driver handler exits)."""


@contextlib.contextmanager
def parent_run_ended(tracker: Tracker, run_id: str):
    """The sweep's parent run ends KILLED on SIGINT / SIGTERM and FAILED on any other exception. While
    it runs (in the main thread) SIGTERM raises ``Terminated`` and SIGINT ``KeyboardInterrupt`` (Tune's
    own handler, which ends the loop quietly, is off)."""
    with _signals_raise():
        try:
            yield
        except BaseException as err:
            with contextlib.suppress(Exception):  # the error itself goes on, whatever the store says
                tracker.client.set_terminated(run_id, "KILLED" if isinstance(err, (KeyboardInterrupt, Terminated))
                                              else "FAILED")
            raise


@contextlib.contextmanager
def _signals_raise():
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield
        return

    def terminated(signum, frame):
        raise Terminated(f"signal {signum}")

    before = signal.signal(signal.SIGTERM, terminated)
    try:
        with signals_to_caseray():
            yield
    finally:
        signal.signal(signal.SIGTERM, before)


def start(sweep: SweepSpec, specs: list[TrialSpec], root: str, tracking_uri: str, tracker: Tracker,
          parent: str) -> TrialJob:
    """The run config on the parent run and the manifest (redacted), and the sweep's ``TrialJob``."""
    config = run_config(sweep, root, tracking_uri)
    tracker.client.set_tag(parent, RUN_CONFIG_TAG, json.dumps(config))
    write_manifest(root, sweep.id, sweep.to_dict(), [s.name for s in specs], config)
    res = sweep.resources
    return TrialJob(sweep_id=sweep.id, tracking_uri=tracking_uri, parent_run_id=parent, storage=root,
                    train_storage=f"{root}/{sweep.id}/train",
                    cache_dir=str(cache_root().resolve()), max_failures=MAX_FAILURES, backend=res.backend,
                    runtime=res.runtime(), num_workers=res.num_workers, cpus_per_worker=res.cpus_per_worker,
                    gpus_per_worker=res.gpus_per_worker, axes=sweep.axis_names())


def tune_trials(sweep: SweepSpec, specs: list[TrialSpec], job: TrialJob, resume: bool, tracking_uri: str,
                experiment: str):
    """A Tune grid with one driver per trial (``trial_driver``), as many at once as fit; its results.
    The config holds the job redacted; the real tracking URI goes to the drivers as a parameter.
    ``experiment``: Tune's name for it (a sweep's pretraining wave is an experiment of its own)."""
    import ray
    from ray import tune

    res = sweep.resources
    threads = max(1, int(res.cpus_per_worker))
    config = {"spec": tune.grid_search([replace(s, threads=threads).to_dict() for s in specs]),
              "job": job.redacted().to_dict()}
    driver = tune.with_parameters(trial_driver, tracking_uri=tracking_uri)
    if res.backend == "inline":
        trainable = tune.with_resources(driver, {"cpu": res.cpus_per_trial, "gpu": res.gpus_per_trial})
    else:  # the driver only waits; the trial's Ray Train workers hold its CPUs and GPUs
        trainable = tune.with_resources(driver, driver_resources(ray.cluster_resources()))
    slots = res.max_concurrent_trials or concurrent_trials(ray.cluster_resources(), res, len(specs))
    if resume and tune.Tuner.can_restore(f"{job.storage}/{experiment}"):
        return tune.Tuner.restore(f"{job.storage}/{experiment}", trainable, resume_errored=True).fit()
    tuner = tune.Tuner(trainable, param_space=config,
                       tune_config=tune.TuneConfig(max_concurrent_trials=slots, trial_name_creator=trial_dirname,
                                                   trial_dirname_creator=trial_dirname,
                                                   reuse_actors=res.backend == "inline"),  # no re-import per trial
                       run_config=tune.RunConfig(name=experiment, storage_path=job.storage, verbose=1,
                                                 failure_config=tune.FailureConfig(max_failures=MAX_FAILURES),
                                                 checkpoint_config=tune.CheckpointConfig(
                                                     num_to_keep=CHECKPOINTS_KEPT)))
    return tuner.fit()


def collect(specs: list[TrialSpec], job: TrialJob, grid) -> list[TrialOutcome]:
    """Each trial's outcome: its finished results (from the results folder or object store) and error."""
    by_name = {s.name: s for s in specs}
    outcomes = []
    for result in grid:  # a trial that failed before it started has no config: its folder names it
        spec = stored_spec(result.config["spec"]) if result.config else by_name[Path(result.path).name]
        done = finished(job, spec)
        outcomes.append(TrialOutcome(spec, done.metrics if done else {}, done.out_dir if done else None,
                                     error_text(result.error)))
    return outcomes


def error_text(error) -> str | None:
    """A failed trial's error as the user reads it: a refused write (``WriteFailed``) or bad input as its
    one line, wherever Ray wrapped it; anything else in full (its remote traceback)."""
    seen = error
    while seen is not None:
        if getattr(seen, "cause", None) is not None:  # Ray's RayTaskError (and its copy posing as the cause)
            seen = seen.cause
        elif isinstance(seen, (WriteFailed, SpecError)):
            return f"{type(seen).__name__}: {seen}"
        else:
            seen = seen.__cause__
    return None if error is None else str(error)
