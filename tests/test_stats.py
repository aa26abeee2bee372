"""core.stats against oracles it does not use: scipy's interval, printed t tables, the standard
library's stdev, scipy's linregress, and a coverage simulation."""

import math
import statistics

import numpy as np
import pytest
from scipy import stats as scipy_stats

from caseray.core.stats import bootstrap_slope, column_std, ols_slope, sample_std, t_interval

# two-sided 95% Student-t quantiles, as printed in any statistics table
PRINTED_T = {2: 4.303, 5: 2.571, 11: 2.201, 15: 2.131, 20: 2.086, 30: 2.042, 31: 2.040, 60: 2.000}


@pytest.mark.parametrize("n", [2, 3, 5, 12, 16, 32, 101])
def test_t_interval_is_scipys(n):
    values = np.random.default_rng(n).normal(0.6, 0.1, n)
    mean, std, lo, hi, count = t_interval(values)
    expected = scipy_stats.t.interval(0.95, n - 1, loc=values.mean(), scale=scipy_stats.sem(values))
    assert count == n and (lo, hi) == pytest.approx(expected, abs=1e-12)
    assert std == pytest.approx(statistics.stdev(values.tolist()))


@pytest.mark.parametrize("df", sorted(PRINTED_T))
def test_t_interval_width_matches_the_printed_table(df):
    values = np.arange(df + 1, dtype=float)
    mean, std, lo, hi, n = t_interval(values)
    assert (hi - mean) * math.sqrt(n) / std == pytest.approx(PRINTED_T[df], abs=6e-4)


def test_t_interval_covers_the_true_mean_95_percent_of_the_time():
    # 12 seeds (df 11), where the old hand table's 2.09 covered 93.9%: 40,000 draws put the
    # estimate within 0.0011 (one sd) of the truth
    draws = np.random.default_rng(0).normal(0.0, 1.0, (40_000, 12))
    covered = [(lo <= 0 <= hi) for _, _, lo, hi, _ in map(t_interval, draws)]
    assert 0.945 <= np.mean(covered) <= 0.955


def test_nothing_or_one_value_has_no_spread():
    assert t_interval([])[4] == 0 and math.isnan(t_interval([])[0])
    mean, std, lo, hi, n = t_interval([0.7, None, float("nan")])
    assert (mean, n) == (0.7, 1) and math.isnan(std) and math.isnan(lo) and math.isnan(hi)
    assert math.isnan(sample_std([0.5])) and sample_std([1.0, None, 3.0]) == pytest.approx(math.sqrt(2))


def test_column_std_is_the_sample_std_of_each_columns_numbers():
    stack = np.array([[0.1, 0.5, np.nan, 1.0], [0.3, np.nan, np.nan, 0.0], [0.8, 0.7, 0.2, 0.5]])
    got = column_std(stack)
    assert got[0] == pytest.approx(statistics.stdev([0.1, 0.3, 0.8]))
    assert got[1] == pytest.approx(statistics.stdev([0.5, 0.7]))
    assert math.isnan(got[2])  # one number
    assert got[3] == pytest.approx(statistics.stdev([1.0, 0.0, 0.5]))


def test_slope_is_linregress_and_its_bootstrap_brackets_it():
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 1, 60)
    y = 0.8 - 0.5 * x + rng.normal(0, 0.05, 60)
    fit = scipy_stats.linregress(x, y)
    assert float(ols_slope(x, y)) == pytest.approx(fit.slope)
    slope, lo, hi = bootstrap_slope(x, y, 1000, seed=0)
    assert slope == pytest.approx(fit.slope) and lo < slope < hi
    assert hi - lo == pytest.approx(2 * 1.96 * fit.stderr, rel=0.2)  # the normal-theory width
    assert bootstrap_slope(x, y, 1000, seed=0) == (slope, lo, hi)  # a function of the points and seed
    assert all(math.isnan(v) for v in bootstrap_slope(np.ones(5), y[:5], 100, seed=0))
