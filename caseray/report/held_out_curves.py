"""Held-out curves in a sweep's report (trials run with ``eval.curve_every``; ``trial.curve``): exact
match against the optimizer step, so that a sweep shows when a hole opens or closes, not only how it
ends.

One panel per group of trials (the axes the curve trials vary, but the seed), one colour per part
(test cells, the squares' centres, sampled training cells): each seed a thin line, the mean over seeds
a thick one where the seeds share their steps. The table gives each part at the start, at each
quarter of training and at the end (mean ± std over seeds), and where the mean peaked.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from caseray.core.stats import t_interval
from caseray.core.tables import format_table
from caseray.data.plots import pyplot, save_figure
from caseray.report import aggregate
from caseray.report.aggregate import varying_axes
from caseray.report.holes import format_mean
from caseray.sweep.results import TrialRecord
from caseray.trial.result import CURVE_COLOURS as COLOURS

PARTS = tuple(COLOURS)
QUARTERS = (0.0, 0.25, 0.5, 0.75, 1.0)


def curve_groups(records: list[TrialRecord]) -> tuple[list[str], dict[tuple, list[TrialRecord]]]:
    """The axes the curve trials vary (but the seed) and {group: its curve trials}, sorted."""
    drawn = [r for r in records if r.curve]
    axes = varying_axes(drawn) if len(drawn) > 1 else []
    return axes, aggregate.group(drawn, axes)


def shared_steps(records: list[TrialRecord]) -> list[int] | None:
    """The steps every seed of a group measured at (None: they differ, no mean is drawn)."""
    steps = [tuple(r.curve["step"]) for r in records]
    return list(steps[0]) if len(set(steps)) == 1 else None


def seed_values(records: list[TrialRecord], part: str) -> np.ndarray:
    """Per step, the seeds' values of ``part`` (rows: seeds)."""
    return np.array([[np.nan if v is None else v for v in r.curve[part]] for r in records], dtype=float)


def curve_rows(groups: dict[tuple, list[TrialRecord]], label) -> list[list[str]]:
    rows = []
    for group, records in groups.items():
        steps = shared_steps(records)
        if steps is None:
            continue
        for part in [p for p in PARTS if all(p in r.curve for r in records)]:
            values = seed_values(records, part)
            at = [values[:, round(q * (len(steps) - 1))] for q in QUARTERS]
            mean = np.nanmean(values, axis=0)
            peak = int(np.nanargmax(mean))
            rows.append([label(group), part.removesuffix("_acc"), str(len(records)),
                         *(format_mean(*t_interval(v)[:2], len(v)) for v in at),
                         f"{mean[peak]:.2f} at step {steps[peak]}"])
    return rows


def curve_figure(groups: dict[tuple, list[TrialRecord]], label, path: str | Path) -> Path | None:
    if not groups:
        return None
    plt = pyplot()
    n = len(groups)
    cols = min(n, 3)
    fig, axes = plt.subplots((n + cols - 1) // cols, cols, figsize=(4.6 * cols, 3.4 * ((n + cols - 1) // cols)),
                             squeeze=False)
    for ax, (group, records) in zip(axes.flat, groups.items()):
        steps = shared_steps(records)
        for part in PARTS:
            have = [r for r in records if part in r.curve]
            for r in have:
                ax.plot(r.curve["step"], r.curve[part], color=COLOURS[part], lw=0.7, alpha=0.45)
            if have and steps is not None and len(have) == len(records):
                ax.plot(steps, np.nanmean(seed_values(records, part), axis=0), color=COLOURS[part], lw=2.2,
                        label=part.removesuffix("_acc"))
        ax.set(title=label(group), xlabel="optimizer step", ylabel="exact match", ylim=(-0.03, 1.03))
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=7)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.tight_layout()
    return save_figure(fig, path)


def curve_sections(records: list[TrialRecord], label_of, out_dir: Path) -> list[str]:
    """The report's held-out-curve section (``label_of(axes, group)`` names a group), figure included."""
    axes, groups = curve_groups(records)
    if not groups:
        return []
    def label(group):
        return label_of(axes, group)

    head = ["group", "part", "seeds", *(f"{q:.0%} of steps" for q in QUARTERS), "mean's peak"]
    sections = ["## Held-out curves: exact match during training",
                "Trials run with `eval.curve_every`: teacher-forced exact match on the test cells, the squares' "
                "centres and a sample of training cells, from step 0; mean ± std over seeds at each quarter of "
                "training.", format_table(head, curve_rows(groups, label), "markdown")]
    fig = curve_figure(groups, label, Path(out_dir) / "curves_held_out.png")
    if fig is not None:
        sections.append(f"![held-out curves]({fig.name})")
    return sections
