"""The pipeline's entry point: read the inputs, run every analysis, write results/ atomically.

Only this module (and the command line) touches files. A run writes into a temporary folder next to the
output folder and swaps it in at the end, so a failed run leaves no half-written results and an earlier
good run is not damaged.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import time
from contextlib import nullcontext
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.questions import access, capacity, competing, employment, in_work, outcome, sites
from analysis.questions import referee
from analysis.core.beside import Beside, can_fork
from analysis.core.contract import DEFAULT_EPISODE_RULE, FACTORS, IN_WORK_OUTCOMES
from analysis.release import (PRESETS, Disclosure, class_disclosure_cells, control_counts_table,
                                         control_step, merge_small_groups, verdicts, whole_month_window)
from analysis.core.errors import InputError, Problem
from analysis.core.files import as_published, write_csv_atomic, write_folder_atomically
from analysis.data.load import apply_entry_window, exclusion_flow, load
from analysis.data.read import release_read_buffers
from analysis.data.references import load_references, load_sites, load_staffing, reference_spec
from analysis.data.mapping import load_mapping
from analysis.stats.modelling import comparing
from analysis.core.results import key_table, row

FIGURE_DIR = "figures"
SYNTHETIC_SERVICE = "Synthetic IPS service calibrated to Rinaldi et al. (2024)"


def site_counts(data: pd.DataFrame) -> pd.DataFrame | None:
    """Referrals and jobs (gained or retained employment) per site, when the extract names two or more sites."""
    if "site" not in data.columns or data["site"].nunique() < 2:
        return None
    employed = data["outcome"].isin(IN_WORK_OUTCOMES)
    table = data.assign(job=employed).groupby("site")["job"].agg(["size", "sum"]).reset_index()
    return table.rename(columns={"size": "referrals", "sum": "jobs"}).assign(counted=sites.PEOPLE_IN_WORK)


def analysis_steps(data: pd.DataFrame, extract_date: pd.Timestamp, reference: pd.DataFrame | None = None,
                   site_table: pd.DataFrame | None = None, need: pd.DataFrame | None = None,
                   capacity_options: capacity.Options | None = None, jobs: int = 1,
                   progress=lambda message: None):
    """Each analysis in turn, as (label, key result rows, {table name: table}): the paper's analyses, then
    capacity and the referee's sensitivity analyses (analysis/questions/referee.py), and last the multiplicity plan,
    which reads the p-values of every step before it.

    With jobs >= 2 (on Linux with two or more cores) the missing-data step and the age spline start at once
    in a second process (analysis/core/beside.py) and their tables are yielded in their usual places: the
    same tables, in the same order, as in one process. `progress` is told how long each one's work took."""
    seen: dict[str, pd.DataFrame] = {}
    second = Beside(lambda start: referee.beside_steps(data, extract_date, start), parallel=True, note=progress) \
        if jobs >= 2 and can_fork() else None

    def from_second(label: str):
        done, result = second.next()
        if done != label:
            raise AssertionError(f"the second process sent {done}, not {label}")  # cannot happen: one order
        if second.added_gib is not None:
            progress(f"  {label} ran in a second process: {second.seconds:.1f} s of work, its memory "
                     f"{second.added_gib:.2f} GiB above its size when started")
        return result

    try:
        for label, keys, tables in paper_steps(data, extract_date, reference, site_table, need):
            seen.update(tables)
            yield label, keys, tables
        for label, keys, tables in referee.steps(data, extract_date, capacity_options,
                                                 from_second if second else None):
            seen.update(tables)
            yield label, keys, tables
    finally:
        if second is not None:
            second.close()
    yield referee.MULTIPLICITY, *referee.multiplicity_step(seen)


