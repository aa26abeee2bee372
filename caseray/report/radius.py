"""The generalization radius of a sweep's squares: hole depth against half-width h, r* (the smallest
h whose centre fails), a prediction of holes at positions r* was not measured on, and what in
training could stand in for a held-out cell (the mirror image b + a of a + b).

r* of a position (per seed) is the smallest measured h with a hole there; the pooled r* of a seed is
the smallest h with a hole at at least half of the positions. The prediction leaves one position
out: its r* comes from the other positions (a hole at h where at least half of them hole in most
seeds), and it predicts a hole at every h >= that r*; observed: a hole in most seeds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from caseray.core.stats import t_interval
from caseray.core.tables import format_table
from caseray.data.plots import pyplot, save_figure
from caseray.report.holes import SquareUnit, by, format_mean, per_seed
from caseray.report.holes import format_interval as _ci


def depth_rows(units: list[SquareUnit], label) -> list[list[str]]:
    """Per group and h: hole depth and ring slope (mean ± std over seeds, positions pooled per seed,
    [t 95% interval]), the share of (position, seed) units with a hole and the seeds counted."""
    rows = []
    for (group, h), us in by(units, "group", "h").items():
        seeds = per_seed(us, lambda u: u.hole_depth)
        rows.append([label(group), str(h), _ci(seeds), _ci(per_seed(us, lambda u: u.ring_slope)),
                     _ci(per_seed(us, lambda u: u.control_acc if u.control_acc is not None else math.nan)),
                     f"{sum(u.has_hole for u in us)}/{len(us)}", str(len(seeds))])
    return rows


def first_hole(units: list[SquareUnit], share: float = 0.5) -> float:
    """The smallest h at which at least ``share`` of the units (positions) have a hole; inf if none."""
    for h, us in by(units, "h").items():
        if np.mean([u.has_hole for u in us]) >= share:
            return float(h[0])
    return math.inf


def r_star_rows(units: list[SquareUnit], label) -> list[list[str]]:
    """Per group: pooled r* per seed (mean ± std, range) and per position (mean over seeds)."""
    rows = []
    for (group,), us in by(units, "group").items():
        seeds = [first_hole(s) for s in by(us, "seed").values()]
        finite = [r for r in seeds if math.isfinite(r)]
        hmax = max(u.h for u in us)
        pooled = (f"{format_mean(*t_interval(finite)[:2], len(finite))} (seeds {min(seeds):g}-{max(seeds):g})" if finite
                  else f"> {hmax}")
        if len(finite) < len(seeds):
            pooled += f"; {len(seeds) - len(finite)} of {len(seeds)} seeds: no hole up to h = {hmax}"
        per_pos = []
        for (centre,), ps in by(us, "centre").items():
            rs = [first_hole(s, 1.0) for s in by(ps, "seed").values()]
            fin = [r for r in rs if math.isfinite(r)]
            per_pos.append(f"{centre}: " + (f"{np.mean(fin):.1f}" if len(fin) == len(rs) else
                                             f"{np.mean(fin):.1f} ({len(rs) - len(fin)} none)" if fin else f">{hmax}"))
        rows.append([label(group), pooled, str(len(seeds)), "; ".join(per_pos)])
    return rows


@dataclass(frozen=True)
class Prediction:
    group: tuple
    centre: tuple[int, int]
    h: int
    r_star: float  # from the positions the rule reads (never this one)
    predicted: bool
    observed: bool
    rule: str = "pooled"


def observed_hole(units: list[SquareUnit]) -> bool:
    """A hole in most seeds."""
    return float(np.mean([u.has_hole for u in units])) > 0.5


def consensus_r_star(units: list[SquareUnit]) -> float:
    """The smallest h at which at least half of the positions hole in most of their seeds."""
    for h, us in by(units, "h").items():
        if np.mean([observed_hole(ps) for ps in by(us, "centre").values()]) >= 0.5:
            return float(h[0])
    return math.inf


def _on_diagonal(centre) -> bool:
    return centre[0] == centre[1]


# which measured positions a rule reads to predict a square at ``centre``: every one ("pooled"), or
# those on the same side of the diagonal question, a = b or not ("by diagonal": a hypothesis the
# quick radius sweep suggested, so it is scored on positions and sweeps it was not read from)
RULES = {"pooled": lambda centre, other: True,
         "by diagonal": lambda centre, other: _on_diagonal(centre) == _on_diagonal(other)}


def rule_r_star(units: list[SquareUnit], centre, rule: str) -> float:
    return consensus_r_star([u for u in units if u.centre != tuple(centre) and RULES[rule](tuple(centre), u.centre)])


def leave_one_position_out(units: list[SquareUnit], rules=("pooled",)) -> list[Prediction]:
    out = []
    for rule in rules:
        for (group,), us in by(units, "group").items():
            for (centre,), held in by(us, "centre").items():
                r = rule_r_star(us, centre, rule)
                for (h,), at in by(held, "h").items():
                    out.append(Prediction(group, centre, h, r, h >= r, observed_hole(at), rule))
    return out


def predict_sweep(fit: list[SquareUnit], test: list[SquareUnit], rules=tuple(RULES)) -> list[Prediction]:
    """Every square of another sweep (``test``) predicted from ``fit``'s positions, per group present
    in both: the out-of-sample check of r*."""
    fit_groups = by(fit, "group")
    out = []
    for rule in rules:
        for (group,), us in by(test, "group").items():
            if (group,) not in fit_groups:
                continue
            for (centre, h), at in by(us, "centre", "h").items():
                r = rule_r_star(fit_groups[(group,)], centre, rule)
                out.append(Prediction(group, centre, h, r, h >= r, observed_hole(at), rule))
    return out


def prediction_rows(preds: list[Prediction], label) -> list[list[str]]:
    """Per group and rule: accuracy of the predictions, and of always answering the majority class
    (the bar a prediction must clear)."""
    rows = []
    groups: dict[tuple, list[Prediction]] = {}
    for p in preds:
        groups.setdefault((p.group, p.rule), []).append(p)
    for (group, rule), ps in groups.items():
        right = sum(p.predicted == p.observed for p in ps)
        holes = sum(p.observed for p in ps)
        wrong = "; ".join(f"{p.centre} h={p.h}: said {'hole' if p.predicted else 'none'}" for p in ps
                          if p.predicted != p.observed)
        rows.append([label(group), rule, f"{right}/{len(ps)} = {right / len(ps):.2f}",
                     f"{max(holes, len(ps) - holes) / len(ps):.2f}", f"{holes}/{len(ps)}", wrong or "-"])
    return rows


PREDICTION_HEAD = ["group", "rule", "prediction right", "majority-class baseline", "observed holes", "missed"]


def mirror_rows(units: list[SquareUnit], label) -> list[list[str]]:
    """Hole depth by what training holds of a square's mirror image (b, a): off the diagonal with the
    mirror held out, off it with the mirror in training, and on it (its own mirror)."""
    rows = []
    kinds = (("diagonal (its own mirror)", lambda u: u.diagonal),
             ("off-diagonal, mirror held out", lambda u: not u.diagonal and u.mirror_held_out),
             ("off-diagonal, mirror in training", lambda u: not u.diagonal and not u.mirror_held_out))
    for (group, h), us in by(units, "group", "h").items():
        cells = [_ci(per_seed(sel, lambda u: u.hole_depth)) if (sel := [u for u in us if f(u)]) else "-"
                 for _, f in kinds]
        rows.append([label(group), str(h), *cells])
    return rows


MIRROR_HEAD = ["group", "h"] + [k for k in ("diagonal (its own mirror)", "off-diagonal, mirror held out",
                                             "off-diagonal, mirror in training")]


def radius_figure(units: list[SquareUnit], label, path: str | Path) -> Path | None:
    """Hole depth against h, one panel per group: a thin line per position (mean over seeds) and
    the positions pooled (mean ± std over seeds)."""
    groups = by(units, "group")
    if not groups or all(math.isnan(u.hole_depth) for u in units):
        return None
    plt = pyplot()
    fig, axes = plt.subplots(1, len(groups), figsize=(4.2 * len(groups), 3.6), squeeze=False, sharey=True)
    for ax, ((group,), us) in zip(axes[0], groups.items()):
        for (centre,), ps in by(us, "centre").items():
            hs = sorted({u.h for u in ps})
            ax.plot(hs, [np.nanmean([u.hole_depth for u in ps if u.h == h]) for h in hs], lw=0.8, alpha=0.6,
                    marker=".", label=f"{centre}")
        hs = sorted({u.h for u in us})
        stats = [t_interval(per_seed([u for u in us if u.h == h], lambda u: u.hole_depth)) for h in hs]
        ax.errorbar(hs, [s[0] for s in stats], yerr=[0 if s[4] < 2 else s[1] for s in stats], color="k", lw=2,
                    capsize=3, label="pooled (± std over seeds)")
        ax.axhline(0.5, color="grey", ls=":", lw=1)
        ax.axhline(0.0, color="grey", lw=0.5)
        ax.set(title=label(group), xlabel="half-width h", ylim=(-0.6, 1.1))
    axes[0][0].set_ylabel("hole depth (control - centre)")
    axes[0][-1].legend(fontsize=7, title="centre", title_fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.tight_layout()
    return save_figure(fig, path)


def radius_sections(units: list[SquareUnit], label, out_dir: Path) -> list[str]:
    """The report's radius sections (markdown), with the figure written into ``out_dir``."""
    units = [u for u in units if u.control_acc is not None]
    if not units or len({u.h for u in units}) < 2:
        return []
    sections = ["## Hole depth against the square's half-width",
                "Hole depth = the paired random-split control's test accuracy - the centre's (exact match); "
                "ring slope: accuracy against 1 - ring/h (negative: falls towards the centre). Mean ± std over "
                "seeds [t 95% interval]; positions pooled within each seed.",
                format_table(["group", "h", "hole depth", "ring slope", "control acc", "units with a hole",
                              "seeds"], depth_rows(units, label), "markdown"),
                "## r*: the smallest half-width whose centre fails",
                format_table(["group", "pooled r* (mean ± std over seeds)", "seeds", "r* per position"],
                             r_star_rows(units, label), "markdown"),
                "## Predicted vs observed holes at positions left out of r*",
                "Each position predicted from the others' r* (pooled: every other position; by diagonal: "
                "the other positions on the same side of a = b, a rule the quick radius sweep suggested -- "
                "check it on another sweep with `caseray predict-hole --against`).",
                format_table(PREDICTION_HEAD, prediction_rows(leave_one_position_out(units, tuple(RULES)), label),
                             "markdown"),
                "## What could stand in for a held-out cell: the mirror image",
                format_table(MIRROR_HEAD, mirror_rows(units, label), "markdown")]
    fig = radius_figure(units, label, Path(out_dir) / "radius.png")
    if fig is not None:
        sections += [f"![hole depth against h]({fig.name})"]
    return sections


