"""The numbers behind ``caseray analyze probe`` (``caseray.trial.probe``), numpy only: the geometry of
the number embeddings (PCA, DFT over the number axis), ridge probes of a hidden state with their
held-out R², attention at ``=`` on a = b against a != b cells of the same sums, and how the failed
cells' errors and margins go with |d| and s. Every function takes plain arrays, so each is tested on a
planted answer (``tests/test_probe.py``)."""

from __future__ import annotations

import numpy as np

RIDGE = 1e-3  # ridge strength, as a share of the mean eigenvalue of the centred Gram matrix
TOP = 5  # frequencies named


def embedding_geometry(rows: np.ndarray, low: int, components: int = 3) -> dict:
    """Rows = the embeddings of numbers low, low + 1, ... in order (N x D). PCA of the centred matrix
    (its SVD): the share of variance per component and each number's first ``components`` scores; a
    DFT over the number axis: the share of the (centred) energy per frequency k = 0..N//2 (k cycles
    over the N numbers, period N / k; one-sided, so the shares add up to 1 by Parseval), the top ones
    named."""
    x = np.asarray(rows, dtype=np.float64)
    x = x - x.mean(0)
    n = len(x)
    _, sing, vt = np.linalg.svd(x, full_matrices=False)
    var = sing ** 2
    share = var / var.sum() if var.sum() > 0 else np.zeros_like(var)
    scores = x @ vt[:components].T
    power = (np.abs(np.fft.rfft(x, axis=0)) ** 2).sum(1)
    power[1:(n + 1) // 2] *= 2  # the negative frequencies' half (the Nyquist term, k = N/2, has none)
    energy = power / (n * (x ** 2).sum()) if (x ** 2).sum() > 0 else np.zeros_like(power)
    top = np.argsort(-energy[1:], kind="stable")[:TOP] + 1
    return {"numbers": [int(low), int(low + n - 1)], "dim": int(x.shape[1]),
            "pca_share": share[:10].tolist(), "pca_cumulative": np.cumsum(share)[:10].tolist(),
            "pc_scores": scores.T.tolist(), "dft_share": energy.tolist(),
            "top_frequencies": [{"k": int(k), "period": n / k, "share": float(energy[k])} for k in top]}


def ridge_fit(x: np.ndarray, y: np.ndarray, alpha: float = RIDGE):
    """A linear map x -> y (y: n or n x t) by ridge regression in closed form, x and y centred (an
    intercept, unpenalised); the penalty is ``alpha`` times the mean eigenvalue of x's centred Gram
    matrix, so it means the same for states of any scale (states that never vary predict y's mean).
    Returns ``predict(x)``."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    mx, my = x.mean(0), y.mean(0)
    xc = x - mx
    gram = xc.T @ xc
    lam = alpha * np.trace(gram) / max(1, gram.shape[0]) or 1.0  # (constant states: w = 0, the mean)
    w = np.linalg.solve(gram + lam * np.eye(gram.shape[0]), xc.T @ (y - my))
    return lambda z: (np.asarray(z, dtype=np.float64) - mx) @ w + my


def r2(y: np.ndarray, pred: np.ndarray) -> float:
    """Variance explained, 1 - SSE / SST about the set's own mean (all columns of y together); NaN with
    fewer than 2 rows or no variance."""
    y, pred = np.asarray(y, dtype=np.float64), np.asarray(pred, dtype=np.float64)
    sst = ((y - y.mean(0)) ** 2).sum()
    return float(1 - ((y - pred) ** 2).sum() / sst) if len(y) > 1 and sst > 0 else float("nan")


def rmse(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(y, float) - pred) ** 2))) if len(y) else float("nan")


TARGETS = {"s": ("s",), "|d|": ("|d|",), "d": ("d",), "s,|d|": ("s", "|d|"), "s,d": ("s", "d")}


def targets(a: np.ndarray, b: np.ndarray) -> dict[str, np.ndarray]:
    return {"s": (a + b).astype(float), "|d|": np.abs(a - b).astype(float), "d": (a - b).astype(float)}


def layer_probes(states: np.ndarray, a: np.ndarray, b: np.ndarray, fit: np.ndarray, sets: dict[str, np.ndarray],
                 alpha: float = RIDGE) -> dict:
    """Per layer of ``states`` (cells x layers x D): ridge probes fit on the ``fit`` cells for each of
    ``TARGETS`` (single targets and the pairs s,|d| and s,d), scored on each boolean mask of ``sets``:
    ``{"r2": {set: {target: [per layer]}}, "rmse": ...}``."""
    values = targets(a, b)
    out = {"r2": {k: {t: [] for t in TARGETS} for k in sets}, "rmse": {k: {t: [] for t in TARGETS} for k in sets}}
    for layer in range(states.shape[1]):
        x = states[:, layer]
        for name, parts in TARGETS.items():
            y = np.stack([values[p] for p in parts], 1)
            predict = ridge_fit(x[fit], y[fit], alpha)
            for set_name, mask in sets.items():
                pred = predict(x[mask]) if mask.any() else y[mask]
                out["r2"][set_name][name].append(r2(y[mask], pred))
                out["rmse"][set_name][name].append(rmse(y[mask], pred))
    return out


def attention_by_sum(a: np.ndarray, b: np.ndarray, to_a: np.ndarray, to_b: np.ndarray) -> dict:
    """Attention from ``=`` to the a and b tokens (``to_a``, ``to_b``: cells x layers x heads) on the
    a = b cells against the a != b cells of the same sums: per sum s with both kinds, each kind's mean,
    then the mean over those sums (each sum counts once). ``by_sum``: per sum, the total (to a + to b)
    of each kind, layers x heads."""
    s, eq = a + b, a == b
    sums = sorted(set(s[eq].tolist()) & set(s[~eq].tolist()))
    kinds = {"eq": eq, "neq": ~eq}
    means = {f"{k}_to_{side}": [] for k in kinds for side in "ab"}
    for value in sums:
        for k, mask in kinds.items():
            rows = mask & (s == value)
            means[f"{k}_to_a"].append(to_a[rows].mean(0))
            means[f"{k}_to_b"].append(to_b[rows].mean(0))
    shape = to_a.shape[1:]
    out = {k: (np.mean(v, 0) if v else np.full(shape, np.nan)) for k, v in means.items()}
    by_sum = {k: (np.asarray(means[f"{k}_to_a"]) + np.asarray(means[f"{k}_to_b"])) if sums else np.zeros((0, *shape))
              for k in kinds}
    return {"sums": sums, **{k: v.tolist() for k, v in out.items()},
            "eq_minus_neq": (out["eq_to_a"] + out["eq_to_b"] - out["neq_to_a"] - out["neq_to_b"]).tolist(),
            "by_sum": {k: v.tolist() for k, v in by_sum.items()}}


def correlation(x: np.ndarray, y: np.ndarray) -> dict:
    """Pearson and Spearman (Pearson of ranks, ties averaged) over the rows where both are finite; NaN
    with fewer than 3 such rows or a constant column."""
    from scipy.stats import rankdata

    keep = np.isfinite(x) & np.isfinite(y)
    x, y = np.asarray(x, float)[keep], np.asarray(y, float)[keep]
    if len(x) < 3 or x.std() == 0 or y.std() == 0:
        return {"n": int(len(x)), "pearson": float("nan"), "spearman": float("nan")}
    return {"n": int(len(x)), "pearson": float(np.corrcoef(x, y)[0, 1]),
            "spearman": float(np.corrcoef(rankdata(x), rankdata(y))[0, 1])}


def failure_correlations(a: np.ndarray, b: np.ndarray, error: np.ndarray, margin: np.ndarray) -> dict:
    """How the numeric error (prediction - answer), its size and the logit margin at the first answer
    token go with |d| and s: ``{quantity: {"|d|": correlation, "s": correlation}}``."""
    values = targets(a, b)
    return {q: {t: correlation(v, values[t]) for t in ("|d|", "s")}
            for q, v in (("error", error), ("|error|", np.abs(error)), ("margin", margin))}
