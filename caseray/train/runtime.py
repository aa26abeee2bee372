"""Where a trial's training runs (one process, DDP, DeepSpeed): plain data, no torch, so sweeps can
validate it without importing the engine."""

from __future__ import annotations

from dataclasses import dataclass

from caseray.core.errors import SpecError
from caseray.core.specs import check_choice, check_int

BACKENDS = ("local", "ddp", "deepspeed")


@dataclass(frozen=True)
class Runtime:
    """Where a trial's training runs; not part of the trial's identity (its hash)."""

    backend: str = "local"
    zero_stage: int = 2  # deepspeed only: ZeRO stage 0-3
    offload: bool = False  # deepspeed only: optimizer state offloaded to CPU memory

    def __post_init__(self):
        check_choice("backend", self.backend, BACKENDS)
        check_int("zero_stage", self.zero_stage, minimum=0, maximum=3)
        if self.offload and self.backend != "deepspeed":
            raise SpecError("offload", "optimizer offload needs backend 'deepspeed'", ["false"])
