"""Intervals that stay true under disclosure control: a release may be coarser than the data, never wrong.

Every 95% interval published under a disclosure rule contains the estimate computed on the same data without
the rule, and covers the true value at least as often as the uncontrolled interval, because it contains the
uncontrolled interval:

- **Statistics of published counts** (rates, odds ratios of a 2 x 2 table, representation ratios): a published
  count c stands for any whole number within half a rounding base of it (0 for 0). The interval published is
  the hull of the intervals of every combination of counts the published ones stand for (`count_box`), so it
  contains the interval of the true counts, whatever they are, and nothing about them is used.
- **Summaries of a curve and model estimates fitted on person-level data** (a cumulative incidence or
  survival at a fixed time, a Kaplan-Meier median, a restricted mean, a hazard or odds ratio): computed on
  the person-level data and published on a coarse grid, the point to the nearest step and the limits outward
  (`outward`), so the published interval contains the exact one. The grid is as coarse as the rounding of
  counts: a proportion's step is the share of its group that `base` people make (at least 1 percentage
  point); a time's step is a whole week (`WEEK`); a ratio's is 0.01.
"""
from __future__ import annotations

import warnings
from functools import wraps

import numpy as np
from scipy import stats

from analysis.stats.proportions import wilson
from analysis.core.results import Z95

WEEK = 7.0


def _quiet(function):
    """Hull functions take min and max over grids that are empty where a count is blank: NaN, not a warning."""
    @wraps(function)
    def quiet(*args, **kwargs):
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            return function(*args, **kwargs)
    return quiet


