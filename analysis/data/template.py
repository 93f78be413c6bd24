"""`ips-analysis mapping-template`: a starting mapping read off an extract, for the analyst to check.

It proposes what can be told from the file: a contract column for each obvious name (`Patient Ref` ->
person_id, `Age (yrs)` -> age) when the column's values fit it (ids mostly distinct, ages whole numbers,
dates that one format reads); a preset for a column whose codes a shipped code list reads; the date
format that reads every date, time part included. Whatever it cannot tell is written as a question
('?', which the loader refuses until it is answered). A column with no name or a name used twice is
said on stderr and never written as a key, and the values of an identifier column are never printed.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from analysis.core import contract as C
from analysis.data.codes import preset
from analysis.data.dates import DATE_FORMATS, SERIAL, TIME, detect
from analysis.data.read import header_line

# Column names (letters and digits only, lower case) that name a contract column outright; longer ones
# (six letters or more) also when they sit inside a longer name ("IPS Outcome").
GUESSES = {  # in order of preference: a first-contact date before a referral date, when a file has both
    "person_id": ("clientid", "patientid", "personid", "id", "pseudoid", "clientref", "patientref", "clientreference",
                  "patientreference", "serviceuserid", "serviceuserref", "pseudonymisedid", "localpatientid"),
    "first_contact_date": ("firstcontactdate", "firstcontact", "datefirstseen", "firstseen", "firstseendate",
                           "firstappointment", "firstappointmentdate", "dateoffirstcontact", "referraldate",
                           "ipsreferraldate", "referral", "referralreceiveddate", "datereferred", "dateofreferral",
                           "referraldatetime", "referralreceived", "episodestartdate"),
    "age": ("age", "ageatreferral", "ageatfirstcontact", "ageyrs", "ageyears", "ageinyears", "ageatstart",
            "ageatfirstseen", "ageatfirstappointment"),
    "gender": ("gender", "gendercode", "sex", "sexcode", "personstatedgender", "statedgender", "genderidentity"),
    "ethnicity": ("ethnicity", "ethniccategory", "ethnicgroup", "ethnicitycode", "ethniccategorycode", "ethnicorigin"),
    "diagnosis": ("diagnosis", "primarydiagnosis", "diagnosiscode", "icd10", "primarydiagnosiscode", "icd10code",
                  "primarydx", "dx", "dxcode"),
    "outcome": ("outcome", "employmentoutcome", "ipsoutcome", "bestoutcome", "closurereason", "dischargereason",
                "reasonforclosure", "reasonfordischarge", "endreason"),
    "outcome_date": ("outcomedate", "jobcoursestart", "jobcoursestartdate", "joboreducationstart"),
    "discharge_date": ("dischargedate", "enddate", "closuredate", "datedischarged", "episodeenddate",
                       "referralclosuredate", "dischargedatetime", "closedon", "dateclosed", "closed", "discharged", "dischargedon"),
    "site": ("site", "team", "teamname", "borough", "locality"),
}
PRESETS_FOR = {"ethnicity": ("nhs_ethnic_category",), "gender": ("nhs_person_stated_gender", "nhs_gender_identity"),
               "diagnosis": ("icd10_f_chapter",)}
NULLS = ("NULL", "N/A", "-")
MAX_CODES_LISTED = 40


def _key(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def _yaml_scalar(text: str) -> str:
    """A column name or code written so that YAML reads it back as the same string ('99', 'Team: A')."""
    return yaml.safe_dump(text).strip().removesuffix("\n...")


def _filled(values: pd.Series) -> pd.Series:
    values = values.astype(str).str.strip()
    return values[(values != "") & ~values.isin(NULLS)]


def values_fit(target: str, values: pd.Series) -> bool:
    """Whether a column's values could be the contract column its name suggests."""
    values = _filled(values)
    if not len(values):
        return target not in ("person_id", "first_contact_date", "age")
    if target == "person_id":
        return values.nunique() >= 0.5 * len(values)
    if target == "age":
        return bool(values.str.fullmatch(r"\d{1,3}(\.0+)?").mean() >= 0.9)
    if target in C.DATE_COLUMNS:  # most values a date in some format (detect then says whether one reads all)
        dates = values.str.replace(TIME, "", regex=True)
        read = dates.str.fullmatch(SERIAL[1:-1])
        for form in DATE_FORMATS:
            read |= pd.to_datetime(dates, format=form, errors="coerce").notna().to_numpy()
        return bool(read.mean() >= 0.5)
    return True


def guess_columns(raw: pd.DataFrame, identifiers: set[str]) -> dict[str, str]:
    """The contract column for each column with an obvious name whose values fit, each target once."""
    guessed = {}
    names = list(dict.fromkeys(raw.columns))
    free = lambda column: (column not in guessed and column not in identifiers  # noqa: E731
                           and list(raw.columns).count(column) == 1)
    for target, known in GUESSES.items():  # exact names first, each target's in its order of preference
        for name in (_key(target), *known):
            column = next((c for c in names if free(c) and _key(c) == name and values_fit(target, raw[c])), None)
            if column is not None:
                guessed[column] = target
                break
    for column in names:  # then a known name (six letters or more) inside a longer one ("IPS Outcome")
        if not free(column):
            continue
        target = next((t for t, known in GUESSES.items() if t not in guessed.values()
                       and any(len(n) >= 6 and n in _key(column) for n in known) and values_fit(t, raw[column])), None)
        if target:
            guessed[column] = target
    return {c: guessed[c] for c in names if c in guessed}


