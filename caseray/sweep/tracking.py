"""MLflow, in one module: a parent run per sweep, a child run per trial, found again by hash.

Runs are addressed by explicit run ids through ``MlflowClient`` (no global active run, so neither
``MLFLOW_RUN_ID`` nor another library's run can redirect them). A retried or resumed trial finds
its run by the tags ``caseray.sweep_id`` + ``caseray.spec_hash`` and never makes a second one.
"""

from __future__ import annotations

import math
from pathlib import Path

from caseray.core.specs import flatten
from caseray.sweep.storage import RESULT_FILES

PARENT, CHILD = "sweep", "trial"
EXTRA_ARTIFACTS = ("corrections_sample.txt",)  # logged when a trial wrote them (LEMA: caseray.lema)


def numeric(metrics: dict) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))}


def absolute_uri(uri: str) -> str:
    """``sqlite:///mlflow.db`` -> ``sqlite:////abs/dir/mlflow.db``: trial processes run elsewhere."""
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return "sqlite:///" + str(Path(uri[len("sqlite:///"):]).resolve())
    return uri


def artifact_root(uri: str) -> str | None:
    """Artifacts of a sqlite store live beside the database file; a server decides for itself."""
    if uri.startswith("sqlite:///"):
        return (Path(uri[len("sqlite:///"):]).resolve().parent / "mlartifacts").as_uri()
    return None


class Tracker:
    def __init__(self, uri: str, experiment: str = "caseray"):
        import mlflow

        self.uri = absolute_uri(uri)
        self.client = mlflow.MlflowClient(tracking_uri=self.uri)
        exp = self.client.get_experiment_by_name(experiment)
        self.experiment_id = exp.experiment_id if exp else self.client.create_experiment(
            experiment, artifact_location=artifact_root(self.uri))

    def _find(self, **tags) -> str | None:
        query = " and ".join(f"tags.`caseray.{k}` = '{v}'" for k, v in tags.items())
        runs = self.client.search_runs([self.experiment_id], filter_string=query, max_results=2)
        return runs[0].info.run_id if runs else None

    def _log_params(self, run_id: str, params: dict[str, str]) -> None:
        from mlflow.entities import Param

        items = [Param(k, v[:6000]) for k, v in params.items()]
        for i in range(0, len(items), 100):
            self.client.log_batch(run_id, params=items[i:i + 100])

    def parent_run(self, sweep_id: str, sweep: dict) -> str:
        run_id = self._find(kind=PARENT, sweep_id=sweep_id)
        if run_id is None:
            run_id = self.client.create_run(self.experiment_id, run_name=sweep_id, tags={
                "caseray.kind": PARENT, "caseray.sweep_id": sweep_id}).info.run_id
            self._log_params(run_id, flatten(sweep))
        else:
            self.client.update_run(run_id, status="RUNNING")  # a resumed or repeated sweep
        return run_id

    def end_sweep(self, run_id: str, ok: bool) -> None:
        self.client.set_terminated(run_id, "FINISHED" if ok else "FAILED")

    def child_run(self, parent_id: str, sweep_id: str, spec) -> str:
        run_id = self._find(kind=CHILD, sweep_id=sweep_id, spec_hash=spec.hash)
        if run_id is None:
            run_id = self.client.create_run(self.experiment_id, run_name=spec.name, tags={
                "mlflow.parentRunId": parent_id, "caseray.kind": CHILD, "caseray.sweep_id": sweep_id,
                "caseray.spec_hash": spec.hash, "caseray.trial": spec.name}).info.run_id
            self._log_params(run_id, flatten(spec.to_dict()))
        return run_id

    def finished(self, run_id: str) -> bool:
        return self.client.get_run(run_id).info.status == "FINISHED"

    def log_metrics(self, run_id: str, metrics: dict, step: int) -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, v, now, step) for k, v in numeric(metrics).items()]
        for i in range(0, len(items), 500):
            self.client.log_batch(run_id, metrics=items[i:i + 500])

    def finish_trial(self, run_id: str, result) -> None:
        """Final metrics and artifacts (hole map, per-cell parquet, spec, metrics); marks it FINISHED."""
        if self.finished(run_id):
            return
        self.log_metrics(run_id, result.metrics, int(result.metrics.get("train/steps", 0)))
        for name in RESULT_FILES + EXTRA_ARTIFACTS:
            path = Path(result.out_dir) / name
            if path.exists():
                self.client.log_artifact(run_id, str(path))
        self.client.set_terminated(run_id, "FINISHED")

    def fail(self, run_id: str) -> None:
        self.client.set_terminated(run_id, "FAILED")

    def children(self, parent_id: str):
        return self.client.search_runs([self.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent_id}'",
                                       max_results=10000)

    def sweep_ids(self) -> list[str]:
        runs = self.client.search_runs([self.experiment_id], "tags.`caseray.kind` = 'sweep'", max_results=10000)
        return sorted(r.data.tags["caseray.sweep_id"] for r in runs)

    def parent_of(self, sweep_id: str) -> str | None:
        return self._find(kind=PARENT, sweep_id=sweep_id)

    def download_trials(self, parent_id: str, dest: Path) -> list[Path]:
        """Every finished child run's artifacts into ``dest/<trial>/``; the folders that hold a trial."""
        out = []
        for run in self.children(parent_id):
            if run.info.status != "FINISHED":
                continue
            folder = Path(dest) / run.data.tags.get("caseray.trial", run.info.run_id)
            folder.mkdir(parents=True, exist_ok=True)
            for name in ("spec.json", "metrics.json", "cells.parquet"):
                if not (folder / name).exists():
                    self.client.download_artifacts(run.info.run_id, name, str(folder))
            out.append(folder)
        return out

    def log_report(self, run_id: str, directory: Path) -> None:
        self.client.log_artifacts(run_id, str(directory), artifact_path="report")
