"""Equity of access and outcome, and between-site variation: the published figures (R3, R8-R12, the Making
IPS Work table) read back from key_results at their published precision, and regression baselines."""
from decimal import Decimal

import pandas as pd
import pytest

from analysis.data.calibration import round_half_up
from test_survival_results import EQUITY_PREFIXES, ESTIMATE_TOLERANCE, _regression_frame, key


def published(value, decimals):
    return Decimal(str(round_half_up(value, decimals)))


def test_R3_outcome_rate(analysed):
    r = key(analysed, "outcome_rate_pct")
    assert published(r["value"], 1) == Decimal("46.2")
    assert r["conf_low"] < r["value"] < r["conf_high"] and r["n"] == 539


def test_R8_reach(analysed):
    assert published(key(analysed, "reach_pct")["value"], 1) == Decimal("8.7")


@pytest.mark.parametrize("group, rate", [("Mixed", "47.8"), ("Asian", "44.2"), ("Black", "43.4")])
def test_R9_rates_by_ethnic_group(analysed, group, rate):
    assert published(key(analysed, "outcome_rate_pct", "ethnicity", group)["value"], 1) == Decimal(rate)


def test_R10_ethnic_minorities_over_represented(analysed):
    assert key(analysed, "access_p", "ethnicity")["value"] < 0.05
    for group in ("Black", "Asian", "Mixed", "Other"):
        assert key(analysed, "representation_ratio", "ethnicity", group)["value"] > 1


@pytest.mark.parametrize("factor", ["diagnosis", "ethnicity", "age_band", "gender"])
def test_R11_no_significant_outcome_difference(analysed, factor):
    for measure in ("outcome_p", "outcome_exact_p", "logit_lr_p_unadjusted", "logit_lr_p_adjusted"):
        assert key(analysed, measure, factor)["value"] >= 0.05, measure


def test_R12_rates_for_every_diagnosis_group(analysed):
    for group in ("Psychosis", "Bipolar", "Depression or anxiety", "Personality disorder", "Other", "Not known"):
        assert 0 < key(analysed, "outcome_rate_pct", "diagnosis", group)["value"] < 100


@pytest.mark.parametrize("site, rate", [("Berkshire", 31), ("Bradford", 40), ("Lincolnshire", 38),
                                        ("Luton & Bedfordshire", 43), ("Northamptonshire", 19), ("Wiltshire", 41)])
def test_making_ips_work_site_rates(analysed, site, rate):
    assert published(key(analysed, "site_job_rate_pct", "site", site)["value"], 0) == Decimal(rate)


def test_making_ips_work_totals_and_outliers(analysed):
    assert key(analysed, "site_jobs_total")["value"] == 421
    assert key(analysed, "site_pooled_rate_pct")["n"] == 1161
    assert key(analysed, "site_pooled_rate_pct")["value"] == pytest.approx(100 * 421 / 1161)
    rates = analysed[1]["sites_rates"].set_index("site")
    assert rates.loc["Northamptonshire", "outside_99.8"] == "below"
    assert rates.loc["Luton & Bedfordshire", "outside_95"] == "above"
    assert rates.loc["Luton & Bedfordshire", "outside_99.8"] == ""


def test_the_extracts_own_sites_are_analysed_beside_the_site_table(analysed, synthetic):
    """The Making IPS Work table stays the site analysis; the synthetic extract's five boroughs are analysed
    beside it, people in work over people referred, under measures of their own."""
    own = analysed[1]["own_sites_rates"].set_index("site")
    in_work = synthetic["outcome"].isin(["gained_employment", "retained_employment"])
    assert own["referrals"].to_dict() == synthetic.groupby("site", observed=True).size().to_dict()
    assert own["jobs"].to_dict() == in_work.groupby(synthetic["site"], observed=True).sum().to_dict()
    assert key(analysed, "own_site_pooled_rate_pct")["n"] == 539
    assert key(analysed, "own_site_pooled_rate_pct")["value"] == pytest.approx(100 * in_work.mean())
    assert key(analysed, "own_site_job_rate_pct", "site", "Kingston")["n"] == own.loc["Kingston", "referrals"]
    assert key(analysed, "site_pooled_rate_pct")["n"] == 1161  # the table's analysis is not mixed with them


def test_without_a_site_table_the_extracts_sites_are_the_site_analysis(synthetic):
    from analysis.pipeline import run_analyses

    keys, tables = run_analyses(synthetic, pd.Timestamp("2024-02-27"))
    assert "own_sites_rates" not in tables and set(tables["sites_rates"]["site"]) == set(synthetic["site"])
    assert not keys["measure"].str.startswith("own_site").any()


def test_sensitivity_analysis_is_reported(analysed):
    assert key(analysed, "outcome_rate_pct_12m_window")["n"] <= 539


def test_equity_key_results_regression(analysed, dataframe_regression):
    table = analysed[0]
    equity = table[table["measure"].str.startswith(EQUITY_PREFIXES)]
    dataframe_regression.check(_regression_frame(equity), basename="equity_key_results",
                               default_tolerance=ESTIMATE_TOLERANCE)


@pytest.mark.parametrize("name", ["access_composition", "access_tests", "outcome_rates", "outcome_tests",
                                  "outcome_logit", "outcome_logit_lr", "sites_rates", "sites_summary",
                                  "own_sites_rates", "own_sites_summary"])
def test_equity_tables_regression(analysed, dataframe_regression, name):
    dataframe_regression.check(_regression_frame(analysed[1][name]), basename=name,
                               default_tolerance=ESTIMATE_TOLERANCE)
