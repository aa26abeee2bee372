"""``caseray report``: a sweep's report from its local results or from MLflow, logged to its parent run."""

from __future__ import annotations

import argparse
from pathlib import Path

from caseray.errors import SpecError
from caseray.storage import is_remote, local_folder, publish

SOURCES = ("auto", "local", "mlflow")


def add_source_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("sweep", help="a sweep id (name-hash) or a sweep name that names one sweep")
    p.add_argument("--storage", default="caseray_out/sweeps", help="the sweeps' results folder or object store (s3://, gs://)")
    p.add_argument("--tracking-uri", default="sqlite:///mlflow.db", help="MLflow store of the sweep")
    p.add_argument("--source", choices=SOURCES, default="auto",
                   help="where to read trials: the results folder, MLflow, or the folder when it has the sweep")


def add_report_args(p: argparse.ArgumentParser) -> None:
    add_source_args(p)
    p.add_argument("--out", help="report folder (default <storage>/<sweep id>/report, uploaded there for an object store)")
    p.add_argument("--rows", help="hole-map panel rows: comma-separated axes, e.g. task.name,format")
    p.add_argument("--cols", help="hole-map panel columns, e.g. tokenizer")
    p.add_argument("--per-seed", action="store_true", help="one hole-map panel per seed, not their mean")
    p.add_argument("--no-log", action="store_true", help="do not attach the report to the MLflow parent run")


def parse_axes(text: str | None, field: str, records) -> list[str] | None:
    from caseray.aggregate import axis_value

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
    from caseray import results
    from caseray.sweep import TRACKING_SCHEMES, check_uri

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
                 cols: str | None = None, per_seed: bool = False, log: bool = True) -> tuple[Path, bool]:
    """Build the report; returns (report.md, whether it was logged to MLflow)."""
    from caseray.report import build_report, log_report

    sweep_id, records = load_records(sweep, storage, tracking_uri, source)
    default = local_folder(storage, sweep_id, "report")
    out = Path(out) if out else default
    path = build_report(sweep_id, records, out, parse_axes(rows, "rows", records), parse_axes(cols, "cols", records),
                        per_seed)
    if out == default:
        publish(storage, out, sweep_id, "report")
    logged = bool(log and tracking_uri) and log_report(tracking_uri, sweep_id, out)
    return path, logged


def cmd_report(args) -> None:
    path, logged = report_sweep(args.sweep, args.storage, args.tracking_uri, args.source, args.out, args.rows,
                                args.cols, args.per_seed, not args.no_log)
    print(f"report: {path} (and report.html, summary.csv, figures)")
    if is_remote(args.storage) and not args.out:
        print(f"uploaded to {args.storage.rstrip('/')}/{path.parent.parent.name}/report/")
    if logged:
        print(f"logged to the sweep's MLflow parent run under report/ ({args.tracking_uri})")


def add_reproduce_args(p: argparse.ArgumentParser) -> None:
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", dest="mode", action="store_const", const="quick",
                      help="0-39 grids, tiny model, ~15 minutes on 2 cores (the default)")
    mode.add_argument("--full", dest="mode", action="store_const", const="full",
                      help="the paper's 0-99 grids and h = 10 (for a cluster)")
    p.set_defaults(mode="quick")
    p.add_argument("--storage", default="caseray_out/sweeps", help="results folder")
    p.add_argument("--tracking-uri", default="sqlite:///mlflow.db")
    p.add_argument("--num-cpus", type=int, help="CPUs of the embedded local Ray (default: all)")
    p.add_argument("--no-run", action="store_true", help="run nothing: judge the trials already recorded")


def cmd_reproduce(args) -> None:
    from caseray.reproduce import run_reproduce, summary

    verdicts, path = run_reproduce(args.mode, args.storage, args.tracking_uri, args.num_cpus, not args.no_run)
    word = {True: "reproduced", False: "NOT reproduced", None: "not measurable"}
    print()
    for v in verdicts:
        print(f"{word[v.reproduced]:>15}  {v.claim}\n{'':>17}{v.measured}" + (f"\n{'':>17}({v.note})" if v.note else ""))
    print("\n" + summary(verdicts).replace("\n\n", "\n"))
    print(f"written: {path} (and the sweep's report beside it)")


def script(main) -> None:
    """Run an analysis script's ``main()``; bad input prints the field and exits 2, as ``caseray`` does."""
    import sys

    try:
        main()
    except SpecError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
