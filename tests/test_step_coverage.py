"""The step-coverage predictor on hand-made training sets."""

import numpy as np
import pytest

from caseray.data.formats import get_format
from caseray.data.formats.columns import add_columns, half_columns, sub_columns
from caseray.data.splits import SplitSpec, make_split
from caseray.data.tasks import TaskSpec, build_task
from caseray.report.step_coverage import predict, score


def test_column_steps():
    assert add_columns("59", "13", 10) == [("add", 0, "9", "3", 0), ("add", 1, "5", "1", 1)]
    assert add_columns("8", "15", 9) == [("add", 0, "8", "5", 0), ("add", 1, "", "1", 1)]
    assert sub_columns("120", "113") == [("sub", 0, "0", "3", 0), ("sub", 1, "2", "1", 1), ("sub", 2, "1", "1", 0)]
    assert half_columns("36") == [("half", 1, "3", "", 0), ("half", 0, "6", "", 1)]


def _hand_made(train, test):
    task = build_task(TaskSpec("addition", high=19))
    a = np.array([x for x, _ in train + test])
    b = np.array([y for _, y in train + test])
    split = np.array(["train"] * len(train) + ["test"] * len(test))
    return task, a, b, split


def test_a_cell_is_uncovered_iff_one_of_its_steps_never_occurs_in_training():
    # training steps: units 2+3 (no carry), 7+5 (no carry), 1+0; tens 1+1 (no carry)
    task, a, b, split = _hand_made(train=[(2, 3), (11, 10), (7, 5)], test=[(12, 13), (17, 15), (2, 3), (13, 12)])
    pred = predict(task, "scratchpad", a, b, split)
    # (12, 13): units 2+3, tens 1+1 carry 0 -> covered; (17, 15): tens 1+1 with carry 1 never seen;
    # (2, 3) is a training cell itself; (13, 12): units 3+2 never seen (order matters)
    assert pred["uncovered"].tolist() == [False, False, False, False, True, False, True]
    assert dict(pred["missing"]) == {("add", 1, "1", "1", 1): 1, ("add", 0, "3", "2", 0): 1}
    # rule-following walks the same column steps
    assert predict(task, "rule_following", a, b, split)["uncovered"].tolist() == pred["uncovered"].tolist()
    assert predict(task, "direct", a, b, split) is None


def test_precision_and_recall_against_observed_failures():
    split = np.array(["train", "test", "test", "test", "test"])
    uncovered = np.array([True, True, True, False, False])  # the train cell never counts
    accuracy = np.array([0.0, 0.1, 0.9, 0.2, 1.0])  # fails: cells 1 and 3
    s = score(uncovered, accuracy, split)
    assert s["coverage/precision"] == 0.5 and s["coverage/recall"] == 0.5 and s["coverage/agreement"] == 0.5
    assert (s["coverage/predicted"], s["coverage/failed"], s["coverage/hits"]) == (2, 2, 1)


@pytest.mark.parametrize("task_name", ["addition", "base9_addition", "mod_addition", "linear", "chicken_rabbit"])
def test_every_task_has_steps_and_a_square_leaves_some_uncovered(task_name):
    """On 0-49 with a centred h = 7 square, some test cells need a tens-column step that only
    the square holds -- and every training cell is covered by definition."""
    spec = TaskSpec(task_name, high=49, **({"modulus": 50} if task_name == "mod_addition" else {}))
    task = build_task(spec)
    s = make_split(task, SplitSpec(half_width=7))
    pred = predict(task, "scratchpad", s.a, s.b, s.split)
    test = s.split == "test"
    assert 0 < pred["uncovered"][test].sum() < test.sum()
    assert not pred["uncovered"][s.split == "train"].any()
    fmt = get_format("scratchpad")
    assert all(isinstance(k, tuple) for k in fmt.step_keys(task, int(s.a[0]), int(s.b[0])))


def test_whose_steps_the_predictor_uses():
    from caseray.report.aggregate import coverage, steps_source
    from synthetic import record

    assert steps_source(record(fmt="rule_following")) == ("rule_following", "written")
    assert steps_source(record(tokenizer="digit")) == ("scratchpad", "implicit")  # digits computed column by column
    assert steps_source(record()) is None and coverage(record()) is None  # one token per whole number
