"""The person-level frames the referee's sensitivity analyses share: one row per person for the outcome
model, for time to employment and for in-work support, with the four factors, age in years and the site.

Built from the same functions as the paper's analyses (outcome.positive, employment.employment_times,
in_work.support_times), so every sensitivity model is fitted on exactly the people of the model it checks.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.core.contract import COLUMN_NAMES, FACTORS
from analysis.questions.employment import employment_times
from analysis.questions.in_work import support_times
from analysis.stats.modelling import WEIGHT, collapsed_people, counted_cells, is_collapsed, model_levels, usable_rows
from analysis.questions.outcome import positive

COLLAPSE_FROM = 20_000  # people: below this, fitting on people is faster than grouping them into counts
ANALYSES = {"outcome": ("positive outcome", "logistic"), "employment": ("time to employment", "cox"),
            "in_work": ("discharge from in-work support", "cox")}


def frames(data: pd.DataFrame, extract_date: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """{analysis: frame} with columns: person_id, the factors (text), age, site (text or 'all'), and the
    response: `event` (positive outcome, job start or discharge) and, for the survival analyses, `days`.
    (person_id, the person's number in the order below, stays inside the analysis: it links an imputed value
    to the person's rows.)

    The people are put in an order set by their values, not by the file: the imputation's random draws go
    to people in this order, so a shuffled or renamed export of the same people gives the same results."""
    order = [c for c in (*COLUMN_NAMES[1:],) if c in data.columns]
    data = data.sort_values(order, kind="stable", na_position="last")
    # Each person (one episode each) is then known by their position in that order: the frames are joined on
    # it, and a million integers are cheaper to hold and to match than a million copies of the text ids.
    data = data.assign(person_id=np.arange(len(data)))
    extra = pd.DataFrame({"person_id": data["person_id"].to_numpy(), "age": data["age"].to_numpy(dtype=float),
                          "site": as_sorted_text(data["site"]) if "site" in data else "all"})
    out = {}
    base = pd.DataFrame({"person_id": data["person_id"].to_numpy(), **{f: as_sorted_text(data[f]) for f in FACTORS}})
    out["outcome"] = base.assign(age=extra["age"].to_numpy(), site=extra["site"].array,
                                 event=positive(data).to_numpy())
    times = employment_times(data, extract_date)
    out["employment"] = _with_extra(times.rename(columns={"employed": "event"}), extra)
    support = support_times(data, extract_date)
    out["in_work"] = _with_extra(support.rename(columns={"discharged": "event"}), extra)
    for name in out:
        out[name][WEIGHT] = 1
    return out


def _with_extra(times: pd.DataFrame, extra: pd.DataFrame) -> pd.DataFrame:
    frame = times[["person_id", "days", "event", *FACTORS]].merge(extra, on="person_id", how="left")
    for factor in FACTORS:
        frame[factor] = as_sorted_text(frame[factor])
    return frame


def as_sorted_text(values: pd.Series) -> pd.Categorical:
    """A factor as its text, held as a categorical whose categories are the groups present in sorted order:
    grouping and matching run on small integer codes (a million text values were most of these models'
    time), and every grouping sorts the groups as it would sort the text, so the results are unchanged.
    A categorical or a text column without missing values is recoded from its codes (a count per code finds
    the groups present), never by making or sorting ten million strings."""
    if isinstance(values.dtype, pd.CategoricalDtype) and not values.isna().any():
        codes, categories = values.cat.codes.to_numpy(), values.cat.categories
    elif pd.api.types.is_string_dtype(values.dtype) and not values.isna().any():
        codes, categories = pd.factorize(values)
    else:
        codes, categories = None, None
    if codes is not None and all(isinstance(c, str) for c in categories):
        present = np.flatnonzero(np.bincount(codes, minlength=len(categories)))
        ordered = sorted(range(len(present)), key=lambda i: categories[present[i]])
        position = np.empty(len(categories), dtype=np.int64)
        position[present[ordered]] = np.arange(len(present))
        return pd.Categorical.from_codes(position[codes], categories=[categories[present[i]] for i in ordered])
    text = values.astype(str)
    return pd.Categorical(text, categories=sorted(text.unique()))


def adjusted_levels(frame: pd.DataFrame, logistic: bool) -> tuple[dict[str, list[str]], pd.DataFrame]:
    """The adjusted model's levels per factor (reference first) by the paper's rule (modelling.model_levels)
    and the rows that enter it (complete cases: every factor at a usable level)."""
    levels = {f: model_levels(frame, f, "event", both_outcomes=logistic)[0] for f in FACTORS}
    levels = {f: v for f, v in levels.items() if len(v) >= 2}
    return levels, frame[usable_rows(frame, list(levels), levels)]


def dummies(frame: pd.DataFrame, levels: dict[str, list[str]]) -> tuple[np.ndarray, list[tuple[str, str, str]]]:
    """Treatment-coded dummies for the factors of `levels` (reference = first level), and (factor, level, ref)."""
    columns, terms = [], []
    for factor, lv in levels.items():
        values = frame[factor].to_numpy()
        for level in lv[1:]:
            columns.append((values == level).astype(float))
            terms.append((factor, level, lv[0]))
    return (np.column_stack(columns) if columns else np.zeros((len(frame), 0))), terms


def counted_once(frame: pd.DataFrame, analysis: str, *also: str) -> pd.DataFrame:
    """An analysis's people counted once per (time,) event, factors and the columns `also` (collapsed_people):
    every model of theirs counts its cells from this, the same cells as from the people."""
    time = ["days"] if ANALYSES[analysis][1] == "cox" else []
    return collapsed_people(frame, [*time, "event", *FACTORS, *also])


def fit_adjusted(frame: pd.DataFrame, levels: dict[str, list[str]], kind: str):
    """The adjusted model on the rows of `frame` (collapsed to counts first): (coefficients, covariance,
    terms, people, events, parameters incl. an intercept for the logistic model)."""
    keys = (["days"] if kind == "cox" else []) + list(levels)
    # A collapsed frame (collapsed_people, made only from COLLAPSE_FROM people up) is fitted on its counts.
    if len(frame) >= COLLAPSE_FROM or is_collapsed(frame):  # counts per (time,) covariate pattern: exact, fast
        cells = counted_cells(frame, keys)
    else:  # one row per person: cheaper than grouping for a few thousand people
        cells = frame[keys].assign(size=1, sum=frame["event"].to_numpy())
    return fit_cells(cells, levels, kind)


def fit_cells(cells: pd.DataFrame, levels: dict[str, list[str]], kind: str):
    """fit_adjusted on rows already counted: (days,) the factors, `size` people and `sum` events per row."""
    from analysis.stats.cox import cox_efron
    from analysis.questions.outcome import logistic

    x, terms = dummies(cells, levels)
    if kind == "logistic":
        coef, cov, _ = logistic(cells["sum"], cells["size"], x)
        return coef[1:], cov[1:, 1:], terms, int(cells["size"].sum()), int(cells["sum"].sum()), coef.size
    fit = cox_efron(x, cells["days"].to_numpy(), cells["sum"].to_numpy(), cells["size"].to_numpy(), test_ph=False)
    return fit.coef, fit.cov, terms, fit.n, fit.n_events, fit.coef.size
