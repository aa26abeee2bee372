"""Which rows of its dataset a trial evaluates (numpy only: ``caseray plan`` prices them without torch)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from caseray.trial.spec import TrialSpec


def evaluation_mask(spec: TrialSpec, split: np.ndarray, n_digits: np.ndarray | None) -> np.ndarray:
    """Which rows a trial evaluates: every cell of a grid. For a length trial, its test problems and
    a seeded sample of as many training problems per length (its training set is large and its
    traces long: train accuracy is estimated, not counted)."""
    if spec.lengths is None:
        return np.ones(len(split), dtype=bool)
    keep = split == "test"
    rng = np.random.default_rng(spec.seed)
    for length in np.unique(n_digits[split == "train"]):
        rows = np.flatnonzero((split == "train") & (n_digits == length))
        keep[rng.choice(rows, min(len(rows), spec.lengths.test_per_length), replace=False)] = True
    return keep


def evaluation_rows(spec: TrialSpec, table: pa.Table) -> pa.Table:
    if spec.lengths is None:
        return table
    mask = evaluation_mask(spec, table["split"].to_numpy(zero_copy_only=False), table["n_digits"].to_numpy())
    return table.filter(pa.array(mask))
