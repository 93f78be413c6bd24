"""The multiplicity plan: which comparisons are primary, the families of tests, and Holm's step-down
adjustment within each family.

The primary family is the paper's own conclusions about equity, tested as the paper tested them: R10
(access by ethnicity, the chi-squared test of IPS against the CMHT case-load) and R11 (outcome by ethnicity,
gender, age band and diagnosis, the chi-squared tests of the k x 2 tables): five tests. The corrected tests
beside them (#21) are a secondary family of their own. Every other test of a hypothesis is secondary and
belongs to a family of the same question (one analysis, one kind of test). Holm (1979) controls the
family-wise error rate at 5% within each family under any dependence between its tests: sort the m
p-values, multiply the j-th smallest by m - j + 1, and carry the running maximum (capped at 1), as R's
p.adjust(method = "holm") and statsmodels' multipletests(method = "holm") do. Written here (six lines)
because multipletests runs Python's garbage collector on every call (0.1 s a family in a full run, 1 s for
the plan); it equals multipletests and R's p.adjust (tests/test_referee.py).

Left out of every family, on purpose: exact-test p-values (another p for a test already counted), the
unadjusted logistic likelihood-ratio tests (the same hypotheses as the chi-squared tests), the unadjusted
Cox Wald tests (the same comparisons as the log-rank tests), proportional-hazards tests (checks of a
model, not hypotheses about the service) and the sensitivity analyses (robust variance, imputation,
splines: the same hypotheses under other assumptions).

A p-value that is not published (disclosure control) is counted in its family's size and taken as 1,
which can only make the others' adjusted p larger (conservative) and tells nothing about it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.core.contract import FACTORS

PRIMARY = "primary"
SECONDARY = "secondary"
METHOD = ("Holm's step-down adjustment within the family (as R p.adjust and statsmodels multipletests, method 'holm'); "
          "family-wise error rate 5%; a p-value not published counts in the family as 1")

# (family, role, table, {column: value} row filter, p column, what is tested)
PUBLISHED, CORRECTED, WITHOUT_SMALL = "as published", "corrected", "groups of 10 or more"  # the tests' test column
FAMILIES = [
    ("the paper's equity tests (R10, R11)", PRIMARY, "access_tests", {"characteristic": "ethnicity", "test": PUBLISHED},
     "p", "access: IPS against the CMHT case-load, chi-squared (as published)"),
    *[("the paper's equity tests (R10, R11)", PRIMARY, "outcome_tests", {"factor": f, "test": PUBLISHED}, "p",
       "outcome: chi-squared across groups (as published)") for f in FACTORS],
    ("the equity tests corrected (beside the paper's)", SECONDARY, "access_tests",
     {"characteristic": "ethnicity", "test": CORRECTED}, "p",
     "access: IPS against the rest of the case-load, chi-squared, small groups left out"),
    *[("the equity tests corrected (beside the paper's)", SECONDARY, "outcome_tests",
       {"factor": f, "test": WITHOUT_SMALL}, "p", "outcome: chi-squared across groups of 10 or more") for f in FACTORS],
    *[("access, the other characteristics", SECONDARY, "access_tests", {"characteristic": f, "test": PUBLISHED}, "p",
       "access: IPS against the CMHT case-load, chi-squared (as published)") for f in FACTORS if f != "ethnicity"],
    *[("access against need", SECONDARY, "access_need_tests", {"characteristic": f, "test": PUBLISHED}, "p",
       "access: IPS against the people who want work, chi-squared") for f in FACTORS],
    *[("outcome, adjusted logistic model", SECONDARY, "outcome_logit_lr", {"model": "adjusted", "factor": f}, "p",
       "outcome: likelihood-ratio test, adjusted for the other factors") for f in FACTORS],
    *[("outcome within 12 months", SECONDARY, "outcome_12m_window_tests", {"factor": f, "test": PUBLISHED}, "p",
       "outcome within 12 months: chi-squared across groups") for f in FACTORS],
    *[("time to employment, log-rank", SECONDARY, "employment_logrank", {"factor": f}, "p",
       "time to employment: log-rank") for f in FACTORS],
    *[("incidence of a job, Gray's test", SECONDARY, "competing_gray", {"factor": f, "cause": "job"}, "p",
       "incidence of a job: Gray's test") for f in FACTORS],
    *[("in-work support, log-rank", SECONDARY, "in_work_logrank", {"factor": f}, "p",
       "discharge from in-work support: log-rank") for f in FACTORS],
    ("between sites", SECONDARY, "sites_summary", {}, "chi2_p", "site table: chi-squared across sites"),
    ("between sites", SECONDARY, "own_sites_summary", {}, "chi2_p", "the service's own sites: chi-squared"),
]
# Per-term Wald tests of the adjusted models: one family per model (terms found in the tables themselves).
TERM_FAMILIES = [("outcome, adjusted logistic model, per group", "outcome_logit", "wald_p", "odds ratio, Wald"),
                 ("time to employment, adjusted Cox model, per group", "employment_cox", "p", "hazard ratio, Wald"),
                 ("in-work support, adjusted Cox model, per group", "in_work_cox", "p", "hazard ratio, Wald")]


def _match(table: pd.DataFrame, where: dict) -> pd.DataFrame:
    mask = np.ones(len(table), dtype=bool)
    for column, value in where.items():
        if column not in table:
            return table.iloc[0:0]
        values = table[column].astype(str)
        mask &= (values.str.startswith(value + ":") if column == "model" else values == value).to_numpy()
    return table[mask]


def holm(p: np.ndarray) -> np.ndarray:
    """Holm-adjusted p-values; NaN (not published) counted as 1 and returned as NaN."""
    p = np.asarray(p, dtype=float)
    if not len(p):
        return p
    filled = np.where(np.isnan(p), 1.0, p)
    order = np.argsort(filled, kind="stable")
    m = len(filled)
    stepped = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * filled[order]))
    adjusted = np.empty(m)
    adjusted[order] = stepped
    return np.where(np.isnan(p), np.nan, adjusted)


def plan(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Every test of the plan found in `tables` with its family, role, raw and Holm-adjusted p."""
    rows = []
    for family, role, name, where, column, what in FAMILIES:
        table = tables.get(name)
        if table is None or not len(table) or column not in table:
            continue
        for _, r in _match(table, where).iterrows():
            factor = where.get("factor", where.get("characteristic", "all"))
            rows.append({"family": family, "role": role, "test": what, "source": f"{name}.csv", "factor": factor,
                         "level": "all", "raw_p": r[column]})
    for family, name, column, what in TERM_FAMILIES:
        table = tables.get(name)
        if table is None or not len(table) or column not in table:
            continue
        for _, r in _match(table, {"model": "adjusted"}).iterrows():
            rows.append({"family": family, "role": SECONDARY, "test": f"{what}, vs {r['reference']}",
                         "source": f"{name}.csv", "factor": r["factor"], "level": r["level"], "raw_p": r[column]})
    out = pd.DataFrame(rows, columns=["family", "role", "test", "source", "factor", "level", "raw_p"])
    out["raw_p"] = pd.to_numeric(out["raw_p"], errors="coerce")
    out["tests_in_family"] = out.groupby("family")["family"].transform("size")
    out["holm_p"] = np.nan
    for _, index in out.groupby("family", sort=False).groups.items():
        out.loc[index, "holm_p"] = holm(out.loc[index, "raw_p"].to_numpy())
    out["significant_raw"] = out["raw_p"] < 0.05
    out["significant_holm"] = out["holm_p"] < 0.05
    out["method"] = METHOD
    return out
