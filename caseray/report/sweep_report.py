"""A finished sweep's trial records, from its results folder or from MLflow, and its report."""

from __future__ import annotations

from pathlib import Path

from caseray.core.errors import SpecError
from caseray.report.aggregate import axis_value
from caseray.report.build import build_report, log_report
from caseray.report.holes import FIT_TRAIN
from caseray.sweep import results
from caseray.sweep.spec import TRACKING_SCHEMES, check_uri
from caseray.sweep.storage import local_folder, publish

SOURCES = ("auto", "local", "mlflow")


def parse_axes(text: str | None, field: str, records) -> list[str] | None:
    if text is None:
        return None
    axes = [a.strip() for a in text.split(",") if a.strip()]
    for axis in axes:
        try:
            axis_value(records[0], axis)
        except SpecError:
            raise SpecError(field, f"{axis!r} is not a trial-spec field",
                            ["split", "seed", "task.name", "format", "tokenizer", "model.scale", "data_size",
                             "split.half_width", "or any dotted spec field"]) from None
    return axes


def read_records(sweep: str, storage: str | Path = "caseray_out/sweeps", tracking_uri: str | None = None,
                 source: str = "auto"):
    """(sweep id, finished trial records, possibly none) from the results folder or MLflow
    (``auto``: the folder when it holds the sweep)."""
    if source not in SOURCES:
        raise SpecError("source", f"{source!r} is not a source", SOURCES)
    if tracking_uri is not None:
        check_uri("tracking_uri", tracking_uri, TRACKING_SCHEMES)
    if source == "local" or (source == "auto" and results.has_local(storage, sweep)):
        return results.from_local(storage, sweep)
    if tracking_uri is None:
        raise SpecError("tracking_uri", f"sweep {sweep!r} is not in {storage}; give its MLflow store")
    db = tracking_uri[len("sqlite:///"):] if tracking_uri.startswith("sqlite:///") else None
    if db is not None and not Path(db).exists():  # reading must not create an empty store
        raise SpecError("sweep", f"sweep {sweep!r} is not in {storage} and there is no MLflow store at {db}",
                        ["--storage <the sweeps' results folder>", "--tracking-uri <the sweep's store>"])
    return results.from_mlflow(tracking_uri, sweep, local_folder(storage, "downloads"))


def load_records(sweep: str, storage: str | Path = "caseray_out/sweeps", tracking_uri: str | None = None,
                 source: str = "auto"):
    """``read_records``, refusing a sweep with no finished trial."""
    sweep_id, records = read_records(sweep, storage, tracking_uri, source)
    if not records:
        raise SpecError("sweep", f"sweep {sweep_id} has no finished trials yet")
    return sweep_id, records


def report_sweep(sweep: str, storage: str | Path = "caseray_out/sweeps", tracking_uri: str | None = None,
                 source: str = "auto", out: str | Path | None = None, rows: str | None = None,
                 cols: str | None = None, per_seed: bool = False, log: bool = True,
                 min_train: float = FIT_TRAIN) -> tuple[Path, bool]:
    """Build the report; returns (report.md, whether it was logged to MLflow)."""
    sweep_id, records = load_records(sweep, storage, tracking_uri, source)
    default = local_folder(storage, sweep_id, "report")
    out = Path(out) if out else default
    path = build_report(sweep_id, records, out, parse_axes(rows, "rows", records), parse_axes(cols, "cols", records),
                        per_seed, min_train=min_train)
    if out == default:
        publish(storage, out, sweep_id, "report")
    logged = bool(log and tracking_uri) and log_report(tracking_uri, sweep_id, out)
    return path, logged
