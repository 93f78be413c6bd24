"""No mistake of the user's gives a traceback (#23). For any mapping (keys the loader knows and some it
does not, each with any kind of value: text, numbers, lists, tables, nesting) and any file shape (banner
and footer rows, unnamed and repeated column names, ragged, blank and edited rows, workbooks with more
sheets, text that is not a table), `validate` and `mapping-template` end with a result or a message:
exit 0 or 2, never an exception. A case-load table of any shape is read or refused the same way."""
from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

import openpyxl
import pandas as pd
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from analysis.core import contract as C
from analysis.cli import main
from analysis.data.codes import PRESETS
from analysis.core.errors import InputError
from analysis.data.references import load_references
from analysis.data.mapping import KEYS, RULE_KEYS, TABLE_KEYS, load_mapping

ROOT = Path(__file__).resolve().parent.parent
BASE = pd.read_csv(ROOT / "examples" / "messy_export.csv", dtype=str, keep_default_na=False, encoding="cp1252").iloc[10:22]  # clear of the rows the example spoils on purpose
GOOD_MAPPING = yaml.load((ROOT / "examples" / "messy_mapping.yaml").read_text(), Loader=yaml.BaseLoader)
WORDS = sorted({*BASE.columns, *C.COLUMN_NAMES, *PRESETS, *C.OUTCOMES, *C.FACTORS, *C.GENDERS, *C.ETHNICITIES,
                *KEYS, *RULE_KEYS, *TABLE_KEYS, "%d/%m/%Y", "%Y-%m-%d %H:%M:%S.%f", "%Q", "dd/mm/yyyy", "F20-F29",
                "F31", "", "?", "NULL", "1", "2", "X", "0", "5", "-1", "Total", "Ethnic Category", "count"})
SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 60), st.sampled_from(WORDS), st.text(max_size=6))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(WORDS), inner, max_size=3)), max_leaves=8)


@st.composite
def mappings(draw) -> str:
    """A mapping's text: random keys and values, or the example's good mapping with some keys spoiled, or
    text that is not YAML at all."""
    kind = draw(st.sampled_from(["random", "spoiled", "spoiled", "text"]))
    if kind == "text":
        return draw(st.sampled_from(["columns: [unclosed", "- a\n- b\n", "42\n", "", "? [a, b]: c\n", "{a: b}: c\n",
                                     "columns:\n  x: y\n y: z\n"]))
    spec = dict(GOOD_MAPPING) if kind == "spoiled" else {}
    for key in draw(st.lists(st.sampled_from(sorted(KEYS) + ["colums", "Sheet"]), max_size=4)):
        spec[key] = draw(values)
    if kind == "spoiled" and draw(st.booleans()):
        rules = spec.get("values") if isinstance(spec.get("values"), dict) else {}
        spec["values"] = {**rules, draw(st.sampled_from(WORDS)): draw(values)}
    return yaml.safe_dump(spec, allow_unicode=True)


@st.composite
def tables(draw) -> list[list[str]]:
    """The example export's rows with a report's furniture around them and a few things spoiled."""
    rows = [list(BASE.columns)] + BASE.values.tolist()
    for _ in range(draw(st.integers(0, 3))):
        i, j = draw(st.integers(1, len(rows) - 1)), draw(st.integers(0, len(rows[0]) - 1))
        rows[i][j] = draw(st.sampled_from(["", "31/02/2022", "NULL", "X", "Z99", "2022-04-01T10:00", "44652",
                                           "-4", "RIO100001", "Total"]))
    header = rows[0]
    edit = draw(st.sampled_from(["none", "blank", "repeat", "drop", "none"]))
    if edit == "blank":
        header[draw(st.integers(0, len(header) - 1))] = ""
    elif edit == "repeat":
        header[1] = header[draw(st.integers(2, len(header) - 1))]
    elif edit == "drop":
        gone = draw(st.integers(0, len(header) - 1))
        rows = [r[:gone] + r[gone + 1:] for r in rows]
    if draw(st.booleans()):
        rows.insert(draw(st.integers(1, len(rows))), [""] * len(rows[0]))
    if draw(st.integers(0, 5)) == 0:
        rows.append(["ragged", "row"])
    banner = draw(st.lists(st.sampled_from(["IPS Referrals and Outcomes - Caseload Report", "Run on 03/10/2022 08:14",
                                            "", "Criteria:, all teams", "1,2"]), max_size=4))
    footer = draw(st.lists(st.sampled_from(["Total,540", "", "End of report", "Page 1 of 1", "Notes: none", "Records: 540"]), max_size=3))
    return [b.split(",") for b in banner] + rows + [f.split(",") for f in footer]


