"""Statistical disclosure control for outputs shared outside the trust.

The rule is judged by what an attacker can recover from every shared file together, not cell by cell.
Its principle: **every number published is either a rounded count, or computed from rounded counts
that are themselves published, or a model estimate fitted on the person-level data shown at reduced
precision for groups large enough to fit**. Preset `nhs` (the default for a trust's extract), with
threshold t = 7, base b = 5 and minimum m = 8 people:

1. Small groups merged before any analysis. A level of a factor with fewer than m people in the analysed
   cohort is counted with 'Not known' (shown in tables, never tested or modelled), in the extract and in
   the CMHT table alike, so a group whose size would be hidden appears in no table, curve, model or test.
2. Counts. Counts from 1 to t are blank (named in the row's `suppressed` column); every other count is
   rounded to the nearest multiple of b; 0 stays 0. Totals are rounded on their own, never derived, so
   a total minus the groups gives an interval, not a count. Rounding cell by cell is not controlled
   rounding, though: where the groups' and the total's intervals meet at one value (groups of 38, 38 and
   1 published as 40, 40 and blank beside a total of 77 published as 75), the outcome tables blank the
   smallest shown group too, marked "(secondary)", until nothing is pinned.
3. Statistics from published counts. Rates, percentages and their Wilson CIs, CMHT shares, representation
   ratios, chi-squared and exact tests, and the unadjusted odds ratios and likelihood-ratio tests (the
   saturated logistic model of one factor is a function of its 2 x k table) are computed from the rounded
   counts in the same file, so a reader can recompute each one and learns nothing more. Whether a group's
   statistics are published is judged on its *published* counts (`published_conditions`): a published size
   of at least 10 (m people round to 10), events and, for a binary outcome, non-events not blank, and (rule
   9) not a group in which nobody or everybody had the outcome; so being shown or left out says nothing the
   published counts do not. Otherwise its statistics are blank in every file (the consistency tests check
   this), and its outcome counts are blank beside them (`zeros_beside_blanks`: a 0 beside a blanked group
   would say that nobody in it had the outcome).
4. Tests and models compare published groups only (`tests_without_hidden_groups`). Every chi-squared,
   exact, log-rank, Gray's and PH test and every model of the run leaves out, as it leaves out 'Not
   known', each group whose statistics rule 3 hides (modelling.Comparable, set for the whole run), so a
   test cannot be differenced against a table to learn a hidden group's outcome; the tables' notes name the
   groups left out.
5. Curves. Kaplan-Meier and cumulative-incidence curves are published by whole month, recomputed from the
   cumulative numbers of events, competing events and censorings by the end of each month, each rounded
   to b (the method of OpenSAFELY's Kaplan-Meier action): the per-month counts and numbers at risk are
   differences of rounded cumulative counts, so no month's events and no cohort size can be solved from
   the curve. Rows with fewer than m at risk are blank; a group failing rule 3 has no curve at all. The
   republished curve carries no CI (a pointwise CI of rounded counts need not hold the exact curve's).
6. True intervals (`true_intervals`): every published interval holds the interval the same run computes
   without control (intervals.py; tests/test_release_intervals.py and the consistency tests compare each
   release with its uncontrolled run). A statistic of rounded counts has as CI the hull of its CIs over
   every set of counts the published ones may stand for (each count within its rounding interval, a blank
   anywhere from 0 or 1 to t). A summary of a curve (a median, the cumulative incidence or survival at 3,
   6, 12, 18 months, a restricted mean) is computed on the person-level data and published coarse: shares
   on a grid of the share b people make of the published group (at least 1 point), times in whole weeks,
   the estimate to the nearest step and the limits outward. Model CI limits are rounded outward.
7. Models on person-level data (Cox, Fine-Gray, the adjusted logistic model; log-rank, Gray's and
   proportional-hazards tests): ratios and CI limits to 2 decimals (limits outward), p-values to 3,
   chi-squared to 2; coefficients, SEs and z are not published (the CI carries the precision); rows for
   groups failing rule 3 are blank.
8. Person-level values and runs. Sample medians and quartiles are in whole weeks; no earliest or latest
   date is published (the default entry window is whole calendar months); the extract's SHA-256 is printed
   for the trust's local records, not written into the shared results. Entry windows must start on the
   first and end on the last day of a calendar month, so two runs differ by whole months of referrals; two
   runs whose windows differ by a month with fewer than m first contacts can still be differenced, so the
   output-checking log flags a window whose first or last month has fewer than m people, and the README
   asks for one release per window.
9. Class disclosure. A group of m or more in which nobody, or everybody, had an outcome tells each
   member's outcome without any small count. Hidden by default (`--class-disclosure hide`: rule 3 treats
   it as a hidden group); `--class-disclosure show` publishes it, the IG lead's documented choice. Either
   way the cells are listed in the local record (class_disclosure.csv under --local-dir), never in the
   release, and the log has a row saying which was chosen.
10. Fail-safe. A table or key result without a rule here has its statistics blanked ("no disclosure rule")
   and its file's verdict says so, so a new analysis cannot leak before someone writes its rule.
11. Capacity and the referee's analyses: the comment block "rule 11" further down.

Residual risks, stated rather than hidden: (a) the pinning check of rule 2 covers the outcome tables
(groups against their 'all' row); the group sizes of the survival and access tables are checked by the
attack tests only as far as they are totals of the same people elsewhere; (b) Cox, Fine-Gray and
adjusted logistic estimates come from person-level data, and their CI widths say roughly how many events
a group had (only for groups of 8 or more events); (c) runs with different extract dates are not
controlled against each other.

Every file's actions are written to `disclosure_log.csv` (file, column, action, cells, rule) with a verdict
per file, for the trust's output checker. Preset `none` leaves everything as computed (synthetic data,
internal use). The protections can be switched off one at a time (`Disclosure.protections`) so the attack
tests can show that each one is needed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from . import access, intervals, outcome, sites
from .contract import FACTORS, NOT_KNOWN
from .estimators import (aalen_johansen, at_risk_on_curve, kaplan_meier, km_median, restricted_mean_time_lost,
                         step_at)
from .modelling import MIN_COMPARED, WEIGHT, Comparable
from .proportions import wilson
from .results import MONTH_DAYS, Z95

COUNT_COLUMNS = {"n", "n_risk", "n_event", "n_censor", "n_competing", "events", "positive", "ips_n", "cmht_n",
                 "referrals", "jobs", "n_at_risk", "n_ips", "n_cmht", "rows"}
ALL_PROTECTIONS = frozenset({"merge_small_groups", "published_counts", "secondary_for_totals", "curves",
                             "model_precision", "whole_weeks", "no_identifying_metadata", "month_windows",
                             "published_conditions", "zeros_beside_blanks", "tests_without_hidden_groups",
                             "true_intervals"})
# The size of a row's group (a blank size blanks every count of the row, zeros included) and its outcome
# counts (blank wherever the row's statistics are, so a hidden group's outcome is never read from a zero).
SIZE_COLUMNS = ("n", "referrals", "ips_n", "n_ips")
OUTCOME_COLUMNS = ("positive", "jobs", "events")
REFERENCE_COUNTS = ("cmht_n", "n_cmht")  # the trust's own aggregate table, not counts of the extract
PRECISION = {"ratio": 2, "p": 3, "chi2": 2}
MODEL_HIDDEN_COLUMNS = ("coef", "se", "z", "log_odds_ratio")
RATIO_COLUMNS = ("hazard_ratio", "subdistribution_hr", "odds_ratio")
HIDDEN_NOTE = "statistics"


@dataclass(frozen=True)
class Disclosure:
    name: str
    threshold: int  # counts 1..threshold are suppressed
    base: int  # other counts rounded to the nearest multiple of this
    min_people: int  # statistics resting on fewer people are suppressed
    protections: frozenset = field(default=ALL_PROTECTIONS)
    # Class disclosure (the IG lead's option, --class-disclosure): a group of 8 or more in which nobody, or
    # everybody, had the outcome tells each member's outcome. Hidden by default ("hide"); "show" publishes it.
    class_disclosure: bool = True

    @property
    def active(self) -> bool:
        return self.threshold > 0 or self.base > 1

    def has(self, protection: str) -> bool:
        return self.active and protection in self.protections

    def comparing(self) -> Comparable:
        """The groups every test and model of a run compares (modelling.Comparable): those whose statistics
        this rule publishes, judged on published counts; without control, or with that protection off, the
        analysis's own rule only (groups of at least 10)."""
        if not self.has("tests_without_hidden_groups"):
            return Comparable()
        return Comparable(publish=lambda values: published_counts(values, self), threshold=self.threshold,
                          class_disclosure=self.class_disclosure)

    def describe(self) -> str:
        if not self.active:
            return "none: outputs as computed (synthetic or internal data)"
        off = sorted(ALL_PROTECTIONS - self.protections)
        return (f"{self.name}: groups of fewer than {self.min_people} people counted with 'Not known'; counts "
                f"1-{self.threshold} suppressed, others rounded to the nearest {self.base}; rates, tests and "
                f"unadjusted odds ratios computed from the rounded counts, with intervals that hold for every count "
                f"the rounded ones may stand for; curves from rounded cumulative monthly counts; summaries of curves "
                f"and model estimates from the person-level data on a coarse grid, intervals rounded outward; "
                f"medians in whole weeks; groups whose statistics are hidden left out of every test; class "
                f"disclosure (nobody or everybody in a group) {'hidden' if self.class_disclosure else 'shown'}"
                + (f"; PROTECTIONS OFF: {', '.join(off)}" if off else ""))


