"""Write a realistic, messy trust export made from the synthetic extract (seeded, so the same files every time).

What a RiO/SystmOne-style report gives an analyst: the system's own column names, NHS Ethnic Category codes
(A-S, Z, 99), ICD-10 diagnoses (F20.0, F41.1, ...), gender as NHS Person Stated Gender codes 1/2/9/X (9
Indeterminate, X Not Known), dd/mm/yyyy dates (some with a
00:00 time), "NULL" for empty cells, job start and education start in separate columns, a free-text notes
column, a client entered twice, and three referrals dated after their discharge. Written as Windows-1252
CSV and as .xlsx, with its mapping (messy_mapping.yaml) and a CMHT table with NHS codes and descriptions.

    python examples/make_messy_export.py
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parent / "data_synthetic" / "ips_extract.csv"
SEED = 20240227
ETHNIC_CODES = {"White": ["A", "B", "C"], "Mixed": ["D", "E", "F", "G"], "Asian": ["H", "J", "K", "L"],
                "Black": ["M", "N", "P"], "Other": ["R", "S"], "Not known": ["Z", "99"]}
ICD10 = {"Psychosis": ["F20.0", "F20.9", "F25.1", "F29"], "Bipolar": ["F31.1", "F31.6"],
         "Depression or anxiety": ["F32.1", "F33.2", "F41.1", "F40.0"], "Personality disorder": ["F60.3", "F60.9"],
         "Other": ["F50.0", "F84.5"], "Not known": ["NULL"]}
GENDER = {"Male": "1", "Female": "2", "Other": "9", "Not known": "X"}  # NHS Person Stated Gender Code
NOTES = ["Keen to work in retail", "Attended 3 of 4 appts", "", "Café job — part time", "Needs CV support", ""]


def dmy(dates: pd.Series, with_time: np.ndarray) -> pd.Series:
    text = dates.dt.strftime("%d/%m/%Y")
    return text.where(~with_time, text + " 00:00").where(dates.notna(), "NULL")


def make(rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    data = pd.read_csv(SOURCE, dtype=str, keep_default_na=False)
    n = len(data)
    dates = {c: pd.to_datetime(data[c].replace("", None)) for c in ("first_contact_date", "outcome_date", "discharge_date")}
    times = rng.random(n) < 0.3
    job = data["outcome"].isin(["gained_employment", "retained_employment"])
    education = data["outcome"] == "education"
    export = pd.DataFrame({
        "Client ID": [f"RIO{100000 + i}" for i in rng.permutation(n)],
        "Referral Received Date": dmy(dates["first_contact_date"], times),
        "Age At Referral": data["age"],
        "Gender Code": data["gender"].map(GENDER),
        "Ethnic Category Code": [rng.choice(ETHNIC_CODES[e]) for e in data["ethnicity"]],
        "Primary Diagnosis (ICD-10)": [rng.choice(ICD10[d]) for d in data["diagnosis"]],
        "IPS Outcome": data["outcome"].map({"gained_employment": "New job", "retained_employment": "Job retained",
                                            "education": "Education/training", "none": "NULL"}),
        "Job Start Date": dmy(dates["outcome_date"].where(job), times),
        "Education Start Date": dmy(dates["outcome_date"].where(education), times),
        "Discharge Date": dmy(dates["discharge_date"], times),
        "Team Name": data["site"],
        "Worker Notes": rng.choice(NOTES, n),
    })
    # A client entered twice (the second row is a copy), and three referrals dated after their discharge.
    export = pd.concat([export, export.iloc[[7]]], ignore_index=True)
    discharge = pd.to_datetime(export["Discharge Date"].str[:10], format="%d/%m/%Y", errors="coerce")
    # the first three whose referral, moved two weeks past discharge, still falls before the end of follow-up
    discharged = np.flatnonzero((discharge + pd.Timedelta(days=14) <= pd.Timestamp("2024-02-27")).to_numpy())[:3]
    for row in discharged:
        after = pd.to_datetime(export.at[row, "Discharge Date"][:10], format="%d/%m/%Y") + pd.Timedelta(days=14)
        export.at[row, "Referral Received Date"] = after.strftime("%d/%m/%Y")
    cmht = pd.read_csv(HERE.parent / "data_synthetic" / "reference_population.csv")
    cmht = cmht[cmht["characteristic"] == "ethnicity"]
    described = {"White": "A - White British", "Mixed": "D - Mixed White and Black Caribbean",
                 "Asian": "H - Asian or Asian British Indian", "Black": "N - Black or Black British African",
                 "Other": "S - Any other ethnic group", "Not known": "Z - Not stated"}
    cmht = cmht.assign(category=cmht["category"].map(described))
    return export, cmht


def main() -> None:
    export, cmht = make(np.random.default_rng(SEED))
    export.to_csv(HERE / "messy_export.csv", index=False, encoding="cp1252", lineterminator="\r\n")
    with pd.ExcelWriter(HERE / "messy_export.xlsx", engine="openpyxl") as writer:
        export.to_excel(writer, index=False, sheet_name="IPS caseload")
        writer.book.properties.created = writer.book.properties.modified = pd.Timestamp("2024-02-27").to_pydatetime()
    cmht.to_csv(HERE / "messy_cmht.csv", index=False)
    print(f"wrote {len(export)} rows to {HERE / 'messy_export.csv'} and .xlsx, and {HERE / 'messy_cmht.csv'}")


if __name__ == "__main__":
    main()
