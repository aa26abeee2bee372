"""Per-cell results -> summary metrics of a trial (pure numpy: also used on synthetic results).

Names (every grid trial):
- ``exact_acc``: greedy, the whole target (steps and answer) right, over the test cells; the
  location metrics (``train_acc``, ``test_acc``, ``square_acc``, ``centre_acc``, ``inner_acc``,
  ``border_acc``, ``ring_acc/r``, ``dist_acc/d``, ``hole_size``) are exact accuracies too.
- ``answer_acc``: greedy, the final answer right whatever the steps, over the test cells; with
  ``answer_`` in front, the same location metrics for it.
- ``sample_``: the same location metrics for sampled answers (``eval.samples`` > 0).
- ``ring_slope``: the least-squares slope of exact accuracy against x = 1 - ring / h (0 on the
  square's border, 1 at its centre) over the square's cells: about centre minus border; negative
  when accuracy falls towards the centre (a hole). ``ring_slope_lo`` / ``_hi``: a 95% bootstrap
  interval over the square's cells. With several squares, ``sq<k>/...`` per square.
- A region split (``caseray.data.regions``): ``depth_acc/d``, exact accuracy of the held-out cells
  at depth d (1 on the region's border, growing inward), and ``part_acc/k`` of those whose first
  hold part is k.
- ``hole_depth`` (added once the paired control trial has finished, ``paired_metrics``): the
  control's exact test accuracy minus the centre's; ``inner_depth`` the same for the inner half.
"""

from __future__ import annotations

import numpy as np

from caseray.core.stats import bootstrap_slope

HOLE_THRESHOLD = 0.5  # a test cell below this accuracy is part of the hole
BOOTSTRAP = 1000  # resamples for the ring slope's interval
BOOTSTRAP_SEED = 0  # fixed: the interval is a function of the trial's cells


def _mean(x) -> float:
    return float(np.mean(x)) if len(x) else float("nan")


def ring_slope(acc, ring, h, resamples: int = BOOTSTRAP) -> tuple[float, float, float]:
    """(slope, 2.5%, 97.5%) of accuracy against x = 1 - ring / h over one or more squares' cells
    (each cell with its own square's h); nan when x does not vary (a single-cell square)."""
    x = 1 - np.asarray(ring, dtype=float) / np.maximum(np.asarray(h), 1)
    return bootstrap_slope(x, acc, resamples, BOOTSTRAP_SEED)


def _square_stats(acc, ring, own_h, inside) -> dict:
    """Square, centre, inner-half and border accuracy and the ring slope of the cells ``inside``."""
    out = {"square_acc": _mean(acc[inside]), "centre_acc": _mean(acc[inside & (ring == 0)]),
           "inner_acc": _mean(acc[inside & (2 * ring <= own_h)]),  # the square's inner half
           "border_acc": _mean(acc[inside & (ring == own_h)])}
    out["ring_slope"], out["ring_slope_lo"], out["ring_slope_hi"] = ring_slope(acc[inside], ring[inside],
                                                                               own_h[inside])
    return out


def _located(split, acc, ring, square, squares) -> dict:
    """Train/test accuracy and, with squares, the square statistics (all, and per square when several)."""
    test, train = split == "test", split == "train"
    out = {"train_acc": _mean(acc[train]), "test_acc": _mean(acc[test])}
    if squares:
        h = np.array([s[2] for s in squares])
        own_h = h[np.maximum(square, 0)]
        inside = test & (square >= 0)
        out.update(_square_stats(acc, ring, own_h, inside))
        if len(squares) > 1:
            for k in range(len(squares)):
                out.update({f"sq{k}/{key}": v for key, v in
                            _square_stats(acc, ring, own_h, inside & (square == k)).items()})
    return out


def summarize(split, accuracy, ring, square, dist_train, squares, answer=None, sampled=None) -> dict:
    """Exact accuracy by place (train, test, square by ring, distance to the nearest training cell,
    centre / inner half / border, ring slope) and the hole size (test cells below 50%); with
    ``answer`` / ``sampled`` per-cell accuracies, their own ``answer_`` / ``sample_`` metrics."""
    split, acc = np.asarray(split), np.asarray(accuracy, dtype=float)
    ring, square, dist = np.asarray(ring), np.asarray(square), np.asarray(dist_train)
    test, train = split == "test", split == "train"
    out = _located(split, acc, ring, square, squares)
    out.update({"exact_acc": out["test_acc"], "n_train": int(train.sum()), "n_test": int(test.sum())})
    if (split == "unused").any():
        out["unused_acc"] = _mean(acc[split == "unused"])
    hole = test & (acc < HOLE_THRESHOLD)
    out["hole_size"] = int(hole.sum())
    out["hole_frac"] = float(hole.sum() / max(test.sum(), 1))
    if squares:
        inside = test & (square >= 0)
        for r in np.unique(ring[inside]):
            out[f"ring_acc/{int(r)}"] = _mean(acc[inside & (ring == r)])
    held = split != "train"
    for d in np.unique(dist[held]):
        out[f"dist_acc/{int(d)}"] = _mean(acc[held & (dist == d)])
    for prefix, other in (("answer_", answer), ("sample_", sampled)):
        if other is not None:
            out.update({prefix + k: v for k, v in _located(split, np.asarray(other, dtype=float), ring, square,
                                                           squares).items()})
    if answer is not None:
        out["answer_acc"] = out["answer_test_acc"]
    return out


