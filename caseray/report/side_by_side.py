"""Two sweeps' hole maps side by side (``caseray report SWEEP_A SWEEP_B``): the grid trials of each
grouped by the axes either sweep varies (seeds averaged unless ``per_seed``), each group found in both
drawn as one row -- sweep A's map left, B's right -- on one colour scale, with the report's hovers.
One self-contained page, ``side_by_side-<B id>.html``."""

from __future__ import annotations

import html
from pathlib import Path

from caseray.core.atomic import write_text_atomic
from caseray.core.errors import SpecError
from caseray.data.splits import resolve_squares
from caseray.data.tasks import build_task
from caseray.report.aggregate import cell_mean, group, label, varying_axes
from caseray.report.interactive import Hovers, Map, maps_figure, merged_fields, panel_title
from caseray.report.sweep_report import load_records
from caseray.sweep.results import TrialRecord
from caseray.sweep.storage import local_folder, publish
from caseray.trial.interactive import figure_div, page


def grid_trials(sweep_id: str, records: list[TrialRecord], field: str) -> list[TrialRecord]:
    grid = [r for r in records if r.spec.lengths is None]
    if not grid:
        raise SpecError(field, f"sweep {sweep_id} has no grid trials, so no hole maps to set side by side",
                        ["a sweep with grid trials (not only length trials)"])
    return grid


def matching_groups(a: list[TrialRecord], b: list[TrialRecord], per_seed: bool = False):
    """(axes, [(key, A's trials, B's trials)]) for every group of the axes either sweep varies that both
    sweeps have (with ``per_seed``, every seed its own group)."""
    axes = list(dict.fromkeys(varying_axes(a) + varying_axes(b))) + (["seed"] if per_seed else [])
    groups_a, groups_b = group(a, axes), group(b, axes)
    return axes, [(key, members, groups_b[key]) for key, members in groups_a.items() if key in groups_b]


def groups_seen(records: list[TrialRecord], axes: list[str]) -> str:
    return "; ".join(label(axes, key) for key in group(records, axes))


def side_map(members: list[TrialRecord], sweep_id: str, title: str, hovers: Hovers) -> Map:
    first = members[0]
    a, b, mean, split = cell_mean(members)
    task = build_task(first.spec.task)
    return Map(panel_title(f"{sweep_id}: {title}", f"{len(members)} trial(s), ", mean, split), task, a, b, split, mean,
               merged_fields(members, hovers), f"exact %{{z:.0%}} (mean of {len(members)})",
               tuple(resolve_squares(task, first.spec.split)))


def side_by_side_html(id_a: str, records_a: list[TrialRecord], id_b: str, records_b: list[TrialRecord],
                      per_seed: bool = False) -> str:
    """The page; refuses (``SpecError``) sweeps without grid trials or without a group in common."""
    a, b = grid_trials(id_a, records_a, "sweep"), grid_trials(id_b, records_b, "sweep_b")
    axes, matches = matching_groups(a, b, per_seed)
    if not matches:
        raise SpecError("sweep_b", f"sweeps {id_a} and {id_b} have no hole maps to match by "
                        f"{', '.join(axes) or 'their axes'}: {id_a} has {groups_seen(a, axes)}; {id_b} has "
                        f"{groups_seen(b, axes)}", ["two sweeps with a group in common (same values of the axes "
                                                    "either varies)"])
    hovers = Hovers()
    plan = [[side_map(ma, id_a, label(axes, key), hovers), side_map(mb, id_b, label(axes, key), hovers)]
            for key, ma, mb in matches]
    title = f"{id_a} and {id_b}, side by side"
    head = (f"<h1>{html.escape(title)}</h1><p>{len(matches)} group(s) of {html.escape(', '.join(axes) or 'all')} "
            "in both sweeps; exact match per cell, mean over each group's trials, one colour scale.</p>")
    return page(title, head + figure_div(maps_figure(plan), "side-by-side"))


def compare_sweeps(sweep_a: str, sweep_b: str, storage: str | Path = "caseray_out/sweeps",
                   tracking_uri: str | None = None, source: str = "auto", out: str | Path | None = None,
                   per_seed: bool = False) -> Path:
    """Read both sweeps, then write ``side_by_side-<B id>.html`` into ``out`` (default: A's report
    folder, uploaded there for an object store); nothing is written when either is refused."""
    id_a, records_a = load_records(sweep_a, storage, tracking_uri, source)
    try:
        id_b, records_b = load_records(sweep_b, storage, tracking_uri, source)
    except SpecError as err:  # name the argument it came from
        raise SpecError("sweep_b", err.message, err.allowed) from None
    text = side_by_side_html(id_a, records_a, id_b, records_b, per_seed)
    default = local_folder(storage, id_a, "report")
    folder = Path(out) if out else default
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"side_by_side-{id_b}.html"
    write_text_atomic(path, text)
    if folder == default:
        publish(storage, folder, id_a, "report")
    return path
