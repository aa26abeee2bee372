"""The held-out curve (``eval.curve_every``): exact match *during* training on the cells a trial is
judged on, so that one run shows when a hole opens or closes, not only how it ends.

Points at step 0 (before training), every ``curve_every`` steps and the last step. At each, the
evaluation's own scorer (``train.evaluate.teacher_forced``: greedy, teacher-forced, exact) on
- ``test``: the test cells (at most ``CURVE_ROWS``, a seeded sample beyond that),
- ``train``: a seeded sample of ``CURVE_ROWS`` training cells,
- ``centre``: every centre cell (ring 0) of a square split's held-out squares,
in inference mode, the model put back in training mode after: no random number is drawn, so a trial
with a curve trains exactly as the same trial without one (tested). Every rank scores the same rows
(their weights are equal) and reports the point, so Ray Train's ranks report equally often; rank 0
writes. Written point by point to ``curve.jsonl`` (a crash keeps what was measured; a resumed trial
adds the points from its checkpoint on, later ones replacing what the crashed run wrote), then whole
to ``curve.json`` (atomic) with the trial's outputs, and drawn as ``curve.png``. ZeRO-3 partitions the
weights across ranks: refused there.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa

from caseray.core.atomic import write_text_atomic
from caseray.data.plots import pyplot, save_figure
from caseray.train.batches import make_batchable
from caseray.train.engine import world
from caseray.train.evaluate import teacher_forced
from caseray.trial.eval_rows import evaluation_rows
from caseray.trial.result import CURVE, CURVE_COLOURS
from caseray.trial.spec import TrialSpec

CURVE_ROWS = 1024  # rows per part at most: a point costs ~3 teacher-forced passes over this many rows
POINTS, FIGURE = "curve.jsonl", "curve.png"


def curve_parts(spec: TrialSpec, table: pa.Table) -> dict[str, pa.Table]:
    """{part: rows} the curve scores (see the module docstring); a part with no rows is left out."""
    rows = evaluation_rows(spec, table)
    split = rows["split"].to_numpy(zero_copy_only=False)
    rng = np.random.default_rng(spec.seed)

    def sample(mask: np.ndarray) -> np.ndarray:
        picked = np.flatnonzero(mask)
        return np.sort(rng.choice(picked, CURVE_ROWS, replace=False)) if len(picked) > CURVE_ROWS else picked

    parts = {"test": sample(split == "test"), "train": sample(split == "train")}
    if spec.lengths is None and spec.split.has_squares:
        parts["centre"] = np.flatnonzero((split == "test") & (rows["ring"].to_numpy() == 0))
    return {name: rows.take(pa.array(index)) for name, index in parts.items() if len(index)}


class Curve:
    """Called with the step at each point; keeps the points (``points``) and reports them."""

    def __init__(self, spec: TrialSpec, table: pa.Table, tokenizer, model, device, out: Path,
                 report: Callable[[int, dict], None] | None):
        positions = spec.positions()
        self.spec, self.model, self.device, self.positions, self.report = spec, model, device, positions, report
        self.parts = {name: make_batchable(rows, tokenizer.bos_id, tokenizer.pad_id, places=positions.coupled,
                                           rule=positions.rule) for name, rows in curve_parts(spec, table).items()}
        self.path = Path(out) / POINTS
        self.points = read_points(self.path)  # (a resumed run's: its later points replace these)

    def __call__(self, step: int) -> None:
        point = {"step": step}
        for name, data in self.parts.items():
            scored = teacher_forced(self.model, data, self.spec.eval.batch_size, self.device,
                                    self.spec.train.precision, positions=self.positions)
            point[f"{name}_acc"] = float(scored.correct.mean())
        self.points.append(point)  # (the training loop puts the model back in training mode)
        if world()[0] == 0:
            with open(self.path, "a") as f:
                f.write(json.dumps(point) + "\n")
        if self.report is not None:
            self.report(step, {f"curve/{k}": v for k, v in point.items() if k != "step"})

    def write(self, out: Path) -> dict:
        """Writes ``curve.json`` and returns what it holds: {"step": [...], "<part>_acc": [...]} (one entry
        per step, the last kept)."""
        by_step = {p["step"]: p for p in self.points}
        steps = sorted(by_step)
        keys = [k for k in by_step[steps[0]] if k != "step"] if steps else []
        data = {"step": steps, **{k: [by_step[s].get(k) for s in steps] for k in keys}}
        write_text_atomic(Path(out) / CURVE, json.dumps(data))
        return data


def read_points(path: Path) -> list[dict]:
    """The points a run wrote to ``curve.jsonl`` before it stopped (a line cut short by a crash: skipped)."""
    if not path.exists():
        return []
    points = []
    for line in path.read_text().splitlines():
        try:
            points.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return points


def plot_curve(curve: dict, path: Path, title: str) -> Path:
    """Exact match of each part against the step (a log-scaled step axis hides step 0: linear)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for key in [k for k in CURVE_COLOURS if k in curve]:
        ax.plot(curve["step"], curve[key], marker=".", color=CURVE_COLOURS[key], label=key.removesuffix("_acc"))
    ax.set(xlabel="optimizer step", ylabel="exact match", ylim=(-0.03, 1.03))
    ax.set_title(title, fontsize=9)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)
