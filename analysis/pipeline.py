"""The pipeline's entry point: read the inputs, run every analysis, write results/ atomically.

Only this module (and the command line) touches files. A run writes into a temporary folder next to the
output folder and swaps it in at the end, so a failed run leaves no half-written results and an earlier
good run is not damaged.
"""
from __future__ import annotations

import hashlib
import shutil
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from importlib.metadata import version
from pathlib import Path

import pandas as pd

from . import access, employment, in_work, outcome, sites
from .contract import FACTORS, IN_WORK_OUTCOMES
from .disclosure import PRESETS, Disclosure, control
from .errors import InputError, Problem
from .files import write_csv_atomic, write_folder_atomically
from .load import apply_entry_window, load_extract, load_reference, load_sites
from .mapping import load_mapping
from .results import key_table, row

FIGURE_DIR = "figures"


def site_counts(data: pd.DataFrame) -> pd.DataFrame | None:
    """Referrals and jobs (gained or retained employment) per site, when the extract names two or more sites."""
    if "site" not in data.columns or data["site"].nunique() < 2:
        return None
    employed = data["outcome"].isin(IN_WORK_OUTCOMES)
    table = data.assign(job=employed).groupby("site")["job"].agg(["size", "sum"]).reset_index()
    return table.rename(columns={"size": "referrals", "sum": "jobs"})


def run_analyses(data: pd.DataFrame, extract_date: pd.Timestamp, reference: pd.DataFrame | None = None,
                 site_table: pd.DataFrame | None = None, progress=lambda message: None
                 ) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Every analysis on typed data: (key results, {table name: table}).

    The site analysis uses `site_table` (e.g. Making IPS Work) when given, else the extract's own sites.
    """
    keys = [row("cohort_n", len(data), "People analysed: rows of the extract that passed validation and fall "
                "in the entry window", n=len(data))]
    tables = {}
    steps = [("time to employment", lambda: employment.analyse(data, extract_date)),
             ("in-work support", lambda: in_work.analyse(data, extract_date)),
             ("equity of access", lambda: access.analyse(data, reference)),
             ("equity of outcome", lambda: outcome.analyse(data, extract_date))]
    site_table = site_table if site_table is not None else site_counts(data)
    if site_table is not None:
        steps.append(("between-site variation", lambda: sites.analyse(site_table)))
    for label, step in steps:
        progress(f"  {label} ...")
        k, t = step()
        keys += k
        tables.update(t)
    return key_table(keys), tables


def figure_jobs(tables: dict[str, pd.DataFrame], folder: Path) -> list[tuple[str, tuple]]:
    """Every figure as (function name in analysis.figures, arguments), drawn from the results tables."""
    jobs = [("cumulative_incidence", (tables["employment_cif"], tables["employment_cif_competing"],
                                      tables["employment_km"], folder)),
            ("support_curve", (tables["in_work_km"], folder))]
    for factor in FACTORS:
        for prefix, ylabel, xlabel, invert in (
                ("employment", "Employed (%), 1 - Kaplan-Meier", "Months since first IPS contact", True),
                ("in_work", "Still supported (%)", "Months since job start", False)):
            long = tables[f"{prefix}_km_by_group"]
            long = long[long["factor"] == factor]
            curves = {level: long[long["level"] == level] for level in FACTORS[factor] if level in set(long["level"])}
            jobs.append(("km_by_group", (curves, factor, f"{prefix}_km_by_{factor}", ylabel, xlabel, folder, invert)))
    jobs.append(("outcome_forest", (tables["outcome_rates"], folder)))
    if len(tables.get("access_composition", [])):
        jobs.append(("access_comparison", (tables["access_composition"], folder)))
    if "sites_rates" in tables:
        jobs.append(("funnel", (tables["sites_rates"], float(tables["sites_summary"]["pooled_rate_pct"].iloc[0]), folder)))
    return jobs


def _draw(job: tuple[str, tuple]) -> None:
    from . import figures  # matplotlib costs half a second to import: only when figures are drawn

    name, args = job
    getattr(figures, name)(*args)


def draw_figures(tables: dict[str, pd.DataFrame], folder: Path) -> None:
    """Draw every figure, two processes at a time (figures are independent; each is byte-reproducible)."""
    from . import figures  # noqa: F401  (imported once here, so the forked workers inherit it)

    jobs = figure_jobs(tables, folder)
    workers = min(len(jobs), os.cpu_count() or 1, 2)
    if workers < 2:
        for job in jobs:
            _draw(job)
        return
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool:
        list(pool.map(_draw, jobs))


KEPT_FILES = ("benchmark.csv",)  # written into results/ by `make bench`, not by a run: a run keeps it


def write_results(out: Path, key: pd.DataFrame, tables: dict[str, pd.DataFrame], with_figures: bool = True) -> None:
    def fill(folder: Path) -> None:
        for name in KEPT_FILES:
            if (Path(out) / name).exists():
                shutil.copyfile(Path(out) / name, folder / name)
        write_csv_atomic(folder / "key_results.csv", key)
        for name, table in tables.items():
            if len(table.columns):  # a model that could not be fitted has no table; its reason is in *_exclusions
                write_csv_atomic(folder / f"{name}.csv", table)
        if with_figures:
            draw_figures(tables, folder / FIGURE_DIR)

    write_folder_atomically(out, fill)


def run(extract: Path, extract_date: str, out: Path, reference: Path | None = None, sites_path: Path | None = None,
        mapping: Path | None = None, entry_from: str | None = None, entry_to: str | None = None,
        disclosure: Disclosure = PRESETS["nhs"], with_figures: bool = True, progress=lambda message: None) -> pd.DataFrame:
    """The whole run for one extract: validate, exclude by entry window, analyse, control, write. Returns key results."""
    date = pd.Timestamp(extract_date)
    progress(f"validating {extract} ...")
    data = load_extract(Path(extract), date, load_mapping(Path(mapping)) if mapping else None)
    reference_table = load_reference(Path(reference)) if reference else None
    site_table = load_sites(Path(sites_path)) if sites_path else None
    data, flow = apply_entry_window(data, entry_from, entry_to)
    if len(data) == 0:
        raise InputError([Problem(str(extract), None, "first_contact_date", "no rows in the entry window",
                                  "at least one first contact between --entry-from and --entry-to")])
    progress(f"analysing {len(data)} rows ({int(flow.loc[flow['step'] == 'excluded', 'rows'].sum())} excluded) ...")
    key, tables = run_analyses(data, date, reference_table, site_table, progress)
    tables["exclusions"] = flow
    tables["run_info"] = pd.DataFrame([
        ("extract", Path(extract).name), ("extract_sha256", sha256(Path(extract))),
        ("reference", Path(reference).name if reference else "none"),
        ("sites", Path(sites_path).name if sites_path else "from the extract" if "sites_rates" in tables else "none"),
        ("mapping", Path(mapping).name if mapping else "none"), ("extract_date", f"{date:%Y-%m-%d}"),
        ("disclosure", disclosure.describe()), ("package_version", version("ips-outcomes")),
    ], columns=["item", "value"])
    key, tables = control(key, tables, disclosure)
    progress(f"writing results to {out} ...")
    write_results(Path(out), key, tables, with_figures)
    return key


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
