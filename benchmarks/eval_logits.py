"""Teacher-forced evaluation with the LM head at target columns only, against the head at every column.

    python benchmarks/eval_logits.py [--high 999] [--tokenizer number:1998] [--rows 20000]

A number-token addition grid 0..high, every number up to 2*high one token by default (a vocabulary
of ~2*high tokens, so the head is most of a small model's work), the tiny model (seeded, untrained:
the comparison is of cost and of identical outputs, not of accuracy), ``--rows`` cells drawn from
the grid. Both ways run
alternately ``--repeats`` times in one process; the best of each is compared, and every output
(correct, first wrong position, token predicted there) must be identical.
"""

import argparse
import time

import numpy as np
import torch

from caseray.core.specs import from_dict
from caseray.data.datasets import load_dataset
from caseray.data.tokenizers import build_tokenizer
from caseray.train.batches import make_batchable
from caseray.train.evaluate import teacher_forced
from caseray.train.models import build_model, count_parameters
from caseray.trial.spec import TrialSpec


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--high", type=int, default=999)
    p.add_argument("--rows", type=int, default=20_000)
    p.add_argument("--tokenizer", default=None, help="default number:<2*high>: one token per number")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--scale", default="tiny")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    mid = args.high // 2
    tokenizer = args.tokenizer or f"number:{2 * args.high}"
    spec = from_dict(TrialSpec, {"task": {"high": args.high}, "split": {"center": [mid, mid], "half_width": 10},
                                 "model": {"scale": args.scale}, "tokenizer": tokenizer})
    tok = build_tokenizer(spec.tokenizer)
    table = load_dataset(spec.data_spec(), tokenizer=tok)
    rows = np.sort(np.random.default_rng(0).choice(table.num_rows, min(args.rows, table.num_rows), replace=False))
    table = table.take(rows)
    data = make_batchable(table, tok.bos_id, tok.pad_id)
    torch.manual_seed(0)
    model = build_model(spec.model, tok, int(data.lengths.max()))
    cpu = torch.device("cpu")
    times = {True: [], False: []}
    outputs = {}
    teacher_forced(model, data, args.batch_size, cpu)  # warm-up
    for _ in range(args.repeats):
        for only in (True, False):
            t0 = time.perf_counter()
            outputs[only] = teacher_forced(model, data, args.batch_size, cpu, only_scored=only)
            times[only].append(time.perf_counter() - t0)
    same = all(np.array_equal(a, b) for a, b in zip(outputs[True], outputs[False]) if a is not None)
    kept, full = min(times[True]), min(times[False])
    print(f"{table.num_rows} cells of the 0..{args.high} addition grid, number tokens (vocabulary {tok.vocab_size}), "
          f"{args.scale} model ({count_parameters(model) / 1e6:.2f}M parameters), {args.threads} thread(s), "
          f"rows of {int(data.lengths.min())}-{int(data.lengths.max())} tokens")
    print(f"LM head at every column: {full:.2f} s   at target columns only: {kept:.2f} s   "
          f"speed-up {full / kept:.2f}x (best of {args.repeats} each, alternating)")
    print(f"identical outputs: {same}")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
