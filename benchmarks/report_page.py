"""The main job's report (README's first command: the square_grid smoke sweep, 16 trials on 0-49 grids):
report.html's size and the time ``caseray report`` takes to build it. No training: each of the 16
trials' specs gets cells as the sweep measured them (number tokens leave a hole of ring <= 5 in the
square, 5% of a random split's test cells wrong, 1% of training cells wrong), every wrong cell with
an output, written as a sweep's results folder; then ``report_sweep`` reads and reports it.

    python benchmarks/report_page.py            # best of 3
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from caseray.core.specs import from_dict
from caseray.data.splits import make_split
from caseray.data.tasks import build_task
from caseray.presets import preset
from caseray.report.sweep_report import report_sweep
from caseray.sweep.results import write_manifest
from caseray.sweep.spec import SweepSpec
from caseray.trial.metrics import summarize


def cells(spec, rng: np.random.Generator) -> pa.Table:
    task = build_task(spec.task)
    s = make_split(task, spec.split)
    wrong = rng.random(len(s.a)) < np.where(s.split == "test", 0.05, 0.01)
    if spec.tokenizer == "number" and spec.split.kind == "square":
        wrong |= (s.split == "test") & (s.ring <= 5)
    output = [task.answer(int(a), int(b) + 1) if w else None for a, b, w in zip(s.a, s.b, wrong)]
    return pa.table({"a": s.a, "b": s.b, "split": s.split, "ring": s.ring, "square": s.square,
                     "dist_train": s.dist_train, "greedy_correct": ~wrong, "answer_correct": ~wrong,
                     "output": pa.array(output, pa.string()), "first_wrong_step": np.where(wrong, 0, -1),
                     "n_steps": np.ones(len(s.a), dtype=np.int32), "step_acc": (~wrong).astype(float),
                     "accuracy": (~wrong).astype(float)})


def write_sweep(storage: Path) -> str:
    sweep = from_dict(SweepSpec, {**preset("square_grid", "smoke"), "storage_path": str(storage)})
    specs = sweep.trials()
    rng = np.random.default_rng(0)
    for spec in specs:
        folder = storage / "trials" / spec.name
        folder.mkdir(parents=True)
        table = cells(spec, rng)
        pq.write_table(table, folder / "cells.parquet")
        (folder / "spec.json").write_text(json.dumps(spec.to_dict()))
        task = build_task(spec.task)
        metrics = summarize(table["split"].to_numpy(zero_copy_only=False), table["accuracy"].to_numpy(),
                            table["ring"].to_numpy(), table["square"].to_numpy(), table["dist_train"].to_numpy(),
                            tuple(make_split(task, spec.split).squares))
        (folder / "metrics.json").write_text(json.dumps(metrics))
    write_manifest(storage, sweep.id, sweep.to_dict(), [s.name for s in specs])
    return sweep.id


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    storage = Path(tempfile.mkdtemp(prefix="caseray-report-bench-"))
    sweep_id = write_sweep(storage)
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        path, _ = report_sweep(sweep_id, storage, log=False)
        times.append(time.perf_counter() - start)
    page = path.parent / "report.html"
    print(f"{sweep_id}: report.html {page.stat().st_size / 1e6:.2f} MB; caseray report took "
          f"{min(times):.2f} s (best of {args.repeats}: {', '.join(f'{t:.2f}' for t in times)}); {page}")


if __name__ == "__main__":
    main()
