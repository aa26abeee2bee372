"""A sweep's finished trials, read back for analysis: from its results storage or from MLflow.

Both sources give the same ``TrialRecord`` list (spec, metrics, per-cell table). A sweep writes a
manifest ``<storage>/<sweep id>/sweep.json`` (the sweep spec and its trial names) when it starts;
its trials' outputs live in ``<storage>/trials/<trial name>/``. The storage is a folder or an
object store (caseray.sweep.storage). MLflow holds the same files as the artifacts of the sweep's child
runs, on a sqlite store or a server alike.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from caseray.core.atomic import write_text_atomic
from caseray.core.errors import SpecError
from caseray.core.local_folders import FOLDERS_FILE, remember
from caseray.core.redact import redact
from caseray.sweep.storage import CURVE, DONE, Store, push_trial
from caseray.sweep.tracking import Tracker, TrackingUnavailable
from caseray.trial.control import pairs
from caseray.trial.metrics import paired_metrics
from caseray.trial.spec import TrialSpec, stored_spec

MANIFEST = "sweep.json"
PROBE = ("probe", "probe.json")  # in a trial's folder: what ``caseray analyze probe`` wrote by default


@dataclass(frozen=True)
class TrialRecord:
    spec: TrialSpec
    metrics: dict
    cells: pa.Table
    probe: dict | None = None  # probe/probe.json where ``caseray analyze probe`` has been run on the trial
    curve: dict | None = None  # curve.json: the held-out curve, where the trial drew one (``eval.curve_every``)

    @property
    def name(self) -> str:
        return self.spec.name

    def value(self, dotted: str):
        """A spec field by dotted name (``task.name``, ``split.half_width``, ``model.scale``)."""
        node = self.spec.to_dict()
        for part in dotted.split("."):
            if node is None:  # inside an optional group this trial leaves unset (``lengths``, ``lema``)
                return None
            if not isinstance(node, dict) or part not in node:
                raise SpecError("axes", f"{dotted!r} is not a trial-spec field")
            node = node[part]
        return node


def write_manifest(storage: str | Path, sweep_id: str, sweep: dict, trial_names: list[str],
                   config: dict | None = None) -> str:
    """``<storage>/<sweep id>/sweep.json``: the sweep (credentials redacted), its trials and its run
    ``config`` (where and how it runs, compared on ``--resume``)."""
    store = Store(storage)
    manifest = {"sweep_id": sweep_id, "sweep": redact(sweep), "trials": trial_names,
                **({"config": redact(config)} if config is not None else {})}
    store.write_text(json.dumps(manifest, indent=2), sweep_id, MANIFEST)
    return store.uri(sweep_id, MANIFEST)


def read_spec(store: Store, *folder: str) -> TrialSpec:
    """A trial folder's spec; the ``path:`` / ``hf:`` folders it names need not be on this machine
    (what the trial recorded of them, ``FOLDERS_FILE``, stands in)."""
    if store.exists(*folder, FOLDERS_FILE):
        remember(json.loads(store.read_text(*folder, FOLDERS_FILE)))
    return stored_spec(json.loads(store.read_text(*folder, "spec.json")))


def read_trial(store: Store, *folder: str) -> TrialRecord | None:
    """A finished trial folder (spec.json, metrics.json, cells.parquet, and probe/probe.json and
    curve.json where there are); None if it has not finished."""
    if not store.exists(*folder, DONE) or not store.exists(*folder, "cells.parquet"):
        return None
    spec = read_spec(store, *folder)
    probe = json.loads(store.read_text(*folder, *PROBE)) if store.exists(*folder, *PROBE) else None
    curve = json.loads(store.read_text(*folder, CURVE)) if store.exists(*folder, CURVE) else None
    return TrialRecord(spec, json.loads(store.read_text(*folder, DONE)), store.read_table(*folder, "cells.parquet"),
                       probe, curve)


def _pick(wanted: str, known: list[str], where: str) -> str:
    """``wanted`` is a sweep id, or a sweep name that names exactly one known sweep id."""
    if wanted in known:
        return wanted
    named = [k for k in known if k.rsplit("-", 1)[0] == wanted]
    if len(named) == 1:
        return named[0]
    if not named:
        raise SpecError("sweep", f"no sweep {wanted!r} in {where}", known or ["(none there)"])
    raise SpecError("sweep", f"{wanted!r} names {len(named)} sweeps in {where}; give the id", named)


def local_sweep_ids(storage: str | Path) -> list[str]:
    store = Store(storage)
    return [name for name in store.folders() if store.exists(name, MANIFEST)]


def has_local(storage: str | Path, sweep: str) -> bool:
    try:
        _pick(sweep, local_sweep_ids(storage), str(storage))
        return True
    except SpecError:
        return False


def from_local(storage: str | Path, sweep: str) -> tuple[str, list[TrialRecord]]:
    """(sweep id, its finished trials) from a results folder or object store; unfinished trials are
    left out."""
    store = Store(storage)
    sweep_id = _pick(sweep, local_sweep_ids(storage), str(storage))
    manifest = json.loads(store.read_text(sweep_id, MANIFEST))
    records = [read_trial(store, "trials", name) for name in manifest["trials"]]
    return sweep_id, sorted((r for r in records if r is not None), key=lambda r: r.name)


def from_mlflow(tracking_uri: str, sweep: str, download_to: str | Path | None = None) -> tuple[str, list[TrialRecord]]:
    """(sweep id, its finished trials) from the MLflow parent run's children and their artifacts."""
    tracker = Tracker(tracking_uri)
    sweep_id = _pick(sweep, tracker.sweep_ids(), tracking_uri)
    dest = Path(download_to) if download_to else Path(tempfile.mkdtemp(prefix="caseray-"))
    folders = tracker.download_trials(tracker.parent_of(sweep_id), dest / sweep_id)
    records = [r for r in (read_trial(Store(f.parent), f.name) for f in folders) if r is not None]
    return sweep_id, sorted(records, key=lambda r: r.name)


def pair_controls(outcomes, storage: str, tracker: Tracker, parent_id: str, sweep_id: str) -> int:
    """For every finished square trial whose paired control finished too, add ``hole_depth`` and the
    other paired metrics (``caseray.trial.metrics.paired_metrics``) to its ``metrics.json`` (rewritten
    whole, atomically; uploaded again on an object store) and to its MLflow run. Returns how many."""
    done = {o.spec.hash: o for o in outcomes if o.metrics and o.out_dir is not None}
    n = 0
    for spec, control in pairs([o.spec for o in done.values()]):
        trial = done[spec.hash]
        extra = paired_metrics(trial.metrics, done[control.hash].metrics)
        trial.metrics.update(extra)
        write_text_atomic(Path(trial.out_dir) / DONE, json.dumps(trial.metrics, indent=2))
        push_trial(storage, spec.name)
        try:
            tracker.log_metrics(tracker.child_run(parent_id, sweep_id, spec), extra,
                                int(trial.metrics.get("train/steps", 0)))
        except TrackingUnavailable as err:  # they are in metrics.json, which the report reads
            warnings.warn(f"{err}: {spec.name}'s paired metrics are in its metrics.json only", RuntimeWarning)
        n += 1
    return n
