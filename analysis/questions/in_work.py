"""In-work support: from job start (or the day in-work support began) to discharge from the IPS case-load.

People whose outcome is gained_employment or retained_employment; discharge is the event, the extract
date censors those still supported (contract.SURVIVAL_RULES).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.core.contract import FACTORS, IN_WORK_OUTCOMES
from analysis.stats.survival import KM_MEDIAN_METHOD, KM_METHOD, kaplan_meier, km_median, step_at
from analysis.core.results import MONTH_DAYS, row
from analysis.stats.modelling import WEIGHT, collapse
from analysis.questions.survival_common import compare_groups

YEAR_DAYS = 365  # "more than 12 months" = more than 365 days of support


def support_times(data: pd.DataFrame, extract_date: pd.Timestamp) -> pd.DataFrame:
    used = ["person_id", "outcome_date", "discharge_date", *FACTORS]
    in_work = data.loc[data["outcome"].isin(IN_WORK_OUTCOMES).to_numpy(), used]  # not every column's copy
    discharged = in_work["discharge_date"].notna().to_numpy()
    end = in_work["discharge_date"].fillna(extract_date)
    out = pd.DataFrame({"person_id": in_work["person_id"].array,
                        "days": (end - in_work["outcome_date"]).dt.days.to_numpy(),
                        "discharged": discharged.astype(int)})
    for factor in FACTORS:
        out[factor] = in_work[factor].array  # kept categorical; text only after collapsing
    return out


def support_curve(times: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The people's support times collapsed to counts (days, discharged), and their Kaplan-Meier curve of
    still being supported."""
    cells = collapse(times, ["days", "discharged"])
    return cells, kaplan_meier(cells["days"], cells["discharged"], cells[WEIGHT])


def still_supported(km: pd.DataFrame, months: int) -> pd.Series:
    """The Kaplan-Meier percentage still supported at `months` (survival, conf_low, conf_high)."""
    return 100 * step_at(km, [months * MONTH_DAYS], ["survival", "conf_low", "conf_high"]).iloc[0]


def analyse(data: pd.DataFrame, extract_date: pd.Timestamp) -> tuple[list[dict], dict[str, pd.DataFrame]]:
    times = support_times(data, extract_date)
    n = len(times)
    done = times.loc[times["discharged"] == 1, "days"]
    q1, median, q3 = np.percentile(done, [25, 50, 75]) if len(done) else (np.nan,) * 3
    keys = [
        row("median_days_in_work_support", median,
            "Sample median and quartiles (linear interpolation, R type 7) of days from outcome date to discharge "
            "among people in work who were discharged by the extract date; conf_low/high = quartiles",
            conf_low=q1, conf_high=q3, n=len(done), interval="quartiles"),
        row("median_months_in_work_support", median / MONTH_DAYS, f"As median_days_in_work_support; days / {MONTH_DAYS:.4f}",
            n=len(done)),
        row("pct_in_work_support_over_12m", 100 * (times["days"] > YEAR_DAYS).mean(),
            "Share of people in work whose support (outcome date to discharge, or to the extract date if still "
            "open) exceeded 365 days", n=n),
        row("pct_not_requiring_time_unlimited_support", 100 * times["discharged"].mean(),
            "Share of people in work discharged from the IPS case-load by the extract date", n=n),
        row("pct_discharged_within_6m_of_discharged", 100 * (done <= 6 * MONTH_DAYS).mean(),
            "Share of those discharged whose support lasted at most 6 months (182.6 days)", n=len(done)),
    ]
    cells, km = support_curve(times)
    median, low, high = km_median(km)
    keys.append(row("km_median_days_in_work_support", median,
                    KM_MEDIAN_METHOD + "; event = discharge, censored at the extract date", conf_low=low,
                    conf_high=high, n=n))
    for months in (6, 12):
        at = still_supported(km, months)
        keys.append(row("km_pct_still_supported", at["survival"], KM_METHOD["log-log"],
                        factor="months", level=str(months), conf_low=at["conf_low"],
                        conf_high=at["conf_high"], n=n))

    group_keys, group_tables = compare_groups(cells, "days", "discharged", "in_work", "discharge from in-work support",
                                              {"6m": 6 * MONTH_DAYS, "12m": 12 * MONTH_DAYS})
    return keys + group_keys, {"in_work_km": km, **group_tables}
