"""The coverage predictors on hand-made training sets: every expected value below is worked out by
hand from the cells' digits (written in the comments), never computed by the code under test."""

import math

import numpy as np
import pytest

from caseray.data.formats import get_format
from caseray.data.formats.columns import add_columns, half_columns, sub_columns
from caseray.data.splits import SplitSpec, make_split
from caseray.data.tasks import TaskSpec, build_task
from caseray.data.tokenizers import build_tokenizer
from caseray.report.step_coverage import answer_tokens, predict, predictors, score


def test_column_steps():
    assert add_columns("59", "13", 10) == [("add", 0, "9", "3", 0), ("add", 1, "5", "1", 1)]
    assert add_columns("8", "15", 9) == [("add", 0, "8", "5", 0), ("add", 1, "", "1", 1)]
    assert sub_columns("120", "113") == [("sub", 0, "0", "3", 0), ("sub", 1, "2", "1", 1), ("sub", 2, "1", "1", 0)]
    assert half_columns("36") == [("half", 1, "3", "", 0), ("half", 0, "6", "", 1)]
    tens = add_columns("59", "13", 10)[1]
    assert (tens.op, tens.column, tens.x, tens.y, tens.carry) == ("add", 1, "5", "1", 1)
    assert tens.anywhere() == ("add", None, "5", "1", 1)


def test_modular_addition_steps_hold_a_comparison_in_no_column():
    task = build_task(TaskSpec("mod_addition", high=49, modulus=50))
    # 30 + 25 = 55 >= 50, then 55 - 50 with a borrow per column
    assert get_format("scratchpad").step_keys(task, 30, 25) == [
        ("add", 0, "0", "5", 0), ("add", 1, "3", "2", 0), ("compare", None, "55", "50", 0),
        ("sub", 0, "5", "0", 0), ("sub", 1, "5", "5", 0)]
    assert get_format("rule_following").step_keys(task, 30, 25) == get_format("scratchpad").step_keys(task, 30, 25)


# Training cells and their steps (add, column, digit of a, digit of b, carry in) and answers:
#   (1, 1):  units 1+1 c0                      -> 2
#   (10, 0): units 0+0 c0, tens 1+'' c0        -> 10
#   (2, 3):  units 2+3 c0                      -> 5
# Test cells:
#   A (10, 10): units 0+0 c0 (seen); tens 1+1 c0 -- seen only in the units column      -> 20 (never an answer)
#   B (3, 2):   units 3+2 c0 -- never seen in any column (2+3 is, order matters)        -> 5 (seen)
#   C (11, 1):  units 1+1 c0 (seen); tens 1+'' c0 (seen in the tens)                    -> 12 (never an answer)
TRAIN, TEST = [(1, 1), (10, 0), (2, 3)], [(10, 10), (3, 2), (11, 1)]
ADDITION = build_task(TaskSpec("addition", high=19))
A = np.array([x for x, _ in TRAIN + TEST])
B = np.array([y for _, y in TRAIN + TEST])
SPLIT = np.array(["train"] * 3 + ["test"] * 3)
NONE_FLAGGED = [False] * 6


def test_a_step_seen_only_in_another_column_is_uncovered_with_the_column_and_covered_without():
    got = predictors(ADDITION, "scratchpad", "number", A, B, SPLIT)
    assert list(got) == ["step+column", "step", "answer_token"]
    assert got["step+column"].tolist() == [False, False, False, True, True, False]  # A: tens 1+1; B: 3+2
    assert got["step"].tolist() == [False, False, False, False, True, False]  # only B: 3+2 nowhere
    assert got["answer_token"].tolist() == [False, False, False, True, False, True]  # answers 20 and 12


def test_every_format_with_the_same_columns_predicts_the_same_cells():
    # rule-following's add walks the same columns as the scratchpad
    got = predictors(ADDITION, "rule_following", "number", A, B, SPLIT)
    assert got["step+column"].tolist() == [False, False, False, True, True, False]
    assert got["step"].tolist() == [False, False, False, False, True, False]
    assert got["answer_token"].tolist() == [False, False, False, True, False, True]
    # direct answers write no steps; their answer tokens are the whole target
    direct = predictors(ADDITION, "direct", "number", A, B, SPLIT)
    assert direct["step+column"] is None and direct["step"] is None
    assert direct["answer_token"].tolist() == [False, False, False, True, False, True]
    # the implicit column steps of direct answers, read from the scratchpad's
    implicit = predictors(ADDITION, "direct", "digit", A, B, SPLIT, steps_format="scratchpad")
    assert implicit["step+column"].tolist() == [False, False, False, True, True, False]


@pytest.mark.parametrize("fmt", ["direct", "scratchpad", "rule_following"])
def test_answer_tokens_are_the_answer_lines_tokens_alone(fmt):
    task = build_task(TaskSpec("mod_addition", high=49, modulus=50))  # 30 + 25 = 55 = 5 mod 50; 7 + 8 = 15
    for spec, expected in (("number", [["5"], ["15"]]), ("digit", [["5"], ["1", "5"]])):
        tok = build_tokenizer(spec)
        got = answer_tokens(task, fmt, tok, np.array([30, 7]), np.array([25, 8]))
        assert [[tok.decode([t]) for t in cell] for cell in got] == expected  # no line end, no step's tokens


