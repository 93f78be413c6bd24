"""Time to employment: first IPS contact to job start, for people who were out of work.

One competing-event definition for every estimator here and in analysis/questions/competing.py (contract.SURVIVAL_RULES):
from first contact, a person seeking work has a first event of one of three kinds: a job start
(gained_employment, on the outcome date), the start of education (on the outcome date), or discharge with
neither; open cases are censored at the extract date. retained_employment is left out (already in work).
Aalen-Johansen, Gray's test and Fine-Gray treat education and discharge as competing events; Kaplan-Meier,
the log-rank test and the cause-specific Cox models censor at them. `DEFINITIONS` holds the alternatives
shown only as a sensitivity analysis (employment_definitions.csv).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.core.contract import FACTORS
from analysis.stats.survival import (AJ_METHOD, KM_MEDIAN_METHOD, RMTL_METHOD, aalen_johansen, kaplan_meier,
                                     km_median, number_at_risk, restricted_mean_time_lost, step_at)
from analysis.core.results import MONTH_DAYS, Z95, row
from analysis.stats.modelling import WEIGHT, collapse
from analysis.questions.survival_common import FACTOR_NAMES, comparison_key_rows, cox_models, logrank_by_factor

CENSORED, EMPLOYED, DISCHARGED, EDUCATION = 0, 1, 2, 3
CIF_MONTHS = (3, 6, 12, 18)
GROUP_MONTHS = (6, 12)
RISK_TABLE_MONTHS = (0, 3, 6, 9, 12, 15, 18)
DESCRIPTIVE_METHOD = "Sample median and quartiles (linear interpolation, R type 7) among those who gained employment"
PRIMARY = "education competing"
# The package's definition first; the others for the sensitivity table only.
DEFINITIONS = {
    PRIMARY: "job; the start of education and discharge with neither compete (the package's definition)",
    "discharge competing": "job; discharge without a job competes; education does not end the search (a person "
                           "in education stays at risk of a job until discharge)",
    "job or education": "job or the start of education as success; discharge with neither competes",
    "1 - Kaplan-Meier": "job; the start of education and discharge censor (1 - Kaplan-Meier, for contrast: "
                        "it treats those who left as if they could still find work through IPS)",
    "1 - Kaplan-Meier, education at risk": "job; discharge censors and education does not end the search "
                                           "(1 - Kaplan-Meier under the discharge-competing definition)",
}
KAPLAN_MEIER = {"1 - Kaplan-Meier": PRIMARY, "1 - Kaplan-Meier, education at risk": "discharge competing"}
COMPETING_LABEL = "the start of education or discharge with neither"


def employment_times(data: pd.DataFrame, extract_date: pd.Timestamp, definition: str = PRIMARY) -> pd.DataFrame:
    """One row per person seeking work: days from first contact to the first event, its cause (0 censored,
    1 job, 2 discharged with neither, 3 education) and the factors. Under the "discharge competing" definition
    the start of education is not an event: that person stays seeking work until discharge (cause 2) or the
    extract date (censored); under "job or education" education counts as cause 1."""
    used = ["person_id", "first_contact_date", "outcome", "outcome_date", "discharge_date", *FACTORS]
    seeking = data.loc[(data["outcome"] != "retained_employment").to_numpy(), used]  # not every column's copy
    gained = (seeking["outcome"] == "gained_employment").to_numpy()
    education = (seeking["outcome"] == "education").to_numpy()
    if definition == "discharge competing":
        education = np.zeros(len(seeking), dtype=bool)
    discharged = seeking["discharge_date"].notna().to_numpy()
    end = np.where(gained | education, seeking["outcome_date"],
                   np.where(discharged, seeking["discharge_date"], np.datetime64(extract_date)))
    days = (pd.to_datetime(end) - seeking["first_contact_date"].to_numpy()).days.to_numpy()
    cause = np.where(gained, EMPLOYED, np.where(education, EDUCATION, np.where(discharged, DISCHARGED, CENSORED)))
    if definition == "job or education":
        cause = np.where(cause == EDUCATION, EMPLOYED, cause)
    out = pd.DataFrame({"person_id": seeking["person_id"].array, "days": days, "cause": cause,
                        "employed": (cause == EMPLOYED).astype(int)})
    for factor in FACTORS:
        out[factor] = seeking[factor].array  # kept categorical; text only after collapsing
    return out


def competing_together(cause) -> np.ndarray:
    """Causes with every competing event as one (2): for the curve of 'education or discharge with neither'."""
    cause = np.asarray(cause)
    return np.where(cause > EMPLOYED, DISCHARGED, cause)


def cif_by_group(cells: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """For every level of every factor: n, jobs, the cumulative incidence of a job at 6 and 12 months (Aalen-
    Johansen, education and discharge competing) with 95% CIs; and the curves (one long table, for figures)."""
    rows, curves = [], []
    for factor in FACTOR_NAMES:
        for level, group in cells.groupby(factor, observed=True):
            cif = aalen_johansen(group["days"], competing_together(group["cause"]), of=EMPLOYED, weight=group[WEIGHT])
            curves.append(cif.assign(factor=factor, level=str(level)))
            record = {"factor": factor, "level": str(level), "n": int(group[WEIGHT].sum()),
                      "events": int((group["employed"] * group[WEIGHT]).sum())}
            at = step_at(cif, [m * MONTH_DAYS for m in GROUP_MONTHS], ["cif", "conf_low", "conf_high"], before=0.0)
            for months, (_, r) in zip(GROUP_MONTHS, at.iterrows()):
                record.update({f"cif_{months}m_pct": 100 * r["cif"], f"cif_{months}m_conf_low": 100 * r["conf_low"],
                               f"cif_{months}m_conf_high": 100 * r["conf_high"]})
            record["method"] = AJ_METHOD + f"; competing events: {COMPETING_LABEL}"
            rows.append(record)
    columns = ["factor", "level", "n", "events"] + [f"cif_{m}m_{c}" for m in GROUP_MONTHS
                                                      for c in ("pct", "conf_low", "conf_high")] + ["method"]
    if not curves:  # no one seeking work: empty tables with their columns
        empty = aalen_johansen(np.zeros(0), np.zeros(0, dtype=int)).assign(factor=pd.Series(dtype=str),
                                                                           level=pd.Series(dtype=str))
        return pd.DataFrame(columns=columns), empty
    return pd.DataFrame(rows, columns=columns), pd.concat(curves, ignore_index=True)


def definitions_table(data: pd.DataFrame, extract_date: pd.Timestamp, primary: pd.DataFrame | None = None
                      ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sensitivity to the competing-event definition: the share employed (or in education, for "job or
    education") by 6, 12 and 18 months under each of DEFINITIONS, and each definition's curve. `primary`:
    employment_times under the package's definition, when the caller has it. Each definition's times are
    made once (the two Kaplan-Meier contrasts reuse theirs) and counted per (day, cause) alone: the curves
    need nothing else, and counts of people sum exactly in any grouping."""
    rows, curves = [], []
    counted: dict[str, pd.DataFrame] = {}
    for name, meaning in DEFINITIONS.items():
        definition = KAPLAN_MEIER.get(name, name)
        if definition not in counted:
            times = primary if definition == PRIMARY and primary is not None else \
                employment_times(data, extract_date, definition)
            counted[definition] = times.groupby(["days", "cause"]).size().rename(WEIGHT).reset_index()
        cells = counted[definition]
        if name in KAPLAN_MEIER:
            km = kaplan_meier(cells["days"], cells["cause"] == EMPLOYED, cells[WEIGHT])
            curve = km.assign(cif=1 - km["survival"], conf_low=1 - km["conf_high"], conf_high=1 - km["conf_low"])
            curve = curve.drop(columns=["survival", "std_err"])
        else:
            curve = aalen_johansen(cells["days"], competing_together(cells["cause"]), of=EMPLOYED, weight=cells[WEIGHT])
        curves.append(curve.assign(definition=name))
        at = step_at(curve, [m * MONTH_DAYS for m in CIF_MONTHS[1:]], ["cif", "conf_low", "conf_high"], before=0.0)
        for months, (_, r) in zip(CIF_MONTHS[1:], at.iterrows()):
            rows.append({"definition": name, "meaning": meaning, "months": months, "cif_pct": 100 * r["cif"],
                         "conf_low": 100 * r["conf_low"], "conf_high": 100 * r["conf_high"],
                         "n": int(cells[WEIGHT].sum()), "method": curve["method"].iloc[0] if len(curve) else ""})
    return pd.DataFrame(rows), pd.concat(curves, ignore_index=True)


