"""What caseray records in MLflow: a parent run per sweep, a child run per trial, found again by hash
(``transport``: how every call reaches the store).

Runs are addressed by explicit run ids through ``MlflowClient`` (no global active run, so neither
``MLFLOW_RUN_ID`` nor another library's run can redirect them). A retried or resumed trial finds
its run by the tags ``caseray.sweep_id`` + ``caseray.spec_hash`` and never makes a second one.

A store is shared: many drivers (and sweeps) write to one sqlite file or server at once. Every
client call is retried with backoff while the store is busy (sqlite locked) or away (server down),
for ``retry_s`` seconds per outage (``CASERAY_TRACKING_RETRY_S``, default 120), with one warning per
outage; after that progress and final results are dropped, the trial still finishes, and
``caseray sync`` back-fills the runs from the results storage. Params, tags and messages show the
store's URI redacted; only the connection uses it as given.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
import warnings
from pathlib import Path

from caseray.core.local_folders import FOLDERS_FILE
from caseray.core.progress import progress
from caseray.core.redact import has_credentials, redact
from caseray.core.specs import flatten
from caseray.data.datasets import cache_dir, dataset_name
from caseray.sweep.spec import get_dotted
from caseray.sweep.storage import RESULT_FILES
from caseray.sweep.tracking.transport import (
    Retrying,
    TrackingUnavailable,
    absolute_uri,
    artifact_root,
    retry_budget,
    store_lock,
)

PARENT, CHILD = "sweep", "trial"
FIGURE, IMAGE_KEY = "holemap.png", "hole_map"  # a trial's figure (a length trial's: its length curve)
SUMMARY_TABLE = "summary.json"  # the sweep's per-trial table on its parent run
KIND_TAG, KIND = "mlflow.experimentKind", "custom_model_development"  # MLflow 3's UI: a model-training experiment
# logged when a trial wrote them: a grid trial's interactive hole map (caseray.trial.interactive), LEMA's
# sample of corrections (caseray.lema), the held-out curve's figure (caseray.trial.curve)
EXTRA_ARTIFACTS = ("holemap.html", "corrections_sample.txt", "curve.png")
CLAIM, CLAIMED_BY = "caseray.claim", "caseray.run_id"  # a server's election: experiment name prefix, tag
CLAIM_WAIT_S = 30.0  # the least a driver waits for a claim's winner to name its run


def axis_value(spec: dict, dotted: str) -> str:
    """A trial's value of a sweep axis, as a tag: a number or name as it is, a group as compact JSON."""
    value = get_dotted(spec, dotted)
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))[:5000]


def dataset_input(spec, cache=None):
    """The trial's dataset as MLflow sees it: its cache name, the hash of its spec, the parquet file
    (in ``cache``, default ``cache_dir()``)."""
    from mlflow.entities import Dataset, DatasetInput, InputTag

    data = spec.data_spec()
    name = dataset_name(data)
    source = (cache_dir(cache) / f"{name}.parquet").resolve().as_uri()
    return DatasetInput(Dataset(name=name, digest=name.rsplit("-", 1)[1][:36], source_type="local",
                                source=json.dumps({"uri": source})),
                        tags=[InputTag("mlflow.data.context", "training")])


def numeric(metrics: dict) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))}


