"""``caseray reproduce``: the studies' claims that a from-scratch CPU model can test, each measured
over >= 3 seeds from a fixed set of sweeps, and said plainly: reproduced or not.

The sweeps run on Ray like any other (finished trials are found again in the results folder and
MLflow, so a second run only re-reads them). ``quick`` fits ~15 minutes on a 2-core machine (0-39
grids, h = 6, tiny model); ``full`` is the paper's grids and h = 10 for a cluster.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from caseray.core.atomic import write_text_atomic
from caseray.core.specs import check_choice, from_dict
from caseray.core.tables import format_table
from caseray.report.aggregate import coverage, stats
from caseray.report.build import build_report, log_report
from caseray.report.sweep_report import read_records
from caseray.sweep.ray_sweep import run_sweep
from caseray.sweep.results import TrialRecord
from caseray.sweep.spec import SweepSpec, grid_trials
from caseray.sweep.storage import local_folder, publish

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


MODES = {
    # 0-39 grids (1,600 cells), h = 6 (169 cells held out); 15 minutes on 2 cores (measured)
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
    steps and one per slower task with its own training settings."""
    m = MODES[_check_mode(mode)]
    fast = [t for t in TASK_NAMES if t not in m.slow]
    grids = [("tasks", {"task": [_task(t, m.high) for t in fast]})]
    grids += [("tasks", {"task": [_task(t, m.high)], **{f"train.{k}": [v] for k, v in m.slow[t].items()}})
              for t in TASK_NAMES if t in m.slow]
    grids += [("random", {"split": [{"kind": "random", "test_size": (2 * m.h + 1) ** 2, "seed": 42}]}),
              ("size", {"split.half_width": list(m.other_sizes)}),  # with the tasks group's addition at h
              ("digits", {"tokenizer": ["digit"]}),
              ("scratchpad", {"format": ["scratchpad"], **m.scratchpad})]
    return [(group, {**grid, "seed": SEEDS}) for group, grid in grids]


