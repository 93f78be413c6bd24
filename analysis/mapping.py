"""A trust's mapping file (YAML): its column names and codes to the contract's.

    columns:            # the file's column -> the contract's column
      Client ID: person_id
    ignore_columns: [Team notes]       # columns the file has that are not analysed (listed, not silently dropped)
    date_format: "%d/%m/%Y"            # how the file writes dates (default YYYY-MM-DD)
    values:
      ethnicity: nhs_ethnic_category   # the NHS Data Dictionary Ethnic Category codes A-S, Z, 99
      gender: {"1": Male, "2": Female, "9": Not known}

Codes the mapping does not list are left as they are, so validation reports them as unknown codes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from . import contract as C
from .errors import InputError, Problem

BUILT_IN_CODES = {"nhs_ethnic_category": C.NHS_ETHNIC_CATEGORY}
KEYS = {"columns", "ignore_columns", "date_format", "values"}


@dataclass
class Mapping:
    columns: dict[str, str] = field(default_factory=dict)
    ignore_columns: list[str] = field(default_factory=list)
    date_format: str = "%Y-%m-%d"
    values: dict[str, dict[str, str]] = field(default_factory=dict)

    def source_name(self, contract_column: str) -> str | None:
        """The file's own name for a contract column, for messages the analyst can act on."""
        for source, target in self.columns.items():
            if target == contract_column:
                return source
        return None


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
    values = {}
    for column, codes in (spec.get("values") or {}).items():
        if isinstance(codes, str):
            if codes not in BUILT_IN_CODES:
                problems.append(Problem(file, None, f"values: {column}", f"'{codes}'",
                                        "a table of codes or one of: " + ", ".join(BUILT_IN_CODES)))
                continue
            codes = BUILT_IN_CODES[codes]
        values[str(column)] = {str(k): str(v) for k, v in (codes or {}).items()}
    if problems:
        raise InputError(problems)
    return Mapping(columns, [str(c) for c in spec.get("ignore_columns") or []],
                   str(spec.get("date_format") or "%Y-%m-%d"), values)


def apply_mapping(raw: pd.DataFrame, mapping: Mapping) -> pd.DataFrame:
    """Rename, drop the listed columns, map codes, and rewrite dates as YYYY-MM-DD where they parse."""
    table = raw.drop(columns=[c for c in mapping.ignore_columns if c in raw.columns])
    table = table.rename(columns=mapping.columns)
    for column, codes in mapping.values.items():
        if column in table.columns:
            table[column] = table[column].map(lambda v: codes.get(v, v))
    if mapping.date_format != "%Y-%m-%d":
        for column in C.DATE_COLUMNS:
            if column in table.columns:
                parsed = pd.to_datetime(table[column], format=mapping.date_format, errors="coerce")
                table[column] = parsed.dt.strftime("%Y-%m-%d").where(parsed.notna(), table[column])
    return table
