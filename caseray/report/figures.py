"""The sweep report's figures: hole-map grids, square-size curves, the case-based signature and
length-generalization curves. Each takes trial records and writes one PNG (None: nothing to draw)."""

from __future__ import annotations

import textwrap
import warnings
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.ticker import MaxNLocator

from caseray.core.stats import column_std, sample_std
from caseray.data.length_families import FAMILIES
from caseray.data.plots import plot_accuracy, pyplot, save_figure
from caseray.data.splits import resolve_squares
from caseray.data.tasks import build_task
from caseray.report.aggregate import (
    cell_mean,
    coverage,
    curve,
    group,
    label,
    train_digits,
)
from caseray.sweep.results import TrialRecord
from caseray.trial.figures import digit_pair_grid, several_steps

MAX_ROWS = 8  # panel rows per hole-map figure; more rows go to further pages
AUTO_WRAP = 4  # panels per row when a sparse rows x cols grid is wrapped


@dataclass(frozen=True)
class Panel:
    """One hole-map panel: the per-cell accuracy averaged over its trials."""
    row: tuple
    col: tuple
    title: str
    task: object
    a: np.ndarray
    b: np.ndarray
    accuracy: np.ndarray  # mean over the trials
    split: np.ndarray
    squares: tuple
    predicted: np.ndarray | None  # test cells the step-coverage predictor expects to fail
    n_trials: int


def plan_panels(records: list[TrialRecord], rows: list[str], cols: list[str]) -> list[list[Panel | None]]:
    """The panel grid: one row per value of ``rows`` axes, one column per value of ``cols`` axes
    (None where no trial has that combination)."""
    cells = group(records, rows + cols)
    plan = []
    for rk in group(records, rows):
        line = []
        for ck in group(records, cols):
            members = cells.get(rk + ck)
            if not members:
                line.append(None)
                continue
            first = members[0]
            task = build_task(first.spec.task)
            a, b, mean, split = cell_mean(members)
            cov = coverage(first)  # same train cells across seeds unless data_size subsamples
            title = " | ".join(x for x in (label(rows, rk), label(cols, ck)) if x != "all")
            line.append(Panel(rk, ck, title, task, a, b, mean, split,
                              tuple(resolve_squares(task, first.spec.split)),
                              None if cov is None else cov[0] & (split == "test"), len(members)))
        plan.append(line)
    return plan


def draw_panel(ax, panel: Panel):
    image = plot_accuracy(ax, panel.task, panel.a, panel.b, panel.accuracy, panel.squares)
    test = panel.split == "test"
    if not panel.squares:  # a random split: its test cells dotted
        ax.scatter(panel.b[test], panel.a[test], s=1, c="k", marker=".")
    text = f"{panel.n_trials} trial(s)"
    if panel.predicted is not None:
        p = panel.predicted
        ax.scatter(panel.b[p], panel.a[p], s=6, c="k", marker="x", linewidths=0.5)
        text += f", x: predicted to fail ({p.sum()})"
    title = textwrap.fill(panel.title, 52)  # long labels break instead of running into the next panel
    ax.set_title(f"{title}\n{text}; test {np.nanmean(panel.accuracy[test]):.0%}", fontsize=8)
    return image


def wrapped(plan: list[list[Panel | None]], width: int) -> list[list[Panel | None]]:
    """The plan's panels in reading order, ``width`` per row (for sweeps whose grids are not one product)."""
    panels = [p for line in plan for p in line if p is not None]
    rows = [panels[i:i + width] for i in range(0, len(panels), width)]
    return [r + [None] * (width - len(r)) for r in rows]


def sparse(plan: list[list[Panel | None]]) -> bool:
    cells = [p for line in plan for p in line]
    return sum(p is None for p in cells) > 0.25 * len(cells)


def hole_map_grid(records: list[TrialRecord], rows: list[str], cols: list[str], path: str | Path,
                  per_seed: bool = False, wrap: int | str | None = None) -> list[Path]:
    """Panels arranged by ``rows`` x ``cols`` axes (each a list of axes, combined), each the per-cell
    accuracy averaged over seeds (``per_seed``: one column per seed) with the held-out squares
    outlined and, for step formats, the cells the step-coverage predictor expects to fail marked x.
    ``wrap``: instead, the panels in reading order, ``wrap`` per row; ``"auto"``: 4 per row when the
    rows x cols grid is sparse (joined grids). One PNG per ``MAX_ROWS`` rows."""
    plan = plan_panels(records, rows, cols + ["seed"] if per_seed else cols)
    if wrap == "auto":
        wrap = AUTO_WRAP if sparse(plan) else None
    plan = wrapped(plan, wrap) if wrap else plan
    path = Path(path)
    pages = [plan[i:i + MAX_ROWS] for i in range(0, len(plan), MAX_ROWS)]
    out = []
    for p, page in enumerate(pages):
        n_cols = len(page[0])
        fig, axes = pyplot().subplots(len(page), n_cols, figsize=(3.9 * n_cols, 3.7 * len(page)),
                                 layout="constrained", squeeze=False)
        image = None
        for i, line in enumerate(page):
            for j, panel in enumerate(line):
                if panel is None:
                    axes[i, j].axis("off")
                else:
                    image = draw_panel(axes[i, j], panel)
        if image is not None:
            fig.colorbar(image, ax=axes, shrink=0.8, label="accuracy (mean over trials)")
        name = path if len(pages) == 1 else path.with_name(f"{path.stem}-{p + 1}{path.suffix}")
        out.append(save_figure(fig, name))
    return out


