"""Loading an extract and the CMHT reference table against the data contract.

Every problem is collected and reported at once, each naming the file, the row (the line in the file,
the header being line 1), the column, what was found and what was expected. A user's mistake raises
`InputError`, which the command line prints without a traceback.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import contract as C

MAX_PROBLEMS_SHOWN = 50


@dataclass(frozen=True)
class Problem:
    file: str
    row: int | None  # line in the file; None for a problem with the whole file or a column
    column: str | None
    found: str
    expected: str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column is not None:
            where += f", column '{self.column}'"
        return f"{where}: found {self.found}; expected {self.expected}"


class InputError(Exception):
    """Bad input from the user: one or more problems, all reported together."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__(self.message())

    def message(self) -> str:
        shown = [str(p) for p in self.problems[:MAX_PROBLEMS_SHOWN]]
        more = len(self.problems) - len(shown)
        if more > 0:
            shown.append(f"... and {more} more problems")
        return "\n".join(shown)


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV as text cells (no type guessing, blanks stay blank)."""
    path = Path(path)
    if not path.exists():
        raise InputError([Problem(str(path), None, None, "no such file", "an existing CSV file")])
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        raise InputError([Problem(str(path), None, None, "an empty file", "a header row and data rows")])
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InputError([Problem(str(path), None, None, f"a file that is not a readable CSV table ({err})",
                                  "comma-separated text with a header row")])
    table.columns = [str(c).strip() for c in table.columns]
    return table.apply(lambda col: col.str.strip())


def _line_numbers(index: pd.Index) -> np.ndarray:
    return np.asarray(index) + 2  # data row 0 is line 2 (after the header)


def _cell_problems(file: str, mask: pd.Series, column: str, found: pd.Series, expected: str) -> list[Problem]:
    rows = _line_numbers(mask.index[mask.to_numpy()])
    values = found[mask.to_numpy()]
    return [Problem(file, int(r), column, repr(v) if v != "" else "a blank cell", expected)
            for r, v in zip(rows, values)]


def _parse_dates(file: str, raw: pd.Series, column: str, blank_allowed: bool) -> tuple[pd.Series, list[Problem]]:
    parsed = pd.to_datetime(raw, format="%Y-%m-%d", errors="coerce")
    blank = raw == ""
    bad = parsed.isna() & ~blank
    problems = _cell_problems(file, bad, column, raw, "a date as YYYY-MM-DD")
    if not blank_allowed:
        problems += _cell_problems(file, blank, column, raw, "a date as YYYY-MM-DD (this column may not be blank)")
    return parsed, problems


def validate_extract(raw: pd.DataFrame, file: str, extract_date: pd.Timestamp | None = None) -> pd.DataFrame:
    """Check a text table against the contract and return it typed, or raise InputError with every problem."""
    problems: list[Problem] = []
    if raw.shape[0] == 0:
        raise InputError([Problem(file, None, None, "a header but no data rows", "one row per IPS episode")])
    duplicated = sorted({c for c in raw.columns if list(raw.columns).count(c) > 1})
    for col in duplicated:
        problems.append(Problem(file, 1, col, "the column more than once", "each column once"))
    missing = [c for c in C.REQUIRED_COLUMNS if c not in raw.columns]
    for col in missing:
        problems.append(Problem(file, 1, col, "no such column",
                                "the contract's columns: " + ", ".join(C.COLUMN_NAMES)))
    unknown = [c for c in raw.columns if c not in C.COLUMN_NAMES]
    for col in unknown:
        problems.append(Problem(file, 1, col, "a column the contract does not have",
                                "only the contract's columns: " + ", ".join(C.COLUMN_NAMES)))
    if problems:
        raise InputError(problems)

    out = pd.DataFrame(index=raw.index)
    ids = raw["person_id"]
    problems += _cell_problems(file, ids == "", "person_id", ids, "a pseudonymous identifier")
    dup = ids.duplicated(keep="first") & (ids != "")
    problems += _cell_problems(file, dup, "person_id", ids, "a person_id not used on an earlier row")
    out["person_id"] = ids

    for name in C.DATE_COLUMNS:
        column = next(c for c in C.COLUMNS if c.name == name)
        out[name], found = _parse_dates(file, raw[name], name, column.blank_allowed)
        problems += found

    age = pd.to_numeric(raw["age"], errors="coerce")
    not_int = age.isna() | (age != np.floor(age))
    problems += _cell_problems(file, not_int, "age", raw["age"], "a whole number of years")
    impossible = ~not_int & ((age < C.MIN_AGE) | (age > C.MAX_AGE))
    problems += _cell_problems(file, impossible, "age", raw["age"], f"an age from {C.MIN_AGE} to {C.MAX_AGE}")
    out["age"] = age.where(~not_int).astype("Int64")

    for column in C.COLUMNS:
        if column.kind != "category" or column.name not in raw.columns:
            continue
        values = raw[column.name]
        if column.allowed is None:
            out[column.name] = values.replace("", C.NOT_KNOWN)
            continue
        bad = ~values.isin(column.allowed)
        problems += _cell_problems(file, bad, column.name, values, "one of: " + ", ".join(column.allowed))
        out[column.name] = pd.Categorical(values.where(~bad), categories=list(column.allowed))

    problems += _date_order_problems(file, raw, out, extract_date)
    if problems:
        raise InputError(sorted(problems, key=lambda p: (p.row or 0, C.COLUMN_NAMES.index(p.column)
                                                          if p.column in C.COLUMN_NAMES else 99)))
    out = out[[c for c in C.COLUMN_NAMES if c in out.columns]]
    out["age"] = out["age"].astype("int64")
    out["age_band"] = C.age_band(out["age"])
    return out.reset_index(drop=True)


def _date_order_problems(file: str, raw: pd.DataFrame, typed: pd.DataFrame,
                         extract_date: pd.Timestamp | None) -> list[Problem]:
    first, outcome_date, discharge = typed["first_contact_date"], typed["outcome_date"], typed["discharge_date"]
    outcome = raw["outcome"]
    has_date = raw["outcome_date"] != ""
    problems = []
    problems += _cell_problems(file, (outcome == "none") & has_date, "outcome_date", raw["outcome_date"],
                               "a blank cell, as the outcome is none")
    problems += _cell_problems(file, outcome.isin(C.POSITIVE_OUTCOMES) & ~has_date, "outcome_date",
                               raw["outcome_date"], f"the date of the outcome ({'/'.join(C.POSITIVE_OUTCOMES)})")
    problems += _cell_problems(file, outcome_date < first, "outcome_date", raw["outcome_date"],
                               "a date on or after first_contact_date")
    problems += _cell_problems(file, discharge < first, "discharge_date", raw["discharge_date"],
                               "a date on or after first_contact_date")
    problems += _cell_problems(file, (discharge < outcome_date) & ~(outcome_date < first), "discharge_date",
                               raw["discharge_date"], "a date on or after outcome_date")
    if extract_date is not None:
        for name in C.DATE_COLUMNS:
            late = typed[name] > extract_date
            problems += _cell_problems(file, late, name, raw[name],
                                       f"a date on or before the extract date {extract_date:%Y-%m-%d}")
    return problems


def load_extract(path: Path, extract_date: str | pd.Timestamp | None = None) -> pd.DataFrame:
    """Read and validate an extract file; return typed data (with an added age_band column)."""
    extract_date = pd.Timestamp(extract_date) if extract_date is not None else None
    return validate_extract(read_table(path), str(path), extract_date)


def load_reference(path: Path) -> pd.DataFrame:
    """Read the CMHT case-load table (characteristic,category,count) and check it."""
    file = str(path)
    raw = read_table(path)
    missing = [c for c in C.REFERENCE_COLUMNS if c not in raw.columns]
    if missing:
        raise InputError([Problem(file, 1, c, "no such column", "columns " + ",".join(C.REFERENCE_COLUMNS))
                          for c in missing])
    problems = []
    known = raw["characteristic"].isin(C.FACTORS)
    problems += _cell_problems(file, ~known, "characteristic", raw["characteristic"],
                               "one of: " + ", ".join(C.FACTORS))
    for factor, categories in C.FACTORS.items():
        rows = raw["characteristic"] == factor
        bad = rows & ~raw["category"].isin(categories)
        problems += _cell_problems(file, bad, "category", raw["category"],
                                   f"a {factor} category: " + ", ".join(categories))
    count = pd.to_numeric(raw["count"], errors="coerce")
    bad_count = count.isna() | (count < 0) | (count != np.floor(count))
    problems += _cell_problems(file, bad_count, "count", raw["count"], "a whole number of people, 0 or more")
    dup = raw.duplicated(["characteristic", "category"])
    problems += _cell_problems(file, dup, "category", raw["category"], "each characteristic,category once")
    if problems:
        raise InputError(problems)
    out = raw[list(C.REFERENCE_COLUMNS)].copy()
    out["count"] = count.astype("int64")
    return out.reset_index(drop=True)


SITE_COLUMNS = ("site", "referrals", "jobs")


def load_sites(path: Path) -> pd.DataFrame:
    """Read a site table (site,referrals,jobs; other columns kept) and check the counts."""
    file = str(path)
    raw = read_table(path)
    missing = [c for c in SITE_COLUMNS if c not in raw.columns]
    if missing:
        raise InputError([Problem(file, 1, c, "no such column", "columns " + ",".join(SITE_COLUMNS)) for c in missing])
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
