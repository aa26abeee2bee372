"""One report per sweep: summary tables (markdown, CSV), the figures, step coverage, as report.md and
report.html in one folder, optionally logged to the sweep's MLflow parent run (``report/``)."""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass
from pathlib import Path

from caseray.core.atomic import write_text_atomic
from caseray.core.errors import SpecError
from caseray.core.stats import LEGEND
from caseray.core.tables import format_table
from caseray.report import figures as figs
from caseray.report import interactive, interactive_lengths
from caseray.report.aggregate import (
    coverage,
    label,
    markdown_table,
    steps_source,
    summary_rows,
    varying_axes,
    write_csv,
)
from caseray.report.atlas import atlas_sections
from caseray.report.halves import halves_table
from caseray.report.held_out_curves import curve_sections
from caseray.report.holes import FIT_TRAIN, fitted_records, group_axes, square_sections, square_units, unfit_text
from caseray.report.radius import radius_sections
from caseray.report.step_coverage import PREDICTORS
from caseray.sweep.results import TrialRecord
from caseray.sweep.tracking import Tracker
from caseray.trial import probe_summary
from caseray.trial.interactive import plotly_script


def layout(axes: list[str]) -> tuple[list[str], list[str]]:
    """Hole-map panel rows and columns from the sweep's axes: the last axis across, the rest down."""
    return axes[:-1], axes[-1:]


def coverage_rows(records: list[TrialRecord]) -> list[dict]:
    """One row per grid trial: its test and failed cells, then per coverage predictor
    (``report.step_coverage.PREDICTORS``) the cells predicted to fail, precision and recall ("-"
    where it does not apply), and the steps and answer tokens most often missing from training."""
    rows = []
    for r in records:
        cov = coverage(r, by_predictor=True)
        if cov is None:  # a length trial
            continue
        source = steps_source(r)
        failed = [v for k, v in cov.scores.items() if k.endswith("/failed")]  # the same for every predictor
        row = {"trial": r.name, "seed": r.spec.seed, "steps": source[1] if source else "-",
               "test cells": int((r.cells["split"].to_numpy(zero_copy_only=False) == "test").sum()),
               "failed": failed[0] if failed else math.nan}
        for name in PREDICTORS:
            for metric in ("predicted", "precision", "recall"):
                row[f"{name} {metric}"] = cov.scores.get(f"coverage/{name}/{metric}", math.nan)
        for name, column in (("step", "most-missed steps"), ("answer_token", "most-missed answer tokens")):
            row[column] = "; ".join(f"{k} x{n}" for k, n in (cov.missing[name] or [])[:3]) or "-"
        rows.append(row)
    return rows


COVERAGE_TEXT = ("Precision and recall of each predictor against the observed failures (exact accuracy < 50%): "
                 "step+column (a step never seen in its column), step (never seen in any column), answer_token "
                 "(an answer token no training answer has). Steps are the format's written column steps, or, for "
                 "direct answers in digit tokens, the columns a written solution would take (implicit); '-' where "
                 "a predictor does not apply.")
PROBE_TEXT = ("The trials with a probe/probe.json (caseray analyze probe TRIAL): the number embeddings' first two "
              "principal components' share of variance and their strongest DFT frequency; the test cells' R² of a "
              "ridge probe at '=' for s = a + b, |d| and d = a - b (at the layer best on held-out training cells); "
              "the head whose attention from '=' to a and b together differs most between a = b and a != b cells "
              "of the same sums; the failed cells and the Spearman correlation of their logit margin with |d|. "
              "Details: each trial's probe/probe.md.")
HALVES_TEXT = ("Exact match at L, 2L, 3L digits (L: the longest training length) and the hole its square trials "
               "leave against their random-split controls; mean ± std over seeds [t 95% interval].")


def build_report(sweep_id: str, records: list[TrialRecord], out_dir: str | Path, rows: list[str] | None = None,
                 cols: list[str] | None = None, per_seed: bool = False, wrap: int | str | None = "auto",
                 min_train: float = FIT_TRAIN) -> Path:
    """Write the report of ``records`` into ``out_dir``; returns report.md's path. ``rows``/``cols``
    default to ``layout`` of the sweep's axes, wrapped when sparse (``wrap`` as in ``hole_map_grid``).
    Phases: ``tables`` (summary, coverage), ``figures`` (PNGs), the markdown ``sections``, then the
    HTML: the same sections, its hole maps and length curves interactive (``interactive_figures``).
    Square trials (or their controls) below ``min_train`` training accuracy leave the hole statistics."""
    if not records:
        raise SpecError("sweep", f"sweep {sweep_id!r} has no finished trials to report on")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    axes = varying_axes(records)
    summary, cover = tables(records, axes, out)
    kinds = figure_layout(records, axes, rows, cols, wrap)
    figures = draw_figures(kinds, out, per_seed)
    text = "\n\n".join(sections(sweep_id, records, axes, summary, cover, figures, out, min_train)) + "\n"
    write_text_atomic(out / "report.md", text)
    write_text_atomic(out / "report.html", to_html(text, out, interactive_figures(kinds, figures, per_seed)))
    return out / "report.md"


