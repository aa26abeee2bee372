"""Training checkpoints: one directory per step holding an engine's full state (model, optimizer,
schedule, RNG, step -- or a DeepSpeed engine's per-rank shards).

``LocalCheckpoints`` keeps them in a folder (used by a trial run without Ray): a checkpoint
directory appears only when complete (written under a temporary name, then renamed); loading is
weights-only; an unreadable newest checkpoint (truncated, garbled, a file missing) is skipped with a
warning for the one before it -- any other error is raised, never taken for corruption (which would
restart training from step 0 unnoticed). Trials of a sweep keep theirs in Ray's storage instead
(caseray.sweep.ray).
"""

from __future__ import annotations

import pickle
import shutil
import tempfile
import warnings
from pathlib import Path

import torch

from caseray.core.atomic import atomic_path
from caseray.core.paths import writing

KEEP = 2  # newest checkpoints kept on disk
# what torch.load raises on a damaged file: empty (EOFError), cut short or not a zip (RuntimeError from its
# zip reader, OSError), garbled or a forbidden object (UnpicklingError), gone (FileNotFoundError, an OSError)
DAMAGED = (EOFError, RuntimeError, OSError, pickle.UnpicklingError)


class UnreadableCheckpoint(Exception):
    """A checkpoint file that is damaged or missing (``DAMAGED`` from ``torch.load``)."""


def save_state(path: str | Path, state: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_state(path: str | Path, map_location="cpu") -> dict:
    """``torch.load`` weights-only (DeepSpeed's few non-tensor classes allowed by name); a damaged or
    missing file raises ``UnreadableCheckpoint``, anything else (a torch without ``safe_globals``) itself."""
    with torch.serialization.safe_globals(_deepspeed_globals()):
        try:
            return torch.load(path, map_location=map_location, weights_only=True)
        except DAMAGED as err:
            raise UnreadableCheckpoint(f"{type(err).__name__}: {err}") from err


def _deepspeed_globals() -> list:
    import sys

    if "deepspeed" not in sys.modules:
        return []
    from deepspeed.runtime.fp16.loss_scaler import LossScaler
    from deepspeed.runtime.zero.config import ZeroStageEnum
    from deepspeed.utils.tensor_fragment import fragment_address

    return [ZeroStageEnum, LossScaler, fragment_address]


class LocalCheckpoints:
    """``<directory>/step-XXXXXXXX/`` checkpoints, newest ``KEEP`` kept."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)

    def steps(self) -> list[Path]:
        return sorted(p for p in self.directory.glob("step-*") if p.is_dir())

    def restore(self, engine) -> int:
        """Load the newest readable checkpoint into ``engine``; the step to resume from (0: none)."""
        for path in reversed(self.steps()):
            try:
                return engine.load(path)
            except (UnreadableCheckpoint, FileNotFoundError) as err:  # damaged: fall back to the one before
                warnings.warn(f"checkpoint {path} is unreadable ({err}); trying an older one")
        return 0

    def save(self, engine, step: int, metrics: dict) -> None:
        final = self.directory / f"step-{step:08d}"
        with writing(final, f"the checkpoint of step {step}"):
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=self.directory))
            try:
                engine.save(tmp, step)
                shutil.rmtree(final, ignore_errors=True)
                tmp.rename(final)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        for old in self.steps()[:-KEEP]:
            shutil.rmtree(old, ignore_errors=True)


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
