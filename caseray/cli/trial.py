"""``caseray trial``: one trial, no Ray (train, evaluate every cell, hole map)."""

from __future__ import annotations

import argparse
from pathlib import Path

from caseray.cli.common import Command, apply_sets, load_mapping
from caseray.cli.spec_show import fields_help
from caseray.core.paths import check_output_folder
from caseray.core.specs import from_dict
from caseray.trial.spec import TrialSpec


def cmd_trial(args) -> None:
    spec = from_dict(TrialSpec, apply_sets(load_mapping(args.spec) if args.spec else {}, args.set or []))
    check_output_folder(args.out, "--out")
    print(f"trial {spec.name}")
    if args.dry_run:
        print(f"valid; it would write {Path(args.out) / spec.name}/ (nothing run, nothing written)")
        if spec.init is not None:
            from caseray.trial.result import load_result

            pre = spec.init.trial
            print(f"it starts from trial {pre.name}: " + (f"finished in {args.out}, its model reused"
                  if load_result(pre, args.out) is not None else f"run first, into {Path(args.out) / pre.name}/"))
        return
    from caseray.trial.run import run_trial  # torch: loaded only when a trial runs

    def report(step, figures):
        if "train/loss" in figures:
            print(f"  step {step}: loss {figures['train/loss']:.4f}, lr {figures['train/lr']:.2e}, "
                  f"{figures['train/tokens_per_s']:.0f} tokens/s", flush=True)
        curve = {k.removeprefix("curve/").removesuffix("_acc"): v for k, v in figures.items() if k.startswith("curve/")}
        if curve:
            print(f"  step {step}: exact " + ", ".join(f"{k} {v:.3f}" for k, v in curve.items()), flush=True)

    result = run_trial(spec, args.out, on_report=report)
    m = result.metrics
    line = f"exact match: train {m['train_acc']:.3f}, test {m['test_acc']:.3f}"
    if "square_acc" in m:
        line += f", square {m['square_acc']:.3f}, centre {m['centre_acc']:.3f}, border {m['border_acc']:.3f}"
        line += f", ring slope {m['ring_slope']:+.2f} [{m['ring_slope_lo']:+.2f}, {m['ring_slope_hi']:+.2f}]"
    if "answer_acc" in m:
        line += f"; answer right (greedy): test {m['answer_acc']:.3f}"
    print(line)
    interactive = ", holemap.html" if (result.out_dir / "holemap.html").exists() else ""  # (grid trials)
    interactive += ", curve.json, curve.png" if (result.out_dir / "curve.json").exists() else ""
    print(f"outputs: {result.out_dir}  (cells.parquet, metrics.json, holemap.png{interactive})")


def add_trial_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--spec", help="a JSON or YAML trial spec")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a field (listed below), e.g. --set tokenizer=digit --set split.half_width=5")
    p.add_argument("--out", default="caseray_out/trials", help="results folder")
    p.add_argument("--dry-run", action="store_true", help="validate the spec and print its name; run nothing")


COMMAND = Command("trial", "run one trial (train, evaluate every cell, hole map); no Ray", add_trial_args, cmd_trial, (
    "caseray trial --spec examples/trial.yaml --dry-run",
    "caseray trial --spec examples/trial.yaml --set tokenizer=digit --out runs",
    "caseray trial --set task.high=19 --set split.half_width=3 --set train.steps=200"),
    more_help=lambda: fields_help("trial"))
