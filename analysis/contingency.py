"""Chi-squared tests on contingency tables, with the "Not known" rule applied in one place."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .contract import NOT_KNOWN
from scipy import stats

CHI2_METHOD = "Pearson chi-squared test of homogeneity, no continuity correction; 'Not known' excluded"


def tested_table(table: pd.DataFrame) -> pd.DataFrame:
    """Drop the 'Not known' group and any group or column with no one in it, as every test here does."""
    values = table.to_numpy(dtype=float)
    rows = np.asarray(table.index.astype(str) != NOT_KNOWN)
    columns = np.asarray(table.columns.astype(str) != NOT_KNOWN)
    occupied_rows = values[:, columns].sum(axis=1) > 0
    occupied_columns = values[rows].sum(axis=0) > 0
    return table.iloc[np.flatnonzero(rows & occupied_rows), np.flatnonzero(columns & occupied_columns)]


def chi2_homogeneity(table: pd.DataFrame) -> dict:
    """Pearson chi-squared on a table of counts (groups by columns), without continuity correction."""
    tested = tested_table(table)
    if tested.shape[0] < 2 or tested.shape[1] < 2:
        return {"chi2": float("nan"), "df": 0, "p": float("nan"), "min_expected": float("nan")}
    observed = tested.to_numpy(dtype=float)
    expected = expected_counts(observed)
    chi2 = float(((observed - expected) ** 2 / expected).sum())
    df = (observed.shape[0] - 1) * (observed.shape[1] - 1)
    return {"chi2": chi2, "df": df, "p": float(stats.chi2.sf(chi2, df)), "min_expected": float(expected.min())}


def expected_counts(observed: np.ndarray) -> np.ndarray:
    """Expected counts under homogeneity: row total x column total / grand total."""
    return np.outer(observed.sum(axis=1), observed.sum(axis=0)) / observed.sum()
