"""Sweeps without Ray: a base trial spec plus axes -> the grid of validated trial specs.

An axis is a dotted trial-spec field and its values (``tokenizer: [number, digit]``,
``split.half_width: [5, 10]``, ``seed: [0, 1, 2]``; a value may be a whole group such as a split).
``axes`` is one grid (a mapping) or a list of grids whose trials are joined (a design that is not
one product, e.g. five tasks at h = 7 plus addition at h = 3 and 5). Every trial is built and
validated as a full ``TrialSpec`` before anything runs.
"""

from __future__ import annotations

import copy
import itertools
import math
import re
from dataclasses import dataclass
from typing import Any

from caseray.core.errors import SpecError
from caseray.core.fields import allowed, check_fields, floats, ints, spec_field
from caseray.core.specs import field_name, from_dict, short, stable_hash, to_dict
from caseray.sweep.storage import check_storage_path
from caseray.train.runtime import Runtime
from caseray.trial.control import with_controls
from caseray.trial.spec import TrialSpec, check_curve

BACKENDS = ("inline", "ddp", "deepspeed")
NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_TRIALS = 100_000  # per sweep (controls not counted): beyond, a typo in an axis, not a plan
TRACKING_SCHEMES = ("sqlite:", "http:", "https:", "databricks", "file:")  # MLflow tracking URIs


@dataclass(frozen=True)
class Resources:
    """What each trial gets. ``inline`` runs a trial inside its Tune driver (one process; the fast path
    for tiny CPU trials); ``ddp`` and ``deepspeed`` run it on ``num_workers`` Ray Train workers, which
    share the trial's CPUs and GPUs equally."""

    cpus_per_trial: float = spec_field(1.0, "CPUs each trial reserves", bounds=floats(0.0, low_open=True))
    gpus_per_trial: float = spec_field(0.0, "GPUs each trial reserves; fractions pack tiny trials onto one GPU",
                                       bounds=floats(0.0))
    num_workers: int = spec_field(1, "Ray Train workers per trial (ddp / deepspeed)", bounds=ints(1))
    backend: str = spec_field("inline", "inline: the trial in its Tune driver; ddp / deepspeed: on Ray Train "
                              "workers", choices=BACKENDS)
    zero_stage: int = spec_field(2, "deepspeed: ZeRO stage", bounds=ints(0, 3))
    offload: bool = spec_field(False, "deepspeed: optimizer state in CPU memory")
    max_concurrent_trials: int | None = spec_field(None, "null: what fits the CPUs / GPUs (autoscaling: every "
                                                   "trial)", bounds=ints(1))

    def __post_init__(self):
        check_fields(self)
        if self.gpus_per_trial > 1 and self.gpus_per_trial != int(self.gpus_per_trial):
            raise SpecError("gpus_per_trial", "above 1 it must be a whole number of GPUs")
        if self.backend == "inline" and self.num_workers != 1:
            raise SpecError("num_workers", "backend 'inline' runs one process per trial", ["1", "or backend ddp"])
        if self.num_workers > 1 and 0 < self.gpus_per_trial < self.num_workers:
            raise SpecError("gpus_per_trial", f"{self.gpus_per_trial:g} GPU(s) for {self.num_workers} workers: "
                            "each worker of a multi-worker trial needs a whole GPU", [f">= {self.num_workers}", "0"])
        self.runtime()  # validates zero_stage and offload (offload needs backend deepspeed)

    def runtime(self) -> Runtime:
        return Runtime("local" if self.backend == "inline" else self.backend, self.zero_stage, self.offload)

    @property
    def cpus_per_worker(self) -> float:
        return self.cpus_per_trial / self.num_workers

    @property
    def gpus_per_worker(self) -> float:
        return self.gpus_per_trial / self.num_workers