class Tracker:
    def __init__(self, uri: str, experiment: str = "caseray", retry_s: float | None = None):
        import mlflow

        # caseray retries (and says so) instead of MLflow's silent minutes of HTTP retries per call
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        # and its own bars: MLflow draws one per artifact, into logs too (download_trials has one per trial)
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        self.uri = absolute_uri(uri)
        self.shown = redact(self.uri)
        if has_credentials(self.uri):  # MLflow prints a run's link, user-info and all, when it ends
            os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
        with store_lock(self.uri):  # the first open of a sqlite file migrates it
            self.client = Retrying(mlflow.MlflowClient(tracking_uri=self.uri), self.uri,
                                   retry_budget() if retry_s is None else retry_s)
            self.experiment_id = self._experiment(experiment)

    def _experiment(self, name: str) -> str:
        from mlflow.exceptions import MlflowException

        exp = self.client.get_experiment_by_name(name)
        if exp is None:
            try:
                exp = self.client.get_experiment(self.client.create_experiment(
                    name, artifact_location=artifact_root(self.uri)))
            except MlflowException as err:  # another driver made it first
                if err.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
                exp = self.client.get_experiment_by_name(name)
        if KIND_TAG not in exp.tags:  # the UI opens on runs, metrics and images (not on GenAI traces)
            try:
                self.client.set_experiment_tag(exp.experiment_id, KIND_TAG, KIND)
            except MlflowException:  # another driver set it first (a server's unique key)
                if KIND_TAG not in self.client.get_experiment(exp.experiment_id).tags:
                    raise
        return exp.experiment_id

    def _find(self, **tags) -> str | None:
        """The oldest run with these ``caseray.`` tags (the one every driver agrees on)."""
        query = " and ".join(f"tags.`caseray.{k}` = '{v}'" for k, v in tags.items())
        runs = self.client.search_runs([self.experiment_id], filter_string=query, max_results=100)
        return min(runs, key=lambda r: (r.info.start_time, r.info.run_id)).info.run_id if runs else None

    def _find_or_make(self, name: str, tags: dict, extra_tags: dict, params: dict) -> tuple[str, bool]:
        """(the run with these tags, whether it was there); made once however many drivers race: on
        sqlite under the store's lock, on a server by the winner of an election (``_elect``)."""
        with store_lock(self.uri):
            found = self._find(**tags)
            if found is not None:
                return found, True
            if self.uri.startswith("sqlite:"):
                return self._make(name, tags, extra_tags, params), False
        return self._elect(name, tags, extra_tags, params)

    def _make(self, name: str, tags: dict, extra_tags: dict, params: dict) -> str:
        run_id = self.client.create_run(self.experiment_id, run_name=name, tags=redact(
            {**{f"caseray.{k}": v for k, v in tags.items()}, **extra_tags})).info.run_id
        self._log_params(run_id, params)
        return run_id

    def _elect(self, name: str, tags: dict, extra_tags: dict, params: dict) -> tuple[str, bool]:
        """On a server, the one driver that creates the claim -- an experiment named after the tags;
        names are unique, so exactly one create succeeds -- makes the run, names it on the claim
        and deletes the claim (hidden; its name stays taken); the others adopt the named run.
        (Picking the oldest of runs made at once is no election: a run's start time is the client's,
        and a busy server shows an older run after a driver has settled on a younger one.) A claim
        whose run was deleted since, or whose winner died before naming one, yields to the next
        generation's claim."""
        from mlflow.exceptions import MlflowException

        base = "/".join([CLAIM, self.experiment_id, *(str(v) for v in tags.values())])
        for generation in range(1000):
            claim = f"{base}#{generation}"
            try:
                claim_id = self.client.create_experiment(claim)
            except MlflowException as err:
                if err.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
                won = self._claimed(claim)
                if won is not None and self.client.get_run(won).info.lifecycle_stage == "active":
                    return won, True
                continue
            run_id = self._make(name, tags, extra_tags, params)
            self.client.set_experiment_tag(claim_id, CLAIMED_BY, run_id)
            self.client.delete_experiment(claim_id)
            return run_id, False
        raise TrackingUnavailable(f"MLflow at {self.shown}: no run made for {base} in 1000 elections")

    def _claimed(self, claim: str) -> str | None:
        """The run a claim's winner made, once it names it; None if it names none in time."""
        deadline, delay = time.time() + max(self.client.retry_s, CLAIM_WAIT_S), 0.05
        while time.time() < deadline:
            exp = self.client.get_experiment_by_name(claim)
            if exp is not None and CLAIMED_BY in exp.tags:
                return exp.tags[CLAIMED_BY]
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
        return None

    def _log_params(self, run_id: str, params: dict[str, str]) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)[:6000]) for k, v in redact(params).items()]
        for i in range(0, len(items), 100):
            self.client.log_batch(run_id, params=items[i:i + 100])

    def _sweep_run(self, sweep_id: str, sweep: dict) -> tuple[str, bool]:
        return self._find_or_make(sweep_id, {"kind": PARENT, "sweep_id": sweep_id}, {}, flatten(sweep))

    def parent_run(self, sweep_id: str, sweep: dict) -> str:
        run_id, found = self._sweep_run(sweep_id, sweep)
        if found:
            self.client.update_run(run_id, status="RUNNING")  # a resumed or repeated sweep
        return run_id

    def end_sweep(self, run_id: str, ok: bool) -> None:
        try:
            self.client.set_terminated(run_id, "FINISHED" if ok else "FAILED")
        except TrackingUnavailable as err:  # the sweep's results are written; its run can wait for sync
            warnings.warn(f"{err}; `caseray sync` ends the sweep's run later", RuntimeWarning, stacklevel=2)

    def child_run(self, parent_id: str, sweep_id: str, spec, axes: tuple[str, ...] = (), cache=None) -> str:
        """The trial's run, named by its ``label``; ``axes`` (the sweep's dotted axis keys) become tags
        ``axis.<key>``, the trial's dataset its input (name, digest = the data spec's hash, source: its
        file in ``cache``)."""
        fields = spec.to_dict()
        run_id, found = self._find_or_make(
            spec.label, {"kind": CHILD, "sweep_id": sweep_id, "spec_hash": spec.hash},
            {"mlflow.parentRunId": parent_id, "caseray.trial": spec.name,
             **{f"axis.{k}": axis_value(fields, k) for k in axes}}, flatten(fields))
        if not found:
            self._log_dataset(run_id, spec, cache)
        elif not self.finished(run_id):  # a retried trial (its last attempt FAILED) runs again
            self.client.update_run(run_id, status="RUNNING")
        return run_id

    def _log_dataset(self, run_id: str, spec, cache=None) -> None:
        """The trial's dataset as the run's input. Drivers logging one dataset at once can collide on a
        server's unique key; the second try finds it there. It only labels the run: a trial never fails
        over it."""
        from mlflow.exceptions import MlflowException

        dataset = dataset_input(spec, cache)
        for _ in range(2):
            try:
                self.client.log_inputs(run_id, datasets=[dataset])
                return
            except MlflowException as err:
                why = redact(str(err).splitlines()[0])[:300]
        warnings.warn(f"{spec.name}: its dataset was not logged as the run's input ({why})", RuntimeWarning,
                      stacklevel=3)

    def finished(self, run_id: str) -> bool:
        return self.client.get_run(run_id).info.status == "FINISHED"

    def log_metrics(self, run_id: str, metrics: dict, step: int) -> None:
        """Progress; dropped (with the outage's warning) when the store stays away: training goes on."""
        with contextlib.suppress(TrackingUnavailable):
            self._log_metrics(run_id, metrics, step)

    def _log_metrics(self, run_id: str, metrics: dict, step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, v, now, step) for k, v in numeric(metrics).items()]
        for i in range(0, len(items), 500):
            self.client.log_batch(run_id, metrics=items[i:i + 500])

    @contextlib.contextmanager
    def system_metrics(self, run_id: str):
        """MLflow's system metrics (CPU, memory, disk, network, GPU) on ``run_id`` while the block runs,
        when MLflow's own switch ``MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING`` is true (its sampling
        variables apply; a cluster's workers need it in the job's runtime_env)."""
        from mlflow.environment_variables import MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING

        if not MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING.get():
            yield
            return
        from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

        monitor = SystemMetricsMonitor(run_id, tracking_uri=self.uri)
        monitor.start()
        try:
            yield
        finally:
            monitor.finish()

    def finish_trial(self, run_id: str, result) -> None:
        """Final metrics and artifacts (hole map, its interactive page, per-cell parquet, spec, metrics);
        marks it FINISHED.
        With the store away past the retry budget the run is left for ``caseray sync``."""
        try:
            self._finish(run_id, result)
        except TrackingUnavailable as err:
            warnings.warn(f"{err}; the trial's results are in its storage: `caseray sync` logs them later",
                          RuntimeWarning, stacklevel=2)

    def _finish(self, run_id: str, result) -> bool:
        if self.finished(run_id):
            return False
        step = int(result.metrics.get("train/steps", 0))
        self._log_metrics(run_id, result.metrics, step)
        for name in RESULT_FILES + EXTRA_ARTIFACTS:
            path = Path(result.out_dir) / name
            if path.exists():
                self.client.log_artifact(run_id, str(path))
        self._log_figure(run_id, Path(result.out_dir) / FIGURE, step)
        self.client.set_terminated(run_id, "FINISHED")
        return True

    def _log_figure(self, run_id: str, figure: Path, step: int) -> None:
        """The trial's figure as an MLflow image too (the UI shows images per run and side by side); a
        figure that is not a readable image is left as a file, with a warning."""
        if not figure.exists():
            return
        from PIL import Image

        try:
            with Image.open(figure) as image:
                pixels = image.convert("RGB")
        except (OSError, ValueError) as err:  # (PIL's UnidentifiedImageError is an OSError)
            warnings.warn(f"{figure} is not a readable image ({err}); logged as a file only", RuntimeWarning,
                          stacklevel=3)
            return
        self.client.log_image(run_id, pixels, key=IMAGE_KEY, step=step)

    def log_summary(self, run_id: str, head: list[str], rows: list[list], metrics: dict) -> None:
        """A sweep's summary on its parent run: ``metrics`` (comparable across sweeps in the runs table)
        and the per-trial table as an MLflow table (``summary.json``)."""
        with contextlib.suppress(TrackingUnavailable), warnings.catch_warnings():  # printed; in the report too
            warnings.simplefilter("ignore", DeprecationWarning)  # pandas 3 on how MLflow builds the table
            self._log_metrics(run_id, metrics, 0)
            self.client.log_table(run_id, {h: [row[i] for row in rows] for i, h in enumerate(head)},
                                  artifact_file=SUMMARY_TABLE)

    def fail(self, run_id: str) -> None:
        with contextlib.suppress(TrackingUnavailable):
            self.client.set_terminated(run_id, "FAILED")

    def sync(self, sweep_id: str, sweep: dict, results: list, complete: bool) -> int:
        """``caseray sync``: the sweep's parent run and a FINISHED child (params, metrics, artifacts)
        for each finished trial ``(spec, result)`` from the results storage; runs already FINISHED are
        left as they are, so syncing twice changes nothing. The parent ends FINISHED once the sweep is
        ``complete`` (every trial finished). Returns how many children it finished."""
        parent, _ = self._sweep_run(sweep_id, sweep)
        done = sum(self._finish(self.child_run(parent, sweep_id, spec), result) for spec, result in results)
        if complete and not self.finished(parent):
            self.end_sweep(parent, ok=True)
        return done

    def children(self, parent_id: str):
        return self.client.search_runs([self.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent_id}'",
                                       max_results=10000)

    def sweep_ids(self) -> list[str]:
        runs = self.client.search_runs([self.experiment_id], "tags.`caseray.kind` = 'sweep'", max_results=10000)
        return sorted(r.data.tags["caseray.sweep_id"] for r in runs)

    def parent_of(self, sweep_id: str) -> str | None:
        return self._find(kind=PARENT, sweep_id=sweep_id)

    def download_trials(self, parent_id: str, dest: Path) -> list[Path]:
        """Every finished child run's artifacts into ``dest/<trial>/``, a trial at a time (a bar on a
        terminal); the folders that hold a trial."""
        out = []
        runs = [run for run in self.children(parent_id) if run.info.status == "FINISHED"]
        for run in progress(runs, "downloading trials from MLflow", unit="trial"):
            folder = Path(dest) / run.data.tags.get("caseray.trial", run.info.run_id)
            folder.mkdir(parents=True, exist_ok=True)
            logged = {a.path for a in self.client.list_artifacts(run.info.run_id)}
            for name in ("spec.json", FOLDERS_FILE, "metrics.json", "cells.parquet"):
                if name in logged and not (folder / name).exists():
                    self.client.download_artifacts(run.info.run_id, name, str(folder))
            out.append(folder)
        return out

    def log_report(self, run_id: str, directory: Path) -> None:
        self.client.log_artifacts(run_id, str(directory), artifact_path="report")
