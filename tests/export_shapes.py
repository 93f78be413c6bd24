"""A corpus of export shapes, as RiO, SystmOne, Epic and Carenotes reports write them, made from the
synthetic extract (seeded: the same files every time) with the mapping an analyst would write for each.

Each shape carries what a real export carries and the contract does not: report banners above the
header, totals and footer rows, a second sheet, date-times in several forms and Excel dates, codes or
their descriptions instead of the contract's values, a case-load table of one characteristic with a code
column and a description column, re-referrals of people already in the extract (before, inside and after
the study year) and rows joined twice. The people are the synthetic extract's, so each shape, read with
its mapping and nothing done to the file, must give the committed results of the synthetic data
exactly; only the exclusion flow differs, by the rows each shape adds.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data_synthetic"
SEED = 23
WINDOW = ("2022-04-01", "2023-03-31")
EXTRACT_DATE = "2024-02-27"
ETHNIC = {"White": "ABC", "Mixed": "DEFG", "Asian": "HJKL", "Black": "MNP", "Other": "RS", "Not known": ["Z", "99"]}
DESCRIPTION = {"A": "White - British", "B": "White - Irish", "C": "White - Any other White background",
               "D": "Mixed - White and Black Caribbean", "E": "Mixed - White and Black African",
               "F": "Mixed - White and Asian", "G": "Mixed - Any other mixed background",
               "H": "Asian or Asian British - Indian", "J": "Asian or Asian British - Pakistani",
               "K": "Asian or Asian British - Bangladeshi", "L": "Asian or Asian British - Any other Asian background",
               "M": "Black or Black British - Caribbean", "N": "Black or Black British - African",
               "P": "Black or Black British - Any other Black background", "R": "Other Ethnic Groups - Chinese",
               "S": "Other Ethnic Groups - Any other ethnic group", "Z": "Not stated", "99": "Not known"}
ICD10 = {"Psychosis": ["F20.0", "F20.9", "F25.1", "F29"], "Bipolar": ["F31.1", "F31.6", "F30.2"],
         "Depression or anxiety": ["F32.1", "F33.2", "F41.1", "F43.1"], "Personality disorder": ["F60.3", "F60.9"],
         "Other": ["F50.0", "F84.5", "F10.2"], "Not known": [""]}
ICD_LABEL = {"F20": "Paranoid schizophrenia", "F25": "Schizoaffective disorder", "F29": "Unspecified psychosis",
             "F31": "Bipolar affective disorder", "F30": "Mania", "F32": "Depressive episode",
             "F33": "Recurrent depressive disorder", "F41": "Other anxiety disorders", "F43": "Reaction to severe stress",
             "F60": "Specific personality disorders", "F50": "Eating disorders", "F84": "Pervasive developmental disorders",
             "F10": "Disorders due to use of alcohol"}
STATED_GENDER = {"Male": ["1"], "Female": ["2"], "Other": ["9"], "Not known": ["X"]}
GENDER_IDENTITY = {"Male": ["1"], "Female": ["2"], "Other": ["3", "4"], "Not known": ["X", "Z"]}
GENDER_WORDS = {"Male": ["Male"], "Female": ["Female"], "Other": ["Indeterminate"], "Not known": ["Not Known"]}
OUTCOME_WORDS = {"gained_employment": "Paid employment", "retained_employment": "Job retention",
                 "education": "Education or training", "none": "No outcome"}


@dataclass
class Shape:
    """One export as a system writes it: the files, the mapping, and what a run must count."""
    name: str
    extract: Path
    mapping: Path
    references: list[str]
    excluded: dict[str, int]  # the exclusion flow's counts beside the synthetic run's zeros
    guesses: dict[str, str] = field(default_factory=dict)  # what mapping-template must propose
    notes: list[str] = field(default_factory=list)  # what the run must say it skipped or read


def synthetic() -> pd.DataFrame:
    return pd.read_csv(DATA / "ips_extract.csv", dtype=str, keep_default_na=False)


def with_episodes(data: pd.DataFrame, rng, before: int = 0, inside: int = 0, after: int = 0) -> pd.DataFrame:
    """The extract with more episodes of its people, open and without an outcome: `before` the study year
    (the later episode in it is analysed), later `inside` it and `after` it (the first is analysed)."""
    first = pd.to_datetime(data["first_contact_date"])
    extra = []
    for count, low, high in ((before, "2021-10-01", "2022-03-31"), (after, "2023-04-01", "2023-12-31")):
        rows = data.iloc[rng.choice(len(data), count, replace=False)].copy()
        days = (pd.Timestamp(high) - pd.Timestamp(low)).days
        rows["first_contact_date"] = (pd.Timestamp(low) + pd.to_timedelta(rng.integers(0, days, count), unit="D")
                                      ).strftime("%Y-%m-%d")
        extra.append(rows)
    early = np.flatnonzero((first <= pd.Timestamp("2023-01-31")).to_numpy())
    rows = data.iloc[rng.choice(early, inside, replace=False)].copy()
    later = first.iloc[rows.index] + pd.to_timedelta(rng.integers(1, 58, inside), unit="D")
    rows["first_contact_date"] = later.dt.strftime("%Y-%m-%d").to_numpy()
    extra.append(rows)
    for rows in extra:
        rows[["outcome", "outcome_date", "discharge_date"]] = ["none", "", ""]
    return pd.concat([data, *extra], ignore_index=True)


def joined_twice(export: pd.DataFrame, rng, copies: int) -> pd.DataFrame:
    """The export with `copies` of its rows repeated (a join artefact), rows shuffled as a system lists them."""
    out = pd.concat([export, export.iloc[rng.choice(len(export), copies, replace=False)]], ignore_index=True)
    return out.iloc[rng.permutation(len(out))].reset_index(drop=True)


def pick(rng, choices: dict, values: pd.Series) -> list[str]:
    return [str(rng.choice(list(choices[v]))) for v in values]


def when(values: pd.Series, form: str, rng, timed: float = 1.0) -> list:
    """Dates written by `form` (a strftime pattern, 'excel' for Excel day numbers, 'datetime' for real
    workbook dates), with a random time of day on a share `timed` of them."""
    dates = pd.to_datetime(values.replace("", None))
    clock = pd.to_timedelta(rng.integers(8 * 60, 18 * 60, len(dates)) * (rng.random(len(dates)) < timed), unit="min")
    stamped = dates + clock
    if form == "excel":
        return ["" if pd.isna(d) else str((d - pd.Timestamp("1899-12-30")).days) for d in dates]
    if form == "datetime":
        return [None if pd.isna(d) else d.to_pydatetime() for d in stamped]
    return ["" if pd.isna(d) else d.strftime(form) for d in stamped]


def cmht_counts(characteristic: str) -> pd.DataFrame:
    reference = pd.read_csv(DATA / "reference_population.csv")
    return reference[reference["characteristic"] == characteristic].reset_index(drop=True)


def split_by_code(counts: pd.DataFrame, codes: dict) -> list[tuple[str, int]]:
    """A group's case-load count split across its codes (the totals stay the group's)."""
    rows = []
    for group, count in zip(counts["category"], counts["count"]):
        parts = list(codes[group])
        shares = [count // len(parts)] * len(parts)
        shares[0] += count - sum(shares)
        rows += list(zip(parts, shares))
    return rows


def other_characteristics(path: Path) -> str:
    """Gender, age band and diagnosis in the long form, as the contract writes them (a second file)."""
    reference = pd.read_csv(DATA / "reference_population.csv")
    reference[reference["characteristic"] != "ethnicity"].to_csv(path, index=False)
    return str(path)


def sheet(book, title: str, rows: list[list]) -> None:
    page = book.create_sheet(title)
    for row in rows:
        page.append(row)


def save(book, path: Path) -> None:
    book.properties.created = book.properties.modified = dt.datetime(2024, 2, 27)
    book.save(path)


def rio(folder: Path, rng) -> Shape:
    """A RiO-style CSV in Windows-1252: a banner padded to the table's width, ids as 'Patient Ref', date-times
    with milliseconds, ICD-10 without the dot, job and education starts in two columns, a footer; the
    CMHT case-load as code, description and count, with thousands separators and a total row."""
    data = with_episodes(synthetic(), rng, inside=5, after=30)
    job = data["outcome"].isin(["gained_employment", "retained_employment"])
    export = pd.DataFrame({
        "Patient Ref": "RIO" + data["person_id"].str[3:],
        "Referral Date": when(data["first_contact_date"], "%Y-%m-%d %H:%M:%S.000", rng),
        "Age (yrs)": data["age"],
        "Gender": pick(rng, STATED_GENDER, data["gender"]),
        "Ethnic Category": pick(rng, ETHNIC, data["ethnicity"]),
        "Primary Diagnosis": [c.replace(".", "") for c in pick(rng, ICD10, data["diagnosis"])],
        "Outcome": data["outcome"].map(OUTCOME_WORDS),
        "Job Start Date": when(data["outcome_date"].where(job, ""), "%Y-%m-%d %H:%M:%S.000", rng),
        "Education Start Date": when(data["outcome_date"].where(data["outcome"] == "education", ""),
                                     "%Y-%m-%d %H:%M:%S.000", rng),
        "Discharge Date": when(data["discharge_date"], "%Y-%m-%d %H:%M:%S.000", rng),
        "Team": data["site"], "Notes": rng.choice(["", "Café job", "CV done"], len(data))})
    export = joined_twice(export, rng, 2)
    width = "," * (export.shape[1] - 1)
    text = (f"IPS Referrals and Outcomes - Caseload Report{width}\r\nRun on 03/10/2023 08:14 by Performance Team{width}"
            f"\r\n{width}\r\n" + export.to_csv(index=False, lineterminator="\r\n")
            + f"{width}\r\nTotal records: {len(export)}{width}\r\n")
    (folder / "rio.csv").write_bytes(text.encode("cp1252"))
    counts = split_by_code(cmht_counts("ethnicity"), ETHNIC)
    cmht = pd.DataFrame([(c, DESCRIPTION[c], f"{n:,}") for c, n in counts],
                        columns=["Ethnic Category", "Ethnic Category Description", "Open CMHT Caseload"])
    (folder / "rio_cmht.csv").write_text("Open CMHT caseload at 31/12/2021\n" + cmht.to_csv(index=False)
                                         + f"Total,,\"{sum(n for _, n in counts):,}\"\n")
    (folder / "rio.yaml").write_text(
        "columns: {Patient Ref: person_id, Referral Date: first_contact_date, Age (yrs): age, Gender: gender,\n"
        "          Ethnic Category: ethnicity, Primary Diagnosis: diagnosis, Outcome: outcome,\n"
        "          Discharge Date: discharge_date, Team: site}\n"
        "ignore_columns: [Notes]\n"
        'date_format: "%Y-%m-%d %H:%M:%S.%f"\n'
        "combine:\n  outcome_date: {gained_employment: Job Start Date, retained_employment: Job Start Date,\n"
        "                 education: Education Start Date}\n"
        "values:\n  gender: nhs_person_stated_gender\n  ethnicity: nhs_ethnic_category\n  diagnosis: icd10_f_chapter\n"
        "  outcome: {Paid employment: gained_employment, Job retention: retained_employment,\n"
        "            Education or training: education, No outcome: none}\n")
    return Shape("rio", folder / "rio.csv", folder / "rio.yaml",
                 [f"ethnicity={folder / 'rio_cmht.csv'}", other_characteristics(folder / "rio_cmht_other.csv")],
                 {"copy": 2, "after": 30, "episode": 5},
                 {"Patient Ref": "person_id", "Age (yrs)": "age", "Referral Date": "first_contact_date",
                  "Discharge Date": "discharge_date"},
                 ["the header is row 4; skipped 3 row(s) above it", "skipped 2 row(s) after the last data row"])


def systmone(folder: Path, rng) -> Shape:
    """A SystmOne-style workbook: four banner rows, real Excel dates (some with a time), ethnicity and
    gender as their descriptions, diagnoses as code and label, a second sheet of criteria; the CMHT
    case-load a two-column workbook of descriptions whose column name says it is ethnicity."""
    data = with_episodes(synthetic(), rng, before=10)
    data = data.iloc[rng.permutation(len(data))]
    book = openpyxl.Workbook()
    book.remove(book.active)
    header = ["Patient ID", "Date Referred", "Age", "Sex", "Ethnicity", "Diagnosis", "Employment Outcome",
              "Outcome Date", "Date Discharged", "Team"]
    rows = zip("S1-" + data["person_id"].str[3:], when(data["first_contact_date"], "datetime", rng, 0.4),
               data["age"].astype(int), pick(rng, GENDER_WORDS, data["gender"]),
               [DESCRIPTION[c] for c in pick(rng, ETHNIC, data["ethnicity"])],
               [f"{c} {ICD_LABEL[c[:3]]}" if c else "" for c in pick(rng, ICD10, data["diagnosis"])],
               data["outcome"].map(OUTCOME_WORDS), when(data["outcome_date"], "datetime", rng, 0.4),
               when(data["discharge_date"], "datetime", rng, 0.4), data["site"])
    sheet(book, "Caseload", [["IPS Referrals and Outcomes - Caseload Report"],
                             ["Run on 03/10/2023 08:14 by Performance Team"],
                             ["Criteria: IPS referrals, all teams"], [], header, *map(list, rows)])
    sheet(book, "Criteria", [["Report criteria"], ["Referrals to IPS"], ["All teams"]])
    save(book, folder / "systmone.xlsx")
    book = openpyxl.Workbook()
    counts = cmht_counts("ethnicity")
    sheet(book, "CMHT", [["Adults on CMHT caseload by ethnicity"], [],
                         ["Ethnicity (NHS category)", "Adults on CMHT caseload at 31/12/2021"],
                         *[[DESCRIPTION[c], n] for c, n in split_by_code(counts, ETHNIC)],
                         ["Total", int(counts["count"].sum())]])
    book.remove(book["Sheet"])
    save(book, folder / "systmone_cmht.xlsx")
    (folder / "systmone.yaml").write_text(
        "columns: {Patient ID: person_id, Date Referred: first_contact_date, Age: age, Sex: gender,\n"
        "          Ethnicity: ethnicity, Diagnosis: diagnosis, Employment Outcome: outcome,\n"
        "          Outcome Date: outcome_date, Date Discharged: discharge_date, Team: site}\n"
        "values:\n  gender: nhs_person_stated_gender\n  ethnicity: nhs_ethnic_category\n  diagnosis: icd10_f_chapter\n"
        "  outcome: {Paid employment: gained_employment, Job retention: retained_employment,\n"
        "            Education or training: education, No outcome: none}\n")
    return Shape("systmone", folder / "systmone.xlsx", folder / "systmone.yaml",
                 [str(folder / "systmone_cmht.xlsx"), other_characteristics(folder / "systmone_cmht_other.csv")],
                 {"before": 10},
                 {"Patient ID": "person_id", "Age": "age", "Date Referred": "first_contact_date",
                  "Date Discharged": "discharge_date", "Outcome Date": "outcome_date"},
                 ["read sheet 'Caseload', the one with the largest table (not 'Criteria')",
                  "the header is row 5; skipped 4 row(s) above it", "read as a table of ethnicity (from its column "
                  "'Ethnicity (NHS category)')"])


def epic(folder: Path, rng) -> Shape:
    """An Epic-style CSV with a byte-order mark: ISO date-times with T and a zone, discharges as Excel day
    numbers, gender identity codes, an 'End of report' footer; the CMHT case-load in the long form with
    codes and descriptions ('A - White British', '1', 'F20 - Schizophrenia') read by the mapping's rules."""
    data = with_episodes(synthetic(), rng, inside=4, after=12)
    export = pd.DataFrame({
        "Pseudo ID": "E" + data["person_id"].str[3:],
        "Referral Start": when(data["first_contact_date"], "%Y-%m-%dT%H:%M:%SZ", rng),
        "Age at Referral": data["age"], "Gender Identity": pick(rng, GENDER_IDENTITY, data["gender"]),
        "Ethnic Group": pick(rng, ETHNIC, data["ethnicity"]), "Dx Code": pick(rng, ICD10, data["diagnosis"]),
        "IPS Outcome": data["outcome"].map(OUTCOME_WORDS),
        "Outcome Date": when(data["outcome_date"], "%Y-%m-%dT%H:%M:%S.%f", rng),
        "End Date": when(data["discharge_date"], "excel", rng), "Department": data["site"]})
    export = joined_twice(export, rng, 1)
    (folder / "epic.csv").write_bytes(b"\xef\xbb\xbf" + (export.to_csv(index=False) + "End of report\n").encode())
    gender = cmht_counts("gender").assign(category=lambda d: d["category"].map(
        {"Female": "2", "Male": "1", "Other": "3", "Not known": "X"}))
    ethnicity = pd.DataFrame([("ethnicity", f"{c} - {DESCRIPTION[c]}", n)
                              for c, n in split_by_code(cmht_counts("ethnicity"), ETHNIC)],
                             columns=["characteristic", "category", "count"])
    diagnosis = cmht_counts("diagnosis").assign(category=lambda d: d["category"].map(
        {"Psychosis": "F20 - Schizophrenia", "Bipolar": "F31 - Bipolar affective disorder",
         "Depression or anxiety": "F32 - Depressive episode", "Personality disorder": "F60 - Specific personality "
         "disorders", "Other": "F50 - Eating disorders", "Not known": ""}))
    pd.concat([ethnicity, gender, cmht_counts("age_band"), diagnosis]).to_csv(folder / "epic_cmht.csv", index=False)
    (folder / "epic.yaml").write_text(
        "columns: {Pseudo ID: person_id, Referral Start: first_contact_date, Age at Referral: age,\n"
        "          Gender Identity: gender, Ethnic Group: ethnicity, Dx Code: diagnosis, IPS Outcome: outcome,\n"
        "          Outcome Date: outcome_date, End Date: discharge_date, Department: site}\n"
        "values:\n  gender: nhs_gender_identity\n  ethnicity: nhs_ethnic_category\n  diagnosis: icd10_f_chapter\n"
        "  outcome: {Paid employment: gained_employment, Job retention: retained_employment,\n"
        "            Education or training: education, No outcome: none}\n")
    return Shape("epic", folder / "epic.csv", folder / "epic.yaml", [str(folder / "epic_cmht.csv")],
                 {"copy": 1, "after": 12, "episode": 4},
                 {"Pseudo ID": "person_id", "Age at Referral": "age", "End Date": "discharge_date"},
                 ["skipped 1 row(s) after the last data row", "'End of report'"])