@dataclass(frozen=True)
class HoleAnswer:
    group: tuple
    rule: str
    r_star: float  # from every position of the sweep
    predicted: bool
    track_record: tuple[int, int]  # leave-one-position-out predictions right, of how many
    observed: bool | None  # when the sweep measured this very square (a hole in most seeds)
    positions: int


def predict_hole(units: list[SquareUnit], centre: tuple[int, int], h: int) -> list[HoleAnswer]:
    """Will a square of half-width ``h`` at ``centre`` leave a hole? Per rule and group of the radius
    sweep: yes iff h >= r* (the consensus of the positions the rule reads), with the rule's
    leave-one-position-out record on that sweep, and what was observed if the sweep held out this
    very square."""
    answers = []
    units = [u for u in units if u.control_acc is not None]
    for rule in RULES:
        for (group,), us in by(units, "group").items():
            read = [u for u in us if RULES[rule](tuple(centre), u.centre)]
            r = consensus_r_star(read)
            preds = leave_one_position_out(us, (rule,))
            same = [u for u in us if u.centre == tuple(centre) and u.h == h]
            answers.append(HoleAnswer(group, rule, r, h >= r,
                                      (sum(p.predicted == p.observed for p in preds), len(preds)),
                                      observed_hole(same) if same else None, len({u.centre for u in read})))
    return answers