def tables(records: list[TrialRecord], axes: list[str], out: Path) -> tuple[list, list]:
    """The summary (per group of ``axes``) and coverage rows, written as CSV (and summary.md)."""
    summary = summary_rows(records, axes)
    write_csv(summary, out / "summary.csv")
    write_text_atomic(out / "summary.md", markdown_table(summary))
    cover = coverage_rows(records)
    if cover:
        write_csv(cover, out / "coverage.csv")
    return summary, cover


@dataclass(frozen=True)
class FigureLayout:
    """The sweep's trials by kind and how their figures are laid out."""
    grid: list  # grid trials (hole maps, signature, square size)
    lengths: list  # length trials (length curves, families)
    grid_axes: list[str]  # the axes that label each kind's figures
    length_axes: list[str]
    rows: list[str]  # hole-map panel rows and columns
    cols: list[str]
    wrap: int | str | None


def figure_layout(records: list[TrialRecord], axes: list[str], rows, cols, wrap) -> FigureLayout:
    """A sweep of both kinds labels each kind's figures by the axes that vary among its own trials."""
    grid = [r for r in records if r.spec.lengths is None]  # length trials have no grid to map
    lengths = [r for r in records if r.spec.lengths is not None]
    grid_axes, length_axes = (varying_axes(grid), varying_axes(lengths)) if grid and lengths else (axes, axes)
    if rows is None and cols is None:
        rows, cols = layout(grid_axes)
    elif wrap == "auto":
        wrap = None  # chosen axes: every panel where they put it
    return FigureLayout(grid, lengths, grid_axes, length_axes, rows or [], cols or [], wrap)


def draw_figures(kinds: FigureLayout, out: Path, per_seed: bool) -> list[tuple[str, Path]]:
    """(title, file) of every figure the sweep has: hole maps, signature and square size of grid
    trials; length curves and families of length trials."""
    grid, lengths = kinds.grid, kinds.lengths
    figures = [(HOLE_MAPS, p) for p in figs.hole_map_grid(grid, kinds.rows, kinds.cols, out / "holemaps.png",
                                                            per_seed, kinds.wrap)] if grid else []
    not_split = [a for a in kinds.grid_axes if a != "split"]  # the square-size curve has h across
    for title, fig in (("Case-based signature", grid and figs.signature(grid, kinds.grid_axes, out / "signature.png")),
                       ("Square size", grid and figs.square_size(grid, not_split, out / "square_size.png")),
                       (LENGTHS, lengths and figs.length_curves(lengths, kinds.length_axes, out / "length.png")),
                       (FAMILIES, lengths and figs.family_curves(lengths, kinds.length_axes, out / "families.png"))):
        if fig:
            figures.append((title, fig))
    return figures


HOLE_MAPS, LENGTHS = "Hole maps", "Length generalization"
FAMILIES = "Length by problem family and operand lengths"


def interactive_figures(kinds: FigureLayout, figures: list[tuple[str, Path]], per_seed: bool) -> dict[str, str]:
    """The PNGs report.html shows as interactive figures instead: file name -> the figure's HTML (""
    for a hole-map grid's further pages: the interactive grid holds every panel). A hole-map grid of
    more than ``interactive.MAX_CELLS`` cells keeps its PNGs."""
    draw = {HOLE_MAPS: lambda: interactive.hole_maps_html(kinds.grid, kinds.grid_axes, kinds.rows, kinds.cols,
                                                          per_seed, kinds.wrap),
            LENGTHS: lambda: interactive_lengths.length_html(kinds.lengths, kinds.length_axes),
            FAMILIES: lambda: interactive_lengths.families_html(kinds.lengths, kinds.length_axes)}
    pages, drawn = {}, {}
    for title, path in figures:
        if title not in draw:
            continue
        first = title not in drawn
        if first:
            drawn[title] = draw[title]()
        if drawn[title] is not None:  # (None: too many cells to draw with hovers; its PNGs stay)
            pages[path.name] = drawn[title] if first else ""
    return pages


