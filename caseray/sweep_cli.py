"""Shared command line of the sweep scripts (``sweeps/*.py``) and ``caseray sweep run spec.yaml``."""

from __future__ import annotations

import argparse
import sys
import time

from caseray.errors import SpecError


def add_sweep_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dry-run", action="store_true", help="validate, print trials and resources, run nothing")
    p.add_argument("--resume", action="store_true", help="continue a crashed sweep (finished trials are kept)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a base trial field")
    p.add_argument("--axis", action="append", default=[], metavar="KEY=[V1,V2]", help="replace or add an axis")
    p.add_argument("--storage", help="results folder or shared URI (default caseray_out/sweeps)")
    p.add_argument("--tracking-uri", help="MLflow URI (default sqlite:///mlflow.db)")
    p.add_argument("--cpus-per-trial", type=float)
    p.add_argument("--num-cpus", type=int, help="CPUs of the embedded local Ray (default: all)")


def build_sweep(data: dict, args):
    import yaml

    from caseray.cli import apply_sets
    from caseray.specs import from_dict
    from caseray.sweep import SweepSpec

    data = dict(data)
    data["base"] = apply_sets(dict(data.get("base", {})), args.set)
    axes = data.get("axes", {})
    grids = [dict(g) for g in axes] if isinstance(axes, list) else [dict(axes)]
    for item in args.axis:  # replaces or adds the axis in every grid
        key, eq, value = item.partition("=")
        if not eq:
            raise SpecError("--axis", f"expected key=[values], got {item!r}")
        for grid in grids:
            grid[key] = yaml.safe_load(value)
    data["axes"] = grids if isinstance(axes, list) else grids[0]
    if args.storage:
        data["storage_path"] = args.storage
    if args.tracking_uri:
        data["tracking_uri"] = args.tracking_uri
    if args.cpus_per_trial is not None:
        data["resources"] = {**data.get("resources", {}), "cpus_per_trial": args.cpus_per_trial}  # not the preset's
    return from_dict(SweepSpec, data)


def run(sweep, args) -> int:
    from caseray import sweep_summary

    specs = sweep.trials()
    res = sweep.resources
    print(f"sweep {sweep.id}: {len(specs)} trials; each {res.cpus_per_trial:g} CPU, {res.gpus_per_trial:g} GPU, "
          f"{res.num_workers} worker(s), backend {res.backend}")
    for i, grid in enumerate(sweep.grids):
        print(("axes: " if len(sweep.grids) == 1 else f"grid {i}: ") + ", ".join(f"{k} ({len(v)})" for k, v in grid.items()))
    if args.dry_run:
        return 0
    from caseray.ray_sweep import run_sweep, storage_root

    start = time.time()
    outcomes = run_sweep(sweep, resume=args.resume, num_cpus=args.num_cpus)
    print(f"\n{len(outcomes)} trials in {time.time() - start:.0f} s\n")
    print(sweep_summary.table(outcomes))
    if any(o.metrics for o in outcomes):
        from caseray.report_cli import report_sweep

        path, _ = report_sweep(sweep.id, storage_root(sweep), sweep.tracking_uri, source="local")
        print(f"\nreport: {path} (hole maps, curves, tables; also on the MLflow parent run)")
    print(f"MLflow: caseray ui --tracking-uri {sweep.tracking_uri}  (on 127.0.0.1; parent run {sweep.id})")
    failed = [o for o in outcomes if o.error or not o.metrics]
    return 1 if failed else 0


def main(presets: dict, doc: str | None = None, argv=None) -> None:
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=sorted(presets), default="smoke")
    add_sweep_args(p)
    args = p.parse_args(argv)
    try:
        sweep = build_sweep(presets[args.preset], args)
        code = run(sweep, args)
    except SpecError as err:
        print(f"error: {err}", file=sys.stderr)
        code = 2
    sys.exit(code)
