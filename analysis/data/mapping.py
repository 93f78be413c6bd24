"""A trust's mapping file (YAML): where its table is, its column names and codes to the contract's.

Every key, with an example, is in docs/mapping.md (a test checks that the page and `KEYS`, `RULE_KEYS`
and `TABLE_KEYS` here agree). Every value is read as text, as written: a code `01`, `No` or `NULL`
stays that code, not a number, a false or a blank. A mistake in the mapping itself (an unknown key or
target, a list where a table belongs, two columns mapped to one target, a date format that cannot
read a date) is reported by file, key, what was found and what was expected, never as a traceback.
`ips-analysis mapping-template EXTRACT` writes a starting point (analysis/data/template.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from analysis.core import contract as C
from analysis.data.codes import PRESETS, CodeRule, preset
from analysis.data.dates import ISO, to_iso
from analysis.core.errors import InputError, Problem

# Each key a mapping accepts, and what its value must be.
KEYS = {"columns": "a table of the file's column names to contract columns",
        "ignore_columns": "a list of the file's column names",
        "null_values": "a list of cells to read as blank", "column_null_values": "a table of column -> list of cells",
        "date_format": "a date format such as %d/%m/%Y", "date_formats": "a table of column -> date format",
        "values": "a table of contract column -> code rule", "combine": "a table of contract column -> outcome -> column",
        "sheet": "the name of the workbook's sheet", "header_row": "the header's row number (1 is the first row)",
        "reference": "a table describing the CMHT case-load table", "need": "a table describing the need table"}
RULE_KEYS = {"preset": "one of: " + ", ".join(PRESETS), "codes": "a table of code -> value",
             "prefixes": "a table of prefix or range -> value", "otherwise": "the value of any other code"}
TABLE_KEYS = {"characteristic": "one of: " + ", ".join(C.FACTORS), "category": "the column of categories or codes",
              "description": "the column of their descriptions", "count": "the column of counts",
              "sheet": KEYS["sheet"], "header_row": KEYS["header_row"]}


@dataclass
class TableLayout:
    """Where a reference table's table is and what its columns are (all optional: found when not given)."""
    characteristic: str | None = None
    category: str | None = None
    description: str | None = None
    count: str | None = None
    sheet: str | None = None
    header_row: int | None = None


@dataclass
class Mapping:
    columns: dict[str, str] = field(default_factory=dict)
    ignore_columns: list[str] = field(default_factory=list)
    date_format: str = ISO
    values: dict[str, CodeRule] = field(default_factory=dict)
    null_values: list[str] = field(default_factory=list)
    column_null_values: dict[str, list[str]] = field(default_factory=dict)
    date_formats: dict[str, str] = field(default_factory=dict)
    combine: dict[str, dict[str, str]] = field(default_factory=dict)
    sheet: str | None = None
    header_row: int | None = None
    reference: TableLayout = field(default_factory=TableLayout)
    need: TableLayout = field(default_factory=TableLayout)

    def source_name(self, contract_column: str) -> str | None:
        """The file's own name for a contract column, for messages the analyst can act on."""
        for source, target in self.columns.items():
            if target == contract_column:
                return source
        return None

    def map_codes(self, column: str, values: pd.Series) -> pd.Series:
        rule = self.values.get(column)
        return values if rule is None else rule.map(values)

    def date_format_of(self, source: str, target: str) -> str:
        return self.date_formats.get(source) or self.date_formats.get(target) or self.date_format


