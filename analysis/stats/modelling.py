"""Shared model set-up for the group comparisons: which rows and levels enter a model, and why not.

One rule for every model (Cox here, logistic in the outcome analysis): 'Not known' is left out; a level
with no events (or, for logistic models, nothing but events) cannot be estimated, so it is left out and
the table says so rather than printing an infinite ratio; the reference level is the largest group.

Which groups are compared at all is one rule too (`Comparable`): at least MIN_COMPARED people; and, when a
run's results are shared under disclosure control, the rule that decides which groups' statistics are
published, judged on the counts as published. The pipeline sets it for the run (`comparing`), so every test
and model of the run (log-rank, Gray, Cox, Fine-Gray, logistic, the referee's models) leaves a group out
exactly when its statistics are not published, as it leaves out 'Not known'.
"""
from __future__ import annotations

import contextvars
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from analysis.core.arrays import counted_keys, pattern_digits, pattern_key, whole_number_span
from analysis.core.contract import FACTORS, NOT_KNOWN
from analysis.stats.cox import cox_efron
from analysis.core.results import row

# Groups this small are described (counts, rates, curves) but left out of every test and model that compares
# groups: with 2 or 3 people a group's rate or hazard turns on one person and can flip a test's direction.
MIN_COMPARED = 10
TOO_FEW = f"fewer than {MIN_COMPARED} people: described, not compared"
WEIGHT = "count"  # collapsed frames: one row per cell (time, event, factors) with the number of people in it


@dataclass(frozen=True)
class Comparable:
    """Which groups a test or model compares ('Not known' never). Without disclosure control (`publish` is
    None): groups of at least MIN_COMPARED people. Under it: a group whose published size is at least
    MIN_COMPARED, whose published events are not blank (1 to `threshold`) and, for a binary outcome, whose
    published non-events are not from 1 to `threshold` either; with `class_disclosure`, not a group in which
    nobody (or everybody) had the event. Judged on published counts only, so which groups are compared tells
    a reader nothing the published counts do not."""
    publish: Callable | None = None
    threshold: int = 0
    class_disclosure: bool = False

    @property
    def controlled(self) -> bool:
        return self.publish is not None

    def groups(self, n, events=None, binary: bool = False) -> np.ndarray:
        n = np.asarray(n, dtype=float)
        if not self.controlled:
            return n >= MIN_COMPARED
        size = self.publish(n)
        ok = np.nan_to_num(size, nan=-1.0) >= MIN_COMPARED
        if events is None:
            return ok
        shown = self.publish(np.asarray(events, dtype=float))
        ok &= ~np.isnan(shown)
        rest = size - shown
        if binary:
            ok &= ~((rest >= 1) & (rest <= self.threshold))
        if self.class_disclosure:
            ok &= (np.nan_to_num(shown) > 0) & (np.nan_to_num(rest) > 0)
        return ok

    def reason(self) -> str:
        """Why a group was left out, in words that add nothing to the rule (the same for every group)."""
        return ("left out: a small group, or few events, or (class disclosure) none or all (disclosure control)"
                if self.controlled else TOO_FEW)


_COMPARING: contextvars.ContextVar = contextvars.ContextVar("comparing", default=Comparable())


@contextmanager
def comparing(rule: Comparable):
    """Compare groups by `rule` in every test and model run inside the block (the pipeline's analysis steps)."""
    token = _COMPARING.set(rule)
    try:
        yield
    finally:
        _COMPARING.reset(token)


def comparable() -> Comparable:
    return _COMPARING.get()


def left_out_note() -> str:
    """What a test's method adds under disclosure control: the groups it leaves out, and why (none without)."""
    return ("; under disclosure control, groups whose statistics are not published are left out too"
            if comparable().controlled else "")


