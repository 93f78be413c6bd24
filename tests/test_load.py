"""Loading: clean typed data for a good extract; for bad input every problem named by file, row, column,
what was found and what was expected, through the command line with exit code 2 and no traceback."""
from pathlib import Path

import pandas as pd
import pytest

from analysis.cli import main
from analysis.data.load import InputError, load_extract
from analysis.data.references import load_reference

GOOD = ("person_id,first_contact_date,age,gender,ethnicity,diagnosis,outcome,outcome_date,discharge_date\n"
        "A1,2022-05-01,30,Female,White,Psychosis,gained_employment,2022-09-01,2023-01-10\n"
        "A2,2022-06-01,45,Male,Black,Bipolar,none,,\n"
        "A3,2022-07-01,22,Other,Not known,Other,education,2022-07-01,2022-07-01\n")


def write(tmp_path: Path, text: str, name: str = "extract.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def test_a_good_extract_loads_typed(tmp_path):
    data = load_extract(write(tmp_path, GOOD), "2024-02-27")
    assert data["first_contact_date"].dtype == "datetime64[ns]"
    assert data["age"].dtype == "int64"
    assert list(data["age_band"].astype(str)) == ["25-34", "45-54", "18-24"]
    assert pd.isna(data.loc[1, "outcome_date"]) and pd.isna(data.loc[1, "discharge_date"])


def test_a_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert len(load_extract(path)) == 3


BAD = [
    ("unparseable date", GOOD.replace("2022-05-01", "01/05/2022"),
     "row 2, column 'first_contact_date': found '01/05/2022'; expected a date as YYYY-MM-DD"),
    ("impossible age", GOOD.replace(",45,", ",450,"),
     "row 3, column 'age': found '450'; expected an age from 14 to 100"),
    ("unknown code", GOOD.replace("Black", "B"),
     "row 3, column 'ethnicity': found 'B'; expected one of: White, Mixed, Asian, Black, Other, Not known"),
    ("one person, two rows on one date", GOOD.replace("A2,2022-06-01", "A1,2022-05-01"),
     "row 3, column 'person_id': found 'A1'; expected one row per person_id and first_contact_date: a person's "
     "episodes start on different dates (row 2 has the same person and date)"),
    ("outcome without a date", GOOD.replace("gained_employment,2022-09-01", "gained_employment,"),
     "row 2, column 'outcome_date': found a blank cell; expected the date of the outcome"),
    ("date without an outcome", GOOD.replace("none,,", "none,2022-07-01,"),
     "row 3, column 'outcome_date': found '2022-07-01'; expected a blank cell, as the outcome is none"),
    ("outcome before first contact", GOOD.replace("2022-09-01", "2022-04-01"),
     "row 2, column 'outcome_date': found '2022-04-01'; expected a date on or after first_contact_date"),
    ("discharge before outcome", GOOD.replace("2023-01-10", "2022-08-01"),
     "row 2, column 'discharge_date': found '2022-08-01'; expected a date on or after outcome_date"),
    ("date after the extract date", GOOD.replace("2023-01-10", "2024-03-01"),
     "row 2, column 'discharge_date': found '2024-03-01'; expected a date on or before the extract date 2024-02-27"),
    ("missing column", GOOD.replace(",diagnosis", ",diagnosis_group"),
     "row 1, column 'diagnosis': found no such column"),
    ("empty file", "", "found an empty file; expected a header row and data rows"),
    ("header only", GOOD.splitlines()[0] + "\n", "found a header but no data rows"),
]


@pytest.mark.parametrize("name, text, message", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_named_precisely_with_no_traceback(tmp_path, capsys, name, text, message):
    path = write(tmp_path, text)
    with pytest.raises(InputError) as caught:
        load_extract(path, "2024-02-27")
    assert message in caught.value.message()
    assert str(path) in caught.value.message()
    assert main(["validate", str(path), "--extract-date", "2024-02-27"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_damaged_gzip_file_is_named(tmp_path, capsys):
    path = tmp_path / "extract.csv.gz"
    path.write_bytes(b"person_id,age\nA1,30\n")  # plain text under a .gz name
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}: found a damaged gzip file" in err and "expected a CSV file compressed with gzip" in err
    assert "Traceback" not in err


def test_every_problem_is_reported_at_once(tmp_path):
    text = GOOD.replace(",45,", ",abc,").replace("Psychosis", "Schizophrenia").replace("2022-06-01", "yesterday")
    with pytest.raises(InputError) as caught:
        load_extract(write(tmp_path, text))
    columns = [p.column for p in caught.value.problems]
    assert columns == ["diagnosis", "first_contact_date", "age"]


def test_reference_table_with_a_bad_count(tmp_path):
    path = write(tmp_path, "characteristic,category,count\nethnicity,White,12.5\nethnicity,Purple,3\n", "ref.csv")
    with pytest.raises(InputError) as caught:
        load_reference(path)
    text = caught.value.message()
    assert "row 2, column 'count': found '12.5'; expected a whole number of people, 0 or more" in text
    assert "row 3, column 'category': found 'Purple'" in text


def test_cells_padded_with_any_unicode_space_are_trimmed(tmp_path):
    """Spaces, tabs, no-break and ideographic spaces round a cell are removed, as pyarrow's utf8 trim does; a
    column with nothing to trim is kept as read."""
    padded = GOOD.replace("A1,", "\u00a0A1\t,").replace(",Female,", ", Female\u3000,").replace(",45,", ",45 ,")
    clean, trimmed = load_extract(write(tmp_path, GOOD), "2024-02-27"), load_extract(write(tmp_path, padded, "p.csv"), "2024-02-27")
    pd.testing.assert_frame_equal(clean, trimmed)


def test_dates_are_read_exactly_as_pandas_reads_them():
    """The pyarrow date path gives pandas' to_datetime(format='%Y-%m-%d') answer on every kind of cell,
    including those pyarrow alone gets wrong (2022-02-30 is not 2 March)."""
    from analysis.data.load import _parse_iso_dates

    cells = ["2022-03-05", "2022-3-5", "2022-02-30", "2023-02-29", "2024-02-29", "", "20220305", "2022-03-05T00:00",
             "0022-03-05", "1899-12-31", "2200-01-01", "9999-12-31", "soon", "2022-13-01", "2022-00-10", "05/03/2022"]
    text = pd.Series(cells * 3, dtype="string[pyarrow]")
    expected = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
    pd.testing.assert_series_equal(_parse_iso_dates(text), expected)


def test_a_copied_row_is_left_out_and_a_clash_beside_it_still_named(tmp_path):
    """The rows whose person_id repeats are found once, before copies are left out: a person whose second
    row was only a copy loads, and a clash between a person's other rows is named by its rows."""
    rows = GOOD.splitlines(keepends=True)
    clash = "A2,2022-06-01,45,Male,Black,Bipolar,education,2022-07-01,2022-08-01\n"  # row 6: A2's row 3, changed
    text = rows[0] + rows[1] + rows[1] + rows[2] + rows[3] + clash  # row 3 copies row 2
    with pytest.raises(InputError) as caught:
        load_extract(write(tmp_path, text), "2024-02-27")
    problems = caught.value.problems
    assert [(p.row, p.column) for p in problems] == [(6, "person_id")]
    assert "(row 4 has the same person and date)" in problems[0].expected
    assert len(load_extract(write(tmp_path, text.replace(clash, "")), "2024-02-27")) == 3
