"""The radius report on synthetic sweeps whose true radius per position is planted, so every
expected value below is worked out by hand from the plant, not by the code under test."""


import numpy as np

from caseray.data.splits import SplitSpec
from caseray.report.holes import square_units
from caseray.report.radius import (
    consensus_r_star,
    depth_rows,
    leave_one_position_out,
    predict_hole,
    predict_sweep,
    r_star_rows,
    radius_sections,
)
from caseray.trial.control import control_spec
from synthetic import record

CENTRES = [(8, 8), (20, 20), (32, 8), (8, 32)]
TRUE_R = {(8, 8): 2, (20, 20): 2, (32, 8): 3, (8, 32): 4}  # a hole from this half-width on
HS = [1, 2, 3, 4]


def _sweep(seeds=(0, 1, 2)):
    records = []
    for h in HS:
        split = SplitSpec(kind="squares", squares=tuple((a, b, h) for a, b in CENTRES))
        for seed in seeds:
            def acc(a, b, s, h=h):
                out = np.ones(len(a))
                for a0, b0 in CENTRES:
                    if h >= TRUE_R[(a0, b0)]:  # the centre and the rings up to h - r fail
                        out[np.maximum(abs(a - a0), abs(b - b0)) <= h - TRUE_R[(a0, b0)]] = 0.0
                return out
            sq = record(split=split, seed=seed, accuracy=acc, high=39)
            records.append(sq)
            ctrl = control_spec(sq.spec)
            records.append(record(split=ctrl.split, seed=seed, accuracy=lambda a, b, s: np.ones(len(a)), high=39))
    return records


def test_units_pair_each_square_with_its_control_and_find_mirrors():
    units = square_units(_sweep(seeds=(0,)))
    assert len(units) == len(HS) * len(CENTRES)
    assert all(u.control_acc == 1.0 for u in units)
    at = {(u.centre, u.h): u for u in units}
    assert at[((8, 8), 2)].hole_depth == 1.0 and at[((8, 8), 1)].hole_depth == 0.0
    assert at[((8, 32), 3)].hole_depth == 0.0 and at[((8, 32), 4)].has_hole
    assert all(u.mirror_held_out for u in units)  # (32, 8) and (8, 32) hold out each other's mirror
    assert at[((20, 20), 4)].ring_slope < 0 and at[((20, 20), 1)].ring_slope == 0.0


def test_depth_r_star_and_the_left_out_prediction_by_hand():
    units = square_units(_sweep())
    rows = {r[1]: r for r in depth_rows(units, str)}
    # h = 2: positions (8,8) and (20,20) hole (depth 1), the others not: 0.5 in every seed
    assert rows["2"][2].startswith("0.50 ± 0.00") and rows["2"][5] == "6/12"
    assert rows["4"][2].startswith("1.00") and rows["1"][2].startswith("0.00")
    assert consensus_r_star(units) == 2  # half the positions hole from h = 2
    (row,) = r_star_rows(units, str)
    assert row[1].startswith("2.00 ± 0.00") and "(8, 32): 4.0" in row[3] and "(32, 8): 3.0" in row[3]
    preds = leave_one_position_out(units)
    # left out (8,8) or (20,20): r* of the rest is 3 -> h=2 missed; left out (32,8): r* 2 -> h=2 wrong;
    # left out (8,32): r* 2 -> h=2 and h=3 wrong. 16 predictions, 5 wrong.
    assert sum(p.predicted == p.observed for p in preds) == 11 and len(preds) == 16
    assert {p.centre: p.r_star for p in preds} == {(8, 8): 3, (20, 20): 3, (32, 8): 2, (8, 32): 2}


def test_sections_and_figure(tmp_path):
    text = "\n\n".join(radius_sections(square_units(_sweep()), str, tmp_path))
    assert "r*" in text and "11/16 = 0.69" in text and "majority-class" in text
    assert (tmp_path / "radius.png").stat().st_size > 10_000


def test_the_by_diagonal_rule_and_scoring_another_sweep_by_hand():
    """By diagonal: (8,8) and (20,20) predict each other (r* 2: all right); (32,8) is predicted from
    (8,32) alone (r* 4: h=3 missed), (8,32) from (32,8) (r* 3: h=3 a false hole): 14 of 16."""
    units = square_units(_sweep())
    by_diag = leave_one_position_out(units, ("by diagonal",))
    assert sum(p.predicted == p.observed for p in by_diag) == 14
    assert {p.centre: p.r_star for p in by_diag} == {(8, 8): 2, (20, 20): 2, (32, 8): 4, (8, 32): 3}
    # another sweep holding the same squares: each square is still predicted from the other positions
    scored = predict_sweep(units, units)
    assert sum(p.predicted == p.observed for p in scored if p.rule == "pooled") == 11
    assert sum(p.predicted == p.observed for p in scored if p.rule == "by diagonal") == 14