@dataclass(frozen=True)
class SweepSpec:
    name: str = spec_field("sweep", "names the sweep (with a hash of what it runs)",
                           forms=("1-64 ASCII letters, digits, - and _",))
    base: Any = spec_field(doc="a trial spec as a mapping (caseray spec show trial)", factory=dict)
    axes: Any = spec_field(doc="{dotted trial field: [values]}, or a list of such grids", factory=dict)
    resources: Resources = spec_field(doc="what each trial gets", factory=Resources)
    storage_path: str = spec_field("caseray_out/sweeps", "a folder (on a cluster: NFS) or s3:// / gs:// "
                                   "(caseray.sweep.storage)")
    tracking_uri: str = spec_field("sqlite:///mlflow.db", "MLflow: a sqlite file locally, a server URI on "
                                   "clusters", forms=lambda: uri_forms(TRACKING_SCHEMES))
    controls: bool = spec_field(False, "add each square trial's paired random-split control "
                                "(caseray.trial.control)")

    def __post_init__(self):
        if not isinstance(self.name, str) or not NAME.fullmatch(self.name):
            raise SpecError("name", f"{short(self.name)} is not a sweep name", allowed(SweepSpec, "name"))
        if not isinstance(self.base, dict):
            raise SpecError("base", "expected a mapping of trial-spec fields")
        if not isinstance(self.axes, (dict, list)) or not all(isinstance(g, dict) for g in self.grids) \
                or not self.grids:
            raise SpecError("axes", "expected a mapping {field: [values]} or a non-empty list of them")
        for i, grid in enumerate(self.grids):
            for key, values in grid.items():
                if not isinstance(values, (list, tuple)) or not values:
                    where = f"axes[{i}].{field_name(key)}" if isinstance(self.axes, list) else f"axes.{field_name(key)}"
                    raise SpecError(where, "expected a non-empty list of values")
        n_trials = sum(math.prod(len(v) for v in grid.values()) for grid in self.grids)
        if n_trials > MAX_TRIALS:
            raise SpecError("axes", f"the grids make {n_trials:,} trials", [f"at most {MAX_TRIALS:,} per sweep"])
        if not isinstance(self.controls, bool):
            raise SpecError("controls", f"{self.controls!r} must be true or false")
        check_uri("tracking_uri", self.tracking_uri, TRACKING_SCHEMES)
        check_storage_path(self.storage_path)

    @property
    def grids(self) -> list:
        return self.axes if isinstance(self.axes, list) else [self.axes]

    @property
    def id(self) -> str:
        """The sweep's name plus a hash of what it runs (never a timestamp)."""
        what = {"base": self.base, "axes": self.axes, **({"controls": True} if self.controls else {})}
        return f"{self.name}-{stable_hash(what, 8)}"

    def axis_names(self) -> tuple[str, ...]:
        """The dotted fields the sweep varies (over all its grids)."""
        return tuple(sorted({key for grid in self.grids for key in grid}))

    def to_dict(self) -> dict:
        return to_dict(self)

    def trials(self) -> list[TrialSpec]:
        """Every trial, validated; with ``controls``, each square trial's paired control after them."""
        specs = with_controls(expand(self)) if self.controls else expand(self)
        specs = pretraining_first(specs)
        workers, runtime = self.resources.num_workers, self.resources.runtime()
        for spec in specs:
            if self.resources.gpus_per_trial and spec.device == "cpu":
                raise SpecError("device", f"the sweep gives each trial GPUs but trial {spec.name} runs on the CPU",
                                ["cuda", "auto", "or resources.gpus_per_trial: 0"])
            if not self.resources.gpus_per_trial and spec.device == "cuda":  # Ray hides every GPU from it
                raise SpecError("device", f"trial {spec.name} asks for cuda but the sweep gives it no GPU",
                                ["auto", "cpu", "or resources.gpus_per_trial > 0"])
            if spec.lema is not None and workers > 1:
                raise SpecError("resources.num_workers", f"LEMA trials run in one process [in trial {spec.name}]",
                                ["1"])
            check_curve(spec, runtime)
            if spec.train.batch_size < workers:
                raise SpecError("train.batch_size", f"{spec.train.batch_size} rows cannot be split over {workers} "
                                f"workers [in trial {spec.name}]", [f">= {workers}"])
        return specs


def pretraining_first(specs: list[TrialSpec]) -> list[TrialSpec]:
    """The trials that others start from (``init``), each once, then every other trial in its order."""
    pre = list({s.init.trial.hash: s.init.trial for s in specs if s.init is not None}.values())
    hashes = {s.hash for s in pre}
    return pre + [s for s in specs if s.hash not in hashes]


def waves(specs: list[TrialSpec]) -> list[list[TrialSpec]]:
    """What must finish before what: the pretraining trials, then the rest (one wave without ``init``)."""
    hashes = {s.init.trial.hash for s in specs if s.init is not None}
    first = [s for s in specs if s.hash in hashes]
    return [first, [s for s in specs if s.hash not in hashes]] if first else [specs]


def uri_forms(schemes) -> list[str]:
    return [f"{s}..." for s in schemes]


def check_uri(field_name: str, uri: Any, schemes) -> None:
    if not isinstance(uri, str) or not uri.startswith(tuple(schemes)):
        raise SpecError(field_name, f"{uri!r} is not a supported URI", uri_forms(schemes))


def get_dotted(data: dict, key: str) -> Any:
    """The value at a dotted key (``split.half_width``); None inside a group that is unset or absent."""
    node = data
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def set_dotted(data: dict, key: str, value: Any) -> None:
    node = data
    *parents, leaf = key.split(".")
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise SpecError(field_name(key), f"{short(part)} is not a group of fields")
        node = child
    node[leaf] = copy.deepcopy(value)


def expand(sweep: SweepSpec) -> list[TrialSpec]:
    """Every trial as a validated TrialSpec, grid by grid in axis order; errors name the axis values."""
    specs, seen = [], {}
    for i, grid in enumerate(sweep.grids):
        for spec, where in _grid(sweep.base, grid, f"grid {i}: " if len(sweep.grids) > 1 else ""):
            if spec.hash in seen:
                raise SpecError("axes", f"the trials with {seen[spec.hash]} and {where} are the same trial")
            seen[spec.hash] = where
            specs.append(spec)
    return specs


def grid_trials(sweep: SweepSpec, index: int) -> list[TrialSpec]:
    """The trials of one of the sweep's grids."""
    return [spec for spec, _ in _grid(sweep.base, sweep.grids[index], "")]


def _grid(base: dict, grid: dict, prefix: str):
    keys = list(grid)
    for values in itertools.product(*(grid[k] for k in keys)):
        data = copy.deepcopy(base)
        for k, v in zip(keys, values):
            set_dotted(data, k, v)
        where = prefix + (", ".join(f"{field_name(k)}={short(v, 80)}" for k, v in zip(keys, values)) or "base")
        try:
            spec = from_dict(TrialSpec, data)
        except SpecError as err:
            raise SpecError(err.field, f"{err.message} [in the trial with {where}]", err.allowed) from None
        yield spec, where
