"""Proportions and contingency tests shared by the access, outcome and site analyses."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import gammaln
from statsmodels.stats.proportion import proportion_confint

from analysis.stats.contingency import CHI2_METHOD, chi2_homogeneity, tested_table

WILSON_METHOD = "Wilson score 95% CI (statsmodels proportion_confint)"
EXACT_SEED = 20240227
EXACT_RESAMPLES = 20_000
MAX_ENUMERATED_TABLES = 200_000
EXACT_METHOD = {
    "kx2": ("Fisher-Freeman-Halton exact test (Fisher's exact test for 2 x 2, by scipy.stats.fisher_exact): "
            "all tables with the observed margins enumerated, p = total probability of tables no more likely than the observed; 'Not known' excluded"),
    "monte carlo": (f"Fisher-Freeman-Halton test with the p-value by Monte Carlo: {EXACT_RESAMPLES:,} random tables "
                    f"with the observed margins (scipy.stats.fisher_exact, MonteCarloMethod, seed {EXACT_SEED}); "
                    "'Not known' excluded"),
}


def wilson(successes, trials) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score 95% interval (as proportions) by statsmodels' proportion_confint(method="wilson"); NaN
    where there are no trials. The boundaries are set exactly: statsmodels' lower limit for no successes is 0
    only up to rounding (up to 2.8e-17 for n <= 100,000, as centre - half cancels), its upper limit for all
    successes up to 2.2e-16 below 1; a trust's report must show 0 as 0."""
    x, n = np.asarray(successes, dtype=float), np.asarray(trials, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        low, high = (np.asarray(limit, dtype=float) for limit in proportion_confint(x, n, method="wilson"))
    low, high = np.where(x == 0, 0.0, low), np.where(x == n, 1.0, high)
    return np.where(n > 0, low, np.nan), np.where(n > 0, high, np.nan)


def cochran_sparse(table: pd.DataFrame) -> bool:
    """Cochran's rule is broken: an expected count below 1, or more than 20% below 5."""
    tested = tested_table(table)
    if tested.shape[0] < 2 or tested.shape[1] < 2:
        return False
    expected = stats.contingency.expected_freq(tested.to_numpy(dtype=float))
    return bool(expected.min() < 1 or (expected < 5).mean() > 0.2)


def _log_table_probability(sizes: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """log P(table | margins) for k x 2 tables given as the first column's cells (rows of `cells`)."""
    log_choose = lambda n, x: gammaln(n + 1) - gammaln(x + 1) - gammaln(n - x + 1)  # noqa: E731
    return log_choose(sizes, cells).sum(axis=-1) - log_choose(sizes.sum(), cells.sum(axis=-1))


def _enumerated_k_by_2(sizes: np.ndarray, observed: np.ndarray) -> float:
    """Exact p-value of a k x 2 table: every table with the same row and column totals, by its probability."""
    total = int(observed.sum())
    grids = np.meshgrid(*[np.arange(0, int(min(n, total)) + 1) for n in sizes[:-1]], indexing="ij")
    heads = np.column_stack([g.ravel() for g in grids]) if len(grids) else np.zeros((1, 0), dtype=np.int64)
    last = total - heads.sum(axis=1)
    keep = (last >= 0) & (last <= sizes[-1])
    tables = np.column_stack([heads[keep], last[keep]]).astype(float)
    log_p = _log_table_probability(sizes, tables)
    observed_log_p = _log_table_probability(sizes, observed.astype(float)[None, :])[0]
    return float(min(1.0, np.exp(log_p[log_p <= observed_log_p + 1e-7]).sum()))


def _monte_carlo(table: np.ndarray) -> float:
    """The Monte Carlo p-value of scipy.stats.fisher_exact(method=MonteCarloMethod), seeded: tables drawn by
    scipy.stats.random_table with the observed margins, each table's probability as the statistic, and
    scipy.stats.monte_carlo_test's (1 + tables as or less likely) / (1 + draws). Called through
    monte_carlo_test directly because scipy 1.17's fisher_exact tells one table from a batch by comparing the
    number of cells with the table's total, and raises once the total reaches draws x cells (a 3 x 2 table of
    124,000 people at 20,000 draws). The draws and the p-value are the same as fisher_exact's where it works."""
    shape = table.shape
    tables = stats.random_table(table.sum(axis=1), table.sum(axis=0), seed=np.random.default_rng(EXACT_SEED))
    result = stats.monte_carlo_test(
        table.ravel(), lambda size: tables.rvs(size=size[0]).reshape(size),
        lambda cells, axis: tables.pmf(cells.reshape(cells.shape[:-1] + shape)),  # one table, or a batch
        alternative="less", n_resamples=EXACT_RESAMPLES)
    return float(result.pvalue)


def exact_test(table: pd.DataFrame) -> tuple[float, str]:
    """Exact test of a k x 2 (or 2 x k) table: scipy's fisher_exact for 2 x 2; every table enumerated for a
    larger one when small enough (scipy has no exact r x c test: its default is a 9,999-draw Monte Carlo),
    else scipy's Monte Carlo, seeded."""
    tested = tested_table(table).to_numpy()
    if tested.shape[0] < 2 or tested.shape[1] < 2:
        return float("nan"), EXACT_METHOD["kx2"]
    if 2 not in tested.shape:
        raise ValueError(f"exact test implemented for k x 2 tables, not {tested.shape}")
    if tested.shape == (2, 2):
        return float(stats.fisher_exact(tested).pvalue), EXACT_METHOD["kx2"]
    k_by_2 = tested if tested.shape[1] == 2 else tested.T
    sizes, first = k_by_2.sum(axis=1), k_by_2[:, 0]
    with np.errstate(over="ignore"):  # hundreds of groups: the count of tables overflows to inf, too many
        tables = np.prod(np.minimum(sizes, first.sum()) + 1.0)
    if tables <= MAX_ENUMERATED_TABLES:
        return _enumerated_k_by_2(sizes, first), EXACT_METHOD["kx2"]
    return _monte_carlo(k_by_2), EXACT_METHOD["monte carlo"]


def homogeneity_tests(table: pd.DataFrame, exact: bool = True) -> dict:
    """Pearson chi-squared (no continuity correction) and, unless exact=False, the exact alternative, with a
    sparseness flag."""
    chi2 = chi2_homogeneity(table)
    exact_p, exact_method = exact_test(table) if exact else (float("nan"), "not computed")
    return {"chi2": chi2["chi2"], "df": chi2["df"], "p": chi2["p"], "min_expected": chi2["min_expected"],
            "sparse": cochran_sparse(table), "exact_p": exact_p, "chi2_method": CHI2_METHOD,
            "exact_method": exact_method}
