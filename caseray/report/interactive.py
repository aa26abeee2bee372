"""The report's interactive figures (report.html): plotly versions of the hole-map grid (the same panels
as holemaps.png, hovers telling each trial's output where it was wrong), the hole map of each trial,
the length curves and the (digits of a, digits of b) maps. report.md keeps the PNGs. plotly is
imported when a figure is drawn; the page holds its JavaScript once (``caseray.trial.interactive``)."""

from __future__ import annotations

import html
import warnings
from dataclasses import dataclass

import numpy as np

from caseray.core.stats import column_std
from caseray.data.length_families import FAMILIES
from caseray.data.splits import resolve_squares
from caseray.data.tasks import build_task
from caseray.report.aggregate import curve, group, label, train_digits
from caseray.report.figures import LENGTH_PANELS, Panel, mean_pair_grid, plan_panels, sparse, wrapped
from caseray.sweep.results import TrialRecord
from caseray.trial.figures import digit_pair_grid
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


def palette(i: int) -> str:
    from plotly.colors import qualitative

    return qualitative.D3[i % len(qualitative.D3)]


def spread(std: np.ndarray) -> list[str]:
    """Per point, "± std" for a hover ("" where one trial gives no std)."""
    return [f" ± {s:.1%}" if np.isfinite(s) else "" for s in std]


def _line(go, x, mean, std, n, name: str, colour: str, first: bool, what: str):
    text = html.escape(name)
    return go.Scatter(x=x, y=mean, mode="lines+markers", name=text, legendgroup=text, showlegend=first,
                      line=dict(color=colour), error_y=dict(array=np.nan_to_num(std), thickness=1, width=2),
                      customdata=np.array([spread(std), n], dtype=object).T.tolist(),
                      hovertemplate=f"{text}<br>%{{x}} {what}: %{{y:.1%}}%{{customdata[0]}} (n=%{{customdata[1]}})"
                                    "<extra></extra>")


def _shade_trained(fig, records, n_panels: int) -> None:
    ranges = [train_digits(r) for r in records if train_digits(r)]
    if ranges:
        for j in range(n_panels):
            fig.add_vrect(x0=min(r[0] for r in ranges) - 0.5, x1=max(r[1] for r in ranges) + 0.5, row=1, col=j + 1,
                          fillcolor="lightgrey", opacity=0.4, line_width=0, layer="below")


def length_figure(records: list[TrialRecord], by: list[str]):
    """length.png's panels: exact match, steps right and where the first wrong step falls, vs digits, a
    line per group of ``by`` (mean ± std over its trials), the training lengths shaded."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    panels = [(v, t) for v, t in LENGTH_PANELS if any(len(curve([r], "digits", v)[0]) for r in records)]
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[t for _, t in panels])
    for j, (value, _) in enumerate(panels):
        for g, (key, members) in enumerate(group(records, by).items()):
            x, mean, std, n = curve(members, "digits", value)
            if len(x):
                fig.add_trace(_line(go, x, mean, std, n, label(by, key), palette(g), j == 0, "digits"), row=1,
                              col=j + 1)
    _shade_trained(fig, records, len(panels))
    fig.update_yaxes(range=[-0.03, 1.03], tickformat=".0%")
    fig.update_xaxes(title="digits")
    fig.update_layout(height=460, legend=dict(orientation="h", y=-0.2), margin=dict(t=50), template=TEMPLATE)
    return fig


def family_figure(records: list[TrialRecord], by: list[str]):
    """families.png's top row: exact match by length per problem family, a line per group of ``by``."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    families = sorted({k.split("/")[1] for r in records for k in r.metrics if k.startswith("family_len_acc/")},
                      key=lambda f: FAMILIES.index(f) if f in FAMILIES else len(FAMILIES))
    fig = make_subplots(rows=1, cols=len(families), subplot_titles=families)
    for j, family in enumerate(families):
        prefix = f"family_len_acc/{family}/"
        for g, (key, members) in enumerate(group(records, by).items()):
            lengths = sorted({int(k[len(prefix):]) for r in members for k in r.metrics if k.startswith(prefix)})
            values = np.array([[r.metrics.get(f"{prefix}{n}", np.nan) for n in lengths] for r in members])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # (a length no trial of the group has: NaN)
                mean = np.nanmean(values, 0)
            std, n = column_std(values), (~np.isnan(values)).sum(0)
            fig.add_trace(_line(go, lengths, mean, std, n, label(by, key), palette(g), j == 0, "digits"),
                          row=1, col=j + 1)
    _shade_trained(fig, records, len(families))
    fig.update_yaxes(range=[-0.03, 1.03], tickformat=".0%")
    fig.update_xaxes(title="digits of the longer operand")
    fig.update_layout(height=420, legend=dict(orientation="h", y=-0.25), margin=dict(t=50), template=TEMPLATE)
    return fig


def digit_pairs_figure(records: list[TrialRecord], by: list[str]):
    """families.png's bottom row: per group, exact match by (digits of a, digits of b), averaged over its
    trials, with each pair's problem count; None when no trial has operand lengths."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    groups = [(key, members, mean_pair_grid(members)) for key, members in group(records, by).items()]
    groups = [g for g in groups if g[2] is not None]
    if not groups:
        return None
    fig = make_subplots(rows=1, cols=len(groups), subplot_titles=[html.escape(label(by, k)) for k, *_ in groups])
    for j, (_, members, mean) in enumerate(groups):
        size = mean.shape[0]
        count = np.zeros((size, size), dtype=int)
        for r in members:
            if "digits_a" in r.cells.column_names:
                c = digit_pair_grid(r.cells)[1]
                count[:c.shape[0], :c.shape[1]] += c.astype(int)
        digits = np.arange(1, size + 1)
        fig.add_trace(go.Heatmap(z=mean, x=digits, y=digits, customdata=count, coloraxis="coloraxis",
                                 hoverongaps=False, hovertemplate="a: %{y} digits, b: %{x} digits<br>exact %{z:.0%} "
                                 "of %{customdata} problems<extra></extra>"), row=1, col=j + 1)
        axis = "" if j == 0 else str(j + 1)
        edge = dict(range=[0.5, size + 0.5], dtick=1, constrain="domain")
        fig.layout[f"xaxis{axis}"].update(title="digits of b", **edge)
        fig.layout[f"yaxis{axis}"].update(title="digits of a", scaleanchor=f"x{axis}", **edge)
    fig.update_layout(coloraxis=dict(**COLOURS, colorbar=dict(title="exact")), margin=dict(t=60), template=TEMPLATE,
                      height=min(PANEL_PX, PAGE_PX // len(groups)) + 120)
    return fig


def length_html(records: list[TrialRecord], by: list[str]) -> str:
    return figure_div(length_figure(records, by), "length")


def families_html(records: list[TrialRecord], by: list[str]) -> str:
    pairs = digit_pairs_figure(records, by)
    return "\n".join([figure_div(family_figure(records, by), "families")] +
                     ([figure_div(pairs, "digit-pairs")] if pairs is not None else []))
