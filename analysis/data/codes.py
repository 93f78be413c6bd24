"""Code rules (a trust's codes to the contract's values) and the NHS code lists shipped as presets.

Every analyst would otherwise retype the same national code lists, and get them subtly wrong (sex `X`
mapped to "Other" when the NHS Data Dictionary says "Not Known"). So they ship as data files,
`analysis/data/code_lists/<name>.csv` (columns code, match, description, group), read with the package:

- `nhs_ethnic_category`: NHS Data Dictionary Ethnic Category, A-S with their descriptions, Z (Not stated)
  and 99 (Not known) counted as Not known;
- `nhs_person_stated_gender`: Person Stated Gender Code, 1 Male, 2 Female, 9 Indeterminate (unable to be
  classified as either male or female: Other), X Not Known;
- `nhs_gender_identity`: Gender Identity Code, 1 Male (including trans man), 2 Female (including trans
  woman), 3 Non-binary and 4 Other (not listed) as Other, X Not Known and Z Not Stated as Not known;
- `icd10_f_chapter`: the blocks of ICD-10 chapter V (F00-F99) by prefix, so F20.0, F200 and "F20.0
  Paranoid schizophrenia" all read as Psychosis.

A rule reads a code, the code with its description after it ("A - White British", "A: White British"),
or, for a preset, the description alone ("White - British", "White British", "British"; spaces, case
and punctuation aside); in a preset a blank cell is Not known. A mapping may name a preset and override
single codes: its own codes and prefixes are tried before the preset's.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pandas as pd
import pyarrow as pa

from analysis.core.contract import NOT_KNOWN
from analysis.data.dates import arrow

CODE_LISTS = Path(__file__).resolve().parent / "code_lists"
PRESETS = tuple(sorted(p.stem for p in CODE_LISTS.glob("*.csv")))
LEADING_CODE = re.compile(r"^\s*([^\s:-]+)\s*(?:-|:)\s+(.*)$")  # "A - White British" -> "A", "White British"


def normalised(text: str) -> str:
    """Letters and digits only, lower case: how two spellings of one description are told to be the same."""
    return "".join(ch for ch in text.lower() if ch.isalnum())


@dataclass
class CodeRule:
    """Exact codes first (as written, then in any case, then the code before a description), then
    descriptions, then prefixes ("F31") and ranges of prefixes ("F32-F41"), then `otherwise`. A value
    none of them reads is left as it is, so validation reports it as an unknown code."""
    codes: dict[str, str] = field(default_factory=dict)
    prefixes: dict[str, str] = field(default_factory=dict)
    otherwise: str | None = None
    descriptions: dict[str, str] = field(default_factory=dict)  # normalised description -> value
    allowed: tuple = ()  # the contract's own values pass through unchanged

    def __post_init__(self):
        self._upper = {code.upper(): value for code, value in self.codes.items()}

    def __call__(self, value: str) -> str:
        if value in self.codes:
            return self.codes[value]
        if value == "" or value in self.allowed:
            return value
        code, described = value.strip().upper(), None
        if code in self._upper:
            return self._upper[code]
        leading = LEADING_CODE.match(value)
        if leading:
            code, described = leading.group(1).upper(), leading.group(2)
            if code in self._upper:
                return self._upper[code]
        for text in (value, described):
            if text is not None and normalised(text) in self.descriptions:
                return self.descriptions[normalised(text)]
        for prefix, target in self.prefixes.items():
            low, _, high = prefix.upper().partition("-")
            for candidate in dict.fromkeys((value.strip().upper(), code)):
                if (high and low <= candidate[:len(low)] <= high) or (not high and candidate.startswith(low)):
                    return target
        return self.otherwise if self.otherwise is not None else value

    def map(self, values: pd.Series) -> pd.Series:
        """The rule on a column, called once per distinct value (a national extract has millions of rows
        and a few dozen codes)."""
        column = arrow(values)
        column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        encoded = column.dictionary_encode()
        targets = pa.array([self(v) for v in encoded.dictionary.to_pylist()], type=pa.string())
        return pd.Series(pd.arrays.ArrowStringArray(targets.take(encoded.indices)), index=values.index)

    def reads(self, value: str) -> bool:
        """Whether the rule reads the value as one of the contract's (a proposal in the mapping template)."""
        return self(value) in self.allowed if self.allowed else self(value) != value

    def under(self, overrides: "CodeRule") -> "CodeRule":
        """This rule (a preset) with a mapping's own codes, prefixes and `otherwise` tried first."""
        return CodeRule({**self.codes, **overrides.codes}, {**overrides.prefixes, **self.prefixes},
                        overrides.otherwise if overrides.otherwise is not None else self.otherwise,
                        self.descriptions, overrides.allowed or self.allowed)


@lru_cache(maxsize=None)
def preset_rows(name: str) -> tuple[dict, ...]:
    """A preset's rows as in its file: code, match (exact or prefix), description, group."""
    with open(CODE_LISTS / f"{name}.csv", newline="", encoding="utf-8") as handle:
        return tuple(csv.DictReader(handle))


def preset(name: str) -> CodeRule:
    """A shipped code list as a rule: its codes or prefixes, its descriptions in full and, where only one
    code has it, the part after the group ("British" in "White - British"), and a blank cell as Not known."""
    rows = preset_rows(name)
    codes = {r["code"]: r["group"] for r in rows if r["match"] == "exact"}
    prefixes = {r["code"]: r["group"] for r in rows if r["match"] == "prefix"}
    descriptions = {normalised(r["description"]): r["group"] for r in rows}
    descriptions.update({normalised(r["description"].split(" (")[0]): r["group"] for r in rows})  # "Indeterminate"
    parts = [(normalised(r["description"].split(" - ", 1)[1]), r["group"]) for r in rows if " - " in r["description"]]
    descriptions.update({part: group for part, group in parts if [p for p, _ in parts].count(part) == 1
                         and part not in descriptions})
    return CodeRule({"": NOT_KNOWN, **codes}, prefixes, None, descriptions)


# The preset a reference table's categories are read with when the mapping gives no rule for them.
DEFAULT_PRESETS = {"ethnicity": "nhs_ethnic_category", "diagnosis": "icd10_f_chapter"}
