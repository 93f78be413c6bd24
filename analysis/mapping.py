"""A trust's mapping file (YAML): its column names and codes to the contract's.

    columns:                 # the file's column -> the contract's column (each contract column once)
      Client ID: person_id
      Referral Date: first_contact_date
    ignore_columns: [Team notes]       # columns the file has that are not analysed (listed, not silently dropped;
                                       # a direct identifier listed here still refuses the run)
    null_values: ["NULL", "N/A", "-"]  # cells read as blank, in every column (CSV and Excel alike)
    column_null_values:                # more blank tokens for one column (the file's column name)
      Gender Code: ["99"]
    date_format: "%d/%m/%Y"            # how the file writes dates (default YYYY-MM-DD); a time after the date
                                       # (12/03/2023 00:00) is accepted and dropped
    date_formats:                      # a different format for one column (the file's or the contract's name)
      Discharge Date: "%Y-%m-%d %H:%M:%S"
    values:                            # codes -> the contract's values, per contract column
      ethnicity: nhs_ethnic_category   # the NHS Data Dictionary Ethnic Category codes A-S, Z, 99
      gender: {"1": Male, "2": Female, "9": Not known}
      diagnosis:                       # exact codes first, then prefixes and ranges of prefixes
        codes: {"Z03.2": Not known}
        prefixes: {"F20-F29": Psychosis, "F31": Bipolar, "F32-F41": Depression or anxiety,
                   "F60": Personality disorder}
        otherwise: Other               # optional: any other code
    combine:                           # one contract column from several file columns, chosen by the outcome
      outcome_date: {gained_employment: Job Start Date, retained_employment: Job Start Date,
                     education: Education Start Date}

The same `values` rules map the CMHT table's categories (`load_reference(..., mapping)`), where a code
may be followed by its description ("A - White British"). Codes the mapping does not cover are left as
they are, so validation reports them as unknown codes. Mistakes in the mapping itself (an unknown key or
target, two columns mapped to one target, a combine rule naming a column the file lacks) are reported
by file, key and what was expected. `ips-analysis mapping-template EXTRACT` writes a starting point.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from . import contract as C
from .errors import InputError, Problem

BUILT_IN_CODES = {"nhs_ethnic_category": C.NHS_ETHNIC_CATEGORY}
KEYS = {"columns", "ignore_columns", "date_format", "date_formats", "values", "null_values", "column_null_values",
        "combine"}
RULE_KEYS = {"codes", "prefixes", "otherwise"}
DESCRIPTION = re.compile(r"^\s*([^\s:-]+)\s*(?:-|:)\s+.*$")  # "A - White British" -> "A"


@dataclass
class CodeRule:
    """Exact codes first, then prefixes ("F31") and ranges of prefixes ("F32-F41"), then `otherwise`."""
    codes: dict[str, str] = field(default_factory=dict)
    prefixes: dict[str, str] = field(default_factory=dict)
    otherwise: str | None = None
    allowed: tuple = ()  # the contract's own values pass through prefixes and `otherwise` unchanged

    def __call__(self, value: str) -> str:
        if value in self.codes:
            return self.codes[value]
        if value == "" or value in self.allowed:
            return value
        code = value.strip().upper()
        for prefix, target in self.prefixes.items():
            low, _, high = prefix.upper().partition("-")
            if (high and low <= code[:len(low)] <= high) or (not high and code.startswith(low)):
                return target
        return self.otherwise if self.otherwise is not None else value


@dataclass
class Mapping:
    columns: dict[str, str] = field(default_factory=dict)
    ignore_columns: list[str] = field(default_factory=list)
    date_format: str = "%Y-%m-%d"
    values: dict[str, CodeRule] = field(default_factory=dict)
    null_values: list[str] = field(default_factory=list)
    column_null_values: dict[str, list[str]] = field(default_factory=dict)
    date_formats: dict[str, str] = field(default_factory=dict)
    combine: dict[str, dict[str, str]] = field(default_factory=dict)

    def source_name(self, contract_column: str) -> str | None:
        """The file's own name for a contract column, for messages the analyst can act on."""
        for source, target in self.columns.items():
            if target == contract_column:
                return source
        return None

    def map_codes(self, column: str, values: pd.Series) -> pd.Series:
        rule = self.values.get(column)
        return values if rule is None else values.map(rule)


