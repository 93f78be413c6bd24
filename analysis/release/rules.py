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
11. Capacity and the referee's analyses: the comment block "rule 11" at the top of release/referee.py.

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

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from analysis.core.contract import FACTORS, NOT_KNOWN
from analysis.core.errors import InputError, Problem
from analysis.stats.modelling import Comparable


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


def merge_small_groups(data: pd.DataFrame, reference: pd.DataFrame | None, rule: Disclosure
                       ) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame]:
    """Count every level with fewer than min_people people as 'Not known', in the extract and the CMHT table.

    Returns the data, the reference table and a log of what was merged (factor, level; never the size)."""
    merged = []
    if not rule.has("merge_small_groups"):
        return data, reference, pd.DataFrame(columns=["factor", "level"])
    original = data
    for factor in FACTORS:
        # Counted on the column as it is first: a factor with no small group (the usual case) is neither turned
        # into text nor copied; ten million rows paid 8 s for that. Its small groups are then listed in the
        # order the text's counts give them, as the log has always listed them.
        if not any(0 < n < rule.min_people and str(level) != NOT_KNOWN
                   for level, n in data[factor].value_counts(dropna=False).items()):
            continue
        sizes = data[factor].astype(str).value_counts()
        few = [level for level, n in sizes.items() if 0 < n < rule.min_people and level != NOT_KNOWN]
        if data is original:  # the caller's frame is left as it was
            data = data.copy()
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


def whole_month_window(extract, data: pd.DataFrame, entry_from, entry_to, rule: Disclosure):
    """Under disclosure control the entry window is whole calendar months: a window given otherwise is refused,
    and with none the window is the months of the first and last contact (never their dates). Also returns
    log rows flagging a first or last month with fewer than min_people first contacts (differencing risk)."""
    problem = month_window_problem(entry_from, entry_to)
    if problem:
        raise InputError([Problem(str(extract), None, None, problem, "an entry window of whole calendar months "
                                  "under disclosure control (or --disclosure none for internal use only)")])
    first = data["first_contact_date"]
    entry_from = entry_from or f"{first.min():%Y-%m}-01"
    entry_to = entry_to or f"{first.max() + pd.offsets.MonthEnd(0):%Y-%m-%d}"
    month = first.dt.to_period("M")
    log = []
    for edge, label in ((pd.Timestamp(entry_from).to_period("M"), "first"), (pd.Timestamp(entry_to).to_period("M"), "last")):
        if 0 < (month == edge).sum() < rule.min_people:
            log.append({"file": "exclusions.csv", "column": "(entry window)", "action": "review", "cells": 1,
                        "rule": f"the window's {label} month has fewer than {rule.min_people} first contacts: a run "
                        "without that month could be differenced against this one; release one window only"})
    return entry_from, entry_to, log