PRESETS = {"nhs": Disclosure("nhs", 7, 5, 8), "none": Disclosure("none", 0, 1, 0)}


def preset(name: str, threshold: int | None = None, base: int | None = None, class_disclosure: str = "hide"
           ) -> Disclosure:
    chosen = replace(PRESETS[name], class_disclosure=class_disclosure == "hide")
    if threshold is not None:
        chosen = replace(chosen, name=f"{chosen.name} (custom)", threshold=threshold, min_people=threshold + 1)
    if base is not None:
        chosen = replace(chosen, name=f"{chosen.name} (custom)", base=base)
    return chosen


# --- counts ------------------------------------------------------------------------------------------------

def rounded(values, rule: Disclosure) -> np.ndarray:
    """Nearest multiple of the base, half up (whole numbers and base 5 never tie); 0 stays 0, NaN stays NaN."""
    v = np.asarray(values, dtype=float)
    return np.floor(v / rule.base + 0.5) * rule.base


def small(values, rule: Disclosure) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    return (v >= 1) & (v <= rule.threshold)


def published_counts(values, rule: Disclosure) -> np.ndarray:
    """Counts as published: 1..threshold blank (NaN), others rounded."""
    return np.where(small(values, rule), np.nan, rounded(values, rule))


# --- the small-group merge (before any analysis) -------------------------------------------------------------

def merge_small_groups(data: pd.DataFrame, reference: pd.DataFrame | None, rule: Disclosure
                       ) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame]:
    """Count every level with fewer than min_people people as 'Not known', in the extract and the CMHT table.

    Returns the data, the reference table and a log of what was merged (factor, level; never the size)."""
    merged = []
    if not rule.has("merge_small_groups"):
        return data, reference, pd.DataFrame(columns=["factor", "level"])
    data = data.copy()
    for factor in FACTORS:
        sizes = data[factor].astype(str).value_counts()
        few = [level for level, n in sizes.items() if 0 < n < rule.min_people and level != NOT_KNOWN]
        if not few:
            continue
        merged += [(factor, level) for level in few]
        column = data[factor]
        if isinstance(column.dtype, pd.CategoricalDtype) and NOT_KNOWN not in column.cat.categories:
            column = column.cat.add_categories([NOT_KNOWN])
        data[factor] = column.where(~column.astype(str).isin(few), NOT_KNOWN)
        if reference is not None:
            reference = reference.copy()
            mine = (reference["characteristic"] == factor) & reference["category"].isin(few)
            reference.loc[mine, "category"] = NOT_KNOWN
            reference = (reference.groupby(["characteristic", "category"], sort=False, as_index=False)["count"].sum())
    return data, reference, pd.DataFrame(merged, columns=["factor", "level"])


def month_window_problem(entry_from: str | None, entry_to: str | None) -> str | None:
    """Under disclosure control an entry window is whole calendar months (differencing two runs then needs a
    whole month of referrals): the message to show, or None when the window is fine."""
    if entry_from and pd.Timestamp(entry_from).day != 1:
        return f"--entry-from {entry_from}: start the window on the first day of a month (e.g. {pd.Timestamp(entry_from):%Y-%m}-01)"
    if entry_to:
        end = pd.Timestamp(entry_to)
        if end != end + pd.offsets.MonthEnd(0):
            return (f"--entry-to {entry_to}: end the window on the last day of a month "
                    f"(e.g. {end + pd.offsets.MonthEnd(0):%Y-%m-%d})")
    return None


# --- curves ----------------------------------------------------------------------------------------------------

def _monthly_rounded(curve: pd.DataFrame, column: str, months: np.ndarray, rule: Disclosure) -> np.ndarray:
    """Per-month counts as differences of the rounded cumulative counts by the end of each month."""
    per_month = np.bincount(months, weights=curve[column].to_numpy(dtype=float), minlength=months.max(initial=0) + 1)
    return np.diff(np.concatenate([[0.0], rounded(np.cumsum(per_month), rule)]))


def _curve_visible(curve: pd.DataFrame, rule: Disclosure) -> bool:
    people = float(curve["n_risk"].iloc[0]) if len(curve) else 0.0
    if rule.has("published_conditions"):
        return bool(_group_ok(people, curve["n_event"].sum(), rule)[()])
    return people >= rule.min_people and not small(curve["n_event"].sum(), rule)


CURVE_INTERVALS = ("std_err", "conf_low", "conf_high")


def coarse(estimate, low, high, n, rule: Disclosure, scale: float = 100.0) -> tuple[np.ndarray, ...]:
    """A curve's value at a fixed time (a share on `scale`, 100 for percent) and its 95% CI, computed on the
    person-level data, as published: on a grid of the share `base` people make of the `n` people published
    (at least a point), the estimate to the nearest step and the limits outward, so the published interval
    holds the exact one and no more is said of the numerator than a rounded count says."""
    step = intervals.percent_step(published_counts(n, rule), rule.base) * scale / 100
    return intervals.outward(estimate, low, high, step)


def coarse_days(estimate, low, high) -> tuple[np.ndarray, ...]:
    """A time (a Kaplan-Meier median, a restricted mean) and its CI in whole weeks, the limits outward."""
    return intervals.outward(estimate, low, high, intervals.WEEK)


def published_curves(curve: pd.DataFrame, rule: Disclosure, competing: bool = False) -> dict[str, pd.DataFrame]:
    """A per-day curve table republished by whole month from rounded cumulative counts.

    `curve` is a kaplan_meier table (n_event, n_censor) or, with competing=True, an aalen_johansen table of
    cause 1 (n_event, n_competing, n_censor): then the cumulative incidence of each cause and the
    Kaplan-Meier of cause 1 (the other cause censoring) come from the same rounded counts. Keys: "km", and
    with competing "cif" and "cif_competing"."""
    months = np.maximum(np.ceil(curve["time"].to_numpy(dtype=float) / MONTH_DAYS - 1e-9), 0).astype(int)
    events = _monthly_rounded(curve, "n_event", months, rule)
    censored = _monthly_rounded(curve, "n_censor", months, rule)
    other = _monthly_rounded(curve, "n_competing", months, rule) if competing else np.zeros_like(events)
    grid = np.arange(len(events)) * MONTH_DAYS
    time = np.concatenate([grid, grid, grid])
    cause = np.repeat([1, 2, 0], len(grid))
    weight = np.concatenate([events, other, censored])
    keep = weight > 0
    time, cause, weight = time[keep], cause[keep], weight[keep]
    note = f"; republished by month from cumulative counts rounded to {rule.base} (disclosure control)"
    out = {"km": kaplan_meier(time, cause == 1, weight)}
    if competing:
        out["cif"] = aalen_johansen(time, cause, of=1, weight=weight)
        out["cif_competing"] = aalen_johansen(time, cause, of=2, weight=weight)
    for key, table in out.items():
        table.insert(0, "months", np.rint(table["time"].to_numpy() / MONTH_DAYS).astype(int))
        table["method"] = table["method"] + note
    return out


def _blank_thin_rows(table: pd.DataFrame, rule: Disclosure) -> pd.DataFrame:
    """Rows with fewer than min_people at risk: values blank (the curve stops there)."""
    table = table.copy()
    thin = table["n_risk"].to_numpy(dtype=float) < rule.min_people
    values = [c for c in table.columns if c not in ("months", "time", "method", "factor", "level", "definition")]
    table[values] = table[values].astype(float)
    table.loc[thin, values] = np.nan
    table["suppressed"] = np.where(thin, f"fewer than {rule.min_people} at risk", "")
    table["n_risk"] = pd.array(np.round(table["n_risk"].to_numpy(dtype=float)), dtype="Int64")
    # The month's events and censorings are differences of rounded counts: kept out of the file (the curve and
    # the numbers at risk are enough to draw and read it), so no cell shows a count below the threshold. The
    # curve's own intervals go too: the curve of rounded counts is not the curve of the data, and its interval
    # need not hold the data's estimate; the intervals published are those of the summaries (`coarse`).
    dropped = ("n_event", "n_censor", "n_competing") + (CURVE_INTERVALS if rule.has("true_intervals") else ())
    return table.drop(columns=[c for c in dropped if c in table])


def _empty_like(table: pd.DataFrame) -> pd.DataFrame:
    return table.iloc[0:0].assign(suppressed=pd.Series(dtype=str))


# --- the step controller -----------------------------------------------------------------------------------------

class Step:
    """The tables and key rows of one analysis step, controlled together so that files agree."""

    def __init__(self, tables: dict[str, pd.DataFrame], rule: Disclosure):
        self.raw, self.rule = tables, rule
        self.out: dict[str, pd.DataFrame] = {}
        self.visible: dict[tuple[str, str, str], bool] = {}  # (family, factor, level) -> statistics published
        self.curves: dict[str, pd.DataFrame] = {}  # published overall curves by table name
        self.log: list[dict] = []

    def note(self, file: str, column: str, action: str, cells: int, why: str) -> None:
        if cells:
            self.log.append({"file": f"{file}.csv", "column": column, "action": action, "cells": int(cells), "rule": why})


