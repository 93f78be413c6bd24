"""Reading exports as systems write them (#23), piece by piece: the table found in the file, dates in
their forms, the NHS code lists, case-load tables in their shapes, episodes, the mapping's own checks and
the template's proposals. Each case names exactly what must come out."""
from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import yaml
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.cli import main
from analysis.data.codes import preset
from analysis.data.dates import detect, to_iso
from analysis.core.errors import InputError
from analysis.data.load import apply_entry_window, load_extract
from analysis.data.references import load_references
from analysis.data.mapping import load_mapping

HEADER = "person_id,first_contact_date,age,gender,ethnicity,diagnosis,outcome,outcome_date,discharge_date"
ROWS = ["A1,2022-05-01,30,Female,White,Psychosis,gained_employment,2022-09-01,2023-01-10",
        "A2,2022-06-01,45,Male,Black,Bipolar,none,,",
        "A3,2022-07-01,22,Other,Not known,Other,education,2022-07-01,2022-07-01"]


def write(folder: Path, text: str, name: str = "extract.csv") -> Path:
    (folder / name).write_text(text)
    return folder / name


def problems(call) -> str:
    with pytest.raises(InputError) as caught:
        call()
    return caught.value.message()


def cli(*args) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main([str(a) for a in args])
    return code, err.getvalue()


# --- the table in the file --------------------------------------------------------------------------------

BANNERED = ("IPS Caseload Report,,,,,,,,\nRun on 03/10/2022 08:14 by Performance Team\n\n" + HEADER + "\n"
            + ROWS[0] + "\n" + ROWS[1].replace(",45,", ",450,") + "\n\n" + ROWS[2].replace(",22,", ",abc,")
            + "\n,,,,,,,,\nTotal records: 3\n")


def test_rows_are_named_by_their_line_in_the_file_below_a_banner_and_across_a_blank_line(tmp_path):
    """The header is line 4, the data lines 5, 6 and 8 (line 7 is blank), the footer lines 9-10."""
    message = problems(lambda: load_extract(write(tmp_path, BANNERED)))
    assert "row 6, column 'age': found '450'" in message
    assert "row 8, column 'age': found 'abc'" in message


def test_what_was_skipped_is_said(tmp_path):
    fixed = BANNERED.replace(",450,", ",45,").replace(",abc,", ",22,")
    code, err = cli("validate", write(tmp_path, fixed))
    assert code == 0, err
    assert ("the header is row 4; skipped 3 row(s) above it: 'IPS Caseload Report'; 'Run on 03/10/2022 08:14 by "
            "Performance Team'") in err
    assert "skipped 2 row(s) after the last data row (rows 9-10: 'Total records: 3')" in err


def test_header_row_in_the_mapping_overrides_the_detection(tmp_path):
    """A criteria row that fills every column looks like a header; header_row says which row is."""
    text = "Report,Team,From,To,Status,Source,Run,By,Notes\n" + HEADER + "\n" + "\n".join(ROWS) + "\n"
    path = write(tmp_path, text)
    assert "row 1, column 'Report': found a column the contract does not have" in problems(lambda: load_extract(path))
    (tmp_path / "map.yaml").write_text("header_row: 2\n")
    assert len(load_extract(path, mapping=load_mapping(tmp_path / "map.yaml"))) == 3


def test_the_sheet_with_the_table_is_read_unless_the_mapping_names_one(tmp_path):
    book = openpyxl.Workbook()
    book.active.title = "Cover"
    book.active.append(["About this extract"])
    data = book.create_sheet("Data")
    for line in [HEADER, *ROWS]:
        data.append(line.split(","))
    book.create_sheet("Small").append(["a", "b"])
    book.save(tmp_path / "book.xlsx")
    assert len(load_extract(tmp_path / "book.xlsx")) == 3
    (tmp_path / "map.yaml").write_text("sheet: Small\n")
    assert "book.xlsx: found a header but no data rows" in problems(lambda: load_extract(tmp_path / "book.xlsx",
                                                             mapping=load_mapping(tmp_path / "map.yaml")))
    (tmp_path / "map.yaml").write_text("sheet: Missing\n")
    assert ("found no sheet 'Missing'; expected one of its sheets (sheet in the mapping): 'Cover', 'Data', 'Small'"
            in problems(lambda: load_extract(tmp_path / "book.xlsx", mapping=load_mapping(tmp_path / "map.yaml"))))


