"""Loading an extract and the CMHT reference table against the data contract.

Every problem is collected and reported at once, each naming the file, the row (the line in the file,
the header being line 1), the column, what was found and what was expected. A user's mistake raises
`InputError`, which the command line prints without a traceback.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analysis.core import contract as C
from analysis.data.dates import arrow as _arrow, describe, parse_iso as _parse_iso_dates, to_iso
from analysis.core.errors import InputError, Problem
from analysis.data.mapping import apply_mapping
from analysis.data.read import _letter, header_line, read_table


def _line_numbers(index: pd.Index) -> np.ndarray:
    return np.asarray(index)  # a table read from a file is indexed by each row's line in it


def _cell_problems(file: str, mask: pd.Series, column: str, found: pd.Series, expected: str) -> list[Problem]:
    rows = _line_numbers(mask.index[mask.to_numpy()])
    values = found[mask.to_numpy()]
    return [Problem(file, int(r), column, repr(v) if v != "" else "a blank cell", expected)
            for r, v in zip(rows, values)]


def _parse_dates(file: str, raw: pd.Series, column: str, blank_allowed: bool,
                 expected: str) -> tuple[pd.Series, list[Problem]]:
    parsed = _parse_iso_dates(to_iso(raw))
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
            problems.append(Problem(file, header_line(raw), column, f"a column that looks like a direct identifier ({kind})",
                                    "no direct identifiers in the extract: remove the column; it is never analysed"))
    return problems


def header_problems(raw: pd.DataFrame, file: str) -> list[Problem]:
    """A name used for two or more columns: neither the contract nor a mapping can tell them apart."""
    names = list(raw.columns)
    return [Problem(file, header_line(raw), name, "the column more than once"
                    + (f" (columns {', '.join(_letter(i + 1) for i, n in enumerate(names) if n == name)})"
                       if header_line(raw) > 1 else ""), "each column once")
            for name in sorted({n for n in names if names.count(n) > 1})]


def validate_extract(raw: pd.DataFrame, file: str, extract_date: pd.Timestamp | None = None,
                     date_expected: str = "a date as YYYY-MM-DD", repeated: np.ndarray | None = None) -> pd.DataFrame:
    """Check a text table against the contract and return it typed, or raise InputError with every problem.
    `repeated`, when the caller has found them: the rows whose person_id may repeat (more is fine, never
    fewer), so that ten million identifiers are not hashed a second time.

    A person may have several episodes (rows), one per first contact: two rows with the same person and
    first contact date that differ are a conflict, which row is right cannot be told."""
    problems = header_problems(raw, file)
    if problems:
        raise InputError(problems)
    problems = identifier_problems(raw, file)
    if problems:
        raise InputError(problems)
    if raw.shape[0] == 0:
        raise InputError([Problem(file, None, None, "a header but no data rows", "one row per IPS episode")])
    header = header_line(raw)
    missing = [c for c in C.REQUIRED_COLUMNS if c not in raw.columns]
    for col in missing:
        problems.append(Problem(file, header, col, "no such column",
                                "the contract's columns: " + ", ".join(C.COLUMN_NAMES)))
    unknown = [c for c in raw.columns if c not in C.COLUMN_NAMES]
    for col in unknown:
        problems.append(Problem(file, header, col, "a column the contract does not have",
                                "only the contract's columns (" + ", ".join(C.COLUMN_NAMES) + "); map it to one "
                                "or list it under ignore_columns in a mapping file"))
    if problems:
        raise InputError(problems)

    out = pd.DataFrame(index=raw.index)
    ids = raw["person_id"]
    problems += _cell_problems(file, ids == "", "person_id", ids, "a pseudonymous identifier")
    again = (ids.duplicated(keep=False).to_numpy() if repeated is None else repeated) & (ids != "").to_numpy()
    if again.any():  # only people with several rows are compared, so a national extract pays for one column
        episodes = pd.DataFrame({"id": ids[again], "date": to_iso(raw.loc[again, "first_contact_date"])})
        first_row = {}
        for line, key in zip(_line_numbers(episodes.index), episodes.itertuples(index=False, name=None)):
            if key in first_row:  # name the earlier row, so the trust can see which two rows clash
                problems.append(Problem(file, int(line), "person_id", repr(key[0]),
                                        "one row per person_id and first_contact_date: a person's episodes start "
                                        f"on different dates (row {first_row[key]} has the same person and date)"))
            first_row.setdefault(key, int(line))
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


COPY_REASON = "a copy of an earlier row in every analysed column (a join artefact)"


@dataclass
class Loaded:
    """An extract read and validated: the typed rows, how many data rows the file had, the rows left out
    (reason, rows) in the order the rules were applied, the problems of rows left out as invalid, and which
    rows' person_id may repeat (a superset of those that do; None: not known), for apply_entry_window."""
    data: pd.DataFrame
    read: int
    excluded: list[tuple[str, int]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    repeated: np.ndarray | None = None


def _copies(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
    """Rows that repeat an earlier row in every contract column (two systems' rows joined twice), and the
    rows whose person_id repeats (None when there is no single person_id column): only those are compared,
    so a national extract pays for one column."""
    if "person_id" not in table.columns or table.columns.duplicated().any():
        return np.zeros(len(table), dtype=bool), None
    again = table["person_id"].duplicated(keep=False).to_numpy()
    if not again.any():
        return np.zeros_like(again), again
    columns = [c for c in C.COLUMN_NAMES if c in table.columns]
    copies = np.zeros(len(table), dtype=bool)
    copies[np.flatnonzero(again)] = table.loc[again, columns].duplicated(keep="first").to_numpy()
    return copies, again


def _validated(raw: pd.DataFrame, path: Path, extract_date, mapping, note
               ) -> tuple[pd.DataFrame, int, np.ndarray | None]:
    """Map and validate a table as read from `path` (indexed by each row's line in the file), leaving out
    rows that are copies of an earlier one; returns the typed data, the number of copies and the rows whose
    person_id may repeat (Loaded.repeated)."""
    file = str(path)
    extract_date = pd.Timestamp(extract_date) if extract_date is not None else None
    # ignore_columns does not excuse an identifier: listing an NHS number there would smuggle it into a run.
    # (Without a mapping validate_extract checks the file's own columns.)
    problems = (header_problems(raw, file) or identifier_problems(raw, file)) if mapping is not None else []
    if problems:
        raise InputError(problems)
    table = apply_mapping(raw, mapping) if mapping is not None else raw
    table.attrs["header_line"] = header_line(raw)
    copies, repeated = _copies(table)
    if copies.any():
        lines = _line_numbers(table.index[copies])
        note(f"{file}: {len(lines)} row(s) repeat an earlier row in every analysed column (row(s) "
             f"{', '.join(map(str, lines[:10]))}{', ...' if len(lines) > 10 else ''}): left out and counted in the "
             "exclusions as a copy of an earlier row")
        table = table[~copies]
        repeated = repeated[~copies]  # a person whose only second row was a copy no longer repeats: more is fine
    if mapping is None:
        return validate_extract(table, file, extract_date, repeated=repeated), int(copies.sum()), repeated
    try:
        return (validate_extract(table, file, extract_date, describe(mapping.date_format), repeated),
                int(copies.sum()), repeated)
    except InputError as err:
        def named(problem: Problem) -> Problem:
            source = mapping.source_name(problem.column) if problem.column else None
            if problem.column in mapping.combine and problem.row in raw.index:  # the column this row's value came from
                source = next((s for s in mapping.combine[problem.column].values()
                               if s in raw.columns and raw.at[problem.row, s] != ""), None)
            if source and source != problem.column:
                found = problem.found
                if problem.row is not None and problem.row in raw.index and source in raw.columns:
                    value = raw.at[problem.row, source]  # the cell as it is in the file, not as mapped
                    found = repr(value) if value != "" else "a blank cell"
                return Problem(problem.file, problem.row, source, found, problem.expected, problem.column)
            return problem
        raise InputError([named(p) for p in err.problems]) from None


def load(path: Path, extract_date=None, mapping=None, exclude_invalid: bool = False, note=None) -> Loaded:
    """Read, map (if a mapping is given) and validate an extract. Copies of an earlier row are left out and
    counted; with `exclude_invalid`, so are rows that break a row-level rule (a bad date or code, dates out
    of order), by reason, instead of stopping. Problems with the file itself (columns, identifiers,
    encoding) stop it either way. Problems name the file's own column where the mapping renamed it."""
    note = note or (lambda message: None)
    raw = read_table(path, mapping.sheet if mapping else None, mapping.header_row if mapping else None, note)
    try:
        data, copies, repeated = _validated(raw, path, extract_date, mapping, note)
        return Loaded(data, len(raw), [(COPY_REASON, copies)], repeated=repeated)
    except InputError as err:
        if not exclude_invalid or any(p.row is None or p.row <= header_line(raw) for p in err.problems):
            raise
        problems = err.problems
    reason_of_line: dict[int, str] = {}
    for problem in problems:  # a row with several problems is counted once, under its first
        reason_of_line.setdefault(problem.row, f"invalid {problem.column}: expected {problem.kind}")
    data, copies, repeated = _validated(raw.drop(index=list(reason_of_line)), path, extract_date, mapping,
                                        lambda m: None)
    reasons = pd.Series(list(reason_of_line.values())).value_counts(sort=False)
    note(f"{path}: {len(reason_of_line)} row(s) with problems left out ({len(problems)} problem(s))")
    return Loaded(data, len(raw), [(COPY_REASON, copies)] + [(r, int(n)) for r, n in reasons.items()], problems,
                  repeated)


def load_extract(path: Path, extract_date: str | pd.Timestamp | None = None, mapping=None, note=None) -> pd.DataFrame:
    """Read, map and validate an extract (see `load`); return typed data with an age_band column."""
    return load(path, extract_date, mapping, note=note).data


EXCLUSION_COLUMNS = ("step", "reason", "rows")


def apply_entry_window(data: pd.DataFrame, entry_from: str | None, entry_to: str | None,
                       episode: str = C.DEFAULT_EPISODE_RULE, repeated: np.ndarray | None = None
                       ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keep first contacts inside the entry window, then one episode per person by the episode rule
    (contract.EPISODE_RULES); count every row excluded, by reason.

    The window comes first, so a person referred before the window and again inside it is analysed on the
    episode inside it, and the earlier row counts as before the window. With no window the whole extract
    is analysed. Rows in = rows analysed + rows excluded, always. `repeated` (Loaded.repeated), when given,
    marks every row whose person_id may repeat: only those are sorted and compared, and the rows are copied
    only when some are left out (three copies of a ten-million-row frame were seconds and gigabytes).
    """
    first = data["first_contact_date"]
    start = pd.Timestamp(entry_from) if entry_from else first.min()
    end = pd.Timestamp(entry_to) if entry_to else first.max()
    before, after = (first < start).to_numpy(), (first > end).to_numpy()
    inside = ~before & ~after
    rows = np.flatnonzero(inside if repeated is None else inside & repeated)
    order = rows[np.argsort(first.to_numpy()[rows], kind="stable")]  # by first contact, ties in file order
    other = np.zeros(len(data), dtype=bool)
    other[order[data["person_id"].take(order).duplicated(keep=episode).to_numpy()]] = True
    analysed = inside & ~other
    kept = data[analysed] if not analysed.all() else data
    kept = kept.set_axis(pd.RangeIndex(len(kept)), axis=0, copy=False)  # a new index, not a copy of the rows
    flow = pd.DataFrame([
        ("excluded", f"first contact before the entry window ({start:%Y-%m-%d})", int(before.sum())),
        ("excluded", f"first contact after the entry window ({end:%Y-%m-%d})", int(after.sum())),
        ("excluded", f"another episode of a person already counted ({C.EPISODE_RULES[episode]} is analysed)",
         int(other.sum())),
        ("analysed", f"first contact {start:%Y-%m-%d} to {end:%Y-%m-%d}", len(kept)),
    ], columns=list(EXCLUSION_COLUMNS))
    return kept, flow


def exclusion_flow(loaded: Loaded, window: pd.DataFrame) -> pd.DataFrame:
    """Rows read, then each reason rows were left out in the order applied, then rows analysed."""
    rows = [("read", "rows in the extract", loaded.read)] + [("excluded", r, n) for r, n in loaded.excluded]
    return pd.concat([pd.DataFrame(rows, columns=list(EXCLUSION_COLUMNS)), window], ignore_index=True)


def episode_note(data: pd.DataFrame, episode: str = C.DEFAULT_EPISODE_RULE) -> str | None:
    """For `validate`: how many people have more than one episode, and what a run does with them."""
    ids = data["person_id"]
    people = ids[ids.duplicated(keep=False).to_numpy()].nunique()
    if not people:
        return None
    return (f"{people} person_id(s) have more than one episode (a row each); a run analyses {C.EPISODE_RULES[episode]} "
            "and counts the others in exclusions.csv as another episode of a person already counted")