def _counts_only(name: str, table: pd.DataFrame, step: Step) -> pd.DataFrame:
    """Round every count column, blank small ones, and name them in `suppressed`."""
    rule = step.rule
    out = table.copy()
    notes = [[] for _ in range(len(out))]
    counts = [c for c in out.columns if c in COUNT_COLUMNS]
    # A group whose size is hidden has every count of its row hidden, zeros too: 'n blank, positive 0' would
    # say that a group of 1 to t people had no outcome at all.
    size_hidden = np.zeros(len(out), dtype=bool)
    if rule.has("zeros_beside_blanks"):
        for c in [c for c in SIZE_COLUMNS if c in out.columns]:
            size_hidden |= small(out[c].to_numpy(dtype=float), rule)
    for c in counts:
        values = out[c].to_numpy(dtype=float)
        hidden = small(values, rule) | (size_hidden & (c not in REFERENCE_COUNTS) & ~np.isnan(values))
        out[c] = pd.array(np.round(published_counts(values, rule)), dtype="Int64")
        for i in np.flatnonzero(hidden):
            notes[i].append(c)
        step.note(name, c, "suppressed", hidden.sum(), f"count from 1 to {rule.threshold}")
        step.note(name, c, "rounded", (~hidden & ~np.isnan(values) & (values != 0)).sum(),
                  f"rounded to the nearest {rule.base}")
    if "suppressed" in out:
        previous = out["suppressed"].fillna("").astype(str)
        notes = [([p] if p else []) + n for p, n in zip(previous, notes)]
    out["suppressed"] = ["; ".join(n) for n in notes]
    return out