# --- dates --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("form, cells, read", [
    ("%Y-%m-%d", ["2021-01-02 10:00:00.000", "2021-01-02T10:00:00Z", "2021-01-02T10:00:00+01:00", "2021-01-02 10:00",
                  "2021-01-02 10:00:00,5", "2021-01-02 10:00 PM", "44562", "44562.75", "", "soon", "2021-01-02 25:00",
                  "02/01/2021"],
     ["2021-01-02"] * 6 + ["2022-01-01", "2022-01-01", "", "soon", "2021-01-02 25:00", "02/01/2021"]),
    ("%d/%m/%Y", ["02/01/2021", "02/01/2021 10:00", "02/01/2021 10:00:00.123", "2021-01-02", "44652", "13/13/2021"],
     ["2021-01-02", "2021-01-02", "2021-01-02", "2021-01-02", "2022-04-01", "13/13/2021"]),
    ("%d/%m/%Y %H:%M", ["02/01/2021 10:00", "02/01/2021", "2/1/2021 9:05"], ["2021-01-02"] * 3),
    ("%Y-%m-%d %H:%M:%S.%f", ["2021-01-02 10:00:00.000", "2021-01-02"], ["2021-01-02"] * 2),
])
def test_dates_as_systems_write_them(form, cells, read):
    assert list(to_iso(pd.Series(cells, dtype="string[pyarrow]"), form)) == read


@pytest.mark.parametrize("cells, form, comment", [
    (["2021-01-02 10:00:00.000", "2022-03-04 11:30:00.250"], "%Y-%m-%d %H:%M:%S.%f", "the time after each date is read"),
    (["2021-01-02T10:00:00Z", "2022-03-04T11:30:00Z"], "%Y-%m-%dT%H:%M:%SZ", "every date found reads as"),
    (["23/12/2022 10:00", "24/12/2022"], "%d/%m/%Y", "with a time after the date: 1, read and dropped"),
    (["44652", "44653"], "%Y-%m-%d", "every date is an Excel day number"),
])
def test_the_template_finds_the_format_that_reads_every_value_time_included(cells, form, comment):
    found, why = detect(pd.Series(cells))
    assert found == form and comment in why
    assert to_iso(pd.Series(cells), found).str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()


def test_a_date_that_cannot_be_read_is_named_with_the_format_expected(tmp_path):
    text = HEADER + "\n" + "\n".join(ROWS).replace("2022-05-01", "01/05/2022 10:00").replace("2022-06-01", "31/02/2022")
    (tmp_path / "map.yaml").write_text('date_format: "%d/%m/%Y"\n')
    message = problems(lambda: load_extract(write(tmp_path, text + "\n"), mapping=load_mapping(tmp_path / "map.yaml")))
    assert "row 3, column 'first_contact_date': found '31/02/2022'; expected a date as DD/MM/YYYY" in message
    assert "row 2" not in message


# --- code lists -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, cells, read", [
    ("nhs_ethnic_category", ["A", "a", "A - White British", "A: White British", "White - British", "White British",
                             "British", "Not stated", "99", "", "N", "Black or Black British - African", "Q"],
     ["White"] * 7 + ["Not known"] * 3 + ["Black", "Black", "Q"]),
    ("nhs_person_stated_gender", ["1", "2", "9", "X", "Indeterminate", "Not Known", "Male", "0"],
     ["Male", "Female", "Other", "Not known", "Other", "Not known", "Male", "0"]),
    ("nhs_gender_identity", ["1", "2", "3", "4", "X", "Z", "Non-binary"],
     ["Male", "Female", "Other", "Other", "Not known", "Not known", "Other"]),
    ("icd10_f_chapter", ["F20.0", "F200", "f20.0", "F20.0 Paranoid schizophrenia", "F31.6", "F33.2", "F43.1", "F60.3",
                         "F61", "F10.2", "F99", "", "G30", "Schizophrenia"],
     ["Psychosis"] * 4 + ["Bipolar", "Depression or anxiety", "Depression or anxiety", "Personality disorder",
                          "Personality disorder", "Other", "Other", "Not known", "G30", "Schizophrenia"]),
])
def test_the_nhs_code_lists_read_codes_codes_with_descriptions_and_descriptions(name, cells, read):
    from analysis.core import contract as C

    rule = preset(name)
    rule.allowed = C.FACTORS["gender" if "gender" in name else "diagnosis" if "icd" in name else "ethnicity"]
    assert list(rule.map(pd.Series(cells, dtype="string[pyarrow]"))) == read


