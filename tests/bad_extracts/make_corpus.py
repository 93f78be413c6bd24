"""Write the corpus of bad extracts and expected.csv (file, extra arguments, the exact expected line).

Each case is a small edit of one good three-row extract, so each file has exactly one thing wrong. The
expected messages are written here by hand: the test checks the program says exactly this.
Run: python tests/bad_extracts/make_corpus.py
"""
import csv
from pathlib import Path

HERE = Path(__file__).resolve().parent
HEADER = "person_id,first_contact_date,age,gender,ethnicity,diagnosis,outcome,outcome_date,discharge_date"
ROWS = ["A1,2022-05-01,30,Female,White,Psychosis,gained_employment,2022-09-01,2023-01-10",
        "A2,2022-06-01,45,Male,Black,Bipolar,none,,",
        "A3,2022-07-01,22,Other,Not known,Other,education,2022-07-01,2022-07-01"]
GOOD = HEADER + "\n" + "\n".join(ROWS) + "\n"


def edit(old: str, new: str, text: str = GOOD) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def add_column(name: str, values: list[str]) -> str:
    lines = [HEADER + "," + name] + [r + "," + v for r, v in zip(ROWS, values)]
    return "\n".join(lines) + "\n"


def nhs_number(stem: str) -> str:
    """Nine digits plus the modulus 11 check digit (stems chosen so the check digit is not 10)."""
    total = sum(int(d) * w for d, w in zip(stem, range(10, 1, -1)))
    check = (11 - total % 11) % 11
    assert check != 10
    return stem + str(check)


NHS = [nhs_number(s) for s in ("943476591", "401023213", "987654321")]
MAPPING_BAD_TARGET = "columns:\n  Client: person_ident\n"
MAPPING_GENDER = ("columns:\n  Gender Code: gender\nvalues:\n  gender: {\"1\": Male, \"2\": Female}\n")
EXPECTED = ": found {}; expected {}"

