"""The tokenization finding, checked without Ray: addition, direct, square (50, 50) h = 10.

Three conditions × seeds, trials run in local processes (one CPU each):
  number tokens, square split   -> expect a hole (centre ~0, square << train)
  number tokens, random split   -> expect test ~ train (random split of the square's size)
  digit tokens,  square split   -> expect the square mostly solved

    python sweeps/local_hole_check.py --seeds 0 1 2 --workers 2 [--steps 2500] [--high 99 --half-width 10]
"""

import argparse
import statistics
from concurrent.futures import ProcessPoolExecutor

from caseray.models import ModelSpec
from caseray.splits import SplitSpec
from caseray.tasks import TaskSpec
from caseray.trial import run_trial
from caseray.trial_spec import TrainSpec, TrialSpec

CONDITIONS = [("number", "square"), ("number", "random"), ("digit", "square")]
KEYS = ["train_acc", "test_acc", "centre_acc", "border_acc"]


def spec_for(tokenizer, kind, seed, args) -> TrialSpec:
    c, h = (args.high + 1) // 2, args.half_width
    split = SplitSpec(center=(c, c), half_width=h) if kind == "square" else \
        SplitSpec(kind="random", test_size=(2 * h + 1) ** 2, seed=42 + seed)
    return TrialSpec(task=TaskSpec("addition", high=args.high), tokenizer=tokenizer, split=split,
                     model=ModelSpec(scale=args.scale), seed=seed, save_model=False,
                     train=TrainSpec(steps=args.steps, lr=args.lr, batch_size=128, log_every=10**9))


def one(job):
    spec, out = job
    result = run_trial(spec, out)
    return result.metrics, result.out_dir


def combined_holemap(results, path):
    """One panel per condition: per-cell accuracy averaged over the seeds."""
    from caseray.report_figures import hole_map_grid
    from caseray.results import read_trial

    return hole_map_grid([read_trial(out_dir) for _, out_dir in results], [], ["tokenizer", "split"], path)[0]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--steps", type=int, default=2500)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--high", type=int, default=99)
    p.add_argument("--half-width", type=int, default=10)
    p.add_argument("--scale", default="tiny")
    p.add_argument("--out", default="caseray_out/hole_check")
    args = p.parse_args()
    jobs = [(spec_for(t, k, s, args), args.out) for t, k in CONDITIONS for s in args.seeds]
    with ProcessPoolExecutor(args.workers) as pool:
        results = list(pool.map(one, jobs))
    figure = combined_holemap(results, f"{args.out}/holemaps.png")
    results = [m for m, _ in results]
    print(f"addition 0-{args.high}, direct, h={args.half_width}, {args.scale}, {args.steps} steps, "
          f"seeds {args.seeds}: mean ± sd")
    print(f"{'tokenizer':9} {'split':7} " + " ".join(f"{k:>14}" for k in KEYS))
    for i, (tok, kind) in enumerate(CONDITIONS):
        rows = results[i * len(args.seeds):(i + 1) * len(args.seeds)]
        cells = []
        for k in KEYS:
            vals = [r[k] for r in rows if k in r]
            sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
            cells.append(f"{statistics.mean(vals):.3f} ± {sd:.3f}" if vals else "-")
        print(f"{tok:9} {kind:7} " + " ".join(f"{c:>14}" for c in cells))
    print(f"hole maps (first seed of each condition): {figure}")
    print(f"per-trial outputs (cells.parquet, metrics.json, holemap.png) under {args.out}/")


if __name__ == "__main__":
    main()