def collapse(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """People to counts per distinct (keys, factors): every estimate here is exact on counts.

    The table `frame.groupby(keys + FACTORS, observed=True, sort=True).size()` gives, factors as text, built
    from each column's sorted codes joined into one integer per row and counted: the groupby's hashing of
    every (day, cause, four factors) tuple was most of a million-person question's time."""
    factors = list(FACTORS)
    columns = keys + factors
    coded = [_group_codes(frame[c]) for c in columns]
    radix = [len(uniques) for _, uniques in coded]
    if np.prod([float(r) for r in radix]) >= 2.0 ** 62:  # the joined integer would overflow: let pandas group
        cells = frame.groupby(columns, observed=True, sort=True).size().rename(WEIGHT).reset_index()
        cells[factors] = cells[factors].astype(str)
        return cells
    _, known = _known_codes(coded)
    digits, counts, _ = pattern_counts(known, radix)
    cells = {column: np.asarray(uniques.astype(str), dtype=object)[digit] if column in factors else uniques.take(digit)
             for column, (_, uniques), digit in zip(columns, coded, digits)}  # the factors' groups as text
    return pd.DataFrame({**cells, WEIGHT: counts.astype(np.int64)})


def counted_cells(frame: pd.DataFrame, keys: list[str], event: str = "event") -> pd.DataFrame:
    """`frame.groupby(keys, observed=True).agg(size=(event, "size"), sum=(event, "sum")).reset_index()`, the
    same table to the bit, from each key's sorted codes joined into one integer per row (pattern_counts):
    a groupby hashing every (day, factors) tuple of ten million people took seconds per model. Falls back to
    the groupby for events that are not whole numbers or a key space too large for one integer.

    A collapsed frame (collapsed_people) is counted by its WEIGHT: the table of its people, to the bit."""
    hits = frame[event].to_numpy()
    weight = frame[WEIGHT].to_numpy() if is_collapsed(frame) else None  # None: a person per row
    coded = [_group_codes(frame[k]) for k in keys]
    radix = [len(uniques) for _, uniques in coded]
    if not keys or not len(frame) or hits.dtype.kind not in "biu" or np.prod([float(r) for r in radix]) >= 2.0 ** 62:
        if weight is None:
            return frame.groupby(keys, observed=True).agg(size=(event, "size"), sum=(event, "sum")).reset_index()
        return (frame[keys].assign(size=weight, sum=weight * hits).groupby(keys, observed=True)[["size", "sum"]]
                .sum().reset_index())
    rows, known = _known_codes(coded)
    if weight is None:
        digits, size, sums = pattern_counts(known, radix, hits[rows].astype(float))
    else:
        key, space = pattern_key(known, radix), int(np.prod(radix))
        patterns, _, size = counted_keys(key, space, weight[rows].astype(float))
        sums = counted_keys(key, space, (weight * hits)[rows].astype(float))[2]
        digits = pattern_digits(patterns, radix)
    cells = {}
    for key, (_, groups), digit in zip(keys, coded, digits):
        column = frame[key]
        if isinstance(column.dtype, pd.CategoricalDtype):  # the groupby keeps the key's categories
            cells[key] = pd.Categorical.from_codes(column.cat.categories.get_indexer(groups)[digit],
                                                   dtype=column.dtype)
        else:
            cells[key] = groups.to_numpy()[digit]
    return pd.DataFrame({**cells, "size": size.astype(np.int64), "sum": sums.astype(np.int64)})


def is_collapsed(frame: pd.DataFrame) -> bool:
    """Whether a row may stand for more than one person (a WEIGHT column that is not all 1)."""
    if WEIGHT not in frame.columns:
        return False
    weight = frame[WEIGHT].to_numpy()
    return not (weight.dtype.kind in "biu" and (weight == 1).all())


def collapsed_people(frame: pd.DataFrame, keys: list[str], event: str = "event") -> pd.DataFrame:
    """A person-level frame as one row per distinct value of `keys` (the event among them), WEIGHT the people
    in it: counted_cells of it by any of the keys is that of the people to the bit, without a pass over every
    person per model (ten million people regrouped fifteen times were most of the site-robust models' time).
    The people themselves when a key is missing somewhere (a row the count would leave out)."""
    cells = counted_cells(frame, keys, event)
    if int(cells["size"].sum()) != int(frame[WEIGHT].sum() if WEIGHT in frame.columns else len(frame)):
        return frame
    return cells.drop(columns="sum").rename(columns={"size": WEIGHT})


def _known_codes(coded: list[tuple[np.ndarray, pd.Index]]) -> tuple[np.ndarray | slice, list[np.ndarray]]:
    """The rows with every key known (a missing key: the groupby leaves the row out, dropna) and each key's
    codes at them: the codes themselves, not copies, when every row is known (ten million rows' copies of
    six keys were half a gigabyte of a large run's peak)."""
    known = np.ones(len(coded[0][0]), dtype=bool)
    for codes, _ in coded:
        known &= codes >= 0
    if known.all():
        return slice(None), [codes for codes, _ in coded]
    return known, [codes[known] for codes, _ in coded]


def pattern_counts(codes: list[np.ndarray], sizes: list[int], weights: np.ndarray | None = None
                   ) -> tuple[list[np.ndarray], np.ndarray, np.ndarray | None]:
    """Rows alike in every column of codes (column i's codes from 0 to sizes[i] - 1; the product of the
    sizes below 2^62) counted, without hashing tuples: each distinct pattern's code in every column, the rows
    with it and the sum of `weights` over them, patterns in the order a sorted groupby gives (first column
    first). One integer per row, its digits the codes (pattern_key), counted by position when the space of
    patterns is small, else sorted (counted_keys)."""
    patterns, counts, sums = counted_keys(pattern_key(codes, sizes), int(np.prod(sizes)), weights)
    return pattern_digits(patterns, sizes), counts, sums


def _positions(present: np.ndarray, length: int) -> np.ndarray:
    """For each of `length` values, its position among the `present` ones (-1 for the others), in the
    smallest signed integer type that holds them: ten million int64 codes per key were 80 MB each where one
    byte does."""
    position = np.full(length, -1, dtype=np.min_scalar_type(-1 - len(present)))
    position[present] = np.arange(len(present))
    return position


def _group_codes(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Each value's position among the groups a sorted groupby forms (a categorical's observed categories in
    their own order; any other column's distinct values sorted), -1 where missing; and those groups."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy()
        present = np.flatnonzero(np.bincount(codes[codes >= 0], minlength=len(values.cat.categories)))
        position = _positions(present, len(values.cat.categories) + 1)  # position[-1] (a missing value's -1): -1
        return position[codes], pd.Index(values.cat.categories[present])
    array = values.to_numpy()
    span = whole_number_span(array)
    if span is not None:  # whole numbers (days): counted by position, not hashed
        low, present, shifted = span
        return _positions(present, int(present[-1]) + 1)[shifted], pd.Index((present + low).astype(array.dtype))
    codes, uniques = pd.factorize(values, sort=True)
    return codes, pd.Index(uniques)


def compared_groups(frame: pd.DataFrame, factor: str, event=None, binary: bool = False) -> pd.DataFrame:
    """The rows of a collapsed frame that a comparison of `factor`'s groups uses: a known value, and a group
    the run's rule compares (`comparable`; `event`, a column or a boolean array, gives the events it judges)."""
    values = frame[factor].astype(str)
    weight = frame[WEIGHT].to_numpy(dtype=float)
    sizes = pd.Series(weight).groupby(values.to_numpy()).sum()
    events = None
    if event is not None:
        hits = frame[event].to_numpy(dtype=float) if isinstance(event, str) else np.asarray(event, dtype=float)
        events = pd.Series(weight * hits).groupby(values.to_numpy()).sum().reindex(sizes.index).to_numpy()
    kept = sizes.index[comparable().groups(sizes.to_numpy(), events, binary)]
    return frame[(values != NOT_KNOWN) & values.isin(kept)]


def counts_by(cells: pd.DataFrame, keys: list[str], event: str) -> pd.DataFrame:
    """People ("size") and events ("sum") per group of a collapsed frame."""
    return (cells.assign(size=cells[WEIGHT], sum=cells[WEIGHT] * cells[event])
            .groupby(keys, observed=True)[["size", "sum"]].sum())


def sorted_codes(values: pd.Series) -> tuple[np.ndarray, list[str]]:
    """pd.factorize(values as text, sort=True): each value's position among the distinct texts, sorted. A
    categorical of text whose categories are sorted is read off its codes, without hashing every value."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        categories = list(values.cat.categories)
        if (values.cat.codes >= 0).all() and all(isinstance(c, str) for c in categories) \
                and categories == sorted(categories):  # its groups in category order are the texts sorted
            codes, groups = _group_codes(values)
            return codes, list(groups)
    which, levels = pd.factorize(values.astype(str), sort=True)
    return which, list(levels)


def model_levels(frame: pd.DataFrame, factor: str, event: str, both_outcomes: bool = False) -> tuple[list[str], pd.DataFrame]:
    """Levels of `factor` that can enter a model, and a table of those that cannot with the reason."""
    which, levels = sorted_codes(frame[factor])
    weight = frame[WEIGHT].to_numpy(dtype=float)
    sizes = dict(zip(levels, np.bincount(which, weights=weight, minlength=len(levels))))
    events = dict(zip(levels, np.bincount(which, weights=weight * frame[event].to_numpy(dtype=float),
                                          minlength=len(levels))))
    sizes.pop(NOT_KNOWN, None)
    rule = comparable()
    compared = dict(zip(sizes, rule.groups(list(sizes.values()), [events[lv] for lv in sizes], both_outcomes)))
    reasons = {}
    for level, size in sizes.items():
        if not compared[level]:
            reasons[level] = rule.reason()
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
        values = frame[factor]  # a categorical of text is matched on its codes
        keep &= (values if isinstance(values.dtype, pd.CategoricalDtype) else values.astype(str)).isin(levels[factor])
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
