"""The per-cell hole predictor (``caseray.report.cell_predictor``): its features against plain loops
over a small grid, and its fit and scores on planted failures."""

import numpy as np
import pytest

from caseray.core.errors import SpecError
from caseray.data.splits import SplitSpec, make_split
from caseray.data.tasks import TaskSpec, build_task
from caseray.report.cell_predictor import (
    FEATURES,
    CellData,
    call_accuracy,
    cell_features,
    fit,
    leave_positions_out,
)


def brute_features(cells, train, a, b, ring, h, side):
    """Every feature of test cell (a, b) by loops over the grid."""
    dist = min(max(abs(a - x), abs(b - y)) for x, y in train)
    same_sum = [abs(x - y) for x, y in train if x + y == a + b]
    d = abs(a - b)
    below = max(0, min(same_sum) - d) if same_sum else side - d
    above = max(0, d - max(same_sum)) if same_sum else d
    count = sum(x == a for x, _ in train) + sum(y == b for _, y in train)
    same_class = sum(len(str(x)) == len(str(a)) and len(str(y)) == len(str(b)) for x, y in train)
    gap = min(abs(abs(x - y) - d) for x, y in train if x + y == a + b) if same_sum else side
    return [dist, 1 - ring / max(h, 1), d / side, below / side, above / side, gap / side, float((b, a) in train),
            count / (2 * side), len(same_sum) / side, same_class / len(train)]


@pytest.mark.parametrize("squares", [[(5, 5, 2)], [(3, 8, 2), (8, 3, 2)], [(6, 6, 4)], [(2, 9, 1), (6, 6, 1)]])
def test_features_match_loops_over_the_grid(squares):
    task = build_task(TaskSpec("addition", high=11))
    split = make_split(task, SplitSpec(kind="squares", squares=tuple(squares), max_test_fraction=0.6))
    h = np.array([squares[k][2] if k >= 0 else 0 for k in split.square])
    got = cell_features(split.a, split.b, split.split, split.ring, h, split.dist_train)
    train = {(int(x), int(y)) for x, y, s in zip(split.a, split.b, split.split) if s == "train"}
    test = [(int(x), int(y), int(r), int(hh)) for x, y, s, r, hh in zip(split.a, split.b, split.split, split.ring, h)
            if s == "test"]
    want = np.array([brute_features(None, train, x, y, r, hh, 12) for x, y, r, hh in test])
    assert got.shape == (len(test), len(FEATURES))
    np.testing.assert_allclose(got, want)


def planted(seed: int, rule) -> CellData:
    """Cells of twelve squares on a 0-29 grid, failing as ``rule(features)`` says (plus 5% noise)."""
    rng = np.random.default_rng(seed)
    task = build_task(TaskSpec("addition", high=29))
    xs, failed, position, centre = [], [], [], []
    for a0, b0 in [(5, 5), (15, 15), (24, 24), (5, 15), (15, 5), (24, 5), (5, 24), (15, 24), (24, 15), (10, 20),
                   (20, 10), (12, 12)]:
        split = make_split(task, SplitSpec(center=(a0, b0), half_width=3))
        h = np.where(split.square >= 0, 3, 0)
        x = cell_features(split.a, split.b, split.split, split.ring, h, split.dist_train)
        xs.append(x)
        failed.append((rule(x) ^ (rng.random(len(x)) < 0.05)).astype(int))
        position += [((a0, b0), 3)] * len(x)
        centre.append(split.ring[split.split == "test"] == 0)
    return CellData(np.concatenate(xs), np.concatenate(failed), position, ["t"] * len(position),
                    np.concatenate(centre))


def test_a_planted_fold_rule_is_found_out_of_sample_and_a_coin_is_not():
    """Failures planted on the fold feature (a cell below every trained d of its sum): AUC near 1 on
    positions left out, and the positions called right; failures by coin: AUC near 0.5."""
    below = FEATURES.index("below_trained_d")
    score, calls = leave_positions_out(planted(0, lambda x: x[:, below] > 0))
    assert score > 0.9
    right, majority = call_accuracy(calls)
    assert right >= 0.9 and len(calls) == 12
    coin = np.random.default_rng(1)
    score, _ = leave_positions_out(planted(2, lambda x: coin.random(len(x)) < 0.5))
    assert 0.35 < score < 0.65
    none = planted(3, lambda x: np.zeros(len(x), dtype=bool))
    none.failed[:] = 0
    with pytest.raises(ValueError, match="nothing to fit"):
        fit(none)