def _hide(table: pd.DataFrame, mask, columns: list[str], name: str, step: Step, why: str,
          note: str = HIDDEN_NOTE, action: str = "suppressed") -> pd.DataFrame:
    """Blank `columns` on the rows of `mask`, add `note` to their `suppressed` cell and log it.

    A blanked column's own earlier flag (a count from 1 to t) is taken off those rows: a row blank for the
    one reason must not show which of its cells were also small (seen: a group's education events flagged
    on two causes and not on the third, so the third was 0)."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return table
    table = table.copy()
    for c in columns:
        if c in table:
            whole = pd.api.types.is_integer_dtype(table[c])
            table[c] = table[c].astype("Float64") if whole else table[c]
            table.loc[mask, c] = np.nan
            table[c] = table[c].round().astype("Int64") if whole else table[c]  # counts stay whole numbers
    notes = table["suppressed"].fillna("").astype(str).to_numpy() if "suppressed" in table else np.full(len(table), "")
    blanked = set(columns)
    table["suppressed"] = ["; ".join([p for p in n.split("; ") if p and p not in blanked and p != note] + [note])
                           if m else n for n, m in zip(notes, mask)]
    step.note(name, "; ".join(c for c in columns if c in table), action, mask.sum(), why)
    return table


def _group_ok(n, events, rule: Disclosure, binary: bool = False) -> np.ndarray:
    """Whether a group's statistics are published (rule 3). Judged on the published counts (a size of 10 or
    more as published, events and, for a binary outcome, non-events not blank; with class disclosure hidden,
    not none or all), so that a group being shown or left out tells nothing its published counts do not."""
    n, events = np.asarray(n, dtype=float), np.asarray(events, dtype=float)
    if rule.has("published_conditions"):
        return Comparable(lambda v: published_counts(v, rule), rule.threshold, rule.class_disclosure).groups(
            n, events, binary)
    ok = (n >= rule.min_people) & ~small(events, rule)
    return ok & ~small(n - events, rule) if binary else ok


GROUP_RULE = ("a published size under 10, or events (or, for an outcome, non-events) from 1 to {t}, or (class "
              "disclosure) an outcome that nobody or everybody had")


def _why(rule: Disclosure) -> str:
    return GROUP_RULE.format(m=rule.min_people, t=rule.threshold)


def _and_outcomes(columns: list[str], table: pd.DataFrame, rule: Disclosure) -> list[str]:
    """A hidden group's statistics and its outcome counts: with only its statistics blank, a published 0 (or a
    count equal to its size) would still say that nobody (or everybody) in it had the outcome."""
    extra = [c for c in OUTCOME_COLUMNS if c in table.columns] if rule.has("zeros_beside_blanks") else []
    return list(columns) + [c for c in extra if c not in columns]


# --- survival steps -------------------------------------------------------------------------------------------

def _survival_step(prefix: str, step: Step) -> None:
    rule, raw = step.rule, step.raw
    curves_on = rule.has("curves")
    # Overall curves.
    if f"{prefix}_cif" in raw:
        exact = raw[f"{prefix}_cif"]
        visible = _curve_visible(exact, rule)
        made = published_curves(exact, rule, competing=True) if visible and curves_on else None
        for key, name in (("cif", f"{prefix}_cif"), ("cif_competing", f"{prefix}_cif_competing"), ("km", f"{prefix}_km")):
            if name in raw:
                step.out[name] = _publish_curve(name, raw[name], made[key] if made else None, visible, step)
    elif f"{prefix}_km" in raw:
        exact = raw[f"{prefix}_km"]
        visible = _curve_visible(exact, rule)
        made = published_curves(exact, rule) if visible and curves_on else None
        step.out[f"{prefix}_km"] = _publish_curve(f"{prefix}_km", exact, made["km"] if made else None, visible, step)
    # Numbers at risk under the curve: read off the published curve before thin rows are blanked.
    if f"{prefix}_at_risk" in raw:
        risk = raw[f"{prefix}_at_risk"].copy()
        km = step.curves.get(f"{prefix}_km")
        if km is not None and curves_on:
            risk["n_at_risk"] = at_risk_on_curve(km, risk["days"])
        elif km is None:
            risk["n_at_risk"] = np.nan
        step.out[f"{prefix}_at_risk"] = _counts_only(f"{prefix}_at_risk", risk, step)
        thin = risk["n_at_risk"].to_numpy(dtype=float) < rule.min_people
        step.out[f"{prefix}_at_risk"] = _hide(step.out[f"{prefix}_at_risk"], thin, ["n_at_risk"], f"{prefix}_at_risk",
                                              step, f"fewer than {rule.min_people} at risk")
    # Curves and their summaries by group: Kaplan-Meier (in-work support) or cumulative incidence (employment).
    if f"{prefix}_by_group" in raw:
        curve_name = f"{prefix}_cif_by_group" if f"{prefix}_cif_by_group" in raw else f"{prefix}_km_by_group"
        _groups_step(prefix, raw[f"{prefix}_by_group"], curve_name, raw[curve_name], step)
    if f"{prefix}_definitions" in raw:
        _definitions_step(prefix, step)
    for kind in ("cox", "ph_test", "logrank"):
        name = f"{prefix}_{kind}"
        if name in raw:
            step.out[name] = _model_table(name, raw[name], prefix, step)
    if f"{prefix}_model_exclusions" in raw:
        step.out[f"{prefix}_model_exclusions"] = _exclusions(f"{prefix}_model_exclusions",
                                                             raw[f"{prefix}_model_exclusions"], prefix, step)


def _published_group_curve(exact: pd.DataFrame, rule: Disclosure) -> pd.DataFrame:
    """One group's curve republished by month: a Kaplan-Meier table, or an Aalen-Johansen one (a `cif`
    column: the cause of interest against the competing events together)."""
    return published_curves(exact, rule, competing=True)["cif"] if "cif" in exact else published_curves(exact, rule)["km"]


def _groups_step(prefix: str, groups: pd.DataFrame, curve_name: str, long: pd.DataFrame, step: Step) -> None:
    """By-group summaries (n, events, medians or incidences at fixed months) and the curves they are read off:
    curves of groups passing rule 3 republished by month from rounded cumulative counts, every summary read
    off the published curve, the rest blank."""
    rule = step.rule
    curves_on = rule.has("curves")
    ok = _group_ok(groups["n"], groups["events"], rule)
    published, rows = [], []
    for (_, g), good in zip(groups.iterrows(), ok):
        step.visible[(prefix, g["factor"], g["level"])] = bool(good)
        exact = long[(long["factor"] == g["factor"]) & (long["level"] == g["level"])]
        record = g.to_dict()
        if good and curves_on:
            curve = _published_group_curve(exact, rule)
            if rule.has("true_intervals"):  # the summaries of the data, coarse; n and events as the curve has them
                record.update(_coarse_summary(record, rule))
                record["method"] = record["method"] + coarse_note(rule)
            else:
                record.update(_group_summary(curve, record))
                record["method"] = record["method"] + "; from the published monthly curve"
            record.update(n=float(curve["n_risk"].iloc[0]) if len(curve) else 0.0, events=float(curve["n_event"].sum()))
            published.append(_blank_thin_rows(curve.assign(factor=g["factor"], level=g["level"]), rule))
        elif good:
            published.append(exact.assign(suppressed=""))
        rows.append(record)
    table = _counts_only(f"{prefix}_by_group", pd.DataFrame(rows, columns=groups.columns), step)
    if curves_on:  # the log's "rounded" above is true of these only as multiples of the base
        step.note(f"{prefix}_by_group", "n; events", "read from the published curve", int(ok.sum()),
                  f"the curve's first number at risk and its total events: sums of counts rounded to {rule.base} "
                  f"month by month, so within a few people of the truth but not always its nearest multiple of "
                  f"{rule.base}")
    stats_columns = [c for c in groups.columns if c.startswith(("km_", "cif_"))]
    step.out[f"{prefix}_by_group"] = _hide(table, ~ok, _and_outcomes(stats_columns, table, rule), f"{prefix}_by_group",
                                           step, _why(rule))
    step.out[curve_name] = pd.concat(published, ignore_index=True) if published else _empty_like(long)
    step.note(curve_name, "(curves)", "groups without a curve", (~ok).sum(), _why(rule))
    if curves_on:
        step.note(curve_name, "(all)", "recomputed from published counts", len(step.out[curve_name]),
                  f"curves by month from cumulative counts rounded to {rule.base}")


# How every note disclosure control appends to a method starts: the definition is the text before the first.
RELEASE_NOTE_STARTS = ("; computed on the person-level data", "; fitted on the published", "; from the published",
                       "; from the rounded counts", "; rounded to whole weeks", "; 95% interval: the hull",
                       "; on the published (rounded) counts", "; no disclosure rule for this measure")
def coarse_note(rule: Disclosure) -> str:
    return (f"; computed on the person-level data and published coarse: shares on a grid of the share {rule.base} "
            "people make of the group (at least 1 point), times in whole weeks, the estimate to the nearest step and "
            "the 95% limits outward, so the published interval holds the exact one")


def _coarse_summary(record: dict, rule: Disclosure) -> dict:
    """A by-group row's summaries (incidences at fixed months in percent, survival shares, medians in days)
    computed on the data, published coarse (`coarse`, `coarse_days`)."""
    out, n = {}, record["n"]
    for column in [c for c in record if c.startswith("cif_") and c.endswith("_pct")]:
        value, low, high = coarse(record[column], record[column.replace("_pct", "_conf_low")],
                                  record[column.replace("_pct", "_conf_high")], n, rule)
        out.update({column: value, column.replace("_pct", "_conf_low"): low, column.replace("_pct", "_conf_high"): high})
    if "km_median_days" in record:
        out.update(zip(("km_median_days", "km_median_conf_low", "km_median_conf_high"),
                       coarse_days(record["km_median_days"], record["km_median_conf_low"], record["km_median_conf_high"])))
    for column in ("km_survival_6m", "km_survival_12m"):
        if column in record:
            out[column] = coarse(record[column], record[column], record[column], n, rule, scale=1.0)[0]
    return {k: float(v) for k, v in out.items()}


def _group_summary(curve: pd.DataFrame, record: dict) -> dict:
    """The summary columns of a by-group row, read off its published curve."""
    out = {}
    if "cif" in curve:
        for column in [c for c in record if c.startswith("cif_") and c.endswith("_pct")]:
            months = int(column.split("_")[1][:-1])
            at = step_at(curve, [months * MONTH_DAYS], ["cif", "conf_low", "conf_high"], before=0.0).iloc[0]
            out.update({column: 100 * at["cif"], column.replace("_pct", "_conf_low"): 100 * at["conf_low"],
                        column.replace("_pct", "_conf_high"): 100 * at["conf_high"]})
        return out
    median, low, high = km_median(curve)
    out.update(km_median_days=median, km_median_conf_low=low, km_median_conf_high=high)
    for column, days in (("km_survival_6m", 6 * MONTH_DAYS), ("km_survival_12m", 12 * MONTH_DAYS)):
        if column in record:
            out[column] = float(step_at(curve, [days], ["survival"]).iloc[0]["survival"])
    return out


def _definitions_step(prefix: str, step: Step) -> None:
    """The sensitivity table of competing-event definitions: each definition's curve republished by month from
    rounded cumulative counts (a Kaplan-Meier for 1 - KM), and the incidences read off it."""
    rule, raw = step.rule, step.raw
    table, long = raw[f"{prefix}_definitions"].copy(), raw[f"{prefix}_definition_curves"]
    curves_name = f"{prefix}_definition_curves"
    if not rule.has("curves"):
        step.out[curves_name] = _counts_only(curves_name, long, step)
        step.out[f"{prefix}_definitions"] = _counts_only(f"{prefix}_definitions", table, step)
        return
    published, exact_table = [], table.copy()
    for definition, exact in long.groupby("definition", sort=False):
        exact = exact.drop(columns="definition")
        visible = _curve_visible(exact, rule)
        if "n_competing" in exact:
            curve = published_curves(exact, rule, competing=True)["cif"] if visible else None
        else:
            km = published_curves(exact, rule)["km"] if visible else None
            curve = None if km is None else km.assign(cif=1 - km["survival"], conf_low=1 - km["conf_high"],
                                                       conf_high=1 - km["conf_low"]).drop(columns=["survival", "std_err"])
        mine = (table["definition"] == definition).to_numpy()
        if curve is None:
            table.loc[mine, ["cif_pct", "conf_low", "conf_high"]] = np.nan
            continue
        at = step_at(curve, table.loc[mine, "months"].to_numpy() * MONTH_DAYS, ["cif", "conf_low", "conf_high"],
                     before=0.0)
        thin = at_risk_on_curve(curve, table.loc[mine, "months"].to_numpy() * MONTH_DAYS) < rule.min_people
        if rule.has("true_intervals"):  # the data's incidences, coarse
            found = exact_table.loc[mine]
            values = coarse(found["cif_pct"], found["conf_low"], found["conf_high"], found["n"], rule)
            for column, value in zip(("cif_pct", "conf_low", "conf_high"), values):
                table.loc[mine, column] = np.where(thin, np.nan, value)
        else:
            for column in ("cif", "conf_low", "conf_high"):
                table.loc[mine, "cif_pct" if column == "cif" else column] = np.where(thin, np.nan, 100 * at[column].to_numpy())
        table.loc[mine, "n"] = float(curve["n_risk"].iloc[0]) if len(curve) else np.nan
        published.append(_blank_thin_rows(curve.assign(definition=definition), rule))
    table["method"] = table["method"] + (coarse_note(rule) if rule.has("true_intervals") else "; from the published monthly curve")
    step.out[f"{prefix}_definitions"] = _counts_only(f"{prefix}_definitions", table, step)
    step.out[curves_name] = pd.concat(published, ignore_index=True) if published else _empty_like(long)
    step.note(curves_name, "(all)", "recomputed from published counts", len(step.out[curves_name]),
              f"curves by month from cumulative counts rounded to {rule.base}")


def _publish_curve(name: str, exact: pd.DataFrame, made: pd.DataFrame | None, visible: bool, step: Step) -> pd.DataFrame:
    rule = step.rule
    if not visible:
        step.note(name, "(all)", "curve not published", len(exact), _why(rule))
        return _empty_like(exact)
    if made is None:  # protection switched off (attack tests): the exact curve with its counts rounded
        step.curves[name] = exact
        return _counts_only(name, exact, step)
    step.curves[name] = made
    step.note(name, "(all)", "recomputed from published counts", len(made),
              f"by month from cumulative counts rounded to {rule.base}")
    return _blank_thin_rows(made, rule)


def _level_of_term(term: str) -> tuple[str, str] | None:
    match = re.match(r"^(\w+): (.+) vs (.+)$", str(term))
    return (match.group(1), match.group(2)) if match else None


def _model_table(name: str, table: pd.DataFrame, family: str, step: Step) -> pd.DataFrame:
    """Estimates fitted on person-level data: reduced precision, no SEs, blank rows for small groups."""
    rule = step.rule
    out = _counts_only(name, table, step)
    if not rule.has("model_precision"):
        return out
    hidden = np.zeros(len(out), dtype=bool)
    for i, r in enumerate(table.itertuples(index=False)):
        levels = []
        if "level" in table.columns:
            levels = [(r.factor, r.level), (r.factor, r.reference)]
        elif "term" in table.columns and _level_of_term(r.term):
            factor, level = _level_of_term(r.term)
            levels = [(factor, level), (factor, str(r.term).split(" vs ")[-1])]
        hidden[i] = any(not step.visible.get((family, f, lvl), True) for f, lvl in levels)
    for column in MODEL_HIDDEN_COLUMNS:
        if column in out:
            step.note(name, column, "not published", out[column].notna().sum(), "model estimates: the CI carries the precision")
            out = out.drop(columns=column)
    for column in out.columns:
        digits = (PRECISION["ratio"] if column in RATIO_COLUMNS + ("conf_low", "conf_high") else
                  PRECISION["p"] if column in ("p", "wald_p") else
                  PRECISION["chi2"] if column in ("chi2", "lr_chi2", "lr_chi2_model") else None)
        if digits is not None:
            values = out[column].astype(float)
            if column in ("conf_low", "conf_high") and rule.has("true_intervals"):  # outward: it holds the exact CI
                step_size = 10.0 ** -digits
                values = intervals.outward(values, values, values, step_size)[1 if column == "conf_low" else 2]
                out[column] = np.round(values, digits)
            else:
                out[column] = values.round(digits)
            step.note(name, column, "precision reduced", out[column].notna().sum(),
                      f"{digits} decimals (model fitted on person-level data)"
                      + ("; interval limits rounded outward" if column in ("conf_low", "conf_high")
                         and rule.has("true_intervals") else ""))
    return _hide(out, hidden, [c for c in out.columns if c in RATIO_COLUMNS + ("conf_low", "conf_high", "p", "wald_p",
                                                                                "chi2", "lr_chi2", "flag")],
                 name, step, _why(rule))


def _exclusions(name: str, table: pd.DataFrame, family: str, step: Step) -> pd.DataFrame:
    out = _counts_only(name, table, step)
    if len(out) and "reason" in out:
        generic = [not step.visible.get((family, f, lvl), True) for f, lvl in zip(table["factor"], table["level"])]
        out.loc[generic, "reason"] = f"left out: {_why(step.rule)} (disclosure control)"
        step.note(name, "reason", "reason generalised", sum(generic), "the exact reason can tell 0 from all")
    return out


# --- outcome steps ----------------------------------------------------------------------------------------------

def _outcome_step(step: Step) -> None:
    for name in [n for n in step.raw if n.endswith("_rates") and n.startswith("outcome")]:
        prefix = name[: -len("_rates")]  # outcome or outcome_12m_window
        _outcome_tables(prefix, step)


def _intervals(values: np.ndarray, secondary: np.ndarray, total_high: float, rule: Disclosure) -> np.ndarray:
    """What a reader knows of each count from its published form: 0 exactly; 1..t when blank; within half a
    base of a rounded value; anything up to the total when blanked by secondary suppression."""
    half = rule.base // 2
    shown = rounded(values, rule)
    low = np.where(values == 0, 0, np.where(small(values, rule), 1, shown - half))
    high = np.where(values == 0, 0, np.where(small(values, rule), rule.threshold, shown + half))
    return np.column_stack([np.where(secondary, 0, low), np.where(secondary, total_high, high)]).astype(float)


def pinned_by_total(values: np.ndarray, total: float, secondary: np.ndarray, rule: Disclosure) -> np.ndarray:
    """Cells whose value a reader can deduce exactly from the groups' and the total's rounding intervals
    (e.g. groups of 38, 38 and 1 published as 40, 40 and blank beside a total of 77 published as 75)."""
    half = rule.base // 2
    total_low, total_high = (total, total) if total == 0 else (rounded(total, rule) - half, rounded(total, rule) + half)
    if small(total, rule):
        total_low, total_high = 1, rule.threshold
    bounds = _intervals(values, secondary, total_high, rule)
    for _ in range(len(values) + 1):  # tighten until nothing moves
        low_sum, high_sum = bounds[:, 0].sum(), bounds[:, 1].sum()
        new_low = np.maximum(bounds[:, 0], total_low - (high_sum - bounds[:, 1]))
        new_high = np.minimum(bounds[:, 1], total_high - (low_sum - bounds[:, 0]))
        if np.array_equal(new_low, bounds[:, 0]) and np.array_equal(new_high, bounds[:, 1]):
            break
        bounds = np.column_stack([new_low, new_high])
    return (bounds[:, 0] == bounds[:, 1]) & (values > 0)


def _secondary_for_totals(exact: pd.DataFrame, ok: np.ndarray, rule: Disclosure) -> np.ndarray:
    """Rounding cell by cell is not controlled rounding: where a factor's groups and the total pin a cell,
    the smallest group whose statistics are shown is blanked as well (secondary suppression), until
    nothing is pinned."""
    secondary = np.zeros(len(exact), dtype=bool)
    total = exact[exact["factor"] == "all"]
    if not len(total):
        return secondary
    for _, rows in exact[exact["factor"] != "all"].groupby("factor", sort=False):
        index = rows.index.to_numpy()
        position = np.flatnonzero(np.isin(exact.index.to_numpy(), index))
        while any(pinned_by_total(rows[c].to_numpy(float), float(total[c].iloc[0]), secondary[position], rule).any()
                  for c in ("n", "positive")):
            candidates = [i for i in np.argsort(rows["n"].to_numpy(), kind="stable")
                          if ok[position[i]] and not secondary[position[i]]]
            if not candidates:
                secondary[position] = True
                break
            secondary[position[candidates[0]]] = True
    return secondary


def _outcome_tables(prefix: str, step: Step) -> None:
    rule, raw = step.rule, step.raw
    exact = raw[f"{prefix}_rates"]
    ok = _group_ok(exact["n"], exact["positive"], rule, binary=True)
    secondary = (_secondary_for_totals(exact, ok, rule) if rule.has("secondary_for_totals")
                 else np.zeros(len(exact), dtype=bool))
    ok &= ~secondary
    for f, lvl, good in zip(exact["factor"], exact["level"], ok):
        step.visible[(prefix, f, lvl)] = bool(good)
    rates = _hide(_counts_only(f"{prefix}_rates", exact, step), secondary, ["n", "positive"], f"{prefix}_rates", step,
                  "the groups' and the total's rounding would pin a count (rounding is not controlled)",
                  note="n (secondary); positive (secondary)", action="suppressed (secondary)")
    from_counts = rule.has("published_counts")
    if from_counts:
        positive, n = rates["positive"].to_numpy(dtype=float), rates["n"].to_numpy(dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            low, high = _wilson_of_published(positive, n, rule)
            rates["rate_pct"] = 100 * positive / n
        rates["conf_low"], rates["conf_high"] = 100 * low, 100 * high
        rates["method"] = rates["method"] + "; from the published (rounded) counts" + _hull_note(rule)
        step.note(f"{prefix}_rates", "rate_pct; conf_low; conf_high", "recomputed from published counts", ok.sum(),
                  "rate and Wilson CI of the rounded counts in the same row")
    step.out[f"{prefix}_rates"] = _hide(rates, ~ok, _and_outcomes(["rate_pct", "conf_low", "conf_high"], rates, rule),
                                        f"{prefix}_rates", step, _why(rule))
    published = step.out[f"{prefix}_rates"]
    shown = published[(published["factor"] != "all") & ok]
    if f"{prefix}_precision" in raw:  # statistics of the published counts of the groups shown
        name = f"{prefix}_precision"
        step.out[name] = (_precision_from_counts(shown, rule).reindex(columns=raw[name].columns) if from_counts
                          else _model_table(name, raw[name], prefix, step))
        if from_counts:
            step.note(name, "(statistics)", "recomputed from published counts", len(step.out[name]),
                      "differences, detectable rates and equivalence tests of the rounded counts")
    if from_counts and f"{prefix}_tests" in raw:
        step.out[f"{prefix}_tests"] = _tests_from_counts(f"{prefix}_tests", raw[f"{prefix}_tests"], shown, step)
    elif f"{prefix}_tests" in raw:
        step.out[f"{prefix}_tests"] = _counts_only(f"{prefix}_tests", raw[f"{prefix}_tests"], step)
    for kind in ("logit", "logit_lr"):
        name = f"{prefix}_{kind}"
        if name not in raw or not len(raw[name].columns):
            if name in raw:
                step.out[name] = raw[name]
            continue
        table = raw[name]
        adjusted = table["model"].str.startswith("adjusted").to_numpy()
        unadjusted = (_unadjusted_from_counts(name, kind, table[~adjusted], shown, prefix, step) if from_counts
                      else _model_table(name, table[~adjusted], prefix, step))
        parts = [p for p in (unadjusted, _model_table(name, table[adjusted], prefix, step)) if len(p)]
        columns = [c for c in table.columns if any(c in p for p in parts)] + ["suppressed"]
        step.out[name] = pd.concat(parts, ignore_index=True).reindex(columns=columns) if parts else _empty_like(table)
    if f"{prefix}_model_exclusions" in raw:
        step.out[f"{prefix}_model_exclusions"] = _exclusions(f"{prefix}_model_exclusions",
                                                             raw[f"{prefix}_model_exclusions"], prefix, step)


def _hull_note(rule: Disclosure) -> str:
    return ("; 95% interval: the hull of the intervals of every set of counts the rounded ones may stand for, so it "
            "holds the interval of the exact counts" if rule.has("true_intervals") else "")


def _wilson_of_published(positive, n, rule: Disclosure) -> tuple[np.ndarray, np.ndarray]:
    """The Wilson interval of published counts: the hull over the counts they may stand for (true_intervals),
    else the interval of the rounded counts themselves."""
    if rule.has("true_intervals"):
        return intervals.wilson_hull(positive, n, rule.base, rule.threshold)
    return wilson(positive, n)


def _precision_from_counts(shown: pd.DataFrame, rule: Disclosure) -> pd.DataFrame:
    """outcome.precision on the published counts, with each difference's interval the hull of Newcombe's
    intervals over the counts the published ones may stand for."""
    table = outcome.precision(shown)
    if not len(table) or not rule.has("true_intervals"):
        return table
    counts = shown.set_index(["factor", "level"])[["positive", "n"]].astype(float)
    group = counts.reindex(list(zip(table["factor"], table["level"]))).to_numpy()
    reference = counts.reindex(list(zip(table["factor"], table["reference"]))).to_numpy()
    low, high = intervals.difference_hull(group[:, 0], group[:, 1], reference[:, 0], reference[:, 1], rule.base,
                                          rule.threshold)
    table["difference_conf_low"], table["difference_conf_high"] = 100 * low, 100 * high
    table["method"] = table["method"] + _hull_note(rule)
    return table


def _two_by_k(shown: pd.DataFrame, factor: str) -> pd.DataFrame:
    rows = shown[shown["factor"] == factor]
    positive = rows["positive"].to_numpy(dtype=float)
    return pd.DataFrame({0: rows["n"].to_numpy(dtype=float) - positive, 1: positive}, index=rows["level"].to_numpy())


def _tests_from_counts(name: str, exact: pd.DataFrame, shown: pd.DataFrame, step: Step) -> pd.DataFrame:
    """Both outcome tests of each factor (outcome.factor_tests) on the published counts of the groups shown."""
    rows = []
    for _, t in exact.iterrows():
        recomputed = {r["test"]: r for r in outcome.factor_tests(_two_by_k(shown, t["factor"]))}[t["test"]]
        rows.append({**t.to_dict(), **{k: recomputed[k] for k in recomputed if k in exact.columns},
                     "chi2_method": recomputed["chi2_method"] + "; on the published (rounded) counts, groups with "
                     "suppressed statistics excluded"})
    step.note(name, "chi2; p; min_expected; exact_p", "recomputed from published counts", len(rows),
              "tests on the rounded table of the rates file")
    return _counts_only(name, pd.DataFrame(rows, columns=exact.columns), step)


def _unadjusted_from_counts(name: str, kind: str, exact: pd.DataFrame, shown: pd.DataFrame, family: str,
                            step: Step) -> pd.DataFrame:
    """The saturated one-factor logistic model refitted on the published counts (its estimates are a
    function of the 2 x k table), with blank rows for groups whose statistics are hidden."""
    from .outcome import logit_models  # here: outcome imports this module's neighbours

    parts = []
    for factor in dict.fromkeys(exact["factor"]):
        counts = _two_by_k(shown, factor)
        frame = pd.DataFrame({factor: np.repeat(counts.index.to_numpy(), 2), "positive": np.tile([0, 1], len(counts)),
                              WEIGHT: counts.to_numpy().ravel()})
        frame = frame[frame[WEIGHT] > 0]
        ors, lr, _ = logit_models(frame, [factor], f"unadjusted: {factor}")
        fitted = ors if kind == "logit" else lr
        mine = exact[exact["factor"] == factor]
        if not len(fitted.columns):  # not estimable on the published counts: the rows stay, blank
            fitted = mine[["model", "factor"] + [c for c in ("level", "reference", "term", "df") if c in mine]].copy()
        elif kind == "logit":
            fitted = mine[["model", "factor", "level", "reference", "term"]].merge(
                fitted.drop(columns=["reference", "term"], errors="ignore"), on=["model", "factor", "level"], how="left")
            if step.rule.has("true_intervals"):  # the hull over every 2 x 2 table the rounded counts stand for
                rows = shown[shown["factor"] == factor].set_index("level")[["positive", "n"]].astype(float)
                group, reference = rows.reindex(fitted["level"]).to_numpy(), rows.reindex(fitted["reference"]).to_numpy()
                low, high, p = intervals.odds_ratio_hull(group[:, 0], group[:, 1], reference[:, 0], reference[:, 1],
                                                         step.rule.base, step.rule.threshold, with_p=True)
                keep = fitted["odds_ratio"].notna().to_numpy()
                fitted["conf_low"] = np.where(keep, low, np.nan)
                fitted["conf_high"] = np.where(keep, high, np.nan)
                if "wald_p" in fitted:  # the largest over the same tables, so that p and interval agree
                    fitted["wald_p"] = np.where(keep, p, np.nan)
        else:
            fitted = fitted if len(fitted) else mine.assign(lr_chi2=np.nan, p=np.nan)
        fitted["method"] = ((mine["method"].iloc[0] if len(mine) else "") + "; fitted on the published (rounded) counts"
                            + (_hull_note(step.rule) + ("; Wald p: the largest over the same sets of counts, so it "
                                                        "agrees with the interval" if step.rule.has("true_intervals")
                                                        else "") if kind == "logit" else ""))
        parts.append(fitted.reindex(columns=exact.columns))
    table = pd.concat(parts, ignore_index=True) if parts else exact.iloc[0:0]
    step.note(name, "(unadjusted models)", "recomputed from published counts", len(table),
              "saturated one-factor model on the rounded counts")
    out = _counts_only(name, table, step)
    for column in MODEL_HIDDEN_COLUMNS:
        if column in out and step.rule.has("model_precision"):
            out = out.drop(columns=column)
    statistic = [c for c in ("odds_ratio", "conf_low", "conf_high", "wald_p", "lr_chi2", "p", "flag") if c in out]
    missing = out[[c for c in ("odds_ratio", "lr_chi2") if c in out]].isna().any(axis=1).to_numpy()
    return _hide(out, missing, statistic, name, step, _why(step.rule))


# --- competing risks by group ---------------------------------------------------------------------------------

COMPETING_WHY = ("per-group cumulative incidence is not released: at 6 and 12 months in a small group it gives back "
                 "the group's counts; Gray's test is released")


def _competing_step(step: Step) -> None:
    """Gray's tests and the Fine-Gray models as estimates fitted on person-level data (reduced precision, no
    SEs, blank rows for groups failing rule 3 on their jobs, as for the cause-specific Cox models); the
    per-group incidences themselves are not released (counts rounded, every statistic blank)."""
    raw = step.raw
    groups = raw["competing_by_group"]
    jobs = groups[groups["cause"] == "job"].drop_duplicates(["factor", "level"]) if len(groups) else groups
    for factor, level, good in zip(jobs.get("factor", []), jobs.get("level", []),
                                   _group_ok(jobs.get("n", []), jobs.get("events", []), step.rule)):
        step.visible[("employment", factor, level)] = bool(good)
    step.out["competing_gray"] = _model_table("competing_gray", raw["competing_gray"], "employment", step)
    if "competing_fine_gray" in raw:
        step.out["competing_fine_gray"] = _model_table("competing_fine_gray", raw["competing_fine_gray"],
                                                       "employment", step)
        step.out["competing_model_exclusions"] = _exclusions("competing_model_exclusions",
                                                             raw["competing_model_exclusions"], "employment", step)
    table = _counts_only("competing_by_group", groups, step)
    # n too: rounded here from the group's own size, it would be a second rounding of a size that the
    # employment tables publish from the rounded curve, and the two together narrow it (seen: 245 and 240).
    statistics = [c for c in ("cif_pct", "conf_low", "conf_high", "n", "events") if c in table]
    step.out["competing_by_group"] = _hide(table, np.ones(len(table), dtype=bool), statistics, "competing_by_group",
                                           step, COMPETING_WHY)


# --- access and sites ---------------------------------------------------------------------------------------------

def _access_step(step: Step, keys: list[dict], prefix: str) -> list[dict]:
    """Access against the CMHT case-load ("access") or the need table ("access_need"): every statistic
    recomputed from the rounded counts, groups failing rule 3 blank and left out of the tests."""
    rule, raw = step.rule, step.raw
    composition, tests_name, coverage = f"{prefix}_composition", f"{prefix}_tests", f"{prefix}_coverage"
    comp, tests = raw[composition], raw[tests_name]
    step.out[coverage] = _counts_only(coverage, raw[coverage], step)
    if not len(comp):
        step.out[composition], step.out[tests_name] = comp, tests
        return []
    if rule.has("published_conditions"):  # on the published size, like every other group
        ok = rule.comparing().groups(comp["ips_n"]) if rule.has("tests_without_hidden_groups") else \
            Comparable(lambda v: published_counts(v, rule)).groups(comp["ips_n"])
        ok &= ~small(comp["cmht_n"], rule)
    else:
        ok = (comp["ips_n"].to_numpy(dtype=float) >= rule.min_people) & ~small(comp["cmht_n"], rule)
    published_keys, compositions, test_rows = [], [], []
    note = "; from the published (rounded) counts, groups with suppressed statistics excluded from the test"
    for factor, rows in comp.groupby("characteristic", sort=False):
        good = ok[rows.index.to_numpy()]
        for level, g in zip(rows["category"], good):
            step.visible[(prefix, factor, level)] = bool(g)
        ips = pd.Series(published_counts(rows["ips_n"], rule), index=rows["category"].to_numpy())
        cmht = pd.Series(published_counts(rows["cmht_n"], rule), index=rows["category"].to_numpy())
        if rule.has("published_counts"):
            tested = good | (rows["category"] == NOT_KNOWN).to_numpy()
            c, t, k = access.compare(factor, ips[tested].fillna(0), cmht[tested].fillna(0), note, prefix)
            if rule.has("true_intervals"):
                c, k = _access_hulls(c, k, rule)
            c = rows[["characteristic", "category"]].merge(c.drop(columns=["ips_n", "cmht_n"]), how="left",
                                                           on=["characteristic", "category"])
            c.insert(2, "ips_n", rows["ips_n"].to_numpy())
            c.insert(4, "cmht_n", rows["cmht_n"].to_numpy())
            c["method"] = c["method"].fillna(rows["method"].iloc[0] + note)
            compositions.append(c)
            test_rows += t
            published_keys += k
        else:
            compositions.append(rows)
    table = pd.concat(compositions, ignore_index=True).reindex(columns=comp.columns)
    table = _counts_only(composition, table, step)
    statistics = [c for c in comp.columns if c.endswith(("_pct", "conf_low", "conf_high")) or "ratio" in c]
    step.out[composition] = _hide(table, ~ok, statistics, composition, step, _why(rule))
    step.out[tests_name] = _counts_only(tests_name, pd.DataFrame(test_rows, columns=tests.columns)
                                        if test_rows else tests, step)
    reach = [k for k in keys if k["measure"] == access.SOURCES[prefix][0] + "reach_pct"]
    if reach and rule.has("published_counts"):
        total = reach[0]["n"] / (reach[0]["value"] / 100)
        factor = reach[0]["method"].rsplit("(", 1)[-1].rstrip(")")
        published_keys.insert(0, access.reach(rounded(reach[0]["n"], rule), rounded(total, rule), factor,
                                               "; both counts rounded", prefix))
    return published_keys


def _access_hulls(comp: pd.DataFrame, keys: list[dict], rule: Disclosure) -> tuple[pd.DataFrame, list[dict]]:
    """Access intervals that hold for every count the published ones may stand for: each group's share of its
    CMHT group in IPS (Wilson) and its representation ratio (the nested or independent delta-method interval),
    hulls over the group's counts and the extremes of the totals; the evidence read off the hull."""
    comp = comp.copy()
    known = (comp["category"] != NOT_KNOWN).to_numpy()
    ips, cmht = comp["ips_n"].to_numpy(dtype=float), comp["cmht_n"].to_numpy(dtype=float)
    low, high = intervals.wilson_hull(ips, cmht, rule.base, rule.threshold)
    comp["pct_of_cmht_group_conf_low"], comp["pct_of_cmht_group_conf_high"] = 100 * low, 100 * high
    nested = not comp["method"].str.contains("independent samples").any()
    totals = [tuple(np.sum(bound[known]) for bound in intervals.count_box(x, rule.base, rule.threshold)) for x in (ips, cmht)]
    low, high = intervals.ratio_hull(ips, totals[0], cmht, totals[1], rule.base, rule.threshold,
                                     lambda a, big_a, c, big_c: access.ratio_se(a, big_a, c, big_c, nested))
    shown = comp["representation_ratio"].notna().to_numpy()
    comp["ratio_conf_low"] = np.where(shown, low, np.nan)
    comp["ratio_conf_high"] = np.where(shown, high, np.nan)
    comp["ratio_evidence"] = np.where(~shown, None, np.where(comp["ratio_conf_low"] > 1, "over-represented", np.where(
        comp["ratio_conf_high"] < 1, "under-represented", "no clear difference")))
    comp["method"] = comp["method"] + _hull_note(rule)
    if "ratio_evidence_holm" in comp:  # the Holm p of rounded counts may not speak past the interval that holds
        stronger = comp["ratio_evidence_holm"].isin(["over-represented", "under-represented"]) & (
            comp["ratio_evidence_holm"] != comp["ratio_evidence"])
        comp.loc[stronger, "ratio_evidence_holm"] = "no clear difference"
        comp["method"] = comp["method"] + "; ratio_evidence_holm never says more than that interval"
    by_level = comp.set_index("category")
    keys = [{**k, "conf_low": by_level.loc[k["level"], "ratio_conf_low"], "conf_high": by_level.loc[k["level"], "ratio_conf_high"],
             "method": k["method"] + _hull_note(rule)} if k["measure"].endswith("representation_ratio") else k for k in keys]
    return comp, keys


