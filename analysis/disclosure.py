"""Statistical disclosure control for outputs shared outside the trust.

Preset `nhs` (the default for a trust's extract):
- counts from 1 to 7 are suppressed (blank, and named in the row's `suppressed` column); every other
  count is rounded to the nearest 5 (0 stays 0);
- a rate, percentage, median or curve value is suppressed when it rests on fewer than 8 people, when a
  count in its row was suppressed, or when its numerator or its complement (implied by a percentage and
  its denominator) is from 1 to 7;
- secondary suppression: where exactly one count of a set (the groups of one factor) was suppressed, the
  next smallest is suppressed too, so the total cannot give it back; in key_results, which gives a group's
  rate and n but not its numerator, the same rule is applied to the numerators that rate x n implies, so a
  rate hidden in a table is hidden there too;
- Kaplan-Meier and cumulative-incidence tables are cut to whole months (no single day's events) before
  the rules above apply, and the figures are drawn from those tables;
- model estimates and test statistics (hazard and odds ratios, chi-squared, p-values) are not suppressed,
  but the counts beside them are.
Not yet done: rates and percentages are computed from the exact counts, not the rounded ones, so for a
small group a rate can give the exact counts back (see the README).
Preset `none` leaves everything as computed (the synthetic data, internal use).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from .calibration import round_half_up
from .estimators import at_risk_on_curve
from .results import MONTH_DAYS

COUNT_COLUMNS = {"n", "n_risk", "n_event", "n_censor", "n_competing", "events", "positive", "ips_n", "cmht_n",
                 "referrals", "jobs", "n_at_risk", "n_ips", "n_cmht", "rows"}
# Columns that are not statistics of people at all (labels, times, degrees of freedom, flags).
NEUTRAL_COLUMNS = {"time", "months", "days", "df", "q_df", "chi2_df", "factor", "level", "measure", "method", "model",
                   "term", "reference", "characteristic", "category", "site", "step", "reason", "event", "flag",
                   "suppressed", "in_reference_table", "note", "sparse", "chi2_method", "exact_method",
                   "outside_95", "outside_99.8", "period_months", "published_rate_pct", "source"}
# Tables of model estimates and tests: only their counts are controlled.
MODEL_TABLES = ("_cox", "_logit", "_logrank", "_ph_test", "_tests", "_logit_lr", "sites_summary", "model_exclusions")
MODEL_MEASURES = ("_cox_hr", "logit_", "_logrank_", "access_chi2", "access_p", "outcome_chi2", "outcome_p",
                  "outcome_exact_p", "site_chi2", "site_p", "site_i2", "site_random_effects", "representation_ratio")
COUNT_MEASURES = ("cohort_n", "site_jobs_total")
CURVE_TABLES = ("_km", "_cif", "_cif_competing", "_km_by_group")
SET_KEYS = ("measure", "factor", "characteristic", "model")
# Descriptive tables: the column holding the number of people each row's statistics rest on.
DENOMINATOR = {"by_group": "n", "outcome": "n", "access_composition": "ips_n", "sites_rates": "referrals",
               "key_results": "n", "at_risk": "n_at_risk", "exclusions": "rows"}


@dataclass(frozen=True)
class Disclosure:
    name: str
    threshold: int  # counts 1..threshold are suppressed
    base: int  # other counts rounded to the nearest multiple of this
    min_people: int  # statistics resting on fewer people are suppressed

    @property
    def active(self) -> bool:
        return self.threshold > 0 or self.base > 1

    def describe(self) -> str:
        if not self.active:
            return "none: outputs as computed (synthetic or internal data)"
        return (f"{self.name}: counts 1-{self.threshold} suppressed, others rounded to the nearest {self.base}; "
                f"statistics on fewer than {self.min_people} people suppressed; secondary suppression; "
                f"survival curves by whole month; model estimates and test statistics not suppressed; "
                f"rates and percentages computed from the unrounded counts")


PRESETS = {"nhs": Disclosure("nhs", 7, 5, 8), "none": Disclosure("none", 0, 1, 0)}


def preset(name: str, threshold: int | None = None, base: int | None = None) -> Disclosure:
    chosen = PRESETS[name]
    if threshold is not None:
        chosen = replace(chosen, name=f"{chosen.name} (custom)", threshold=threshold, min_people=threshold + 1)
    if base is not None:
        chosen = replace(chosen, name=f"{chosen.name} (custom)", base=base)
    return chosen


def round_counts(values: pd.Series, rule: Disclosure) -> np.ndarray:
    """round_count for a whole column of whole-number counts (half up: 12.5 -> 15 cannot arise from whole
    numbers and base 5, and for base 2 floor(x + 0.5) is half up)."""
    v = values.to_numpy(dtype=float)
    rounded = np.floor(v / rule.base + 0.5) * rule.base
    return np.where(np.isnan(v) | (v == 0), v, np.where((v >= 1) & (v <= rule.threshold), np.nan, rounded))


def monthly(curve: pd.DataFrame, value_columns: list[str], start: float) -> pd.DataFrame:
    """A step curve (per day) cut to whole months: value at each month, counts over each month."""
    months = np.arange(0, int(np.ceil(curve["time"].max() / MONTH_DAYS)) + 1 if len(curve) else 1)
    grid = months * MONTH_DAYS
    times = curve["time"].to_numpy(dtype=float)
    idx = np.searchsorted(times, grid, side="right") - 1
    out = {"months": months, "time": grid}
    for column in value_columns:
        values = curve[column].to_numpy(dtype=float)
        out[column] = np.where(idx >= 0, values[np.maximum(idx, 0)], start if "std_err" not in column else 0.0)
    out["n_risk"] = at_risk_on_curve(curve, grid)
    for column in ("n_event", "n_competing", "n_censor"):
        if column in curve:
            cumulative = np.concatenate([[0.0], np.cumsum(curve[column].to_numpy(dtype=float))])
            upto = np.searchsorted(times, grid, side="right")
            out[column] = np.diff(np.concatenate([[0.0], cumulative[upto]]))
    for column in ("method", "factor", "level"):
        if column in curve and len(curve):
            out[column] = curve[column].iloc[0]
    return pd.DataFrame(out)  # in one go: a curve per group, and column-by-column frames cost more than the sums


def _coarsen(name: str, table: pd.DataFrame) -> pd.DataFrame:
    value_columns = [c for c in ("survival", "cif", "std_err", "conf_low", "conf_high") if c in table]
    start = 1.0 if "survival" in table else 0.0
    if "factor" in table and "level" in table:
        parts = [monthly(group, value_columns, start) for _, group in table.groupby(["factor", "level"], sort=False)]
        return pd.concat(parts, ignore_index=True) if parts else table
    return monthly(table, value_columns, start)


def _statistic_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if c not in COUNT_COLUMNS and c not in NEUTRAL_COLUMNS
            and pd.api.types.is_numeric_dtype(table[c])]


def control_table(name: str, table: pd.DataFrame, rule: Disclosure) -> pd.DataFrame:
    """Apply the rule to one output table (see the module's docstring)."""
    if not rule.active or table is None or len(table) == 0:
        return table
    if name.endswith(CURVE_TABLES):
        table = _coarsen(name, table)
    out = table.copy()
    counts = [c for c in out.columns if c in COUNT_COLUMNS]
    suppressed = pd.DataFrame(False, index=out.index, columns=counts)
    for c in counts:
        original = out[c].astype(float)
        suppressed[c] = (original >= 1) & (original <= rule.threshold)
    # Secondary suppression within each set of groups.
    keys = [k for k in SET_KEYS if k in out.columns]
    set_of = (out.groupby(keys, sort=False).ngroup().to_numpy() if keys else np.zeros(len(out), dtype=np.int64))
    for c in counts:
        suppressed[c] |= _secondary(out[c].to_numpy(dtype=float), suppressed[c].to_numpy(), set_of)
    for c in counts:
        rounded = round_counts(out[c], rule)
        rounded[suppressed[c].to_numpy()] = np.nan
        out[c] = pd.array(np.round(rounded), dtype="Int64")  # whole numbers, blank where suppressed
    notes = [[c for c in counts if suppressed.at[i, c]] for i in out.index]

    is_model_table = any(tag in name for tag in MODEL_TABLES)
    if not is_model_table:
        stats = _statistic_columns(out)
        denominator = next((col for key, col in DENOMINATOR.items() if key in name and col in table), None)
        curve = name.endswith(CURVE_TABLES)
        # A curve's monthly event counts are controlled as counts; its values rest on the people at risk.
        hide = (suppressed.any(axis=1) if counts and not curve else pd.Series(False, index=out.index))
        if denominator is not None and not curve:
            people = table[denominator].astype(float)
            hide |= people < rule.min_people
            for c in [c for c in stats if c.endswith("pct") or c in ("value",)]:
                implied = (table[c].astype(float) * people / 100).round()
                pct_like = table["measure"].str.contains("pct") if "measure" in table else pd.Series(True, index=out.index)
                small = pct_like & (((implied >= 1) & (implied <= rule.threshold))
                                    | (((people - implied) >= 1) & ((people - implied) <= rule.threshold)))
                hide |= small.fillna(False)
            if name == "key_results":
                hide |= _numerator_secondary(table, people, rule)
        if name == "key_results":
            model_rows = out["measure"].str.contains("|".join(MODEL_MEASURES))
            count_rows = out["measure"].isin(COUNT_MEASURES)
            out.loc[count_rows, "value"] = round_counts(out.loc[count_rows, "value"], rule)
            hide &= ~model_rows & ~count_rows
        if curve:
            hide |= out["n_risk"].isna() | (table["n_risk"].astype(float) < rule.min_people)
        for c in stats:
            if name == "key_results" and c == "n":
                continue
            out.loc[hide, c] = np.nan
        notes = [n + (["statistics"] if h and stats else []) for n, h in zip(notes, hide)]
    out["suppressed"] = ["; ".join(n) for n in notes]
    return out


def _secondary(values: np.ndarray, primary: np.ndarray, set_of: np.ndarray) -> np.ndarray:
    """Secondary suppression: in each set (set_of; -1 = in none) where exactly one value was suppressed, the
    next smallest positive value too, so the set's total cannot give the first back."""
    extra = np.zeros(len(values), dtype=bool)
    in_set = set_of >= 0
    n_primary = np.bincount(set_of[in_set], weights=primary[in_set].astype(float))
    sizes = np.bincount(set_of[in_set])
    for group in np.flatnonzero((n_primary == 1) & (sizes > 1)):
        members = np.flatnonzero(set_of == group)
        others = members[~primary[members] & (values[members] > 0)]
        if len(others):
            extra[others[np.argmin(values[others])]] = True
    return extra


def _numerator_secondary(key: pd.DataFrame, people: pd.Series, rule: Disclosure) -> pd.Series:
    """Key results give a group's rate and its n but not the numerator, which rate x n gives back. Where a
    factor's table suppressed exactly one numerator (e.g. positive outcomes), it suppressed the next smallest
    too; the same rule is applied here to the implied numerators, so the key results cannot give back what
    the table withheld."""
    implied = (key["value"].astype(float) * people / 100).round().to_numpy()
    by_group = key["measure"].str.contains("pct") & (key["factor"] != "all")
    set_of = np.full(len(key), -1)
    set_of[by_group.to_numpy()] = key[by_group].groupby(["measure", "factor"], sort=False).ngroup().to_numpy()
    primary = (implied >= 1) & (implied <= rule.threshold)
    return pd.Series(_secondary(implied, primary, set_of), index=key.index)


def control_tables(tables: dict[str, pd.DataFrame], rule: Disclosure) -> dict[str, pd.DataFrame]:
    """Apply the rule to each table (each is controlled on its own, so tables can be controlled as they are made)."""
    return {name: control_table(name, table, rule) for name, table in tables.items()}
