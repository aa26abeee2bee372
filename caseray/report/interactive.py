"""report.html's interactive hole maps: plotly versions of the hole-map grid (the same panels as
holemaps.png, hovers telling each trial's output where it was wrong) and the hole map of each trial
(length curves: ``interactive_lengths``). report.md keeps the PNGs. plotly is imported when a figure
is drawn; the page holds its JavaScript once (``caseray.trial.interactive``)."""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np

from caseray.data.splits import resolve_squares
from caseray.data.tasks import build_task
from caseray.report.aggregate import group, label
from caseray.report.figures import Panel, plan_panels, sparse, wrapped
from caseray.sweep.results import TrialRecord
from caseray.trial.interactive import (
    COLOURS,
    PANEL_PX,
    RIGHT,
    TEMPLATE,
    figure_div,
    grid_axes,
    heatmap,
    hover_fields,
    hover_template,
    square_shapes,
)

PER_ROW = 4  # trials' hole maps per row
MAX_CELLS = 100_000  # hole-map cells one page draws with hovers (~45 bytes each: with plotly, ~10 MB at most)
PAGE_PX = 1300  # the widest a figure is drawn


@dataclass(frozen=True)
class Map:
    """One hole-map panel as plotly draws it."""
    title: str
    task: object
    a: np.ndarray
    b: np.ndarray
    split: np.ndarray  # a random split's test cells are dotted
    values: np.ndarray
    fields: list  # per cell, the hover's FIELDS (caseray.trial.interactive)
    value: str  # how a cell's value reads in its hover
    squares: tuple
    predicted: np.ndarray | None = None  # cells the step-coverage predictor expects to fail (marked x)


class Hovers:
    """Each trial's hover fields, made once per page (a trial can be in several figures)."""

    def __init__(self):
        self.made: dict[int, list] = {}

    def __call__(self, record: TrialRecord) -> list:
        key = id(record.cells)  # (two sweeps may hold one trial name, read from different stores)
        if key not in self.made:
            self.made[key] = hover_fields(record.spec, record.cells)
        return self.made[key]


def merged_fields(members: list[TrialRecord], hovers: Hovers) -> list:
    """Per cell of the first trial, the hover fields of several trials: the first's prompt, target and
    place, and each trial's output and first wrong step where it was wrong (by seed)."""
    first = members[0]
    if len(members) == 1:
        return hovers(first)
    keys = list(zip(first.cells["a"].to_pylist(), first.cells["b"].to_pylist()))
    ordered = sorted(members, key=lambda m: m.spec.seed)
    seeds = [m.spec.seed for m in ordered]
    names = [f"seed {s}" if seeds.count(s) == 1 else f"#{i + 1} seed {s}" for i, s in enumerate(seeds)]
    per = []
    for m in ordered:
        index = {k: i for i, k in enumerate(zip(m.cells["a"].to_pylist(), m.cells["b"].to_pylist()))}
        fields = hovers(m)
        per.append([fields[index[k]] if k in index else None for k in keys])
    rows = []
    for i, row in enumerate(hovers(first)):
        wrong = [(name, f[i]) for name, f in zip(names, per) if f[i] is not None and f[i][2] != RIGHT]
        output = "<br>".join(f"{name}: {f[2]}" for name, f in wrong) or RIGHT  # (every trial right)
        step = ", ".join(f"{name}: {f[3]}" for name, f in wrong) or "-"
        rows.append([row[0], row[1], output, step, *row[4:]])
    return rows


