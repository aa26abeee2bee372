"""A sweep's pre-flight, before anything is written: every trial validated, the machine or cluster
able to place them (CPUs, GPUs, a driver's node), its storage shared by every node, a resumed sweep's
run config unchanged; and Ray joined (``RAY_ADDRESS``) or started on this machine."""

from __future__ import annotations

import json
import os
from pathlib import Path

from caseray.core.errors import SpecError
from caseray.core.paths import check_output_folder
from caseray.core.redact import redact
from caseray.core.specs import flatten, to_dict
from caseray.sweep.ray.environment import WORKER_ENV, loopback_only
from caseray.sweep.results import MANIFEST
from caseray.sweep.spec import SweepSpec
from caseray.sweep.storage import (
    Store,
    is_network_fs,
    is_remote,
    mount_type,
    trials_folder,
)
from caseray.sweep.tracking import Tracker, absolute_uri
from caseray.trial.spec import TrialSpec

LOCAL_OBJECT_STORE = 256 * 1024 * 1024  # Ray's default takes ~30% of RAM; tiny trials need little
# a Ray Train trial's Tune driver only waits on its workers, which hold the CPUs: it asks for memory only
DRIVER_RESOURCES = {"cpu": 0, "memory": 128 * 1024 * 1024}
DRIVER_MARK = "caseray_driver"  # a custom resource clusters/*.yaml give the on-demand head node only
# clusters/*.yaml: the head also carries the most GPUs one worker node type of the config has, so an
# autoscaling cluster (no GPU node up yet) can say which trials it can ever place
NODE_GPUS_MARK = "caseray_node_gpus"
RUN_CONFIG_TAG = "caseray.run_config"  # the parent run's copy of the manifest's run config


def driver_resources(cluster: dict) -> dict:
    """What a Ray Train trial's driver asks for: on a cluster whose nodes carry ``DRIVER_MARK`` the
    drivers stay on those nodes (never on preemptible workers); elsewhere memory only."""
    return {**DRIVER_RESOURCES, **({DRIVER_MARK: 0.01} if cluster.get(DRIVER_MARK) else {})}


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
        ray.init(address=os.environ["RAY_ADDRESS"], log_to_driver=False, runtime_env={"env_vars": WORKER_ENV})
    else:  # an embedded local Ray: loopback only, small object store
        loopback_only()  # (caseray.sweep.ray.environment)
        # address="local": a new Ray of our own, never the last `ray start` cluster (which may be dead)
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, object_store_memory=LOCAL_OBJECT_STORE,
                 log_to_driver=False, _node_ip_address="127.0.0.1", runtime_env={"env_vars": WORKER_ENV})


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
