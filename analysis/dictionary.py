"""The data dictionary a trust analyst reads, written from the contract (so it cannot drift from the code).

Usage: python -m analysis.dictionary OUTPUT.md
"""
from __future__ import annotations

import sys
from pathlib import Path

from . import contract as C
from .files import write_text_atomic


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown() -> str:
    dictionary = C.data_dictionary()
    parts = [
        "# Data dictionary: the IPS extract",
        "",
        "Written by `python -m analysis.dictionary` from `analysis/contract.py`; do not edit by hand.",
        "",
        "One row per person's IPS episode, as CSV with a header row. Dates are ISO 8601 (YYYY-MM-DD). "
        "The extract date (end of follow-up) is a parameter of the run, not a column. "
        "`data_synthetic/ips_extract.csv` is a filled-in example.",
        "",
        _table(list(dictionary.columns), dictionary.astype(str).values.tolist()),
        "",
        "## Age bands",
        "",
        _table(["band", "ages"], [[label, f"{lo}-{hi}" if label != "55+" else f"{lo} and over"]
                                  for label, lo, hi in C.AGE_BANDS]),
        "",
        "## NHS Ethnic Category codes",
        "",
        "A trust may give the NHS Data Dictionary Ethnic Category code; it is mapped to the broad group:",
        "",
        _table(["code", "broad group"], [[code, group] for code, group in C.NHS_ETHNIC_CATEGORY.items()]),
        "",
        "## How each outcome enters the survival analyses",
        "",
        _table(["outcome", "rule"], [[k, v] for k, v in C.SURVIVAL_RULES.items()]),
        "",
        "## The CMHT reference table",
        "",
        "The CMHT case-load the IPS case-load is compared with, as an aggregate table with the columns "
        "`" + ",".join(C.REFERENCE_COLUMNS) + "`, one row per group, for example `ethnicity,Black,612`. "
        "Characteristics: " + ", ".join(f"`{f}`" for f in C.FACTORS) + ", with the categories above. "
        "A table may cover fewer characteristics (often ethnicity only); the access analysis then covers "
        "what is there and says what is missing.",
        "",
        "'Not known' is shown in every table and left out of every statistical test.",
        "",
    ]
    return "\n".join(parts)


if __name__ == "__main__":
    write_text_atomic(Path(sys.argv[1]), markdown())