def test_predict_hole_answers_with_r_star_and_its_record():
    units = square_units(_sweep())
    big = {a.rule: a for a in predict_hole(units, (26, 14), 3)}
    assert big["pooled"].predicted and big["pooled"].r_star == 2 and big["pooled"].track_record == (11, 16)
    assert big["pooled"].observed is None and big["by diagonal"].track_record == (14, 16)
    assert big["by diagonal"].r_star == 3 and big["by diagonal"].positions == 2  # (32, 8) and (8, 32): r 3 and 4
    small = predict_hole(units, (26, 14), 1)
    assert not any(a.predicted for a in small)
    measured = {a.rule: a for a in predict_hole(units, (8, 32), 3)}  # pooled: a hole; this sweep saw none
    assert measured["pooled"].predicted and measured["pooled"].observed is False


def test_predict_hole_cli_rejects_bad_input(tmp_path, capsys):
    from caseray.cli.main import main

    assert main(["predict-hole", "radius", "--storage", str(tmp_path), "--center", "1", "2",
                 "--half-width", "-1"]) == 2
    assert "--half-width" in capsys.readouterr().err
    assert main(["predict-hole", "radius", "--storage", str(tmp_path), "--tracking-uri",
                 f"sqlite:///{tmp_path}/none.db", "--center", "1", "2", "--half-width", "3"]) == 2
    assert not (tmp_path / "none.db").exists()


def test_the_report_leaves_out_square_trials_that_did_not_fit(tmp_path):
    """Seed 2's h = 2 square trial learned half its training cells, and seed 1's h = 3 control did: the
    report names both square trials and their squares leave the hole statistics (h = 2: 6 holes in 12
    squares -> 4 in 8)."""
    from dataclasses import replace

    from caseray.report.build import build_report

    records = _sweep()
    unfit = next(r for r in records if r.spec.split.kind == "squares" and r.spec.seed == 2
                 and r.spec.split.squares[0][2] == 2)
    bad_control = next(r for r in records if r.spec.split.kind == "random" and r.spec.seed == 1
                       and r.spec.split.test_size == 4 * 7 * 7)  # the control of seed 1's h = 3 trial
    records = [replace(r, metrics={**r.metrics, "train_acc": 0.5}) if r in (unfit, bad_control) else r
               for r in records]
    text = build_report("unfit-0001", records, tmp_path).read_text()
    # h = 3: (8, 8), (20, 20), (32, 8) hole in every seed (9 of 12); seed 1's trial leaves with its control
    assert "| 0.50; control 1.00 |" in text and "| 1.00; control 0.50 |" in text
    assert [line.split("|")[6].strip() for line in text.splitlines() if line.startswith("| all | 3 |")][0] == "6/8"
    assert "left out of the hole statistics: train accuracy below 0.9" in text
    assert f"| {unfit.name} | 0.50; control 1.00 |" in text
    rows = [line.split("|") for line in text.splitlines() if line.startswith("| all | 2 |")
            or line.startswith("| - | 2 |")]
    assert rows and rows[0][6].strip() == "4/8", rows
    kept = build_report("unfit-0001", records, tmp_path / "kept", min_train=0.5).read_text()  # (0.5 is not below)
    assert "left out of the hole statistics" not in kept
    assert [line.split("|")[6].strip() for line in kept.splitlines() if line.startswith("| all | 2 |")][0] == "6/12"


def test_the_report_cli_takes_a_fit_threshold_and_refuses_nonsense(tmp_path, capsys):
    from caseray.cli.main import main

    for bad in ("1.5", "-0.1", "nan"):
        assert main(["report", "anything", "--storage", str(tmp_path), "--min-train", bad, "--out",
                     str(tmp_path / "out")]) == 2
        assert "--min-train" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_the_by_square_table_by_hand():
    """(8, 8) holes from h = 2 with only its centre wrong at h = 2 (25 cells: 24 right; inner half ring <= 1:
    8 of 9); (8, 32) from h = 4; control 1.0 everywhere: depth 1 where the centre fails."""
    from caseray.report.holes import square_sections

    text = "\n".join(square_sections(square_units(_sweep()), str))
    rows = {tuple(c.strip() for c in line.split("|")[2:4]): [c.strip() for c in line.split("|")[4:-1]]
            for line in text.splitlines() if line.startswith("| ()")}
    assert rows[("(8, 8)", "2")] == ["3", "3 of 3", "0.96 / 0.96 / 0.96", "0.89 / 0.89 / 0.89", "1.00 ± 0.00"]
    assert rows[("(8, 32)", "3")] == ["3", "0 of 3", "1.00 / 1.00 / 1.00", "1.00 / 1.00 / 1.00", "0.00 ± 0.00"]
    assert len(rows) == len(CENTRES) * len(HS)
