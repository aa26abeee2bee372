"""The cluster a sweep would get: the worker node types of a Ray cluster launcher YAML (read as Ray
reads it, bounded like every input), the node type and count full concurrency asks for, and the
wall-clock of a sweep whose trials fill that many slots in order."""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from pathlib import Path

from caseray.core.errors import SpecError
from caseray.core.plain_data import check_size
from caseray.core.specs import short

# the cluster a plan is shaped for unless --cluster says: the working directory's clusters/ (a checkout)
DEFAULT_CLUSTER = Path("clusters") / "aws-gpu.yaml"
RAY_DEFAULT_MAX_WORKERS = 2  # Ray's own default for a launcher config's max_workers


@dataclass(frozen=True)
class NodeType:
    name: str
    cpus: float
    gpus: float
    max_nodes: int

    def workers(self, res) -> int:
        """How many of a trial's workers fit one node."""
        fits = [self.cpus / res.cpus_per_worker] + ([self.gpus / res.gpus_per_worker] if res.gpus_per_trial else [])
        return math.floor(min(fits) + 1e-9)


def read_cluster(path: Path) -> list[NodeType]:
    """The worker node types of a Ray cluster launcher config (the head runs the drivers). Read as Ray
    reads it (PyYAML's safe loader), bounded like every input (``caseray.core.plain_data``)."""
    import yaml

    try:
        config = yaml.safe_load(path.read_text())
    except (OSError, ValueError) as err:
        raise SpecError("cluster", f"cannot read {path}: {getattr(err, 'strerror', None) or err}",
                        "a Ray cluster launcher YAML") from None
    except yaml.YAMLError as err:
        raise SpecError("cluster", f"{path} is not YAML: {str(err).splitlines()[0]}") from None
    check_size(config, "cluster")
    types = config.get("available_node_types") if isinstance(config, dict) else None
    if not isinstance(types, dict) or not types:
        raise SpecError("cluster", f"{path} has no available_node_types", "a Ray cluster launcher YAML")
    total = _count(config.get("max_workers", RAY_DEFAULT_MAX_WORKERS), "max_workers")
    nodes = []
    for name, t in types.items():
        if name == config.get("head_node_type"):
            continue
        where = f"cluster.available_node_types.{short(name, 60, False)}"
        if not isinstance(t, dict) or not isinstance(t.get("resources", {}), dict):
            raise SpecError(where, "expected a mapping with resources: {CPU: n, GPU: n}")
        res = t.get("resources", {})
        nodes.append(NodeType(str(name), float(_count(res.get("CPU", 0), f"{where}.resources.CPU")),
                              float(_count(res.get("GPU", 0), f"{where}.resources.GPU")),
                              min(_count(t.get("max_workers", total), f"{where}.max_workers"), total)))
    return nodes


def _count(value, field: str):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1e9:
        raise SpecError(field, f"{short(value)} is not a count", ["a number >= 0"])
    return value


def cluster_shape(path: Path, res, n_trials: int) -> dict:
    """The node type the trials go to (GPU trials: one with GPUs; CPU trials: one without), how many
    nodes full concurrency asks for (up to the type's max_workers) and how many trials then run."""
    types = read_cluster(path)
    fitting = [t for t in types if (t.gpus > 0) == bool(res.gpus_per_trial) and t.workers(res) >= 1]
    if not fitting:
        gpus = f"{res.gpus_per_worker:g} GPU" if res.gpus_per_trial else "no GPU"
        need = f"{res.cpus_per_worker:g} CPU and {gpus}"
        raise SpecError("cluster", f"no worker node type of {path} fits a trial's worker ({need})",
                        [f"{t.name}: {t.cpus:g} CPU, {t.gpus:g} GPU, up to {t.max_nodes} nodes" for t in types])
    node = max(fitting, key=lambda t: t.workers(res) * t.max_nodes)  # the most trials at once
    per_node = node.workers(res)
    nodes = min(node.max_nodes, math.ceil(n_trials * res.num_workers / per_node))
    slots = min(n_trials, nodes * per_node // res.num_workers, res.max_concurrent_trials or n_trials)
    if slots == 0:
        raise SpecError("cluster", f"a trial's {res.num_workers} workers need {math.ceil(res.num_workers / per_node)} "
                        f"{node.name} nodes; {path} allows {node.max_nodes}", f"num_workers <= {nodes * per_node}")
    shown = path.resolve().relative_to(Path.cwd()) if path.resolve().is_relative_to(Path.cwd()) else path
    return {"file": str(shown), "node_type": node.name, "node_cpus": node.cpus, "node_gpus": node.gpus,
            "max_nodes": node.max_nodes, "nodes": nodes, "trials_per_node": per_node / res.num_workers,
            "concurrency": slots}


def wall_seconds(seconds: list[float], slots: int) -> float:
    """Trials start in sweep order whenever one of ``slots`` frees up (how Tune fills its slots)."""
    ends = [0.0] * max(1, min(slots, len(seconds)))
    for s in seconds:
        heapq.heapreplace(ends, ends[0] + s)
    return max(ends)