def _sites_step(step: Step, keys: list[dict], prefix: str) -> list[dict]:
    """One site analysis (prefix "sites" or "own_sites"): every statistic recomputed from the rounded counts
    of the sites that pass rule 3, or nothing compared when fewer than two do. (`keys` is not needed here;
    it keeps the signature of _access_step, which reads its reach row from them.)"""
    rule, raw = step.rule, step.raw
    rates_name, summary_name = f"{prefix}_rates", f"{prefix}_summary"
    exact = raw[rates_name]
    ok = _group_ok(exact["referrals"], exact["jobs"], rule, binary=True)
    for site, good in zip(exact["site"], ok):
        step.visible[(prefix, "site", site)] = bool(good)
    if rule.has("published_counts") and ok.sum() < 2:  # no comparison of sites to publish
        ok = np.zeros(len(exact), dtype=bool)
    statistics = [c for c in exact.columns if c not in COUNT_COLUMNS | {"site", "counted", "method"}]
    if not rule.has("published_counts") or ok.sum() < 2:
        step.out[rates_name] = _hide(_counts_only(rates_name, exact, step), ~ok, _and_outcomes(statistics, exact, rule),
                                     rates_name, step, _why(rule))
        step.out[summary_name] = (_model_table(summary_name, raw[summary_name], prefix, step)
                                  if ok.sum() >= 2 else _empty_like(raw[summary_name]))
        return []
    shown = pd.DataFrame({"site": exact["site"][ok], "referrals": rounded(exact["referrals"][ok], rule).astype(int),
                          "jobs": rounded(exact["jobs"][ok], rule).astype(int), "counted": exact["counted"][ok]})
    keys, tables = sites.analyse(shown.reset_index(drop=True), prefix)
    if rule.has("true_intervals"):
        keys, tables = _site_hulls(shown.reset_index(drop=True), keys, tables, prefix, rule)
    rates = exact[["site"]].merge(tables[rates_name].drop(columns=["referrals", "jobs", "counted"]), on="site",
                                  how="left")
    rates.insert(1, "referrals", exact["referrals"].to_numpy())
    rates.insert(2, "jobs", exact["jobs"].to_numpy())
    rates.insert(3, "counted", exact["counted"].to_numpy())
    rates["method"] = rates["method"].fillna(exact["method"].iloc[0]) + "; from the published (rounded) counts"
    rates = _counts_only(rates_name, rates.reindex(columns=exact.columns), step)
    step.out[rates_name] = _hide(rates, ~ok, _and_outcomes(statistics, rates, rule), rates_name, step, _why(rule))
    summary = tables[summary_name]
    left_out = int((~ok).sum())
    summary["method"] = summary["method"] + (f"; from the published (rounded) counts of {int(ok.sum())} sites"
                                             + (f", {left_out} left out ({_why(rule)})" if left_out else ""))
    step.out[summary_name] = summary
    step.note(rates_name, "(statistics)", "recomputed from published counts", ok.sum(), "rates, CIs, limits")
    step.note(summary_name, "(all)", "recomputed from published counts", 1, "pooled, random-effects, tests")
    for k in keys:
        if k["measure"].endswith("jobs_total"):
            k["value"] = float(rounded(k["value"], rule))
    return keys


