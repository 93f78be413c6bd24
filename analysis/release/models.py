"""Model estimates fitted on person-level data (rule 7 of analysis/release/rules.py): ratios and limits to 2
decimals (limits outward), p to 3, no coefficients or SEs, blank rows for groups whose statistics are hidden.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from analysis.release.counts import _counts_only, _round_counts
from analysis.release.rules import HIDDEN_NOTE, MODEL_HIDDEN_COLUMNS, PRECISION, RATIO_COLUMNS
from analysis.release.step import _hide, Step, _why
from analysis.stats import intervals


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


_GROUP_SOURCES = {"outcome": "outcome_rates", "employment": "employment_by_group", "in_work": "in_work_by_group"}


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
