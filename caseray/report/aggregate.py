"""Aggregation of a sweep's trials (pure numpy, no plotting): axes, groups, per-cell means over seeds,
accuracy profiles (ring, distance to training, digits), step coverage and summary tables."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from caseray.core.atomic import atomic_path
from caseray.core.specs import flatten
from caseray.core.stats import finite, sample_std
from caseray.core.tables import format_table
from caseray.data.formats import get_format
from caseray.data.regions import region_text
from caseray.data.splits import SplitSpec
from caseray.data.tasks import TaskSpec, build_task, to_base
from caseray.data.tokenizers import ONE_PER_CHARACTER
from caseray.lema.spec import lema_label
from caseray.report.step_coverage import evaluate, score
from caseray.sweep.results import TrialRecord

ALIASES = {"model": "model.scale", "h": "split.half_width", "scale": "model.scale"}
GROUPS = ("task", "split", "lema")  # spec groups that count as one axis, named by a short label
NOT_AXES = {"device", "threads", "save_model"}


def split_label(split: SplitSpec) -> str:
    if split.kind == "square":
        centre = "" if split.center is None else f" at {tuple(split.center)}"
        return f"square h={split.half_width}{centre}"
    if split.kind == "random":
        return (f"random {split.test_size}" if split.test_size is not None
                else f"random {split.test_fraction or 0.3:.0%}")
    if split.kind == "region":
        return f"region {region_text(split.hold, split.keep)}"
    hs = {h for _, _, h in split.squares}
    size = f" h={hs.pop()}" if len(hs) == 1 else ""
    return f"{len(split.squares) or split.n_squares} squares{size}"


def task_label(task: TaskSpec) -> str:
    """The task and the parameters its spec sets: ``mod_addition 0-49 mod 50``."""
    parts = [task.name]
    if task.low is not None or task.high is not None:
        parts.append(f"{task.resolved('low')}-{task.resolved('high')}")
    parts += [f"mod {task.modulus}"] if task.modulus is not None else []
    parts += [f"base {task.base}"] if task.base is not None else []
    return " ".join(parts)


def axis_value(record: TrialRecord, axis: str):
    """The value of one axis for a trial; ``task`` and ``split`` are whole groups, shortly named."""
    if axis == "split":
        return split_label(record.spec.split)
    if axis == "task":
        return task_label(record.spec.task)
    if axis == "lema":
        return lema_label(record.spec.lema)
    if axis == "model.positions":  # unset: the family's own (learned, rope)
        return record.spec.model.position_kind
    if axis.startswith("format_options.") and record.spec.format_options is None:
        return False  # unset options: plain
    value = record.value(ALIASES.get(axis, axis))
    return tuple(value) if isinstance(value, list) else value


def varying_axes(records: list[TrialRecord], exclude=("seed",)) -> list[str]:
    """The spec fields that differ between trials (the sweep's axes); split fields count as ``split``."""
    flats = [flatten(r.spec.to_dict()) for r in records]
    axes: list[str] = []
    keys = list(dict.fromkeys(k for f in flats for k in f))  # every trial's keys (an optional group may be unset)
    groups = {k.split(".")[0] for k in keys if "." in k}
    for key in keys:
        group = key.split(".")[0]
        name = group if group in GROUPS else key
        if key in groups and name not in GROUPS:  # an optional group (``lengths``) unset here: its fields vary
            continue
        if name in axes or name in exclude or name in NOT_AXES or len({f.get(key) for f in flats}) < 2:
            continue
        axes.append(name)
    return axes


def _order(value):
    return (value is None, str(type(value)), value if value is not None else 0)


def axis_values(record: TrialRecord, axes: list[str]) -> tuple:
    """A trial's group key: its values on ``axes``."""
    return tuple(axis_value(record, a) for a in axes)


def group(records: list[TrialRecord], axes: list[str]) -> dict[tuple, list[TrialRecord]]:
    """Trials by their values on ``axes``, in sorted order of those values."""
    groups: dict[tuple, list[TrialRecord]] = {}
    for r in records:
        groups.setdefault(axis_values(r, axes), []).append(r)
    return dict(sorted(groups.items(), key=lambda kv: tuple(_order(v) for v in kv[0])))


def label(axes: list[str], key: tuple) -> str:
    plain = ("task", "task.name", "format", "tokenizer", "split", "lema", "model.scale", "model", "seed")
    return ", ".join(str(v) if a in plain else f"{a.split('.')[-1]}={v}" for a, v in zip(axes, key)) or "all"


def cell_mean(records: list[TrialRecord]):
    """Per cell (a, b): mean accuracy over the trials, and the first trial's split."""
    first = records[0].cells
    a, b = first["a"].to_numpy(), first["b"].to_numpy()
    index = {(x, y): i for i, (x, y) in enumerate(zip(a.tolist(), b.tolist()))}
    stack = np.full((len(records), len(a)), np.nan)
    for j, r in enumerate(records):
        rows = [index[(x, y)] for x, y in zip(r.cells["a"].to_pylist(), r.cells["b"].to_pylist())]
        stack[j, rows] = r.cells["accuracy"].to_numpy()
    return a, b, np.nanmean(stack, 0), first["split"].to_numpy(zero_copy_only=False)


def digits(record: TrialRecord) -> np.ndarray:
    """Digits per cell: the ``n_digits`` column of length data, else the longer operand's digit count."""
    if "n_digits" in record.cells.column_names:
        return record.cells["n_digits"].to_numpy()
    task = build_task(record.spec.task)
    base = getattr(task, "base", 10)
    return np.array([len(to_base(max(x, y), base)) for x, y in zip(record.cells["a"].to_pylist(),
                                                                   record.cells["b"].to_pylist())])


VALUES = ("accuracy", "step_acc", "first_wrong")  # what a profile averages per x


def cell_values(record: TrialRecord, value: str) -> np.ndarray:
    """Per cell: ``accuracy``; ``step_acc`` (share of steps right, teacher-forced); or ``first_wrong``,
    where the first wrong step lies as a share of the solution's steps (NaN where the cell is right)."""
    c = record.cells
    if value == "accuracy":
        return c["accuracy"].to_numpy()
    needs = {"step_acc": ("step_acc",), "first_wrong": ("first_wrong_step", "n_steps")}.get(value)
    if needs is None:
        raise ValueError(f"unknown value {value!r}")
    if not all(n in c.column_names for n in needs):  # trials evaluated before these columns existed
        return np.full(c.num_rows, np.nan)
    if value == "step_acc":
        return c["step_acc"].to_numpy()
    first = c["first_wrong_step"].to_numpy().astype(float)
    return np.where(first >= 0, first / c["n_steps"].to_numpy(), np.nan)


def profile(record: TrialRecord, kind: str, value: str = "accuracy") -> dict[int, float]:
    """``value`` (``VALUES``) by ``ring`` (test cells in a square, by distance from its centre),
    ``dist`` (held-out cells by L-inf distance to the nearest training cell) or ``digits`` (test
    cells by length)."""
    c = record.cells
    split = c["split"].to_numpy(zero_copy_only=False)
    if kind == "ring":
        x, keep = c["ring"].to_numpy(), (split == "test") & (c["square"].to_numpy() >= 0)
    elif kind == "dist":
        x, keep = c["dist_train"].to_numpy(), split != "train"
    elif kind == "digits":
        x, keep = digits(record), split == "test"
    else:
        raise ValueError(f"unknown profile {kind!r}")
    y = cell_values(record, value)
    keep = keep & ~np.isnan(y)
    return {int(v): float(y[keep & (x == v)].mean()) for v in np.unique(x[keep])}


def curve(records: list[TrialRecord], kind: str, value: str = "accuracy"):
    """(x, mean, std, n) over trials of a profile (std: ``core.stats.sample_std``, nan for one
    trial); an x counts the trials that have it."""
    profiles = [profile(r, kind, value) for r in records]
    xs = sorted(set().union(*profiles)) if profiles else []
    vals = [[p[x] for p in profiles if x in p] for x in xs]
    return (np.array(xs), np.array([np.mean(v) for v in vals]), np.array([sample_std(v) for v in vals]),
            np.array([len(v) for v in vals]))


def train_digits(record: TrialRecord) -> tuple[int, int] | None:
    d = digits(record)[record.cells["split"].to_numpy(zero_copy_only=False) == "train"]
    return (int(d.min()), int(d.max())) if len(d) else None


def steps_source(record: TrialRecord) -> tuple[str, str] | None:
    """Whose steps the predictor uses: (format, "written") for step formats; ("scratchpad",
    "implicit") for direct answers in digit tokens, whose digits a model must compute column by
    column; None for direct answers in whole-number tokens."""
    if get_format(record.spec.format).has_steps:
        return record.spec.format, "written"
    return ("scratchpad", "implicit") if record.spec.tokenizer in ONE_PER_CHARACTER else None


def coverage(record: TrialRecord, by_predictor: bool = False):
    """Coverage predictors (``report.step_coverage``) of a grid trial; None for a length trial (they
    read grid cells). The step predictors read ``steps_source``'s steps.

    Default, as the report's tables and hole maps read it: (uncovered per cell, scores named
    ``coverage/<metric>``, missing steps) of the ``step+column`` predictor; None where the trial has
    no steps (direct answers in number tokens).

    ``by_predictor=True``: a ``step_coverage.Coverage`` of every predictor (``step+column``, ``step``,
    ``answer_token``): ``uncovered`` and ``missing`` by name (None where one does not apply), and
    ``scores`` named ``coverage/<predictor>/<metric>`` (predicted, failed, hits, agreement, precision,
    recall) for those that apply."""
    source = steps_source(record)
    if record.spec.lengths is not None or (source is None and not by_predictor):
        return None
    c = record.cells
    split, accuracy = c["split"].to_numpy(zero_copy_only=False), c["accuracy"].to_numpy()
    args = (build_task(record.spec.task), record.spec.format, record.spec.tokenizer, c["a"].to_numpy(),
            c["b"].to_numpy(), split, accuracy, source[0] if source else None)
    if by_predictor:
        return evaluate(*args)
    cov = evaluate(*args, names=("step+column",))
    uncovered = cov.uncovered["step+column"]
    return uncovered, score(uncovered, accuracy, split), cov.missing["step+column"]


def stats(values) -> tuple[float, float, int]:
    """(mean, std, n) of the values that are numbers (``core.stats``: the sample std, nan below two)."""
    vals = finite(values)
    return (float(vals.mean()), sample_std(vals), len(vals)) if len(vals) else (math.nan, math.nan, 0)


SUMMARY = ("train_acc", "test_acc", "answer_acc", "square_acc", "centre_acc", "border_acc", "ring_slope",
           "hole_depth", "hole_frac", "coverage/precision", "coverage/recall", "step_acc", "id_acc", "ood_acc",
           "reach")


def summary_rows(records: list[TrialRecord], axes: list[str]) -> list[dict]:
    """One row per group of ``axes``: trial count, seeds, and mean/std over seeds of each summary metric."""
    rows = []
    for key, members in group(records, axes).items():
        row = {a: v for a, v in zip(axes, key)}
        row["trials"] = len(members)
        row["seeds"] = " ".join(str(s) for s in sorted({m.spec.seed for m in members}))
        cover = [coverage(m) for m in members]
        for name in SUMMARY:
            if name.startswith("coverage/"):
                vals = [c[1][name] for c in cover if c is not None]
            else:
                vals = [m.metrics.get(name) for m in members]
            row[name], row[f"{name} std"], _ = stats(vals)
        rows.append(row)
    empty = [n for n in SUMMARY if all(math.isnan(r[n]) for r in rows)]  # e.g. square metrics of length trials
    return [{k: v for k, v in r.items() if k.removesuffix(" std") not in empty} for r in rows]


def fmt_value(value) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.3f}"
    return str(value)


def markdown_table(rows: list[dict], columns: list[str] | None = None) -> str:
    """Mean ± std columns are shown together as ``0.912 ± 0.010``."""
    if not rows:
        return "(no trials)\n"
    columns = columns or [c for c in rows[0] if not c.endswith(" std")]

    def cell(row, c):
        if f"{c} std" in row and not math.isnan(row[c]):
            return f"{row[c]:.3f} ± {row[f'{c} std']:.3f}"
        return fmt_value(row.get(c, ""))

    return format_table(columns, [[cell(r, c) for c in columns] for r in rows], "markdown")


def write_csv(rows: list[dict], path: str | Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["trials"])
        writer.writeheader()
        writer.writerows(rows)
    return path
