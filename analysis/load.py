"""Loading an extract and the CMHT reference table against the data contract.

Every problem is collected and reported at once, each naming the file, the row (the line in the file,
the header being line 1), the column, what was found and what was expected. A user's mistake raises
`InputError`, which the command line prints without a traceback.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import contract as C
from .errors import InputError, Problem
from .mapping import apply_mapping, map_reference_categories
from .read import read_table

def _line_numbers(index: pd.Index) -> np.ndarray:
    return np.asarray(index) + 2  # data row 0 is line 2 (after the header)


def _cell_problems(file: str, mask: pd.Series, column: str, found: pd.Series, expected: str) -> list[Problem]:
    rows = _line_numbers(mask.index[mask.to_numpy()])
    values = found[mask.to_numpy()]
    return [Problem(file, int(r), column, repr(v) if v != "" else "a blank cell", expected)
            for r, v in zip(rows, values)]


def _arrow(values: pd.Series) -> pa.Array | pa.ChunkedArray:
    """A text column as Arrow strings (no copy when it was read by pyarrow), for vectorised checks."""
    if hasattr(values.array, "__arrow_array__"):
        return pa.array(values.array)
    return pa.array(values.to_numpy(dtype=object), type=pa.string())


def _parse_iso_dates(raw: pd.Series) -> pd.Series:
    """YYYY-MM-DD text to dates (NaT where not a date), as pandas' to_datetime(format="%Y-%m-%d") reads them.

    pyarrow parses the usual cells without making a Python string per cell (at five million rows pandas'
    parser held gigabytes). pyarrow also accepts 2022-02-30 as 2 March, so a cell counts only when the date
    written back gives the same text, in 1900-2199; the few other cells go to pandas, which decides them.
    """
    text = _arrow(raw)
    parsed = pc.strptime(text, format="%Y-%m-%d", unit="s", error_is_null=True)
    written_back = parsed.cast(pa.date32()).cast(pa.string())  # ISO text; pc.strftime is twenty times slower
    exact = pc.and_(pc.equal(written_back, text),
                    pc.and_(pc.greater_equal(text, "1900-01-01"), pc.less_equal(text, "2199-12-31")))
    exact = pc.fill_null(exact, False)
    dates = pc.if_else(exact, parsed, pa.scalar(None, parsed.type)).cast(pa.timestamp("ns"))
    out = pd.Series(dates.to_numpy(zero_copy_only=False), index=raw.index, dtype="datetime64[ns]")
    rest = ~exact.to_numpy(zero_copy_only=False) & (raw != "").to_numpy(dtype=bool)
    if rest.any():
        out[rest] = pd.to_datetime(raw[rest], format="%Y-%m-%d", errors="coerce")
    return out


def _parse_dates(file: str, raw: pd.Series, column: str, blank_allowed: bool,
                 expected: str) -> tuple[pd.Series, list[Problem]]:
    parsed = _parse_iso_dates(raw)
    blank = raw == ""
    bad = parsed.isna() & ~blank
    problems = _cell_problems(file, bad, column, raw, expected)
    if not blank_allowed:
        problems += _cell_problems(file, blank, column, raw, expected + " (this column may not be blank)")
    return parsed, problems


IDENTIFIER_NAMES = {
    "an NHS number": ("nhsnumber", "nhsno", "nhsnum", "nhs", "chinumber", "chi"),
    "a name": ("name", "forename", "surname", "firstname", "lastname", "givenname", "familyname", "fullname",
               "patientname", "clientname", "forenames"),
    "a postcode": ("postcode", "postalcode", "postcodearea", "address", "addressline1"),
    "a date of birth": ("dob", "dateofbirth", "birthdate", "birthday"),
    "contact details": ("phone", "telephone", "mobile", "email", "emailaddress"),
}
IDENTIFIER_SAMPLE = 2000
POSTCODE = r"^[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}$"


def _looks_like_nhs_numbers(values: pd.Series) -> bool:
    """Most non-blank values are ten digits passing the NHS number's modulus 11 check digit."""
    digits = values[values != ""].str.replace(r"[\s-]", "", regex=True)
    digits = digits[digits.str.fullmatch(r"\d{10}")]
    if len(digits) == 0 or len(digits) < 0.5 * (values != "").sum():
        return False
    d = digits.str.split("", expand=True).iloc[:, 1:11].astype(int).to_numpy()
    check = (11 - (d[:, :9] * np.arange(10, 1, -1)).sum(axis=1) % 11) % 11
    return bool((check == d[:, 9]).mean() > 0.5)


