"""The paper's first question and what a referee asks next (issue #25), as pipeline steps.

* capacity and time limits (analysis/questions/capacity.py);
* missing data: complete case, 'Not known' as a level, multiple imputation (analysis/questions/missing.py);
* clustering: site-robust variance (analysis/questions/clustering.py), when the extract has two or more sites;
* age as a continuous term: a restricted cubic spline beside the bands (analysis/questions/age_spline.py);
* power for time to event: minimum detectable hazard ratios (analysis/stats/power.py);
* the multiplicity plan (analysis/stats/multiplicity.py), last, from every p-value before it.

Each step yields (label, key rows, {table: table}) as analysis/pipeline.py expects; every table name
starts with its step's prefix, which analysis/release/rules.py's rule for that step reads.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable
from contextlib import contextmanager

import numpy as np
import pandas as pd

from analysis.questions import age_spline, capacity, clustering, missing
from analysis.stats import multiplicity, power
from analysis.questions.model_frames import frames
from analysis.core.results import row

# Each step's label, as the run's log names it (bench/run_bench.py reads them to time these steps apart).
CAPACITY, MISSING, CLUSTERING, AGE, POWER, MULTIPLICITY = STEPS = (
    "capacity and time limits", "missing data", "clustering by site", "age as a continuous term",
    "power for time to event", "multiplicity plan")


@contextmanager
def quiet():
    """A ratio of a group with no events or no non-events runs off to infinity: its CI is infinite (the
    reports say "not estimable") and numpy's overflow warning is not for the analyst's screen."""
    with warnings.catch_warnings(), np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


# The steps a second process may do (analysis/core/beside.py), in the order the run takes them: long, and
# needing nothing the other steps make.
BESIDE_ANALYSES = {MISSING: missing.analyse, AGE: age_spline.analyse}
BESIDE = tuple(BESIDE_ANALYSES)


def beside_steps(data: pd.DataFrame, extract_date: pd.Timestamp, start: int = 0):
    """(label, result) of the steps in BESIDE from the start-th on, in order, from their own person frames:
    what the run's second process does while this one runs the other steps."""
    labels = BESIDE[start:]
    if not labels:
        return
    with quiet():
        person = frames(data, extract_date)
        for label in labels:
            yield label, BESIDE_ANALYSES[label](person)


def steps(data: pd.DataFrame, extract_date: pd.Timestamp, capacity_options: capacity.Options | None = None,
          beside: Callable[[str], tuple[pd.DataFrame, pd.DataFrame]] | None = None):
    """Capacity and the sensitivity analyses in turn. `beside(label)` gives the result of a step in BESIDE
    when another process has computed it (beside_steps); without it every step is computed here."""
    with quiet():
        found = capacity.analyse(data, extract_date, capacity_options)
    yield CAPACITY, *found
    with quiet():
        person = frames(data, extract_date)
        result = beside or (lambda label: BESIDE_ANALYSES[label](person))
        models, summary = result(MISSING)
    if len(models):
        yield MISSING, [], {"missing_data_models": models, "missing_data_summary": summary}
    with quiet():
        robust = clustering.analyse(person)
    if len(robust):
        yield CLUSTERING, [], {"clustering_models": robust}
    with quiet():
        tests, ratios = result(AGE)
    if len(tests):
        yield AGE, [], {"age_spline_tests": tests, "age_spline_ratios": ratios}
    with quiet():
        detectable = power.analyse(person)
    if len(detectable):
        yield POWER, [], {"power_detectable_hr": detectable}


def multiplicity_step(tables: dict[str, pd.DataFrame]) -> tuple[list[dict], dict[str, pd.DataFrame]]:
    table = multiplicity.plan(tables)
    return key_rows(table), {"multiplicity": table}


def key_rows(table: pd.DataFrame) -> list[dict]:
    """The primary family's Holm-adjusted p-values as key results (access by ethnicity, outcome by factor)."""
    keys = []
    primary = table[table["role"] == multiplicity.PRIMARY]
    for _, r in primary.iterrows():
        measure = "holm_p_access" if r["source"].startswith("access") else "holm_p_outcome"
        keys.append(row(measure, r["holm_p"], multiplicity.METHOD + f"; family: {r['family']}, "
                        f"{int(r['tests_in_family'])} tests; raw p in {r['source']}", factor=r["factor"]))
    return keys