def test_a_mapping_names_a_preset_and_overrides_single_codes(tmp_path):
    (tmp_path / "map.yaml").write_text("values:\n  diagnosis: {preset: icd10_f_chapter, codes: {F99: Not known},\n"
                                       "              prefixes: {F4: Other}}\n  ethnicity: nhs_ethnic_category\n")
    mapping = load_mapping(tmp_path / "map.yaml")
    assert [mapping.values["diagnosis"](c) for c in ("F99", "F41.1", "F32", "F20")] == [
        "Not known", "Other", "Depression or anxiety", "Psychosis"]
    assert mapping.values["ethnicity"]("K") == "Asian"


def test_the_code_lists_are_package_data():
    import tomllib

    from analysis.data.codes import CODE_LISTS, PRESETS

    config = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())
    setuptools = config["tool"]["setuptools"]
    assert "analysis.data" in setuptools["packages"] and setuptools["package-data"]["analysis.data"] == ["code_lists/*.csv"]
    assert CODE_LISTS.parent.name == "data" and (CODE_LISTS.parent / "codes.py").exists()
    assert set(PRESETS) == {"nhs_ethnic_category", "nhs_person_stated_gender", "nhs_gender_identity", "icd10_f_chapter"}
    assert {p.parent.name for p in CODE_LISTS.glob("*.csv")} == {"code_lists"}


# --- case-load tables --------------------------------------------------------------------------------------------

WANTED = pd.DataFrame({"characteristic": "ethnicity", "category": ["White", "Black", "Not known"],
                       "count": [4030, 620, 70]})


@pytest.mark.parametrize("text, spec", [
    ("characteristic,category,count\nethnicity,A - White British,4000\nethnicity,B - White Irish,30\n"
     "ethnicity,N - Black or Black British African,620\nethnicity,Z - Not stated,70\n", ""),
    ('Ethnicity (NHS category),Adults on CMHT caseload at 31/12/2021\nWhite - British,"4,000"\nWhite - Irish,30\n'
     "Black or Black British - African,620\nNot stated,70\nTotal,\"4,720\"\n", ""),
    ("Open CMHT caseload\nEthnic Category,Ethnic Category Description,Open CMHT Caseload\nA,White - British,4000\n"
     "BX,White - Irish,30\nN,Black or Black British - African,620\n99,Not known,70\n", "ethnicity="),
    ("Group,People\nWhite,4030\nBlack,620\nNot known,70\n", "ethnicity="),
])
def test_a_case_load_table_in_its_usual_shapes_reads_as_the_contract(tmp_path, text, spec):
    read = load_references([spec + str(write(tmp_path, text, "cmht.csv"))])
    pd.testing.assert_frame_equal(read, WANTED)


def test_a_case_load_table_that_cannot_be_read_says_what_would_do(tmp_path):
    two = write(tmp_path, "Group,People,Percent\nWhite,4030,87\nBlack,620,13\n", "two.csv")
    assert ("found 2 columns of whole numbers (People, Percent); expected the columns characteristic,category,count; "
            "or a table of one characteristic with one column of counts") in problems(lambda: load_references(
                ["ethnicity=" + str(two)]))
    untold = write(tmp_path, "Group,People\nWhite,4030\n", "untold.csv")
    assert "expected --reference CHARACTERISTIC=FILE" in problems(lambda: load_references([str(untold)]))
    both = write(tmp_path, "Ethnicity,People\nWhite,4030\n", "both.csv")
    assert "found ethnicity counts, as" in problems(lambda: load_references([str(both), "ethnicity=" + str(both)]))


def test_the_need_table_is_read_by_its_own_section_of_the_mapping(tmp_path):
    (tmp_path / "map.yaml").write_text("reference: {count: Caseload}\nneed: {characteristic: ethnicity, category: Code,"
                                       " count: Want work}\n")
    mapping = load_mapping(tmp_path / "map.yaml")
    need = write(tmp_path, "Code,Caseload,Want work\nA,4000,400\nN,620,90\n", "need.csv")
    read = load_references([str(need)], mapping, mapping.need)
    assert list(read["count"]) == [400, 90] and list(read["category"]) == ["White", "Black"]


# --- episodes -----------------------------------------------------------------------------------------------------

