import random

import numpy as np
import pytest

from caseray.core.errors import SpecError
from caseray.core.specs import from_dict
from caseray.data.datasets import GridDataSpec
from caseray.data.splits import SplitSpec, chebyshev_distance, make_split
from caseray.data.tasks import TaskSpec, build_task


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


# --- a brute-force oracle: plain loops over a small grid, nothing shared with make_split -----------------


def _linf(p, q):
    return max(abs(p[0] - q[0]), abs(p[1] - q[1]))


def _oracle(task, squares, frac):
    """What make_split must give for explicit ``squares``: None when it must refuse them, else
    {cell: (label, square, ring)} (label "test" or "train")."""
    cells = [(a, b) for a in range(task.a_range[0], task.a_range[1] + 1)
             for b in range(task.b_range[0], task.b_range[1] + 1) if task.valid(a, b)]
    for i, (a0, b0, h) in enumerate(squares):
        if not (task.a_range[0] <= a0 - h and a0 + h <= task.a_range[1]
                and task.b_range[0] <= b0 - h and b0 + h <= task.b_range[1]):
            return None  # reaches outside the grid
        if not any(_linf(c, (a0, b0)) <= h for c in cells):
            return None  # holds no valid cell
        if any(_linf((a0, b0), (a1, b1)) <= h + h1 for a1, b1, h1 in squares[:i]):
            return None  # overlaps an earlier square
    out = {}
    for c in cells:
        holders = [k for k, (a0, b0, h) in enumerate(squares) if _linf(c, (a0, b0)) <= h]
        assert len(holders) <= 1
        if holders:
            k = holders[0]
            out[c] = ("test", k, _linf(c, squares[k][:2]))
        else:
            out[c] = ("train", -1, min(_linf(c, sq[:2]) for sq in squares))
    if sum(v[0] == "test" for v in out.values()) > frac * len(cells):
        return None  # above the guard
    return out


def _check_against_oracle(task, split, expect, data_size=None):
    got = {(a, b): (lab, sq, r, d) for a, b, lab, sq, r, d in zip(split.a.tolist(), split.b.tolist(),
                                                                   split.split.tolist(), split.square.tolist(),
                                                                   split.ring.tolist(), split.dist_train.tolist())}
    assert len(got) == len(split.a) and set(got) == set(expect)  # every valid cell, once
    for c, (label, sq, ring) in expect.items():
        g_label, g_sq, g_ring, _ = got[c]
        assert (g_label == "test") == (label == "test"), c
        assert (g_sq, g_ring) == (sq, ring), (c, (g_sq, g_ring), (sq, ring))
    train = [c for c, v in got.items() if v[0] == "train"]
    held = [c for c, v in got.items() if v[0] != "test"]
    assert len(train) == (len(held) if data_size is None else data_size)
    assert {v[0] for v in got.values()} <= {"train", "test", "unused"}
    for c, v in got.items():
        assert v[3] == min(_linf(c, t) for t in train), c  # to the nearest *training* cell


SMALL_TASKS = [TaskSpec("addition", high=15), TaskSpec("addition", low=3, high=17),
               TaskSpec("base9_addition", high=13), TaskSpec("mod_addition", modulus=19, high=18),
               TaskSpec("linear", high=12), TaskSpec("chicken_rabbit", high=9)]


@pytest.mark.parametrize("seed", range(40))
def test_explicit_squares_match_a_brute_force_oracle(seed):
    rng = random.Random(seed)
    task = build_task(rng.choice(SMALL_TASKS))
    (alo, ahi), (blo, bhi) = task.a_range, task.b_range
    squares = []
    for _ in range(rng.randint(1, 3)):
        h = rng.randint(0, 3)
        squares.append((rng.randint(alo + h, ahi - h), rng.randint(blo + h, bhi - h), h))
    frac = rng.choice([0.3, 0.6, 0.9])
    data_size = rng.choice([None, None, 5])
    spec = SplitSpec(kind="squares", squares=tuple(squares), max_test_fraction=frac)
    expect = _oracle(task, squares, frac)
    if expect is None:
        with pytest.raises(SpecError):
            make_split(task, spec, data_size=data_size, seed=seed)
        return
    split = make_split(task, spec, data_size=data_size, seed=seed)
    assert split.squares == tuple(squares)
    _check_against_oracle(task, split, expect, data_size)


