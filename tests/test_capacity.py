"""Capacity and time limits (analysis/questions/capacity.py): on a generated extract with a known arrival rate and known
times on the case-load the analysis recovers them, Little's law holds on the reconstructed census, and a
limit beyond every observed time frees nothing."""
import numpy as np
import pandas as pd
import pytest

from analysis.questions import capacity
from analysis.core.contract import FACTORS
from analysis.core.results import MONTH_DAYS

RATE = 1.5  # first contacts per day
SEEKING_MEAN, SUPPORT_MEAN, JOB_SHARE = 150.0, 120.0, 0.4
YEARS = 4


def steady_extract(seed: int = 7, years: int = YEARS) -> tuple[pd.DataFrame, pd.Timestamp]:
    """Poisson first contacts at RATE a day for `years` years; time seeking work exponential (mean
    SEEKING_MEAN), ending in a job for JOB_SHARE of people and in discharge for the rest; in-work support
    exponential (mean SUPPORT_MEAN) from the job start to discharge. The extract date is the last day of
    arrivals, so people are still arriving when follow-up ends (a steady window exists)."""
    rng = np.random.default_rng(seed)
    origin = pd.Timestamp("2019-01-01")
    days = (origin + pd.DateOffset(years=years) - origin).days
    arrivals = rng.poisson(RATE, size=days)
    first = np.repeat(np.arange(days), arrivals)
    n = len(first)
    seeking = np.floor(rng.exponential(SEEKING_MEAN, n)).astype(int)
    job = rng.random(n) < JOB_SHARE
    support = np.floor(rng.exponential(SUPPORT_MEAN, n)).astype(int)
    extract = origin + pd.Timedelta(days=days - 1)
    end_day = first + seeking + np.where(job, support, 0)
    to_date = lambda d: origin + pd.to_timedelta(d, unit="D")  # noqa: E731
    job_day = first + seeking
    job_seen = job & (job_day <= days - 1)
    discharged = end_day <= days - 1
    frame = pd.DataFrame({
        "person_id": [f"P{i}" for i in range(n)], "first_contact_date": to_date(first),
        "outcome": np.where(job_seen, "gained_employment", "none"),
        "outcome_date": to_date(job_day).where(job_seen),
        "discharge_date": to_date(end_day).where(discharged)})
    for factor, levels in FACTORS.items():
        frame[factor] = pd.Categorical([levels[0]] * n, categories=levels)
    return frame, extract


@pytest.fixture(scope="module")
def steady():
    data, extract = steady_extract()
    keys, tables = capacity.analyse(data, extract, capacity.Options(specialists_wte=10.0))
    return data, extract, keys, tables


def test_recovers_the_arrival_rate(steady):
    data, _, _, tables = steady
    per_month = tables["capacity_steady"]["arrivals_per_month"].iloc[0]
    expected = RATE * MONTH_DAYS
    se = np.sqrt(RATE * 365.25 * YEARS) / (365.25 * YEARS) * MONTH_DAYS  # Poisson count over the window
    assert abs(per_month - expected) < 3 * se
    assert tables["capacity_arrivals"]["first_contacts"].sum() == len(data)


def test_recovers_the_support_and_seeking_durations(steady):
    _, _, _, tables = steady
    durations = tables["capacity_durations"].set_index("phase")
    tau = durations.loc["in_work", "tau_days"]
    # exponential truncated at tau, in whole days (floor): mean of min(floor(X), tau)
    for phase, mean in (("in_work", SUPPORT_MEAN), ("seeking", SEEKING_MEAN)):
        q = np.exp(-1 / mean)
        truth = q * (1 - q ** tau) / (1 - q)  # sum_{u=1}^{tau} P(floor(X) >= u)
        assert durations.loc[phase, "rmst_days"] == pytest.approx(truth, rel=0.04), phase
    # the median of floor(exponential) is floor(mean x ln 2)
    assert abs(durations.loc["in_work", "km_median_days"] - np.floor(SUPPORT_MEAN * np.log(2))) <= 6


def test_littles_law_holds_over_the_steady_window(steady):
    _, _, _, tables = steady
    law = tables["capacity_littles_law"].set_index("phase")
    assert law.loc["total", "steady_window_days"] > 300
    for phase in ("seeking", "in_work", "total"):
        assert abs(law.loc[phase, "steady_relative_difference_pct"]) <= law.loc[phase, "tolerance_pct"], phase
        assert abs(law.loc[phase, "relative_difference_pct"]) <= law.loc[phase, "tolerance_pct"], phase
        assert law.loc[phase, "holds"]
    # and L = lambda W with the true values: 1.5 x (150 + 0.4 x 120) people, within 5%
    assert law.loc["total", "steady_mean_census"] == pytest.approx(RATE * (SEEKING_MEAN + JOB_SHARE * SUPPORT_MEAN),
                                                                   rel=0.05)