def region_metrics(split, accuracy, depth, part) -> dict:
    """A region split's held-out cells: exact accuracy by depth and by (first) hold part."""
    test, acc = np.asarray(split) == "test", np.asarray(accuracy, dtype=float)
    depth, part = np.asarray(depth), np.asarray(part)
    out = {f"depth_acc/{int(d)}": _mean(acc[test & (depth == d)]) for d in np.unique(depth[test])}
    out.update({f"part_acc/{int(k)}": _mean(acc[test & (part == k)]) for k in np.unique(part[test])})
    return out


def paired_metrics(trial: dict, control: dict) -> dict:
    """A square trial against its paired random-split control (same size, task, model, seed):
    ``hole_depth`` = control test accuracy - centre accuracy, ``inner_depth`` for the inner half,
    ``control_acc``; per square with several squares."""
    ctrl = control["test_acc"]
    out = {"control_acc": ctrl}
    for key in [k for k in trial if k == "centre_acc" or k.endswith("/centre_acc")]:
        prefix = key[:-len("centre_acc")]
        out[prefix + "hole_depth"] = ctrl - trial[key]
        out[prefix + "inner_depth"] = ctrl - trial[prefix + "inner_acc"]
    return out


GENERALIZED = 0.9  # a length counts as solved at this accuracy


def reach_of(accuracy_by_length: dict) -> int:
    """The longest length up to which every tested length from 1 is solved (accuracy >= ``GENERALIZED``)."""
    reach = 0
    for length in sorted(accuracy_by_length):
        if length == reach + 1 and accuracy_by_length[length] >= GENERALIZED:
            reach = int(length)
    return reach


def family_metrics(split, accuracy, n_digits, family, answer_digits) -> dict:
    """Per problem family (length data version 3): ``family_acc/<f>``, ``family_len_acc/<f>/<n>`` and
    ``family_reach/<f>`` (as ``reach``, within the family), and ``answer_digits_acc/<k>`` by the digit
    count of the true answer, over the test problems."""
    test, acc = np.asarray(split) == "test", np.asarray(accuracy, dtype=float)
    n, family, answer_digits = np.asarray(n_digits), np.asarray(family), np.asarray(answer_digits)
    out = {}
    for f in np.unique(family[test]):
        at = test & (family == f)
        out[f"family_acc/{f}"] = _mean(acc[at])
        by_length = {int(length): _mean(acc[at & (n == length)]) for length in np.unique(n[at])}
        out.update({f"family_len_acc/{f}/{length}": value for length, value in by_length.items()})
        out[f"family_reach/{f}"] = reach_of(by_length)
    out.update({f"answer_digits_acc/{int(k)}": _mean(acc[test & (answer_digits == k)])
                for k in np.unique(answer_digits[test])})
    return out


def summarize_lengths(split, accuracy, n_digits, train_digits: tuple[int, int], step_acc=None, answer=None) -> dict:
    """A length trial: train/test exact accuracy, accuracy (and step accuracy) per length of the test
    problems (the longer operand's digits, every family together), on the trained lengths (``id_acc``)
    and on longer ones (``ood_acc``), and ``reach``: the longest length up to which every tested length
    is solved (accuracy >= ``GENERALIZED``). With ``answer`` (greedy final answer right),
    ``answer_acc`` and its ``answer_len_acc/n``."""
    split, acc, n = np.asarray(split), np.asarray(accuracy, dtype=float), np.asarray(n_digits)
    test, train = split == "test", split == "train"
    lo, hi = train_digits
    out = {"train_acc": _mean(acc[train]), "test_acc": _mean(acc[test]),
           "n_train": int(train.sum()), "n_test": int(test.sum()),
           "id_acc": _mean(acc[test & (n >= lo) & (n <= hi)]), "ood_acc": _mean(acc[test & (n > hi)])}
    by_length = {}
    for length in np.unique(n[test]):
        at = test & (n == length)
        out[f"len_acc/{int(length)}"] = by_length[int(length)] = _mean(acc[at])
        if step_acc is not None:
            out[f"len_step_acc/{int(length)}"] = _mean(np.asarray(step_acc)[at])
    out["reach"] = reach_of(by_length)
    out["exact_acc"] = out["test_acc"]
    if answer is not None:
        answer = np.asarray(answer, dtype=float)
        out["answer_acc"] = _mean(answer[test])
        out.update({f"answer_len_acc/{int(n_)}": _mean(answer[test & (n == n_)]) for n_ in np.unique(n[test])})
    if step_acc is not None:
        out["step_acc"] = _mean(np.asarray(step_acc)[test])
    return out
