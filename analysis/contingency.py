"""Chi-squared tests on contingency tables, with the "Not known" rule applied in one place."""
from __future__ import annotations

import pandas as pd
from scipy import stats

from .contract import NOT_KNOWN

CHI2_METHOD = "Pearson chi-squared test of homogeneity, no continuity correction; 'Not known' excluded"


def tested_table(table: pd.DataFrame) -> pd.DataFrame:
    """Drop the 'Not known' group and any group or column with no one in it, as every test here does."""
    table = table.drop(index=[NOT_KNOWN], errors="ignore").drop(columns=[NOT_KNOWN], errors="ignore")
    table = table.loc[table.sum(axis=1) > 0, table.sum(axis=0) > 0]
    return table


def chi2_homogeneity(table: pd.DataFrame) -> dict:
    """Pearson chi-squared on a table of counts (groups by columns), without continuity correction."""
    tested = tested_table(table)
    if tested.shape[0] < 2 or tested.shape[1] < 2:
        return {"chi2": float("nan"), "df": 0, "p": float("nan"), "min_expected": float("nan")}
    result = stats.chi2_contingency(tested.to_numpy(), correction=False)
    return {"chi2": float(result.statistic), "df": int(result.dof), "p": float(result.pvalue),
            "min_expected": float(result.expected_freq.min())}
