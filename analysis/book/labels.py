"""Human labels for what the results tables name with identifiers: one place, used by every report table.

A reader of the reports should never meet `age_band` or `outcome_rate_pct`; a reviewer who wants the
identifier finds it in results/key_results.csv, which the appendix "Key results" lists row by row.
"""
from __future__ import annotations

import re

FACTORS = {
    "all": "All",
    "ethnicity": "Ethnicity",
    "gender": "Gender",
    "age_band": "Age band",
    "diagnosis": "Diagnosis",
    "months": "Months since first contact",
    "site": "Site",
    "rule": "What-if rule",
}

MEASURES = {
    "cohort_n": "People analysed",
    "median_days_to_employment": "Median days from first contact to job start, among those employed",
    "median_months_to_employment": "Median months from first contact to job start, among those employed",
    "pct_employed_within_6m_of_employed": "Job started within 6 months, among those employed (%)",
    "km_median_days_to_employment": "Kaplan-Meier median days to job start (education and discharge censor)",
    "cif_employment_pct": "Cumulative incidence of employment (%)",
    "cif_competing_pct": "Cumulative incidence of education or discharge without a job (%)",
    "rmtl_days_employed_12m": "Restricted mean days after a job start over the first 12 months (time lost to employment)",
    "mean_days_without_job_12m": "Restricted mean days without a job over the first 12 months (Aalen-Johansen)",
    "employment_logrank_p": "Time to employment: log-rank p",
    "employment_gray_p": "Incidence of a job (education and discharge competing): Gray's test p",
    "employment_logrank_chi2": "Time to employment: log-rank chi-squared",
    "employment_cox_hr_unadjusted": "Time to employment: hazard ratio, Cox unadjusted",
    "employment_cox_hr_adjusted": "Time to employment: hazard ratio, Cox adjusted",
    "employment_fine_gray_shr_unadjusted": "Incidence of a job: subdistribution hazard ratio, Fine-Gray unadjusted",
    "employment_fine_gray_shr_adjusted": "Incidence of a job: subdistribution hazard ratio, Fine-Gray adjusted",
    "median_days_in_work_support": "Median days of in-work support, among those discharged",
    "median_months_in_work_support": "Median months of in-work support, among those discharged",
    "pct_in_work_support_over_12m": "In-work support beyond 12 months (%)",
    "pct_not_requiring_time_unlimited_support": "In work and discharged by the end of follow-up (%)",
    "pct_discharged_within_6m_of_discharged": "Discharged within 6 months of the job start, among those "
                                              "discharged (%)",
    "km_median_days_in_work_support": "Kaplan-Meier median days of in-work support",
    "km_pct_still_supported": "Still supported (Kaplan-Meier, %)",
    "in_work_logrank_p": "In-work support: log-rank p",
    "in_work_logrank_chi2": "In-work support: log-rank chi-squared",
    "in_work_cox_hr_unadjusted": "In-work support: hazard ratio of discharge, Cox unadjusted",
    "in_work_cox_hr_adjusted": "In-work support: hazard ratio of discharge, Cox adjusted",
    "reach_pct": "Reach: share of the CMHT case-load in IPS (%)",
    "access_chi2": "Access: chi-squared, IPS against the CMHT case-load (as published)",
    "access_p": "Access: p, IPS against the CMHT case-load (as published)",
    "access_rest_chi2": "Access: chi-squared, IPS against the rest of the case-load, groups of 10 or more",
    "access_rest_p": "Access: p, IPS against the rest of the case-load, groups of 10 or more",
    "access_rest_exact_p": "Access: exact-test p, IPS against the rest of the case-load, groups of 10 or more",
    "representation_ratio": "Access: representation ratio (IPS share / CMHT share)",
    "outcome_rate_pct": "Positive outcome (%)",
    "pct_job_of_all": "Gained a job, of everyone analysed (%)",
    "pct_in_work_of_all": "Gained or kept a job, of everyone analysed (%)",
    "pct_job_of_seeking": "Gained a job, of those out of work at first contact (%)",
    "outcome_chi2": "Outcome: chi-squared across every known group (as published)",
    "outcome_p": "Outcome: chi-squared p across every known group (as published)",
    "outcome_exact_p": "Outcome: exact-test p across every known group",
    "outcome_chi2_excluding_small": "Outcome: chi-squared across groups of 10 or more",
    "outcome_p_excluding_small": "Outcome: chi-squared p across groups of 10 or more",
    "logit_lr_p_unadjusted": "Outcome: logistic unadjusted, likelihood-ratio p",
    "logit_lr_p_adjusted": "Outcome: logistic adjusted, likelihood-ratio p",
    "logit_or_unadjusted": "Outcome: odds ratio, logistic unadjusted",
    "logit_or_adjusted": "Outcome: odds ratio, logistic adjusted",
    "site_job_rate_pct": "Site job rate (%)",
    "site_jobs_total": "Jobs over all sites",
    "site_pooled_rate_pct": "Pooled job rate over sites (%)",
    "site_random_effects_rate_pct": "Random-effects pooled job rate (%)",
    "site_i2_pct": "I-squared between sites (%)",
    "site_prediction_interval_pct": "Random-effects job rate with the 95% prediction interval for a new site (%)",
    "site_chi2": "Chi-squared across sites",
    "site_p": "Chi-squared p across sites",
}
# The extract's own sites when a site table is analysed too (analysis/questions/sites.py): the same measures, named apart.
MEASURES.update({"own_" + k: "The service's own sites: " + v[0].lower() + v[1:]
                 for k, v in MEASURES.items() if k.startswith("site_")})