def test_boosted_trees_find_a_planted_rule_that_needs_two_features_and_logistic_cannot():
    """Failures planted where the fold feature and depth combine (below every trained d of its sum AND in
    the square's inner half; 5% of labels flipped): on positions left out, boosted trees rank the cells at
    least as well as the planted rule itself scores against the flipped labels, logistic regression (one
    weight per feature, no "and") below it; a coin-flip planting stays near 0.5."""
    from caseray.report.cell_predictor import score_auc

    below, depth = FEATURES.index("below_trained_d"), FEATURES.index("depth")
    rule = lambda x: (x[:, below] > 0) & (x[:, depth] >= 0.5)  # noqa: E731
    both = planted(4, rule)
    oracle = score_auc(rule(both.x).astype(float), both.failed)
    boosted, calls = leave_positions_out(both, model="boosted")
    logistic, _ = leave_positions_out(both)
    assert boosted >= oracle > logistic and len(calls) == 12
    coin = np.random.default_rng(5)
    score, _ = leave_positions_out(planted(6, lambda x: coin.random(len(x)) < 0.5), model="boosted")
    assert 0.35 < score < 0.65
    with pytest.raises(ValueError, match="unknown model"):
        fit(both, "forest")


def fold_sweep(centres, seeds=(0, 1), tokenizers=("number",), high=39):
    """Synthetic square trials (0-39) whose held-out cells fail exactly when no training cell of their
    sum is as near the diagonal (the fold rule, worked out here by loops), with their controls."""
    from caseray.trial.control import control_spec
    from synthetic import record

    def acc(a, b, s):
        train = {(int(x), int(y)) for x, y, t in zip(a, b, s) if t == "train"}
        near = {}
        for x, y in train:
            near[x + y] = min(near.get(x + y, 99), abs(x - y))
        return np.array([0.0 if t == "test" and abs(int(x) - int(y)) < near.get(int(x) + int(y), 99) else 1.0
                         for x, y, t in zip(a, b, s)])

    records = []
    for seed in seeds:
        for tok in tokenizers:
            split = SplitSpec(kind="squares", squares=tuple((a, b, 3) for a, b in centres))
            sq = record(split=split, seed=seed, accuracy=acc, high=high, tokenizer=tok)
            records += [sq, record(split=control_spec(sq.spec).split, seed=seed, tokenizer=tok, high=high,
                                   accuracy=lambda a, b, s: np.ones(len(a)))]
    return records


def test_the_cli_fits_on_one_sweep_and_scores_another(monkeypatch, capsys):
    from caseray.cli import predict_cells
    from caseray.cli.main import main

    sweeps = {"fit": fold_sweep([(8, 8), (30, 10), (20, 20), (10, 30)]),
              "new": fold_sweep([(31, 31), (8, 24), (24, 8), (15, 15)])}
    def read(name, *a):
        if name not in sweeps:
            raise SpecError("sweep", f"sweep {name!r} is not in the results folder")
        return name, sweeps[name]

    monkeypatch.setattr(predict_cells, "read_records", read)
    assert main(["predict-hole", "fit", "--cells", "--against", "new"]) == 0
    out = capsys.readouterr().out
    row = [line for line in out.splitlines() if line.startswith("| all")][0].split("|")
    # diagonal squares fail at their centres (d = 0 below every trained d of those sums), others do not
    assert float(row[4]) > 0.95 and row[5].strip() == "1.00" and row[6].strip() == "0.50"
    assert main(["predict-hole", "fit", "--cells", "--center", "25", "25", "--half-width", "3"]) == 0
    assert "square at (25, 25), h = 3: centre fails with p = " in capsys.readouterr().out
    assert main(["predict-hole", "fit", "--cells", "--center", "25", "25"]) == 2
    assert main(["predict-hole", "fit", "--cells", "--model", "boosted", "--against", "new"]) == 0
    row = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| all")][0].split("|")
    assert float(row[4]) > 0.95 and row[5].strip() == "1.00" and row[7].strip() == "(boosted trees)"
    assert main(["predict-hole", "fit", "--model", "boosted", "--center", "25", "25", "--half-width", "3"]) == 2
    assert "--model" in capsys.readouterr().err