def test_the_window_comes_first_then_one_episode_per_person(tmp_path):
    rows = ROWS + ["A1,2022-03-01,30,Female,White,Psychosis,none,,",  # before the window
                   "A2,2022-08-01,45,Male,Black,Bipolar,none,,",  # a later episode inside it
                   "A3,2023-06-01,23,Other,Not known,Other,none,,"]  # after it
    data = load_extract(write(tmp_path, HEADER + "\n" + "\n".join(rows) + "\n"), "2024-02-27")
    for rule, a2 in (("first", "2022-06-01"), ("last", "2022-08-01")):
        kept, flow = apply_entry_window(data, "2022-04-01", "2023-03-31", rule)
        assert sorted(kept["person_id"]) == ["A1", "A2", "A3"]
        assert f"{kept.loc[kept['person_id'] == 'A2', 'first_contact_date'].iloc[0]:%Y-%m-%d}" == a2
        assert list(flow["rows"]) == [1, 1, 1, 3]


def test_repeated_problems_of_one_kind_are_one_summary_line(tmp_path):
    """Thirty rows that clash with earlier rows name thirty different earlier rows: still one kind."""
    rows = [f"P{i},2022-05-01,30,Female,White,Psychosis,none,," for i in range(30)]
    clash = [r.replace("Female", "Male") for r in rows]
    message = problems(lambda: load_extract(write(tmp_path, HEADER + "\n" + "\n".join(rows + clash) + "\n")))
    lines = message.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{tmp_path / 'extract.csv'}, column 'person_id': 30 problem(s), "
                                                   "expected one row per person_id and first_contact_date")


def test_validate_says_how_many_people_have_more_than_one_episode_and_writes_an_empty_problems_file(tmp_path):
    rows = ROWS + ["A2,2022-08-01,45,Male,Black,Bipolar,none,,", ROWS[0]]
    code, err = cli("validate", write(tmp_path, HEADER + "\n" + "\n".join(rows) + "\n"), "--problems", tmp_path / "p.csv")
    assert code == 0, err
    assert "1 row(s) repeat an earlier row in every analysed column (row(s) 6)" in err
    assert "1 person_id(s) have more than one episode" in err
    assert (tmp_path / "p.csv").read_text() == "file,row,column,contract_column,found,expected\n"


# --- the mapping's own checks and the template ---------------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ("ignore_columns: Notes\n", "column 'ignore_columns': found 'Notes'; expected a list of the file's column names"),
    ("header_row: five\n", "column 'header_row': found 'five'; expected the header's row number"),
    ('date_format: "%Q"\n', "column 'date_format': found '%Q', which cannot read dates"),
    ("date_format: dd/mm/yyyy\n", "found 'dd/mm/yyyy'; expected a date format with a day (%d) and a year"),
    ("values: {gender: {preset: nope}}\n", "column 'values: gender: preset': found 'nope'; expected one of: "
     "icd10_f_chapter, nhs_ethnic_category, nhs_gender_identity, nhs_person_stated_gender"),
    ("values: {gender: [1, 2]}\n", "column 'values: gender': found a list; expected a preset's name or a table of codes"),
    ("reference: {characteristic: sex}\n", "column 'reference: characteristic': found 'sex'; expected one of: ethnicity"),
    ("columns: {Sex: [gender]}\n", "column 'columns: Sex': found a list; expected a table of the file's column names"),
])
def test_a_mistake_in_the_mapping_says_where_and_what_was_expected(tmp_path, text, message):
    (tmp_path / "map.yaml").write_text(text)
    assert message in problems(lambda: load_mapping(tmp_path / "map.yaml"))


def test_mapping_values_are_read_as_written(tmp_path):
    (tmp_path / "map.yaml").write_text("null_values: [NULL, No]\nvalues: {gender: {01: Male, 02: Female}}\n")
    mapping = load_mapping(tmp_path / "map.yaml")
    assert mapping.null_values == ["NULL", "No"] and set(mapping.values["gender"].codes) == {"01", "02"}


def test_the_template_proposes_obvious_names_when_the_values_fit_and_warns_about_names(tmp_path):
    text = ("Patient Ref,Referral Date,Age (yrs),Age Group,,Team,Team\n"
            "R1,2022-04-01 10:00:00.000,34,Adult,x,North,N\nR2,2022-05-01 11:00:00.000,51,Adult,y,South,S\n")
    code, err = cli("mapping-template", write(tmp_path, text), "--out", tmp_path / "map.yaml")
    template = (tmp_path / "map.yaml").read_text()
    assert code == 0
    assert "\n  Patient Ref: person_id\n" in template and "\n  Age (yrs): age\n" in template
    assert "\n  Referral Date: first_contact_date\n" in template and "Age Group: age" not in template
    assert 'date_format: "%Y-%m-%d %H:%M:%S.%f"' in template
    assert "column E has values but no name in the header row; called '(column E)'" in err
    assert "the column name 'Team' is used 2 times" in err
    assert "\n  Team:" not in template and "''" not in template