def _code_rule(file: str, column: str, spec, problems: list[Problem]) -> CodeRule | None:
    where = f"values: {column}"
    if isinstance(spec, str):
        if spec not in BUILT_IN_CODES:
            problems.append(Problem(file, None, where, f"'{spec}'", "a table of codes or one of: " + ", ".join(BUILT_IN_CODES)))
            return None
        return CodeRule(dict(BUILT_IN_CODES[spec]))
    if not isinstance(spec, dict):
        problems.append(Problem(file, None, where, repr(spec), "a table of codes"))
        return None
    structured = set(spec) & RULE_KEYS and set(spec) <= RULE_KEYS
    rule = (CodeRule({str(k): str(v) for k, v in (spec.get("codes") or {}).items()},
                     {str(k): str(v) for k, v in (spec.get("prefixes") or {}).items()},
                     None if spec.get("otherwise") is None else str(spec["otherwise"]))
            if structured else CodeRule({str(k): str(v) for k, v in spec.items()}))
    allowed = C.FACTORS.get(column) or next((c.allowed for c in C.COLUMNS if c.name == column), None)
    targets = list(rule.codes.values()) + list(rule.prefixes.values()) + ([rule.otherwise] if rule.otherwise else [])
    if column not in C.COLUMN_NAMES:
        problems.append(Problem(file, None, where, f"'{column}'", "a contract column: " + ", ".join(C.COLUMN_NAMES)))
    elif allowed:
        rule.allowed = tuple(allowed)
        problems += [Problem(file, None, where, f"the target '{t}'", "one of: " + ", ".join(allowed))
                     for t in dict.fromkeys(targets) if t not in allowed]
    return rule