COLOURS = matplotlib.colormaps["tab20"].colors


def _band(ax, x, mean, std, colour, style="-", label=None):
    ax.plot(x, mean, style, marker="o", ms=3, color=colour, label=label)
    ax.fill_between(x, np.clip(mean - std, 0, 1), np.clip(mean + std, 0, 1), color=colour, alpha=0.12)


def _axes_style(ax, xlabel: str, title: str = "") -> None:
    ax.set_ylim(-0.03, 1.03)
    ax.set_ylabel("accuracy (mean ± std over trials)")
    ax.set_xlabel(xlabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title, fontsize=9)


def _legend_below(fig, n_entries: int) -> None:
    """One legend under the panels (many groups would cover the curves)."""
    if n_entries:
        fig.legend(loc="outside lower center", ncols=2 if n_entries > 4 else 1, fontsize=7, frameon=False)


def _curves(ax, records, by, kind, colours: dict, legend: bool, value: str = "accuracy") -> int:
    drawn = 0
    for key, members in group(records, by).items():
        x, mean, std, n = curve(members, kind, value)
        if len(x):
            colour = colours.setdefault(key, COLOURS[len(colours) % len(COLOURS)])
            _band(ax, x, mean, std, colour, label=f"{label(by, key)} (n={max(n)})" if legend else None)
            drawn += 1
    return drawn


