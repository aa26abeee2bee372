"""Statistics, in one place: one std, one interval, one slope.

Conventions every table, figure and parent run shares (``LEGEND`` says them once in each report):
- ``std`` is the *sample* standard deviation (ddof 1) -- over seeds, the unit of replication --
  and nan below two values;
- an interval is the Student-t 95% interval of the mean (``scipy.stats.t``);
- a slope is the least-squares slope; its interval a 95% percentile bootstrap over the points.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

CONFIDENCE = 0.95
LEGEND = ("mean ± std: std is the sample standard deviation (ddof 1) over seeds; [low, high]: the "
          "Student-t 95% interval of the mean")


def finite(values) -> np.ndarray:
    """The values that are numbers (None and nan dropped), as floats."""
    return np.array([v for v in values if v is not None and not math.isnan(v)], dtype=float)


def sample_std(values) -> float:
    """Sample standard deviation (ddof 1) of the finite values; nan below two."""
    vals = finite(values)
    return float(vals.std(ddof=1)) if len(vals) > 1 else math.nan


def column_std(stack: np.ndarray) -> np.ndarray:
    """Per column of a (trials, points) array: the sample std of its finite values; nan below two."""
    stack = np.asarray(stack, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # (a column of fewer than two: nan below)
        std = np.nanstd(stack, axis=0, ddof=1)
    return np.where(np.sum(~np.isnan(stack), axis=0) > 1, std, np.nan)


def t_interval(values, confidence: float = CONFIDENCE) -> tuple[float, float, float, float, int]:
    """(mean, std, low, high, n) of the finite values: the Student-t interval of the mean with n - 1
    degrees of freedom; nan std and bounds below two values, all nan for none."""
    from scipy import stats

    vals = finite(values)
    n = len(vals)
    if n == 0:
        return math.nan, math.nan, math.nan, math.nan, 0
    mean = float(vals.mean())
    if n < 2:
        return mean, math.nan, math.nan, math.nan, 1
    std = float(vals.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
    return mean, std, mean - half, mean + half, n


def ols_slope(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares slope of y on x along the last axis (rows of resamples at once); nan where x
    does not vary."""
    xc = x - x.mean(-1, keepdims=True)
    var = (xc ** 2).sum(-1)
    return np.where(var > 0, (xc * (y - y.mean(-1, keepdims=True))).sum(-1) / np.where(var > 0, var, 1), np.nan)


def bootstrap_slope(x, y, resamples: int, seed: int) -> tuple[float, float, float]:
    """(slope, 2.5%, 97.5%): the OLS slope and its percentile bootstrap interval over the points,
    a pure function of the points and ``seed``. Hand-written, not ``scipy.stats.bootstrap``: a
    resample whose x does not vary (likely on a small square) has no slope, and is left out here,
    where scipy's percentile interval turns nan; nan when x itself does not vary."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 2 or np.ptp(x) == 0:
        return math.nan, math.nan, math.nan
    idx = np.random.default_rng(seed).integers(0, len(x), size=(resamples, len(x)))
    lo, hi = np.nanpercentile(ols_slope(x[idx], y[idx]), [2.5, 97.5])
    return float(ols_slope(x, y)), float(lo), float(hi)