def paper_steps(data: pd.DataFrame, extract_date: pd.Timestamp, reference: pd.DataFrame | None = None,
                site_table: pd.DataFrame | None = None, need: pd.DataFrame | None = None):
    """The paper's analyses in turn, as (label, key result rows, {table name: table}).

    The site analysis uses `site_table` (e.g. Making IPS Work) when given, and then the extract's own sites
    beside it; else the extract's own sites alone.
    """
    yield "cohort", [row("cohort_n", len(data), "People analysed: rows of the extract that passed validation and "
                         "fall in the entry window, one episode per person", n=len(data))], {}
    yield "time to employment", *employment.analyse(data, extract_date)
    yield "competing risks by group", *competing.analyse(data, extract_date)
    yield "in-work support", *in_work.analyse(data, extract_date)
    yield "equity of access", *access.analyse(data, reference)
    if need is not None:
        yield "access against need", *access.analyse(data, need, "access_need")
    yield "equity of outcome", *outcome.analyse(data, extract_date)
    if site_table is not None:
        yield "between-site variation", *sites.analyse(site_table)
    own_sites = site_counts(data)
    if own_sites is not None:
        beside_a_table = site_table is not None
        yield ("the service's own sites" if beside_a_table else "between-site variation",
               *sites.analyse(own_sites, "own_sites" if beside_a_table else "sites"))


def run_analyses(data: pd.DataFrame, extract_date: pd.Timestamp, reference: pd.DataFrame | None = None,
                 site_table: pd.DataFrame | None = None, need: pd.DataFrame | None = None,
                 capacity_options: capacity.Options | None = None
                 ) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Every analysis on typed data: (key results, {table name: table})."""
    return gathered(analysis_steps(data, extract_date, reference, site_table, need, capacity_options))


def gathered(steps) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Steps' (label, key result rows, {table name: table}) gathered into (key results, {table name: table})."""
    keys, tables = [], {}
    for _, k, t in steps:
        keys += k
        tables.update(t)
    return key_table(keys), tables


def figure_jobs(tables: dict[str, pd.DataFrame], folder: Path) -> list[tuple[str, tuple]]:
    """The figures that can be drawn from these tables, as (function in analysis.book.figures, arguments).

    Figures are drawn from the results tables after disclosure control, never from people's rows; each
    figure's tables come from one analysis step, so a step's tables are enough to draw its figures. A table
    that disclosure control emptied (a curve of too few people) draws no figure."""
    tables = {name: table for name, table in tables.items() if len(table)}
    jobs = []
    if {"employment_cif", "employment_cif_competing", "employment_km"} <= tables.keys():
        jobs.append(("cumulative_incidence",
                     (tables["employment_cif"], tables["employment_cif_competing"], tables["employment_km"], folder)))
    if "in_work_km" in tables:
        jobs.append(("support_curve", (tables["in_work_km"], folder)))
    for name, figure, ylabel, xlabel in (
            ("employment_cif_by_group", "employment_cif_by", "Employed (%), cumulative incidence (Aalen-Johansen)",
             "Months since first IPS contact"),
            ("in_work_km_by_group", "in_work_km_by", "Still supported (%)", "Months since job start")):
        if name not in tables:
            continue
        for factor in FACTORS:
            long = tables[name]
            long = long[long["factor"] == factor]
            curves = {level: long[long["level"] == level] for level in FACTORS[factor] if level in set(long["level"])}
            jobs.append(("curves_by_group", (curves, factor, f"{figure}_{factor}", ylabel, xlabel, folder)))
    if "outcome_rates" in tables:
        jobs.append(("outcome_forest", (tables["outcome_rates"], folder)))
    if len(tables.get("access_composition", [])) and tables["access_composition"]["representation_ratio"].notna().any():
        jobs.append(("access_comparison", (tables["access_composition"], folder)))
    if "capacity_census" in tables:
        jobs.append(("capacity_census", (tables["capacity_census"], folder)))
    for prefix in sites.SOURCES:
        if f"{prefix}_rates" in tables and f"{prefix}_summary" in tables:
            jobs.append(("funnel", (tables[f"{prefix}_rates"], float(tables[f"{prefix}_summary"]["pooled_rate_pct"].iloc[0]),
                                    folder, f"{prefix}_funnel")))
    return jobs


class FigureDrawer:
    """Draws each analysis step's figures from its controlled tables, in the run's own process, and keeps
    the run going when one cannot be drawn: `errors` names those that failed.

    (An earlier version drew in forked processes beside the analyses to save about a second on the
    539-row run; the second process now does the missing-data step and the age spline instead, most of a
    large run's time.)"""

    def __init__(self, folder: Path):
        self.folder, self.errors = folder, []

    def add(self, tables: dict[str, pd.DataFrame]) -> None:
        from analysis.book import figures

        for function, args in figure_jobs({name: as_published(table) for name, table in tables.items()},
                                          self.folder):
            try:
                getattr(figures, function)(*args)
            except Exception as error:  # one figure lost, not the run: the run names it
                self.errors.append(f"{function}: {type(error).__name__}: {error}")


