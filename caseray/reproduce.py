"""``caseray reproduce``: the studies' claims that a from-scratch CPU model can test, each measured
over >= 3 seeds from a fixed set of sweeps, and said plainly: reproduced or not.

The sweeps run on Ray like any other (finished trials are found again in the results folder and
MLflow, so a second run only re-reads them). ``quick`` fits ~15 minutes on a 2-core machine (0-49
grids, h = 7, tiny model); ``full`` is the paper's 0-99 grids and h = 10 for a cluster.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from caseray.aggregate import coverage
from caseray.results import TrialRecord

SEEDS = [0, 1, 2]
MODES = ("quick", "full")


def _tasks(high: int, mod_modulus: int) -> list[dict]:
    """The five tasks on one grid size (mod addition with a modulus that wraps inside the grid)."""
    return [{"name": "addition", "high": high}, {"name": "base9_addition", "high": high},
            {"name": "mod_addition", "high": high, "modulus": mod_modulus},
            {"name": "linear", "high": high}, {"name": "chicken_rabbit", "high": high}]


GRIDS = ("tasks", "random", "size", "digits", "scratchpad")  # the sweep's grids, in this order


def plan(mode: str) -> dict:
    """The sweep of one mode (without storage and tracking): one grid per group of claims."""
    if mode == "quick":
        high, h, sizes, steps, scale, lr = 49, 7, [3, 5], 700, "tiny", 3e-3
    else:
        high, h, sizes, steps, scale, lr = 99, 10, [5, 15, 20], 5000, "small", 1e-3
    base = {"task": {"name": "addition", "high": high}, "format": "direct", "tokenizer": "number",
            "split": {"kind": "square", "half_width": h}, "model": {"scale": scale}, "save_model": False,
            "train": {"steps": steps, "lr": lr, "batch_size": 128, "log_every": max(steps // 4, 1)}}
    grids = {"tasks": {"task": _tasks(high, high + 1)},  # direct, number tokens, a square of half-width h
             "random": {"split": [{"kind": "random", "test_size": (2 * h + 1) ** 2, "seed": 42}]},
             "size": {"split.half_width": sizes},  # with the tasks grid's addition trials at h
             "digits": {"tokenizer": ["digit"]},
             "scratchpad": {"format": ["scratchpad"]}}
    return {"name": f"reproduce-{mode}", "base": base, "axes": [{**grids[g], "seed": SEEDS} for g in GRIDS]}


def runs_by_grid(sweep, records: list[TrialRecord]) -> dict[str, list[TrialRecord]]:
    """The finished trials of each grid; ``size`` also holds the tasks grid's addition trials."""
    from caseray.sweep import grid_trials

    by_name = {r.name: r for r in records}
    runs = {g: [by_name[s.name] for s in grid_trials(sweep, i) if s.name in by_name] for i, g in enumerate(GRIDS)}
    runs["size"] = runs["size"] + [r for r in runs["tasks"] if r.spec.task.name == "addition"]
    return runs


@dataclass(frozen=True)
class Verdict:
    claim: str
    measured: str
    reproduced: bool | None  # None: not measurable (the model did not fit its training set)
    note: str = ""


def _ms(values) -> str:
    values = [v for v in values if v is not None and not math.isnan(v)]
    return f"{np.mean(values):.2f} ± {np.std(values):.2f}" if values else "-"


def _nanmean(values) -> float:
    values = [v for v in values if not math.isnan(v)]
    return float(np.mean(values)) if values else math.nan


def _mean(records, key) -> float:
    return float(np.mean([r.metrics[key] for r in records]))


FITTED = 0.9  # a hole is read only from a model that fits its training cells


def _fit_note(records) -> str | None:
    train = _mean(records, "train_acc")
    return None if train >= FITTED else f"the model did not fit its training cells (train {train:.2f} < {FITTED})"


def random_split(runs) -> list[Verdict]:
    rs, sq = runs["random"], [r for r in runs["tasks"] if r.spec.task.name == "addition"]
    test, train = _mean(rs, "test_acc"), _mean(rs, "train_acc")
    return [Verdict("random split of the square's size: test ≈ train (addition, direct, number tokens)",
                    f"test {_ms([r.metrics['test_acc'] for r in rs])} vs train {_ms([r.metrics['train_acc'] for r in rs])}"
                    f"; the square: {_ms([r.metrics['square_acc'] for r in sq])}",
                    test >= train - 0.05 if train >= FITTED else None, _fit_note(rs) or "")]


def holes(runs) -> list[Verdict]:
    out = []
    for task in dict.fromkeys(r.spec.task.name for r in runs["tasks"]):
        rs = [r for r in runs["tasks"] if r.spec.task.name == task]
        centre, square, train = _mean(rs, "centre_acc"), _mean(rs, "square_acc"), _mean(rs, "train_acc")
        note = _fit_note(rs)
        out.append(Verdict(f"Leave-Square-Out leaves a hole: {task} (direct, number tokens)",
                           f"centre {_ms([r.metrics['centre_acc'] for r in rs])}, square "
                           f"{_ms([r.metrics['square_acc'] for r in rs])}, train {_ms([r.metrics['train_acc'] for r in rs])}",
                           None if note else (centre <= 0.25 and square <= train - 0.3), note or ""))
    return out