def test_digit_answer_tokens_are_all_seen_where_number_tokens_are_not():
    # training answers 2, 10, 5 hold the digits 0, 1, 2, 5; test answers 20, 5, 12 use only those
    for fmt in ("direct", "scratchpad"):
        assert predictors(ADDITION, fmt, "digit", A, B, SPLIT)["answer_token"].tolist() == NONE_FLAGGED
    # chicken & rabbit answers "rabbits,chickens": cell (a, b) = (legs / 2, heads) -> (a - b, 2b - a)
    task = build_task(TaskSpec("chicken_rabbit", high=19))
    a, b = np.array([3, 4, 5]), np.array([2, 2, 3])  # answers 1,1 / 2,0 / 2,1
    split = np.array(["train", "train", "test"])
    assert predictors(task, "direct", "number", a, b, split)["answer_token"].tolist() == [False, False, False]
    a, b = np.array([3, 4, 6]), np.array([2, 2, 3])  # answers 1,1 / 2,0 / 3,0: no training answer holds 3
    assert predictors(task, "scratchpad", "number", a, b, split)["answer_token"].tolist() == [False, False, True]


# observed: A fails (predicted by step+column and answer_token), B succeeds although its units step
# 3+2 was never seen (precision < 1), C fails although all its steps were seen (a miss: recall < 1);
# the failing training cell never counts
ACCURACY = np.array([1.0, 0.0, 1.0, 0.2, 0.9, 0.4])


def test_scores_per_predictor_with_misses_and_false_alarms():
    s = score(predictors(ADDITION, "scratchpad", "number", A, B, SPLIT), ACCURACY, SPLIT)
    # step+column: predicted {A, B}, failed {A, C}, hit {A}; agree on A only
    assert (s["coverage/step+column/predicted"], s["coverage/step+column/failed"], s["coverage/step+column/hits"]) \
        == (2, 2, 1)
    assert s["coverage/step+column/precision"] == 0.5 and s["coverage/step+column/recall"] == 0.5
    assert s["coverage/step+column/agreement"] == pytest.approx(1 / 3)
    # step: predicted {B}, which succeeded; both failures missed
    assert (s["coverage/step/predicted"], s["coverage/step/hits"]) == (1, 0)
    assert s["coverage/step/precision"] == 0 and s["coverage/step/recall"] == 0 and s["coverage/step/agreement"] == 0
    # answer_token: predicted {A, C} = failed {A, C}
    assert s["coverage/answer_token/precision"] == 1 and s["coverage/answer_token/recall"] == 1
    assert s["coverage/answer_token/agreement"] == 1
    metrics = ("predicted", "failed", "hits", "agreement", "precision", "recall")
    assert set(s) == {f"coverage/{p}/{m}" for p in ("step+column", "step", "answer_token") for m in metrics}
    direct = score(predictors(ADDITION, "direct", "number", A, B, SPLIT), ACCURACY, SPLIT)
    assert set(direct) == {f"coverage/answer_token/{m}" for m in metrics}  # no keys for what does not apply


def test_one_array_scores_under_the_single_predictor_names():
    split = np.array(["train", "test", "test", "test", "test"])
    uncovered = np.array([True, True, True, False, False])  # the train cell never counts
    accuracy = np.array([0.0, 0.1, 0.9, 0.2, 1.0])  # fails: cells 1 and 3
    s = score(uncovered, accuracy, split)
    assert s["coverage/precision"] == 0.5 and s["coverage/recall"] == 0.5 and s["coverage/agreement"] == 0.5
    assert (s["coverage/predicted"], s["coverage/failed"], s["coverage/hits"]) == (2, 2, 1)
    nothing = score(np.zeros(5, bool), np.ones(5), split)
    assert math.isnan(nothing["coverage/precision"]) and math.isnan(nothing["coverage/recall"])


def test_predict_is_the_step_plus_column_predictor_with_its_missing_steps():
    pred = predict(ADDITION, "scratchpad", A, B, SPLIT)
    assert pred["uncovered"].tolist() == [False, False, False, True, True, False]
    # seen: units 1+1, 0+0, 2+3 and tens 1+'' (all carry 0)
    assert pred["n_steps_seen"] == 4
    assert dict(pred["missing"]) == {("add", 1, "1", "1", 0): 1, ("add", 0, "3", "2", 0): 1}
    assert predict(ADDITION, "direct", A, B, SPLIT) is None


def test_an_hf_tokenizer_that_is_not_here_leaves_answer_tokens_out():
    got = predictors(ADDITION, "direct", "hf:/no/such/tokenizer", A, B, SPLIT)
    assert got == {"step+column": None, "step": None, "answer_token": None}


