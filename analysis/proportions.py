"""Proportions and contingency tests shared by the access, outcome and site analyses."""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import pandas as pd

from .contingency import CHI2_METHOD, chi2_homogeneity, expected_counts, tested_table
from .results import Z95

WILSON_METHOD = "Wilson score 95% CI"
EXACT_SEED = 20240227
EXACT_RESAMPLES = 20_000
MAX_ENUMERATED_TABLES = 200_000
EXACT_METHOD = {
    "kx2": ("Fisher-Freeman-Halton exact test (Fisher's exact test for 2 x 2): all tables with the observed "
            "margins enumerated, p = total probability of tables no more likely than the observed; 'Not known' excluded"),
    "monte carlo": (f"Fisher-Freeman-Halton test with the p-value by Monte Carlo: {EXACT_RESAMPLES:,} random tables "
                    f"with the observed margins (multivariate hypergeometric, seed {EXACT_SEED}); 'Not known' excluded"),
}


def wilson(successes, trials) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score 95% interval (as proportions); NaN where there are no trials."""
    x, n = np.asarray(successes, dtype=float), np.asarray(trials, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = x / n
        centre = (p + Z95 ** 2 / (2 * n)) / (1 + Z95 ** 2 / n)
        half = Z95 * np.sqrt(p * (1 - p) / n + Z95 ** 2 / (4 * n ** 2)) / (1 + Z95 ** 2 / n)
        # At the boundaries the limits are exactly 0 and 1 (centre - half is 0 only up to rounding: 7e-16).
        low = np.where(x == 0, 0.0, np.clip(centre - half, 0.0, 1.0))
        high = np.where(x == n, 1.0, np.clip(centre + half, 0.0, 1.0))
    return np.where(n > 0, low, np.nan), np.where(n > 0, high, np.nan)


def cochran_sparse(table: pd.DataFrame) -> bool:
    """Cochran's rule is broken: an expected count below 1, or more than 20% below 5."""
    tested = tested_table(table)
    if tested.shape[0] < 2 or tested.shape[1] < 2:
        return False
    expected = expected_counts(tested.to_numpy(dtype=float))
    return bool(expected.min() < 1 or (expected < 5).mean() > 0.2)


LOOKUP_UP_TO = 100_000


@lru_cache(maxsize=2)
def _log_factorial_table(largest: int) -> np.ndarray:
    return np.array([math.lgamma(k + 1) for k in range(largest + 1)])


def log_factorial(values: np.ndarray) -> np.ndarray:
    """log(n!) elementwise for whole numbers n >= 0, by math.lgamma: from a table for small n, else on each
    distinct value."""
    values = np.asarray(values, dtype=float)
    largest = int(values.max(initial=0))
    if largest <= LOOKUP_UP_TO:
        return _log_factorial_table(1 << max(largest, 1023).bit_length())[values.astype(np.int64)]
    distinct, where = np.unique(values, return_inverse=True)
    return np.array([math.lgamma(v + 1) for v in distinct])[where].reshape(values.shape)


def _log_table_probability(sizes: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """log P(table | margins) for k x 2 tables given as the first column's cells (rows of `cells`)."""
    log_choose = lambda n, x: log_factorial(n) - log_factorial(x) - log_factorial(n - x)  # noqa: E731
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


def _monte_carlo_k_by_2(sizes: np.ndarray, observed: np.ndarray) -> float:
    rng = np.random.default_rng(EXACT_SEED)
    draws = rng.multivariate_hypergeometric(sizes.astype(np.int64), int(observed.sum()), size=EXACT_RESAMPLES)
    log_p = _log_table_probability(sizes, draws.astype(float))
    observed_log_p = _log_table_probability(sizes, observed.astype(float)[None, :])[0]
    # (1 + as extreme) / (1 + resamples), as scipy.stats.monte_carlo_test and R's simulate.p.value do
    return float((1 + (log_p <= observed_log_p + 1e-7).sum()) / (1 + EXACT_RESAMPLES))


def exact_test(table: pd.DataFrame) -> tuple[float, str]:
    """Exact test of a k x 2 (or 2 x k) table: enumerated when small enough, else seeded Monte Carlo."""
    tested = tested_table(table).to_numpy()
    if tested.shape[0] < 2 or tested.shape[1] < 2:
        return float("nan"), EXACT_METHOD["kx2"]
    if 2 not in tested.shape:
        raise ValueError(f"exact test implemented for k x 2 tables, not {tested.shape}")
    k_by_2 = tested if tested.shape[1] == 2 else tested.T
    sizes, first = k_by_2.sum(axis=1), k_by_2[:, 0]
    if np.prod(np.minimum(sizes, first.sum()) + 1.0) <= MAX_ENUMERATED_TABLES:
        return _enumerated_k_by_2(sizes, first), EXACT_METHOD["kx2"]
    return _monte_carlo_k_by_2(sizes, first), EXACT_METHOD["monte carlo"]


def homogeneity_tests(table: pd.DataFrame) -> dict:
    """Pearson chi-squared (no continuity correction) and the exact alternative, with a sparseness flag."""
    chi2 = chi2_homogeneity(table)
    exact_p, exact_method = exact_test(table)
    return {"chi2": chi2["chi2"], "df": chi2["df"], "p": chi2["p"], "min_expected": chi2["min_expected"],
            "sparse": cochran_sparse(table), "exact_p": exact_p, "chi2_method": CHI2_METHOD,
            "exact_method": exact_method}