CASES = [
    # name, content (str or bytes), extra args, expected message (after the file name)
    ("empty.csv", "", [], ": found an empty file; expected a header row and data rows"),
    ("header_only.csv", HEADER + "\n", [], ": found a header but no data rows; expected one row per IPS episode"),
    ("binary.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", [],
     ": found binary content (NUL bytes); expected a text CSV file, .xlsx or .parquet"),
    ("prose.csv", "This is a letter, not a table.\nDear colleague\n", [],
     ", row 2: found 1 field(s); expected 2 fields, as in the header row"),
    ("one_column.csv", "hello\nworld\n", [], ": found 1 column(s): not a table of IPS episodes; expected "
     "comma-separated columns with a header row"),
    ("missing_column.csv", edit(",diagnosis,", ",diagnosis_group,", GOOD), [],
     ", row 1, column 'diagnosis': found no such column; expected the contract's columns: person_id, "
     "first_contact_date, age, gender, ethnicity, diagnosis, outcome, outcome_date, discharge_date, site"),
    ("duplicated_column.csv", add_column("age", ["31", "46", "23"]), [],
     ", row 1, column 'age': found the column more than once; expected each column once"),
    ("extra_column.csv", add_column("notes", ["x", "y", "z"]), [],
     ", row 1, column 'notes': found a column the contract does not have; expected only the contract's columns "
     "(person_id, first_contact_date, age, gender, ethnicity, diagnosis, outcome, outcome_date, discharge_date, "
     "site); map it to one or list it under ignore_columns in a mapping file"),
    # A person may have several episodes; two rows of one person starting on one day cannot both be right.
    ("same_person_same_date.csv", edit("A2,2022-06-01", "A1,2022-05-01"), [],
     ", row 3, column 'person_id': found 'A1'; expected one row per person_id and first_contact_date: a person's "
     "episodes start on different dates (row 2 has the same person and date)"),
    ("blank_id.csv", edit("A2,", ","), [], ", row 3, column 'person_id': found a blank cell; expected a pseudonymous identifier"),
    ("date_wrong_format.csv", edit("2022-05-01", "01/05/2022"), [],
     ", row 2, column 'first_contact_date': found '01/05/2022'; expected a date as YYYY-MM-DD"),
    ("date_impossible.csv", edit("2022-06-01", "2022-02-30"), [],
     ", row 3, column 'first_contact_date': found '2022-02-30'; expected a date as YYYY-MM-DD"),
    ("date_blank_first_contact.csv", edit("A2,2022-06-01", "A2,"), [],
     ", row 3, column 'first_contact_date': found a blank cell; expected a date as YYYY-MM-DD (this column may not be blank)"),
    ("outcome_date_text.csv", edit("2022-09-01", "soon"), [],
     ", row 2, column 'outcome_date': found 'soon'; expected a date as YYYY-MM-DD"),
    ("discharge_month_13.csv", edit("2023-01-10", "2023-13-01"), [],
     ", row 2, column 'discharge_date': found '2023-13-01'; expected a date as YYYY-MM-DD"),
    ("outcome_before_first_contact.csv", edit("2022-09-01", "2022-04-01"), [],
     ", row 2, column 'outcome_date': found '2022-04-01'; expected a date on or after first_contact_date"),
    ("discharge_before_first_contact.csv", edit("none,,", "none,,2022-05-01"), [],
     ", row 3, column 'discharge_date': found '2022-05-01'; expected a date on or after first_contact_date"),
    ("discharge_before_outcome.csv", edit("2023-01-10", "2022-08-01"), [],
     ", row 2, column 'discharge_date': found '2022-08-01'; expected a date on or after outcome_date"),
    ("first_contact_after_extract.csv", edit("A2,2022-06-01", "A2,2024-06-01"), [],
     ", row 3, column 'first_contact_date': found '2024-06-01'; expected a date on or before the extract date 2024-02-27"),
    ("outcome_after_extract.csv", edit("2022-09-01,2023-01-10", "2024-03-01,"), [],
     ", row 2, column 'outcome_date': found '2024-03-01'; expected a date on or before the extract date 2024-02-27"),
    ("discharge_after_extract.csv", edit("2023-01-10", "2024-12-25"), [],
     ", row 2, column 'discharge_date': found '2024-12-25'; expected a date on or before the extract date 2024-02-27"),
    ("job_without_date.csv", edit("gained_employment,2022-09-01", "gained_employment,"), [],
     ", row 2, column 'outcome_date': found a blank cell; expected the date of the outcome "
     "(gained_employment/retained_employment/education)"),
    ("retained_without_date.csv", edit("gained_employment,2022-09-01", "retained_employment,"), [],
     ", row 2, column 'outcome_date': found a blank cell; expected the date of the outcome "
     "(gained_employment/retained_employment/education)"),
    ("education_without_date.csv", edit("education,2022-07-01", "education,"), [],
     ", row 4, column 'outcome_date': found a blank cell; expected the date of the outcome "
     "(gained_employment/retained_employment/education)"),
    ("date_without_outcome.csv", edit("none,,", "none,2022-07-01,"), [],
     ", row 3, column 'outcome_date': found '2022-07-01'; expected a blank cell, as the outcome is none"),
    ("unknown_outcome.csv", edit("gained_employment", "employed"), [],
     ", row 2, column 'outcome': found 'employed'; expected one of: gained_employment, retained_employment, education, none"),
    ("unknown_gender.csv", edit("Female", "F"), [],
     ", row 2, column 'gender': found 'F'; expected one of: Female, Male, Other, Not known"),
    ("unknown_ethnicity.csv", edit("White", "British"), [],
     ", row 2, column 'ethnicity': found 'British'; expected one of: White, Mixed, Asian, Black, Other, Not known"),
    ("unknown_diagnosis.csv", edit("Psychosis", "F20"), [],
     ", row 2, column 'diagnosis': found 'F20'; expected one of: Psychosis, Bipolar, Depression or anxiety, "
     "Personality disorder, Other, Not known"),
    ("age_text.csv", edit(",30,", ",thirty,"), [], ", row 2, column 'age': found 'thirty'; expected a whole number of years"),
    ("age_decimal.csv", edit(",30,", ",30.5,"), [], ", row 2, column 'age': found '30.5'; expected a whole number of years"),
    ("age_negative.csv", edit(",30,", ",-3,"), [], ", row 2, column 'age': found '-3'; expected an age from 14 to 100"),
    ("age_150.csv", edit(",45,", ",150,"), [], ", row 3, column 'age': found '150'; expected an age from 14 to 100"),
    ("age_blank.csv", edit(",22,", ",,"), [], ", row 4, column 'age': found a blank cell; expected a whole number of years"),
    ("nhs_number_column.csv", add_column("NHS Number", NHS), [],
     ", row 1, column 'NHS Number': found a column that looks like a direct identifier (an NHS number); expected no "
     "direct identifiers in the extract: remove the column; it is never analysed"),
    ("nhs_numbers_unnamed.csv", add_column("ref", NHS), [],
     ", row 1, column 'ref': found a column that looks like a direct identifier (an NHS number); expected no direct "
     "identifiers in the extract: remove the column; it is never analysed"),
    ("nhs_numbers_as_ids.csv", GOOD.replace("A1,", NHS[0] + ",").replace("A2,", NHS[1] + ",").replace("A3,", NHS[2] + ","), [],
     ", row 1, column 'person_id': found a column that looks like a direct identifier (an NHS number); expected no "
     "direct identifiers in the extract: remove the column; it is never analysed"),
    ("surname_column.csv", add_column("Surname", ["Smith", "Jones", "Patel"]), [],
     ", row 1, column 'Surname': found a column that looks like a direct identifier (a name); expected no direct "
     "identifiers in the extract: remove the column; it is never analysed"),
    ("postcode_column.csv", add_column("Postcode", ["SW17 0QT", "KT1 2EE", "SM1 4AA"]), [],
     ", row 1, column 'Postcode': found a column that looks like a direct identifier (a postcode); expected no "
     "direct identifiers in the extract: remove the column; it is never analysed"),
    ("postcodes_unnamed.csv", add_column("area", ["SW17 0QT", "KT1 2EE", "SM1 4AA"]), [],
     ", row 1, column 'area': found a column that looks like a direct identifier (a postcode); expected no direct "
     "identifiers in the extract: remove the column; it is never analysed"),
    ("date_of_birth_column.csv", add_column("Date of Birth", ["1992-01-01", "1977-03-04", "2000-05-06"]), [],
     ", row 1, column 'Date of Birth': found a column that looks like a direct identifier (a date of birth); "
     "expected no direct identifiers in the extract: remove the column; it is never analysed"),
    ("email_column.csv", add_column("email", ["a@b.nhs.uk", "c@d.nhs.uk", "e@f.nhs.uk"]), [],
     ", row 1, column 'email': found a column that looks like a direct identifier (contact details); expected no "
     "direct identifiers in the extract: remove the column; it is never analysed"),
    ("ragged.csv", GOOD + "A4,2022-07-01,22,Other,Not known,Other,none,,,extra,fields\n", [],
     ", row 5: found 11 field(s); expected 9 fields, as in the header row"),
    ("not_a_workbook.xlsx", "this is not a workbook\n", [],
     ": found a file that is not a readable table (BadZipFile: File is not a zip file); expected a CSV file with a "
     "header row, an .xlsx workbook or a .parquet file"),
    ("mapped_unknown_code.csv", edit("Female", "7", GOOD.replace(",gender,", ",Gender Code,")), ["--mapping", "gender.yaml"],
     ", row 2, column 'Gender Code' (contract column 'gender'): found '7'; expected one of: Female, Male, Other, Not known"),
    ("mapping_bad_target.csv", GOOD, ["--mapping", "bad_target.yaml"],
     "@bad_target.yaml, column 'columns: Client': found 'person_ident'; expected a contract column: person_id, "
     "first_contact_date, age, gender, ethnicity, diagnosis, outcome, outcome_date, discharge_date, site"),
    ("date_time_impossible.csv", edit("2022-05-01", "2022-05-01 25:10"), [],
     ", row 2, column 'first_contact_date': found '2022-05-01 25:10'; expected a date as YYYY-MM-DD"),
    # Below banner rows, the header names two columns alike: a message naming them, not a traceback.
    ("banner_repeated_name.csv", "Caseload report\nRun on 03/10/2022\n" + GOOD.replace(",outcome_date,", ",Date,")
     .replace(",discharge_date", ",Date"), ["--mapping", "dates.yaml"],
     ", row 3, column 'Date': found the column more than once (columns H, I); expected each column once"),
    ("header_row_too_far.csv", GOOD, ["--mapping", "header_row.yaml"],
     ": found no row 40 (the table read has 4 row(s)); expected the header at the row given as header_row in the mapping"),
    ("mapping_list_for_a_table.csv", GOOD, ["--mapping", "columns_list.yaml"],
     "@columns_list.yaml, column 'columns': found a list; expected a table of the file's column names to contract "
     "columns (write a table as {a: b} or one 'a: b' line each)"),
    ("all_outside_window.csv", GOOD, ["--entry-from", "2023-01-01"],
     ", column 'first_contact_date': found no rows in the entry window; expected at least one first contact between "
     "--entry-from and --entry-to"),
]
MAPPINGS = {"gender.yaml": MAPPING_GENDER, "bad_target.yaml": MAPPING_BAD_TARGET,
            "dates.yaml": "columns:\n  Date: outcome_date\n", "header_row.yaml": "header_row: 40\n",
            "columns_list.yaml": "columns: [Client ID, Referral Date]\n"}


def main() -> None:
    for old in HERE.glob("*"):
        if old.name not in ("make_corpus.py", "__pycache__"):
            old.unlink()
    for name, text in MAPPINGS.items():
        (HERE / name).write_text(text)
    with open(HERE / "expected.csv", "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["file", "args", "message"])
        for name, content, args, message in CASES:
            path = HERE / name
            path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
            # The whole line the program prints: the file's name (as given, from the corpus folder) and the problem.
            writer.writerow([name, " ".join(args), message[1:] if message.startswith("@") else name + message])


if __name__ == "__main__":
    main()
