"""The tokenization finding, checked without Ray (``sweeps/local_hole_check.py``): addition, direct,
one square, three conditions x seeds, trials in local processes (one CPU each):

    number tokens, square split   -> expect a hole (centre ~0, square << train)
    number tokens, random split   -> expect test ~ train (a random split of the square's size)
    digit tokens,  square split   -> expect the square mostly solved

Prints mean ± sd per condition and draws one hole-map panel per condition (mean over seeds).
"""

from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from caseray.cli.common import Parser, script
from caseray.core.errors import SpecError
from caseray.core.tables import format_table
from caseray.data.splits import SplitSpec
from caseray.data.tasks import TaskSpec
from caseray.report.aggregate import stats
from caseray.report.figures import hole_map_grid
from caseray.sweep.results import read_trial
from caseray.sweep.storage import Store
from caseray.train.models import ModelSpec
from caseray.train.spec import TrainSpec
from caseray.trial.spec import TrialSpec

CONDITIONS = [("number", "square"), ("number", "random"), ("digit", "square")]
KEYS = ["train_acc", "test_acc", "centre_acc", "border_acc"]


def spec_for(tokenizer: str, kind: str, seed: int, args) -> TrialSpec:
    c, h = (args.high + 1) // 2, args.half_width
    split = SplitSpec(center=(c, c), half_width=h) if kind == "square" else \
        SplitSpec(kind="random", test_size=(2 * h + 1) ** 2, seed=42 + seed)
    return TrialSpec(task=TaskSpec("addition", high=args.high), tokenizer=tokenizer, split=split,
                     model=ModelSpec(scale=args.scale), seed=seed, save_model=False,
                     train=TrainSpec(steps=args.steps, lr=args.lr, batch_size=128, log_every=10**9))


def run_one(job: tuple[TrialSpec, str]) -> dict:
    from caseray.trial.run import run_trial  # torch: in the worker processes

    spec, out = job
    return run_trial(spec, out).metrics


def parser() -> argparse.ArgumentParser:
    p = Parser(prog="sweeps/local_hole_check.py", description=__doc__,
               formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--steps", type=int, default=2500)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--high", type=int, default=99)
    p.add_argument("--half-width", type=int, default=10)
    p.add_argument("--scale", default="tiny")
    p.add_argument("--out", default="caseray_out/hole_check")
    return p


def check(args) -> int:
    """Validate every trial first, run them, print the table, draw the hole maps."""
    if args.workers < 1:
        raise SpecError("workers", f"{args.workers} is not a number of processes", ">= 1")
    specs = [spec_for(t, k, s, args) for t, k in CONDITIONS for s in args.seeds]
    with ProcessPoolExecutor(args.workers) as pool:
        results = list(pool.map(run_one, [(s, args.out) for s in specs]))
    print(f"addition 0-{args.high}, direct, h={args.half_width}, {args.scale}, {args.steps} steps, "
          f"seeds {args.seeds}: mean ± sd")
    rows = []
    for i, (tok, kind) in enumerate(CONDITIONS):
        metrics = results[i * len(args.seeds):(i + 1) * len(args.seeds)]
        cells = []
        for key in KEYS:
            mean, sd, n = stats(m.get(key) for m in metrics)
            cells.append(f"{mean:.3f} ± {sd:.3f}" if n else "-")
        rows.append([tok, kind, *cells])
    print(format_table(["tokenizer", "split", *KEYS], rows))
    store = Store(args.out)
    records = [read_trial(store, spec.name) for spec in specs]
    figure = hole_map_grid([r for r in records if r is not None], [], ["tokenizer", "split"],
                           Path(args.out) / "holemaps.png")[0]
    print(f"hole maps (mean over seeds, one panel per condition): {figure}")
    print(f"per-trial outputs (cells.parquet, metrics.json, holemap.png, holemap.html) under {args.out}/")
    return 0


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    script(lambda: check(args))