def load_mapping(path: Path) -> Mapping:
    file = str(path)
    try:
        spec = yaml.safe_load(Path(path).read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise InputError([Problem(file, None, None, "no such file", "a YAML mapping file")]) from None
    except yaml.YAMLError as err:
        raise InputError([Problem(file, None, None, f"text that is not valid YAML ({str(err).splitlines()[0]})",
                                  "a YAML mapping file")]) from None
    if not isinstance(spec, dict):
        raise InputError([Problem(file, None, None, "no mapping of keys", "keys: " + ", ".join(sorted(KEYS)))])
    problems = [Problem(file, None, key, "an unknown key", "one of: " + ", ".join(sorted(KEYS)))
                for key in spec if key not in KEYS]
    columns = {str(k): str(v) for k, v in (spec.get("columns") or {}).items()}
    problems += [Problem(file, None, f"columns: {k}", f"'{v}'", "a contract column: " + ", ".join(C.COLUMN_NAMES))
                 for k, v in columns.items() if v not in C.COLUMN_NAMES]
    combine = {str(k): {str(o): str(c) for o, c in (v or {}).items()} for k, v in (spec.get("combine") or {}).items()}
    targets = list(columns.values()) + list(combine)
    problems += [Problem(file, None, "columns", f"two or more columns mapped to '{t}'",
                         "each contract column from one file column (or one combine rule)")
                 for t in dict.fromkeys(targets) if targets.count(t) > 1]
    for target, sources in combine.items():
        if target not in C.COLUMN_NAMES:
            problems.append(Problem(file, None, f"combine: {target}", f"'{target}'", "a contract column"))
        problems += [Problem(file, None, f"combine: {target}", f"the outcome '{o}'", "one of: " + ", ".join(C.OUTCOMES))
                     for o in sources if o not in C.OUTCOMES]
    values = {}
    for column, codes in (spec.get("values") or {}).items():
        rule = _code_rule(file, str(column), codes, problems)
        if rule is not None:
            values[str(column)] = rule
    if problems:
        raise InputError(problems)
    return Mapping(columns, [str(c) for c in spec.get("ignore_columns") or []],
                   str(spec.get("date_format") or "%Y-%m-%d"), values,
                   [str(v) for v in spec.get("null_values") or []],
                   {str(k): [str(v) for v in vs] for k, vs in (spec.get("column_null_values") or {}).items()},
                   {str(k): str(v) for k, v in (spec.get("date_formats") or {}).items()}, combine)


def _iso_dates(values: pd.Series, date_format: str) -> pd.Series:
    """Dates in the file's format rewritten as YYYY-MM-DD where they parse (with or without a time after
    them); cells that do not parse are left as they are, for validation to report."""
    if date_format == "%Y-%m-%d" and not values.str.contains(" ", regex=False).any():
        return values
    parsed = pd.to_datetime(values, format=date_format, errors="coerce")
    for with_time in (" %H:%M", " %H:%M:%S"):
        if parsed.isna().any() and with_time not in date_format:
            parsed = parsed.fillna(pd.to_datetime(values, format=date_format + with_time, errors="coerce"))
    return parsed.dt.strftime("%Y-%m-%d").where(parsed.notna(), values)


def apply_mapping(raw: pd.DataFrame, mapping: Mapping) -> pd.DataFrame:
    """Blank the null tokens, combine, rename, drop the listed columns, map codes, and rewrite dates as
    YYYY-MM-DD where they parse."""
    table = raw.copy()
    for column in table.columns:
        tokens = set(mapping.null_values) | set(mapping.column_null_values.get(column, []))
        if tokens:
            table[column] = table[column].where(~table[column].str.strip().isin(tokens), "")
    target_of = {**mapping.columns, **{s: t for t, sources in mapping.combine.items() for s in sources.values()}}
    for source, target in target_of.items():
        if source in table.columns and target in C.DATE_COLUMNS:
            form = mapping.date_formats.get(source) or mapping.date_formats.get(target) or mapping.date_format
            table[source] = _iso_dates(table[source], form)
    sources = {s for rule in mapping.combine.values() for s in rule.values()}
    combined = {}
    outcome_source = mapping.source_name("outcome") or "outcome"
    if mapping.combine and outcome_source in table.columns:
        outcome = mapping.map_codes("outcome", table[outcome_source])
        for target, rule in mapping.combine.items():
            out = pd.Series("", index=table.index)
            for value, source in rule.items():
                if source in table.columns:
                    out = out.where(outcome != value, table[source])
            combined[target] = out
    table = table.drop(columns=[c for c in mapping.ignore_columns if c in table.columns]
                       + [c for c in sources if c in table.columns and c not in mapping.columns])
    table = table.rename(columns=mapping.columns)
    for target, values in combined.items():
        table[target] = values
    for column in mapping.values:
        if column in table.columns:
            table[column] = mapping.map_codes(column, table[column])
    return table


def map_reference_categories(table: pd.DataFrame, mapping: Mapping) -> pd.DataFrame:
    """The CMHT table's categories through the same code rules (a code may carry its description:
    "A - White British"), with the counts of codes that map to one group added up."""
    table = table.copy()
    for factor in C.FACTORS:
        rows = table["characteristic"] == factor
        if factor in mapping.values and rows.any():
            categories = table.loc[rows, "category"]
            codes = categories.str.replace(DESCRIPTION, r"\1", regex=True)
            mapped = mapping.map_codes(factor, categories)
            by_code = mapping.map_codes(factor, codes)
            table.loc[rows, "category"] = mapped.where(mapped != categories, by_code)
    return table


GUESSES = {"person_id": ("clientid", "patientid", "personid", "id", "pseudoid", "clientref"),
           "first_contact_date": ("referraldate", "firstcontactdate", "firstcontact", "ipsreferraldate", "referral"),
           "age": ("age", "ageatreferral", "ageatfirstcontact"), "gender": ("gender", "gendercode", "sex"),
           "ethnicity": ("ethnicity", "ethniccategory", "ethnicgroup", "ethnicitycode"),
           "diagnosis": ("diagnosis", "primarydiagnosis", "diagnosiscode", "icd10"),
           "outcome": ("outcome", "employmentoutcome"), "outcome_date": ("outcomedate",),
           "discharge_date": ("dischargedate", "enddate", "closuredate"), "site": ("site", "team", "teamname")}
MAX_CODES_LISTED = 40


def _yaml_scalar(text: str) -> str:
    """A column name or code written so that YAML reads it back as the same string ('99', 'Team: A')."""
    return yaml.safe_dump(text).strip().removesuffix("\n...")


DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%m/%d/%Y", "%Y/%m/%d", "%d/%m/%y")
DATE_COLUMNS = ("first_contact_date", "outcome_date", "discharge_date")


def detected_date_format(values: pd.Series) -> tuple[str, str]:
    """The date format that reads every non-blank value of the date columns (a time after the date is
    allowed, as the loader allows it), and a comment for the template: which formats fit, or that none did."""
    values = values.dropna().astype(str).str.strip()
    values = values[values != ""].str.split(" ").str[0]
    if not len(values):
        return "%Y-%m-%d", "no dates found: the contract's format"
    fits = [f for f in DATE_FORMATS if pd.to_datetime(values, format=f, errors="coerce").notna().all()]
    if len(fits) == 1:
        return fits[0], f"every date found reads as {fits[0]}"
    if fits:
        return fits[0], "ambiguous: every date found reads as any of " + ", ".join(fits) + "; check one"
    return "%Y-%m-%d", "no common format reads every date: set it (and date_formats per column)"


def mapping_template(raw: pd.DataFrame, file: str, identifiers: set[str]) -> str:
    """A starting mapping for an extract: every column (guessed target or ignored), and for columns with few
    distinct values every code found, with the contract's allowed values beside it. Identifier columns are
    named for removal and their values never printed."""
    key = lambda name: "".join(ch for ch in name.lower() if ch.isalnum())  # noqa: E731
    guessed = {}
    exact = lambda column, t, names: key(column) in names or key(column) == key(t)  # noqa: E731
    within = lambda column, t, names: any(len(n) >= 6 and n in key(column) for n in names)  # noqa: E731
    for match in (exact, within):  # exact names first; then a known name inside a longer one ("IPS Outcome")
        for column in raw.columns:
            target = next((t for t, names in GUESSES.items() if match(column, t, names)), None)
            if column not in guessed and column not in identifiers and target and target not in guessed.values():
                guessed[column] = target
    guessed = {c: guessed[c] for c in raw.columns if c in guessed}
    lines = [f"# Starting mapping for {Path(file).name}, written by `ips-analysis mapping-template`.",
             "# Check every line; the contract's columns and values are in data_synthetic/DATA_DICTIONARY.md.",
             "columns:"]
    for column in raw.columns:
        if column in identifiers:
            lines.append(f"  # {column!r}: a direct identifier - remove this column from the file before any run")
        elif column in guessed:
            lines.append(f"  {_yaml_scalar(column)}: {guessed[column]}")
        else:
            free = [c for c in C.COLUMN_NAMES if c not in guessed.values()]
            lines.append(f"  # {_yaml_scalar(column)}: ?   "
                         + (f"(one of: {', '.join(free)}; or leave it under ignore_columns)" if free
                            else "(not a contract column: leave it under ignore_columns)"))
    unmapped = [c for c in raw.columns if c not in guessed and c not in identifiers]
    lines += ["ignore_columns:     # columns that are not analysed: keep here only those you mean to leave out"]
    lines += [f"  - {_yaml_scalar(c)}" for c in unmapped] or ["  []"]
    dates = [c for c, t in guessed.items() if t in DATE_COLUMNS]
    nulls = {"NULL", "N/A", "-"}
    form, why = detected_date_format(pd.concat([raw[c][~raw[c].astype(str).isin(nulls)] for c in dates])
                                     if dates else pd.Series(dtype=str))
    lines += ['null_values: ["NULL", "N/A", "-"]   # cells to read as blank', f'date_format: "{form}"   # {why}',
              "values:"]
    for column, target in guessed.items():
        allowed = C.FACTORS.get(target) or next((c.allowed for c in C.COLUMNS if c.name == target), None)
        if not allowed:
            continue
        found = raw[column].value_counts()
        if target == "ethnicity" and set(found.index) <= set(C.NHS_ETHNIC_CATEGORY) | {""}:
            lines.append("  ethnicity: nhs_ethnic_category   # the codes found are NHS Ethnic Category codes")
            continue
        lines.append(f"  {target}:   # allowed: {', '.join(allowed)}; the row counts are for checking, not for sharing")
        if len(found) > MAX_CODES_LISTED:
            lines.append(f"    # {len(found)} distinct codes: use prefixes, e.g. prefixes: {{\"F20-F29\": Psychosis}}")
            continue
        for code, count in found.items():
            mapped = code if code in allowed else "?"
            lines.append(f"    {_yaml_scalar(str(code))}: {mapped}"
                         f"   # {count} row(s)")
    return "\n".join(lines) + "\n"