@pytest.mark.parametrize("task_name", ["addition", "base9_addition", "mod_addition", "linear", "chicken_rabbit"])
def test_the_column_free_predictor_flags_a_subset(task_name):
    """On 0-49 with a centred h = 7 square, training cells are covered by definition, and a step
    seen in any column covers at least as much as one seen in its own column."""
    spec = TaskSpec(task_name, high=49, **({"modulus": 50} if task_name == "mod_addition" else {}))
    task = build_task(spec)
    s = make_split(task, SplitSpec(half_width=7))
    got = predictors(task, "scratchpad", "number", s.a, s.b, s.split)
    for flags in got.values():
        assert not flags[s.split == "train"].any()
    assert not (got["step"] & ~got["step+column"]).any()


def test_the_measured_square_tens_two_plus_two_is_seen_in_the_units():
    """0-49 addition, square (25, 25) h = 7 (a, b in 18..32): its tens pairs 2+2 occur in no training
    cell, so ``step+column`` flags every test cell with both operands in 20..29 (10 x 10 = 100) --
    but 2+2 is a units step of training cells (2+2, 12+2, ...): ``step`` flags only the carry-in
    steps 2+2 c1, which in two-digit numbers only the tens column has: 20..29 pairs whose units carry
    (units sum >= 10: 45 of the 100)."""
    task = build_task(TaskSpec("addition", high=49))
    s = make_split(task, SplitSpec(center=(25, 25), half_width=7))
    test = s.split == "test"
    got = predictors(task, "direct", "digit", s.a, s.b, s.split, steps_format="scratchpad")
    assert got["step+column"][test].sum() == 100 and got["step"][test].sum() == 45
    assert got["answer_token"][test].sum() == 0  # every digit is some training answer's


# a 0-19 grid with the square at its corner: (3, 3) h = 3 holds a, b in 0..6. An answer s = a + b
# <= 6 comes only from cells with both operands <= 6, all in the square: with number tokens those
# 28 test cells (7 + 6 + ... + 1) have an answer no training cell has; from 7 up, (7, s - 7) is
# outside the square. With digit tokens every digit 0..6 is also some training answer's (10..16).
CORNER = SplitSpec(center=(3, 3), half_width=3)


def _diagonal(a, b, split):  # the test cells on the diagonal fail: (0, 0) .. (6, 6)
    return np.where((split == "test") & (a == b), 0.0, 1.0)


def test_a_trials_coverage_by_predictor():
    from caseray.report.aggregate import coverage, steps_source
    from synthetic import record

    assert steps_source(record(fmt="rule_following")) == ("rule_following", "written")
    assert steps_source(record(tokenizer="digit")) == ("scratchpad", "implicit")  # digits computed column by column
    number = record(split=CORNER, accuracy=_diagonal)
    assert steps_source(number) is None and coverage(number) is None  # no steps: not in the step tables
    cov = coverage(number, by_predictor=True)
    assert cov.uncovered["step"] is None and cov.missing["step+column"] is None
    # predicted: a + b <= 6 (28); failed: the diagonal (7); hits: (0, 0) .. (3, 3)
    s = cov.scores
    assert (s["coverage/answer_token/predicted"], s["coverage/answer_token/failed"],
            s["coverage/answer_token/hits"]) == (28, 7, 4)
    assert s["coverage/answer_token/precision"] == pytest.approx(4 / 28)
    assert s["coverage/answer_token/recall"] == pytest.approx(4 / 7)
    assert dict(cov.missing["answer_token"]) == {"0": 1, "1": 2, "2": 3, "3": 4, "4": 5, "5": 6, "6": 7}
    # digits: each units pair (a, b) of the square is also training cell (a + 10, b)'s; each answer digit seen
    digit = coverage(record(split=CORNER, tokenizer="digit", accuracy=_diagonal), by_predictor=True)
    assert [digit.scores[f"coverage/{p}/predicted"] for p in ("step+column", "step", "answer_token")] == [0, 0, 0]
    uncovered, scores, _ = coverage(record(split=CORNER, tokenizer="digit", accuracy=_diagonal))
    assert not uncovered.any() and scores["coverage/failed"] == 7 and math.isnan(scores["coverage/precision"])


def test_the_step_coverage_table_has_a_row_per_grid_trial():
    from caseray.report.build import coverage_rows
    from synthetic import record

    number, digit = (record(split=CORNER, tokenizer=t, accuracy=_diagonal) for t in ("number", "digit"))
    rows = coverage_rows([number, digit])
    assert [r["steps"] for r in rows] == ["-", "implicit"]
    assert rows[0]["answer_token predicted"] == 28 and rows[0]["failed"] == 7 and rows[0]["test cells"] == 49
    assert math.isnan(rows[0]["step predicted"]) and rows[0]["most-missed steps"] == "-"
    assert rows[0]["most-missed answer tokens"] == "6 x7; 5 x6; 4 x5"
    assert rows[1]["step+column predicted"] == 0 and rows[1]["answer_token recall"] == 0
