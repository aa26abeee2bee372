"""Sweeps from the command line: ``caseray sweep run spec.yaml`` and the launchers ``sweeps/<name>.py``
(a shipped sweep's preset, ``caseray.presets``), with one set of options: ``--preset``, ``--dry-run``,
``--resume``, ``--set``, ``--axis``, storage, tracking and CPUs."""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from pathlib import Path

from caseray.cli.common import Command, Group, Parser, apply_sets, guarded, load_mapping
from caseray.core.errors import SpecError
from caseray.core.plain_data import load_yaml
from caseray.core.redact import redact
from caseray.core.specs import check_int, from_dict, short
from caseray.presets import SWEEPS, description, preset, presets
from caseray.sweep.spec import SweepSpec, expand


def add_sweep_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dry-run", action="store_true", help="validate, print trials and resources, run nothing")
    p.add_argument("--resume", action="store_true", help="continue a crashed sweep (finished trials are kept)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a base trial field (caseray trial --help lists them)")
    p.add_argument("--axis", action="append", default=[], metavar="KEY=[V1,V2]", help="replace or add an axis")
    p.add_argument("--storage", help="results folder or shared URI (default caseray_out/sweeps)")
    p.add_argument("--tracking-uri", help="MLflow URI (default: the sweep's own, else $MLFLOW_TRACKING_URI, "
                   "else sqlite:///mlflow.db)")
    p.add_argument("--cpus-per-trial", type=float)
    p.add_argument("--gpus-per-trial", type=float, help="GPUs per trial instead of the preset's (0: train on the CPU)")
    p.add_argument("--num-cpus", type=int, help="CPUs of the embedded local Ray (default: all)")


def build_sweep(data: dict, args) -> SweepSpec:
    """A sweep mapping (a preset or a file) with the command line's overrides, validated."""
    data = dict(data)
    data["base"] = apply_sets(copy.deepcopy(_mapping(data, "base")), args.set)  # the preset's stays as it was
    axes = data.get("axes", {})
    if not (isinstance(axes, dict) or isinstance(axes, list) and axes and all(isinstance(g, dict) for g in axes)):
        raise SpecError("axes", "expected a mapping {field: [values]} or a non-empty list of them")
    grids = [dict(g) for g in axes] if isinstance(axes, list) else [dict(axes)]
    for item in args.axis:  # replaces or adds the axis in every grid
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise SpecError("--axis", f"expected key=[values], got {short(item)}")
        values = load_yaml(value, f"--axis {short(key, 60, quote=False)}")
        for grid in grids:
            grid[key] = values
    data["axes"] = grids if isinstance(axes, list) else grids[0]
    if args.storage:
        data["storage_path"] = args.storage
    if args.tracking_uri:
        data["tracking_uri"] = args.tracking_uri
    elif "tracking_uri" not in data and os.environ.get("MLFLOW_TRACKING_URI"):  # MLflow's own convention
        data["tracking_uri"] = os.environ["MLFLOW_TRACKING_URI"]
    if getattr(args, "num_cpus", None) is not None:
        check_int("--num-cpus", args.num_cpus, minimum=1, maximum=4096)
    for key in ("cpus_per_trial", "gpus_per_trial"):  # not the preset's
        if getattr(args, key, None) is not None:
            data["resources"] = {**_mapping(data, "resources"), key: getattr(args, key)}
    return from_dict(SweepSpec, data)


def _mapping(data: dict, key: str) -> dict:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise SpecError(key, f"expected a mapping, got {short(value)}")
    return value


