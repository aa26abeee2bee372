"""The hole atlas (``sweeps/hole_atlas.py``): hole depth of one square size by the square's centre
over the whole grid, and against its distance to the diagonal |a0 - b0|. Drawn for every group and
half-width h measured at ``MIN_CENTRES`` or more centres.

Per seed, the Spearman rank correlation between |a0 - b0| and hole depth over the centres (scipy);
the table gives its mean ± std over seeds, and hole depth per distance (centres pooled per seed).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from caseray.core.stats import t_interval
from caseray.core.tables import format_table
from caseray.data.plots import pyplot, save_figure
from caseray.report.holes import SquareUnit, by, format_interval, format_mean, per_seed

MIN_CENTRES = 9


def atlas_units(units: list[SquareUnit]) -> dict[tuple, list[SquareUnit]]:
    """{(group, h): units} for every group and h measured at enough centres, with their controls."""
    found = by([u for u in units if u.control_acc is not None], "group", "h")
    return {key: us for key, us in found.items() if len({u.centre for u in us}) >= MIN_CENTRES}


def off_diagonal(unit: SquareUnit) -> int:
    return abs(unit.centre[0] - unit.centre[1])


def spearman_per_seed(units: list[SquareUnit]) -> list[float]:
    """Per seed, Spearman's rho between |a0 - b0| and hole depth over its centres (NaN: no spread)."""
    from scipy.stats import spearmanr

    out = []
    for us in by(units, "seed").values():
        x, y = [off_diagonal(u) for u in us], [u.hole_depth for u in us]
        out.append(float(spearmanr(x, y).statistic) if len(set(x)) > 1 and len(set(y)) > 1 else math.nan)
    return out


def atlas_rows(groups: dict[tuple, list[SquareUnit]], label) -> list[list[str]]:
    """Per group, h and distance to the diagonal: hole depth (mean ± std over seeds [t 95%]), the
    squares with a hole, the seeds; and per group and h, Spearman's rho."""
    rows = []
    for (group, h), us in groups.items():
        rho = [r for r in spearman_per_seed(us) if not math.isnan(r)]
        rho_text = format_mean(*t_interval(rho)[:2], len(rho)) if rho else "n/a"
        for d in sorted({off_diagonal(u) for u in us}):
            at = [u for u in us if off_diagonal(u) == d]
            rows.append([label(group), str(h), str(d), str(len({u.centre for u in at})),
                         format_interval(per_seed(at, lambda u: u.hole_depth)),
                         f"{sum(u.has_hole for u in at)}/{len(at)}", str(len(by(at, "seed"))), rho_text])
    return rows


def atlas_figure(groups: dict[tuple, list[SquareUnit]], label, path: str | Path) -> Path | None:
    """Top: each centre's square coloured by its hole depth (mean over seeds); bottom: depth against
    |a0 - b0|, one dot per square and seed, the mean over seeds as a line."""
    if not groups:
        return None
    plt = pyplot()
    fig, axes = plt.subplots(2, len(groups), figsize=(4.2 * len(groups), 7.6), squeeze=False)
    for col, ((group, h), us) in enumerate(groups.items()):
        top, bottom = axes[0][col], axes[1][col]
        for (centre,), cs in by(us, "centre").items():
            depth = float(np.nanmean([u.hole_depth for u in cs]))
            colour = plt.get_cmap("RdYlBu_r")((np.clip(depth, -0.5, 1.0) + 0.5) / 1.5)
            top.add_patch(plt.Rectangle((centre[1] - h - 0.5, centre[0] - h - 0.5), 2 * h + 1, 2 * h + 1,
                                        color=colour, ec="k", lw=0.4))
            top.text(centre[1], centre[0], f"{depth:.2f}", ha="center", va="center", fontsize=7)
        high = max(max(u.centre) for u in us) + h + 1
        top.plot([-0.5, high], [-0.5, high], color="grey", lw=0.8, ls=":")
        top.set(xlim=(-0.5, high), ylim=(-0.5, high), xlabel="b", ylabel="a", aspect="equal",
                title=f"{label(group)}, h = {h}: hole depth")
        ds = [off_diagonal(u) for u in us]
        bottom.scatter(ds, [u.hole_depth for u in us], s=12, alpha=0.5, c=[u.seed for u in us], cmap="viridis")
        xs = sorted(set(ds))
        bottom.plot(xs, [np.nanmean([u.hole_depth for u in us if off_diagonal(u) == d]) for d in xs], color="k")
        bottom.axhline(0.5, color="grey", ls=":", lw=1)
        bottom.axhline(0.0, color="grey", lw=0.5)
        bottom.set(xlabel="distance to the diagonal |a0 - b0|", ylabel="hole depth (control - centre)",
                   ylim=(-0.6, 1.1))
    fig.tight_layout()
    return save_figure(fig, path)


def atlas_sections(units: list[SquareUnit], label, out_dir: Path) -> list[str]:
    """The report's atlas sections (markdown), with the figure written into ``out_dir``."""
    groups = atlas_units(units)
    if not groups:
        return []
    sections = ["## The hole atlas: hole depth by position",
                "Hole depth = the paired random-split control's test accuracy - the centre's; per distance to "
                "the diagonal, centres pooled within each seed, mean ± std over seeds [t 95% interval]; "
                "rho: Spearman's rank correlation of |a0 - b0| with hole depth over the centres, per seed, "
                "mean ± std over seeds.",
                format_table(["group", "h", "|a0 - b0|", "centres", "hole depth", "squares with a hole", "seeds",
                              "rho"], atlas_rows(groups, label), "markdown")]
    fig = atlas_figure(groups, label, Path(out_dir) / "atlas.png")
    if fig is not None:
        sections += [f"![the hole atlas]({fig.name})"]
    return sections
