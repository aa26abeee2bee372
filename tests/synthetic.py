"""Synthetic trial records with known per-cell patterns (no training): inputs for analysis tests."""

import numpy as np
import pyarrow as pa

from caseray.data.splits import SplitSpec, make_split
from caseray.data.tasks import TaskSpec, build_task
from caseray.sweep.results import TrialRecord
from caseray.trial.metrics import summarize
from caseray.trial.spec import TrialSpec


def record(task="addition", fmt="direct", tokenizer="number", split=SplitSpec(center=(10, 10), half_width=3),
           seed=0, hole=1, accuracy=None, high=19) -> TrialRecord:
    """A 0-``high`` grid trial whose test cells within ring ``hole`` of a square centre score 0, all else 1
    (or per-cell ``accuracy(a, b, split) -> array``)."""
    spec = TrialSpec(task=TaskSpec(task, high=high), format=fmt, tokenizer=tokenizer, split=split, seed=seed)
    s = make_split(build_task(spec.task), spec.split)
    acc = (accuracy(s.a, s.b, s.split) if accuracy else
           np.where((s.split == "test") & (s.ring >= 0) & (s.ring <= hole), 0.0, 1.0))
    cells = pa.table({"a": s.a, "b": s.b, "split": s.split, "ring": s.ring, "square": s.square,
                      "dist_train": s.dist_train, "accuracy": acc})
    return TrialRecord(spec, summarize(s.split, acc, s.ring, s.square, s.dist_train, s.squares), cells)


def length_record(fmt="direct", scale="llama-tiny", options=None, positions=None, seed=0, at=None, fit=1.0,
                  train_digits=(1, 5), test_digits=(1, 20)) -> TrialRecord:
    """A length trial whose exact match per length is ``at(n)`` (trained lengths: ``fit``); no cells."""
    from caseray.core.specs import from_dict

    spec = from_dict(TrialSpec, {"format": fmt, "tokenizer": "digit", "seed": seed,
                                 "model": {"scale": scale, "positions": positions}, "format_options": options,
                                 "lengths": {"train_digits": list(train_digits), "test_digits": list(test_digits)}})
    lo, hi = train_digits
    acc = {n: fit if lo <= n <= hi else at(n) for n in range(test_digits[0], test_digits[1] + 1)}
    metrics = {"id_acc": fit, "train_acc": fit, **{f"len_acc/{n}": v for n, v in acc.items()}}
    return TrialRecord(spec, metrics, None)