def test_littles_law_fails_when_the_census_is_wrong(steady):
    """The check can fail: a census that forgets the discharge date (everyone stays) is far off lambda x W."""
    data, extract, _, _ = steady
    broken = data.assign(discharge_date=pd.NaT)
    law = capacity.littles_law(capacity.describe_service(data, extract),
                               capacity.census(capacity.phase_spans(capacity.describe_service(broken, extract).p),
                                               capacity.describe_service(data, extract).follow_days)).set_index("phase")
    assert not law.loc["total", "holds"]


def test_the_census_adds_up_to_the_time_on_the_case_load(steady):
    data, extract, _, _ = steady
    service = capacity.describe_service(data, extract)
    daily = capacity.census(capacity.phase_spans(service.p), service.follow_days)
    assert daily["total"].sum() == pytest.approx((service.p["end"] - service.p["start"]).sum())
    assert (daily[list(capacity.PHASES)].sum(axis=1) == daily["total"]).all()
    # on one day by hand: first contact on or before it, discharge after it
    day = 900
    on = ((service.p["start"] <= day) & (service.p["end"] > day)).sum()
    assert daily.loc[day, "total"] == on


def test_a_limit_beyond_every_observed_time_frees_nothing(steady):
    data, extract, _, _ = steady
    service = capacity.describe_service(data, extract)
    longest = max(service.durations["in_work"]["days"].max(), service.durations["seeking"]["days"].max())
    beyond = (longest + 1) / MONTH_DAYS
    table = capacity.what_if(service, (capacity.in_work_limit(beyond), capacity.seeking_limit(beyond),
                                       capacity.Limit("both", beyond, beyond)))
    for column in ("places_freed", "people_cut_per_year", "jobs_forgone_per_year", "more_starts_per_year",
                   "observed_person_days_freed", "observed_people_cut", "observed_jobs_forgone"):
        assert (table[column] == 0).all(), column
    # and a limit inside the observed times frees some
    inside = capacity.what_if(service, (capacity.in_work_limit(3),))
    assert inside["places_freed"].iloc[0] > 0 and inside["observed_people_cut"].iloc[0] > 0


def test_an_in_work_limit_matches_the_exponential_truth(steady):
    """Limit k: places freed = in-work entries a day x E[(T - k)+] = RATE x JOB_SHARE x mean x exp(-k/mean);
    people cut per year = entries per year x exp(-k/mean)."""
    data, extract, _, _ = steady
    service = capacity.describe_service(data, extract)
    k = 3.0
    row = capacity.what_if(service, (capacity.in_work_limit(k),)).iloc[0]
    tail = np.exp(-np.ceil(k * MONTH_DAYS) / SUPPORT_MEAN)
    assert row["places_freed"] == pytest.approx(RATE * JOB_SHARE * SUPPORT_MEAN * tail, rel=0.08)
    assert row["people_cut_per_year"] == pytest.approx(RATE * 365.25 * JOB_SHARE * tail, rel=0.08)


def test_observed_effect_by_hand():
    """Three people, an in-work limit of 1 month (30.44 days): exact person-days freed and people cut."""
    rows = [("a", "2023-01-01", "gained_employment", "2023-01-11", "2023-03-01"),  # 49 days in work: cut
            ("b", "2023-01-01", "gained_employment", "2023-01-11", "2023-01-31"),  # 20 days: not cut
            ("c", "2023-01-01", "none", None, "2023-02-15")]
    frame = pd.DataFrame(rows, columns=["person_id", "first_contact_date", "outcome", "outcome_date", "discharge_date"])
    for c in ("first_contact_date", "outcome_date", "discharge_date"):
        frame[c] = pd.to_datetime(frame[c])
    for factor, levels in FACTORS.items():
        frame[factor] = pd.Categorical([levels[0]] * 3, categories=levels)
    service = capacity.describe_service(frame, pd.Timestamp("2023-06-30"))
    effect = capacity.observed_effect(service, capacity.in_work_limit(1), float(service.follow_days))
    assert effect["observed_people_cut"] == 1
    assert effect["observed_person_days_freed"] == pytest.approx(49 - MONTH_DAYS)
    seeking = capacity.observed_effect(service, capacity.seeking_limit(1), float(service.follow_days))
    assert seeking["observed_people_cut"] == 1  # c was still seeking at 30.44 days; a and b had jobs by day 10
    assert seeking["observed_person_days_freed"] == pytest.approx(45 - MONTH_DAYS)
