"""The data dictionary a trust analyst reads, written from the contract (so it cannot drift from the code).

Usage: python -m analysis.data.dictionary OUTPUT.md
"""
from __future__ import annotations

import sys
from pathlib import Path

from analysis.core import contract as C
from analysis.data.codes import PRESETS, preset_rows
from analysis.core.files import write_text_atomic


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown() -> str:
    dictionary = C.data_dictionary()
    parts = [
        "# Data dictionary: the IPS extract",
        "",
        "Written by `python -m analysis.data.dictionary` from `analysis/core/contract.py`; do not edit by hand.",
        "",
        "One row per person's IPS episode, as CSV with a header row. Dates are ISO 8601 (YYYY-MM-DD); a time "
        "after the date (2021-01-02 10:00:00.000, 2021-01-02T10:00:00Z) is read and dropped, and an Excel day "
        "number (44652) or a real Excel date is read as its date; a mapping file may give another format. "
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
        "## Episodes: which row of a person is analysed",
        "",
        "A person referred more than once has one row per episode, each with its own first contact date (two rows "
        "of one person on one date are refused as a conflict; a row that repeats an earlier one in every column is "
        "left out as a copy and counted). The entry window is applied first; then one episode per person is "
        f"analysed: by default {C.EPISODE_RULES[C.DEFAULT_EPISODE_RULE]} (`run --episode`: "
        + "; ".join(f"`{k}`, {v}" for k, v in C.EPISODE_RULES.items()) + "). The other episodes are counted in "
        "the exclusion flow as another episode of a person already counted, never as invalid rows.",
        "",
        "## Code lists shipped with the package",
        "",
        "A mapping file may name one of these presets for a column's codes (`values: {ethnicity: "
        "nhs_ethnic_category}`; see docs/mapping.md). Each reads the code, the code followed by its description, "
        "or the description; a blank cell is Not known. Files: `analysis/data/code_lists/`.",
        "",
        *[part for name in PRESETS for part in (
            f"### `{name}`", "",
            _table(["code", "matched", "description", "analysed as"],
                   [[r["code"], r["match"], r["description"], r["group"]] for r in preset_rows(name)]), "")],
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
