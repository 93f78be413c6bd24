"""Loading the aggregate tables a run compares with: the CMHT case-load (`--reference`, one file per characteristic
or one long table, as `characteristic,category,count`), a need-based denominator (`--need`, the same shape) and
a site table (`--sites`, referrals and jobs per site) and the staffing by month (`--staffing`). Problems are reported as for an extract (analysis/data/load.py):
file, row, column, what was found and what was expected, all at once.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analysis.core import contract as C
from analysis.core.errors import InputError, Problem
from analysis.data.codes import DEFAULT_PRESETS, normalised, preset
from analysis.data.load import _cell_problems, header_problems
from analysis.data.mapping import TableLayout
from analysis.data.read import header_line, read_table

REFERENCE_NAMES = {"ethnicity": ("ethnic",), "gender": ("gender", "sex"), "age_band": ("age",),
                   "diagnosis": ("diagnos", "icd")}


SITE_COLUMNS = ("site", "referrals", "jobs")


def reference_spec(text: str) -> tuple[str | None, str]:
    """`--reference ethnicity=FILE` -> ("ethnicity", FILE); a bare FILE -> (None, FILE)."""
    characteristic, sep, path = text.partition("=")
    return (characteristic, path) if sep and characteristic in C.FACTORS else (None, text)


def _counts(values: pd.Series) -> pd.Series:
    """Whole numbers as a case-load report writes them ("4,030", " 612 "); NaN for anything else."""
    count = pd.to_numeric(values.astype(str).str.replace(r"(?<=\d),(?=\d{3}\b)", "", regex=True), errors="coerce")
    return count.where((count >= 0) & (count == np.floor(count)))


def _one_characteristic(raw: pd.DataFrame, file: str, layout: TableLayout, characteristic: str | None, note):
    """A table of one characteristic (a category column, perhaps a description column beside it, and a
    count column) in the long form: characteristic, the category columns to read in turn, count."""
    columns = list(raw.columns)
    named = [c for c in (layout.category, layout.description, layout.count) if c]
    problems = [Problem(file, header_line(raw), c, "no such column", "a column of the table: " + ", ".join(columns))
                for c in named if c not in columns]
    if problems:
        raise InputError(problems)
    count = layout.count
    if count is None:
        numeric = [c for c in columns if c not in named and (raw[c] != "").any()
                   and _counts(raw.loc[raw[c] != "", c]).notna().all()]
        if len(numeric) != 1:
            raise InputError([Problem(file, header_line(raw), None, f"{len(numeric)} columns of whole numbers"
                                      + (f" ({', '.join(numeric)})" if numeric else ""),
                                      "the columns characteristic,category,count; or a table of one characteristic "
                                      "with one column of counts (else name it as count: under reference: in the "
                                      "mapping)")])
        count = numeric[0]
    categories = [c for c in (layout.category, layout.description) if c] or [c for c in columns if c != count]
    if characteristic is None:
        guessed = [f for f, words in REFERENCE_NAMES.items() if any(w in normalised(categories[0]) for w in words)]
        if len(guessed) != 1:
            raise InputError([Problem(file, header_line(raw), categories[0], "a table of one characteristic that its "
                                      "column name does not tell", "--reference CHARACTERISTIC=FILE (e.g. ethnicity="
                                      f"{Path(file).name}), or characteristic: under reference: in the mapping")])
        characteristic = guessed[0]
        note(f"{file}: read as a table of {characteristic} (from its column '{categories[0]}'); give "
             f"--reference {characteristic}=FILE to say so")
    return characteristic, categories, count


def load_reference(path: Path, mapping=None, characteristic: str | None = None, layout: TableLayout | None = None,
                   note=None) -> pd.DataFrame:
    """Read a CMHT case-load (or need) table in its usual shapes and check it: `characteristic,category,count`;
    or a table of one characteristic (`category,count`, named by `characteristic` or the mapping, or told
    by its column's name), perhaps with a code column and a description column side by side. Categories go
    through the mapping's code rule for the characteristic, else its preset (NHS Ethnic Category, ICD-10),
    so codes, "A - White British" and "White - British" all read; the counts of one group are added up."""
    file = str(path)
    note = note or (lambda message: None)
    layout = layout or (mapping.reference if mapping is not None else TableLayout())
    raw = read_table(path, layout.sheet, layout.header_row, note)
    if header_problems(raw, file):
        raise InputError(header_problems(raw, file))
    lower = {c.lower(): c for c in raw.columns}
    if "characteristic" in lower and layout.category not in raw.columns:  # the long form, whatever else is said
        missing = [c for c in C.REFERENCE_COLUMNS if c not in lower]
        if missing:
            raise InputError([Problem(file, header_line(raw), c, "no such column", "columns "
                                      + ",".join(C.REFERENCE_COLUMNS)) for c in missing])
        factor, categories, count = raw[lower["characteristic"]], [lower["category"]], lower["count"]
    else:
        name, categories, count = _one_characteristic(raw, file, layout, characteristic or layout.characteristic, note)
        factor = pd.Series(name, index=raw.index)
    problems = _cell_problems(file, ~factor.isin(C.FACTORS), "characteristic", factor, "one of: " + ", ".join(C.FACTORS))
    rules = {}
    for name, allowed in C.FACTORS.items():
        rules[name] = mapping.values.get(name) if mapping is not None else None
        if rules[name] is None and name in DEFAULT_PRESETS:
            rules[name] = preset(DEFAULT_PRESETS[name])
        if rules[name] is not None:
            rules[name].allowed = allowed
    category, mapped = [], False  # a case-load table has dozens of rows: read one by one
    for line in raw.index:
        rule, allowed = rules.get(factor[line]), C.FACTORS.get(factor[line], ())
        written = [raw.at[line, c] for c in categories]
        read = next((v for v in (rule(w) if rule else w for w in written) if v in allowed), None)
        mapped = mapped or (read is not None and read != written[0])
        category.append(read if read is not None else written[0])
    category = pd.Series(category, index=raw.index, dtype=object)
    for name, allowed in C.FACTORS.items():
        problems += _cell_problems(file, (factor == name) & ~category.isin(allowed), categories[0], raw[categories[0]],
                                   f"a {name} category: " + ", ".join(allowed))
    counts = _counts(raw[count])
    problems += _cell_problems(file, counts.isna(), count, raw[count], "a whole number of people, 0 or more")
    table = pd.DataFrame({"characteristic": factor.astype(object), "category": category, "count": counts})
    if not mapped:  # a repeated group is a mistake; where codes were read, codes of a group add up
        problems += _cell_problems(file, table.duplicated(["characteristic", "category"]), categories[0],
                                   raw[categories[0]], "each characteristic,category once")
    if problems:
        raise InputError(problems)
    table["count"] = table["count"].astype("int64")
    return table.groupby(["characteristic", "category"], sort=False, as_index=False)["count"].sum()


def load_references(specs, mapping=None, layout: TableLayout | None = None, note=None) -> pd.DataFrame | None:
    """One table from several (`--reference ethnicity=a.csv --reference gender=b.xlsx`); each characteristic
    from one file only, so no group is counted twice."""
    if not specs:
        return None
    specs = [specs] if isinstance(specs, (str, Path)) else list(specs)
    tables, seen, problems = [], {}, []
    for spec in specs:
        characteristic, path = reference_spec(str(spec))
        table = load_reference(Path(path), mapping, characteristic, layout, note)
        for name in table["characteristic"].unique():
            if name in seen:
                problems.append(Problem(path, None, None, f"{name} counts, as {seen[name]} has",
                                        "each characteristic in one reference file"))
            seen[name] = path
        tables.append(table)
    if problems:
        raise InputError(problems)
    return pd.concat(tables, ignore_index=True)


def load_sites(path: Path) -> pd.DataFrame:
    """Read a site table (site,referrals,jobs; other columns kept) and check the counts."""
    file = str(path)
    raw = read_table(path)
    if header_problems(raw, file):
        raise InputError(header_problems(raw, file))
    missing = [c for c in SITE_COLUMNS if c not in raw.columns]
    if missing:
        raise InputError([Problem(file, header_line(raw), c, "no such column", "columns " + ",".join(SITE_COLUMNS))
                          for c in missing])
    problems = []
    counts = {}
    for column in ("referrals", "jobs"):
        value = pd.to_numeric(raw[column], errors="coerce")
        bad = value.isna() | (value < 0) | (value != np.floor(value))
        problems += _cell_problems(file, bad, column, raw[column], "a whole number, 0 or more")
        counts[column] = value
    too_many = counts["jobs"] > counts["referrals"]
    problems += _cell_problems(file, too_many, "jobs", raw["jobs"], "no more jobs than referrals")
    problems += _cell_problems(file, raw["site"].duplicated(), "site", raw["site"], "each site once")
    if problems:
        raise InputError(problems)
    out = raw.copy()
    for column in ("referrals", "jobs"):
        out[column] = counts[column].astype("int64")
    return out.reset_index(drop=True)


def load_staffing(path: Path) -> pd.DataFrame:
    """Read a staffing table (month YYYY-MM, specialists_wte > 0) for the capacity chapter."""
    table = pd.read_csv(path, dtype={"month": str})
    missing = {"month", "specialists_wte"} - set(table.columns)
    if missing:
        raise InputError([Problem(str(path), None, ", ".join(sorted(missing)), "column missing",
                                  "a staffing table with the columns month (YYYY-MM) and specialists_wte")])
    bad = ~table["month"].str.fullmatch(r"\d{4}-\d{2}") | ~(pd.to_numeric(table["specialists_wte"], errors="coerce") > 0)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError([Problem(str(path), i + 2, "month/specialists_wte", f"{table['month'].iloc[i]}, "
                                  f"{table['specialists_wte'].iloc[i]}", "a month YYYY-MM and a positive number of "
                                  "whole-time equivalents")])
    return table.assign(specialists_wte=pd.to_numeric(table["specialists_wte"]))[["month", "specialists_wte"]]