class _Checker:
    """Reads one mapping file's values, collecting a Problem for each that is not what its key takes."""

    def __init__(self, file: str):
        self.file, self.problems = file, []

    def wrong(self, where: str, found: str, expected: str) -> None:
        self.problems.append(Problem(self.file, None, where, found, expected))

    def _kind(self, value) -> str:
        return ("a table" if isinstance(value, dict) else "a list" if isinstance(value, list)
                else "a blank" if value in ("", None) else repr(value))

    def text(self, value, where: str, expected: str) -> str | None:
        if isinstance(value, str) and value != "":
            return value
        if value not in ("", None):
            self.wrong(where, self._kind(value), expected)
        return None

    def texts(self, value, where: str, expected: str) -> list[str]:
        if value in ("", None):
            return []
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
        self.wrong(where, self._kind(value), expected + " (write a list as [a, b] or one '- a' line each)")
        return []

    def table(self, value, where: str, expected: str) -> dict:
        if value in ("", None):
            return {}
        if isinstance(value, dict):
            return value
        self.wrong(where, self._kind(value), expected + " (write a table as {a: b} or one 'a: b' line each)")
        return {}

    def text_table(self, value, where: str, expected: str) -> dict[str, str]:
        out = {}
        for key, item in self.table(value, where, expected).items():
            text = self.text(item, f"{where}: {key}", expected)
            if text is not None or item == "":
                out[key] = text or ""
        return out

    def row(self, value, where: str) -> int | None:
        text = self.text(value, where, KEYS["header_row"])
        if text is not None and not (text.isdigit() and int(text) >= 1):
            self.wrong(where, repr(text), KEYS["header_row"])
            return None
        return int(text) if text is not None else None

    def date_format(self, value, where: str) -> str | None:
        form = self.text(value, where, KEYS["date_format"])
        if form is None:
            return None
        try:
            pd.to_datetime(pd.Series(["2022-01-01"]), format=form, errors="coerce")
        except ValueError as err:
            self.wrong(where, f"'{form}', which cannot read dates ({err})", KEYS["date_format"])
            return None
        if not any(d in form for d in ("%d", "%j")) or not any(d in form for d in ("%Y", "%y")):
            self.wrong(where, f"'{form}'", "a date format with a day (%d) and a year (%Y or %y), e.g. %d/%m/%Y")
            return None
        return form

    def unknown_keys(self, spec: dict, known: dict, where: str = "") -> None:
        for key in spec:
            if key not in known:
                self.wrong(f"{where}{key}", "an unknown key", "one of: " + ", ".join(sorted(known)))

    def rule(self, column: str, spec) -> CodeRule | None:
        where = f"values: {column}"
        allowed = C.FACTORS.get(column) or next((c.allowed for c in C.COLUMNS if c.name == column), None) or ()
        if column not in C.COLUMN_NAMES:
            self.wrong(where, f"'{column}'", "a contract column: " + ", ".join(C.COLUMN_NAMES))
        if isinstance(spec, str):
            spec = {"preset": spec}
        spec = self.table(spec, where, "a preset's name or a table of codes")
        structured = bool(spec) and set(spec) <= set(RULE_KEYS)
        if not structured:
            spec = {"codes": spec}
        name = self.text(spec.get("preset"), f"{where}: preset", RULE_KEYS["preset"])
        if name is not None and name not in PRESETS:
            self.wrong(f"{where}: preset", f"'{name}'", RULE_KEYS["preset"])
            name = None
        own = CodeRule(self.text_table(spec.get("codes"), f"{where}: codes", RULE_KEYS["codes"]),
                       self.text_table(spec.get("prefixes"), f"{where}: prefixes", RULE_KEYS["prefixes"]),
                       self.text(spec.get("otherwise"), f"{where}: otherwise", RULE_KEYS["otherwise"]),
                       allowed=tuple(allowed))
        targets = list(own.codes.values()) + list(own.prefixes.values()) + ([own.otherwise] if own.otherwise else [])
        if allowed:
            for target in dict.fromkeys(targets):
                if target not in allowed:
                    self.wrong(where, f"the target '{target}'", "one of: " + ", ".join(allowed))
        return preset(name).under(own) if name else own

    def layout(self, value, where: str) -> TableLayout:
        spec = self.table(value, where, KEYS[where])
        self.unknown_keys(spec, TABLE_KEYS, f"{where}: ")
        layout = TableLayout(**{k: self.text(spec.get(k), f"{where}: {k}", TABLE_KEYS[k])
                                for k in ("characteristic", "category", "description", "count", "sheet")},
                             header_row=self.row(spec.get("header_row"), f"{where}: header_row"))
        if layout.characteristic is not None and layout.characteristic not in C.FACTORS:
            self.wrong(f"{where}: characteristic", f"'{layout.characteristic}'", TABLE_KEYS["characteristic"])
        return layout