def _site_hulls(shown: pd.DataFrame, keys: list[dict], tables: dict, prefix: str, rule: Disclosure):
    """Site intervals that hold for every count the published ones may stand for: each site's Wilson interval
    and the pooled one as hulls; the random-effects interval and prediction interval as the hull over the
    published counts and the two extreme sets (every site's jobs at the top of their box and referrals at the
    bottom, and the other way round), between which the pooled rates of every set the counts stand for lie."""
    rates_name, summary_name = f"{prefix}_rates", f"{prefix}_summary"
    jobs, referrals = shown["jobs"].to_numpy(float), shown["referrals"].to_numpy(float)
    (jobs_lo, jobs_hi), (ref_lo, ref_hi) = (intervals.count_box(x, rule.base, rule.threshold) for x in (jobs, referrals))
    rates = tables[rates_name].copy()
    low, high = intervals.wilson_hull(jobs, referrals, rule.base, rule.threshold)
    rates["conf_low"], rates["conf_high"] = 100 * low, 100 * high
    summary = tables[summary_name].copy()
    extremes = [sites.analyse(shown.assign(jobs=j.astype(int), referrals=np.maximum(r, j).astype(int)), prefix)[1][summary_name]
                for j, r in ((jobs_hi, ref_lo), (jobs_lo, ref_hi))]
    for low_column, high_column in (("re_conf_low", "re_conf_high"), ("prediction_low", "prediction_high")):
        summary[low_column] = min([summary[low_column].iloc[0]] + [e[low_column].iloc[0] for e in extremes])
        summary[high_column] = max([summary[high_column].iloc[0]] + [e[high_column].iloc[0] for e in extremes])
    pooled_low = float(wilson(jobs_lo.sum(), ref_hi.sum())[0])
    pooled_high = float(wilson(jobs_hi.sum(), np.maximum(ref_lo, jobs_hi).sum())[1])
    measure = sites.SOURCES[prefix]
    bounds = {f"{measure}job_rate_pct": None,
              f"{measure}pooled_rate_pct": (100 * pooled_low, 100 * pooled_high),
              f"{measure}random_effects_rate_pct": (summary["re_conf_low"].iloc[0], summary["re_conf_high"].iloc[0]),
              f"{measure}prediction_interval_pct": (summary["prediction_low"].iloc[0], summary["prediction_high"].iloc[0])}
    by_site = rates.set_index("site")
    out = []
    for k in keys:
        k = dict(k)
        if k["measure"] == f"{measure}job_rate_pct":
            k["conf_low"], k["conf_high"] = by_site.loc[k["level"], "conf_low"], by_site.loc[k["level"], "conf_high"]
        elif bounds.get(k["measure"]):
            k["conf_low"], k["conf_high"] = bounds[k["measure"]]
        if k["measure"] in bounds:
            k["method"] = k["method"] + _hull_note(rule)
        out.append(k)
    rates["method"] = rates["method"] + _hull_note(rule)
    summary["method"] = summary["method"] + _hull_note(rule)
    return out, {**tables, rates_name: rates, summary_name: summary}