def maps_figure(plan: list[list[Map | None]]):
    """Hole-map panels in rows and columns, one colour scale, squares outlined, x where predicted to
    fail, a random split's test cells dotted."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    n_rows, n_cols = len(plan), len(plan[0])
    side = min(PANEL_PX, PAGE_PX // n_cols)
    height = n_rows * (side + 80) + 40
    fig = make_subplots(rows=n_rows, cols=n_cols, subplot_titles=[m.title if m else "" for line in plan for m in line],
                        horizontal_spacing=0.3 / n_cols, vertical_spacing=80 / height)
    shapes = []
    for i, line in enumerate(plan):
        for j, m in enumerate(line):
            axis = "" if i == j == 0 else str(i * n_cols + j + 1)  # make_subplots numbers axes row by row
            if m is None:
                fig.layout[f"xaxis{axis}"].visible = fig.layout[f"yaxis{axis}"].visible = False
                continue
            fig.add_trace(heatmap(m.task, m.a, m.b, m.values, m.fields, hover_template(m.task, m.value)),
                          row=i + 1, col=j + 1)
            marks = [(m.predicted, dict(symbol="x-thin", size=5, line=dict(width=1, color="black")))]
            marks += [(m.split == "test", dict(symbol="circle", size=2, color="black"))] if not m.squares else []
            for where, marker in marks:
                if where is not None and where.any():
                    fig.add_trace(go.Scatter(x=m.b[where], y=m.a[where], mode="markers", hoverinfo="skip",
                                             marker=marker), row=i + 1, col=j + 1)
            shapes += square_shapes(m.squares, axis)
            grid_axes(fig, m.task, axis)
    fig.update_annotations(font_size=11)
    fig.update_layout(coloraxis=dict(**COLOURS, colorbar=dict(title="exact", len=min(1.0, 600 / height))),
                      shapes=shapes, height=height, showlegend=False, margin=dict(l=50, r=20, t=60, b=40),
                      template=TEMPLATE)
    return fig


def panel_title(title: str, what: str, values: np.ndarray, split: np.ndarray) -> str:
    test = split == "test"
    accuracy = f"test {np.nanmean(values[test]):.0%}" if test.any() else "no test cells"
    return f"{html.escape(title or 'all')}<br>{what}{accuracy}"


def hole_maps(records: list[TrialRecord], rows: list[str], cols: list[str], per_seed: bool, wrap,
              hovers: Hovers):
    """The hole-map grid as holemaps.png draws it (panels by ``rows`` x ``cols`` axes, averaged over
    seeds unless ``per_seed``), every page in one figure."""
    cols = cols + ["seed"] if per_seed else cols
    members = group(records, rows + cols)
    plan = plan_panels(records, rows, cols)
    if wrap == "auto":
        wrap = PER_ROW if sparse(plan) else None

    def panel_map(p: Panel) -> Map:
        return Map(panel_title(p.title, f"{p.n_trials} trial(s), ", p.accuracy, p.split), p.task, p.a, p.b, p.split,
                   p.accuracy, merged_fields(members[p.row + p.col], hovers),
                   f"exact %{{z:.0%}} (mean of {p.n_trials})", p.squares, p.predicted)

    return maps_figure([[p and panel_map(p) for p in line] for line in (wrapped(plan, wrap) if wrap else plan)])


def trial_maps(records: list[TrialRecord], axes: list[str], hovers: Hovers):
    """One hole map per trial, ``PER_ROW`` to a row, labelled by the sweep's axes and seed."""
    maps = []
    for key, members in group(records, axes + ["seed"]).items():
        for r in members:
            cells, task = r.cells, build_task(r.spec.task)
            accuracy, split = cells["accuracy"].to_numpy(), cells["split"].to_numpy(zero_copy_only=False)
            title = ", ".join(x for x in (label(axes, key[:-1]) if axes else "", f"seed {key[-1]}") if x)
            maps.append(Map(panel_title(title, "", accuracy, split), task, cells["a"].to_numpy(),
                            cells["b"].to_numpy(), split, accuracy, hovers(r), "exact %{z:.0%}",
                            tuple(resolve_squares(task, r.spec.split))))
    return maps_figure([(maps[i:i + PER_ROW] + [None] * PER_ROW)[:PER_ROW] for i in range(0, len(maps), PER_ROW)])


def hole_maps_html(records: list[TrialRecord], axes: list[str], rows: list[str], cols: list[str], per_seed: bool,
                   wrap) -> str | None:
    """The hole-map grid, then (where its panels average trials) each trial's map, while they hold at
    most ``MAX_CELLS`` cells in all; None when the grid alone holds more (the page keeps the PNG)."""
    panels = group(records, rows + cols + (["seed"] if per_seed else []))
    grid_cells = sum(members[0].cells.num_rows for members in panels.values())
    if grid_cells > MAX_CELLS:
        return None
    hovers = Hovers()
    parts = [figure_div(hole_maps(records, rows, cols, per_seed, wrap, hovers), "holemaps")]
    trial_cells = sum(r.cells.num_rows for r in records)
    if len(panels) == len(records):  # every panel is one trial's map already
        return parts[0]
    if grid_cells + trial_cells <= MAX_CELLS:
        parts += ["<h3>Each trial</h3>", figure_div(trial_maps(records, axes, hovers), "holemaps-trials")]
    else:
        parts.append(f"<p>Each trial's own map is left out here ({trial_cells:,} cells more than this page's "
                     f"{MAX_CELLS:,}): it is the trial's holemap.html, in its folder and MLflow run.</p>")
    return "\n".join(parts)
