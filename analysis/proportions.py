"""Proportions and contingency tests shared by the access, outcome and site analyses."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from .contingency import CHI2_METHOD, chi2_homogeneity, tested_table

WILSON_METHOD = "Wilson score 95% CI"
EXACT_SEED = 20240227
EXACT_RESAMPLES = 20_000
MAX_ENUMERATED_TABLES = 200_000
EXACT_METHOD = {
    "2x2": "Fisher's exact test, two-sided (2x2 table)",
    "kx2": ("Fisher-Freeman-Halton exact test (all tables with the observed margins enumerated; p = total "
            "probability of tables no more likely than the observed); 'Not known' excluded"),
    "rxc": (f"Fisher-Freeman-Halton test: table probability as statistic, p-value by Monte Carlo over "
            f"{EXACT_RESAMPLES:,} random tables with the observed margins (seed {EXACT_SEED}); 'Not known' excluded"),
}


def wilson(successes, trials) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score 95% interval (as proportions); NaN where there are no trials."""
    successes, trials = np.asarray(successes, dtype=float), np.asarray(trials, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        low, high = proportion_confint(successes, np.where(trials > 0, trials, np.nan), alpha=0.05, method="wilson")
    return np.asarray(low), np.asarray(high)


def cochran_sparse(table: pd.DataFrame) -> bool:
    """Cochran's rule is broken: an expected count below 1, or more than 20% below 5."""
    tested = tested_table(table)
    if tested.shape[0] < 2 or tested.shape[1] < 2:
        return False
    expected = stats.contingency.expected_freq(tested.to_numpy())
    return bool(expected.min() < 1 or (expected < 5).mean() > 0.2)


def exact_test(table: pd.DataFrame) -> tuple[float, str]:
    """Fisher's exact test for a 2x2 table; a seeded Monte Carlo Fisher-Freeman-Halton test otherwise."""
    tested = tested_table(table).to_numpy()
    if tested.shape[0] < 2 or tested.shape[1] < 2:
        return float("nan"), EXACT_METHOD["2x2"]
    if tested.shape == (2, 2):
        return float(stats.fisher_exact(tested).pvalue), EXACT_METHOD["2x2"]
    if 2 in tested.shape:
        k_by_2 = tested if tested.shape[1] == 2 else tested.T
        sizes, successes = k_by_2.sum(axis=1), int(k_by_2[:, 0].sum())
        if np.prod(np.minimum(sizes, successes) + 1.0) <= MAX_ENUMERATED_TABLES:
            return _enumerated_k_by_2(sizes, k_by_2[:, 0]), EXACT_METHOD["kx2"]
    method = stats.MonteCarloMethod(n_resamples=EXACT_RESAMPLES, rng=np.random.default_rng(EXACT_SEED))
    return float(stats.fisher_exact(tested, method=method).pvalue), EXACT_METHOD["rxc"]


def _enumerated_k_by_2(sizes: np.ndarray, observed: np.ndarray) -> float:
    """Exact p-value of a k x 2 table: every table with the same row and column totals, by its probability."""
    from itertools import product

    from scipy.special import gammaln

    total = int(observed.sum())
    log_choose = lambda n, x: gammaln(n + 1) - gammaln(x + 1) - gammaln(n - x + 1)  # noqa: E731
    ranges = [range(0, int(min(n, total)) + 1) for n in sizes[:-1]]
    probabilities = []
    for head in product(*ranges):
        last = total - sum(head)
        if 0 <= last <= sizes[-1]:
            cells = np.array(head + (last,))
            probabilities.append(log_choose(sizes, cells).sum())
    log_p = np.array(probabilities) - log_choose(sizes.sum(), total)
    observed_log_p = log_choose(sizes, observed).sum() - log_choose(sizes.sum(), total)
    return float(min(1.0, np.exp(log_p[log_p <= observed_log_p + 1e-7]).sum()))


def homogeneity_tests(table: pd.DataFrame) -> dict:
    """Pearson chi-squared (no continuity correction) and the exact alternative, with a sparseness flag."""
    chi2 = chi2_homogeneity(table)
    exact_p, exact_method = exact_test(table)
    return {"chi2": chi2["chi2"], "df": chi2["df"], "p": chi2["p"], "min_expected": chi2["min_expected"],
            "sparse": cochran_sparse(table), "exact_p": exact_p, "chi2_method": CHI2_METHOD,
            "exact_method": exact_method}
