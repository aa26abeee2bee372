"""One trial on Ray: the Tune driver function (``trial_driver``: finds or makes the trial's MLflow run, then
runs the trial inline or as a Ray Train job) and the checkpoint adapters that let Tune and Ray Train
keep and restore a trial's checkpoints."""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from caseray.core.redact import redact
from caseray.core.specs import from_dict, to_dict
from caseray.sweep.storage import (
    pull_trial,
    push_trial,
    trials_folder,
)
from caseray.sweep.tracking import Tracker, numeric
from caseray.train.engine import world
from caseray.train.runtime import Runtime
from caseray.trial.result import load_result
from caseray.trial.run import run_trial
from caseray.trial.spec import TrialSpec, stored_spec

MAX_FAILURES = 1  # retries of a failed trial (Tune) and of a failed worker group (Ray Train)
CHECKPOINTS_KEPT = 2  # an inline trial's newest checkpoints Tune keeps in the storage


@dataclass(frozen=True)
class TrialJob:
    """Everything a trial's driver and its Ray Train workers need besides the trial spec: one frozen,
    typed object for every trial of a sweep. It travels through Tune's config as a plain mapping
    (Tune stores configs to restore a sweep, and a restored object came back as a tuple) and is
    rebuilt, strictly, by ``from_dict`` at each end."""

    sweep_id: str
    # absolute (a relative sqlite path would move with each worker's directory); redacted in Tune's and
    # Ray Train's configs, the real one put back by ``connect`` in the process that reaches MLflow
    tracking_uri: str
    parent_run_id: str  # the sweep's MLflow parent run
    storage: str  # the results root: a folder or an object-store URI
    train_storage: str  # Ray Train's run storage (checkpoints of ddp / deepspeed trials)
    cache_dir: str  # the datasets' parquet cache, the same for every process
    max_failures: int
    backend: str  # inline | ddp | deepspeed
    runtime: Runtime
    num_workers: int
    cpus_per_worker: float
    gpus_per_worker: float
    run_id: str | None = None  # the trial's MLflow child run, set by its driver
    axes: tuple[str, ...] = ()  # the sweep's axes: tags on each child run

    def to_dict(self) -> dict:
        return to_dict(self)

    def connect(self, tracking_uri: str) -> TrialJob:
        """This job with the real tracking URI (credentials included), held in memory only."""
        if redact(tracking_uri) != self.tracking_uri:
            raise RuntimeError("the tracking URI handed to a trial is not the sweep's")
        return replace(self, tracking_uri=tracking_uri)

    def redacted(self) -> TrialJob:
        return replace(self, tracking_uri=redact(self.tracking_uri))

    @property
    def trials_dir(self) -> str:
        """Where trials write on this node (an object store: this node's own staging folder)."""
        return trials_folder(self.storage)


def _run(spec: TrialSpec, job: TrialJob, send, checkpoints=None) -> None:
    """One trial on this process (a Tune driver, or one Ray Train worker): rank 0 logs to MLflow;
    every rank sends progress through ``send`` (Tune's or Train's report) the same number of times."""
    tracker = Tracker(job.tracking_uri) if world()[0] == 0 else None
    run_id = job.run_id
    if tracker is not None:  # where the trial trains: the placement one sees in the MLflow UI
        import ray

        tracker.client.set_tag(run_id, "caseray.node_id", ray.get_runtime_context().get_node_id())

    def report(step: int, metrics: dict) -> None:
        if tracker is not None:
            tracker.log_metrics(run_id, metrics, step)
        send({**numeric(metrics), "step": step})

    pull_trial(job.storage, spec.name)  # finished in an object store: found again, not rerun
    if spec.init is not None:  # its pretraining trial finished in an earlier wave: its weights, here
        pull_trial(job.storage, spec.init.trial.name, weights=True)
    with tracker.system_metrics(run_id) if tracker is not None else contextlib.nullcontext():
        result = run_trial(spec, job.trials_dir, on_report=report, runtime=job.runtime, checkpoints=checkpoints,
                           cache=job.cache_dir, run_pretraining=False)
    if tracker is not None:
        push_trial(job.storage, spec.name)
        tracker.finish_trial(run_id, result)
    send({**numeric(result.metrics), "trial_done": 1})


def load_checkpoint(checkpoint, engine) -> int:
    """A Ray checkpoint (or None) into ``engine``; the step to resume from (0: none)."""
    if checkpoint is None:
        return 0
    with checkpoint.as_directory() as directory:
        return engine.load(Path(directory))