@pytest.mark.parametrize("seed", range(6))
def test_random_squares_and_the_single_square_match_the_oracle(seed):
    task = build_task(TaskSpec("addition", high=19))
    spec = SplitSpec(kind="squares", n_squares=2, half_width_range=(1, 3), seed=seed)
    split = make_split(task, spec)
    _check_against_oracle(task, split, _oracle(task, list(split.squares), spec.max_test_fraction))
    single = make_split(task, SplitSpec(center=(4 + seed, 9), half_width=2 + seed % 2))
    assert single.squares == ((4 + seed, 9, 2 + seed % 2),)
    _check_against_oracle(task, single, _oracle(task, list(single.squares), 0.3))


def test_random_split_has_no_rings_and_true_distances():
    task = build_task(TaskSpec("chicken_rabbit", high=9))
    split = make_split(task, SplitSpec(kind="random", test_size=12, seed=1))
    assert np.all(split.ring == -1) and np.all(split.square == -1) and (split.split == "test").sum() == 12
    cells = list(zip(split.a.tolist(), split.b.tolist()))
    train = [c for c, lab in zip(cells, split.split) if lab == "train"]
    assert split.dist_train.tolist() == [min(_linf(c, t) for t in train) for c in cells]


def test_close_squares_ring_to_their_own_centre():
    """A big square with a small one just past its right border: cells of the big square's border
    lie nearer the small square's centre than their own. Each square's ring k (0 < k <= h) holds
    the 8k cells of its own outline, and a cell outside both takes the nearest centre."""
    task = build_task(TaskSpec("addition", high=29))
    big, small = (12, 12, 8), (12, 24, 2)  # b 4..20 and b 22..26; column b = 21 between them
    split = make_split(task, SplitSpec(kind="squares", squares=(big, small), max_test_fraction=0.5))
    ring = {(a, b): r for a, b, r in zip(split.a.tolist(), split.b.tolist(), split.ring.tolist())}
    assert ring[(12, 20)] == 8 and ring[(16, 20)] == 8  # big's border (4 and 4 from small's centre)
    assert ring[(12, 19)] == 7 and ring[(12, 22)] == 2 and ring[(12, 24)] == 0 and ring[(12, 12)] == 0
    assert ring[(12, 21)] == 3 and ring[(0, 0)] == 12  # outside both: the nearest centre
    for k, (_, _, h) in enumerate((big, small)):
        in_k = split.square == k
        assert in_k.sum() == (2 * h + 1) ** 2
        counts = [int((in_k & (split.ring == r)).sum()) for r in range(h + 1)]
        assert counts == [1] + [8 * r for r in range(1, h + 1)]
    _check_against_oracle(task, split, _oracle(task, [big, small], 0.5))


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
    ({"split": {"kind": "random", "test_fraction": 1.5}}, "split.test_fraction", "above the maximum 1"),
    ({"split": {"kind": "random", "test_fraction": 0.5}}, "split", "max_test_fraction"),
    ({"split": {"kind": "random", "test_fraction": 0.1, "test_size": 10}}, "split.test_size", "not both"),
    ({"task": {"name": "chicken_rabbit"}, "split": {"center": [20, 80]}}, "split.center", "no valid cell"),
    ({"task": {"high": 9}, "split": {"kind": "random", "test_size": 100, "max_test_fraction": 1.0}}, "split",
     "holds every one of the 100 cells"),
    ({"task": {"high": 9}, "split": {"kind": "random", "test_fraction": 1.0, "max_test_fraction": 1.0}}, "split",
     "none is left to train on"),
    ({"data_size": 9600}, "data_size", "larger than the 9559 training cells"),
    ({"data_size": 0}, "data_size", "minimum"),
    ({"format": "essay", "task": {"name": "linear"}}, "format", "unknown format 'essay'"),
    ({"tokenizer": "bpe"}, "tokenizer",
     "digit, digit_roles, number, number_roles, number:<bound>, number_roles:<bound>, hf:<local dir>"),
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