def run(sweep: SweepSpec, args) -> int:
    """Print the sweep's shape; unless ``--dry-run``, run it on Ray, print its table and build its report."""
    specs = sweep.trials()
    res = sweep.resources
    asked = {s.hash for s in expand(sweep)}
    n_pre = len({s.init.trial.hash for s in specs if s.init is not None} - asked)
    n_controls = len(specs) - len(asked) - n_pre
    extra = ([f"{n_controls} of them paired random-split controls"] if sweep.controls else []) + \
        ([f"{n_pre} pretraining trials, run first"] if n_pre else [])
    paired = f" ({'; '.join(extra)})" if extra else ""
    print(f"sweep {sweep.id}: {len(specs)} trials{paired}; each {res.cpus_per_trial:g} CPU, "
          f"{res.gpus_per_trial:g} GPU, {res.num_workers} worker(s), backend {res.backend}")
    for i, grid in enumerate(sweep.grids):
        shape = ", ".join(f"{k} ({len(v)})" for k, v in grid.items())
        print(("axes: " if len(sweep.grids) == 1 else f"grid {i}: ") + shape)
    print(f"results: {redact(sweep.storage_path)}; MLflow runs: {redact(sweep.tracking_uri)}")
    if args.dry_run:
        return 0
    # Ray, torch and MLflow load only when a sweep runs (a dry run or bad input answers at once)
    from caseray.report.sweep_report import report_sweep
    from caseray.sweep.ray import run_sweep, storage_root
    from caseray.sweep.summary import table

    start = time.time()
    outcomes = run_sweep(sweep, resume=args.resume, num_cpus=args.num_cpus)
    print(f"\n{len(outcomes)} trials in {time.time() - start:.0f} s\n")
    print(table(outcomes))
    if any(o.metrics for o in outcomes):
        path, _ = report_sweep(sweep.id, storage_root(sweep), sweep.tracking_uri, source="local")
        print(f"\nreport: {path} (hole maps, curves, tables; also on the MLflow parent run)")
    print(f"MLflow: caseray ui --tracking-uri {redact(sweep.tracking_uri)}  (on 127.0.0.1; parent run {sweep.id})")
    failed = [o for o in outcomes if o.error or not o.metrics]
    for o in failed:
        print(f"failed: {o.spec.name}: {(o.error or 'no results').strip().splitlines()[-1]}")
    return 1 if failed else 0


def sweep_data(target: str, preset_name: str | None, default_preset: str = "smoke") -> dict:
    """A sweep as a mapping: a shipped sweep's preset (``caseray.presets``; a launcher's path names its
    sweep) or a YAML/JSON sweep file. A Python file is never executed."""
    path = Path(target)
    name = path.stem if path.suffix == ".py" else target
    if name in SWEEPS:
        return preset(name, preset_name or default_preset)
    if path.suffix != ".py" and path.is_file():
        if preset_name is not None:
            raise SpecError("preset", f"{path} is a sweep file: only shipped sweeps have presets", SWEEPS.names())
        return load_mapping(str(path))
    raise SpecError("sweep", f"no shipped sweep or sweep file {target!r}", SWEEPS.names() + ["a .yaml or .json file"])


def cmd_sweep_run(args) -> int:
    return run(build_sweep(sweep_data(args.sweep, args.preset, "smoke"), args), args)


def add_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("sweep", help="a shipped sweep (square_grid, lema, rfft_length) or a YAML/JSON sweep file "
                   "(name, base, axes, resources, storage_path, tracking_uri)")
    p.add_argument("--preset", help="a shipped sweep's preset (default smoke)")
    add_sweep_args(p)


GROUP = Group("sweep", "sweeps on Ray", (
    Command("run", "run a shipped sweep's preset or a sweep from a YAML file", add_run_args, cmd_sweep_run, (
        "caseray sweep run examples/sweep.yaml --dry-run",
        "caseray sweep run square_grid --preset smoke --num-cpus 2",
        "caseray sweep run examples/sweep.yaml --axis seed=[0,1,2] --tracking-uri http://127.0.0.1:5000")),
))


def launcher_parser(name: str) -> argparse.ArgumentParser:
    p = Parser(prog=f"sweeps/{name}.py", description=description(name),
               formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=sorted(presets(name)), default="smoke")
    add_sweep_args(p)
    return p


def launch(name: str, argv: list[str] | None = None) -> None:
    """What ``sweeps/<name>.py`` runs: the shipped sweep ``name``'s preset with the command line's
    overrides; exits 0, 1 (a trial failed) or 2 (bad input, before anything runs)."""
    sys.exit(launch_code(name, argv))


def launch_code(name: str, argv: list[str] | None = None) -> int:
    """``launch`` as a function that returns the exit code (for tests and notebooks)."""
    args = launcher_parser(name).parse_args(argv)
    return guarded(lambda: run(build_sweep(preset(name, args.preset), args), args))
