"""Training throughput of caseray's trial loop vs a bare PyTorch loop on the same model and batches.

    python benchmarks/train_throughput.py [--steps 300] [--repeats 3] [--format direct]

Both loops start from the same initial weights and see the same batches; the bare loop is
forward + loss + backward + AdamW step and nothing else. Runs alternate; best of --repeats.
Goal: trial loop >= 0.95x the bare loop's tokens/s.
"""

import argparse
import copy
import time

import torch
from common import add_data_args, grid_data

from caseray.train.batches import shifted_loss
from caseray.train.loop import BatchOrder, local_engine, train
from caseray.train.models import ModelSpec, build_model
from caseray.train.spec import TrainSpec


def bare_loop(model, batches, lr):
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    for ids, labels, mask in batches:
        loss = shifted_loss(model(input_ids=ids, attention_mask=mask).logits, labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--repeats", type=int, default=3)
    add_data_args(p)
    p.add_argument("--scale", default="tiny")
    args = p.parse_args()
    spec, tok, table, data = grid_data(args, split="train")
    torch.manual_seed(0)
    init = build_model(ModelSpec(scale=args.scale), tok, int(data.lengths.max()))
    train_spec = TrainSpec(steps=args.steps, lr=1e-3, log_every=10**9)
    order = BatchOrder(len(data), train_spec.batch_size, 0)
    batches = [data.take(order(s)) for s in range(args.steps)]
    tokens = sum(int(m.sum()) for _, _, m in batches)
    best = {"bare": float("inf"), "trial": float("inf")}
    for _ in range(args.repeats):
        model = copy.deepcopy(init)
        t0 = time.perf_counter()
        bare_loop(model, batches, 1e-3)
        best["bare"] = min(best["bare"], time.perf_counter() - t0)
        model = copy.deepcopy(init)
        t0 = time.perf_counter()
        train(local_engine(model, train_spec, args.steps, torch.device("cpu")), data, train_spec, args.steps, 0)
        best["trial"] = min(best["trial"], time.perf_counter() - t0)
    bare, trial = tokens / best["bare"], tokens / best["trial"]
    print(f"{args.scale} model, {args.format}/{args.tokenizer}, {args.steps} steps of batch {train_spec.batch_size}, "
          f"{args.threads} thread(s)")
    print(f"bare loop: {bare:,.0f} tokens/s   trial loop: {trial:,.0f} tokens/s   ratio {trial / bare:.3f} "
          f"(goal >= 0.95)")


if __name__ == "__main__":
    main()
