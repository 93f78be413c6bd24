"""Intervals that stay true under disclosure control (#22): the coverage study, and the interval functions
the release uses checked against the libraries on exact counts.

The study draws a few hundred trusts of 40 to 2,000 people from known distributions (seeded) and, for each
kind of key result with a CI, computes the uncontrolled estimate and CI and the interval an `nhs` release
publishes, by the same functions the release uses (analysis/stats/intervals.py, analysis/release/rules.py). Every
published interval must contain the uncontrolled estimate (100%), and cover the generating value at least as
often as the uncontrolled interval, less one point."""
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep

from analysis.stats import intervals
from analysis.release import PRESETS, published_counts
from analysis.stats.survival import aalen_johansen, kaplan_meier, km_median, restricted_mean_time_lost, step_at
from analysis.stats.cox import cox_efron
from analysis.stats.proportions import wilson
from analysis.core.results import MONTH_DAYS

NHS = PRESETS["nhs"]
RNG_SEED = 2202
TRUSTS = 300


def sizes(rng, count=TRUSTS) -> np.ndarray:
    """Trust sizes from 40 to 2,000, log-uniform."""
    return np.rint(np.exp(rng.uniform(np.log(40), np.log(2000), count))).astype(int)


def shown(values) -> np.ndarray:
    return published_counts(values, NHS)


class Tally:
    """For one kind of result: how often the released interval holds the uncontrolled estimate, and how often
    each interval covers the truth."""

    def __init__(self):
        self.contains, self.released, self.uncontrolled = [], [], []

    def add(self, estimate, low, high, released_low, released_high, truth):
        if not (np.isfinite(released_low) and np.isfinite(released_high)):
            return  # blank under the rule: nothing published, nothing to be wrong
        self.contains.append(released_low - 1e-9 <= estimate <= released_high + 1e-9)
        self.released.append(released_low <= truth <= released_high)
        self.uncontrolled.append(low <= truth <= high)

    def check(self, name):
        assert len(self.contains) >= 100, (name, len(self.contains))
        assert np.mean(self.contains) == 1.0, (name, np.mean(self.contains))
        assert np.mean(self.released) >= np.mean(self.uncontrolled) - 0.01, name
        return np.mean(self.contains), np.mean(self.released), np.mean(self.uncontrolled)


def test_a_rate_from_rounded_counts_keeps_its_interval_true():
    rng = np.random.default_rng(RNG_SEED)
    tally = Tally()
    for n in sizes(rng):
        p = rng.uniform(0.1, 0.9)
        k = rng.binomial(n, p)
        low, high = wilson(k, n)
        if np.isnan(shown(k)) or np.isnan(shown(n - k)):
            continue
        released = intervals.wilson_hull(shown(k), shown(n), NHS.base, NHS.threshold)
        tally.add(k / n, low, high, *released, p)
    tally.check("rate")


def test_an_odds_ratio_from_rounded_counts_keeps_its_interval_true():
    rng = np.random.default_rng(RNG_SEED + 1)
    tally = Tally()
    for n in sizes(rng):
        n1 = max(10, int(n * rng.uniform(0.1, 0.4)))
        n0 = n - n1
        p0, p1 = rng.uniform(0.2, 0.7), rng.uniform(0.2, 0.7)
        a, c = rng.binomial(n1, p1), rng.binomial(n0, p0)
        b, d = n1 - a, n0 - c
        if min(a, b, c, d) == 0:
            continue
        se = np.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
        log_or = np.log(a * d / (b * c))
        truth = p1 / (1 - p1) / (p0 / (1 - p0))
        if np.isnan(shown([a, b, c, d])).any():
            continue  # a group's statistics are blank under the rule: nothing published
        *released, p_max = intervals.odds_ratio_hull(shown(a), shown(n1), shown(c), shown(n0), NHS.base,
                                                     NHS.threshold, with_p=True)
        tally.add(np.exp(log_or), np.exp(log_or - 1.96 * se), np.exp(log_or + 1.96 * se), *released, truth)
        # the p published beside the interval is at least the exact one, and agrees with the interval
        assert p_max >= 2 * stats.norm.sf(abs(log_or) / se) - 1e-12
        assert (p_max < 0.05) == (released[0] > 1 or released[1] < 1), (a, b, c, d, p_max, released)
    tally.check("odds ratio")


def test_a_difference_of_rates_from_rounded_counts_keeps_its_interval_true():
    rng = np.random.default_rng(RNG_SEED + 2)
    tally = Tally()
    for n in sizes(rng, 150):
        n1 = max(10, int(n * rng.uniform(0.1, 0.4)))
        n0 = n - n1
        p0, p1 = rng.uniform(0.2, 0.7), rng.uniform(0.2, 0.7)
        a, c = rng.binomial(n1, p1), rng.binomial(n0, p0)
        low, high = confint_proportions_2indep(a, n1, c, n0, method="newcomb", compare="diff")
        if np.isnan(shown([a, n1 - a, c, n0 - c])).any():
            continue
        released = intervals.difference_hull(shown(a), shown(n1), shown(c), shown(n0), NHS.base, NHS.threshold)
        tally.add(a / n1 - c / n0, low, high, *released, p1 - p0)
    tally.check("difference")


