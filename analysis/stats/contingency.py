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


def counts_table(rows: pd.Series, columns: pd.Series) -> pd.DataFrame:
    """pd.crosstab(rows, columns) for two columns of one frame without missing values, counted by codes: the
    same counts under the same sorted labels, at a tenth of the cost (crosstab pivots a frame; the generator
    and the robustness draws build thousands of these small tables)."""
    if not rows.index.equals(columns.index):
        raise ValueError("counts_table: rows and columns of different people (crosstab would align them)")
    row_codes, row_labels = pd.factorize(rows, sort=True)
    column_codes, column_labels = pd.factorize(columns, sort=True)
    if (row_codes < 0).any() or (column_codes < 0).any():
        raise ValueError("counts_table: a missing value (crosstab would drop it; say which rows to count)")
    width = len(column_labels)
    counts = np.bincount(row_codes * width + column_codes, minlength=len(row_labels) * width)
    return pd.DataFrame(counts.reshape(len(row_labels), width), index=pd.Index(row_labels, name=rows.name),
                        columns=pd.Index(column_labels, name=columns.name))


def chi2_homogeneity(table: pd.DataFrame) -> dict:
    """Pearson chi-squared on a table of counts (groups by columns), without continuity correction, by
    scipy.stats.chi2_contingency."""
    tested = tested_table(table)
    if tested.shape[0] < 2 or tested.shape[1] < 2:
        return {"chi2": float("nan"), "df": 0, "p": float("nan"), "min_expected": float("nan")}
    test = stats.chi2_contingency(tested.to_numpy(dtype=float), correction=False)
    return {"chi2": float(test.statistic), "df": int(test.dof), "p": float(test.pvalue),
            "min_expected": float(test.expected_freq.min())}
