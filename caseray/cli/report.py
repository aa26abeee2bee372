"""``caseray report``: a sweep's report from its local results or from MLflow, logged to its parent run."""

from __future__ import annotations

import argparse

from caseray.cli.common import Command, add_tracking_uri, tracking_uri, tracking_uri_given
from caseray.core.errors import SpecError
from caseray.core.paths import check_output_folder
from caseray.core.redact import redact
from caseray.report.holes import FIT_TRAIN
from caseray.report.side_by_side import compare_sweeps
from caseray.report.sweep_report import SOURCES, report_sweep
from caseray.sweep.storage import is_remote


def add_source_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("sweep", help="a sweep id (name-hash) or a sweep name that names one sweep")
    p.add_argument("--storage", default="caseray_out/sweeps", help="the sweeps' results folder or object store (s3://, gs://)")
    add_tracking_uri(p)
    p.add_argument("--source", choices=SOURCES, default="auto",
                   help="where to read trials: the results folder, MLflow, or the folder when it has the sweep")


def add_min_train(p: argparse.ArgumentParser) -> None:
    p.add_argument("--min-train", type=float, default=FIT_TRAIN, metavar="ACC",
                   help="leave out of the hole statistics square trials whose training accuracy, or their paired "
                   f"control's, is below this (default {FIT_TRAIN}: a model that did not fit says nothing about holes)")


def check_min_train(args) -> None:
    if not 0.0 <= args.min_train <= 1.0:  # (NaN fails both)
        raise SpecError("--min-train", f"{args.min_train} is not an accuracy", "0 <= ACC <= 1")


def add_report_args(p: argparse.ArgumentParser) -> None:
    add_source_args(p)
    add_min_train(p)
    p.add_argument("sweep_b", nargs="?", metavar="SWEEP_B",
                   help="a second sweep: instead of a report, both sweeps' hole maps side by side (matched by the "
                        "axes either varies, one colour scale) in side_by_side-<SWEEP_B id>.html")
    p.add_argument("--out",
                   help="report folder (default <storage>/<sweep id>/report, uploaded there for an object store)")
    p.add_argument("--rows", help="hole-map panel rows: comma-separated axes, e.g. task.name,format")
    p.add_argument("--cols", help="hole-map panel columns, e.g. tokenizer")
    p.add_argument("--per-seed", action="store_true", help="one hole-map panel per seed, not their mean")
    p.add_argument("--no-log", action="store_true", help="do not attach the report to the MLflow parent run "
                   "(it is attached only when --tracking-uri or $MLFLOW_TRACKING_URI names the store)")


def cmd_report(args) -> None:
    check_min_train(args)
    if args.out:
        check_output_folder(args.out, "--out")
    if args.sweep_b is not None:
        cmd_side_by_side(args)
        return
    path, logged = report_sweep(args.sweep, args.storage, tracking_uri(args), args.source, args.out, args.rows,
                                args.cols, args.per_seed, log=tracking_uri_given(args) and not args.no_log,
                                min_train=args.min_train)
    print(f"report: {path} (and report.html, summary.csv, figures)")
    if is_remote(args.storage) and not args.out:
        print(f"uploaded to {args.storage.rstrip('/')}/{path.parent.parent.name}/report/")
    if logged:
        print(f"logged to the sweep's MLflow parent run under report/ ({redact(tracking_uri(args))})")


def cmd_side_by_side(args) -> None:
    for field, value in (("rows", args.rows), ("cols", args.cols)):
        if value is not None:
            raise SpecError(field, "lays out one sweep's report; two sweeps are matched by the axes either varies",
                            ["SWEEP alone with --rows/--cols", "SWEEP SWEEP_B with --per-seed, --out"])
    path = compare_sweeps(args.sweep, args.sweep_b, args.storage, tracking_uri(args), args.source, args.out,
                          args.per_seed)
    print(f"side by side: {path}")


def add_reproduce_args(p: argparse.ArgumentParser) -> None:
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", dest="mode", action="store_const", const="quick",
                      help="0-39 grids, tiny model, ~55 minutes on 2 cores (the default)")
    mode.add_argument("--full", dest="mode", action="store_const", const="full",
                      help="the paper's 0-99 grids and h = 10 (for a cluster)")
    p.set_defaults(mode="quick")
    p.add_argument("--storage", default="caseray_out/sweeps", help="results folder")
    add_tracking_uri(p)
    p.add_argument("--num-cpus", type=int, help="CPUs of the embedded local Ray (default: all)")
    p.add_argument("--no-run", action="store_true", help="run nothing: judge the trials already recorded")


def cmd_reproduce(args) -> None:
    from caseray.report.reproduce.render import VERDICT_WORDS, summary
    from caseray.report.reproduce.run import run_reproduce  # runs a sweep: Ray, torch

    if not is_remote(args.storage):
        check_output_folder(args.storage, "--storage")
    verdicts, path = run_reproduce(args.mode, args.storage, tracking_uri(args), args.num_cpus, not args.no_run)
    print()
    for v in verdicts:
        note = f"\n{'':>17}({v.note})" if v.note else ""
        print(f"{VERDICT_WORDS[v.reproduced]:>15}  {v.claim}\n{'':>17}{v.measured}{note}")
    print("\n" + summary(verdicts).replace("\n\n", "\n"))
    print(f"written: {path} (and the sweep's report beside it)")


REPORT = Command("report", "a sweep's report (hole-map grid, curves, tables, step coverage), or two sweeps' hole maps "
                 "side by side", add_report_args,
                 cmd_report, ("caseray report square-smoke --rows tokenizer --cols split --per-seed --out report",
                              "caseray report square-smoke square-smoke-1a2b3c4d --out compare",
                              "caseray report square-smoke --source mlflow --tracking-uri http://127.0.0.1:5000"))
REPRODUCE = Command("reproduce", "run the studies' claims as sweeps; print reproduced / not", add_reproduce_args,
                    cmd_reproduce, ("caseray reproduce --quick --num-cpus 2", "caseray reproduce --no-run"))
