"""How a model is trained: optimizer, schedule, precision, checkpoints (part of a trial's identity)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from caseray.core.errors import SpecError
from caseray.core.specs import check_choice, check_float, check_int

SCHEDULES = ("cosine", "linear", "constant")
PRECISIONS = ("fp32", "bf16")


@dataclass(frozen=True)
class TrainSpec:
    lr: float = 3e-3
    steps: int | None = None  # optimizer steps (default 2000 unless epochs is given)
    epochs: float | None = None  # alternatively: passes over the training cells
    batch_size: int = 128
    warmup: float = 0.01  # share of the steps with a linear warm-up
    schedule: str = "cosine"
    weight_decay: float = 0.0
    grad_clip: float = 1.0  # max gradient norm; 0 turns clipping off
    precision: str = "fp32"
    checkpoint_every: int = 0  # steps between checkpoints; 0: none (a final model is always saved)
    log_every: int = 100  # steps between progress reports
    length_buckets: int = 0  # >1: each batch from one of this many length buckets (less padding); 0/1: off

    def __post_init__(self):
        check_float("lr", self.lr, 0.0, 10.0, low_open=True)
        if self.steps is not None and self.epochs is not None:
            raise SpecError("steps", "give steps or epochs, not both")
        if self.steps is not None:
            check_int("steps", self.steps, minimum=1)
        if self.epochs is not None:
            check_float("epochs", self.epochs, 0.0, 1e6, low_open=True)
        check_int("batch_size", self.batch_size, minimum=1)
        check_float("warmup", self.warmup, 0.0, 1.0)
        check_choice("schedule", self.schedule, SCHEDULES)
        check_float("weight_decay", self.weight_decay, 0.0, 10.0)
        check_float("grad_clip", self.grad_clip, 0.0, 1e6)
        check_choice("precision", self.precision, PRECISIONS)
        check_int("checkpoint_every", self.checkpoint_every, minimum=0)
        check_int("log_every", self.log_every, minimum=1)
        check_int("length_buckets", self.length_buckets, minimum=0, maximum=1024)

    def total_steps(self, n_train: int) -> int:
        if self.epochs is not None:
            return max(1, math.ceil(self.epochs * n_train / self.batch_size))
        return self.steps if self.steps is not None else 2000