# ... where the rate is people in work (a job gained or kept) per person referred, not jobs per referral.
MEASURES.update(own_site_job_rate_pct="The service's own sites: people in work per person referred (%)",
                own_site_jobs_total="The service's own sites: people in work over all sites",
                own_site_pooled_rate_pct="The service's own sites: pooled rate of people in work (%)",
                own_site_random_effects_rate_pct="The service's own sites: random-effects pooled rate of people in work (%)",
                own_site_prediction_interval_pct="The service's own sites: random-effects rate with the 95% prediction "
                                                 "interval for a new site (%)")
# Access against a need-based denominator (analysis/questions/access.py): the same measures against the people who want work.
MEASURES.update({"need_" + k: MEASURES[k].replace("CMHT case-load", "people who want work").replace(
                 "CMHT", "people who want work") for k in ("reach_pct", "access_chi2", "access_p", "access_rest_chi2", "access_rest_p",
                                                   "access_rest_exact_p")},
                need_representation_ratio="Access: representation ratio (IPS share / share among people who want work)")
# The pooled measures of `ips-analysis pool` (analysis/pool.py), and the pooled book's key results.
POOLED = {
    "job_rate_pct": "Gained a job, of everyone analysed (%)",
    "site_job_rate_pct": "Jobs per referral (%)",
    "positive_outcome_rate_pct": "Positive outcome: a job gained or kept, or education (%)",
    "cif_job_6m_pct": "Cumulative incidence of a job by 6 months (%)",
    "cif_job_12m_pct": "Cumulative incidence of a job by 12 months (%)",
    "employment_cox_hr_unadjusted": "Time to a job: hazard ratio, Cox unadjusted",
    "employment_cox_hr_adjusted": "Time to a job: hazard ratio, Cox adjusted",
    "logit_or_unadjusted": "Positive outcome: odds ratio, logistic unadjusted",
    "logit_or_adjusted": "Positive outcome: odds ratio, logistic adjusted",
}
for _name, _label in POOLED.items():
    MEASURES.update({f"pooled_{_name}": f"Pooled: {_label[0].lower()}{_label[1:]}",
                     f"pooled_{_name}_prediction": f"Pooled, with the 95% prediction interval for a new service: "
                                                   f"{_label[0].lower()}{_label[1:]}",
                     f"pooled_{_name}_i2_pct": f"I-squared between services (%): {_label[0].lower()}{_label[1:]}"})

# Capacity and the multiplicity plan (issue #25: analysis/questions/capacity.py, analysis/stats/multiplicity.py).
MEASURES.update(
    capacity_arrivals_per_month="First contacts per month",
    capacity_steady_caseload="Case-load in a steady state (Little's law: arrivals x time on the case-load)",
    capacity_caseload_per_specialist="Steady-state case-load per whole-time employment specialist (IPS-25: at most 20)",
    capacity_littles_law_difference_pct="Little's law check: expected minus reconstructed mean case-load (%)",
    capacity_places_freed="What-if: places freed on the case-load (steady state)",
    capacity_people_cut_per_year="What-if: people a year whose support would be cut while still using it",
    capacity_more_starts_per_year="What-if: more people who could start a year at the same case-load",
    capacity_jobs_forgone_per_year="What-if: job starts a year after the job-seeking limit (forgone)",
    holm_p_access="Primary family (R10, R11): access p, Holm-adjusted",
    holm_p_outcome="Primary family (R10, R11): outcome p, Holm-adjusted",
)
SENSITIVITY_SUFFIX = "_12m_window"

COLUMNS = {  # identifiers that appear inside table cells (terms, model names)
    **{k: v for k, v in FACTORS.items() if k != "all"},
    "unadjusted": "Unadjusted",
    "adjusted": "Adjusted",
}
_WORD = re.compile(r"\b(" + "|".join(sorted(map(re.escape, COLUMNS), key=len, reverse=True)) + r")\b")


def measure(name: str) -> str:
    """The label of a key_results measure; the 6-month-follow-up sensitivity copies say so."""
    if name.endswith(SENSITIVITY_SUFFIX):
        return MEASURES[name[: -len(SENSITIVITY_SUFFIX)]] + " (within 12 months of first contact, people followed 12 months or more)"
    return MEASURES[name]


def factor(name: str, measure: str = "") -> str:
    """A factor's label; "months" counts from the job start for the in-work measures, else from first contact."""
    if name == "months" and (measure.startswith("in_work") or measure == "km_pct_still_supported"):
        return "Months since job start"
    return FACTORS.get(name, name)


ALL_FOUR = "ethnicity + gender + age_band + diagnosis"


def human(text: str) -> str:
    """A cell with identifiers in it ("unadjusted: age_band", "age_band: 25-34 vs 18-24") in words."""
    text = str(text).replace(ALL_FOUR, "all four factors")
    return _WORD.sub(lambda m: COLUMNS[m.group(1)], text)
