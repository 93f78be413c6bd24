"""One analysis step's tables under control together (Step), and what every kind of number shares: blanking
cells with a reason in `suppressed` and the log (`_hide`), and whether a group's statistics are published
(`_group_ok`, rule 3 of analysis/release/rules.py).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.release.rules import Disclosure, HIDDEN_NOTE, OUTCOME_COLUMNS, published_counts, small
from analysis.stats.modelling import Comparable


def _empty_like(table: pd.DataFrame) -> pd.DataFrame:
    return table.iloc[0:0].assign(suppressed=pd.Series(dtype=str))


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
