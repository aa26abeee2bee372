"""Full-grid greedy evaluation: one teacher-forced pass per batch vs batched HF ``generate()``.

    python benchmarks/eval_teacher_forced.py [--format direct] [--steps 300]

Trains the tiny model briefly on addition (so it is right on some cells and wrong on others), then
evaluates every cell of the 100x100 grid both ways on the same model and checks that the per-cell
results are identical. Goal: ratio >= 20x.
"""

import argparse
import time

import numpy as np
import torch
from common import add_data_args, grid_data

from caseray.train.evaluate import generate, teacher_forced
from caseray.train.loop import local_engine, train
from caseray.train.models import build_model
from caseray.train.spec import TrainSpec


def main():
    p = argparse.ArgumentParser()
    add_data_args(p)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--gen-batch-size", type=int, default=None, help="generate()'s batch (default: --batch-size)")
    args = p.parse_args()
    spec, tok, table, data = grid_data(args)
    torch.manual_seed(0)
    model = build_model(spec.model, tok, int(data.lengths.max()))
    cpu = torch.device("cpu")
    ts = TrainSpec(steps=args.steps, lr=3e-3, log_every=10**9)
    train(local_engine(model, ts, args.steps, cpu), data, ts, args.steps, 0)

    t0 = time.perf_counter()
    correct, *_ = teacher_forced(model, data, args.batch_size, cpu)
    t_tf = time.perf_counter() - t0
    t0 = time.perf_counter()
    gen = generate(model, table, tok, cpu, batch_size=args.gen_batch_size or args.batch_size)
    t_gen = time.perf_counter() - t0
    same = np.array([g[0] == t for g, t in zip(gen, table["target_ids"].to_pylist())])
    print(f"{table.num_rows} cells, {args.format}/{args.tokenizer}, tiny model after {args.steps} steps: "
          f"{correct.mean():.1%} correct")
    print(f"teacher-forced (batch {args.batch_size}): {t_tf:.2f} s   generate() (batch "
          f"{args.gen_batch_size or args.batch_size}): {t_gen:.2f} s   ratio {t_gen / t_tf:.1f}x   (goal >= 20x)")
    print(f"identical per-cell results: {bool(np.array_equal(correct, same))}")


if __name__ == "__main__":
    main()
