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


def compare(args, device: str = "cpu") -> dict:
    """Train briefly, then evaluate every cell both ways on ``device``: times, ratio, per-cell agreement."""
    spec, tok, table, data = grid_data(args)
    torch.manual_seed(0)
    model = build_model(spec.model, tok, int(data.lengths.max()))
    dev = torch.device(device)
    ts = TrainSpec(steps=args.steps, lr=3e-3, log_every=10**9)
    train(local_engine(model, ts, args.steps, dev), data, ts, args.steps, 0)
    gen_batch = args.gen_batch_size or args.batch_size
    teacher_forced(model, data, args.batch_size, dev)  # warm-up: kernels, allocator
    t0 = time.perf_counter()
    correct, *_ = teacher_forced(model, data, args.batch_size, dev)
    t_tf = time.perf_counter() - t0
    t0 = time.perf_counter()
    gen = generate(model, table, tok, dev, batch_size=gen_batch)
    t_gen = time.perf_counter() - t0
    same = np.array([g[0] == t for g, t in zip(gen, table["target_ids"].to_pylist())])
    return {"device": device, "cells": table.num_rows, "format": args.format, "tokenizer": args.tokenizer,
            "steps": args.steps, "correct": round(float(correct.mean()), 4), "batch_size": args.batch_size,
            "gen_batch_size": gen_batch, "teacher_forced_s": round(t_tf, 3), "generate_s": round(t_gen, 3),
            "ratio": round(t_gen / t_tf, 1), "identical": bool(np.array_equal(correct, same))}


def main():
    p = argparse.ArgumentParser()
    add_data_args(p)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--gen-batch-size", type=int, default=None, help="generate()'s batch (default: --batch-size)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = p.parse_args()
    r = compare(args, args.device)
    print(f"{r['cells']} cells, {r['format']}/{r['tokenizer']}, tiny model after {r['steps']} steps on {r['device']}: "
          f"{r['correct']:.1%} correct")
    print(f"teacher-forced (batch {r['batch_size']}): {r['teacher_forced_s']:.2f} s   generate() (batch "
          f"{r['gen_batch_size']}): {r['generate_s']:.2f} s   ratio {r['ratio']:.1f}x   (goal >= 20x)")
    print(f"identical per-cell results: {r['identical']}")


if __name__ == "__main__":
    main()
