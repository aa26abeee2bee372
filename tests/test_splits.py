import numpy as np
import pytest
from conftest import TASK_NAMES
from hypothesis import given
from hypothesis import strategies as st

from caseray.core.errors import SpecError
from caseray.core.specs import from_dict
from caseray.data.datasets import GridDataSpec
from caseray.data.splits import SplitSpec, chebyshev_distance, make_split
from caseray.data.tasks import build_task


def _labels(s):
    return dict(zip(zip(s.a.tolist(), s.b.tolist()), s.split.tolist()))


def test_paper_square_holds_441_cells_with_centre_ring_zero():
    s = make_split(build_task("addition"), SplitSpec(center=(50, 50), half_width=10))
    test = s.split == "test"
    assert test.sum() == 441
    assert np.all(np.maximum(abs(s.a[test] - 50), abs(s.b[test] - 50)) <= 10)
    centre = (s.a == 50) & (s.b == 50)
    assert s.ring[centre][0] == 0 and s.dist_train[centre][0] == 11
    assert s.dist_train[s.split == "train"].max() == 0
    border = test & (s.ring == 10)
    assert np.all(s.dist_train[border] == 1)


@pytest.mark.parametrize("h,n", [(5, 121), (10, 441), (15, 961), (20, 1681)])
def test_size_ablation_counts(h, n):
    assert (make_split(build_task("addition"), SplitSpec(half_width=h)).split == "test").sum() == n


@given(st.sampled_from(TASK_NAMES), st.integers(0, 20), st.data())
def test_no_cell_in_both_and_every_cell_labelled(name, h, data):
    task = build_task(name)
    (alo, ahi), (blo, bhi) = task.a_range, task.b_range
    a0 = data.draw(st.integers(alo + h, ahi - h))
    b0 = data.draw(st.integers(blo + h, bhi - h))
    try:
        s = make_split(task, SplitSpec(center=(a0, b0), half_width=h))
    except SpecError:  # a square outside chicken & rabbit's valid region, or above the guard
        return
    labels = _labels(s)
    assert len(labels) == len(s.a)  # each cell once, with one label
    test = {c for c, v in labels.items() if v == "test"}
    train = {c for c, v in labels.items() if v == "train"}
    assert test and not (test & train)
    # L-inf distance to the nearest training cell, checked by brute force on a few cells
    tr = np.array(sorted(train))
    for (a, b) in list(test)[:5]:
        want = np.min(np.maximum(abs(tr[:, 0] - a), abs(tr[:, 1] - b)))
        got = s.dist_train[(s.a == a) & (s.b == b)][0]
        assert got == want


def test_multi_squares_are_seeded_inside_and_apart():
    task = build_task("addition")
    spec = SplitSpec(kind="squares", n_squares=3, half_width_range=(10, 19), seed=7)
    s1, s2 = make_split(task, spec), make_split(task, spec)
    assert s1.squares == s2.squares and len(s1.squares) == 3
    assert make_split(task, SplitSpec(kind="squares", seed=8)).squares != s1.squares
    for i, (a0, b0, h) in enumerate(s1.squares):
        assert 10 <= h <= 19 and 0 <= a0 - h and a0 + h <= 99 and 0 <= b0 - h and b0 + h <= 99
        for a1, b1, h1 in s1.squares[i + 1:]:
            assert max(abs(a0 - a1), abs(b0 - b1)) > h + h1
    assert (s1.split == "test").sum() == sum((2 * h + 1) ** 2 for *_, h in s1.squares)
    assert set(s1.square[s1.split == "test"].tolist()) == {0, 1, 2}


def test_random_split_of_a_square_size():
    s = make_split(build_task("addition"), SplitSpec(kind="random", test_size=441, seed=42))
    assert (s.split == "test").sum() == 441 and np.all(s.ring == -1)
    s2 = make_split(build_task("addition"), SplitSpec(kind="random"))
    assert (s2.split == "test").sum() == 3000  # the paper's 70/30


def test_data_size_subsamples_training_only():
    task, spec = build_task("addition"), SplitSpec()
    full = make_split(task, spec)
    small = make_split(task, spec, data_size=2000, seed=3)
    assert np.array_equal(full.split == "test", small.split == "test")
    assert (small.split == "train").sum() == 2000 and (small.split == "unused").sum() == 10000 - 441 - 2000
    assert np.all(small.dist_train[small.split == "train"] == 0)
    assert not np.array_equal(small.split, make_split(task, spec, data_size=2000, seed=4).split)


def test_chebyshev_distance_matches_brute_force():
    rng = np.random.default_rng(0)
    mask = rng.random((30, 40)) < 0.05
    got = chebyshev_distance(mask)
    pts = np.argwhere(mask)
    ii, jj = np.indices(mask.shape)
    want = np.min(np.maximum(abs(ii[..., None] - pts[:, 0]), abs(jj[..., None] - pts[:, 1])), axis=-1)
    assert np.array_equal(got, want)


@pytest.mark.parametrize("data,field,words", [
    ({"split": {"center": [95, 50]}}, "split.center", "outside the grid"),
    ({"split": {"half_width": 40}}, "split", "max_test_fraction"),
    ({"split": {"kind": "squares", "squares": [[30, 30, 10], [45, 45, 10]]}}, "split.squares", "overlap"),
    ({"split": {"kind": "squares", "n_squares": 8, "half_width_range": [19, 19]}}, "split.n_squares",
     "could not place"),
    ({"split": {"kind": "hexagon"}}, "split.kind", "square, squares, random"),
    ({"split": {"half_width": -1}}, "split.half_width", "minimum"),
    ({"split": {"half_width": 2.5}}, "split.half_width", "integer"),
    ({"split": {"kind": "random", "test_fraction": 1.5}}, "split.test_fraction", "outside"),
    ({"split": {"kind": "random", "test_fraction": 0.5}}, "split", "max_test_fraction"),
    ({"split": {"kind": "random", "test_fraction": 0.1, "test_size": 10}}, "split.test_size", "not both"),
    ({"task": {"name": "chicken_rabbit"}, "split": {"center": [20, 80]}}, "split.center", "no valid cell"),
    ({"data_size": 9600}, "data_size", "larger than the 9559 training cells"),
    ({"data_size": 0}, "data_size", "minimum"),
    ({"format": "essay", "task": {"name": "linear"}}, "format", "unknown format 'essay'"),
    ({"tokenizer": "bpe"}, "tokenizer", "digit, hf, number"),
    ({"tokenizer": "number:x"}, "tokenizer", "bound"),
    ({"tokenizer": "hf:/nonexistent/tok"}, "tokenizer", "never downloads"),
    ({"seed": -3}, "seed", "minimum"),
    ({"sede": 3}, "sede", "unknown key"),
])
def test_bad_dataset_specs_fail_before_work(data, field, words, tmp_path):
    with pytest.raises(SpecError) as err:
        from_dict(GridDataSpec, data)
    assert err.value.field == field, str(err.value)
    assert words in str(err.value)
    assert not (tmp_path / "cache").exists()  # nothing written


def test_guard_is_configurable():
    spec = from_dict(GridDataSpec, {"split": {"half_width": 40, "max_test_fraction": 0.7}})
    assert spec.split.half_width == 40