def test_several_fitting_sweeps_pool_their_cells_grouped_by_what_each_varies(monkeypatch, capsys):
    """``--fit-also``: the cells of every fitting sweep in one fit (a trial in two sweeps counted once);
    grouped by the axes the fitting trials vary but the grid's range ("wide": 0-59) and training budget:
    the number-token group pools both sweeps, the digit group is "tok"'s alone. Cells: squares x seeds x 49."""
    from caseray.cli import predict_cells
    from caseray.cli.main import main

    fit = fold_sweep([(8, 8), (30, 10), (20, 20), (10, 30)])
    tok = fold_sweep([(12, 12), (28, 28), (9, 26), (30, 8)], tokenizers=("number", "digit"))
    sweeps = {"fit": fit, "copy": list(fit), "tok": tok,
              "new": fold_sweep([(31, 31), (8, 24)]),
              "wide": fold_sweep([(45, 45), (10, 50)], high=59)}
    def read(name, *a):
        if name not in sweeps:
            raise SpecError("sweep", f"sweep {name!r} is not in the results folder")
        return name, sweeps[name]

    monkeypatch.setattr(predict_cells, "read_records", read)

    def cells(*argv):
        assert main(["predict-hole", *argv]) == 0
        out = capsys.readouterr().out
        head = out.splitlines()[0]
        table = out.split("the fold-reach rule")[0]
        return head, {line.split("|")[1].strip(): int(line.split("|")[2]) for line in table.splitlines()
                      if line.startswith("| ") and not line.startswith("| group")}

    head, got = cells("fit", "--cells", "--fit-also", "copy")
    assert "fit + copy" in head and got == {"all": 4 * 2 * 49}
    head, got = cells("fit", "--cells", "--fit-also", "wide")
    assert "fit + wide" in head and got == {"all": (4 + 2) * 2 * 49}
    head, got = cells("fit", "--cells", "--fit-also", "tok")
    assert "fit + tok" in head
    assert {k.split("=")[-1]: v for k, v in got.items()} == {"number": (4 + 4) * 2 * 49, "digit": 4 * 2 * 49}
    _, got = cells("fit", "--cells", "--fit-also", "tok", "--against", "new")  # new's squares, number's model
    assert {k.split("=")[-1]: v for k, v in got.items()} == {"number": 2 * 2 * 49}
    assert main(["predict-hole", "fit", "--cells", "--fit-also", "fit"]) == 2
    assert main(["predict-hole", "fit", "--cells", "--fit-also", "gone"]) == 2  # named by the flag it came from
    assert "--fit-also: sweep 'gone' is not in" in capsys.readouterr().err
    sweeps["solved"] = fold_sweep([(9, 26), (26, 9)])  # no held-out cell fails: nothing to fit, exit 2
    assert main(["predict-hole", "solved", "--cells"]) == 2 and "nothing to fit" in capsys.readouterr().err
    assert main(["predict-hole", "fit", "--fit-also", "tok", "--center", "5", "5", "--half-width", "2"]) == 2
    assert "--fit-also" in capsys.readouterr().err


def test_square_trials_that_did_not_fit_are_left_out_and_named(monkeypatch, capsys):
    """One of the scored sweep's two square trials learned only half its training cells: its 4 squares
    leave the record (8 -> 4), its name is printed; --min-train 0 keeps it; a bad threshold is exit 2."""
    from dataclasses import replace

    from caseray.cli import predict_cells
    from caseray.cli.main import main

    new = fold_sweep([(31, 31), (8, 24), (24, 8), (15, 15)])
    unfit = next(r for r in new if r.spec.split.kind == "squares" and r.spec.seed == 1)
    new = [replace(r, metrics={**r.metrics, "train_acc": 0.5}) if r is unfit else r for r in new]
    sweeps = {"fit": fold_sweep([(8, 8), (30, 10), (20, 20), (10, 30)]), "new": new}
    def read(name, *a):
        if name not in sweeps:
            raise SpecError("sweep", f"sweep {name!r} is not in the results folder")
        return name, sweeps[name]

    monkeypatch.setattr(predict_cells, "read_records", read)

    def squares_scored(*extra):
        assert main(["predict-hole", "fit", "--cells", "--against", "new", *extra]) == 0
        out = capsys.readouterr().out
        return out, int([line for line in out.splitlines() if line.startswith("| all")][0].split("|")[3])

    out, n = squares_scored()
    assert n == 4
    assert f"new: 1 square trial(s) left out, train accuracy below 0.9: {unfit.name} (0.50; control 1.00)" in out
    out, n = squares_scored("--min-train", "0")
    assert n == 8 and "left out" not in out
    for bad in ("1.5", "-0.1", "nan"):
        assert main(["predict-hole", "fit", "--cells", "--min-train", bad]) == 2
        assert "--min-train" in capsys.readouterr().err