# Written into results/ by `make bench` and `make robustness`, not by a run: a run keeps them.
KEPT_FILES = ("benchmark.csv", "benchmark_steps.csv", "robustness.csv")


def _outside(out: Path, local: Path | str | None, option: str) -> None:
    """A file or folder of person-level rows (the problems, the local record) may not sit in the shared results."""
    if local is not None and Path(local).resolve().is_relative_to(Path(out).resolve()):
        raise InputError([Problem(option, None, None, f"'{local}', inside the results folder {out}",
                                  "a place outside --out: it lists rows of the extract, and the results folder is "
                                  "the one that is shared")])


def run(extract: Path, extract_date: str, out: Path, reference=None, sites_path: Path | None = None,
        mapping: Path | None = None, entry_from: str | None = None, entry_to: str | None = None,
        disclosure: Disclosure = PRESETS["nhs"], with_figures: bool = True, progress=lambda message: None,
        exclude_invalid: bool = False, service_name: str | None = None, need=None,
        episode: str = DEFAULT_EPISODE_RULE, local_dir: Path | None = None, problems: Path | None = None,
        capacity_options: capacity.Options | None = None, staffing: Path | None = None, jobs: int = 1) -> pd.DataFrame:
    """The whole run for one extract: validate, exclude by entry window and episode rule, analyse, control,
    write. Returns key results. `reference` and `need` are a file or a list of `[characteristic=]file`.

    Everything shareable is written into a staging folder that replaces `out` only when the run has
    succeeded. What must stay in the trust goes elsewhere, after that: with `problems`, every problem of
    the rows left out as invalid; with `local_dir`, the exact (unrounded) exclusion flow and the SHA-256 of
    each input (`write_local_record`).
    """
    date = pd.Timestamp(extract_date)
    _outside(out, local_dir, "--local-dir")
    _outside(out, problems, "--problems")
    _can_write(local_dir, "--local-dir", folder=True)  # before the run, so a run never ends half-recorded
    _can_write(problems, "--problems", folder=False)

    def fill(folder: Path):
        for name in KEPT_FILES:
            if (Path(out) / name).exists():
                shutil.copy2(Path(out) / name, folder / name)  # mtime kept: make judges it by its own inputs
        drawer = FigureDrawer(folder / FIGURE_DIR) if with_figures else None
        done = _analyse_and_write(extract, date, folder, reference, sites_path, mapping, entry_from, entry_to,
                                  disclosure, drawer, progress, exclude_invalid, service_name, need, episode,
                                  with_staffing(capacity_options, staffing), jobs)
        not_drawn = drawer.errors if drawer is not None else []
        if not_drawn:  # the results stand; the figures that failed are named, here and in a file
            for message in not_drawn:
                progress(f"warning: a figure could not be drawn: {message}")
            (folder / FIGURE_DIR).mkdir(parents=True, exist_ok=True)
            write_csv_atomic(folder / FIGURE_DIR / "not_drawn.csv", pd.DataFrame({"figure_and_error": not_drawn}))
        return done

    key, (flow, class_cells), problems_found = write_folder_atomically(out, fill)
    progress(f"results written to {out}")
    if problems is not None:
        InputError(problems_found).write_csv(problems)
        progress(f"{len(problems_found)} problem(s) of the rows left out written to {problems}")
    if local_dir is not None:
        inputs = [("extract", extract), ("mapping", mapping), ("sites", sites_path)]
        inputs += [("reference", reference_spec(str(r))[1]) for r in _listed(reference)]
        inputs += [("need", reference_spec(str(r))[1]) for r in _listed(need)]
        write_local_record(Path(local_dir), flow, problems_found, [(k, Path(p)) for k, p in inputs if p], out,
                           class_cells)
        progress(f"the local record (exact exclusions, problems, input hashes) written to {local_dir}: keep it in "
                 f"the trust; share {out} only")
    return key


