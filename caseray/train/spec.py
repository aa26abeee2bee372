"""How a model is trained: optimizer, schedule, precision, checkpoints (part of a trial's identity)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from caseray.core.errors import SpecError
from caseray.core.fields import check_fields, floats, ints, spec_field

SCHEDULES = ("cosine", "linear", "constant")
PRECISIONS = ("fp32", "bf16")


@dataclass(frozen=True)
class TrainSpec:
    lr: float = spec_field(3e-3, "peak learning rate (AdamW)", bounds=floats(0.0, 10.0, low_open=True))
    steps: int | None = spec_field(None, "optimizer steps (null: 2000 unless epochs is given)", bounds=ints(1))
    epochs: float | None = spec_field(None, "alternatively: passes over the training cells",
                                      bounds=floats(0.0, 1e6, low_open=True))
    batch_size: int = spec_field(128, "rows per optimizer step (split over a trial's workers)", bounds=ints(1))
    warmup: float = spec_field(0.01, "share of the steps with a linear warm-up", bounds=floats(0.0, 1.0))
    schedule: str = spec_field("cosine", "learning-rate decay after the warm-up", choices=SCHEDULES)
    weight_decay: float = spec_field(0.0, "AdamW weight decay", bounds=floats(0.0, 10.0))
    grad_clip: float = spec_field(1.0, "max gradient norm; 0 turns clipping off", bounds=floats(0.0, 1e6))
    precision: str = spec_field("fp32", "fp32, or bf16 autocast (DeepSpeed: its bf16 mode)", choices=PRECISIONS)
    checkpoint_every: int = spec_field(0, "steps between checkpoints; 0: none (a final model is always saved)",
                                       bounds=ints(0))
    log_every: int = spec_field(100, "steps between progress reports", bounds=ints(1))
    length_buckets: int = spec_field(0, ">1: each batch from one of this many length buckets (less padding); "
                                     "0 or 1: off", bounds=ints(0, 1024))

    def __post_init__(self):
        if self.steps is not None and self.epochs is not None:
            raise SpecError("steps", "give steps or epochs, not both")
        check_fields(self)

    def total_steps(self, n_train: int) -> int:
        if self.epochs is not None:
            return max(1, math.ceil(self.epochs * n_train / self.batch_size))
        return self.steps if self.steps is not None else 2000