def _height(n_groups: int) -> float:
    return 4.2 + 0.16 * (n_groups if n_groups <= 4 else -(-n_groups // 2))


def signature(records: list[TrialRecord], by: list[str], path: str | Path) -> Path | None:
    """The case-based signature: accuracy vs ring (distance from the square's centre) and vs L-inf
    distance to the nearest training cell, one line per group of ``by``."""
    squared = [r for r in records if r.spec.split.has_squares]  # (a region's ring is its depth)
    groups = len(group(records, by))
    fig, (left, right) = pyplot().subplots(1, 2, figsize=(11, _height(groups)), layout="constrained")
    colours: dict = {}
    n = _curves(right, records, by, "dist", colours, legend=True)  # every group has held-out cells
    n += _curves(left, squared, by, "ring", colours, legend=False) if squared else 0
    _axes_style(left, "ring: L-inf distance from the square's centre (0 = centre)",
                "accuracy inside the held-out square")
    _axes_style(right, "L-inf distance to the nearest training cell", "accuracy of held-out cells")
    if not n:
        pyplot().close(fig)
        return None
    _legend_below(fig, groups)
    return save_figure(fig, path)


def square_size(records: list[TrialRecord], by: list[str], path: str | Path) -> Path | None:
    """Square accuracy (solid) and the square's inner-half accuracy (dashed) vs half-width h, one
    colour per group of ``by`` that has two or more h."""
    squared = [r for r in records if r.spec.split.kind == "square"]
    groups = {k: m for k, m in group(squared, by).items() if len({r.spec.split.half_width for r in m}) > 1}
    if not groups:
        return None
    fig, ax = pyplot().subplots(figsize=(6.5, _height(len(groups))), layout="constrained")
    for i, (key, members) in enumerate(groups.items()):
        hs = sorted({m.spec.split.half_width for m in members})
        for metric, style, what in (("square_acc", "-", "square"), ("inner_acc", "--", "inner half")):
            vals = [[m.metrics[metric] for m in members if m.spec.split.half_width == h] for h in hs]
            _band(ax, hs, np.array([np.mean(v) for v in vals]), np.array([sample_std(v) for v in vals]),
                  COLOURS[i % len(COLOURS)], style, f"{label(by, key)}: {what}")
    _axes_style(ax, "square half-width h")
    _legend_below(fig, 2 * len(groups))
    return save_figure(fig, path)


LENGTH_PANELS = (("accuracy", "exact match"), ("step_acc", "steps right (each given the right prefix)"),
                 ("first_wrong", "first wrong step / steps (failures)"))


def length_panels(records: list[TrialRecord]) -> list[tuple[str, str]]:
    """The length figure's panels: exact match, and the step panels where some trial recorded them and
    may have written answers of more than one step (a one-step answer's step curves are its exact match
    again, so such trials are left out of those panels: ``length_curves``)."""
    steps = any(several_steps(r.cells) for r in records)
    return [(v, t) for v, t in LENGTH_PANELS if (v == "accuracy" or steps)
            and any(len(curve([r], "digits", v)[0]) for r in records)]


def length_curves(records: list[TrialRecord], by: list[str], path: str | Path) -> Path | None:
    """Exact match (and, for traces, step accuracy and where the first wrong step falls: ``length_panels``)
    vs number of digits: one line per group of ``by`` (mean ± std over seeds), the training lengths
    shaded. Drawn only when some test lengths lie outside the training lengths."""
    ranges = [train_digits(r) for r in records]
    beyond = any(rng is not None and max(curve([r], "digits")[0], default=0) > rng[1]
                 for r, rng in zip(records, ranges))
    if not beyond:
        return None
    panels = length_panels(records)
    groups = len(group(records, by))
    size = (5.2 * len(panels), _height(groups + 1))
    fig, axes = pyplot().subplots(1, len(panels), figsize=size, layout="constrained", squeeze=False)
    lo = min(r[0] for r in ranges if r)
    hi = max(r[1] for r in ranges if r)
    colours: dict = {}
    for i, (ax, (value, title)) in enumerate(zip(axes[0], panels)):
        ax.axvspan(lo - 0.5, hi + 0.5, color="0.85", label=f"trained on {lo}-{hi} digits" if i == 0 else None)
        shown = records if value == "accuracy" else [r for r in records if several_steps(r.cells)]
        _curves(ax, shown, by, "digits", colours, legend=i == 0, value=value)
        _axes_style(ax, "digits", title)
        if value == "first_wrong":
            ax.set_ylabel("share of the solution's steps (mean ± std)")
    _legend_below(fig, groups + 1)
    return save_figure(fig, path)


def mean_pair_grid(members: list[TrialRecord]) -> np.ndarray | None:
    """Exact match by (digits of a, digits of b), averaged over the trials that have operand lengths
    (NaN where none tested a pair); None if none has."""
    pairs = [digit_pair_grid(r.cells)[0] for r in members if "digits_a" in r.cells.column_names]
    if not pairs:
        return None
    size = max(g.shape[0] for g in pairs)
    stack = np.full((len(pairs), size, size), np.nan)
    for i, g in enumerate(pairs):
        stack[i, :g.shape[0], :g.shape[1]] = g
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # (a pair no trial tested: NaN)
        return np.nanmean(stack, 0)


def _family_lines(ax, family: str, groups: dict, by: list[str], legend: bool) -> None:
    """One family's panel: exact match by length, a line (mean ± std over its trials) per group."""
    prefix = f"family_len_acc/{family}/"
    for i, (key, members) in enumerate(groups.items()):
        lengths = sorted({int(k[len(prefix):]) for r in members for k in r.metrics if k.startswith(prefix)})
        values = np.array([[r.metrics.get(f"{prefix}{n}", np.nan) for n in lengths] for r in members])
        _band(ax, np.array(lengths), np.nanmean(values, 0), column_std(values), COLOURS[i % len(COLOURS)],
              label=f"{label(by, key)} (n={len(members)})" if legend else None)
    _axes_style(ax, "length (digits of the longer operand)", family)


def family_curves(records: list[TrialRecord], by: list[str], path: str | Path) -> Path | None:
    """Exact match by length, one panel per problem family (length data version 3: equal, mixed,
    short_long, carry, zero), one line per group of ``by`` (mean ± std over its trials); beneath, per
    group, exact match by (digits of a, digits of b) averaged over the group's trials. None when no
    trial has families."""
    families = sorted({k.split("/")[1] for r in records for k in r.metrics if k.startswith("family_len_acc/")},
                      key=lambda f: FAMILIES.index(f) if f in FAMILIES else len(FAMILIES))
    if not families:
        return None
    groups = group(records, by)
    width = max(len(families), len(groups))
    fig, axes = pyplot().subplots(2, width, figsize=(4.2 * width, 8.4), layout="constrained", squeeze=False)
    ranges = [train_digits(r) for r in records if train_digits(r)]
    for ax, family in zip(axes[0], families):
        if ranges:
            ax.axvspan(min(r[0] for r in ranges) - 0.5, max(r[1] for r in ranges) + 0.5, color="0.85")
        _family_lines(ax, family, groups, by, legend=family == families[0])
    for ax in axes[0][len(families):]:
        ax.axis("off")
    for ax, (key, members) in zip(axes[1], groups.items()):
        mean = mean_pair_grid(members)
        if mean is None:
            ax.axis("off")
            continue
        size = mean.shape[0]
        image = ax.imshow(np.ma.masked_invalid(mean), origin="lower", cmap="RdYlGn", vmin=0, vmax=1,
                          extent=(0.5, size + 0.5, 0.5, size + 0.5), interpolation="nearest")
        ax.set(xlabel="digits of b", ylabel="digits of a")
        ax.set_title(f"{label(by, key)}\nexact match by operand lengths", fontsize=8)
    for ax in axes[1][len(groups):]:
        ax.axis("off")
    if len(groups):
        fig.colorbar(image, ax=axes[1].tolist(), shrink=0.8, label="exact match (mean over trials)")
    _legend_below(fig, len(groups))
    return save_figure(fig, path)