def test_newcombes_interval_here_is_statsmodels_on_exact_counts():
    for a, n1, c, n0 in ((10, 25, 40, 100), (0, 12, 5, 30), (12, 12, 3, 40), (37, 81, 52, 97)):
        expected = confint_proportions_2indep(a, n1, c, n0, method="newcomb", compare="diff")
        assert intervals.difference_hull(a, n1, c, n0, 1, 0) == pytest.approx(expected, abs=1e-12)


def exponential_cohort(rng, n, job=0.004, competing=0.006):
    """Days to a job or to a competing event (exponential hazards) and censoring (uniform entry over a year,
    followed to 700 days): times, causes (0 censored) and the true incidence of a job by 6 and 12 months."""
    t = np.ceil(rng.exponential(1 / (job + competing), n))
    cause = np.where(rng.random(n) < job / (job + competing), 1, 2)
    censor = np.ceil(rng.uniform(330, 700, n))
    cause = np.where(censor < t, 0, cause)
    return np.minimum(t, censor), cause, lambda days: job / (job + competing) * (1 - np.exp(-(job + competing) * days))


def test_a_cumulative_incidence_read_at_a_fixed_time_keeps_its_interval_true():
    rng = np.random.default_rng(RNG_SEED + 3)
    tallies = {6: Tally(), 12: Tally()}
    for n in sizes(rng):
        time, cause, truth = exponential_cohort(rng, n)
        cif = aalen_johansen(time, cause, of=1)
        for months, tally in tallies.items():
            at = step_at(cif, [months * MONTH_DAYS], ["cif", "conf_low", "conf_high"], before=0.0).iloc[0]
            step = intervals.percent_step(n, NHS.base) / 100
            released = intervals.outward(at["cif"], at["conf_low"], at["conf_high"], step)
            tally.add(at["cif"], at["conf_low"], at["conf_high"], released[1], released[2], truth(months * MONTH_DAYS))
    for months, tally in tallies.items():
        tally.check(f"incidence at {months} months")


def test_a_median_and_a_restricted_mean_keep_their_intervals_true():
    rng = np.random.default_rng(RNG_SEED + 4)
    median, lost = Tally(), Tally()
    hazard = 0.005
    for n in sizes(rng):
        t = np.ceil(rng.exponential(1 / hazard, n))
        censor = np.ceil(rng.uniform(200, 800, n))
        km = kaplan_meier(np.minimum(t, censor), (t <= censor).astype(int))
        value, low, high = km_median(km)
        if np.isfinite(high):
            released = intervals.outward(value, low, high, intervals.WEEK)
            median.add(value, low, high, released[1], released[2], np.log(2) / hazard)
        time, cause, _ = exponential_cohort(rng, n)
        cif = aalen_johansen(time, cause, of=1)
        area, se = restricted_mean_time_lost(cif, 12 * MONTH_DAYS)
        l1, l = 0.004, 0.010
        tau = 12 * MONTH_DAYS
        truth = l1 / l * (tau - (1 - np.exp(-l * tau)) / l)
        released = intervals.outward(area, area - 1.96 * se, area + 1.96 * se,
                                     intervals.days_step(n, NHS.base, tau))
        lost.add(area, area - 1.96 * se, area + 1.96 * se, released[1], released[2], truth)
    median.check("median")
    lost.check("restricted mean time lost")


def test_a_hazard_ratio_at_two_decimals_keeps_its_interval_true():
    rng = np.random.default_rng(RNG_SEED + 5)
    tally = Tally()
    for n in sizes(rng, 200):
        group = (rng.random(n) < 0.4).astype(float)
        t = np.ceil(rng.exponential(1 / (0.004 * np.exp(0.4 * group))))
        censor = np.ceil(rng.uniform(100, 700, n))
        fit = cox_efron(group, np.minimum(t, censor), (t <= censor).astype(float))
        hr, (low, high) = np.exp(fit.coef[0]), np.exp(fit.coef[0] + np.array([-1.96, 1.96]) * fit.se[0])
        released = intervals.outward(hr, low, high, 0.01)
        tally.add(hr, low, high, released[1], released[2], np.exp(0.4))
    tally.check("hazard ratio")


def test_a_representation_ratio_from_rounded_counts_keeps_its_interval_true():
    from analysis.questions.access import ratio_se

    rng = np.random.default_rng(RNG_SEED + 6)
    tally = Tally()
    for n in sizes(rng):
        big_c = int(n * rng.uniform(8, 15))  # the CMHT case-load, of which the n people in IPS are part
        q, p = rng.uniform(0.05, 0.3), None
        p = min(q * rng.uniform(0.8, 1.6), 0.9)  # the group's share of IPS and of the rest of the case-load
        a, b = rng.binomial(n, p), rng.binomial(big_c - n, q)
        c = a + b
        if np.isnan(shown(a)) or a == 0:
            continue
        ratio = (a / n) / (c / big_c)
        se = ratio_se(a, n, c, big_c, nested=True)
        truth = p / ((n * p + (big_c - n) * q) / big_c)
        a_total, c_total = intervals.count_box(shown(n), NHS.base), intervals.count_box(shown(big_c), NHS.base)
        released = intervals.ratio_hull(shown(a), a_total, shown(c), c_total, NHS.base, NHS.threshold,
                                        lambda x, ta, y, tc: ratio_se(x, ta, y, tc, nested=True))
        tally.add(ratio, ratio * np.exp(-1.96 * se), ratio * np.exp(1.96 * se), *released, truth)
    tally.check("representation ratio")
