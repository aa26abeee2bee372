"""A trial's result as it lies in its folder -- torch-free, so a sweep's driver, ``caseray sync`` and
the report read results without loading a model library. ``metrics.json`` is written last: a folder
without it is an unfinished trial."""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

DONE = "metrics.json"  # written last: a trial folder is finished once it is there
CURVE = "curve.json"  # the held-out curve (``eval.curve_every``; ``trial.curve``)
CURVE_COLOURS = {"test_acc": "tab:blue", "centre_acc": "tab:red", "train_acc": "tab:grey"}  # its parts, drawn


@dataclass(frozen=True)
class TrialResult:
    name: str
    out_dir: Path
    metrics: dict

    @property
    def cells_path(self) -> Path:
        return self.out_dir / "cells.parquet"


def read_result(folder: str | Path) -> TrialResult | None:
    """The finished trial in ``folder``; None if it has not finished."""
    folder = Path(folder)
    if not (folder / DONE).exists():
        return None
    return TrialResult(folder.name, folder, json.loads((folder / DONE).read_text()))


def load_result(spec, out_root: str | Path) -> TrialResult | None:
    """A finished trial's result under ``out_root``; None if it has not finished."""
    return read_result(Path(out_root) / spec.name)


@contextlib.contextmanager
def timed(seconds: dict, phase: str):
    """Adds the seconds spent inside to ``seconds["time/<phase>_s"]`` (the trial's metrics say where
    its time went: ``time/dataset_s``, ``time/fit_s``, ``time/teacher_forced_s``, ``time/greedy_s``, ...)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        key = f"time/{phase}_s"
        seconds[key] = seconds.get(key, 0.0) + round(time.perf_counter() - start, 3)
