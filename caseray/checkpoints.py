"""Training checkpoints: model, optimizer, scheduler, RNG states and step in one file per step.

Writes are atomic (temp file + rename); loading is weights-only (``torch.load(weights_only=True)``);
a truncated or corrupt latest file is skipped with a warning and the one before it is used.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from caseray.atomic import atomic_path

KEEP = 2  # newest checkpoints kept on disk


def _files(directory: Path) -> list[Path]:
    return sorted(directory.glob("step-*.pt"))


def save_checkpoint(directory: str | Path, step: int, state: dict) -> Path:
    directory = Path(directory)
    path = directory / f"step-{step:08d}.pt"
    with atomic_path(path) as tmp:
        torch.save({**state, "step": step}, tmp)
    for old in _files(directory)[:-KEEP]:
        old.unlink(missing_ok=True)
    return path


def load_latest(directory: str | Path, map_location="cpu") -> dict | None:
    """The newest readable checkpoint in ``directory`` (None if there is none)."""
    directory = Path(directory)
    if not directory.is_dir():
        return None
    for path in reversed(_files(directory)):
        try:
            return torch.load(path, map_location=map_location, weights_only=True)
        except Exception as err:  # truncated or corrupt: fall back to the one before
            warnings.warn(f"checkpoint {path} is unreadable ({type(err).__name__}: {err}); trying an older one")
    return None


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