def test_the_template_prefers_the_first_contact_to_the_referral_and_knows_other_systems_names(tmp_path):
    """A Lorenzo-style episode listing: its own column names, a referral date beside the first contact, and a
    count line as its footer ("Records: 2"), which is skipped and said."""
    text = ("IPS - Episode Listing\nGenerated 05/03/2024 07:02 by BI Team\n\n"
            "Client ID,Referral Date,First Seen,Age at First Seen,Primary Dx,Closure Reason,Job/Course Start,"
            "Closed On,Team\n"
            "L1,29/03/2022,01-Apr-2022 14:15,20,F250,Gained paid employment,11-Jun-2022,25-Sep-2022,North\n"
            "L2,19/03/2022,02-Apr-2022 09:45,65,F319,Other,,07-May-2023,South\nRecords: 2\n")
    code, err = cli("mapping-template", write(tmp_path, text), "--out", tmp_path / "map.yaml")
    template = (tmp_path / "map.yaml").read_text()
    assert code == 0, err
    for line in ("First Seen: first_contact_date", "Age at First Seen: age", "Primary Dx: diagnosis",
                 "Closure Reason: outcome", "Job/Course Start: outcome_date", "Closed On: discharge_date"):
        assert f"\n  {line}\n" in template, line
    assert "\n  Referral Date: first_contact_date\n" not in template and "\n  - Referral Date\n" in template
    assert "skipped 1 row(s) after the last data row (row 7: 'Records: 2')" in err


def test_the_template_gives_each_date_column_its_format_when_no_one_format_reads_them_all(tmp_path):
    text = ("Client ID,Referral Date,Discharge Date,Age\n"
            "L1,29/03/2022,25-Sep-2022,30\nL2,19/03/2022,07-May-2023,41\n")
    code, err = cli("mapping-template", write(tmp_path, text), "--out", tmp_path / "map.yaml")
    template = (tmp_path / "map.yaml").read_text()
    assert code == 0, err
    assert "no common format reads every date" in template
    assert '\n  Referral Date: "%d/%m/%Y"' in template and '\n  Discharge Date: "%d-%b-%Y"' in template
    mapping = yaml.safe_load(template)
    assert mapping["date_formats"] == {"Referral Date": "%d/%m/%Y", "Discharge Date": "%d-%b-%Y"}


def _window_as_pandas_says(data, entry_from, entry_to, episode):
    """The entry window and episode rule in plain pandas (the rule as first written): apply_entry_window's
    reference."""
    first = data["first_contact_date"]
    start = pd.Timestamp(entry_from) if entry_from else first.min()
    end = pd.Timestamp(entry_to) if entry_to else first.max()
    inside = data[(first >= start) & (first <= end)]
    other = inside.sort_values("first_contact_date", kind="stable")["person_id"].duplicated(keep=episode)
    return inside[~other.reindex(inside.index)].reset_index(drop=True), int(other.sum())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 40)), min_size=1, max_size=40),
       st.sampled_from(["first", "last"]), st.sampled_from([(None, None), ("2022-04-10", "2022-05-01")]),
       st.sampled_from(["not told", "exactly", "every row"]))
def test_the_entry_window_keeps_the_rows_plain_pandas_keeps(people, episode, window, told):
    """Any extract (people with several episodes, ties on a date, rows outside the window), with and without
    the loader's list of rows whose person_id may repeat (exact, or more than repeat): the same rows, in the
    same order, the same counts."""
    data = pd.DataFrame({"person_id": [f"P{p}" for p, _ in people],
                         "first_contact_date": [pd.Timestamp("2022-04-01") + pd.Timedelta(days=d) for _, d in people],
                         "row": range(len(people))}, index=range(100, 100 + len(people)))
    repeated = {"not told": None, "exactly": data["person_id"].duplicated(keep=False).to_numpy(),
                "every row": np.ones(len(data), dtype=bool)}[told]
    kept, flow = apply_entry_window(data, *window, episode, repeated)
    expected, others = _window_as_pandas_says(data, *window, episode)
    pd.testing.assert_frame_equal(kept, expected)
    assert flow["rows"].iloc[2] == others and flow["rows"].iloc[:3].sum() + len(kept) == len(data)
