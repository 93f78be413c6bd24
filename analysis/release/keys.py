"""Key results (key_results.csv) under control: each row read from the controlled table it comes from, or
recomputed by the same rule, so that one number is the same in every file.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from analysis.core.results import MONTH_DAYS, Z95
from analysis.questions import access, outcome, sites
from analysis.release.curves import coarse, coarse_days, coarse_note
from analysis.release.from_counts import _hull_note
from analysis.release.referee import REFEREE_MEASURES
from analysis.release.rules import Disclosure, HIDDEN_NOTE, published_counts, rounded, small
from analysis.release.step import _group_ok, Step
from analysis.stats import intervals
from analysis.stats.survival import at_risk_on_curve, km_median, restricted_mean_time_lost, step_at


def _lookup(table: pd.DataFrame | None, **where) -> pd.Series | None:
    if table is None or not len(table):
        return None
    mask = np.ones(len(table), dtype=bool)
    for column, value in where.items():
        if column not in table:
            return None
        mask &= (table[column].astype(str) == str(value)).to_numpy()
    return table[mask].iloc[0] if mask.sum() == 1 else None


def _from_row(key: dict, source: pd.Series | None, value: str, low: str | None = None, high: str | None = None,
              n: str | None = None, scale: float = 1.0) -> dict:
    out = dict(key)
    if source is None:
        out.update(value=np.nan, conf_low=np.nan, conf_high=np.nan, suppressed=HIDDEN_NOTE)
        return out
    get = lambda c: float(source[c]) * scale if c and c in source and pd.notna(source[c]) else np.nan  # noqa: E731
    out.update(value=get(value), conf_low=get(low) if low else np.nan, conf_high=get(high) if high else np.nan)
    if n and n in source:
        out["n"] = source[n]
    # blank because the rule hid it, or blank already (not computed on these data: nothing was suppressed)
    out["suppressed"] = HIDDEN_NOTE if pd.isna(out["value"]) and pd.notna(key.get("value")) else ""
    return out


def _share(key: dict, rule: Disclosure) -> dict:
    """A percentage of people (value, n): recomputed from the rounded numerator and denominator."""
    out = dict(key)
    n = float(key["n"]) if key["n"] is not None and pd.notna(key["n"]) else np.nan
    k = np.rint(key["value"] * n / 100) if pd.notna(key["value"]) else np.nan
    ok = bool(_group_ok(n, k, rule, binary=True)) if pd.notna(n) and pd.notna(k) else False
    shown_n = rounded(n, rule)
    out["n"] = shown_n if not small(n, rule) else np.nan
    out["value"] = 100 * rounded(k, rule) / shown_n if ok and shown_n > 0 else np.nan
    out["method"] = key["method"] + "; from the rounded counts"
    out["suppressed"] = "" if ok else HIDDEN_NOTE
    return out


def _weeks(key: dict, rule: Disclosure) -> dict:
    out = dict(key)
    n = float(key["n"]) if key["n"] is not None and pd.notna(key["n"]) else 0.0
    ok = n >= rule.min_people
    for c in ("value", "conf_low", "conf_high"):
        out[c] = 7 * np.floor(key[c] / 7 + 0.5) if ok and pd.notna(key[c]) else np.nan
    out["method"] = key["method"] + "; rounded to whole weeks (disclosure control)"
    out["suppressed"] = "" if ok else HIDDEN_NOTE
    return out


# Key results that summarise a curve: computed on the person-level data, published coarse (`coarse`), with the
# published curve they summarise (blank where it is not published or has fewer than m at risk by then).
COARSE_MEASURES = {"km_median_days_to_employment": "employment_km", "km_median_days_in_work_support": "in_work_km",
                   "cif_employment_pct": "employment_cif", "cif_competing_pct": "employment_cif_competing",
                   "km_pct_still_supported": "in_work_km", "rmtl_days_employed_12m": "employment_cif",
                   "mean_days_without_job_12m": "employment_cif"}


def _coarse_key_row(key: dict, step: Step, rule: Disclosure) -> dict:
    m, level = key["measure"], key["level"]
    curve = step.curves.get(COARSE_MEASURES[m])
    months = int(level) if key["factor"] == "months" else 12
    if curve is None or (key["factor"] == "months"
                         and at_risk_on_curve(curve, [months * MONTH_DAYS])[0] < rule.min_people):
        return _from_row(key, None, "value")
    n = float(curve["n_risk"].iloc[0])  # the cohort as its published curve counts it
    value, low, high = key["value"], key["conf_low"], key["conf_high"]
    if m.startswith("km_median"):
        value, low, high = coarse_days(value, low, high)
    elif m.startswith(("rmtl", "mean_days")):
        step_days = intervals.days_step(published_counts(n, rule), rule.base, 12 * MONTH_DAYS)
        if m.startswith("mean_days"):  # 365.25 less the time lost as published, so the two add up to the year
            tau = 12 * MONTH_DAYS
            lost, lost_low, lost_high = intervals.outward(tau - value, tau - high, tau - low, step_days)
            value, low, high = tau - lost, tau - lost_high, tau - lost_low
        else:
            value, low, high = intervals.outward(value, low, high, step_days)
    else:
        value, low, high = coarse(value, low, high, n, rule)
    return {**key, "value": float(value), "conf_low": float(low), "conf_high": float(high), "n": n,
            "method": key["method"] + coarse_note(rule), "suppressed": ""}


def _key_row(key: dict, step: Step, rule: Disclosure) -> dict:
    """One key result as published: read from the controlled tables, or recomputed by the same rule."""
    m, factor, level = key["measure"], key["factor"], key["level"]
    tables, curves = step.out, step.curves
    if m.startswith(REFEREE_MEASURES):
        return _referee_key_row(key, step)
    if m == "cohort_n":
        value = float(published_counts(key["value"], rule))
        return {**key, "value": value, "suppressed": "" if pd.notna(value) else "value"}
    if m in ("median_days_to_employment", "median_days_in_work_support"):
        return _weeks(key, rule) if rule.has("whole_weeks") else key
    if m in ("median_months_to_employment", "median_months_in_work_support"):
        days = _weeks({**key, "value": key["value"] * MONTH_DAYS, "conf_low": np.nan, "conf_high": np.nan}, rule) \
            if rule.has("whole_weeks") else {**key, "value": key["value"] * MONTH_DAYS}
        return {**days, "value": days["value"] / MONTH_DAYS}
    if m.startswith("pct_"):
        return _share(key, rule) if rule.has("published_counts") else key
    prefix = "employment" if "employment" in m else "in_work"
    if rule.has("true_intervals") and m in COARSE_MEASURES:
        return _coarse_key_row(key, step, rule)
    if m in ("km_median_days_to_employment", "km_median_days_in_work_support"):
        km = curves.get(f"{prefix}_km")
        if km is None:
            return _from_row(key, None, "value")
        median, low, high = km_median(km)
        return {**key, "value": median, "conf_low": low, "conf_high": high, "n": km["n_risk"].iloc[0],
                "method": key["method"] + "; from the published monthly curve", "suppressed": ""}
    if m in ("cif_employment_pct", "cif_competing_pct", "km_pct_still_supported"):
        name = {"cif_employment_pct": "employment_cif", "cif_competing_pct": "employment_cif_competing",
                "km_pct_still_supported": "in_work_km"}[m]
        column = "survival" if m == "km_pct_still_supported" else "cif"
        published = tables.get(name)
        at = _lookup(published, months=level)
        if at is None and published is not None and len(published) and name in curves:
            # no exit in that month: the step function's value carried forward from the published curve
            at = step_at(curves[name], [int(level) * MONTH_DAYS], [column, "conf_low", "conf_high"],
                         before=1.0 if column == "survival" else 0.0).iloc[0]
            thin = at_risk_on_curve(curves[name], [int(level) * MONTH_DAYS])[0] < rule.min_people
            at = None if thin else at
        out = _from_row(key, at, column, "conf_low" if pd.notna(key["conf_low"]) else None,
                        "conf_high" if pd.notna(key["conf_high"]) else None, scale=100)
        return {**out, "n": curves[name]["n_risk"].iloc[0] if name in curves else np.nan}
    if m in ("rmtl_days_employed_12m", "mean_days_without_job_12m"):
        cif = curves.get("employment_cif")
        if cif is None:
            return _from_row(key, None, "value")
        tau = 12 * MONTH_DAYS
        lost, se = restricted_mean_time_lost(cif, tau)
        value = lost if m == "rmtl_days_employed_12m" else tau - lost
        return {**key, "value": value, "conf_low": value - Z95 * se, "conf_high": value + Z95 * se,
                "n": cif["n_risk"].iloc[0], "method": key["method"] + "; from the published monthly curve",
                "suppressed": ""}
    if m == "employment_gray_p":
        gray = tables.get("competing_gray")
        jobs = gray[gray["cause"] == "job"] if gray is not None and len(gray) else gray
        return _from_row(key, _lookup(jobs, factor=factor), "p", n="n")
    match = re.match(r"^(employment|in_work)_logrank_(p|chi2)$", m)
    if match:
        return _from_row(key, _lookup(tables.get(f"{match.group(1)}_logrank"), factor=factor), match.group(2), n="n")
    match = re.match(r"^(employment|in_work)_(cox_hr|fine_gray_shr)_(unadjusted|adjusted)$", m)
    if match:
        cox = match.group(2) == "cox_hr"
        table = tables.get(f"{match.group(1)}_cox" if cox else "competing_fine_gray")
        source = None
        if table is not None and len(table):
            source = _lookup(table[table["model"].str.startswith(match.group(3) + ":")], factor=factor, level=level)
        return _from_row(key, source, "hazard_ratio" if cox else "subdistribution_hr", "conf_low", "conf_high", "n")
    match = re.match(r"^outcome_(rate_pct|chi2|p|exact_p)(_excluding_small)?(_12m_window)?$", m)
    if match:
        name = f"outcome{match.group(3) or ''}"
        if match.group(1) == "rate_pct":
            found = _from_row(key, _lookup(tables.get(f"{name}_rates"), factor=factor, level=level), "rate_pct",
                              "conf_low", "conf_high", "n")
            if rule.has("published_counts"):  # the rates file's rate and interval, from its rounded counts
                found["method"] = key["method"] + "; from the published (rounded) counts" + _hull_note(rule)
            return found
        test = outcome.EXCLUDING_SMALL if match.group(2) else outcome.AS_PUBLISHED
        return _from_row(key, _lookup(tables.get(f"{name}_tests"), factor=factor, test=test), match.group(1), n="n")
    match = re.match(r"^logit_(or|lr_p)_(unadjusted|adjusted)(_12m_window)?$", m)
    if match:
        name = f"outcome{match.group(3) or ''}_{'logit' if match.group(1) == 'or' else 'logit_lr'}"
        table = tables.get(name)
        source = None
        if table is not None and len(table):
            mine = table[table["model"].str.startswith(match.group(2) + ":")]
            source = (_lookup(mine, factor=factor, level=level) if match.group(1) == "or" else _lookup(mine, factor=factor))
        if match.group(1) == "or":
            return _from_row(key, source, "odds_ratio", "conf_low", "conf_high", "n")
        return _from_row(key, source, "p", n="n")
    return _from_row(key, None, "value") | {"method": key["method"] + "; no disclosure rule for this measure"}


# Measures that the access and site steps recompute from published counts (the `replaced` rows below).
RECOMPUTED_MEASURES = ("access_", "representation_ratio", "reach_", "need_", *sites.SOURCES.values())


def _family(measure: str) -> str:
    """The analysis whose visibility rule governs a recomputed measure (a key of Step.visible)."""
    for prefix, start in sites.SOURCES.items():
        if measure.startswith(start):
            return prefix
    return "access_need" if measure.startswith(access.SOURCES["access_need"][0]) else "access"


def _key_rows(keys: list[dict], step: Step, rule: Disclosure, replaced: list[dict] | None = None) -> list[dict]:
    """The step's key rows as published. `replaced`: rows recomputed on published counts by the analysis
    itself (access, sites), which stand in for the rows of the same measure, factor and level."""
    index = {(k["measure"], k["factor"], k["level"]): k for k in replaced or []}
    out = []
    for key in keys:
        ident = (key["measure"], key["factor"], key["level"])
        if ident in index:
            new = dict(index[ident])
            visible = step.visible.get((_family(key["measure"]), key["factor"], key["level"]), True)
            if not visible or (pd.isna(new["value"]) and not ident[0].endswith("jobs_total")):
                new.update(value=np.nan, conf_low=np.nan, conf_high=np.nan, suppressed=HIDDEN_NOTE)
            else:
                new["suppressed"] = ""
            out.append(new)
        elif replaced is not None and key["measure"].startswith(RECOMPUTED_MEASURES):
            out.append({**key, "value": np.nan, "conf_low": np.nan, "conf_high": np.nan, "suppressed": HIDDEN_NOTE})
        elif key["measure"].startswith(RECOMPUTED_MEASURES):
            out.append(_precision_only(key))
        else:
            out.append(_key_row(key, step, rule))
    for row in out:
        if row.get("n") is not None and pd.notna(row.get("n")):
            row["n"] = float(published_counts(float(row["n"]), rule))
    return out


def _precision_only(key: dict) -> dict:
    """Access and site key rows when published-count recomputation is switched off: precision only."""
    out = dict(key)
    for c in ("value", "conf_low", "conf_high"):
        if pd.notna(out[c]):
            out[c] = round(float(out[c]), 3)
    out["suppressed"] = ""
    return out


def _referee_key_row(key: dict, step: Step) -> dict:
    m, level = key["measure"], key["level"]
    tables = step.out
    if m.startswith("holm_p_"):
        source = "access_tests.csv" if m == "holm_p_access" else "outcome_tests.csv"
        table = tables.get("multiplicity")
        primary = table[(table["source"] == source) & (table["role"] == "primary")] if table is not None and len(table) \
            else None
        row = _lookup(primary, factor=key["factor"]) if primary is not None else None
        return _from_row(key, row, "holm_p")
    steady = _lookup(tables.get("capacity_steady"))
    if m == "capacity_arrivals_per_month":
        return _from_row(key, steady, "arrivals_per_month")
    if m == "capacity_steady_caseload":
        return _from_row(key, steady, "steady_caseload")
    if m == "capacity_caseload_per_specialist":
        return _from_row(key, steady, "steady_caseload_per_specialist")
    if m == "capacity_littles_law_difference_pct":
        return _from_row(key, _lookup(tables.get("capacity_littles_law"), phase="total"), "relative_difference_pct")
    column = {"capacity_places_freed": "places_freed", "capacity_people_cut_per_year": "people_cut_per_year",
              "capacity_more_starts_per_year": "more_starts_per_year",
              "capacity_jobs_forgone_per_year": "jobs_forgone_per_year"}.get(m)
    if column:
        return _from_row(key, _lookup(tables.get("capacity_what_if"), rule=level), column)
    return _from_row(key, None, "value") | {"method": key["method"] + "; no disclosure rule for this measure"}
