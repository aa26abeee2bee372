"""Ray, in one module: a sweep's trials as a Ray Tune grid, each trial run inline or on Ray Train.

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
import os
import signal
import tempfile
import threading
from dataclasses import dataclass, replace
from pathlib import Path

from caseray.core.errors import SpecError, WriteFailed
from caseray.core.paths import check_output_folder
from caseray.core.redact import redact
from caseray.core.specs import flatten, from_dict, to_dict
from caseray.data.datasets import cache_root
from caseray.sweep import summary
from caseray.sweep.results import MANIFEST, pair_controls, write_manifest
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
from caseray.sweep.tracking import Tracker, TrackingUnavailable, absolute_uri, numeric
from caseray.train.engine import world
from caseray.train.runtime import Runtime
from caseray.trial.result import load_result
from caseray.trial.run import run_trial
from caseray.trial.spec import TrialSpec, stored_spec

LOCAL_OBJECT_STORE = 256 * 1024 * 1024  # Ray's default takes ~30% of RAM; tiny trials need little
# Ray Train polls its workers every few seconds by default, and each report waits for a poll
RAY_ENV = {"RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.2"}
MAX_FAILURES = 1  # retries of a failed trial (Tune) and of a failed worker group (Ray Train)
# a Ray Train trial's Tune driver only waits on its workers, which hold the CPUs: it asks for memory only
DRIVER_RESOURCES = {"cpu": 0, "memory": 128 * 1024 * 1024}
DRIVER_MARK = "caseray_driver"  # a custom resource clusters/*.yaml give the on-demand head node only
# clusters/*.yaml: the head also carries the most GPUs one worker node type of the config has, so an
# autoscaling cluster (no GPU node up yet) can say which trials it can ever place
NODE_GPUS_MARK = "caseray_node_gpus"
CHECKPOINTS_KEPT = 2  # an inline trial's newest checkpoints Tune keeps in the storage
RUN_CONFIG_TAG = "caseray.run_config"  # the parent run's copy of the manifest's run config


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
    with tracker.system_metrics(run_id) if tracker is not None else contextlib.nullcontext():
        result = run_trial(spec, job.trials_dir, on_report=report, runtime=job.runtime, checkpoints=checkpoints)
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


def _trial_fn(config: dict, tracking_uri: str) -> None:
    """The Tune trainable (a trial's driver; ``tracking_uri`` through ``tune.with_parameters``): finds
    or makes the trial's MLflow run, then runs the trial inline or as a Ray Train job."""
    from ray import tune

    spec, job = stored_spec(config["spec"]), from_dict(TrialJob, config["job"]).connect(tracking_uri)
    os.environ["CASERAY_CACHE"] = job.cache_dir  # the dataset input logged with the run names its file
    tracker = Tracker(job.tracking_uri)
    job = replace(job, run_id=tracker.child_run(job.parent_run_id, job.sweep_id, spec, job.axes))
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


def _trial_name(trial) -> str:
    """Tune's trial names and folders: the trial spec's own name (hash-based, never a timestamp)."""
    return stored_spec(trial.config["spec"]).name


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


def check_cluster_gpus(res, cluster: dict, nodes: list[dict]) -> None:
    """A trial (or Ray Train worker) needs its GPUs on one node: refuse a sweep whose trials no node of
    the cluster can ever hold -- on an autoscaling cluster by what its config says (``NODE_GPUS_MARK``;
    unknown without it: not refused), else by the live nodes."""
    need = res.gpus_per_worker
    if not need:
        return
    if cluster.get(DRIVER_MARK):
        if NODE_GPUS_MARK not in cluster:
            return
        most, where = cluster[NODE_GPUS_MARK], "the largest GPU node its config can start"
    else:
        most = max((n["Resources"].get("GPU", 0) for n in nodes if n["Alive"]), default=0)
        where = "its largest node"
    if need > most:
        per = f" ({need:g} per worker)" if res.num_workers > 1 else ""
        raise SpecError("resources.gpus_per_trial", f"{res.gpus_per_trial:g} GPU(s) per trial{per}, but the "
                        f"cluster cannot give them: {where} has {most:g}",
                        [f"<= {most:g} per worker", "0 (device auto trains on the CPU)"])


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
        raise SpecError("tracking_uri", f"{redact(tracking_uri)} is a file on one machine, but the cluster has "
                        f"{shape}: "
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
    """Run every trial of ``sweep`` on Ray Tune (``resume``: continue a crashed sweep), in phases:
    ``check`` (every refusal, before anything is written: trials, a resume's run config, Ray, storage),
    then the MLflow parent run, ``start`` (its run config, the manifest), ``tune_trials`` (one driver
    per trial), ``collect`` (each trial's outcome) and ``pair_controls`` (square trials get
    ``hole_depth`` from their finished random-split controls). Once made, the parent run ends
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
        outcomes = collect(specs, job, tune_trials(sweep, specs, job, resume, tracking_uri))
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

    before, tune_sigint = signal.signal(signal.SIGTERM, terminated), os.environ.get("TUNE_DISABLE_SIGINT_HANDLER")
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)
        if tune_sigint is None:
            os.environ.pop("TUNE_DISABLE_SIGINT_HANDLER", None)
        else:
            os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = tune_sigint


def check(sweep: SweepSpec, resume: bool, num_cpus: int | None) -> tuple[list[TrialSpec], str, str]:
    """Everything that can be refused, before anything is written: every trial validated, a resumed
    sweep's run config, then Ray joined or started and the storage checked. (trials, storage root,
    absolute tracking URI)"""
    specs = sweep.trials()  # every grid cell validated before Ray starts
    if not os.environ.get("RAY_ADDRESS"):
        check_fits_this_machine(sweep.resources, num_cpus)
    root = storage_root(sweep)
    if not is_remote(root):
        check_output_folder(root, "storage_path")
    tracking_uri = absolute_uri(sweep.tracking_uri)
    if resume:
        check_resume(sweep, run_config(sweep, root, tracking_uri), root, tracking_uri)
    trials_folder(root)  # an object store's staging folder here: private, or refused
    init_ray(num_cpus)
    if os.environ.get("RAY_ADDRESS"):
        import ray

        check_cluster_gpus(sweep.resources, ray.cluster_resources(), ray.nodes())
    check_cluster_storage(root, tracking_uri)  # before anything is written
    return specs, root, tracking_uri


def run_config(sweep: SweepSpec, root: str, tracking_uri: str) -> dict:
    """Where and how a sweep runs, which its id leaves out; a resumed sweep must keep it. The tracking
    URI is kept redacted: a rotated token is the same MLflow store, and no form of it is stored."""
    return {"storage_path": root, "tracking_uri": redact(tracking_uri), "resources": to_dict(sweep.resources)}


def check_resume(sweep: SweepSpec, config: dict, root: str, tracking_uri: str) -> None:
    """``--resume`` continues the run it names: the run config in its manifest (or, when the storage
    moved, on its MLflow parent run) must be this one; a changed field is named."""
    store = Store(root)
    if store.exists(sweep.id, MANIFEST):
        before = json.loads(store.read_text(sweep.id, MANIFEST)).get("config")
    else:  # a new storage: what the parent run (if any) says
        tracker = Tracker(tracking_uri)
        parent = tracker.parent_of(sweep.id)
        tag = parent and tracker.client.get_run(parent).data.tags.get(RUN_CONFIG_TAG)
        before = json.loads(tag) if tag else None
    if not before:
        return
    now, was = flatten(config), flatten(before)
    for key in sorted(now.keys() | was.keys()):
        if now.get(key) != was.get(key):
            raise SpecError(key, f"is {now.get(key)} but the sweep {sweep.id} being resumed ran with "
                            f"{was.get(key)}", [f"{was.get(key)} (as before)", "a run without --resume"])


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


def tune_trials(sweep: SweepSpec, specs: list[TrialSpec], job: TrialJob, resume: bool, tracking_uri: str):
    """A Tune grid with one driver per trial (``_trial_fn``), as many at once as fit; its results.
    The config holds the job redacted; the real tracking URI goes to the drivers as a parameter."""
    import ray
    from ray import tune

    res = sweep.resources
    threads = max(1, int(res.cpus_per_worker))
    config = {"spec": tune.grid_search([replace(s, threads=threads).to_dict() for s in specs]),
              "job": job.redacted().to_dict()}
    driver = tune.with_parameters(_trial_fn, tracking_uri=tracking_uri)
    if res.backend == "inline":
        trainable = tune.with_resources(driver, {"cpu": res.cpus_per_trial, "gpu": res.gpus_per_trial})
    else:  # the driver only waits; the trial's Ray Train workers hold its CPUs and GPUs
        trainable = tune.with_resources(driver, driver_resources(ray.cluster_resources()))
    slots = res.max_concurrent_trials or concurrent_trials(ray.cluster_resources(), res, len(specs))
    experiment = f"{job.storage}/{sweep.id}"
    if resume and tune.Tuner.can_restore(experiment):
        return tune.Tuner.restore(experiment, trainable, resume_errored=True).fit()
    tuner = tune.Tuner(trainable, param_space=config,
                       tune_config=tune.TuneConfig(max_concurrent_trials=slots, trial_name_creator=_trial_name,
                                                   trial_dirname_creator=_trial_name,
                                                   reuse_actors=res.backend == "inline"),  # no re-import per trial
                       run_config=tune.RunConfig(name=sweep.id, storage_path=job.storage, verbose=1,
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
