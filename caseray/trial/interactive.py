"""A trial's interactive hole map (``holemap.html``) and the plotly pieces every interactive page shares.

A grid trial writes ``holemap.html`` beside ``holemap.png``: per-cell exact match as a plotly heat map
(zoom and pan are plotly's), the held-out squares outlined, and on each cell a hover naming a and b,
its prompt and target (written from a and b by the trial's format, never stored), what the model said
where it was wrong (``cells.parquet``'s ``output``), the first wrong step, the ring and the distance to
training. A page holds plotly's JavaScript once (``page``, ``plotly_script``), so it works offline
from one file. plotly is imported only when a figure is drawn."""

from __future__ import annotations

import html
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa

from caseray.core.atomic import write_text_atomic
from caseray.data.formats import get_format
from caseray.data.plots import to_grid
from caseray.data.splits import resolve_squares
from caseray.data.tasks import build_task
from caseray.trial.spec import TrialSpec

HOVER_CHARS = 120  # the most characters of one text a hover shows (cells.parquet keeps up to 400)
CONFIG = {"displaylogo": False, "showSendToCloud": False, "responsive": True}  # a mode bar without links out
PANEL_PX = 360  # a hole-map panel's width (and about its height) in pixels
RIGHT = "right"  # what a hover says for a cell the model got exactly right
EMPTY = "(nothing)"  # what a hover says for an empty output
NOT_RECORDED = "(not recorded)"  # a wrong cell's output in trials evaluated before outputs were kept
FIELDS = ("prompt", "target", "output", "first wrong step", "ring", "distance to training", "split")


def shown(text: str, limit: int = HOVER_CHARS) -> str:
    """``text`` as a hover label shows it: cut to ``limit`` characters, escaped (plotly reads tags in
    labels), its newlines as line breaks."""
    cut = text if len(text) <= limit else text[:limit] + "…"
    return html.escape(cut, quote=False).replace("\n", "<br>")


@lru_cache(maxsize=16)
def _writer(task_spec, fmt_name: str, options):
    return build_task(task_spec), get_format(fmt_name, options=options), {}


def prompt_target(spec: TrialSpec, a: int, b: int) -> tuple[str, str]:
    """Cell (a, b)'s prompt and target as the trial's format writes them for testing (remembered per
    task and format: a sweep's seeds share them)."""
    task, fmt, memo = _writer(spec.task, spec.format, spec.format_options)
    if (a, b) not in memo:
        memo[(a, b)] = (fmt.prompt(task, a, b), fmt.target(task, a, b))
    return memo[(a, b)]


def prompt_shown(prompt: str) -> str:
    """A prompt's last line (the question; a program before it is marked ``…``)."""
    head, _, last = prompt.rstrip("\n").rpartition("\n")
    return ("… " if head else "") + shown(last)


def said_shown(target: str, output: str | None, step: int) -> tuple[str, str]:
    """(target, output) as a hover shows them: whole when each is one line; a solution of several lines
    as its answer and line count, and a wrong output's first wrong line beside the target's."""
    if "\n" not in target and (output is None or "\n" not in output):
        return shown(target), RIGHT if output is None else shown(output) or EMPTY
    t_lines = target.split("\n")
    target_text = f"{shown(t_lines[-1])} ({len(t_lines)} lines)"
    if output is None or output == NOT_RECORDED:
        return target_text, output or RIGHT
    o_lines = output.split("\n")
    output_text = f"{shown(o_lines[-1]) or EMPTY} ({len(o_lines)} lines)"
    if 0 <= step:
        wrong = shown(o_lines[step]) if step < len(o_lines) else "(missing)"
        right = f" (target: {shown(t_lines[step])})" if step < len(t_lines) else ""
        output_text += f"<br>  line {step}: {wrong}{right}"
    return target_text, output_text


def outputs(cells: pa.Table) -> list[str | None]:
    """Per cell: the model's output where it was wrong, None where right; for cells evaluated before
    outputs were kept, ``NOT_RECORDED`` where wrong."""
    if "output" in cells.column_names:
        return cells["output"].to_pylist()
    return [None if ok else NOT_RECORDED for ok in cells["accuracy"].to_numpy() >= 1]


def hover_fields(spec: TrialSpec, cells: pa.Table) -> list[list]:
    """Per cell, the ``FIELDS`` a hover shows: prompt, target, output (``RIGHT`` where exact), first
    wrong step ("-" where none), ring (a region's cells: their depth in it), distance to training, split."""
    steps = (cells["first_wrong_step"].to_numpy() if "first_wrong_step" in cells.column_names
             else np.full(cells.num_rows, -1))
    def ring_named(ring: int) -> str:
        if spec.split.kind != "region":
            return f"ring {ring}"
        return f"depth {ring} in the region" if ring >= 0 else "outside the region"

    rows = []
    for a, b, said, step, ring, dist, split in zip(cells["a"].to_pylist(), cells["b"].to_pylist(), outputs(cells),
                                                   steps.tolist(), cells["ring"].to_pylist(),
                                                   cells["dist_train"].to_pylist(), cells["split"].to_pylist()):
        prompt, target = prompt_target(spec, a, b)
        target_text, output_text = said_shown(target, said, step)
        rows.append([prompt_shown(prompt), target_text, output_text, step if step >= 0 else "-", ring_named(ring),
                     dist, split])
    return rows


