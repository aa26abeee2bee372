"""A per-cell hole predictor: the probability that a held-out cell fails, from what its split alone
decides (nothing the model did), fitted by logistic regression (scikit-learn) on some squares and
scored on squares it was not fitted on.

Features of a held-out cell (a, b) with s = a + b and d = |a - b|, on a grid of side n:
- ``dist_train``: L-inf distance to the nearest training cell (the near-by-cases reading);
- ``depth``: 1 - ring / h, 1 at the square's centre, 0 on its border;
- ``diagonal``: d / n, how far the cell is from a = b;
- ``below_trained_d``: how far d lies below every training cell's d on the same anti-diagonal
  a + b = s, / n (0 when some training cell of that sum is as near the diagonal; the fold reading: a
  cell the model must reach by extrapolating d towards 0);
- ``above_trained_d``: the same past the largest trained d of that sum;
- ``same_sum_gap``: |d - d'| to the nearest training cell (a', b') of the same sum, / n (the
  interpolation gap along the anti-diagonal; n where the sum has no training cell);
- ``mirror_trained``: (b, a) is a training cell;
- ``operand_counts``: training cells sharing the cell's a plus those sharing its b, / (2n);
- ``sum_count``: training cells of the same sum (the same answer), / n -- 0 where a split empties a sum;
- ``length_class_count``: training cells whose operands have the cell's digit counts, / all training
  cells -- small where a split empties most of a length class (one operand 0-9).

Hand-written where exactness matters (the features are counts on the grid); the fit and the AUC are
scikit-learn's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from caseray.data.splits import make_split, resolve_squares
from caseray.data.tasks import build_task
from caseray.report.holes import square_records

FEATURES = ("dist_train", "depth", "diagonal", "below_trained_d", "above_trained_d", "same_sum_gap",
            "mirror_trained", "operand_counts", "sum_count", "length_class_count")


def cell_features(a, b, split, ring, h, dist_train) -> np.ndarray:
    """[cells, FEATURES] for the test cells of one split (``h``: the half-width of each cell's square)."""
    a, b, ring, h, dist_train = (np.asarray(x) for x in (a, b, ring, h, dist_train))
    train = np.asarray(split) == "train"
    test = np.asarray(split) == "test"
    side = grid_side(a, b)
    s, d = a + b, np.abs(a - b)
    lo, hi = np.full(s.max() + 1, np.inf), np.full(s.max() + 1, -np.inf)
    np.minimum.at(lo, s[train], d[train])
    np.maximum.at(hi, s[train], d[train])
    lo_t = np.where(np.isinf(lo[s]), side, lo[s])
    hi_t = np.where(np.isinf(hi[s]), 0, hi[s])
    trained = {(int(x), int(y)) for x, y in zip(a[train], b[train])}
    mirror = np.array([(int(y), int(x)) in trained for x, y in zip(a, b)], dtype=float)
    count_a = np.bincount(a[train], minlength=a.max() + 1)
    count_b = np.bincount(b[train], minlength=b.max() + 1)
    sums = np.bincount(s[train], minlength=s.max() + 1)
    length = np.char.str_len(a.astype(str)) * 10 + np.char.str_len(b.astype(str))  # (digit counts below 10)
    classes = {k: int(v) for k, v in zip(*np.unique(length[train], return_counts=True))}
    columns = [dist_train, 1 - ring / np.maximum(h, 1), d / side, np.maximum(0, lo_t - d) / side,
               np.maximum(0, d - hi_t) / side, _same_sum_gap(s, d, train, side) / side, mirror,
               (count_a[a] + count_b[b]) / (2 * side), sums[s] / side,
               np.array([classes.get(int(k), 0) for k in length]) / max(int(train.sum()), 1)]
    return np.stack([np.asarray(c, dtype=float)[test] for c in columns], axis=1)


def _same_sum_gap(s, d, train, side: int) -> np.ndarray:
    """Per cell, |d - d'| to the nearest training cell of the same sum (``side`` where there is none)."""
    trained: dict[int, np.ndarray] = {}
    for key in np.unique(s[train]):
        trained[int(key)] = np.sort(d[train & (s == key)])
    out = np.full(len(s), float(side))
    for i, (key, di) in enumerate(zip(s.tolist(), d.tolist())):
        ds = trained.get(key)
        if ds is not None:
            out[i] = np.abs(ds - di).min()
    return out


@dataclass
class CellData:
    """The held-out cells of square trials: features, failed (1) or not, and each cell's position
    (centre, h) and trial, for leaving positions out."""

    x: np.ndarray
    failed: np.ndarray
    position: list  # (centre, h) per cell
    trial: list
    centre_cell: np.ndarray  # the cell is its square's centre

    def subset(self, keep: np.ndarray) -> CellData:
        idx = np.flatnonzero(keep)
        return CellData(self.x[idx], self.failed[idx], [self.position[i] for i in idx],
                        [self.trial[i] for i in idx], self.centre_cell[idx])


MODELS = ("logistic", "boosted")  # the fitted predictor's model (``fit``)


def fit(data: CellData, model: str = "logistic"):
    """Failure on the features: a standardized logistic regression (``logistic``: one weight per
    feature, readable) or gradient-boosted trees (``boosted``: scikit-learn's histogram GBM, which can
    combine features -- e.g. the fold feature mattering only deep in a square)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if model not in MODELS:
        raise ValueError(f"unknown model {model!r} (one of {', '.join(MODELS)})")
    if len(set(data.failed.tolist())) < 2:
        raise ValueError("the cells fitted on all failed or all passed: nothing to fit")
    if model == "boosted":
        return HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, max_leaf_nodes=15,
                                              random_state=0).fit(data.x, data.failed)
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(data.x, data.failed)


def auc(model, data: CellData) -> float:
    """Per-cell ROC AUC of the predicted failure probability (NaN when one class is missing)."""
    return score_auc(model.predict_proba(data.x)[:, 1], data.failed)


def position_calls(model, data: CellData) -> list[tuple[tuple, bool, bool]]:
    """Per (position, trial): (position, predicted hole, observed hole) -- a hole: the centre cell fails
    (predicted: probability >= 0.5)."""
    centre = data.subset(data.centre_cell)
    if not len(centre.failed):
        return []
    p = model.predict_proba(centre.x)[:, 1]
    return [(pos, bool(q >= 0.5), bool(f)) for pos, q, f in zip(centre.position, p, centre.failed)]


def leave_positions_out(data: CellData, folds: int = 5, model: str = "logistic") -> tuple[float, list]:
    """Per-cell AUC and position calls, each position predicted by a model fitted without it."""
    positions = sorted(set(data.position))
    calls, probs, truth = [], [], []
    for k in range(min(folds, len(positions))):
        out = {p for i, p in enumerate(positions) if i % folds == k}
        held = np.array([p in out for p in data.position])
        fitted = fit(data.subset(~held), model)
        test = data.subset(held)
        probs += fitted.predict_proba(test.x)[:, 1].tolist()
        truth += test.failed.tolist()
        calls += position_calls(fitted, test)
    return score_auc(np.array(probs), np.array(truth)), calls


def call_accuracy(calls) -> tuple[float, float]:
    """Share of positions called right, and the majority-class baseline's share."""
    if not calls:
        return float("nan"), float("nan")
    observed = [o for _, _, o in calls]
    right = np.mean([p == o for _, p, o in calls])
    return float(right), float(max(np.mean(observed), 1 - np.mean(observed)))


def grid_side(a, b) -> int:
    """Values per axis of the grid the cells (a, b) cover: what the features are measured in."""
    return int(max(a.max(), b.max()) - min(a.min(), b.min()) + 1)


def square_features(a, b, split, ring, square, dist_train, squares) -> np.ndarray:
    """``cell_features`` of a square split, each cell's half-width read from the square holding it."""
    h = np.array([squares[k][2] if k >= 0 else 0 for k in square])
    return cell_features(a, b, split, ring, h, dist_train)


def split_features(task, spec) -> tuple:
    """A square split not yet run (``spec``: a SplitSpec on ``task``): its cells, squares and test
    cells' features."""
    split, squares = make_split(task, spec), resolve_squares(task, spec)
    return split, squares, square_features(split.a, split.b, split.split, split.ring, split.square,
                                           split.dist_train, squares)


def trial_cells(record) -> tuple[dict, list, np.ndarray]:
    """A square trial's cells (as arrays), its squares, and its test cells' features."""
    squares = resolve_squares(build_task(record.spec.task), record.spec.split)
    c = {k: record.cells[k].to_numpy(zero_copy_only=False) for k in ("a", "b", "split", "ring", "square",
                                                                       "dist_train", "accuracy")}
    return c, squares, square_features(c["a"], c["b"], c["split"], c["ring"], c["square"], c["dist_train"],
                                       squares)


def cell_data(records, group_of) -> dict[tuple, CellData]:
    """{group: CellData} over the held-out cells of every square trial (``group_of(record)``: its group)."""
    parts: dict[tuple, list] = {}
    for r in square_records(records):
        c, squares, x = trial_cells(r)
        test = c["split"] == "test"
        k = c["square"][test]
        parts.setdefault(group_of(r), []).append(CellData(
            x, (c["accuracy"][test] < 1).astype(int), [(tuple(squares[i][:2]), squares[i][2]) for i in k],
            [r.name] * len(k), c["ring"][test] == 0))
    return {g: CellData(np.concatenate([p.x for p in ps]), np.concatenate([p.failed for p in ps]),
                        [q for p in ps for q in p.position], [t for p in ps for t in p.trial],
                        np.concatenate([p.centre_cell for p in ps])) for g, ps in parts.items()}


def coefficients(model) -> dict[str, float]:
    """The fitted weights on the standardized features (positive: more likely to fail); boosted trees
    have none (empty)."""
    if not hasattr(model, "steps"):
        return {}
    return dict(zip(FEATURES, model[-1].coef_[0].round(3).tolist()))


REACH = 2  # the fold-reach rule: a centre fails when its d lies more than this outside its sum's trained d


def fold_reach(records, group_of, reach: int = REACH) -> dict[tuple, tuple[list, np.ndarray, np.ndarray]]:
    """Per group, the fold-reach rule (no parameter fitted): its calls (position, predicted, observed) per
    square trial's centre -- predicted: the centre's d lies more than ``reach`` cells below or above every
    d trained for its sum; observed: the centre fails -- and over every held-out cell its score (those
    cells, ``reach_steps``) and whether it failed (for a per-cell AUC)."""
    parts: dict[tuple, tuple[list, list, list]] = {}
    for r in square_records(records):
        c, squares, x = trial_cells(r)
        test = c["split"] == "test"
        steps, failed, at = reach_steps(x, grid_side(c["a"], c["b"])), c["accuracy"][test] < 1, c["ring"][test] == 0
        calls, scores, fails = parts.setdefault(group_of(r), ([], [], []))
        for k, step, bad in zip(c["square"][test][at], steps[at], failed[at]):
            calls.append(((tuple(squares[k][:2]), squares[k][2]), bool(step > reach + 1e-9), bool(bad)))
        scores.append(steps)
        fails.append(failed)
    return {g: (calls, np.concatenate(s), np.concatenate(f)) for g, (calls, s, f) in parts.items()}


def score_auc(scores: np.ndarray, failed: np.ndarray) -> float:
    """Per-cell ROC AUC of a failure score (NaN when one class is missing)."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(failed, scores)) if len(set(failed.tolist())) > 1 else float("nan")


def reach_steps(x: np.ndarray, side: int) -> np.ndarray:
    """Per cell (rows of ``cell_features``), how many cells its d lies outside the d trained for its sum
    (the fold-reach rule calls a hole past ``REACH``)."""
    below, above = FEATURES.index("below_trained_d"), FEATURES.index("above_trained_d")
    return np.maximum(x[:, below], x[:, above]) * side


def seed_bracket(records, group_of) -> dict[tuple, tuple[float, float]]:
    """Per group, how well any predictor of the split alone could rank one seed's failing held-out
    cells, bracketed from the seeds themselves. A split's features are the same in every seed, so the
    best score a cell can get is its failure probability over seeds: estimated from the *other* seeds
    of the same trial (a low estimate: a few seeds make a coarse score) and from *every* seed, the
    scored one included (a high one: it has seen the answer). Trials alone in their split are skipped
    (a group with no split of two seeds is absent); NaN where a group's cells all failed or all passed."""
    splits: dict[tuple, dict[int, tuple]] = {}
    for r in square_records(records):
        c = r.cells
        test = c["split"].to_numpy(zero_copy_only=False) == "test"
        cells = sorted(zip(c["a"].to_numpy()[test].tolist(), c["b"].to_numpy()[test].tolist(),
                           (c["accuracy"].to_numpy()[test] < 1).tolist()))
        key = (group_of(r), replace(r.spec, seed=0).hash)  # (the split and everything else but the seed)
        splits.setdefault(key, {})[r.spec.seed] = np.array([f for _, _, f in cells], dtype=float)
    parts: dict[tuple, tuple[list, list, list]] = {}
    for (group, _), seeds in splits.items():
        if len(seeds) < 2:
            continue
        everyone = np.mean(list(seeds.values()), axis=0)
        others, every, failed = parts.setdefault(group, ([], [], []))
        for seed, f in seeds.items():
            others.append(np.mean([g for s, g in seeds.items() if s != seed], axis=0))
            every.append(everyone)
            failed.append(f)
    return {g: (score_auc(np.concatenate(o), np.concatenate(f)), score_auc(np.concatenate(e), np.concatenate(f)))
            for g, (o, e, f) in parts.items()}
