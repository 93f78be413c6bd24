"""Chi-squared tests on contingency tables, with the "Not known" rule applied in one place."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from analysis.core.contract import NOT_KNOWN

CHI2_METHOD = ("Pearson chi-squared test of homogeneity (scipy chi2_contingency), no continuity correction; "
               "'Not known' excluded")


def tested_table(table: pd.DataFrame) -> pd.DataFrame:
    """Drop the 'Not known' group and any group or column with no one in it, as every test here does."""
    values = table.to_numpy(dtype=float)
    rows = np.asarray(table.index.astype(str) != NOT_KNOWN)
    columns = np.asarray(table.columns.astype(str) != NOT_KNOWN)
    occupied_rows = values[:, columns].sum(axis=1) > 0
    occupied_columns = values[rows].sum(axis=0) > 0
    return table.iloc[np.flatnonzero(rows & occupied_rows), np.flatnonzero(columns & occupied_columns)]


def chi2_homogeneity(table: pd.DataFrame) -> dict:
    """Pearson chi-squared on a table of counts (groups by columns), without continuity correction, by
    scipy.stats.chi2_contingency."""
    tested = tested_table(table)
    if tested.shape[0] < 2 or tested.shape[1] < 2:
        return {"chi2": float("nan"), "df": 0, "p": float("nan"), "min_expected": float("nan")}
    test = stats.chi2_contingency(tested.to_numpy(dtype=float), correction=False)
    return {"chi2": float(test.statistic), "df": int(test.dof), "p": float(test.pvalue),
            "min_expected": float(test.expected_freq.min())}