def _can_write(place: Path | str | None, option: str, folder: bool) -> None:
    """Make the folder (or the file's folder) now, or say why it cannot be made."""
    if place is None:
        return
    target = Path(place) if folder else Path(place).parent
    expected = ("a folder this user can create and write to" if folder else
                "a file this user can write (its folder is made if missing)")
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError([Problem(option, None, None, f"'{place}': {error.strerror or error}", expected)]) from None
    if not folder and Path(place).is_dir():
        found = "a folder"
    elif not os.access(target, os.W_OK):
        found = "not writable"
    else:
        return
    raise InputError([Problem(option, None, None, f"'{place}': {found}", expected)])


def _listed(files) -> list:
    return [] if not files else [files] if isinstance(files, (str, Path)) else list(files)


def write_local_record(folder: Path, flow: pd.DataFrame, problems: list[Problem], inputs: list[tuple[str, Path]],
                       out: Path, class_cells: pd.DataFrame | None = None) -> None:
    """The record a trust keeps of a run and never sends: `exclusions_exact.csv` (the exclusion flow with
    counts of 1 to 7 and unrounded counts, which the shared `exclusions.csv` blanks and rounds),
    `problems.csv` (every problem of a row left out, by row: person-level), and `run_record.csv` (each
    input's path and SHA-256, which would link runs and confirm a guessed file if shared). Byte-identical
    for the same inputs: nothing timed is written."""
    write_csv_atomic(folder / "exclusions_exact.csv", flow)
    if class_cells is not None:  # where class disclosure blanked a group: the IG lead's record, never shared
        write_csv_atomic(folder / "class_disclosure.csv", class_cells)
    InputError(problems).write_csv(folder / "problems.csv")
    record = [(f"{kind}_file", str(path.resolve())) for kind, path in inputs]
    record += [(f"{kind}_sha256", sha256(path)) for kind, path in inputs]
    record += [("results_folder", str(Path(out).resolve())), ("package_version", version("ips-outcomes"))]
    write_csv_atomic(folder / "run_record.csv", pd.DataFrame(record, columns=["item", "value"]))


def with_staffing(options: capacity.Options | None, staffing: Path | None) -> capacity.Options | None:
    """The capacity options with the staffing table read from its file (month,specialists_wte)."""
    if staffing is None:
        return options
    from dataclasses import replace

    return replace(options or capacity.Options(), staffing=load_staffing(staffing))


