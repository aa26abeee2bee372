"""Per-cell results -> summary metrics of a trial (pure numpy: also used on synthetic results)."""

from __future__ import annotations

import numpy as np

HOLE_THRESHOLD = 0.5  # a test cell below this accuracy is part of the hole


def _mean(x) -> float:
    return float(np.mean(x)) if len(x) else float("nan")


def summarize(split, accuracy, ring, square, dist_train, squares) -> dict:
    """Train/test accuracy, square accuracy by ring, accuracy by distance to the nearest training
    cell, centre (ring 0), inner (ring <= h/2) and border (ring h) accuracy, and the hole size
    (test cells below 50%)."""
    split, acc = np.asarray(split), np.asarray(accuracy, dtype=float)
    ring, square, dist = np.asarray(ring), np.asarray(square), np.asarray(dist_train)
    test, train = split == "test", split == "train"
    out = {"train_acc": _mean(acc[train]), "test_acc": _mean(acc[test]),
           "n_train": int(train.sum()), "n_test": int(test.sum())}
    if (split == "unused").any():
        out["unused_acc"] = _mean(acc[split == "unused"])
    hole = test & (acc < HOLE_THRESHOLD)
    out["hole_size"] = int(hole.sum())
    out["hole_frac"] = float(hole.sum() / max(test.sum(), 1))
    if squares:
        h = np.array([s[2] for s in squares])
        inside = test & (square >= 0)
        out["square_acc"] = _mean(acc[inside])
        own_h = h[np.maximum(square, 0)]
        out["centre_acc"] = _mean(acc[inside & (ring == 0)])
        out["inner_acc"] = _mean(acc[inside & (2 * ring <= own_h)])  # the square's inner half
        out["border_acc"] = _mean(acc[inside & (ring == own_h)])
        for r in np.unique(ring[inside]):
            out[f"ring_acc/{int(r)}"] = _mean(acc[inside & (ring == r)])
    held = split != "train"
    for d in np.unique(dist[held]):
        out[f"dist_acc/{int(d)}"] = _mean(acc[held & (dist == d)])
    return out


GENERALIZED = 0.9  # a length counts as solved at this accuracy


def summarize_lengths(split, accuracy, n_digits, train_digits: tuple[int, int], step_acc=None) -> dict:
    """A length trial: train/test accuracy, accuracy (and step accuracy) per digit count of the test
    problems, on the trained lengths (``id_acc``) and on longer ones (``ood_acc``), and ``reach``:
    the longest length up to which every tested length is solved (accuracy >= ``GENERALIZED``)."""
    split, acc, n = np.asarray(split), np.asarray(accuracy, dtype=float), np.asarray(n_digits)
    test, train = split == "test", split == "train"
    lo, hi = train_digits
    out = {"train_acc": _mean(acc[train]), "test_acc": _mean(acc[test]),
           "n_train": int(train.sum()), "n_test": int(test.sum()),
           "id_acc": _mean(acc[test & (n >= lo) & (n <= hi)]), "ood_acc": _mean(acc[test & (n > hi)])}
    reach = 0
    for length in np.unique(n[test]):
        at = test & (n == length)
        out[f"len_acc/{int(length)}"] = _mean(acc[at])
        if step_acc is not None:
            out[f"len_step_acc/{int(length)}"] = _mean(np.asarray(step_acc)[at])
        if reach == length - 1 and out[f"len_acc/{int(length)}"] >= GENERALIZED:
            reach = int(length)
    out["reach"] = reach
    if step_acc is not None:
        out["step_acc"] = _mean(np.asarray(step_acc)[test])
    return out