def hole_grows(runs) -> list[Verdict]:
    rs = runs["size"]
    hs = sorted({r.spec.split.half_width for r in rs})
    sizes = [float(np.mean([r.metrics["hole_size"] for r in rs if r.spec.split.half_width == h])) for h in hs]
    fracs = [_ms([r.metrics["hole_frac"] for r in rs if r.spec.split.half_width == h]) for h in hs]
    note = _fit_note(rs)
    return [Verdict("the hole grows with the square's half-width h (addition)",
                    "; ".join(f"h={h}: {s:.0f} cells ({f} of the square)" for h, s, f in zip(hs, sizes, fracs)),
                    None if note else all(a < b for a, b in zip(sizes, sizes[1:])), note or "")]


def step_coverage(runs) -> list[Verdict]:
    rs = runs["scratchpad"]
    scores = [coverage(r)[1] for r in rs]
    prec = [s["coverage/precision"] for s in scores]
    rec = [s["coverage/recall"] for s in scores]
    failed = [s["coverage/failed"] for s in scores]
    predicted = [s["coverage/predicted"] for s in scores]
    note = _fit_note(rs)
    ok = None if note else (_nanmean(prec) >= 0.7 and _nanmean(rec) >= 0.7)  # nan (nothing failed) is False
    return [Verdict("scratchpad: a test cell fails iff one of its steps never occurs in training (addition, "
                    "number tokens)",
                    f"precision {_ms(prec)}, recall {_ms(rec)}; failed cells {_ms(failed)}, predicted {_ms(predicted)}; "
                    f"square {_ms([r.metrics['square_acc'] for r in rs])}", ok, note or "")]


def digit_tokens(runs) -> list[Verdict]:
    digit = runs["digits"]
    number = [r for r in runs["tasks"] if r.spec.task.name == "addition"]
    d, n = _mean(digit, "square_acc"), _mean(number, "square_acc")
    note = _fit_note(digit) or _fit_note(number)
    return [Verdict("one token per digit removes or shrinks the hole (addition, direct)",
                    f"square: digit {_ms([r.metrics['square_acc'] for r in digit])} vs number "
                    f"{_ms([r.metrics['square_acc'] for r in number])}; hole cells: digit "
                    f"{_ms([r.metrics['hole_size'] for r in digit])} vs number {_ms([r.metrics['hole_size'] for r in number])}",
                    None if note else d >= n + 0.3, note or "")]


# each claim and the grids it reads
CLAIMS: list[tuple[Callable[[dict], list[Verdict]], tuple[str, ...]]] = [
    (random_split, ("random", "tasks")), (holes, ("tasks",)), (hole_grows, ("size",)),
    (step_coverage, ("scratchpad",)), (digit_tokens, ("digits", "tasks"))]


def judge(runs: dict[str, list[TrialRecord]]) -> list[Verdict]:
    out = []
    for claim, grids in CLAIMS:
        empty = [g for g in grids if not runs.get(g)]
        out += claim(runs) if not empty else [Verdict(claim.__name__.replace("_", " "), "-", None,
                                                      f"no finished trials in grid(s) {', '.join(empty)}")]
    return out


def table(verdicts: list[Verdict]) -> str:
    word = {True: "reproduced", False: "NOT reproduced", None: "not measurable"}
    lines = ["| claim | measured (mean ± std over seeds) | verdict |", "|---|---|---|"]
    for v in verdicts:
        lines.append(f"| {v.claim} | {v.measured} | {word[v.reproduced]}{' — ' + v.note if v.note else ''} |")
    return "\n".join(lines) + "\n"


def summary(verdicts: list[Verdict]) -> str:
    """What reproduced and, plainly, what did not."""
    no = [v for v in verdicts if v.reproduced is False]
    unknown = [v for v in verdicts if v.reproduced is None]
    lines = [f"{sum(v.reproduced is True for v in verdicts)} of {len(verdicts)} claims reproduced."]
    lines += [f"Not reproduced: {v.claim} ({v.measured})." for v in no]
    lines += [f"Not measurable: {v.claim} ({v.note})." for v in unknown]
    return "\n\n".join(lines) + "\n"


def run_reproduce(mode: str, storage: str, tracking_uri: str, num_cpus: int | None = None,
                  run: bool = True) -> tuple[list[Verdict], "Path"]:
    """Run (or, with ``run=False``, only read back) the mode's sweep, judge the claims, write
    reproduce.md beside the sweep's report and log both to its MLflow parent run."""
    from pathlib import Path

    from caseray.atomic import write_text_atomic
    from caseray.errors import SpecError
    from caseray.report_cli import report_sweep
    from caseray.results import from_local, from_mlflow, local_sweep_ids
    from caseray.specs import from_dict
    from caseray.sweep import SweepSpec

    if mode not in MODES:
        raise SpecError("mode", f"{mode!r} is not a mode", MODES)
    sweep = from_dict(SweepSpec, {**plan(mode), "storage_path": storage, "tracking_uri": tracking_uri})
    sweep.trials()  # every trial validated before anything runs
    if run:
        from caseray.ray_sweep import run_sweep

        run_sweep(sweep, num_cpus=num_cpus)
    if sweep.id in local_sweep_ids(storage):
        _, records = from_local(storage, sweep.id)
    else:
        _, records = from_mlflow(tracking_uri, sweep.id, Path(storage) / "downloads")
    verdicts = judge(runs_by_grid(sweep, records))
    out = Path(storage) / sweep.id / "report"
    write_text_atomic(out / "reproduce.md", f"# caseray reproduce --{mode}\n\n{len(records)} finished trials "
                      f"(sweep {sweep.id}).\n\n" + table(verdicts) + "\n" + summary(verdicts))
    if records:
        report_sweep(sweep.id, storage, tracking_uri, source="local" if run else "auto", out=out)
    return verdicts, out / "reproduce.md"
