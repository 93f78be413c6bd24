"""What the two survival questions share: per-group curves, log-rank tests and Cox models by factor."""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.core.contract import FACTORS
from analysis.stats.survival import KM_MEDIAN_METHOD, kaplan_meier, km_median, logrank
from analysis.stats.modelling import (MIN_COMPARED, WEIGHT, compared_groups, cox_by_factors, left_out_note,
                                      model_specs, ratio_key_rows)
from analysis.core.results import row

FACTOR_NAMES = list(FACTORS)


def by_group(frame: pd.DataFrame, time: str, event: str, at_days: dict[str, float]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """For every level of every factor: n, events, KM median with CI and survival at the given days;
    and the curves themselves (one long table, for the figures)."""
    rows, curves = [], []
    for factor in FACTOR_NAMES:
        for level, group in frame.groupby(factor, observed=True):
            km = kaplan_meier(group[time], group[event], group[WEIGHT])
            curves.append(km.assign(factor=factor, level=str(level)))
            median, low, high = km_median(km)
            record = {"factor": factor, "level": str(level), "n": int(group[WEIGHT].sum()),
                      "events": int((group[event] * group[WEIGHT]).sum()),
                   "km_median_days": median, "km_median_conf_low": low, "km_median_conf_high": high}
            idx = np.searchsorted(km["time"].to_numpy(), list(at_days.values()), side="right") - 1
            for (label, _), i in zip(at_days.items(), idx):
                record[f"km_survival_{label}"] = float(km["survival"].iloc[i]) if i >= 0 else 1.0
            record["method"] = KM_MEDIAN_METHOD
            rows.append(record)
    if not curves:  # no one in this analysis (e.g. nobody in work): empty tables with their columns
        empty = kaplan_meier(np.zeros(0), np.zeros(0, dtype=int)).assign(factor=pd.Series(dtype=str),
                                                                         level=pd.Series(dtype=str))
        columns = ["factor", "level", "n", "events", "km_median_days", "km_median_conf_low", "km_median_conf_high",
                   *[f"km_survival_{label}" for label in at_days], "method"]
        return pd.DataFrame(columns=columns), empty
    return pd.DataFrame(rows), pd.concat(curves, ignore_index=True)


def logrank_by_factor(frame: pd.DataFrame, time: str, event: str) -> pd.DataFrame:
    rows = []
    for factor in FACTOR_NAMES:
        known = compared_groups(frame, factor, event)
        test = logrank(known[time], known[event], known[factor].astype(str), known[WEIGHT])
        rows.append({"factor": factor, "chi2": test["chi2"], "df": test["df"], "p": test["p"],
                     "n": int(known[WEIGHT].sum()),
                     "method": test["method"] + f"; 'Not known' and groups of fewer than {MIN_COMPARED} excluded"
                     + left_out_note()})
    return pd.DataFrame(rows)


def cox_models(frame: pd.DataFrame, time: str, event: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Unadjusted (one factor at a time) and mutually adjusted (all four) Cox models."""
    tables, ph_tests, excluded = [], [], []
    for model, factors in model_specs(FACTOR_NAMES):
        t, p, e = cox_by_factors(frame, factors, time, event, model=model)
        tables.append(t), ph_tests.append(p), excluded.append(e)
    return (pd.concat(tables, ignore_index=True), pd.concat(ph_tests, ignore_index=True),
            pd.concat(excluded, ignore_index=True))


def compare_groups(cells: pd.DataFrame, time: str, event: str, prefix: str, event_label: str,
                   at_days: dict[str, float]) -> tuple[list[dict], dict[str, pd.DataFrame]]:
    """Everything by group for one survival question: curves and medians, log-rank tests and Cox models,
    as key rows and the tables `{prefix}_by_group`, `_km_by_group`, `_logrank`, `_cox`, `_ph_test` and
    `_model_exclusions`."""
    groups, curves = by_group(cells, time, event, at_days)
    tests = logrank_by_factor(cells, time, event)
    cox, ph, excluded = cox_models(cells, time, event)
    cox["event"] = event_label
    tables = {f"{prefix}_by_group": groups, f"{prefix}_km_by_group": curves, f"{prefix}_logrank": tests,
              f"{prefix}_cox": cox, f"{prefix}_ph_test": ph, f"{prefix}_model_exclusions": excluded}
    return comparison_key_rows(prefix, tests, cox), tables


def comparison_key_rows(prefix: str, tests: pd.DataFrame, cox: pd.DataFrame) -> list[dict]:
    """Key-result rows for the log-rank tests and the hazard ratios of one survival question."""
    keys = []
    for _, t in tests.iterrows():
        keys.append(row(f"{prefix}_logrank_p", t["p"], t["method"], factor=t["factor"], n=t["n"]))
        keys.append(row(f"{prefix}_logrank_chi2", t["chi2"], t["method"] + f"; {t['df']} df", factor=t["factor"], n=t["n"]))
    return keys + ratio_key_rows(cox, f"{prefix}_cox_hr", "hazard_ratio")
