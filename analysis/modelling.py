"""Shared model set-up for the group comparisons: which rows and levels enter a model, and why not.

One rule for every model (Cox here, logistic in the outcome analysis): 'Not known' is left out; a level
with no events (or, for logistic models, nothing but events) cannot be estimated, so it is left out and
the table says so rather than printing an infinite ratio; the reference level is the largest group.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from .contract import FACTORS, NOT_KNOWN
from .estimators import cox_efron
from .results import row

# Groups this small are described (counts, rates, curves) but left out of every test and model that compares
# groups: with 2 or 3 people a group's rate or hazard turns on one person and can flip a test's direction.
MIN_COMPARED = 10
TOO_FEW = f"fewer than {MIN_COMPARED} people: described, not compared"
WEIGHT = "count"  # collapsed frames: one row per cell (time, event, factors) with the number of people in it


def collapse(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """People to counts per distinct (keys, factors): every estimate here is exact on counts."""
    factors = list(FACTORS)
    cells = frame.groupby(keys + factors, observed=True, sort=True).size().rename(WEIGHT).reset_index()
    cells[factors] = cells[factors].astype(str)
    return cells


def compared_groups(frame: pd.DataFrame, factor: str) -> pd.DataFrame:
    """The rows of a collapsed frame that a comparison of `factor`'s groups uses: known value, and a group of
    at least MIN_COMPARED people."""
    values = frame[factor].astype(str)
    sizes = frame[WEIGHT].groupby(values).sum()
    return frame[(values != NOT_KNOWN) & values.isin(sizes.index[sizes >= MIN_COMPARED])]


def counts_by(cells: pd.DataFrame, keys: list[str], event: str) -> pd.DataFrame:
    """People ("size") and events ("sum") per group of a collapsed frame."""
    return (cells.assign(size=cells[WEIGHT], sum=cells[WEIGHT] * cells[event])
            .groupby(keys, observed=True)[["size", "sum"]].sum())


def model_levels(frame: pd.DataFrame, factor: str, event: str, both_outcomes: bool = False) -> tuple[list[str], pd.DataFrame]:
    """Levels of `factor` that can enter a model, and a table of those that cannot with the reason."""
    which, levels = pd.factorize(frame[factor].astype(str), sort=True)
    weight = frame[WEIGHT].to_numpy(dtype=float)
    sizes = dict(zip(levels, np.bincount(which, weights=weight, minlength=len(levels))))
    events = dict(zip(levels, np.bincount(which, weights=weight * frame[event].to_numpy(dtype=float),
                                          minlength=len(levels))))
    sizes.pop(NOT_KNOWN, None)
    reasons = {}
    for level, size in sizes.items():
        if size < MIN_COMPARED:
            reasons[level] = TOO_FEW
        elif events[level] == 0:
            reasons[level] = "not estimable: no events in this group"
        elif both_outcomes and events[level] == size:
            reasons[level] = "not estimable: everyone in this group had the outcome (separation)"
    usable = sorted((lvl for lvl in sizes if lvl not in reasons), key=lambda lvl: (-sizes[lvl], lvl))  # reference first
    excluded = pd.DataFrame({"factor": factor, "level": list(reasons), "n": [int(sizes[lvl]) for lvl in reasons],
                             "reason": list(reasons.values())})
    return usable, excluded


def design(frame: pd.DataFrame, factors: list[str], levels: dict[str, list[str]]) -> tuple[np.ndarray, list[str], list[tuple[str, str, str]]]:
    """Treatment-coded dummies (reference = first of each level list); term names and (factor, level, reference)."""
    columns, names, terms = [], [], []
    for factor in factors:
        reference = levels[factor][0]
        values = frame[factor].astype(str).to_numpy()
        for level in levels[factor][1:]:
            columns.append((values == level).astype(float))
            names.append(f"{factor}: {level} vs {reference}")
            terms.append((factor, level, reference))
    matrix = np.column_stack(columns) if columns else np.zeros((len(frame), 0))
    return matrix, names, terms


def not_estimable(model: str, factors: list[str], n: int) -> pd.DataFrame:
    """The row that says a whole model could not be fitted, instead of a crash or an infinite estimate."""
    return pd.DataFrame({"factor": [" + ".join(factors)], "level": ["all"], "n": [n], "model": [model],
                         "reason": ["model not estimable: singular information or no finite maximum (too few "
                                    "events or people for the number of groups)"]})


def usable_rows(frame: pd.DataFrame, factors: list[str], levels: dict[str, list[str]]) -> pd.Series:
    keep = pd.Series(True, index=frame.index)
    for factor in factors:
        keep &= frame[factor].astype(str).isin(levels[factor])
    return keep


def model_specs(factors: list[str]) -> list[tuple[str, list[str]]]:
    """The models fitted for every comparison: each factor alone (unadjusted), then all together (adjusted)."""
    return [(f"unadjusted: {f}", [f]) for f in factors] + [("adjusted: " + " + ".join(factors), list(factors))]


def fit_by_factors(frame: pd.DataFrame, factors: list[str], event: str, model: str, fit: Callable
                   ) -> tuple[object | None, pd.DataFrame, pd.DataFrame]:
    """What every model by factors shares: choose each factor's levels (model_levels), keep the rows whose
    levels all enter, fit, and label each term with its factor, level and reference.

    fit(rows, factors, levels) returns (fitted, terms): an object with .summary(), .se, .n and .n_events,
    and (factor, level, reference) per term. Returns (fitted or None, estimates table, excluded levels)."""
    levels, excluded = {}, []
    for factor in factors:
        levels[factor], dropped = model_levels(frame, factor, event)
        excluded.append(dropped)
    excluded = pd.concat(excluded, ignore_index=True).assign(model=model)
    factors = [f for f in factors if len(levels[f]) >= 2]
    if not factors:
        return None, pd.DataFrame(), excluded
    rows = frame[usable_rows(frame, factors, levels)]
    try:
        fitted, terms = fit(rows, factors, levels)
        if not np.all(np.isfinite(fitted.se)):
            raise np.linalg.LinAlgError("non-finite standard errors")
    except np.linalg.LinAlgError:
        return None, pd.DataFrame(), pd.concat([excluded, not_estimable(model, factors, int(rows[WEIGHT].sum()))],
                                               ignore_index=True)
    table = fitted.summary()
    table.insert(0, "model", model)
    table.insert(1, "factor", [t[0] for t in terms])
    table.insert(2, "level", [t[1] for t in terms])
    table.insert(3, "reference", [t[2] for t in terms])
    table["n"] = fitted.n
    table["events"] = fitted.n_events
    return fitted, table, excluded


def ratio_key_rows(table: pd.DataFrame, measure: str, ratio: str) -> list[dict]:
    """Key-result rows for a table of model estimates (one per term): `measure`_unadjusted or _adjusted."""
    return [row(f"{measure}_{m['model'].split(':')[0]}", m[ratio], f"{m['method']}; {m['model']}; vs {m['reference']}",
                factor=m["factor"], level=m["level"], conf_low=m["conf_low"], conf_high=m["conf_high"], n=m["n"])
            for _, m in table.iterrows()]


def cox_by_factors(frame: pd.DataFrame, factors: list[str], time: str, event: str, model: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Cox (Efron) of `event` on categorical factors, fitted on counts per (time, covariate pattern).

    Returns (hazard ratio table, proportional-hazards test table, excluded-levels table).
    """
    def fit(rows, factors, levels):
        cells = counts_by(rows, [time] + factors, event).reset_index()
        x, names, terms = design(cells, factors, levels)
        return cox_efron(x, cells[time].to_numpy(), cells["sum"].to_numpy(), cells["size"].to_numpy(), names=names,
                         terms=[factor for factor, _, _ in terms]), terms

    fitted, table, excluded = fit_by_factors(frame, factors, event, model, fit)
    if fitted is None:
        return table, pd.DataFrame(), excluded
    table["lr_chi2_model"] = fitted.lr_chi2
    ph = fitted.ph_test.copy()
    ph.insert(0, "model", model)
    return table, ph, excluded
