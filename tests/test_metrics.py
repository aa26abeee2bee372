import numpy as np
import pytest

from caseray.data.splits import SplitSpec, make_split
from caseray.data.tasks import build_task
from caseray.trial.metrics import summarize


def test_summary_of_a_planted_hole():
    """A synthetic case-based model: right on training cells, wrong within 4 of the square's centre."""
    task = build_task("addition")
    s = make_split(task, SplitSpec(center=(50, 50), half_width=10))
    acc = np.where((s.split == "test") & (s.ring <= 4), 0.0, 1.0)
    m = summarize(s.split, acc, s.ring, s.square, s.dist_train, s.squares)
    assert m["train_acc"] == 1.0 and m["n_test"] == 441
    assert m["hole_size"] == 81 and m["hole_frac"] == pytest.approx(81 / 441)
    assert m["square_acc"] == pytest.approx(1 - 81 / 441) and m["test_acc"] == m["square_acc"]
    assert m["centre_acc"] == 0.0 and m["border_acc"] == 1.0
    assert m["inner_acc"] == pytest.approx(1 - 81 / 121)  # rings 0-5: 121 cells, 81 of them wrong
    assert [m[f"ring_acc/{r}"] for r in range(11)] == [0.0] * 5 + [1.0] * 6
    # distance to the nearest training cell = 11 - ring inside the square
    assert m["dist_acc/11"] == 0.0 and m["dist_acc/7"] == 0.0 and m["dist_acc/6"] == 1.0


def test_summary_of_a_random_split_has_no_square_metrics():
    task = build_task("addition")
    s = make_split(task, SplitSpec(kind="random", test_size=441), data_size=5000, seed=1)
    acc = (s.split == "train").astype(float)
    m = summarize(s.split, acc, s.ring, s.square, s.dist_train, s.squares)
    assert m["train_acc"] == 1.0 and m["test_acc"] == 0.0 and m["unused_acc"] == 0.0
    assert "square_acc" not in m and m["hole_size"] == 441
