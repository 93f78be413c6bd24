"""One test per published figure (R1-R12 of the brief, the Making IPS Work table), recomputed from the
committed synthetic files with plain pandas/scipy, not from the generator's bookkeeping or the analysis
code, and compared at the precision the figure was published at."""
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pandas as pd
import pytest
from scipy import stats

DATA = Path(__file__).resolve().parent.parent / "data_synthetic"
EXTRACT_DATE = pd.Timestamp("2024-02-27")


def published(value: float, decimals: int) -> Decimal:
    """Round half up, as papers do, to the published number of decimals."""
    return Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


@pytest.fixture(scope="module")
def ips() -> pd.DataFrame:
    frame = pd.read_csv(DATA / "ips_extract.csv", parse_dates=["first_contact_date", "outcome_date",
                                                              "discharge_date"])
    frame["positive"] = frame["outcome"] != "none"
    frame["age_band"] = pd.cut(frame["age"], [0, 18, 25, 35, 45, 55, 200], right=False,
                               labels=["Under 18", "18-24", "25-34", "35-44", "45-54", "55+"])
    return frame


@pytest.fixture(scope="module")
def cmht() -> pd.DataFrame:
    return pd.read_csv(DATA / "reference_population.csv")


@pytest.fixture(scope="module")
def in_work(ips) -> pd.DataFrame:
    rows = ips[ips["outcome"].isin(["gained_employment", "retained_employment"])].copy()
    end = rows["discharge_date"].fillna(EXTRACT_DATE)
    rows["support_days"] = (end - rows["outcome_date"]).dt.days
    rows["discharged"] = rows["discharge_date"].notna()
    return rows


def test_R1_cohort_of_539_first_contacts_in_the_entry_year(ips):
    assert len(ips) == 539
    assert ips["person_id"].is_unique
    assert ips["first_contact_date"].between("2022-04-01", "2023-03-31").all()


def test_R2_nothing_after_the_extract_date_and_dates_in_order(ips):
    for column in ("first_contact_date", "outcome_date", "discharge_date"):
        assert (ips[column].dropna() <= EXTRACT_DATE).all(), column
    assert (ips["outcome_date"].dropna() >= ips.loc[ips["outcome_date"].notna(), "first_contact_date"]).all()
    both = ips.dropna(subset=["outcome_date", "discharge_date"])
    assert (both["discharge_date"] >= both["outcome_date"]).all()
    assert ips.loc[ips["outcome"] == "none", "outcome_date"].isna().all()
    assert ips.loc[ips["outcome"] != "none", "outcome_date"].notna().all()
    assert ips["age"].between(18, 70).all()


def test_R3_outcome_rate_46_2(ips):
    assert ips["positive"].sum() == 249
    assert published(100 * ips["positive"].mean(), 1) == Decimal("46.2")


def test_R4_median_132_days_to_employment_and_majority_by_6_months(ips):
    gained = ips[ips["outcome"] == "gained_employment"]
    days = (gained["outcome_date"] - gained["first_contact_date"]).dt.days
    assert published(days.median(), 0) == Decimal("132")
    assert published(days.median() / (365.25 / 12), 1) == Decimal("4.3")
    assert (days <= 365.25 / 2).mean() > 0.5


def test_R5_median_146_days_of_in_work_support_among_discharged(in_work):
    days = in_work.loc[in_work["discharged"], "support_days"]
    assert published(days.median(), 0) == Decimal("146")
    assert published(days.median() / (365.25 / 12), 1) == Decimal("4.8")


def test_R6_6_2_pct_supported_for_more_than_12_months(in_work):
    assert published(100 * (in_work["support_days"] > 365).mean(), 1) == Decimal("6.2")


def test_R7_84_7_pct_did_not_need_time_unlimited_support(in_work):
    assert published(100 * in_work["discharged"].mean(), 1) == Decimal("84.7")
    discharged = in_work[in_work["discharged"]]
    assert (discharged["support_days"] <= 365.25 / 2).mean() > 0.5  # "a majority up to 6 months only"


def test_R8_reach_8_7_pct_of_the_cmht_case_load(ips, cmht):
    for characteristic, rows in cmht.groupby("characteristic"):
        assert published(100 * len(ips) / rows["count"].sum(), 1) == Decimal("8.7"), characteristic


@pytest.mark.parametrize("group, rate", [("Mixed", "47.8"), ("Asian", "44.2"), ("Black", "43.4")])
def test_R9_outcome_rate_by_ethnic_group(ips, group, rate):
    assert published(100 * ips.loc[ips["ethnicity"] == group, "positive"].mean(), 1) == Decimal(rate)


def test_R10_minority_groups_over_represented_against_cmht(ips, cmht):
    ref = cmht[(cmht["characteristic"] == "ethnicity") & (cmht["category"] != "Not known")]
    ref = ref.set_index("category")["count"]
    own = ips.loc[ips["ethnicity"] != "Not known", "ethnicity"].value_counts().reindex(ref.index, fill_value=0)
    assert stats.chi2_contingency([own.to_numpy(), ref.to_numpy()], correction=False).pvalue < 0.05
    ratio = (own / own.sum()) / (ref / ref.sum())
    for group in ("Black", "Asian", "Mixed", "Other"):
        assert ratio[group] > 1, group


@pytest.mark.parametrize("factor", ["diagnosis", "ethnicity", "age_band", "gender"])
def test_R11_no_significant_outcome_difference(ips, factor):
    known = ips[ips[factor] != "Not known"]
    table = pd.crosstab(known[factor], known["positive"])
    assert stats.chi2_contingency(table.to_numpy(), correction=False).pvalue >= 0.05


def test_R12_rates_reported_for_every_diagnosis_group_including_psychosis_and_personality_disorder(ips):
    rates = ips.groupby("diagnosis")["positive"].mean()
    for group in ("Psychosis", "Personality disorder", "Bipolar", "Depression or anxiety"):
        assert 0.3 < rates[group] < 0.6, (group, rates[group])


def test_making_ips_work_site_table():
    sites = pd.read_csv(DATA / "making_ips_work_sites.csv").set_index("site")
    published_table = {"Berkshire": (240, 74, 31), "Bradford": (193, 78, 40), "Lincolnshire": (170, 65, 38),
                       "Luton & Bedfordshire": (264, 114, 43), "Northamptonshire": (139, 27, 19),
                       "Wiltshire": (155, 63, 41)}
    assert sorted(sites.index) == sorted(published_table)
    for site, (referrals, jobs, rate) in published_table.items():
        assert (sites.loc[site, "referrals"], sites.loc[site, "jobs"]) == (referrals, jobs)
        assert published(100 * jobs / referrals, 0) == rate == sites.loc[site, "published_rate_pct"]
    assert sites["jobs"].sum() == 421
