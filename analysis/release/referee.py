"""Rule 11 of analysis/release/rules.py: capacity and the referee's sensitivity analyses (missing data, clustering,
the age spline, power, multiplicity).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.core.results import MONTH_DAYS
from analysis.release.counts import pinned_by_total, _round_counts
from analysis.release.curves import coarse_days
from analysis.release.models import _GROUP_SOURCES, _published_group_visible, _referee_models
from analysis.release.rules import HIDDEN_NOTE, PRECISION, published_counts, small
from analysis.release.step import _group_ok, _hide, Step, _why


# 11. Capacity (capacity_*): monthly first contacts, starts and discharges, and the census on the first day of
#    each month by phase, are counts (rule 2: 1 to t blank, others rounded to b; a month pinned by the
#    column's total is blanked too, "(secondary)"); the per-day census is never published (its day-to-day
#    differences are the day's arrivals minus departures, so it would give back every date), only the
#    monthly snapshot and the month's mean daily census, rounded to b. Rates and case-loads are recomputed
#    from the rounded number of people (a rate per month to one decimal would give back the cohort size);
#    times in a phase (medians, restricted means, the time by which 95% have left) are in whole weeks, as
#    medians (rule 8); a phase with fewer than m people or 1 to t leaving has no statistics. What-if rows:
#    people cut and job starts forgone are counts; places freed and shares to one decimal; the person-days
#    freed are not published (a rule that cut one person would give back that person's time); a rule that
#    cut 1 to t people in this extract has its in-this-extract columns blank.
#    Models (missing_data_*, clustering_*, age_spline_*): estimates fitted on person-level data (rule 7):
#    ratios and CI limits to 2 decimals, p to 3, chi-squared and AIC differences to 2, fractions of missing
#    information and SE ratios to 2; no coefficients or SEs; a term whose group (or reference) has its
#    statistics hidden in the file of its analysis (outcome_rates, employment_by_group, in_work_by_group)
#    is blank here too; spline knots (percentiles of age) in whole years. Power (power_*): the minimum
#    detectable hazard ratios are recomputed from the group sizes and events as the by-group file
#    publishes them (read from its published curve), so no group size is rounded twice.
#    Multiplicity: the raw p-values are the published ones, read back from the controlled tables; a p not
#    published counts as 1 in its family (rule of analysis/stats/multiplicity.py) and stays blank.

REFEREE_TABLES = ("capacity_", "missing_data_", "clustering_", "age_spline_", "power_", "multiplicity")


REFEREE_MEASURES = ("capacity_", "holm_p_")


def _weeks_of(values) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(v), 7 * np.floor(v / 7 + 0.5), np.nan)


def _capacity_step(step: Step, published: dict[str, pd.DataFrame]) -> None:
    rule, raw = step.rule, step.raw
    if "capacity_arrivals" in raw:
        arrivals = raw["capacity_arrivals"]
        columns = ["first_contacts", "in_work_starts", "education_starts", "discharges"]
        out = _round_counts("capacity_arrivals", arrivals, columns, step)
        if rule.has("secondary_for_totals"):
            for c in columns:
                values = arrivals[c].to_numpy(dtype=float)
                secondary = np.zeros(len(values), dtype=bool)
                while pinned_by_total(values, float(values.sum()), secondary, rule).any():
                    candidates = [i for i in np.argsort(values, kind="stable") if values[i] > 0 and not secondary[i]
                                  and not small(values[i], rule)]
                    if not candidates:
                        break
                    secondary[candidates[0]] = True
                out = _hide(out, secondary, [c], "capacity_arrivals", step,
                            "the months' and the total's rounding would pin a count (rounding is not controlled)",
                            note=f"{c} (secondary)", action="suppressed (secondary)")
        step.out["capacity_arrivals"] = out
    if "capacity_census" in raw:
        census = raw["capacity_census"]
        out = _round_counts("capacity_census", census, ["seeking", "in_work", "education", "total"], step)
        out["mean_total"] = np.floor(census["mean_total"].to_numpy(float) / rule.base + 0.5) * rule.base
        with np.errstate(divide="ignore", invalid="ignore"):
            out["caseload_per_specialist"] = out["mean_total"] / out["specialists_wte"].astype(float)
        step.note("capacity_census", "mean_total; caseload_per_specialist", "rounded; recomputed", len(out),
                  f"mean daily census rounded to {rule.base}; per specialist from it; the per-day census is not "
                  "published (its differences give back each day's arrivals and departures)")
        step.out["capacity_census"] = out
    phases_ok = {}
    if "capacity_durations" in raw:
        durations = raw["capacity_durations"]
        ok = _group_ok(durations["n"], durations["events"], rule)
        phases_ok = dict(zip(durations["phase"], ok))
        out = _round_counts("capacity_durations", durations, ["n", "events"], step)
        for c in ("km_median_days", "rmst_days"):
            out[c] = _weeks_of(durations[c])
        _, out["km_median_conf_low"], out["km_median_conf_high"] = coarse_days(  # limits outward
            durations["km_median_days"], durations["km_median_conf_low"], durations["km_median_conf_high"])
        out["still_in_phase_at_tau_pct"] = durations["still_in_phase_at_tau_pct"].round(0)
        step.note("capacity_durations", "medians; restricted means", "rounded to whole weeks", len(out), "rule 8")
        step.out["capacity_durations"] = _hide(out, ~ok, ["km_median_days", "km_median_conf_low", "km_median_conf_high",
                                                         "rmst_days", "still_in_phase_at_tau_pct"],
                                               "capacity_durations", step, _why(rule))
    if "capacity_littles_law" in raw:
        law = raw["capacity_littles_law"].copy()
        ok = np.array([phases_ok.get(ph, False) for ph in law["phase"]], dtype=bool)
        for c in ("littles_law_caseload", "mean_census", "mean_expected_census", "steady_mean_census"):
            law[c] = np.floor(law[c].astype(float) / rule.base + 0.5) * rule.base
        law["mean_days_in_phase"] = _weeks_of(law["mean_days_in_phase"])
        law["entries_per_day"] = law["entries_per_day"].round(2)
        law["entries_per_year"] = np.floor(law["entries_per_year"].astype(float) / rule.base + 0.5) * rule.base
        for c in ("relative_difference_pct", "steady_relative_difference_pct"):
            law[c] = law[c].astype(float).round(1)
        law["max_daily_deviation_pct"] = law["max_daily_deviation_pct"].astype(float).round(0)
        step.note("capacity_littles_law", "(statistics)", "rounded", len(law),
                  f"case-loads to {rule.base}, times in whole weeks, rates to 2 decimals, differences to 1")
        statistics = [c for c in law.columns if c not in ("phase", "days_checked", "tolerance_pct", "holds", "method",
                                                           "steady_window_days", "days_with_20_or_more")]
        law["holds"] = law["holds"].astype(object)  # yes / no, or blank with the row's statistics
        step.out["capacity_littles_law"] = _hide(law.assign(suppressed=""), ~ok, statistics + ["holds"],
                                                 "capacity_littles_law", step, _why(rule))
    if "capacity_steady" in raw:
        steady = raw["capacity_steady"].copy()
        n = float(published_counts(raw["capacity_arrivals"]["first_contacts"].sum(), rule)) \
            if "capacity_arrivals" in raw else np.nan
        window = steady["entry_window_days"].astype(float)
        steady["arrivals_per_month"] = n / window * MONTH_DAYS
        steady["arrivals_per_year"] = n / window * 365.25
        steady["steady_caseload"] = np.floor(steady["steady_caseload"].astype(float) / rule.base + 0.5) * rule.base
        with np.errstate(divide="ignore", invalid="ignore"):
            steady["steady_caseload_per_specialist"] = steady["steady_caseload"] / steady["specialists_wte"]
        steady["specialists_needed_at_standard"] = steady["steady_caseload"] / steady["ips25_standard"]
        steady["stay95_days"] = _weeks_of(steady["stay95_days"])
        step.note("capacity_steady", "(all)", "recomputed from rounded counts", 1,
                  f"arrival rates from the rounded number of first contacts; case-load rounded to {rule.base}; "
                  "times in whole weeks")
        step.out["capacity_steady"] = steady.assign(suppressed="")
    if "capacity_what_if" in raw:
        rules = raw["capacity_what_if"].copy()
        for c in ("places_freed", "share_of_caseload_pct", "observed_places_freed", "observed_share_freed_pct"):
            rules[c] = rules[c].astype(float).round(1)
        for c in ("more_starts_per_year", "people_cut_per_year", "jobs_forgone_per_year"):
            rules[c] = np.floor(rules[c].astype(float) / rule.base + 0.5) * rule.base
        few_now = small(rules["observed_people_cut"], rule)
        few_steady = small(raw["capacity_what_if"]["people_cut_per_year"].round(), rule)
        rules = rules.drop(columns="observed_person_days_freed")
        step.note("capacity_what_if", "observed_person_days_freed", "not published", len(rules),
                  "person-days freed by a rule that cut few people give back their times")
        out = _round_counts("capacity_what_if", rules, ["observed_people_cut", "observed_jobs_forgone"], step)
        out = _hide(out, few_now, ["observed_places_freed", "observed_share_freed_pct"], "capacity_what_if", step,
                    f"the rule cut 1-{rule.threshold} people in this extract")
        out = _hide(out, few_steady, ["places_freed", "share_of_caseload_pct", "more_starts_per_year",
                                      "people_cut_per_year", "jobs_forgone_per_year"], "capacity_what_if", step,
                    f"the rule would cut 1-{rule.threshold} people a year")
        # a year's job starts forgone from an extract of about a year is the blanked count in another form
        out = _hide(out, small(raw["capacity_what_if"]["observed_jobs_forgone"], rule), ["jobs_forgone_per_year"],
                    "capacity_what_if", step, f"1-{rule.threshold} job starts came after the limit in this extract")
        step.out["capacity_what_if"] = out


def _referee_step(step: Step, published: dict[str, pd.DataFrame]) -> None:
    raw = step.raw
    _capacity_step(step, published)
    ratio = {"ratio": 2, "conf_low": 2, "conf_high": 2, "p": 3}
    if "missing_data_models" in raw:
        step.out["missing_data_models"] = _referee_models("missing_data_models", raw["missing_data_models"], step,
                                                          published, {**ratio, "fraction_missing_information": 2})
        step.out["missing_data_summary"] = _round_counts(
            "missing_data_summary", raw["missing_data_summary"],
            [c for c in raw["missing_data_summary"].columns if c in ("n_analysed", "n_total", "events")
             or c.startswith("not_known_")], step)
    if "clustering_models" in raw:
        step.out["clustering_models"] = _referee_models(
            "clustering_models", raw["clustering_models"], step, published,
            {**ratio, "robust_conf_low": 2, "robust_conf_high": 2, "robust_p": 3, "se_ratio": 2})
    if "age_spline_tests" in raw:
        tests = _referee_models("age_spline_tests", raw["age_spline_tests"], step, published,
                                {"lr_chi2": 2, "p": 3, "aic_bands_minus_spline": 2})
        if len(tests):
            tests["knots"] = ["; ".join(f"{float(k):.0f}" for k in str(v).split("; ")) for v in raw["age_spline_tests"]["knots"]]
            step.note("age_spline_tests", "knots", "rounded to whole years", len(tests), "percentiles of age (rule 8)")
        step.out["age_spline_tests"] = tests
        step.out["age_spline_ratios"] = _referee_models("age_spline_ratios", raw["age_spline_ratios"], step, published,
                                                        {"ratio": 2, "conf_low": 2, "conf_high": 2})
    if "power_detectable_hr" in raw:
        step.out["power_detectable_hr"] = _power_from_published(raw["power_detectable_hr"], step, published)
    if "multiplicity" in raw:
        from analysis.stats.multiplicity import plan

        table = plan(published).reindex(columns=raw["multiplicity"].columns)
        for c in ("raw_p", "holm_p"):
            table[c] = table[c].astype(float).round(PRECISION["p"])
        step.note("multiplicity", "raw_p; holm_p", "read from the published tables", len(table),
                  "the p-values as published; Holm recomputed from them (a p not published counts as 1)")
        step.out["multiplicity"] = table.assign(suppressed=np.where(table["raw_p"].isna(), HIDDEN_NOTE, ""))


def _power_from_published(raw: pd.DataFrame, step: Step, published: dict[str, pd.DataFrame]) -> pd.DataFrame:
    from analysis.stats.power import detectable_hazard_ratio, events_required

    if not len(raw):
        return raw
    rows = []
    for _, r in raw.iterrows():
        source = published.get(_GROUP_SOURCES[r["analysis"]])
        record = r.to_dict()
        found = []
        for level in (r["level"], r["reference"]):
            match = source[(source["factor"] == r["factor"]) & (source["level"].astype(str) == str(level))] \
                if source is not None and len(source) else source
            visible = _published_group_visible(published, r["analysis"], r["factor"], level)
            found.append((float(match["n"].iloc[0]), float(match["events"].iloc[0])) if visible and len(match) else None)
        if all(found) and sum(f[0] for f in found) > 0:
            (n, e), (nr, er) = found
            share = n / (n + nr)
            above = detectable_hazard_ratio(e + er, share)
            record.update(n=n, n_reference=nr, events=e, events_reference=er, share=round(share, 2),
                          detectable_hr_above=round(above, 2), detectable_hr_below=round(1 / above, 2),
                          events_for_hr_1_5=float(np.ceil(events_required(1.5, share))), suppressed="",
                          method=r["method"] + "; from the group sizes and events as published in the by-group file")
        else:
            record.update(n=np.nan, n_reference=np.nan, events=np.nan, events_reference=np.nan, share=np.nan,
                          detectable_hr_above=np.nan, detectable_hr_below=np.nan, events_for_hr_1_5=np.nan,
                          suppressed=HIDDEN_NOTE)
        rows.append(record)
    step.note("power_detectable_hr", "(all)", "recomputed from published counts", len(rows),
              "group sizes and events as the by-group files publish them")
    out = pd.DataFrame(rows, columns=list(raw.columns) + ["suppressed"])
    for c in ("n", "n_reference", "events", "events_reference", "events_for_hr_1_5"):
        out[c] = pd.array(np.round(out[c].astype(float)), dtype="Int64")
    return out