def _read_yaml(path: Path):
    """The file's YAML with every scalar as the text written (PyYAML's BaseLoader)."""
    file = str(path)
    try:
        return yaml.load(Path(path).read_text(encoding="utf-8-sig"), Loader=yaml.BaseLoader)
    except FileNotFoundError:
        raise InputError([Problem(file, None, None, "no such file", "a YAML mapping file")]) from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError([Problem(file, None, None, f"a file that cannot be read as text ({err})",
                                  "a YAML mapping file")]) from None
    except yaml.YAMLError as err:
        raise InputError([Problem(file, None, None, f"text that is not valid YAML ({str(err).splitlines()[0]})",
                                  "a YAML mapping file")]) from None


def load_mapping(path: Path) -> Mapping:
    file = str(path)
    spec = _read_yaml(path)
    if spec in ("", None):
        spec = {}
    if not isinstance(spec, dict):
        raise InputError([Problem(file, None, None, "no mapping of keys", "keys: " + ", ".join(sorted(KEYS)))])
    check = _Checker(file)
    check.unknown_keys(spec, KEYS)
    columns = check.text_table(spec.get("columns"), "columns", KEYS["columns"])
    for source, target in columns.items():
        if target not in C.COLUMN_NAMES:
            check.wrong(f"columns: {source}", f"'{target}'", "a contract column: " + ", ".join(C.COLUMN_NAMES))
    combine = {}
    for target, sources in check.table(spec.get("combine"), "combine", KEYS["combine"]).items():
        combine[target] = check.text_table(sources, f"combine: {target}", "a table of outcome -> the file's column")
        if target not in C.COLUMN_NAMES:
            check.wrong(f"combine: {target}", f"'{target}'", "a contract column")
        for outcome in combine[target]:
            if outcome not in C.OUTCOMES:
                check.wrong(f"combine: {target}", f"the outcome '{outcome}'", "one of: " + ", ".join(C.OUTCOMES))
    targets = list(columns.values()) + list(combine)
    for target in dict.fromkeys(targets):
        if targets.count(target) > 1:
            check.wrong("columns", f"two or more columns mapped to '{target}'",
                        "each contract column from one file column (or one combine rule)")
    values = {column: check.rule(column, rule)
              for column, rule in check.table(spec.get("values"), "values", KEYS["values"]).items()}
    date_formats = {}
    for column, form in check.table(spec.get("date_formats"), "date_formats", KEYS["date_formats"]).items():
        form = check.date_format(form, f"date_formats: {column}")
        if form is not None:
            date_formats[column] = form
    column_nulls = {column: check.texts(tokens, f"column_null_values: {column}", "a list of cells")
                    for column, tokens in check.table(spec.get("column_null_values"), "column_null_values",
                                                      KEYS["column_null_values"]).items()}
    mapping = Mapping(columns, check.texts(spec.get("ignore_columns"), "ignore_columns", KEYS["ignore_columns"]),
                      check.date_format(spec.get("date_format"), "date_format") or ISO, values,
                      check.texts(spec.get("null_values"), "null_values", KEYS["null_values"]), column_nulls,
                      date_formats, combine, check.text(spec.get("sheet"), "sheet", KEYS["sheet"]),
                      check.row(spec.get("header_row"), "header_row"),
                      check.layout(spec.get("reference"), "reference"), check.layout(spec.get("need"), "need"))
    if check.problems:
        raise InputError(check.problems)
    return mapping


def apply_mapping(raw: pd.DataFrame, mapping: Mapping) -> pd.DataFrame:
    """Blank the null tokens, rewrite dates as YYYY-MM-DD where they read, combine, rename, drop the listed
    columns, and map codes. The file's column names must be unique (checked before)."""
    table = raw.copy()
    for column in table.columns:
        tokens = set(mapping.null_values) | set(mapping.column_null_values.get(column, []))
        if tokens:
            table[column] = table[column].where(~table[column].str.strip().isin(tokens), "")
    target_of = {**{c: c for c in C.DATE_COLUMNS}, **mapping.columns,  # a file may use the contract's own names
                 **{s: t for t, sources in mapping.combine.items() for s in sources.values()}}
    for source, target in target_of.items():
        if source in table.columns and target in C.DATE_COLUMNS:
            table[source] = to_iso(table[source], mapping.date_format_of(source, target))
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
