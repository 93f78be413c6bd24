"""The pipeline's entry point: read the inputs, run every analysis, write results/ atomically.

Only this module (and the command line) touches files. A run writes into a temporary folder next to the
output folder and swaps it in at the end, so a failed run leaves no half-written results and an earlier
good run is not damaged.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pandas as pd

from . import employment, figures, in_work
from .contract import FACTORS
from .files import write_csv_atomic
from .results import key_table

FIGURE_DIR = "figures"


def run_analyses(data: pd.DataFrame, extract_date: pd.Timestamp) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Every analysis on typed data: (key results, {table name: table})."""
    keys, tables = [], {}
    for module in (employment, in_work):
        k, t = module.analyse(data, extract_date)
        keys += k
        tables.update(t)
    return key_table(keys), tables


def draw_figures(tables: dict[str, pd.DataFrame], folder: Path) -> None:
    figures.cumulative_incidence(tables["employment_cif"], tables["employment_cif_competing"],
                                 tables["employment_km"], folder)
    figures.support_curve(tables["in_work_km"], folder)
    for factor in FACTORS:
        for prefix, ylabel, xlabel, invert in (
                ("employment", "Employed (%), 1 - Kaplan-Meier", "Months since first IPS contact", True),
                ("in_work", "Still supported (%)", "Months since job start", False)):
            long = tables[f"{prefix}_km_by_group"]
            long = long[long["factor"] == factor]
            curves = {level: long[long["level"] == level] for level in FACTORS[factor] if level in set(long["level"])}
            figures.km_by_group(curves, factor, f"{prefix}_km_by_{factor}", ylabel, xlabel, folder, invert)


def write_results(out: Path, key: pd.DataFrame, tables: dict[str, pd.DataFrame]) -> None:
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        write_csv_atomic(staging / "key_results.csv", key)
        for name, table in tables.items():
            write_csv_atomic(staging / f"{name}.csv", table)
        draw_figures(tables, staging / FIGURE_DIR)
        old = out.with_name(f".{out.name}.old")
        if old.exists():
            shutil.rmtree(old)
        if out.exists():
            out.rename(old)
        staging.rename(out)
        if old.exists():
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
