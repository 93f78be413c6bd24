"""The data contract: the one definition of an IPS extract's columns, types and allowed values.

The loader, the synthetic generator, the tests and the data dictionary all read this module, so a
change here changes all of them together.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

# Categories, in the order tables and figures show them. "Not known" is always last and is shown in
# every table but left out of every test.
NOT_KNOWN = "Not known"
GENDERS = ("Female", "Male", "Other", NOT_KNOWN)
ETHNICITIES = ("White", "Mixed", "Asian", "Black", "Other", NOT_KNOWN)
DIAGNOSES = ("Psychosis", "Bipolar", "Depression or anxiety", "Personality disorder", "Other", NOT_KNOWN)
OUTCOMES = ("gained_employment", "retained_employment", "education", "none")
# Outcomes that count as a positive outcome in R3 ("gained or retained employment, or were supported
# in education") and the two that mean the person received in-work support.
POSITIVE_OUTCOMES = ("gained_employment", "retained_employment", "education")
IN_WORK_OUTCOMES = ("gained_employment", "retained_employment")

# Age bands: (label, lowest age, highest age) with 18-24 kept as its own band (a subgroup of interest).
AGE_BANDS = (
    ("Under 18", 0, 17),
    ("18-24", 18, 24),
    ("25-34", 25, 34),
    ("35-44", 35, 44),
    ("45-54", 45, 54),
    ("55+", 55, 120),
)
AGE_BAND_LABELS = tuple(label for label, _, _ in AGE_BANDS)
MIN_AGE, MAX_AGE = 14, 100  # ages outside this range are impossible for an adult IPS service

# The four characteristics compared between groups, with their categories.
FACTORS = {
    "ethnicity": ETHNICITIES,
    "gender": GENDERS,
    "age_band": AGE_BAND_LABELS,
    "diagnosis": DIAGNOSES,
}


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # "id", "date", "integer" or "category"
    required: bool  # the column must be present
    blank_allowed: bool  # a present column may have blank cells
    allowed: tuple[str, ...] | None
    meaning: str


COLUMNS = (
    Column("person_id", "id", True, False, None,
           "Pseudonymous identifier of the person, the same on each of their episodes. Never an NHS number."),
    Column("first_contact_date", "date", True, False, None,
           "Date of first contact with the IPS service (ISO 8601, YYYY-MM-DD)."),
    Column("age", "integer", True, False, None,
           f"Age in whole years at first contact ({MIN_AGE}-{MAX_AGE}); analysed in the bands "
           + ", ".join(AGE_BAND_LABELS) + "."),
    Column("gender", "category", True, False, GENDERS, "Gender."),
    Column("ethnicity", "category", True, False, ETHNICITIES,
           "Broad ethnic group (NHS Ethnic Category codes A-S, Z, 99 may be mapped to these)."),
    Column("diagnosis", "category", True, False, DIAGNOSES, "Most recent primary diagnosis group."),
    Column("outcome", "category", True, False, OUTCOMES,
           "Best outcome achieved: gained_employment, retained_employment, education or none."),
    Column("outcome_date", "date", True, True, None,
           "Job start (gained_employment), the day in-work support began (retained_employment) or the "
           "start of education (education); blank when outcome is none."),
    Column("discharge_date", "date", True, True, None,
           "Discharge from the IPS case-load; blank when still on the case-load at the extract date."),
    Column("site", "category", False, True, None, "Team or site, for multi-site services (optional)."),
)
COLUMN_NAMES = tuple(c.name for c in COLUMNS)
REQUIRED_COLUMNS = tuple(c.name for c in COLUMNS if c.required)
DATE_COLUMNS = tuple(c.name for c in COLUMNS if c.kind == "date")

# The CMHT case-load the IPS case-load is compared with: one row per group.
REFERENCE_COLUMNS = ("characteristic", "category", "count")

# How each outcome enters the two survival analyses. This is the one place the rule lives: every estimator of
# time to employment (Kaplan-Meier, Cox, Aalen-Johansen, Gray, Fine-Gray) uses it (analysis/questions/employment.py).
SURVIVAL_RULES = {
    "gained_employment": "Time to employment: the event (a job) on the outcome date. In-work support: from the "
                         "outcome date to discharge (event) or the extract date (censored).",
    "retained_employment": "Time to employment: left out (already in work at first contact, so never "
                           "at risk of gaining a job). In-work support: as gained_employment.",
    "education": "Time to employment: the start of education (the outcome date) is a competing event, which ends "
                 "the search for a job through IPS (Aalen-Johansen, Gray, Fine-Gray); Kaplan-Meier and the "
                 "cause-specific Cox models censor there. Not in in-work support.",
    "none": "Time to employment: discharge (without a job or education) is a competing event (censoring for "
            "Kaplan-Meier and Cox); open cases are censored at the extract date. Not in in-work support.",
}


# Which of a person's episodes is analysed. The entry window is applied first; of the episodes that start
# in it, one per person is kept by this rule, and the others are counted in the exclusion flow as another
# episode of a person already counted (never as invalid rows). This is the one place the rule lives.
EPISODE_RULES = {
    "first": "each person's first episode that starts in the entry window",
    "last": "each person's last episode that starts in the entry window",
}
DEFAULT_EPISODE_RULE = "first"


def age_band(age: pd.Series) -> pd.Series:
    """Age in years to the contract's age bands (an ordered categorical)."""
    edges = [lo for _, lo, _ in AGE_BANDS] + [AGE_BANDS[-1][2] + 1]
    return pd.cut(age, bins=edges, right=False, labels=list(AGE_BAND_LABELS))


def data_dictionary() -> pd.DataFrame:
    """The contract as a table a trust analyst can read (also written to data_synthetic/)."""
    rows = []
    for c in COLUMNS:
        rows.append({
            "column": c.name,
            "type": {"id": "text", "date": "date (YYYY-MM-DD)", "integer": "integer",
                     "category": "text"}[c.kind],
            "required": "yes" if c.required else "no",
            "blank allowed": "yes" if c.blank_allowed else "no",
            "allowed values": "; ".join(c.allowed) if c.allowed else "",
            "meaning": c.meaning,
        })
    return pd.DataFrame(rows)