def identifier_problems(raw: pd.DataFrame, file: str) -> list[Problem]:
    """Columns that look like direct identifiers, by name or by content: refused, never analysed."""
    problems = []
    for position, column in enumerate(raw.columns):
        key = "".join(ch for ch in column.lower() if ch.isalnum())
        kind = next((k for k, names in IDENTIFIER_NAMES.items() if key in names), None)
        if kind is None:  # "Client Surname", "Patient NHS Number": a distinctive name at the end of the header
            kind = next((k for k, names in IDENTIFIER_NAMES.items()
                         if any(key.endswith(n) for n in names if len(n) >= 6)), None)
        # Whether a column holds identifiers is a property of the column: its first rows decide.
        values = raw.iloc[:IDENTIFIER_SAMPLE, position].astype(str)
        if kind is None and _looks_like_nhs_numbers(values):
            kind = "an NHS number"
        if kind is None and (values != "").any() and values[values != ""].str.upper().str.fullmatch(POSTCODE).mean() > 0.5:
            kind = "a postcode"
        if kind is not None:
            problems.append(Problem(file, 1, column, f"a column that looks like a direct identifier ({kind})",
                                    "no direct identifiers in the extract: remove the column; it is never analysed"))
    return problems


def validate_extract(raw: pd.DataFrame, file: str, extract_date: pd.Timestamp | None = None,
                     date_expected: str = "a date as YYYY-MM-DD") -> pd.DataFrame:
    """Check a text table against the contract and return it typed, or raise InputError with every problem."""
    duplicated = sorted({c for c in raw.columns if list(raw.columns).count(c) > 1})
    if duplicated:
        raise InputError([Problem(file, 1, col, "the column more than once", "each column once") for col in duplicated])
    problems: list[Problem] = identifier_problems(raw, file)
    if problems:
        raise InputError(problems)
    if raw.shape[0] == 0:
        raise InputError([Problem(file, None, None, "a header but no data rows", "one row per IPS episode")])
    missing = [c for c in C.REQUIRED_COLUMNS if c not in raw.columns]
    for col in missing:
        problems.append(Problem(file, 1, col, "no such column",
                                "the contract's columns: " + ", ".join(C.COLUMN_NAMES)))
    unknown = [c for c in raw.columns if c not in C.COLUMN_NAMES]
    for col in unknown:
        problems.append(Problem(file, 1, col, "a column the contract does not have",
                                "only the contract's columns (" + ", ".join(C.COLUMN_NAMES) + "); map it to one "
                                "or list it under ignore_columns in a mapping file"))
    if problems:
        raise InputError(problems)

    out = pd.DataFrame(index=raw.index)
    ids = raw["person_id"]
    problems += _cell_problems(file, ids == "", "person_id", ids, "a pseudonymous identifier")
    dup = ids.duplicated(keep="first") & (ids != "")
    if dup.any():  # name the earlier row, so the trust can see which two episodes clash
        first = ~ids.duplicated(keep="first")
        first_row = dict(zip(ids[first], _line_numbers(ids.index[first.to_numpy()])))
        for line, value in zip(_line_numbers(ids.index[dup.to_numpy()]), ids[dup.to_numpy()]):
            problems.append(Problem(file, int(line), "person_id", repr(value),
                                    f"a person_id not used on an earlier row (row {first_row[value]} has it)"))
    out["person_id"] = ids

    for name in C.DATE_COLUMNS:
        column = next(c for c in C.COLUMNS if c.name == name)
        out[name], found = _parse_dates(file, raw[name], name, column.blank_allowed, date_expected)
        problems += found

    age = _whole_numbers(raw["age"])
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
        codes = pc.index_in(_arrow(values), value_set=pa.array(list(column.allowed), type=pa.string()))
        codes = codes.fill_null(-1).to_numpy().astype(np.int8)
        bad = pd.Series(codes < 0, index=values.index)
        problems += _cell_problems(file, bad, column.name, values, "one of: " + ", ".join(column.allowed))
        out[column.name] = pd.Categorical.from_codes(codes, categories=list(column.allowed))

    problems += _date_order_problems(file, raw, out, extract_date)
    if problems:
        raise InputError(sorted(problems, key=lambda p: (p.row or 0, C.COLUMN_NAMES.index(p.column)
                                                          if p.column in C.COLUMN_NAMES else 99)))
    out = out[[c for c in C.COLUMN_NAMES if c in out.columns]]
    out["age"] = out["age"].astype("int64")
    out["age_band"] = C.age_band(out["age"])
    return out.reset_index(drop=True)


def _whole_numbers(raw: pd.Series) -> pd.Series:
    """Text to numbers (NaN where not a number). Plain digits, the usual case, are cast by pyarrow; anything
    else goes through pandas' parser, so '34.0' or ' 34' are read as they always were."""
    text = _arrow(raw)
    if pc.all(pc.match_substring_regex(text, r"^[0-9]{1,9}$")).as_py():
        return pd.Series(pc.cast(text, pa.int64()).to_numpy(), index=raw.index, dtype="float64")
    return pd.to_numeric(raw, errors="coerce")


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


def load_extract(path: Path, extract_date: str | pd.Timestamp | None = None, mapping=None) -> pd.DataFrame:
    """Read, map (if a mapping is given) and validate an extract; return typed data with an age_band column.

    Problems name the file's own column where the mapping renamed it.
    """
    return _validated(read_table(path), path, extract_date, mapping)


