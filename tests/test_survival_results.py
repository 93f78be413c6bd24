"""The survival results: published figures at their precision, and regression baselines.

Baselines live beside this file (pytest-regressions) and change only through `make regen`. Tolerances:
counts and integer columns exact; estimates rtol 1e-9 (they are deterministic; the tolerance only
absorbs floating-point summation order across platforms).
"""
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from analysis.data.calibration import round_half_up

ESTIMATE_TOLERANCE = {"rtol": 1e-9, "atol": 1e-12}
EQUITY_PREFIXES = ("outcome", "access", "reach", "site", "own_site", "logit", "representation")


def key(analysed, measure, factor="all", level="all"):
    table = analysed[0]
    rows = table[(table["measure"] == measure) & (table["factor"] == factor) & (table["level"] == level)]
    assert len(rows) == 1, (measure, factor, level)
    return rows.iloc[0]


@pytest.mark.parametrize("measure, published, decimals", [
    ("median_days_to_employment", 132, 0),
    ("median_months_to_employment", 4.3, 1),
    ("median_days_in_work_support", 146, 0),
    ("median_months_in_work_support", 4.8, 1),
    ("pct_in_work_support_over_12m", 6.2, 1),
    ("pct_not_requiring_time_unlimited_support", 84.7, 1),
])
def test_published_survival_figures_in_key_results(analysed, measure, published, decimals):
    assert Decimal(str(round_half_up(key(analysed, measure)["value"], decimals))) == Decimal(str(published))


def test_a_majority_employed_by_6_months_and_supported_up_to_6_months_only(analysed):
    assert key(analysed, "pct_employed_within_6m_of_employed")["value"] > 50
    assert key(analysed, "pct_discharged_within_6m_of_discharged")["value"] > 50


def test_competing_risk_cumulative_incidence_is_below_naive_one_minus_km(analysed):
    km = analysed[1]["employment_km"]
    for months in (6, 12, 18):
        cif = key(analysed, "cif_employment_pct", "months", str(months))["value"]
        naive = 100 * (1 - km.loc[km["time"] <= months * 365.25 / 12, "survival"].iloc[-1])
        assert cif <= naive + 1e-9


def test_every_key_row_names_its_method(analysed):
    assert analysed[0]["method"].str.len().min() > 20


def _regression_frame(table: pd.DataFrame) -> pd.DataFrame:
    frame = table.reset_index(drop=True).copy()
    for column in frame.columns:
        if str(frame[column].dtype) == "Int64":
            frame[column] = frame[column].fillna(-1).astype(np.int64)
    return frame


def test_survival_key_results_regression(analysed, dataframe_regression):
    table = analysed[0]
    survival = table[~table["measure"].str.startswith(EQUITY_PREFIXES)]
    dataframe_regression.check(_regression_frame(survival), basename="survival_key_results",
                               default_tolerance=ESTIMATE_TOLERANCE)


@pytest.mark.parametrize("name", ["employment_by_group", "employment_logrank", "employment_cox", "employment_ph_test",
                                  "employment_at_risk", "in_work_by_group", "in_work_logrank", "in_work_cox",
                                  "in_work_ph_test"])
def test_survival_tables_regression(analysed, dataframe_regression, name):
    dataframe_regression.check(_regression_frame(analysed[1][name]), basename=name,
                               default_tolerance=ESTIMATE_TOLERANCE)