def sections(sweep_id: str, records: list[TrialRecord], axes: list[str], summary: list, cover: list,
             figures: list[tuple[str, Path]], out: Path, min_train: float = FIT_TRAIN) -> list[str]:
    """The report's markdown sections, in order (the radius section draws its figure into ``out``)."""
    parts = [f"# Sweep {sweep_id}", f"{len(records)} finished trials; axes: {', '.join(axes) or 'none'}.",
             f"Statistics: {LEGEND}.", "## Summary (mean ± std over trials)", markdown_table(summary)]
    if cover:
        parts += ["## Coverage: a test cell fails iff something it needs never occurs in training", COVERAGE_TEXT,
                  markdown_table(cover)]
    for title, fig in figures:
        parts += [f"## {title}", f"![{title}]({fig.name})"]
    hole_axes = group_axes(records)
    fit, unfit = fitted_records(records, min_train)
    units = square_units(fit, hole_axes)
    if unfit:
        parts += [f"## Square trials left out of the hole statistics: train accuracy below {min_train}",
                  "A square trial, or its paired control, that did not fit its training cells.",
                  format_table(["trial", "train acc; its control's"],
                               [[t, unfit_text(*accs)] for t, accs in sorted(unfit.items())], "markdown")]
    parts += square_sections(units, lambda key: label(hole_axes, key))
    parts += radius_sections(units, lambda key: label(hole_axes, key), out)
    parts += atlas_sections(units, lambda key: label(hole_axes, key), out)
    parts += curve_sections(records, label, out)
    halves = halves_table(records)
    if halves is not None:
        parts += ["## Rule or case? Length generalization and Leave-Square-Out, per model configuration",
                  HALVES_TEXT, halves]
    probed = [probe_summary.report_row(r.probe) for r in records if r.probe is not None]
    if probed:
        parts += ["## Inside the model (caseray analyze probe)", PROBE_TEXT, probe_summary.markdown_table(probed)]
    return parts


def to_html(markdown: str, folder: Path | None = None, interactive_html: dict[str, str] | None = None) -> str:
    """The report's small markdown subset (headings, paragraphs, tables, images) as one self-contained
    HTML page: an image named in ``interactive_html`` becomes that figure's HTML (plotly's JavaScript
    then goes once into the page's head); any other image in ``folder`` is inlined as a data URI."""
    interactive_html = interactive_html or {}
    body, table = [], []

    def flush():
        if table:
            head, *rest = table
            def cells(row, tag):
                return "".join(f"<{tag}>{html.escape(c.strip())}</{tag}>" for c in row.strip("|").split("|"))
            body.append("<table><tr>" + cells(head, "th") + "</tr>" + "".join(
                f"<tr>{cells(r, 'td')}</tr>" for r in rest if not set(r) <= set("|-")) + "</table>")
            table.clear()

    for line in markdown.splitlines():
        if line.startswith("|"):
            table.append(line)
            continue
        flush()
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            body.append(f"<h{level}>{html.escape(line[level:].strip())}</h{level}>")
        elif line.startswith("!["):
            alt, src = line[2:].split("](")
            src = src.rstrip(")")
            if src in interactive_html:
                body.append(interactive_html[src])
            else:
                body.append(f'<p><img src="{html.escape(image_source(src, folder))}" alt="{html.escape(alt)}"></p>')
        elif line.strip():
            body.append(f"<p>{html.escape(line)}</p>")
    flush()
    style = ("body{font-family:sans-serif;max-width:1400px;margin:auto;padding:0 1.5em}img{max-width:100%}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;font-size:12px}")
    script = plotly_script() if any(interactive_html.values()) else ""
    return (f"<!doctype html><html><head><meta charset='utf-8'><style>{style}</style>{script}</head>"
            f"<body>{''.join(body)}</body></html>\n")


def image_source(src: str, folder: Path | None) -> str:
    """A PNG beside the report as a data URI (the page then stands alone: mailed, or in MLflow's viewer)."""
    path = None if folder is None else folder / src
    if path is None or not path.is_file():
        return src
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def log_report(tracking_uri: str, sweep_id: str, report_dir: str | Path) -> bool:
    """Attach the report folder to the sweep's parent run; False when MLflow holds no such sweep."""
    tracker = Tracker(tracking_uri)
    parent = tracker.parent_of(sweep_id)
    if parent is None:
        return False
    tracker.log_report(parent, Path(report_dir))
    return True