def _validated(raw: pd.DataFrame, path: Path, extract_date, mapping) -> pd.DataFrame:
    """Map and validate a table as read from `path` (its index is the row's place in the file)."""
    extract_date = pd.Timestamp(extract_date) if extract_date is not None else None
    if mapping is None:
        return validate_extract(raw, str(path), extract_date)
    # ignore_columns does not excuse an identifier: listing an NHS number there would smuggle it into a run.
    identifiers = identifier_problems(raw, str(path))
    if identifiers:
        raise InputError(identifiers)
    expected = "a date as " + mapping.date_format.replace("%d", "DD").replace("%m", "MM").replace("%Y", "YYYY")
    try:
        return validate_extract(apply_mapping(raw, mapping), str(path), extract_date, expected)
    except InputError as err:
        def named(problem: Problem) -> Problem:
            source = mapping.source_name(problem.column) if problem.column else None
            if source and source != problem.column:
                found = problem.found
                if problem.row is not None and problem.row >= 2 and source in raw.columns:
                    value = raw.at[problem.row - 2, source]  # the cell as it is in the file, not as mapped
                    found = repr(value) if value != "" else "a blank cell"
                return Problem(problem.file, problem.row, source, found, problem.expected, problem.column)
            return problem
        raise InputError([named(p) for p in err.problems]) from None


EXCLUSION_COLUMNS = ("step", "reason", "rows")


def load_extract_excluding_invalid(path: Path, extract_date=None, mapping=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """As load_extract, but rows that break a row-level rule (a bad date or code, a duplicate id, dates out of
    order) are left out and counted by reason, instead of stopping the run. Problems with the file itself
    (columns, identifiers, encoding) still stop it. Returns (data, exclusion flow rows)."""
    raw = read_table(path)  # read once; validated twice when rows have to be left out
    try:
        data = _validated(raw, path, extract_date, mapping)
        return data, pd.DataFrame([("read", "rows in the extract", len(data))], columns=list(EXCLUSION_COLUMNS))
    except InputError as err:
        if any(p.row is None or p.row < 2 for p in err.problems):
            raise
        reason_of_line: dict[int, str] = {}
        for problem in err.problems:  # a row with several problems is counted once, under its first
            expected = re.sub(r" \(row \d+ has it\)", "", problem.expected)
            reason_of_line.setdefault(problem.row, f"invalid {problem.column}: expected {expected}")
    # The index is kept, so the rows left are still named by their line in the file.
    data = _validated(raw.drop(index=[line - 2 for line in reason_of_line]), path, extract_date, mapping)
    reasons = pd.Series(list(reason_of_line.values())).value_counts(sort=False)
    flow = pd.DataFrame([("read", "rows in the extract", len(data) + len(reason_of_line))]
                        + [("excluded", reason, int(n)) for reason, n in reasons.items()],
                        columns=list(EXCLUSION_COLUMNS))
    return data, flow


def apply_entry_window(data: pd.DataFrame, entry_from: str | None, entry_to: str | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keep first contacts inside the entry window; count every row excluded, by reason.

    With no window the whole extract is analysed. Rows read = rows analysed + rows excluded, always.
    """
    first = data["first_contact_date"]
    start = pd.Timestamp(entry_from) if entry_from else first.min()
    end = pd.Timestamp(entry_to) if entry_to else first.max()
    before, after = first < start, first > end
    kept = data[~before & ~after].reset_index(drop=True)
    flow = pd.DataFrame([
        ("read", "rows in the extract that passed validation", len(data)),
        ("excluded", f"first contact before the entry window ({start:%Y-%m-%d})", int(before.sum())),
        ("excluded", f"first contact after the entry window ({end:%Y-%m-%d})", int(after.sum())),
        ("analysed", f"first contact {start:%Y-%m-%d} to {end:%Y-%m-%d}", len(kept)),
    ], columns=list(EXCLUSION_COLUMNS))
    return kept, flow


def load_reference(path: Path, mapping=None) -> pd.DataFrame:
    """Read the CMHT case-load table (characteristic,category,count) and check it. With a mapping, its
    categories go through the mapping's code rules and codes of one group are added up."""
    file = str(path)
    raw = read_table(path)
    if mapping is not None and "category" in raw.columns and "characteristic" in raw.columns:
        raw = map_reference_categories(raw, mapping)
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
    if mapping is None:  # without a mapping a repeated group is a mistake; with one, codes of a group add up
        dup = raw.duplicated(["characteristic", "category"])
        problems += _cell_problems(file, dup, "category", raw["category"], "each characteristic,category once")
    if problems:
        raise InputError(problems)
    out = raw[list(C.REFERENCE_COLUMNS)].assign(count=count.astype("int64"))
    return (out if mapping is None
            else out.groupby(["characteristic", "category"], sort=False, as_index=False)["count"].sum()).reset_index(drop=True)


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
