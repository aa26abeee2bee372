"""The hole atlas presets (``caseray.presets.hole_atlas``): the lattice covered once, one diagonal
square per trial, no square held out with its mirror; the fold preset's regions as designed."""

import itertools

import numpy as np
import pytest

from caseray.core.specs import from_dict
from caseray.data.splits import make_split
from caseray.data.tasks import TaskSpec, build_task
from caseray.presets import preset
from caseray.presets.hole_atlas import latin_splits, lattice
from caseray.sweep.spec import SweepSpec


@pytest.mark.parametrize("low, high, n, h", [(0, 49, 5, 4), (0, 99, 7, 4), (0, 99, 7, 7), (10, 60, 5, 3)])
def test_the_latin_splits_cover_the_lattice_once_with_one_diagonal_square_each_and_no_mirrors(low, high, n, h):
    xs = lattice(low, high, n, h)
    assert xs[0] == low + h and xs[-1] == high - h and len(set(xs)) == n
    splits = latin_splits(low, high, n, h)
    held = [tuple(sq) for s in splits for sq in s["squares"]]
    assert sorted(held) == sorted((a, b, h) for a, b in itertools.product(xs, xs))  # every cell once
    for s in splits:
        squares = [tuple(sq[:2]) for sq in s["squares"]]
        assert sorted(a for a, _ in squares) == xs and sorted(b for _, b in squares) == xs  # a row, a column each
        assert sum(a == b for a, b in squares) == 1
        assert not any((b, a) in squares for a, b in squares if a != b)
    with pytest.raises(ValueError):
        latin_splits(0, 99, 6, 4)


def test_the_atlas_trials_hold_out_what_they_say_on_the_grid():
    """Held-out cells counted by brute force over the 50 x 50 grid: five 9 x 9 squares per trial."""
    sweep = from_dict(SweepSpec, preset("hole_atlas", "quick"))
    specs = sweep.trials()
    squares = [s for s in specs if s.split.kind == "squares"]
    assert len(squares) == 30 and len(specs) == 36  # 5 splits x 2 tokenizers x 3 seeds, one control each
    task = build_task(TaskSpec("addition", high=49))
    for spec in squares[:5]:
        split = make_split(task, spec.split)
        held = {(int(a), int(b)) for a, b, s in zip(split.a, split.b, split.split) if s == "test"}
        want = {(a, b) for a in range(50) for b in range(50)
                if any(abs(a - a0) <= h and abs(b - b0) <= h for a0, b0, h in spec.split.squares)}
        assert held == want and len(want) == 5 * 81


def test_the_fold_regions_hold_the_cells_the_explanation_names():
    sweep = from_dict(SweepSpec, preset("hole_atlas", "fold"))
    task = build_task(TaskSpec("addition", high=49))
    kinds = {}
    for spec in sweep.trials():
        if spec.split.kind == "random":
            continue
        split = make_split(task, spec.split)
        kinds[str(spec.split.hold or spec.split.squares)] = {
            (int(a), int(b)) for a, b, s in zip(split.a, split.b, split.split) if s == "test"}
    square_minus_band, band, corners = kinds.values()
    assert square_minus_band == {(a, b) for a in range(20, 29) for b in range(20, 29) if abs(a - b) > 1}
    assert band == {(a, b) for a in range(12, 38) for b in range(50) if abs(a - b) <= 1}
    assert corners == {(a, b) for a in range(50) for b in range(50)
                       if (abs(a - 4) <= 4 and abs(b - 45) <= 4) or (abs(a - 45) <= 4 and abs(b - 4) <= 4)}
    assert np.all([(b, a) in corners for a, b in corners])  # each corner the other's mirror


def unit(centre, seed, depth, group=("number",), h=4):
    from caseray.report.holes import SquareUnit

    control = 0.9
    return SquareUnit("t", group, centre, h, seed, centre[0] == centre[1], 1.0, control - depth, 0, 0, 0, 0, 0, 0,
                      control)


def test_the_atlas_section_reads_depth_by_distance_and_a_planted_rank_correlation(tmp_path):
    """Planted: depth = 0.8 on the diagonal, falling by 0.1 per 10 cells off it, plus a seed offset --
    Spearman's rho is -1 in every seed; each distance's depth is what was planted."""
    from caseray.report.atlas import atlas_sections, atlas_units, spearman_per_seed

    xs = [4, 14, 24, 35, 45]
    units = [unit((a, b), seed, 0.8 - 0.1 * abs(a - b) / 10 + 0.01 * seed) for a in xs for b in xs
             for seed in range(3)]
    units += [unit((4, 4), 0, 0.5, group=("digit",))]  # one centre only: no atlas for it
    groups = atlas_units(units)
    assert list(groups) == [(("number",), 4)]
    assert spearman_per_seed(groups[(("number",), 4)]) == pytest.approx([-1.0, -1.0, -1.0])
    text = "\n".join(atlas_sections(units, lambda g: g[0], tmp_path))
    assert "| number | 4 | 0 | 5 | 0.81 ± 0.01 [0.79, 0.83] | 15/15 | 3 | -1.00 ± 0.00 |" in text
    # (4, 45) and (45, 4): 0.8 - 0.1 * 4.1 = 0.39, plus the seeds' mean offset 0.01; below 0.5: no hole
    assert "| number | 4 | 41 | 2 | 0.40 ± 0.01 [0.38, 0.42] | 0/6 | 3 | -1.00 ± 0.00 |" in text
    assert (tmp_path / "atlas.png").stat().st_size > 10_000 and "digit" not in text