def analyse(data: pd.DataFrame, extract_date: pd.Timestamp) -> tuple[list[dict], dict[str, pd.DataFrame]]:
    """All time-to-employment results: key rows and the tables behind them."""
    times = employment_times(data, extract_date)
    keys: list[dict] = []
    days_employed = times.loc[times["cause"] == EMPLOYED, "days"]
    n_employed = len(days_employed)
    q1, median, q3 = np.percentile(days_employed, [25, 50, 75]) if n_employed else (np.nan,) * 3
    keys.append(row("median_days_to_employment", median, DESCRIPTIVE_METHOD + "; conf_low/high = quartiles",
                    conf_low=q1, conf_high=q3, n=n_employed, interval="quartiles"))
    keys.append(row("median_months_to_employment", median / MONTH_DAYS,
                    DESCRIPTIVE_METHOD + f"; days / {MONTH_DAYS:.4f}", n=n_employed))
    keys.append(row("pct_employed_within_6m_of_employed", 100 * (days_employed <= 6 * MONTH_DAYS).mean(),
                    "Share of those who gained employment whose job started within 6 months (182.6 days)",
                    n=n_employed))

    cells = collapse(times, ["days", "cause", "employed"])
    km = kaplan_meier(cells["days"], cells["employed"], cells[WEIGHT])
    median, low, high = km_median(km)
    keys.append(row("km_median_days_to_employment", median,
                    KM_MEDIAN_METHOD + f"; {COMPETING_LABEL} and the extract date censor (cause-specific); a blank "
                    "value or limit = not reached", conf_low=low, conf_high=high, n=len(times)))

    together = competing_together(cells["cause"])
    cif = aalen_johansen(cells["days"], together, of=EMPLOYED, weight=cells[WEIGHT])
    competing = aalen_johansen(cells["days"], together, of=DISCHARGED, weight=cells[WEIGHT])
    for months in CIF_MONTHS:
        at = step_at(cif, [months * MONTH_DAYS], ["cif", "conf_low", "conf_high"], before=0.0).iloc[0]
        keys.append(row("cif_employment_pct", 100 * at["cif"], AJ_METHOD + f"; competing events: {COMPETING_LABEL}",
                        level=str(months), factor="months", conf_low=100 * at["conf_low"],
                        conf_high=100 * at["conf_high"], n=len(times)))
        at = step_at(competing, [months * MONTH_DAYS], ["cif"], before=0.0).iloc[0]
        keys.append(row("cif_competing_pct", 100 * at["cif"], AJ_METHOD + "; the competing events together, a job "
                        "competing", level=str(months), factor="months", n=len(times)))

    tau = 12 * MONTH_DAYS
    lost, se = restricted_mean_time_lost(cif, tau)
    keys.append(row("rmtl_days_employed_12m", lost,
                    "Restricted mean time lost to employment over the first 12 months (365.25 days): the area under "
                    f"the Aalen-Johansen cumulative incidence of a job ({COMPETING_LABEL} competing), the mean days "
                    "of the first year spent after a job start; " + RMTL_METHOD,
                    conf_low=lost - Z95 * se, conf_high=lost + Z95 * se, n=len(times)))
    keys.append(row("mean_days_without_job_12m", tau - lost,
                    "365.25 minus the restricted mean time lost to employment: the mean days of the first year "
                    f"without a job, counting time after {COMPETING_LABEL} as without a job; " + RMTL_METHOD,
                    conf_low=tau - lost - Z95 * se, conf_high=tau - lost + Z95 * se, n=len(times)))

    risk = pd.DataFrame({"months": RISK_TABLE_MONTHS,
                         "days": [m * MONTH_DAYS for m in RISK_TABLE_MONTHS]})
    risk["n_at_risk"] = number_at_risk(cells["days"], risk["days"], cells[WEIGHT])

    groups, curves = cif_by_group(cells)
    tests = logrank_by_factor(cells, "days", "employed")
    cox, ph, excluded = cox_models(cells, "days", "employed")
    cox["event"] = f"employment (cause-specific: {COMPETING_LABEL} censor)"
    definitions, definition_curves = definitions_table(data, extract_date, times)
    tables = {"employment_km": km, "employment_cif": cif, "employment_cif_competing": competing,
              "employment_at_risk": risk, "employment_by_group": groups, "employment_cif_by_group": curves,
              "employment_logrank": tests, "employment_cox": cox, "employment_ph_test": ph,
              "employment_model_exclusions": excluded, "employment_definitions": definitions,
              "employment_definition_curves": definition_curves}
    return keys + comparison_key_rows("employment", tests, cox), tables