def write(folder: Path, rows: list[list[str]], form: str) -> Path:
    if form == "xlsx":
        book = openpyxl.Workbook()
        book.active.title = "Report"
        for row in rows:
            book.active.append(row)
        book.create_sheet("Notes").append(["Produced for the IPS team"])
        book.save(folder / "export.xlsx")
        return folder / "export.xlsx"
    text = "\n".join(",".join(f'"{c}"' if "," in c else c for c in row) for row in rows) + "\n"
    (folder / "export.csv").write_bytes(text.encode("cp1252" if form == "cp1252" else "utf-8"))
    return folder / "export.csv"


def cli(*args) -> int:
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        return main([str(a) for a in args])


@SETTINGS
@given(mapping=mappings(), rows=tables(), form=st.sampled_from(["csv", "cp1252", "xlsx"]))
@example(mapping=yaml.safe_dump(GOOD_MAPPING), rows=[["IPS Referrals and Outcomes - Caseload Report"], [],
                                                       list(BASE.columns), *BASE.values.tolist()], form="xlsx")
def test_any_mapping_and_file_shape_gives_a_result_or_a_message(mapping, rows, form):
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        path = write(folder, rows, form)
        (folder / "map.yaml").write_text(mapping, encoding="utf-8")
        assert cli("validate", path, "--mapping", folder / "map.yaml", "--extract-date", "2024-02-27") in (0, 2)
        assert cli("mapping-template", path, "--out", folder / "template.yaml") in (0, 2)
        if (folder / "template.yaml").exists():  # the template itself loads, or says what to answer
            try:
                load_mapping(folder / "template.yaml")
            except InputError as err:
                assert all(p.found.startswith("the target '?'") for p in err.problems), err.message()


def test_the_example_banner_workbook_no_longer_crashes(tmp_path):
    """The issue's crash: a template written from a workbook whose header sat below banner rows named
    every column '' and validate died in mapping.py with 'DataFrame' object has no attribute 'str'."""
    rows = [["IPS Referrals and Outcomes - Caseload Report"], ["Run on 03/10/2022 08:14 by Performance Team"],
            ["Criteria: referrals 01/04/2022 to 31/03/2023"], [], list(BASE.columns), *BASE.values.tolist()]
    path = write(tmp_path, rows, "xlsx")
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["mapping-template", str(path), "--out", str(tmp_path / "map.yaml")]) == 0
    text = (tmp_path / "map.yaml").read_text()
    assert "''" not in text.split("values:")[0] and "Client ID: person_id" in text
    assert "the header is row 5; skipped 4 row(s) above it" in err.getvalue()
    with contextlib.redirect_stderr(err):
        assert main(["validate", str(path), "--mapping", str(tmp_path / "map.yaml")]) == 2
    assert "found the target '?'" in err.getvalue() and "Traceback" not in err.getvalue()
    assert main(["validate", str(path), "--mapping", str(ROOT / "examples" / "messy_mapping.yaml")]) == 0


@st.composite
def case_loads(draw) -> tuple[list[list[str]], str]:
    """A case-load table in one of its shapes, perhaps spoiled, and the --reference argument naming it."""
    shape = draw(st.sampled_from(["long", "two", "three"]))
    codes = ["A", "B", "H", "N", "S", "Z", "99"]
    if shape == "long":
        rows = [["characteristic", "category", "count"]] + [["ethnicity", f"{c} - x", "10"] for c in codes]
    elif shape == "two":
        rows = [["Ethnicity (NHS category)", "Adults on caseload"]] + [[c, "1,200"] for c in codes]
    else:
        rows = [["Ethnic Category", "Ethnic Category Description", "Open CMHT Caseload"]] + [
            [c + c, "White - British", "7"] for c in codes]
    for _ in range(draw(st.integers(0, 3))):
        i, j = draw(st.integers(0, len(rows) - 1)), draw(st.integers(0, len(rows[0]) - 1))
        rows[i][j] = draw(st.sampled_from(["", "12.5", "-1", "Purple", "gender", "count", "Total", "x,y", "1e3"]))
    rows = draw(st.sampled_from([[], [["CMHT caseload"]]])) + rows + draw(st.sampled_from([[], [["Total", "99"]]]))
    prefix = draw(st.sampled_from(["", "ethnicity=", "gender=", "age_band="]))
    return rows, prefix


@SETTINGS
@given(table=case_loads(), form=st.sampled_from(["csv", "xlsx"]))
def test_any_case_load_table_is_read_into_the_contract_or_refused_with_a_message(table, form):
    rows, prefix = table
    with tempfile.TemporaryDirectory() as folder:
        path = write(Path(folder), rows, form)
        try:
            read = load_references([prefix + str(path)])
        except InputError as err:
            assert err.problems and all(str(path) in str(p) or p.file == str(path) for p in err.problems)
            return
    assert list(read.columns) == ["characteristic", "category", "count"]
    for characteristic, category in zip(read["characteristic"], read["category"]):
        assert category in C.FACTORS[characteristic]
    assert (read["count"] >= 0).all() and not read.duplicated(["characteristic", "category"]).any()