def plan(mode: str) -> dict:
    """The sweep of one mode (without storage and tracking): direct answers, number tokens, one
    square of half-width h, unless a grid says otherwise."""
    m = MODES[_check_mode(mode)]
    base = {"task": _task("addition", m.high), "format": "direct", "tokenizer": "number",
            "split": {"kind": "square", "half_width": m.h}, "model": {"scale": m.scale}, "save_model": False,
            "train": {"steps": m.steps, "lr": m.lr, "batch_size": 128, "log_every": max(m.steps // 4, 1)}}
    return {"name": f"reproduce-{mode}", "base": base, "axes": [grid for _, grid in design(mode)]}


def runs_by_grid(sweep, records: list[TrialRecord], mode: str) -> dict[str, list[TrialRecord]]:
    """The finished trials of each claim group; ``size`` also holds the tasks group's addition trials."""
    by_name = {r.name: r for r in records}
    runs: dict[str, list[TrialRecord]] = {}
    for i, (group, _) in enumerate(design(mode)):
        runs.setdefault(group, []).extend(by_name[s.name] for s in grid_trials(sweep, i) if s.name in by_name)
    runs["size"] = runs["size"] + [r for r in runs["tasks"] if r.spec.task.name == "addition"]
    return runs


@dataclass(frozen=True)
class Verdict:
    claim: str
    measured: str
    reproduced: bool | None  # None: not measurable (the model did not fit its training set)
    note: str = ""


def _ms(values) -> str:
    mean, std, n = stats(values)
    return f"{mean:.2f} ± {std:.2f}" if n else "-"


def _nanmean(values) -> float:  # nan when nothing is left
    return stats(values)[0]


def _mean(records, key) -> float:
    return float(np.mean([r.metrics[key] for r in records]))


FITTED = 0.9  # a hole is read only from a model that fits its training cells
MIN_FITTED = 2  # seeds that must fit for a claim to be judged


def _fitted(records) -> tuple[list[TrialRecord], str]:
    """The trials whose model fits its training cells, and a note when some did not."""
    kept = [r for r in records if r.metrics["train_acc"] >= FITTED]
    if len(kept) == len(records):
        return kept, ""
    trains = ", ".join(f"{r.metrics['train_acc']:.2f}" for r in records)
    return kept, f"{len(kept)} of {len(records)} trials fit their training cells (train {trains}; needed {FITTED})"


def _verdict(claim: str, measured: str, groups: list, test) -> Verdict:
    """Judge ``test(*fitted groups)`` on the fitted trials; not measurable if a group has too few."""
    fitted = [_fitted(g) for g in groups]
    note = "; ".join(n for _, n in fitted if n)
    if any(len(kept) < MIN_FITTED for kept, _ in fitted):
        return Verdict(claim, measured, None, note)
    return Verdict(claim, measured, bool(test(*(kept for kept, _ in fitted))), note)


def _m(records, key) -> str:
    return _ms([r.metrics[key] for r in records])


def random_split(runs) -> list[Verdict]:
    rs, sq = runs["random"], [r for r in runs["tasks"] if r.spec.task.name == "addition"]
    return [_verdict("random split of the square's size: test ≈ train (addition, direct, number tokens)",
                     f"test {_m(rs, 'test_acc')} vs train {_m(rs, 'train_acc')}; the square: {_m(sq, 'square_acc')}",
                     [rs], lambda k: _mean(k, "test_acc") >= _mean(k, "train_acc") - 0.05)]


def holes(runs) -> list[Verdict]:
    """A hole: the square's inner half (rings <= h/2, many cells; the centre is one cell) at most 25%
    and the square at least 30 points below training accuracy."""
    out = []
    for task in dict.fromkeys(r.spec.task.name for r in runs["tasks"]):
        rs = [r for r in runs["tasks"] if r.spec.task.name == task]
        out.append(_verdict(f"Leave-Square-Out leaves a hole: {task} (direct, number tokens)",
                            f"inner half {_m(rs, 'inner_acc')}, centre {_m(rs, 'centre_acc')}, square "
                            f"{_m(rs, 'square_acc')}, train {_m(rs, 'train_acc')}", [rs],
                            lambda k: _mean(k, "inner_acc") <= 0.25
                            and _mean(k, "square_acc") <= _mean(k, "train_acc") - 0.3))
    return out


def _hole_sizes(records) -> list[tuple[int, float, str]]:
    hs = sorted({r.spec.split.half_width for r in records})
    at = {h: [r for r in records if r.spec.split.half_width == h] for h in hs}
    return [(h, float(np.mean([r.metrics["hole_size"] for r in at[h]])), _m(at[h], "hole_frac")) for h in hs]


def hole_grows(runs) -> list[Verdict]:
    rs = runs["size"]
    measured = "; ".join(f"h={h}: {s:.0f} cells ({f} of the square)" for h, s, f in _hole_sizes(rs))

    def grows(kept):
        sizes = [s for _, s, _ in _hole_sizes(kept)]
        return len(sizes) > 1 and all(a < b for a, b in zip(sizes, sizes[1:]))

    return [_verdict("the hole grows with the square's half-width h (addition)", measured, [rs], grows)]


def step_coverage(runs) -> list[Verdict]:
    rs = runs["scratchpad"]
    scores = {r.name: coverage(r)[1] for r in rs}

    def get(records, key):
        return [scores[r.name][f"coverage/{key}"] for r in records]

    measured = (f"precision {_ms(get(rs, 'precision'))}, recall {_ms(get(rs, 'recall'))}; failed cells "
                f"{_ms(get(rs, 'failed'))}, predicted {_ms(get(rs, 'predicted'))}; square {_m(rs, 'square_acc')}")
    return [_verdict("scratchpad: a test cell fails iff one of its steps never occurs in training (addition, "
                     "number tokens)", measured, [rs],  # nan (nothing failed or predicted) counts as no
                     lambda k: _nanmean(get(k, "precision")) >= 0.7 and _nanmean(get(k, "recall")) >= 0.7)]


def digit_tokens(runs) -> list[Verdict]:
    digit = runs["digits"]
    number = [r for r in runs["tasks"] if r.spec.task.name == "addition"]
    return [_verdict("one token per digit removes or shrinks the hole (addition, direct)",
                     f"square: digit {_m(digit, 'square_acc')} vs number {_m(number, 'square_acc')}; hole cells: "
                     f"digit {_m(digit, 'hole_size')} vs number {_m(number, 'hole_size')}", [digit, number],
                     lambda d, n: _mean(d, "square_acc") >= _mean(n, "square_acc") + 0.3)]


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


VERDICT_WORDS = {True: "reproduced", False: "NOT reproduced", None: "not measurable"}


def table(verdicts: list[Verdict]) -> str:
    rows = [[v.claim, v.measured, VERDICT_WORDS[v.reproduced] + (f" — {v.note}" if v.note else "")] for v in verdicts]
    return format_table(["claim", "measured (mean ± std over seeds)", "verdict"], rows, "markdown")


def summary(verdicts: list[Verdict]) -> str:
    """What reproduced and, plainly, what did not."""
    no = [v for v in verdicts if v.reproduced is False]
    unknown = [v for v in verdicts if v.reproduced is None]
    lines = [f"{sum(v.reproduced is True for v in verdicts)} of {len(verdicts)} claims reproduced."]
    lines += [f"Not reproduced: {v.claim} ({v.measured})." for v in no]
    lines += [f"Not measurable: {v.claim} ({v.note})." for v in unknown]
    return "\n\n".join(lines) + "\n"


def run_reproduce(mode: str, storage: str, tracking_uri: str, num_cpus: int | None = None,
                  run: bool = True) -> tuple[list[Verdict], Path]:
    """Run (or, with ``run=False``, only read back) the mode's sweep, judge the claims, write
    reproduce.md beside the sweep's report and log both to its MLflow parent run."""
    sweep = from_dict(SweepSpec, {**plan(mode), "storage_path": storage, "tracking_uri": tracking_uri})
    sweep.trials()  # every trial validated before anything runs
    if run:
        run_sweep(sweep, num_cpus=num_cpus)
    _, records = read_records(sweep.id, storage, tracking_uri)
    verdicts = judge(runs_by_grid(sweep, records, mode))
    out = local_folder(storage, sweep.id, "report")
    write_text_atomic(out / "reproduce.md", f"# caseray reproduce --{mode}\n\n{len(records)} finished trials "
                      f"(sweep {sweep.id}).\n\n" + table(verdicts) + "\n" + summary(verdicts))
    if records:  # the report from the records just read, beside reproduce.md
        build_report(sweep.id, records, out)
    publish(storage, out, sweep.id, "report")
    log_report(tracking_uri, sweep.id, out)
    return verdicts, out / "reproduce.md"
