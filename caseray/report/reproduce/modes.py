"""What ``caseray reproduce`` runs: each mode's sweep of joined grids (one per claim group, three seeds,
every square with its paired control) and which finished trials belong to which claim group."""

from __future__ import annotations

from dataclasses import dataclass, field

from caseray.core.specs import check_choice
from caseray.report.lengths import BASELINES, FIVE, LENGTH_BASE, RULE
from caseray.sweep.results import TrialRecord
from caseray.sweep.spec import grid_trials

SEEDS = [0, 1, 2]
TASK_NAMES = ("addition", "base9_addition", "mod_addition", "linear", "chicken_rabbit")


@dataclass(frozen=True)
class Mode:
    high: int | None  # the grids' largest operand (None: the paper's ranges, mod 113)
    h: int  # the square's half-width
    other_sizes: tuple[int, ...]  # further half-widths for the size claim (addition)
    steps: int
    scale: str
    lr: float
    slow: dict  # task -> train settings for tasks that need longer to fit (measured)
    scratchpad: dict = field(default_factory=dict)  # the scratchpad grid's own axes (a grid where some
    # steps occur only inside the square, so the predictor has something to predict)
    length_axes: dict = field(default_factory=dict)  # overrides of the length grids' axes (a miniature mode)


MODES = {
    # 0-39 grids (1,600 cells), h = 6 (169 cells held out), with paired controls: 33 min on 2 cores (measured)
    "quick": Mode(39, 6, (2, 4), 800, "tiny", 3e-3,
                  {"linear": {"steps": 1200}, "mod_addition": {"steps": 2000, "weight_decay": 0.1}},
                  # 0-39 with h = 6 leaves every tens pair outside the square; 0-49 with h = 7 holds the
                  # tens pair (2, 2) inside it (scratchpad fits this grid in 700 steps: measured)
                  {"task": [{"name": "addition", "high": 49}],
                   "split.half_width": [7], "train.steps": [700]}),
    # the paper's grids and h = 10 with h in 5..20 for the size ablation; a cluster
    "full": Mode(None, 10, (5, 15, 20), 5000, "small", 1e-3,
                 {"linear": {"steps": 10000}, "mod_addition": {"steps": 20000, "weight_decay": 0.1}}),
}


def _check_mode(mode: str) -> str:
    check_choice("mode", mode, tuple(MODES))
    return mode


def _task(name: str, high: int | None) -> dict:
    if high is None:
        return {"name": name}
    return {"name": name, "high": high, **({"modulus": high + 1} if name == "mod_addition" else {})}


def design(mode: str) -> list[tuple[str, dict]]:
    """(claim group, grid) pairs: the tasks group has one grid for the tasks that fit in the base
    steps and one per slower task with its own training settings. The sweep adds every square
    trial's paired random-split control (``controls``): the holes are judged against them."""
    m = MODES[_check_mode(mode)]
    fast = [t for t in TASK_NAMES if t not in m.slow]
    grids = [("tasks", {"task": [_task(t, m.high) for t in fast]})]
    grids += [("tasks", {"task": [_task(t, m.high)], **{f"train.{k}": [v] for k, v in m.slow[t].items()}})
              for t in TASK_NAMES if t in m.slow]
    grids += [("size", {"split.half_width": list(m.other_sizes)}),  # with the tasks group's addition at h
              ("digits", {"tokenizer": ["digit"]}),
              ("scratchpad", {"format": ["scratchpad"], **m.scratchpad})]
    grids += [("length", {**grid, **m.length_axes}) for grid in length_grids()]
    return [(group, {**grid, "seed": SEEDS}) for group, grid in grids]


def length_grids() -> list[dict]:
    """The length configurations as grids of the reproduce sweep (whose base is a square trial's)."""
    same = {"split": [{}], "task": [LENGTH_BASE["task"]], "tokenizer": [LENGTH_BASE["tokenizer"]],
            "lengths": [FIVE], **{f"train.{k}": [v] for k, v in LENGTH_BASE["train"].items()}}
    return [{**same, **config} for config in [RULE, *BASELINES]]


def plan(mode: str) -> dict:
    """The sweep of one mode (without storage and tracking): direct answers, number tokens, one
    square of half-width h, unless a grid says otherwise; every square with its paired control."""
    m = MODES[_check_mode(mode)]
    base = {"task": _task("addition", m.high), "format": "direct", "tokenizer": "number",
            "split": {"kind": "square", "half_width": m.h}, "model": {"scale": m.scale}, "save_model": False,
            "train": {"steps": m.steps, "lr": m.lr, "batch_size": 128, "log_every": max(m.steps // 4, 1)}}
    return {"name": f"reproduce-{mode}", "base": base, "axes": [grid for _, grid in design(mode)],
            "controls": True}


def runs_by_grid(sweep, records: list[TrialRecord], mode: str) -> dict[str, list[TrialRecord]]:
    """The finished trials of each claim group; ``size`` also holds the tasks group's addition trials;
    ``controls`` every finished random-split control."""
    by_name = {r.name: r for r in records}
    runs: dict[str, list[TrialRecord]] = {}
    for i, (group, _) in enumerate(design(mode)):
        runs.setdefault(group, []).extend(by_name[s.name] for s in grid_trials(sweep, i) if s.name in by_name)
    runs["size"] = runs["size"] + [r for r in runs["tasks"] if r.spec.task.name == "addition"]
    runs["controls"] = [r for r in records if r.spec.split.kind == "random"]
    return runs