class RayCheckpoints:
    """A Ray Train worker's checkpoints: saved by ``ray.train.report`` into the run's storage (every
    rank reports the files it wrote; Ray merges them), restored from ``ray.train.get_checkpoint()``."""

    def restore(self, engine) -> int:
        import ray.train

        return load_checkpoint(ray.train.get_checkpoint(), engine)

    def save(self, engine, step: int, metrics: dict) -> None:
        import ray.train

        with tempfile.TemporaryDirectory() as directory:
            engine.save(Path(directory), step)
            wrote = any(Path(directory).iterdir())
            ray.train.report({**numeric(metrics), "step": step}, checkpoint_dir_name=f"step-{step:08d}",
                             checkpoint=ray.train.Checkpoint.from_directory(directory) if wrote else None)


class TuneCheckpoints:
    """An inline trial's checkpoints: reported to Tune (``tune.report``), which keeps the newest
    ``CHECKPOINTS_KEPT`` in the sweep's storage (an object store: uploaded), and restored from
    ``tune.get_checkpoint()`` -- a trial retried on another node, or resumed, goes on from there."""

    def restore(self, engine) -> int:
        from ray import tune

        return load_checkpoint(tune.get_checkpoint(), engine)

    def save(self, engine, step: int, metrics: dict) -> None:
        from ray import tune

        with tempfile.TemporaryDirectory() as directory:
            engine.save(Path(directory), step)
            tune.report({**numeric(metrics), "step": step}, checkpoint=tune.Checkpoint.from_directory(directory))


def _train_worker_with(tracking_uri: str):
    """The per-worker function of a Ray Train trial (a closure: the real tracking URI stays out of
    Ray Train's config)."""

    def train_worker(config: dict) -> None:
        import ray.train
        import ray.train.torch
        import torch

        if torch.cuda.is_available():
            torch.cuda.set_device(ray.train.torch.get_device())
        job = from_dict(TrialJob, config["job"]).connect(tracking_uri)
        _run(stored_spec(config["spec"]), job, ray.train.report, RayCheckpoints())

    return train_worker


def _fit(spec: TrialSpec, job: TrialJob) -> None:
    """Run one trial as a Ray Train job (called in its Tune driver)."""
    import ray.train
    from ray.train.torch import TorchConfig, TorchTrainer
    from ray.tune.integration.ray_train import TuneReportCallback

    use_gpu = job.gpus_per_worker > 0
    per_worker = {"CPU": job.cpus_per_worker, **({"GPU": job.gpus_per_worker} if use_gpu else {})}
    trainer = TorchTrainer(
        _train_worker_with(job.tracking_uri),
        train_loop_config={"spec": spec.to_dict(), "job": job.redacted().to_dict()},
        torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
        scaling_config=ray.train.ScalingConfig(num_workers=job.num_workers, use_gpu=use_gpu,
                                               resources_per_worker=per_worker),
        run_config=ray.train.RunConfig(
            name=spec.name, storage_path=job.train_storage, callbacks=[TuneReportCallback()],
            failure_config=ray.train.FailureConfig(max_failures=job.max_failures),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=2)))
    trainer.fit()


def finished(job: TrialJob, spec: TrialSpec):
    """The trial's result if it has finished (in the results folder or object store), else None."""
    pull_trial(job.storage, spec.name)
    return load_result(spec, job.trials_dir)


def trial_driver(config: dict, tracking_uri: str) -> None:
    """The Tune trainable (a trial's driver; ``tracking_uri`` through ``tune.with_parameters``): finds
    or makes the trial's MLflow run, then runs the trial inline or as a Ray Train job."""
    from ray import tune

    spec, job = stored_spec(config["spec"]), from_dict(TrialJob, config["job"]).connect(tracking_uri)
    tracker = Tracker(job.tracking_uri)
    job = replace(job, run_id=tracker.child_run(job.parent_run_id, job.sweep_id, spec, job.axes, job.cache_dir))
    try:
        if job.backend == "inline":
            _run(spec, job, tune.report, TuneCheckpoints())
        else:
            if finished(job, spec) is None:  # a finished trial is not started again
                _fit(spec, job)
            result = finished(job, spec)
            if result is None:
                raise RuntimeError(f"Ray Train ended trial {spec.name} without writing its results")
            tracker.finish_trial(job.run_id, result)
            tune.report({**numeric(result.metrics), "trial_done": 1})
    except BaseException:
        tracker.fail(job.run_id)
        raise


def trial_dirname(trial) -> str:
    """Tune's trial names and folders: the trial spec's own name (hash-based, never a timestamp)."""
    return stored_spec(trial.config["spec"]).name