def test_predictions_for_a_sweep_not_yet_run_name_every_planned_square(monkeypatch, capsys, tmp_path):
    from caseray.cli import predict_cells
    from caseray.cli.main import main

    sweeps = {"fit": fold_sweep([(8, 8), (30, 10), (20, 20), (10, 30)])}
    def read(name, *a):
        if name not in sweeps:
            raise SpecError("sweep", f"sweep {name!r} is not in the results folder")
        return name, sweeps[name]

    monkeypatch.setattr(predict_cells, "read_records", read)
    plan = tmp_path / "plan.yaml"
    plan.write_text("name: plan\nbase: {task: {high: 59}}\naxes: {seed: [0, 1], split: "
                    "[{kind: squares, squares: [[29, 29, 3], [10, 45, 3]]}]}\n")
    assert main(["predict-hole", "fit", "--cells", "--for", str(plan)]) == 0
    rows = [line.split("|")[1:-1] for line in capsys.readouterr().out.splitlines() if "| 0-59 |" in line]
    assert [[c.strip() for c in r[2:4]] for r in rows] == [["(29, 29)", "3"], ["(10, 45)", "3"]]  # once per square
    assert rows[0][5].strip() == "HOLE" and rows[1][5].strip() == "no hole"  # the fold rule, as planted
    for row, (a0, b0) in zip(rows, [(29, 29), (10, 45)]):  # the fold-reach rule's steps, by loops over the grid
        held = {(a, b) for q0, r0 in [(29, 29), (10, 45)] for a in range(q0 - 3, q0 + 4) for b in range(r0 - 3, r0 + 4)}
        trained = [abs(a - b) for a in range(60) for b in range(60) if a + b == a0 + b0 and (a, b) not in held]
        d = abs(a0 - b0)
        steps = max(0, min(trained) - d, d - max(trained))
        assert [c.strip() for c in row[6:8]] == [str(steps), "HOLE" if steps > 2 else "no hole"]
    assert [r[6].strip() for r in rows] == ["8", "0"]  # the oracle's own answer, as worked out by hand
    none = tmp_path / "none.yaml"
    none.write_text("name: none\nbase: {split: {kind: random}}\naxes: {seed: [0]}\n")
    assert main(["predict-hole", "fit", "--cells", "--for", str(none)]) == 2
    assert main(["predict-hole", "fit", "--for", str(plan)]) == 2
    assert "--for" in capsys.readouterr().err


def test_the_fold_reach_rule_calls_planted_fold_holes_with_nothing_fitted():
    """Planted: a cell fails when its d lies below every trained d of its sum; the rule (reach 2) calls
    the diagonal squares' centres (8 steps below) holes and the off-diagonal ones (mirrors trained) not.
    As a per-cell score its distance ranks perfectly: a planted failure lies >= 1 cell below its sum's
    trained d, every other held-out cell 0 (none lies above every trained d of its sum on 0-39)."""
    from caseray.report.cell_predictor import fold_reach, score_auc

    ((calls, scores, failed),) = fold_reach(fold_sweep([(8, 8), (30, 10), (20, 20), (10, 30)]),
                                            lambda r: ("all",)).values()
    assert call_accuracy(calls) == (1.0, 0.5)
    assert {pos for pos, predicted, _ in calls if predicted} == {((8, 8), 3), ((20, 20), 3)}
    assert len(scores) == len(failed) == 2 * 4 * 49 and scores[failed].min() >= 1 and scores[~failed].max() == 0
    assert score_auc(scores, failed) == 1.0


def test_the_seed_bracket_by_hand():
    """Seed 0 fails the N held-out cells with (a + b) % 4 == 0, seed 1 those with (a + b) % 4 == 2:
    disjoint, K failures in all (over both seeds, 2N cells scored). Scored by the other seed's outcome,
    every failure gets 0, as do 2N - 2K passes (K passes get 1): AUC = half the ties = (N - K) / (2N - K).
    Scored by both seeds' share, failures get 0.5, K passes 0.5 and 2N - 2K passes 0: AUC (2N - 1.5K) /
    (2N - K). Seeds failing the same cells: 1.0 both ways. A trial alone in its split is skipped."""
    from caseray.report.cell_predictor import seed_bracket
    from synthetic import record

    split = SplitSpec(kind="squares", squares=((8, 8, 3), (30, 10, 3)))
    held = [(a, b) for a0, b0 in ((8, 8), (30, 10)) for a in range(a0 - 3, a0 + 4) for b in range(b0 - 3, b0 + 4)]
    n, k = len(held), sum((a + b) % 4 in (0, 2) for a, b in held)

    def failing(residue):
        return lambda a, b, s: np.where((s == "test") & ((a + b) % 4 == residue), 0.0, 1.0)

    disjoint = [record(split=split, seed=seed, accuracy=failing(2 * seed), high=39) for seed in (0, 1)]
    same = [record(split=split, seed=seed, accuracy=failing(0), high=39, tokenizer="digit") for seed in (0, 1)]
    alone = [record(split=SplitSpec(kind="squares", squares=((20, 20, 3),)), seed=0, accuracy=failing(0), high=39)]
    got = seed_bracket(disjoint + same + alone, lambda r: (r.spec.tokenizer,))
    assert got["number",] == pytest.approx(((n - k) / (2 * n - k), (2 * n - 1.5 * k) / (2 * n - k)))
    assert got["digit",] == (1.0, 1.0) and len(got) == 2