def carenotes(folder: Path, rng) -> Shape:
    """A Carenotes-style workbook whose table is on its second sheet below two banner rows, pinned by the
    mapping's sheet: and header_row:; referral dates as Excel day numbers in General cells, other dates
    as dd/mm/yyyy HH:MM text, NULL for blanks, a grand total row; the CMHT case-load with local two-letter
    codes beside the NHS descriptions, described in the mapping's reference: section."""
    data = with_episodes(synthetic(), rng, before=3, inside=2, after=6)
    book = openpyxl.Workbook()
    book.remove(book.active)
    sheet(book, "Cover", [["IPS caseload extract"], ["Prepared for the IPS steering group"], ["Data: see next sheet"]])
    header = ["Client No", "IPS Referral Date", "Age at Referral", "Gender Code", "Ethnic Category Code",
              "Primary Diagnosis", "Outcome", "Outcome Date", "Discharge Date", "Team"]
    dmy = lambda values: [v or "NULL" for v in when(values, "%d/%m/%Y %H:%M", rng, 0.5)]  # noqa: E731
    export = joined_twice(pd.DataFrame(list(zip(
        "CN" + data["person_id"].str[3:], [int(d) for d in when(data["first_contact_date"], "excel", rng)],
        data["age"].astype(int), pick(rng, STATED_GENDER, data["gender"]), pick(rng, ETHNIC, data["ethnicity"]),
        [c or "NULL" for c in pick(rng, ICD10, data["diagnosis"])], data["outcome"].map(OUTCOME_WORDS),
        dmy(data["outcome_date"]), dmy(data["discharge_date"]), data["site"])), columns=header), rng, 3)
    sheet(book, "Data", [["Carenotes IPS extract"], ["Run 03/10/2023"], header,
                         *[[v.item() if hasattr(v, "item") else v for v in row] for row in export.itertuples(index=False)],
                         ["Grand Total", len(export)]])
    save(book, folder / "carenotes.xlsx")
    book = openpyxl.Workbook()
    local = {c: f"{c}{c}" if len(c) == 1 else "NK" for c in DESCRIPTION}  # local codes the NHS list does not have
    rows = [[local[c], DESCRIPTION[c], n] for c, n in split_by_code(cmht_counts("ethnicity"), ETHNIC)]
    book.active.append(["CMHT open caseload"])
    book.active.append(["Ethnic Category", "Ethnic Category Description", "Open CMHT Caseload"])
    for row in rows:
        book.active.append(row)
    save(book, folder / "carenotes_cmht.xlsx")
    (folder / "carenotes.yaml").write_text(
        "sheet: Data\nheader_row: 3\n"
        "columns: {Client No: person_id, IPS Referral Date: first_contact_date, Age at Referral: age,\n"
        "          Gender Code: gender, Ethnic Category Code: ethnicity, Primary Diagnosis: diagnosis, Outcome: outcome,\n"
        "          Outcome Date: outcome_date, Discharge Date: discharge_date, Team: site}\n"
        'null_values: ["NULL"]\ndate_format: "%d/%m/%Y %H:%M"\n'
        "values:\n  gender: nhs_person_stated_gender\n  ethnicity: nhs_ethnic_category\n  diagnosis: icd10_f_chapter\n"
        "  outcome: {Paid employment: gained_employment, Job retention: retained_employment,\n"
        "            Education or training: education, No outcome: none}\n"
        "reference: {characteristic: ethnicity, category: Ethnic Category, description: Ethnic Category Description,\n"
        "            count: Open CMHT Caseload}\n")
    return Shape("carenotes", folder / "carenotes.xlsx", folder / "carenotes.yaml",
                 [str(folder / "carenotes_cmht.xlsx"), other_characteristics(folder / "carenotes_cmht_other.csv")],
                 {"copy": 3, "before": 3, "after": 6, "episode": 2},
                 {"Age at Referral": "age", "IPS Referral Date": "first_contact_date", "Discharge Date": "discharge_date"},
                 ["skipped 1 row(s) after the last data row", "'Grand Total"])


SHAPES = (rio, systmone, epic, carenotes)


def make(folder: Path) -> dict[str, Shape]:
    """Every shape's files in `folder`, the same bytes each time."""
    rng = np.random.default_rng(SEED)
    return {shape.__name__: shape(folder, rng) for shape in SHAPES}
