"""Generate + tokenize the full grids of all 5 tasks in every format they have: cold and cached.

    python benchmarks/data_generation.py [--tokenizer number] [--repeats 3]

Cold = build the table (text, tokens, split columns) and write the parquet cache; cached = read it
back. Each figure is the best of --repeats runs, each cold run in a fresh cache folder.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from caseray.data.datasets import GridDataSpec, load_dataset
from caseray.data.formats import FORMATS
from caseray.data.tasks import TASKS, TaskSpec


def all_specs(tokenizer: str) -> list[GridDataSpec]:
    return [GridDataSpec(task=TaskSpec(t), format=f, tokenizer=tokenizer)
            for t in TASKS.names() for f in FORMATS.names() if t in FORMATS.get(f).tasks]


def timed(specs, cache) -> tuple[float, int]:
    start, rows = time.perf_counter(), 0
    for spec in specs:
        rows += load_dataset(spec, cache).num_rows
    return time.perf_counter() - start, rows


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tokenizer", default="number")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    specs = all_specs(args.tokenizer)
    load_dataset(specs[0], tempfile.mkdtemp())  # imports and first-call costs out of the way
    cold, cached = [], []
    for _ in range(args.repeats):
        cache = tempfile.mkdtemp()
        seconds, rows = timed(specs, cache)
        cold.append(seconds)
        cached.append(timed(specs, cache)[0])
    print(f"{len(specs)} datasets (5 tasks x their formats), {rows} rows, tokenizer {args.tokenizer}")
    print(f"cold (build + tokenize + write): {min(cold):.2f} s   goal < 3 s")
    print(f"cached (read parquet):           {min(cached):.3f} s   ratio cold/cached {min(cold) / min(cached):.0f}x")


if __name__ == "__main__":
    main()
