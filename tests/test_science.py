"""The finding the project builds on, as a test (tiny model, CPU, ~2 minutes on 2 cores):

addition, direct, Leave-Square-Out on a 50x50 grid with h = 7 around (25, 25) (225 test cells):
1. one token per whole number -> a hole: the square far below training accuracy, its middle ~0;
2. the same model on a random split of the same test size -> test close to training accuracy;
3. one token per digit -> the square is mostly solved.
The full-size version (100x100 grid, h = 10, 3 seeds) is sweeps/local_hole_check.py.
"""

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from caseray.data.splits import SplitSpec
from caseray.data.tasks import TaskSpec
from caseray.train.models import ModelSpec
from caseray.train.spec import TrainSpec
from caseray.trial.spec import TrialSpec
from helpers import run_metrics

pytestmark = pytest.mark.slow
CENTRE, H = (25, 25), 7


def _spec(tokenizer, split):
    return TrialSpec(task=TaskSpec("addition", high=49), tokenizer=tokenizer, split=split,
                     model=ModelSpec(scale="tiny"), save_model=False,
                     train=TrainSpec(steps=1000, lr=3e-3, batch_size=128, log_every=10**9))


def _square_cells(out, spec):
    """The trial's per-cell table as numpy, with each cell's L-inf distance from the square's centre
    recomputed from its coordinates (not read from the data's ring column)."""
    cells = pq.read_table(Path(out) / spec.name / "cells.parquet").to_pydict()
    a, b = np.array(cells["a"]), np.array(cells["b"])
    return {"acc": np.array(cells["accuracy"], dtype=float), "split": np.array(cells["split"]),
            "r": np.maximum(np.abs(a - CENTRE[0]), np.abs(b - CENTRE[1]))}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("science")
    square = SplitSpec(center=CENTRE, half_width=H)
    specs = [_spec("number", square), _spec("number", SplitSpec(kind="random", test_size=225, seed=42)),
             _spec("digit", square)]
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        number_square, number_random, digit_square = pool.map(run_metrics, [(s, out) for s in specs])
    return number_square, number_random, digit_square, _square_cells(out, specs[0]), _square_cells(out, specs[2])


def test_number_tokens_leave_a_hole(results):
    m, cells = results[0], results[3]
    acc, r = cells["acc"], cells["r"]
    assert np.array_equal(cells["split"] == "test", r <= H)  # the 225 cells of the square
    assert m["train_acc"] >= 0.9  # the training grid is fitted: the hole is readable
    assert m["square_acc"] <= m["train_acc"] - 0.3
    middle, outline = r <= 4, r == H  # the middle 9x9 (81 cells); the square's outline (56 cells)
    assert acc[middle].mean() <= 0.1  # the middle of the square is a hole
    assert m["inner_acc"] == pytest.approx(acc[2 * r <= H].mean()) and m["inner_acc"] <= 0.3  # rings 0-3
    assert m["border_acc"] == pytest.approx(acc[outline].mean())
    assert (acc[r <= H] < 0.5).sum() >= 0.6 * (r <= H).sum()  # most of the square's cells fail
    assert acc[outline].mean() >= acc[middle].mean() + 0.2  # accuracy falls from the border inwards
    assert acc[r == H + 1].mean() >= 0.9  # the training ring just outside is solved


def test_random_split_tracks_training(results):
    square, random = results[0], results[1]
    assert random["train_acc"] >= 0.9
    assert random["test_acc"] >= random["train_acc"] - 0.15
    assert random["test_acc"] >= square["square_acc"] + 0.3


def test_digit_tokens_solve_the_square(results):
    acc, r = results[4]["acc"], results[4]["r"]
    assert results[2]["square_acc"] >= 0.8
    assert acc[r <= 4].mean() >= 0.8  # the middle 9x9, the number model's hole, is solved
