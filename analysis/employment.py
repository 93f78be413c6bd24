"""Time to employment: first IPS contact to job start, for people who were out of work.

The rule (contract.SURVIVAL_RULES): gained_employment has the event on its outcome date;
retained_employment is left out (already in work); everyone else is still seeking work, with discharge
without a job as a competing event (censoring for Kaplan-Meier) and open cases censored at the extract date.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .contract import FACTORS
from .estimators import (AJ_METHOD, KM_MEDIAN_METHOD, RMST_METHOD, aalen_johansen, kaplan_meier,
                         km_median, number_at_risk, restricted_mean, step_at)
from .results import MONTH_DAYS, Z95, row
from .modelling import WEIGHT, collapse
from .survival_common import compare_groups

CENSORED, EMPLOYED, DISCHARGED, EDUCATION = 0, 1, 2, 3
CIF_MONTHS = (3, 6, 12, 18)
RISK_TABLE_MONTHS = (0, 3, 6, 9, 12, 15, 18)
DESCRIPTIVE_METHOD = "Sample median and quartiles (linear interpolation, R type 7) among those who gained employment"


def employment_times(data: pd.DataFrame, extract_date: pd.Timestamp, education_as_cause: bool = False) -> pd.DataFrame:
    """One row per person at risk of gaining a job: days, cause (0 censored, 1 job, 2 discharged) and factors.

    With education_as_cause (the competing-risks analysis, analysis/competing.py), the start of education
    is an event of its own (cause 3) on its outcome date, instead of leaving the person seeking work."""
    seeking = data[data["outcome"] != "retained_employment"]
    gained = (seeking["outcome"] == "gained_employment").to_numpy()
    education = ((seeking["outcome"] == "education").to_numpy() if education_as_cause
                 else np.zeros(len(seeking), dtype=bool))
    discharged = seeking["discharge_date"].notna().to_numpy()
    end = np.where(gained | education, seeking["outcome_date"],
                   np.where(discharged, seeking["discharge_date"], np.datetime64(extract_date)))
    days = (pd.to_datetime(end) - seeking["first_contact_date"].to_numpy()).days.to_numpy()
    cause = np.where(gained, EMPLOYED, np.where(education, EDUCATION, np.where(discharged, DISCHARGED, CENSORED)))
    out = pd.DataFrame({"person_id": seeking["person_id"].to_numpy(), "days": days, "cause": cause,
                        "employed": (cause == EMPLOYED).astype(int)})
    for factor in FACTORS:
        out[factor] = seeking[factor].array  # kept categorical; text only after collapsing
    return out


def analyse(data: pd.DataFrame, extract_date: pd.Timestamp) -> tuple[list[dict], dict[str, pd.DataFrame]]:
    """All time-to-employment results: key rows and the tables behind them."""
    times = employment_times(data, extract_date)
    keys: list[dict] = []
    days_employed = times.loc[times["cause"] == EMPLOYED, "days"]
    n_employed = len(days_employed)
    q1, median, q3 = np.percentile(days_employed, [25, 50, 75]) if n_employed else (np.nan,) * 3
    keys.append(row("median_days_to_employment", median, DESCRIPTIVE_METHOD + "; conf_low/high = quartiles",
                    conf_low=q1, conf_high=q3, n=n_employed))
    keys.append(row("median_months_to_employment", median / MONTH_DAYS,
                    DESCRIPTIVE_METHOD + f"; days / {MONTH_DAYS:.4f}", n=n_employed))
    keys.append(row("pct_employed_within_6m_of_employed", 100 * (days_employed <= 6 * MONTH_DAYS).mean(),
                    "Share of those who gained employment whose job started within 6 months (182.6 days)",
                    n=n_employed))

    cells = collapse(times, ["days", "cause", "employed"])
    km = kaplan_meier(cells["days"], cells["employed"], cells[WEIGHT])
    median, low, high = km_median(km)
    keys.append(row("km_median_days_to_employment", median,
                    KM_MEDIAN_METHOD + "; discharge without a job and the extract date censor; a blank value or limit = not reached",
                    conf_low=low, conf_high=high, n=len(times)))

    cif = aalen_johansen(cells["days"], cells["cause"], of=EMPLOYED, weight=cells[WEIGHT])
    competing = aalen_johansen(cells["days"], cells["cause"], of=DISCHARGED, weight=cells[WEIGHT])
    for months in CIF_MONTHS:
        at = step_at(cif, [months * MONTH_DAYS], ["cif", "conf_low", "conf_high"], before=0.0).iloc[0]
        keys.append(row("cif_employment_pct", 100 * at["cif"], AJ_METHOD + "; competing event: discharge without a job",
                        level=str(months), factor="months", conf_low=100 * at["conf_low"],
                        conf_high=100 * at["conf_high"], n=len(times)))
        at = step_at(competing, [months * MONTH_DAYS], ["cif"], before=0.0).iloc[0]
        keys.append(row("cif_discharge_without_job_pct", 100 * at["cif"], AJ_METHOD + "; competing event: employment",
                        level=str(months), factor="months", n=len(times)))

    tau = 12 * MONTH_DAYS
    rmst, se = restricted_mean(km, tau)
    keys.append(row("rmst_days_to_employment_12m", rmst,
                    "Restricted mean time without employment over the first 12 months (365.25 days): the area under "
                    "the Kaplan-Meier curve of remaining without a job (discharge censors); " + RMST_METHOD,
                    conf_low=rmst - Z95 * se, conf_high=rmst + Z95 * se, n=len(times)))

    risk = pd.DataFrame({"months": RISK_TABLE_MONTHS,
                         "days": [m * MONTH_DAYS for m in RISK_TABLE_MONTHS]})
    risk["n_at_risk"] = number_at_risk(cells["days"], risk["days"], cells[WEIGHT])

    group_keys, group_tables = compare_groups(
        cells, "days", "employed", "employment", "employment (cause-specific: discharge without a job censors)",
        {"6m": 6 * MONTH_DAYS, "12m": 12 * MONTH_DAYS})
    tables = {"employment_km": km, "employment_cif": cif, "employment_cif_competing": competing,
              "employment_at_risk": risk, **group_tables}
    return keys + group_keys, tables