# --- key results ------------------------------------------------------------------------------------------------

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


# --- entry points ---------------------------------------------------------------------------------------------------

def control_step(tables: dict[str, pd.DataFrame], keys: list[dict], rule: Disclosure,
                 published: dict[str, pd.DataFrame] | None = None
                 ) -> tuple[dict[str, pd.DataFrame], list[dict], list[dict]]:
    """Control one analysis step's tables and key rows together: (tables, key rows, log rows). `published`:
    the tables of the steps before, as published (rule 11 reads group visibility and p-values from them)."""
    if not rule.active:
        return tables, keys, []
    step = Step(tables, rule)
    if any(name.startswith(REFEREE_TABLES) for name in tables):
        _referee_step(step, published or {})
    replaced = None
    for prefix in ("employment", "in_work"):
        if any(name.startswith(prefix + "_") for name in tables):
            _survival_step(prefix, step)
    if any(name.startswith("outcome") for name in tables):
        _outcome_step(step)
    if "competing_gray" in tables:
        _competing_step(step)
    recomputing = [(_access_step, prefix, f"{prefix}_composition") for prefix in access.SOURCES]
    recomputing += [(_sites_step, prefix, f"{prefix}_rates") for prefix in sites.SOURCES]
    for control, prefix, table in recomputing:
        if table in tables:
            recomputed = control(step, keys, prefix)
            if rule.has("published_counts"):  # their key rows, recomputed (none: every such row is blank)
                replaced = (replaced or []) + recomputed
    for name, table in tables.items():
        if name not in step.out:  # fail-safe: a table without a rule keeps only its rounded counts
            out = _counts_only(name, table, step)
            statistics = [c for c in out.columns if c not in COUNT_COLUMNS and pd.api.types.is_float_dtype(out[c])]
            step.out[name] = _hide(out, np.ones(len(out), dtype=bool), statistics, name, step,
                                   "no disclosure rule for this table")
    key_rows = _key_rows(keys, step, rule, replaced)
    unruled = sum(1 for k in key_rows if str(k["method"]).endswith("no disclosure rule for this measure"))
    step.note("key_results", "value", "suppressed", unruled, "no disclosure rule for this measure")
    hidden = sum(1 for k in key_rows if k.get("suppressed")) - unruled
    step.note("key_results", "value; conf_low; conf_high", "suppressed", hidden,
              "the statistic is hidden in the table it comes from")
    step.note("key_results", "value; conf_low; conf_high; n", "read from the controlled tables or recomputed by the same rule",
              len(key_rows) - hidden, "one number in every file")
    for name, table in step.out.items():
        if "suppressed" not in table:
            step.out[name] = table.assign(suppressed="")
    return step.out, key_rows, step.log


