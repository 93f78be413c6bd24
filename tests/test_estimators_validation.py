"""Each estimator against reference values printed by others (R's survival package, textbooks), not
computed here, so a wrong censoring rule, variance or tie method fails. Data sets ship with lifelines.

Sources of the printed values:
- R survival, `lung` data: survfit(Surv(time, status) ~ sex, lung) prints medians 270 (212, 310) and
  426 (348, 550), overall 310 (285, 363) with its default log-scale CI; summary(survfit(...), times=365.25)
  prints survival 0.409, std.err 0.0358; survdiff prints Chisq = 10.3 on 1 df; coxph(... ~ sex) prints
  coef -0.5310, se 0.1672, likelihood ratio test 10.63.
- Therneau & Grambsch (2000), appendix test data 1, as checked in survival's tests/book2.R: the Efron
  estimate is 1.676857, with closed-form log-likelihood and information.
- Fox & Weisberg, "Cox proportional-hazards regression for survival data in R" (appendix to An R
  Companion to Applied Regression), Rossi recidivism data: printed Efron coefficients and standard errors.
"""
import numpy as np
import pandas as pd
import pytest
from lifelines.datasets import load_lung, load_rossi

from analysis.stats.survival import aalen_johansen, kaplan_meier, km_median, logrank, restricted_mean, step_at
from analysis.stats.cox import cox_efron


@pytest.fixture(scope="module")
def lung():
    return load_lung()  # status already 1 = died, 0 = censored


@pytest.mark.parametrize("sex, printed", [(1, (270, 212, 310)), (2, (426, 348, 550)), (None, (310, 285, 363))])
def test_km_median_and_ci_match_r_survfit(lung, sex, printed):
    rows = lung if sex is None else lung[lung["sex"] == sex]
    km = kaplan_meier(rows["time"], rows["status"], conf_type="log")
    assert km_median(km) == pytest.approx(printed)


def test_km_survival_and_greenwood_se_match_r_summary(lung):
    km = kaplan_meier(lung["time"], lung["status"], conf_type="log")
    at = step_at(km, [365.25], ["survival", "std_err"]).iloc[0]
    assert round(at["survival"], 3) == 0.409
    assert round(at["std_err"], 4) == 0.0358


def test_logrank_matches_r_survdiff(lung):
    assert round(logrank(lung["time"], lung["status"], lung["sex"])["chi2"], 1) == 10.3


def test_logrank_counts_degrees_of_freedom_as_r_survdiff_when_a_group_leaves_before_any_event(lung):
    """R's survdiff counts the rank of the variance matrix; lifelines alone would count k - 1 = 2 here."""
    early = pd.DataFrame({"time": [1.0, 2.0], "status": [0, 0], "sex": [3, 3]})  # censored before the first death
    with_early = pd.concat([lung[["time", "status", "sex"]], early], ignore_index=True)
    assert lung["time"][lung["status"] == 1].min() > 2
    test = logrank(with_early["time"], with_early["status"], with_early["sex"])
    assert test["df"] == 1
    assert test["chi2"] == pytest.approx(logrank(lung["time"], lung["status"], lung["sex"])["chi2"], rel=1e-12)


def test_logrank_has_no_test_when_everyone_at_risk_has_the_event_at_once():
    test = logrank([5, 5, 5], [1, 1, 1], ["a", "b", "b"])
    assert test["df"] == 0 and np.isnan(test["chi2"])


def test_cox_efron_matches_r_coxph(lung):
    fit = cox_efron((lung["sex"] == 2).to_numpy(float)[:, None], lung["time"], lung["status"])
    assert round(fit.coef[0], 4) == -0.5310
    assert round(fit.se[0], 4) == 0.1672
    assert round(fit.lr_chi2, 2) == 10.63


def test_cox_efron_tie_handling_matches_therneau_grambsch_by_hand():
    time = np.array([9, 1, 1, 6, 6, 8])
    status = np.array([1, 1, 0, 1, 1, 0])
    x = np.array([0, 1, 1, 1, 0, 0], dtype=float)
    fit = cox_efron(x[:, None], time, status)
    assert round(fit.coef[0], 6) == 1.676857
    r = np.exp(fit.coef[0])
    loglik = 2 * fit.coef[0] - (np.log(3 * r + 3) + np.log((r + 5) / 2) + np.log(r + 3))
    imat = sum(p - p * p for p in (r / (r + 1), r / (r + 5), r / (r + 3)))
    assert fit.loglik == pytest.approx(loglik, rel=1e-10)
    assert fit.cov[0, 0] == pytest.approx(1 / imat, rel=1e-8)


def test_cox_efron_matches_fox_weisberg_rossi():
    rossi = load_rossi()
    names = ["fin", "age", "race", "wexp", "mar", "paro", "prio"]
    fit = cox_efron(rossi[names].to_numpy(float), rossi["week"], rossi["arrest"], names=names)
    printed_coef = [-0.37942, -0.05744, 0.31390, -0.14980, -0.43370, -0.08487, 0.09150]
    printed_se = [0.19138, 0.02200, 0.30799, 0.21222, 0.38187, 0.19576, 0.02865]
    assert np.round(fit.coef, 5) == pytest.approx(printed_coef, abs=1e-5)
    assert np.round(fit.se, 5) == pytest.approx(printed_se, abs=1e-5)
    assert round(fit.lr_chi2, 2) == 33.27


