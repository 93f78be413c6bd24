"""The case-load from the extract's dates alone (the capacity analysis's first step, analysis/questions/capacity.py):
each person's phases (seeking work, in work, in education), the number on the case-load on each day, and the
time people spend in each phase, censoring-aware (Kaplan-Meier of leaving the phase).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.core.contract import IN_WORK_OUTCOMES
from analysis.questions.in_work import support_times
from analysis.stats.survival import kaplan_meier, restricted_mean, step_at


# --- phases and the census ---------------------------------------------------------------------------------

def phases(data: pd.DataFrame, extract_date: pd.Timestamp) -> pd.DataFrame:
    """One row per person: day numbers (days since the first day of the first contacts' first month) of first
    contact, of the outcome (NaN without one), of the end of the time on the case-load (discharge, or the
    extract date when open), whether discharged, and the outcome (a categorical: the what-if rules compare it
    many times, and ten million text values took seconds per comparison)."""
    origin = data["first_contact_date"].min().to_period("M").to_timestamp()
    day = lambda dates: (dates - origin).dt.days.to_numpy(dtype=float)  # noqa: E731
    start = day(data["first_contact_date"])
    end = day(data["discharge_date"].fillna(extract_date))
    outcome_day = day(data["outcome_date"])
    outcome_day = np.where(np.isnan(outcome_day), np.nan, np.clip(outcome_day, start, end))
    return pd.DataFrame({"start": start, "outcome_day": outcome_day, "end": end,
                         "discharged": data["discharge_date"].notna().to_numpy(),
                         "outcome": pd.Categorical(data["outcome"])})


def phase_spans(p: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """[from, to) day numbers of each person's time in each phase (empty spans where a person has none)."""
    has = ~np.isnan(p["outcome_day"].to_numpy())
    o = np.where(has, p["outcome_day"], p["end"])
    in_work = p["outcome"].isin(IN_WORK_OUTCOMES).to_numpy() & has
    education = (p["outcome"] == "education").to_numpy() & has
    start, end = p["start"].to_numpy(), p["end"].to_numpy()
    return {"seeking": (start, o),
            "in_work": (np.where(in_work, o, 0.0), np.where(in_work, end, 0.0)),
            "education": (np.where(education, o, 0.0), np.where(education, end, 0.0))}


def census(spans: dict[str, tuple[np.ndarray, np.ndarray]], days: int) -> pd.DataFrame:
    """The number on the case-load on each day 0..days-1, by phase and in total (a count series)."""
    out = {"day": np.arange(days)}
    for phase, (a, b) in spans.items():
        keep = b > a
        change = (np.bincount(a[keep].astype(int), minlength=days + 1)[:days + 1]
                  - np.bincount(np.minimum(b[keep], days).astype(int), minlength=days + 1)[:days + 1])
        out[phase] = np.cumsum(change)[:days].astype(np.int64)
    table = pd.DataFrame(out)
    table["total"] = table[list(spans)].sum(axis=1)
    return table


# --- durations ----------------------------------------------------------------------------------------------

def phase_durations(data: pd.DataFrame, extract_date: pd.Timestamp, p: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per phase, one row per person who entered it: days in the phase and whether they left it (1) or were
    still in it at the extract date (0). The in-work phase is exactly the in-work support of R5-R7."""
    spans = phase_spans(p)
    open_at_end = ~p["discharged"].to_numpy()
    has = ~np.isnan(p["outcome_day"].to_numpy())
    seeking_left = has | ~open_at_end
    out = {"seeking": pd.DataFrame({"days": spans["seeking"][1] - spans["seeking"][0],
                                    "left": seeking_left.astype(int)})}
    support = support_times(data, extract_date)
    out["in_work"] = pd.DataFrame({"days": support["days"].to_numpy(dtype=float),
                                   "left": support["discharged"].to_numpy()})
    education = (p["outcome"] == "education").to_numpy() & has
    out["education"] = pd.DataFrame({"days": (spans["education"][1] - spans["education"][0])[education],
                                     "left": (~open_at_end[education]).astype(int)})
    out["total"] = pd.DataFrame({"days": p["end"] - p["start"], "left": p["discharged"].astype(int)})
    return out


def _km(frame: pd.DataFrame) -> pd.DataFrame:
    cells = frame.groupby(["days", "left"]).size().rename("n").reset_index()
    return kaplan_meier(cells["days"], cells["left"], cells["n"])


def area_between(km: pd.DataFrame, lower: float, upper: float) -> float:
    """Area under a Kaplan-Meier curve from `lower` to `upper` (0 when upper <= lower)."""
    if upper <= lower or not len(km):
        return 0.0
    return restricted_mean(km, upper)[0] - restricted_mean(km, lower)[0]


def survival_at(km: pd.DataFrame, days: float) -> float:
    return float(step_at(km, [days], ["survival"]).iloc[0]["survival"]) if len(km) else 0.0