def _rule_lines(target: str, found: pd.Series, allowed: tuple) -> list[str]:
    """The `values:` entry for one column: a preset when one reads its codes (with the codes it does not
    read left as questions), else every code found with its row count."""
    codes = [str(c) for c in found.index]
    if all(c in allowed for c in codes):
        return [f"  # {target}: every value found is one of the contract's already"]
    best, every = None, []
    for name in PRESETS_FOR.get(target, ()):
        rule = preset(name)
        rule.allowed = allowed
        unread = [c for c in codes if rule(c) not in allowed]
        every += [name] if not unread else []
        if len(unread) < len(codes) / 2 and (best is None or len(unread) < len(best[1])):
            best = (name, unread)
    if best and not best[1]:
        others = [n for n in every if n != best[0]]
        return [f"  {target}: {best[0]}   # the preset reads every value found"
                + (f"; so does {', '.join(others)}: check which code list the system uses" if others else "")]
    lines = [f"  {target}:   # allowed: {', '.join(allowed)}; the row counts are for checking, not for sharing"]
    if best:
        lines += [f"    preset: {best[0]}   # reads {len(codes) - len(best[1])} of the {len(codes)} values found",
                  "    codes:   # the values the preset does not read"]
        codes = best[1]
    elif len(codes) > MAX_CODES_LISTED:
        return lines + [f"    # {len(codes)} distinct codes: use prefixes, e.g. prefixes: {{\"F20-F29\": Psychosis}}"]
    indent = "      " if best else "    "
    return lines + [f"{indent}{_yaml_scalar(code)}: {_yaml_scalar(code) if code in allowed else repr('?')}"
                    f"   # {found[code]} row(s)" for code in codes]


def mapping_template(raw: pd.DataFrame, file: str, identifiers: set[str], note=lambda message: None) -> str:
    """A starting mapping for an extract: every column (guessed target or ignored), every code found for
    columns with allowed values (or the preset that reads them), and the date format. Identifier columns
    are named for removal and their values never printed; unnamed and repeated names are said on `note`."""
    columns = list(raw.columns)
    repeated = {c for c in columns if columns.count(c) > 1}
    for name in sorted(repeated):
        note(f"warning: {file}: the column name {name!r} is used {columns.count(name)} times: rename all but one "
             "in the file (a mapping cannot tell them apart), or set header_row: if the header is another row")
    for name in columns:
        if name.startswith("(column "):
            note(f"warning: {file}: {name} has values but no name in the header row: it is written as {name!r}")
    guessed = guess_columns(raw, identifiers)
    lines = [f"# Starting mapping for {Path(file).name}, written by `ips-analysis mapping-template`.",
             "# Check every line, and answer every '?'; the keys are explained in docs/mapping.md and the",
             "# contract's columns and values in data_synthetic/DATA_DICTIONARY.md."]
    if header_line(raw) != 1 or raw.attrs.get("sheet"):
        lines.append(f"# The table was found{' on sheet ' + repr(raw.attrs['sheet']) if raw.attrs.get('sheet') else ''}"
                     f" with its header at row {header_line(raw)}; to pin it there, uncomment:")
        if raw.attrs.get("sheet"):
            lines.append(f"# sheet: {_yaml_scalar(raw.attrs['sheet'])}")
        lines.append(f"# header_row: {header_line(raw)}")
    lines.append("columns:")
    for column in dict.fromkeys(columns):
        if column in repeated:
            lines.append(f"  # {column!r} is the name of {columns.count(column)} columns: rename them in the file")
        elif column in identifiers:
            lines.append(f"  # {column!r}: a direct identifier - remove this column from the file before any run")
        elif column in guessed:
            lines.append(f"  {_yaml_scalar(column)}: {guessed[column]}")
        else:
            free = [c for c in C.COLUMN_NAMES if c not in guessed.values()]
            lines.append(f"  # {_yaml_scalar(column)}: ?   "
                         + (f"(one of: {', '.join(free)}; or leave it under ignore_columns)" if free
                            else "(not a contract column: leave it under ignore_columns)"))
    unmapped = [c for c in dict.fromkeys(columns) if c not in guessed and c not in identifiers and c not in repeated]
    lines += ["ignore_columns:     # columns that are not analysed: keep here only those you mean to leave out"]
    lines += [f"  - {_yaml_scalar(c)}" for c in unmapped] or ["  []"]
    dates = [c for c, t in guessed.items() if t in C.DATE_COLUMNS]
    form, why = detect(pd.concat([_filled(raw[c]) for c in dates]) if dates else pd.Series(dtype=str))
    lines += ['null_values: ["NULL", "N/A", "-"]   # cells to read as blank', f'date_format: "{form}"   # {why}']
    if why.startswith("no common format"):  # each date column in its own format, where one reads it
        own = {c: detect(_filled(raw[c])) for c in dates}
        lines += ["date_formats:   # each date column's own format"]
        lines += [f'  {_yaml_scalar(c)}: "{f}"   # {w}' for c, (f, w) in own.items()]
    lines += ["values:"]
    for column, target in guessed.items():
        allowed = C.FACTORS.get(target) or next((c.allowed for c in C.COLUMNS if c.name == target), None)
        if allowed:
            blanked = raw[column].astype(str).str.strip().where(lambda v: ~v.isin(NULLS), "")
            lines += _rule_lines(target, blanked.value_counts(), allowed)
    return "\n".join(lines) + "\n"