def hover_template(task, value: str) -> str:
    """The hover of a hole-map cell: ``value`` (how its z reads), then the ``FIELDS`` in customdata."""
    lines = [f"{task.axes[0]}=%{{y}}, {task.axes[1]}=%{{x}} (%{{customdata[6]}}): {value}"]
    lines += [f"{name}: %{{customdata[{i}]}}" for i, name in enumerate(FIELDS[:4])]
    lines += ["%{customdata[4]}, distance to training %{customdata[5]}"]
    return "<br>".join(lines) + "<extra></extra>"


def heatmap(task, a, b, values, custom: list[list], template: str, coloraxis: str = "coloraxis"):
    """A plotly heat map of ``values`` on the task's grid (rows a, columns b), each cell's ``custom``
    fields for ``template``; cells outside ``a, b`` are gaps without a hover."""
    import plotly.graph_objects as go

    (alo, ahi), (blo, bhi) = task.a_range, task.b_range
    grid = to_grid(task, a, b, values).astype(np.float32)  # (half the bytes of float64 on the page)
    data = [[None] * grid.shape[1] for _ in range(grid.shape[0])]
    for x, y, row in zip(np.asarray(a) - alo, np.asarray(b) - blo, custom):
        data[x][y] = row
    return go.Heatmap(z=grid, x=np.arange(blo, bhi + 1), y=np.arange(alo, ahi + 1), customdata=data,
                      hovertemplate=template, hoverongaps=False, coloraxis=coloraxis)


def square_shapes(squares, axis: str = "") -> list[dict]:
    """The held-out squares' outlines on subplot ``axis`` ("" for the first, "2", ...)."""
    return [dict(type="rect", xref=f"x{axis}", yref=f"y{axis}", x0=b0 - h - 0.5, x1=b0 + h + 0.5,
                 y0=a0 - h - 0.5, y1=a0 + h + 0.5, line=dict(color="black", width=1.5), fillcolor="rgba(0,0,0,0)")
            for a0, b0, h in squares]


def grid_axes(fig, task, axis: str = "") -> None:
    """Subplot ``axis``: b across, a up, one cell square, the grid edge to edge, labelled with the
    task's axes."""
    (alo, ahi), (blo, bhi) = task.a_range, task.b_range
    fig.layout[f"xaxis{axis}"].update(title=task.axes[1], range=[blo - 0.5, bhi + 0.5], constrain="domain")
    fig.layout[f"yaxis{axis}"].update(title=task.axes[0], range=[alo - 0.5, ahi + 0.5], scaleanchor=f"x{axis}",
                                      constrain="domain", constraintoward="top")  # (under its title)


COLOURS = dict(colorscale="RdYlGn", cmin=0, cmax=1)  # 0 red, 1 green, as the PNG hole maps
TEMPLATE = "plotly_white"


def holemap_figure(spec: TrialSpec, cells: pa.Table, title: str):
    """One trial's interactive hole map."""
    import plotly.graph_objects as go

    task = build_task(spec.task)
    fig = go.Figure(heatmap(task, cells["a"].to_numpy(), cells["b"].to_numpy(), cells["accuracy"].to_numpy(),
                            hover_fields(spec, cells), hover_template(task, "exact %{z:.0%}")))
    grid_axes(fig, task)
    fig.update_layout(title=dict(text=title, font=dict(size=13)), template=TEMPLATE,
                      shapes=square_shapes(resolve_squares(task, spec.split)),
                      coloraxis=dict(**COLOURS, colorbar=dict(title="exact")), width=PANEL_PX + 200,
                      height=PANEL_PX + 140, margin=dict(l=60, r=20, t=60, b=50))
    return fig


def figure_div(fig, div_id: str) -> str:
    """A figure as a <div> and the script that draws it (plotly's JavaScript left to the page)."""
    import plotly.io as pio

    return pio.to_html(fig, include_plotlyjs=False, full_html=False, config=CONFIG, div_id=div_id)


def plotly_script() -> str:
    """plotly's JavaScript inlined, once per page: the page needs no network."""
    from plotly.offline import get_plotlyjs

    return f'<script type="text/javascript">{get_plotlyjs()}</script>'


STYLE = "body{font-family:sans-serif;max-width:1400px;margin:auto;padding:0 1.5em}"


def page(title: str, body: str, style: str = STYLE) -> str:
    """A whole self-contained HTML page around ``body`` (figure divs), plotly's JavaScript in its head."""
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style>{plotly_script()}</head><body>{body}</body></html>\n")


def write_holemap_html(spec: TrialSpec, cells: pa.Table, title: str, path: str | Path) -> Path:
    """``holemap.html``: the trial's interactive hole map as one page."""
    path = Path(path)
    write_text_atomic(path, page(title, figure_div(holemap_figure(spec, cells, title), "holemap")))
    return path