# Where each table keeps a group's size and its outcome count (binary outcome or events).
CLASS_SOURCES = {"outcome_rates": ("n", "positive"), "outcome_12m_window_rates": ("n", "positive"),
                 "employment_by_group": ("n", "events"), "in_work_by_group": ("n", "events"),
                 "sites_rates": ("referrals", "jobs"), "own_sites_rates": ("referrals", "jobs")}


def class_disclosure_cells(tables: dict[str, pd.DataFrame], rule: Disclosure) -> pd.DataFrame:
    """The groups of these (uncontrolled) tables in which nobody or everybody had the outcome, with 8 or more
    people: where the class-disclosure rule applies (blank when hidden). For the trust's local record only:
    the shared log says that the rule holds, not where, which would tell the outcome it hides."""
    rows = []
    for name, (size, count) in CLASS_SOURCES.items():
        table = tables.get(name)
        if table is None or not len(table) or not rule.active:
            continue
        n, k = table[size].to_numpy(dtype=float), table[count].to_numpy(dtype=float)
        hit = (n >= rule.min_people) & ((k == 0) | (k == n))
        for i in np.flatnonzero(hit):
            r = table.iloc[i]
            rows.append({"file": f"{name}.csv", "factor": r.get("factor", "site"), "level": r.get("level", r.get("site")),
                         "people": int(n[i]), "had_the_outcome": "nobody" if k[i] == 0 else "everybody",
                         "action": "hidden (class disclosure)" if rule.class_disclosure else "shown (--class-disclosure show)"})
    return pd.DataFrame(rows, columns=["file", "factor", "level", "people", "had_the_outcome", "action"])


def control_counts_table(name: str, table: pd.DataFrame, rule: Disclosure) -> tuple[pd.DataFrame, list[dict]]:
    """A table of counts only (the exclusion flow): counts rounded and small ones blank."""
    if not rule.active:
        return table, []
    step = Step({name: table}, rule)
    return _counts_only(name, table, step), step.log


def verdicts(log: pd.DataFrame, files: list[str], rule: Disclosure) -> pd.DataFrame:
    """One verdict per shared file, as an output checker would write it."""
    rows = []
    for file in sorted(files):
        mine = log[log["file"] == file] if len(log) else log
        failsafe = mine["rule"].str.contains("no disclosure rule").any() if len(mine) else False
        review = (mine["action"] == "review").any() if len(mine) else False
        if not rule.active:
            verdict = "not for release: no disclosure control (synthetic or internal data)"
        elif failsafe:
            verdict = "review: statistics blanked because no disclosure rule covers them"
        elif review:
            verdict = "review before release: " + "; ".join(mine.loc[mine["action"] == "review", "rule"])
        elif rule.protections != ALL_PROTECTIONS:
            verdict = "not for release: protections switched off (" + ", ".join(sorted(ALL_PROTECTIONS - rule.protections)) + ")"
        else:
            verdict = "safe to release under the rule: " + rule.name
        rows.append({"file": file, "column": "(file)", "action": "verdict",
                     "cells": int(mine["cells"].sum()) if len(mine) else 0, "rule": verdict})
    if rule.active:
        rows.append({"file": "(every file)", "column": "(groups)", "action": "class disclosure", "cells": 0,
                     "rule": ("a group in which nobody or everybody had the outcome is blank as a small one is "
                              "(--class-disclosure hide); where it applied is in the run's local record only"
                              if rule.class_disclosure else "groups in which nobody or everybody had the outcome "
                              "are shown (--class-disclosure show): the IG lead's decision")})
        rows.append({"file": "figures/*.png", "column": "(file)", "action": "verdict", "cells": 0,
                     "rule": "safe to release: drawn only from the controlled tables above (curves, rates, group sizes as published)"})
    return pd.DataFrame(rows)


# --- rule 11: capacity and the referee's sensitivity analyses (issue #25) -------------------------------------
#
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
#    published counts as 1 in its family (rule of analysis/multiplicity.py) and stays blank.

REFEREE_TABLES = ("capacity_", "missing_data_", "clustering_", "age_spline_", "power_", "multiplicity")
REFEREE_MEASURES = ("capacity_", "holm_p_")
_GROUP_SOURCES = {"outcome": "outcome_rates", "employment": "employment_by_group", "in_work": "in_work_by_group"}


def _round_counts(name: str, table: pd.DataFrame, columns: list[str], step: Step) -> pd.DataFrame:
    """Rule 2 on the named columns: 1..t blank (named in `suppressed`), others rounded to the base."""
    rule, out = step.rule, table.copy()
    notes = [[] for _ in range(len(out))]
    if "suppressed" in out:
        notes = [[n] if isinstance(n, str) and n else [] for n in out["suppressed"]]
    for c in columns:
        if c not in out:
            continue
        values = out[c].to_numpy(dtype=float)
        hidden = small(values, rule)
        out[c] = pd.array(np.round(published_counts(values, rule)), dtype="Int64")
        for i in np.flatnonzero(hidden):
            notes[i].append(c)
        step.note(name, c, "suppressed", hidden.sum(), f"count from 1 to {rule.threshold}")
        step.note(name, c, "rounded", (~hidden & ~np.isnan(values) & (values != 0)).sum(),
                  f"rounded to the nearest {rule.base}")
    out["suppressed"] = ["; ".join(n) for n in notes]
    return out


def _weeks_of(values) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(v), 7 * np.floor(v / 7 + 0.5), np.nan)


def _published_group_visible(published: dict[str, pd.DataFrame], analysis: str, factor: str, level: str) -> bool:
    """A group's statistics are shown in the published file of its analysis (rule 3), read from that file."""
    table = published.get(_GROUP_SOURCES.get(analysis, ""))
    if table is None or not len(table):
        return False
    rows = table[(table["factor"].astype(str) == factor) & (table["level"].astype(str) == str(level))]
    if len(rows) != 1:
        return False
    note = rows["suppressed"].iloc[0] if "suppressed" in rows else ""
    return not (isinstance(note, str) and HIDDEN_NOTE in [n.strip() for n in note.split(";")])


def _referee_models(name: str, table: pd.DataFrame, step: Step, published: dict[str, pd.DataFrame],
                    decimals: dict[str, int]) -> pd.DataFrame:
    """Rule 5 for the referee's model tables: counts rounded, estimates at reduced precision, no SEs, rows of
    hidden groups blank."""
    if not len(table):
        return table
    out = _round_counts(name, table, [c for c in ("n", "events", "n_analysed", "n_total") if c in table], step)
    for column, digits in decimals.items():
        if column in out:
            values = out[column].astype(float)
            if step.rule.has("true_intervals") and column.endswith(("conf_low", "conf_high")):  # limits outward
                values = intervals.outward(values, values, values, 10.0 ** -digits)[1 if column.endswith("low") else 2]
            out[column] = np.round(values, digits)
            step.note(name, column, "precision reduced", out[column].notna().sum(),
                      f"{digits} decimals (model fitted on person-level data)")
    if {"analysis", "factor", "level", "reference"} <= set(table.columns):
        hidden = np.array([not (_published_group_visible(published, a, f, lv) and
                                _published_group_visible(published, a, f, ref))
                           for a, f, lv, ref in zip(table["analysis"], table["factor"], table["level"],
                                                    table["reference"])], dtype=bool)
        out = _hide(out, hidden, [c for c in decimals if c in out], name, step,
                    _why(step.rule) + " (as in the file of its analysis)")
    return out


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
        from .multiplicity import plan

        table = plan(published).reindex(columns=raw["multiplicity"].columns)
        for c in ("raw_p", "holm_p"):
            table[c] = table[c].astype(float).round(PRECISION["p"])
        step.note("multiplicity", "raw_p; holm_p", "read from the published tables", len(table),
                  "the p-values as published; Holm recomputed from them (a p not published counts as 1)")
        step.out["multiplicity"] = table.assign(suppressed=np.where(table["raw_p"].isna(), HIDDEN_NOTE, ""))


def _power_from_published(raw: pd.DataFrame, step: Step, published: dict[str, pd.DataFrame]) -> pd.DataFrame:
    from .power import detectable_hazard_ratio, events_required

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