def count_box(published, base: int, threshold: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The whole numbers a published count may stand for under rounding half up to `base` with counts from 1
    to `threshold` blanked: from `base // 2` below it to `base - 1 - base // 2` above (2 either side for a
    base of 5), never below 0. A published 0 is 0 unless the threshold is below what rounds to 0."""
    value = np.asarray(published, dtype=float)
    below, above = base // 2, base - 1 - base // 2
    zero_high = float(above) if threshold < above else 0.0  # e.g. threshold 1, base 5: a 2 rounds to 0
    low = np.where(value == 0, 0.0, np.maximum(value - below, 0.0))
    high = np.where(value == 0, zero_high, value + above)
    return low, high


def _grid(low, high) -> np.ndarray:
    """Every whole number from low to high (a row per published count, padded with NaN)."""
    low, high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    width = int(np.nanmax(np.nan_to_num(high - low, nan=0.0), initial=0)) + 1  # a blank count: no numbers
    grid = low[..., None] + np.arange(width)
    return np.where(grid <= high[..., None], grid, np.nan)


@_quiet
def wilson_hull(positive, n, base: int, threshold: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The hull of the Wilson 95% intervals (as proportions) of every (positive, n) the published counts may
    stand for, with positive <= n."""
    k = _grid(*count_box(positive, base, threshold))[..., :, None]
    m = _grid(*count_box(n, base, threshold))[..., None, :]
    k, m = np.broadcast_arrays(k, m)
    valid = np.isfinite(k) & np.isfinite(m) & (k <= m) & (m > 0)
    low, high = wilson(np.where(valid, k, 0), np.where(valid, m, 1))
    with np.errstate(invalid="ignore"):
        return (np.nanmin(np.where(valid, low, np.nan), axis=(-2, -1)),
                np.nanmax(np.where(valid, high, np.nan), axis=(-2, -1)))


@_quiet
def odds_ratio_hull(positive, n, positive_ref, n_ref, base: int, threshold: int = 0, with_p: bool = False):
    """The hull of the Wald 95% intervals of a group's odds ratio against a reference group, (a/b)/(c/d) with
    a = positive, b = n - positive (and c, d the reference's), over every (positive, n) of the group and the
    reference that the published counts may stand for: the interval of the saturated one-factor logistic
    model, whose odds ratios are those of the 2 x 2 tables. With `with_p`, also the largest Wald p over the
    same tables: it is below 0.05 exactly when the hull excludes 1, so the p and the interval published beside
    it always agree."""
    grids = [_grid(*count_box(x, base, threshold)) for x in (positive, n, positive_ref, n_ref)]
    a, m, c, r = np.broadcast_arrays(grids[0][..., :, None, None, None], grids[1][..., None, :, None, None],
                                     grids[2][..., None, None, :, None], grids[3][..., None, None, None, :])
    b, d = m - a, r - c
    with np.errstate(divide="ignore", invalid="ignore"):
        log_or = np.log(a) - np.log(b) - np.log(c) + np.log(d)
        se = np.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
        low, high = np.exp(log_or - Z95 * se), np.exp(log_or + Z95 * se)
        usable = np.isfinite(low) & np.isfinite(high) & (b > 0) & (d > 0)
        axes = (-4, -3, -2, -1)
        hull = np.nanmin(np.where(usable, low, np.nan), axis=axes), np.nanmax(np.where(usable, high, np.nan), axis=axes)
        if not with_p:
            return hull
        p = 2 * stats.norm.sf(np.abs(log_or) / se)
        return (*hull, np.nanmax(np.where(usable, p, np.nan), axis=axes))


@_quiet
def difference_hull(positive, n, positive_ref, n_ref, base: int, threshold: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The hull of Newcombe's hybrid score 95% intervals of a difference in rates p - p_ref (as statsmodels'
    confint_proportions_2indep(method="newcomb") computes it, from the two Wilson intervals) over every
    (positive, n) of both groups that the published counts may stand for."""
    grids = [_grid(*count_box(x, base, threshold)) for x in (positive, n, positive_ref, n_ref)]
    a, m, c, r = np.broadcast_arrays(grids[0][..., :, None, None, None], grids[1][..., None, :, None, None],
                                     grids[2][..., None, None, :, None], grids[3][..., None, None, None, :])
    usable = np.isfinite(a) & np.isfinite(m) & np.isfinite(c) & np.isfinite(r) & (a <= m) & (c <= r) & (m > 0) & (r > 0)
    a, m, c, r = (np.where(usable, v, 1.0) for v in (a, m, c, r))
    l1, u1 = wilson(a, m)
    l2, u2 = wilson(c, r)
    p1, p2 = a / m, c / r
    low = p1 - p2 - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = p1 - p2 + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    axes = (-4, -3, -2, -1)
    with np.errstate(invalid="ignore"):
        return np.nanmin(np.where(usable, low, np.nan), axis=axes), np.nanmax(np.where(usable, high, np.nan), axis=axes)


@_quiet
def ratio_hull(a, big_a, c, big_c, base: int, threshold: int, se_of) -> tuple[np.ndarray, np.ndarray]:
    """The hull of the 95% intervals of a representation ratio (a/A)/(c/C), log-scale with the standard error
    se_of(a, A, c, C), over every a and c the published counts may stand for and the extremes of the totals
    A and C (given as (low, high) pairs, each at least its group's count)."""
    ga, gc = _grid(*count_box(a, base, threshold)), _grid(*count_box(c, base, threshold))
    lows, highs = [], []
    for total_a in big_a:
        for total_c in big_c:
            x, y = np.broadcast_arrays(ga[..., :, None], gc[..., None, :])
            ta = np.maximum(np.asarray(total_a, dtype=float)[..., None, None], x)
            tc = np.maximum(np.asarray(total_c, dtype=float)[..., None, None], y)
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = (x / ta) / (y / tc)
                se = se_of(x, ta, y, tc)
                lows.append(np.nanmin(np.where(np.isfinite(se), ratio * np.exp(-Z95 * se), np.nan), axis=(-2, -1)))
                highs.append(np.nanmax(np.where(np.isfinite(se), ratio * np.exp(Z95 * se), np.nan), axis=(-2, -1)))
    with np.errstate(invalid="ignore"):
        return np.nanmin(lows, axis=0), np.nanmax(highs, axis=0)


def outward(estimate, low, high, step) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An estimate and its interval on a grid of `step`: the estimate to the nearest step, the limits outward
    (down and up), so the interval published contains the exact one. NaN stays NaN."""
    step = np.asarray(step, dtype=float)
    with np.errstate(invalid="ignore"):
        return (step * np.floor(np.asarray(estimate, dtype=float) / step + 0.5),
                step * np.floor(np.asarray(low, dtype=float) / step + 1e-9),
                step * np.ceil(np.asarray(high, dtype=float) / step - 1e-9))


def percent_step(n, base: int) -> np.ndarray:
    """The grid of a percentage of a group of n people: the share `base` people make, at least 1 point, in
    whole points (so a published share says no more about its numerator than a count rounded to `base`)."""
    n = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.maximum(1.0, np.ceil(100 * base / np.where(n > 0, n, np.nan)))


def days_step(n, base: int, horizon: float) -> np.ndarray:
    """The grid of a restricted mean over `horizon` days for n people: whole weeks, coarser where `base`
    people each moving the whole horizon would move the mean by more than a week."""
    n = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return WEEK * np.maximum(1.0, np.ceil(base * horizon / (WEEK * np.where(n > 0, n, np.nan))))
