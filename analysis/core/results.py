"""The results interface: one long table of every headline number, with the method named on each row.

`key_results.csv` has the columns measure,factor,level,value,conf_low,conf_high,interval,n,method; factor,level
is all,all for the whole cohort, else e.g. ethnicity,Black; `interval` says what conf_low and conf_high are
(a 95% CI, the quartiles of a sample median, a prediction interval), blank when there are none. Reports
print from it and tests pin it.
"""
from __future__ import annotations

import math

import pandas as pd
from scipy import stats

KEY_COLUMNS = ("measure", "factor", "level", "value", "conf_low", "conf_high", "interval", "n", "method")
CI95 = "95% CI"
MONTH_DAYS = 365.25 / 12  # a month, in days, wherever months are turned into days
Z95 = float(stats.norm.ppf(0.975))  # the normal quantile of every 95% interval


def row(measure: str, value: float, method: str, factor: str = "all", level: str = "all",
        conf_low: float = math.nan, conf_high: float = math.nan, n: int | None = None, interval: str = CI95) -> dict:
    has_interval = not (_missing(conf_low) and _missing(conf_high))
    return {"measure": measure, "factor": factor, "level": str(level), "value": value,
            "conf_low": conf_low, "conf_high": conf_high, "interval": interval if has_interval else "", "n": n,
            "method": method}


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def key_table(rows: list[dict]) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=list(KEY_COLUMNS))
    table["n"] = table["n"].astype("Int64")
    return table
