"""Ray, in one module: a sweep's trials as a Ray Tune grid, each trial run inline or on Ray Train.

Each Tune trial is a small driver function (Ray Train V2's Tune pattern). With ``backend: inline`` it
runs the trial right there (the fast path for tiny single-process CPU trials: no worker group to
start); with ``ddp`` or ``deepspeed`` it builds a ``TorchTrainer`` whose workers run the same trial
function data-parallel, checkpoint through ``ray.train.report`` and resume from
``ray.train.get_checkpoint()`` when Ray restarts them. Every trial logs to its own MLflow child run
(from rank 0 only) under the sweep's parent run (caseray.sweep.tracking), and writes its outputs to
``<storage>/trials/<trial name>/``, so a retried, resumed or repeated trial is found again, not rerun
(with an object store, through a staging folder on the trial's node: caseray.sweep.storage).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from caseray.core.errors import SpecError
from caseray.core.specs import from_dict, to_dict
from caseray.data.datasets import cache_root
from caseray.sweep.results import pair_controls, write_manifest
from caseray.sweep.spec import SweepSpec
from caseray.sweep.storage import (
    Store,
    is_network_fs,
    is_remote,
    mount_type,
    pull_trial,
    push_trial,
    trials_folder,
)
from caseray.sweep.tracking import Tracker, absolute_uri, numeric
from caseray.train.engine import world
from caseray.train.runtime import Runtime
from caseray.trial.run import load_result, run_trial
from caseray.trial.spec import TrialSpec

LOCAL_OBJECT_STORE = 256 * 1024 * 1024  # Ray's default takes ~30% of RAM; tiny trials need little
# Ray Train polls its workers every few seconds by default, and each report waits for a poll
RAY_ENV = {"RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.2"}
MAX_FAILURES = 1  # retries of a failed trial (Tune) and of a failed worker group (Ray Train)
# a Ray Train trial's Tune driver only waits on its workers, which hold the CPUs: it asks for memory only
DRIVER_RESOURCES = {"cpu": 0, "memory": 128 * 1024 * 1024}
DRIVER_MARK = "caseray_driver"  # a custom resource clusters/*.yaml give the on-demand head node only


def driver_resources(cluster: dict) -> dict:
    """What a Ray Train trial's driver asks for: on a cluster whose nodes carry ``DRIVER_MARK`` the
    drivers stay on those nodes (never on preemptible workers); elsewhere memory only."""
    return {**DRIVER_RESOURCES, **({DRIVER_MARK: 0.01} if cluster.get(DRIVER_MARK) else {})}


@dataclass(frozen=True)
class TrialJob:
    """Everything a trial's driver and its Ray Train workers need besides the trial spec: one frozen,
    typed object for every trial of a sweep. It travels through Tune's config as a plain mapping
    (Tune stores configs to restore a sweep, and a restored object came back as a tuple) and is
    rebuilt, strictly, by ``from_dict`` at each end."""

    sweep_id: str
    tracking_uri: str  # absolute (a relative sqlite path would move with each worker's directory)
    parent_run_id: str  # the sweep's MLflow parent run
    storage: str  # the results root: a folder or an object-store URI
    trials_dir: str  # where trials write (an object store: a staging folder on the node)
    train_storage: str  # Ray Train's run storage (checkpoints of ddp / deepspeed trials)
    cache_dir: str  # the datasets' parquet cache, the same for every process
    max_failures: int
    backend: str  # inline | ddp | deepspeed
    runtime: Runtime
    num_workers: int
    cpus_per_worker: float
    gpus_per_worker: float
    run_id: str | None = None  # the trial's MLflow child run, set by its driver

    def to_dict(self) -> dict:
        return to_dict(self)


@dataclass
class TrialOutcome:
    spec: TrialSpec
    metrics: dict
    out_dir: Path | None
    error: str | None


def _run(spec: TrialSpec, job: TrialJob, send, checkpoints=None) -> None:
    """One trial on this process (a Tune driver, or one Ray Train worker): rank 0 logs to MLflow;
    every rank sends progress through ``send`` (Tune's or Train's report) the same number of times."""
    os.environ["CASERAY_CACHE"] = job.cache_dir
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
    result = run_trial(spec, job.trials_dir, on_report=report, runtime=job.runtime, checkpoints=checkpoints)
    if tracker is not None:
        push_trial(job.storage, spec.name)
        tracker.finish_trial(run_id, result)
    send({**numeric(result.metrics), "trial_done": 1})


class RayCheckpoints:
    """A Ray Train worker's checkpoints: saved by ``ray.train.report`` into the run's storage (every
    rank reports the files it wrote; Ray merges them), restored from ``ray.train.get_checkpoint()``."""

    def restore(self, engine) -> int:
        import ray.train

        checkpoint = ray.train.get_checkpoint()
        if checkpoint is None:
            return 0
        with checkpoint.as_directory() as directory:
            return engine.load(Path(directory))

    def save(self, engine, step: int, metrics: dict) -> None:
        import ray.train

        with tempfile.TemporaryDirectory() as directory:
            engine.save(Path(directory), step)
            wrote = any(Path(directory).iterdir())
            ray.train.report({**numeric(metrics), "step": step}, checkpoint_dir_name=f"step-{step:08d}",
                             checkpoint=ray.train.Checkpoint.from_directory(directory) if wrote else None)


def _train_worker(config: dict) -> None:
    """The per-worker function of a Ray Train trial."""
    import ray.train
    import ray.train.torch
    import torch

    if torch.cuda.is_available():
        torch.cuda.set_device(ray.train.torch.get_device())
    _run(from_dict(TrialSpec, config["spec"]), from_dict(TrialJob, config["job"]), ray.train.report, RayCheckpoints())


def _fit(spec: TrialSpec, job: TrialJob) -> None:
    """Run one trial as a Ray Train job (called in its Tune driver)."""
    import ray.train
    from ray.train.torch import TorchConfig, TorchTrainer
    from ray.tune.integration.ray_train import TuneReportCallback

    use_gpu = job.gpus_per_worker > 0
    per_worker = {"CPU": job.cpus_per_worker, **({"GPU": job.gpus_per_worker} if use_gpu else {})}
    trainer = TorchTrainer(
        _train_worker, train_loop_config={"spec": spec.to_dict(), "job": job.to_dict()},
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


def _trial_fn(config: dict) -> None:
    """The Tune trainable (a trial's driver): finds or makes the trial's MLflow run, then runs the
    trial inline or as a Ray Train job."""
    from ray import tune

    spec, job = from_dict(TrialSpec, config["spec"]), from_dict(TrialJob, config["job"])
    tracker = Tracker(job.tracking_uri)
    job = replace(job, run_id=tracker.child_run(job.parent_run_id, job.sweep_id, spec))
    try:
        if job.backend == "inline":
            _run(spec, job, tune.report)
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


def _trial_name(trial) -> str:
    """Tune's trial names and folders: the trial spec's own name (hash-based, never a timestamp)."""
    return from_dict(TrialSpec, trial.config["spec"]).name


def concurrent_trials(cluster: dict, res, n_trials: int) -> int:
    """How many trials to run at once on ``cluster`` (Ray's resource totals): as many as fit, or on an
    autoscaling cluster (one carrying ``DRIVER_MARK``) every trial, so the queue asks for nodes."""
    if cluster.get(DRIVER_MARK):
        return n_trials
    fits = [cluster.get("CPU", 1) // res.cpus_per_trial]
    if res.gpus_per_trial:
        fits.append(cluster.get("GPU", 0) // res.gpus_per_trial)
    return max(1, int(min(fits)))


def check_fits_this_machine(res, num_cpus: int | None) -> None:
    """An embedded Ray is this machine: a trial that can never fit it is refused before anything starts."""
    import torch

    cpus, gpus = num_cpus or os.cpu_count() or 1, torch.cuda.device_count()
    if res.gpus_per_trial > gpus:
        raise SpecError("resources.gpus_per_trial", f"{res.gpus_per_trial:g} GPU(s) per trial, but this machine "
                        f"has {gpus}", [f"<= {gpus}", "or a cluster (RAY_ADDRESS)"])
    if res.cpus_per_trial > cpus:
        raise SpecError("resources.cpus_per_trial", f"{res.cpus_per_trial:g} CPUs per trial, but the local Ray "
                        f"has {cpus}", [f"<= {cpus}", "or a cluster (RAY_ADDRESS)"])


def init_ray(num_cpus: int | None = None) -> None:
    import ray

    if ray.is_initialized():
        return
    if os.environ.get("RAY_ADDRESS"):  # inside `ray job submit`, or pointed at a cluster
        ray.init(address=os.environ["RAY_ADDRESS"], log_to_driver=False, runtime_env={"env_vars": RAY_ENV})
    else:  # an embedded local Ray: loopback only, small object store
        # Ray turns a 127.0.0.1 node address into the machine's LAN address (and then binds its servers
        # to every interface) unless it is told this is not a cluster: a one-machine Ray needs no LAN.
        from ray._private import ray_constants

        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # for Ray's own processes
        ray_constants.ENABLE_RAY_CLUSTER = False
        # address="local": a new Ray of our own, never the last `ray start` cluster (which may be dead)
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, object_store_memory=LOCAL_OBJECT_STORE,
                 log_to_driver=False, _node_ip_address="127.0.0.1", runtime_env={"env_vars": RAY_ENV})


def _exists(path: str) -> bool:
    return os.path.exists(path)


def check_cluster_storage(root: str, tracking_uri: str) -> None:
    """Trials on several nodes must share the results storage and one MLflow server: refuse a sweep
    that would scatter them, before anything is written. An object store is probed (write, read,
    delete) on any cluster. A cluster counts as multi-node when more than one node is alive or when
    it carries ``DRIVER_MARK`` (the autoscaling configs in clusters/, which start with the head
    alone); there a folder must be on a network filesystem, and every live node must see it."""
    import ray

    if is_remote(root):
        Store(root).probe()
    nodes = [n for n in ray.nodes() if n["Alive"]]
    scales = bool(ray.cluster_resources().get(DRIVER_MARK))
    if len(nodes) < 2 and not scales:
        return
    shape = f"{len(nodes)} node(s){' and scales with the queue' if scales else ''}"
    if tracking_uri.startswith(("sqlite:", "file:")):
        raise SpecError("tracking_uri", f"{tracking_uri} is a file on one machine, but the cluster has {shape}: "
                        "trials on other nodes would write to their own copies",
                        ["http(s)://<an MLflow server every node reaches>"])
    if is_remote(root):
        return
    shared = ["s3://bucket/prefix", "gs://bucket/prefix", "a path on a network filesystem (NFS, EFS, Filestore)"]
    kind = mount_type(root)
    if scales and not is_network_fs(kind):
        raise SpecError("storage_path", f"{root} is on a local disk ({kind or 'unknown filesystem'}), but the "
                        f"cluster has {shape}: nodes it adds would keep their trials' outputs to themselves", shared)
    _probe_nodes(root, nodes, shared)


def _probe_nodes(root: str, nodes: list, shared: list) -> None:
    """Every live node must see a file written here in ``root``."""
    import uuid

    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    Path(root).mkdir(parents=True, exist_ok=True)
    probe = Path(root) / f".caseray-probe-{uuid.uuid4().hex}"
    probe.touch()
    exists = ray.remote(num_cpus=0)(_exists)
    try:
        seen = ray.get([exists.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False))
                        .remote(str(probe)) for n in nodes])
    finally:
        probe.unlink()
    blind = [n["NodeManagerAddress"] for n, ok in zip(nodes, seen) if not ok]
    if blind:
        raise SpecError("storage_path", f"{root} is not visible from node(s) {', '.join(blind)}: trial outputs "
                        "must go where every node can read them", shared)


def storage_root(sweep: SweepSpec) -> str:
    return sweep.storage_path if is_remote(sweep.storage_path) else str(Path(sweep.storage_path).resolve())


def run_sweep(sweep: SweepSpec, resume: bool = False, num_cpus: int | None = None) -> list[TrialOutcome]:
    """Run every trial of ``sweep`` on Ray Tune (``resume``: continue a crashed sweep), in four phases:
    ``start`` (validate, Ray, storage checks, the MLflow parent run, the manifest), ``tune_trials``
    (one driver per trial), ``collect`` (each trial's outcome) and ``pair_controls`` (square trials
    get ``hole_depth`` from their finished random-split controls)."""
    specs, job, tracker = start(sweep, num_cpus)
    outcomes = collect(specs, job, tune_trials(sweep, specs, job, resume))
    pair_controls(outcomes, job.storage, tracker, job.parent_run_id, sweep.id)
    tracker.end_sweep(job.parent_run_id, ok=all(o.error is None and o.metrics for o in outcomes))
    return outcomes


def start(sweep: SweepSpec, num_cpus: int | None) -> tuple[list[TrialSpec], TrialJob, Tracker]:
    """Every trial validated, then Ray joined or started, the storage checked (before anything is
    written), the sweep's MLflow parent run found or made and its manifest written."""
    specs = sweep.trials()  # every grid cell validated before Ray starts
    if not os.environ.get("RAY_ADDRESS"):
        check_fits_this_machine(sweep.resources, num_cpus)
    root = storage_root(sweep)
    tracking_uri = absolute_uri(sweep.tracking_uri)
    init_ray(num_cpus)
    check_cluster_storage(root, tracking_uri)  # before anything is written
    tracker = Tracker(tracking_uri)
    parent = tracker.parent_run(sweep.id, sweep.to_dict())
    write_manifest(root, sweep.id, sweep.to_dict(), [s.name for s in specs])
    res = sweep.resources
    job = TrialJob(sweep_id=sweep.id, tracking_uri=tracking_uri, parent_run_id=parent, storage=root,
                   trials_dir=trials_folder(root), train_storage=f"{root}/{sweep.id}/train",
                   cache_dir=str(cache_root().resolve()), max_failures=MAX_FAILURES, backend=res.backend,
                   runtime=res.runtime(), num_workers=res.num_workers, cpus_per_worker=res.cpus_per_worker,
                   gpus_per_worker=res.gpus_per_worker)
    return specs, job, tracker


def tune_trials(sweep: SweepSpec, specs: list[TrialSpec], job: TrialJob, resume: bool):
    """A Tune grid with one driver per trial (``_trial_fn``), as many at once as fit; its results."""
    import ray
    from ray import tune

    res = sweep.resources
    threads = max(1, int(res.cpus_per_worker))
    config = {"spec": tune.grid_search([replace(s, threads=threads).to_dict() for s in specs]), "job": job.to_dict()}
    if res.backend == "inline":
        trainable = tune.with_resources(_trial_fn, {"cpu": res.cpus_per_trial, "gpu": res.gpus_per_trial})
    else:  # the driver only waits; the trial's Ray Train workers hold its CPUs and GPUs
        trainable = tune.with_resources(_trial_fn, driver_resources(ray.cluster_resources()))
    slots = res.max_concurrent_trials or concurrent_trials(ray.cluster_resources(), res, len(specs))
    experiment = f"{job.storage}/{sweep.id}"
    if resume and tune.Tuner.can_restore(experiment):
        return tune.Tuner.restore(experiment, trainable, resume_errored=True).fit()
    tuner = tune.Tuner(trainable, param_space=config,
                       tune_config=tune.TuneConfig(max_concurrent_trials=slots, trial_name_creator=_trial_name,
                                                   trial_dirname_creator=_trial_name,
                                                   reuse_actors=res.backend == "inline"),  # no re-import per trial
                       run_config=tune.RunConfig(name=sweep.id, storage_path=job.storage, verbose=1,
                                                 failure_config=tune.FailureConfig(max_failures=MAX_FAILURES)))
    return tuner.fit()


def collect(specs: list[TrialSpec], job: TrialJob, grid) -> list[TrialOutcome]:
    """Each trial's outcome: its finished results (from the results folder or object store) and error."""
    by_name = {s.name: s for s in specs}
    outcomes = []
    for result in grid:  # a trial that failed before it started has no config: its folder names it
        spec = from_dict(TrialSpec, result.config["spec"]) if result.config else by_name[Path(result.path).name]
        done = finished(job, spec)
        outcomes.append(TrialOutcome(spec, done.metrics if done else {}, done.out_dir if done else None,
                                     None if result.error is None else str(result.error)))
    return outcomes