def test_cox_without_the_ph_test_is_the_same_fit():
    rossi = load_rossi()
    names = ["fin", "age", "race", "wexp", "mar", "paro", "prio"]
    args = (rossi[names].to_numpy(float), rossi["week"], rossi["arrest"])
    tested, untested = cox_efron(*args, names=names), cox_efron(*args, names=names, test_ph=False)
    assert len(tested.ph_test) > 0 and untested.ph_test.empty
    assert np.array_equal(untested.coef, tested.coef) and np.array_equal(untested.cov, tested.cov)
    assert (untested.loglik, untested.loglik_null) == (tested.loglik, tested.loglik_null)


@pytest.mark.parametrize("rows, columns, times", [(1, 1, 1), (539, 8, 300), (20_000, 15, 1_500)])
def test_cox_sums_by_time_column_by_column_are_the_sums_over_rows_to_the_bit(rows, columns, times):
    """The Efron terms sum weight * x by time one column at a time; that is the same arithmetic, to the
    last bit, as one reduceat over the rows of the n x p product it replaced."""
    from analysis.stats.cox import _by_time_of_each

    rng = np.random.default_rng(rows)
    x, weight = rng.normal(size=(rows, columns)), rng.random(rows) * 40
    starts = np.r_[0, np.sort(rng.choice(np.arange(1, rows), min(times, rows) - 1, replace=False))].astype(np.intp)
    assert np.array_equal(_by_time_of_each(weight, x, starts), np.add.reduceat(weight[:, None] * x, starts, axis=0))


def test_collapsed_cox_equals_person_level_cox(lung):
    x = (lung["sex"] == 2).to_numpy(float)
    person = cox_efron(x[:, None], lung["time"], lung["status"])
    cells = pd.DataFrame({"t": lung["time"], "x": x, "d": lung["status"]}).groupby(["t", "x"])["d"].agg(["size", "sum"]).reset_index()
    collapsed = cox_efron(cells[["x"]].to_numpy(), cells["t"], cells["sum"], cells["size"])
    assert collapsed.coef == pytest.approx(person.coef, rel=1e-10)
    assert collapsed.cov == pytest.approx(person.cov, rel=1e-10)


def test_aalen_johansen_without_competing_events_is_one_minus_km(lung):
    cif = aalen_johansen(lung["time"], lung["status"], of=1)
    at = step_at(cif, [365.25], ["cif"], before=0.0).iloc[0]
    assert round(1 - at["cif"], 3) == 0.409  # R's printed survival at one year


def test_aalen_johansen_matches_lifelines_where_no_jitter_is_needed():
    from lifelines import AalenJohansenFitter

    rng = np.random.default_rng(0)
    time = rng.permutation(np.arange(1, 301)).astype(float)
    cause = rng.integers(0, 3, 300)
    mine = aalen_johansen(time, cause, of=1)
    theirs = AalenJohansenFitter(calculate_variance=True).fit(time, cause, event_of_interest=1)
    assert mine["cif"].to_numpy() == pytest.approx(theirs.cumulative_density_.iloc[1:, 0].to_numpy(), abs=1e-12)
    assert mine["std_err"].to_numpy() ** 2 == pytest.approx(theirs.variance_.iloc[1:].to_numpy().ravel(), abs=1e-12)


def test_aalen_johansen_handles_ties_between_causes_together():
    # Marubini & Valsecchi (1995) Table 10.1 starts with one death of each cause at t=1 among 35 patients:
    # both enter at once, so F1(1) = 1/35 and F2(1) = 1/35, not one of them first.
    time = np.array([1, 1] + [50] * 33)
    cause = np.array([1, 2] + [0] * 33)
    assert aalen_johansen(time, cause, of=1)["cif"].iloc[0] == pytest.approx(1 / 35)
    assert aalen_johansen(time, cause, of=2)["cif"].iloc[0] == pytest.approx(1 / 35)


def test_ph_test_matches_lifelines_km_transform():
    from lifelines import CoxPHFitter
    from lifelines.statistics import proportional_hazard_test

    rossi = load_rossi()
    names = ["fin", "age", "race", "wexp", "mar", "paro", "prio"]
    fit = cox_efron(rossi[names].to_numpy(float), rossi["week"], rossi["arrest"], names=names)
    theirs = proportional_hazard_test(CoxPHFitter().fit(rossi, "week", "arrest"), rossi, time_transform="km").summary
    mine = fit.ph_test[fit.ph_test["version"] == "approximation (R survival < 3.0)"].set_index("term")
    for name in names:  # lifelines has only the approximation of survival < 3.0
        assert mine.loc[name, "chi2"] == pytest.approx(theirs.loc[name, "test_statistic"], rel=1e-5)


def test_restricted_mean_matches_lifelines(lung):
    from lifelines import KaplanMeierFitter
    from lifelines.utils import restricted_mean_survival_time

    km = kaplan_meier(lung["time"], lung["status"])
    theirs = restricted_mean_survival_time(KaplanMeierFitter().fit(lung["time"], lung["status"]), t=365)
    assert restricted_mean(km, 365)[0] == pytest.approx(theirs, rel=1e-10)
