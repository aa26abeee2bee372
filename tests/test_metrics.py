import numpy as np
import pytest

from caseray.data.splits import SplitSpec, make_split
from caseray.data.tasks import TaskSpec, build_task
from caseray.trial.metrics import paired_metrics, ring_slope, summarize


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


def test_ring_slope_of_a_one_ring_hole_is_centre_minus_border():
    """h = 1: the centre cell wrong, its 8 neighbours right. By hand: x = 1 at the centre, 0 on the
    border; mean x = 1/9, the slope is cov / var = (-72/81) / (72/81) = -1 = centre - border."""
    slope, lo, hi = ring_slope([0.0] + [1.0] * 8, [0] + [1] * 8, [1] * 9)
    assert slope == pytest.approx(-1.0)
    assert lo <= slope <= hi <= 0


def test_ring_slope_of_a_flat_square_is_zero_with_a_zero_interval():
    ring = np.array([0] + [1] * 8 + [2] * 16)
    assert ring_slope(np.ones(25), ring, np.full(25, 2)) == (0.0, 0.0, 0.0)
    assert all(np.isnan(ring_slope([1.0], [0], [0])))  # a one-cell square has no slope


def test_ring_slope_of_a_linear_fall_and_its_interval():
    """Accuracy falling linearly from 1 on the border to 0 at the centre: slope exactly -1; a noisy
    copy keeps -1 inside its bootstrap interval, and the interval excludes 0."""
    task = build_task(TaskSpec(name="addition", high=39))
    s = make_split(task, SplitSpec(center=(20, 20), half_width=8))
    inside = s.square >= 0
    ring, h = s.ring[inside], np.full(inside.sum(), 8)
    assert ring_slope(ring / 8, ring, h)[0] == pytest.approx(-1.0)
    noisy = (np.random.default_rng(1).random(len(ring)) < ring / 8).astype(float)
    slope, lo, hi = ring_slope(noisy, ring, h)
    assert lo < slope < hi < 0 and -1.3 < slope < -0.7


def test_per_square_metrics_and_paired_depth():
    """Two squares: the first with a hole at its centre (rings <= 1 wrong), the second solved."""
    task = build_task(TaskSpec(name="addition", high=39))
    s = make_split(task, SplitSpec(kind="squares", squares=((8, 8, 3), (30, 30, 4))))
    acc = np.where((s.square == 0) & (s.ring <= 1), 0.0, 1.0)
    m = summarize(s.split, acc, s.ring, s.square, s.dist_train, s.squares)
    assert m["sq0/centre_acc"] == 0.0 and m["sq1/centre_acc"] == 1.0
    assert m["sq0/square_acc"] == pytest.approx(1 - 9 / 49) and m["sq1/square_acc"] == 1.0
    assert m["sq0/ring_slope"] < 0 and m["sq1/ring_slope"] == 0.0
    assert m["square_acc"] == pytest.approx(1 - 9 / (49 + 81))
    depth = paired_metrics(m, {"test_acc": 0.9})
    assert depth["control_acc"] == 0.9
    assert depth["sq0/hole_depth"] == pytest.approx(0.9) and depth["sq1/hole_depth"] == pytest.approx(-0.1)
    assert depth["hole_depth"] == pytest.approx(0.4)  # pooled: both centres, 0 and 1 -> 0.5
    assert depth["sq0/inner_depth"] == pytest.approx(0.9 - (1 - 9 / 9))  # inner half of h=3: rings 0, 1


def test_answer_and_sampled_metrics_have_their_own_names():
    task = build_task(TaskSpec(name="addition", high=19))
    s = make_split(task, SplitSpec(center=(10, 10), half_width=3))
    exact = np.where(s.split == "test", 0.0, 1.0)
    answer = np.where((s.split == "test") & (s.ring > 0), 1.0, exact)  # steps wrong, answers right
    m = summarize(s.split, exact, s.ring, s.square, s.dist_train, s.squares, answer=answer, sampled=exact / 2)
    assert m["exact_acc"] == 0.0 and m["answer_acc"] == pytest.approx(48 / 49)
    assert m["answer_centre_acc"] == 0.0 and m["answer_border_acc"] == 1.0
    assert m["sample_train_acc"] == 0.5 and m["train_acc"] == 1.0