def _analyse_and_write(extract, date, folder, reference, sites_path, mapping, entry_from, entry_to, disclosure,
                       drawer, progress, exclude_invalid=False, service_name=None, need=None,
                       episode=DEFAULT_EPISODE_RULE, capacity_options=None, jobs=1):
    progress(f"validating {extract} ...")
    started = time.perf_counter()
    mapping_rules = load_mapping(Path(mapping)) if mapping else None
    loaded = load(Path(extract), date, mapping_rules, exclude_invalid, note=progress)
    release_read_buffers()  # the text table is gone; its pages would otherwise be held to the end of the run
    data = loaded.data
    layouts = (mapping_rules.reference, mapping_rules.need) if mapping_rules else (None, None)
    reference_table = load_references(reference, mapping_rules, layouts[0], progress)
    need_table = load_references(need, mapping_rules, layouts[1], progress)
    site_table = load_sites(Path(sites_path)) if sites_path else None
    log: list[dict] = []
    if disclosure.has("month_windows"):
        entry_from, entry_to, log = whole_month_window(extract, data, entry_from, entry_to, disclosure)
    data, window = apply_entry_window(data, entry_from, entry_to, episode, loaded.repeated)
    flow = exclusion_flow(loaded, window)
    problems = loaded.problems
    del loaded  # the rows as read: only the windowed copy is analysed, and a second copy would stay to the end
    if len(data) == 0:
        raise InputError([Problem(str(extract), None, "first_contact_date", "no rows in the entry window",
                                  "at least one first contact between --entry-from and --entry-to")])
    if need_table is not None:  # the same groups merged as in the extract and the CMHT table
        _, need_table, _ = merge_small_groups(data, need_table, disclosure)
    data, reference_table, merged = merge_small_groups(data, reference_table, disclosure)
    log += [{"file": "(every file)", "column": factor, "action": "level counted with 'Not known'", "cells": 1,
             "rule": f"{factor} {level}: fewer than {disclosure.min_people} people in the cohort"}
            for factor, level in merged.itertuples(index=False)]
    progress(f"  read and validated in {time.perf_counter() - started:.1f} s")
    progress(f"analysing {len(data)} rows ({int(flow.loc[flow['step'] == 'excluded', 'rows'].sum())} excluded) ...")
    keys, tables, class_cells = [], {}, []
    started = time.perf_counter()
    # Every test and model leaves out the groups the release hides. (Without disclosure control the run keeps
    # the rule it is given, the analyses' own unless a caller compares as a release would: the tests do, to
    # check a release's intervals against the same analyses without rounding.)
    with comparing(disclosure.comparing()) if disclosure.active else nullcontext():
        for label, step_keys, step_tables in analysis_steps(data, date, reference_table, site_table, need_table,
                                                            capacity_options, jobs, progress):
            progress(f"  {label}: {time.perf_counter() - started:.1f} s")  # for a weekly run's log
            class_cells.append(class_disclosure_cells(step_tables, disclosure))
            step_tables, step_keys, step_log = control_step(step_tables, step_keys, disclosure, published=tables)
            keys += step_keys
            log += step_log
            write_tables(folder, step_tables)
            if drawer is not None:
                drawer.add(step_tables)
            tables.update(step_tables)
            started = time.perf_counter()
    digest = sha256(Path(extract))
    synthetic = digest == synthetic_sha256()
    default_name = SYNTHETIC_SERVICE if synthetic else f"IPS service ({Path(extract).name})"
    run_info = [("service_name", service_name or default_name),
                ("data", "synthetic" if synthetic else "a trust's extract"),
                ("extract", Path(extract).name), ("extract_sha256", digest),
                ("reference", _names(reference)), ("need", _names(need)),
                ("sites", Path(sites_path).name if sites_path else "from the extract" if "sites_rates" in tables else "none"),
                ("own_sites", "from the extract, beside the site table" if "own_sites_rates" in tables else "none"),
                ("mapping", Path(mapping).name if mapping else "none"), ("extract_date", f"{date:%Y-%m-%d}"),
                ("disclosure", disclosure.describe()), ("package_version", version("ips-outcomes"))]
    if disclosure.has("no_identifying_metadata"):
        # A file hash links runs and confirms a guessed file: it stays with the trust, on screen, not in results/.
        run_info = [item for item in run_info if item[0] != "extract_sha256"]
        progress(f"extract sha256 (for your local records; not written to the shared results): {digest}")
    controlled, flow_log = control_counts_table("exclusions", flow, disclosure)
    write_tables(folder, {"exclusions": controlled, "run_info": pd.DataFrame(run_info, columns=["item", "value"])})
    key = key_table(keys)
    if disclosure.active:
        key["suppressed"] = [k.get("suppressed", "") for k in keys]
    write_csv_atomic(folder / "key_results.csv", key)
    if disclosure.active:
        log = pd.DataFrame(log + flow_log, columns=["file", "column", "action", "cells", "rule"])
        written = sorted(p.name for p in folder.glob("*.csv") if p.name not in KEPT_FILES)
        write_csv_atomic(folder / "disclosure_log.csv", pd.concat([verdicts(log, written, disclosure), log],
                                                                  ignore_index=True))
    return key, (flow, pd.concat(class_cells, ignore_index=True)), problems


def _names(files) -> str:
    """The reference files as run_info names them: their names (with a characteristic given on the command
    line), "none" without."""
    names = []
    for spec in _listed(files):
        characteristic, path = reference_spec(str(spec))
        names.append(f"{characteristic}={Path(path).name}" if characteristic else Path(path).name)
    return "; ".join(names) or "none"


def write_tables(folder: Path, tables: dict[str, pd.DataFrame]) -> None:
    for name, table in tables.items():
        if len(table.columns):  # a model that could not be fitted has no table; its reason is in *_exclusions
            write_csv_atomic(folder / f"{name}.csv", table)


@lru_cache(maxsize=1)
def synthetic_sha256() -> str:
    """The fingerprint of the package's own synthetic extract (read once per process): a run of it is a
    reproduction, any other a trust's own analysis (its reports compare with the published study instead
    of claiming matches)."""
    shipped = Path(__file__).resolve().parent.parent / "data_synthetic" / "ips_extract.csv"
    return sha256(shipped) if shipped.exists() else ""


def sha256(path: Path) -> str:
    with open(path, "rb") as handle:  # in chunks: a national extract is not read into memory a second time
        return hashlib.file_digest(handle, "sha256").hexdigest()
