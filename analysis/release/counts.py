"""Counts (rule 2 of analysis/release/rules.py): 1 to t blank, others rounded to b, and the groups a total would
pin blanked too ("(secondary)").
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.release.rules import (COUNT_COLUMNS, Disclosure, published_counts, REFERENCE_COUNTS, rounded,
                                    SIZE_COLUMNS, small)
from analysis.release.step import Step


def _publish_column(out: pd.DataFrame, name: str, column: str, values: np.ndarray, hidden: np.ndarray,
                    notes: list[list[str]], step: Step) -> None:
    """Rule 2 on one count column: published counts in place, the hidden cells named in their row's notes,
    and the log's two lines (suppressed, rounded)."""
    rule = step.rule
    out[column] = pd.array(np.round(published_counts(values, rule)), dtype="Int64")
    for i in np.flatnonzero(hidden):
        notes[i].append(column)
    step.note(name, column, "suppressed", hidden.sum(), f"count from 1 to {rule.threshold}")
    step.note(name, column, "rounded", (~hidden & ~np.isnan(values) & (values != 0)).sum(),
              f"rounded to the nearest {rule.base}")


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
        _publish_column(out, name, c, values, hidden, notes, step)
    if "suppressed" in out:
        previous = out["suppressed"].fillna("").astype(str)
        notes = [([p] if p else []) + n for p, n in zip(previous, notes)]
    out["suppressed"] = ["; ".join(n) for n in notes]
    return out


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


def control_counts_table(name: str, table: pd.DataFrame, rule: Disclosure) -> tuple[pd.DataFrame, list[dict]]:
    """A table of counts only (the exclusion flow): counts rounded and small ones blank."""
    if not rule.active:
        return table, []
    step = Step({name: table}, rule)
    return _counts_only(name, table, step), step.log


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
        _publish_column(out, name, c, values, hidden, notes, step)
    out["suppressed"] = ["; ".join(n) for n in notes]
    return out
