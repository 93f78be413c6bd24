"""A trust runs it on its own extract: bad input, mappings, formats, exclusions, disclosure control."""
import csv
import gzip
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.cli import main
from analysis.release import COUNT_COLUMNS

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "bad_extracts"
EXAMPLES = ROOT / "examples"
SYNTHETIC = ROOT / "data_synthetic" / "ips_extract.csv"
with open(CORPUS / "expected.csv", newline="") as _handle:
    CASES = list(csv.DictReader(_handle))


def test_the_corpus_has_at_least_40_bad_extracts():
    assert len(CASES) >= 40


@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
def test_bad_extract_gives_its_exact_message_nonzero_exit_no_traceback_no_output(case, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(CORPUS)
    out = tmp_path / "results"
    code = main(["run", case["file"], "--extract-date", "2024-02-27", "--out", str(out)] + case["args"].split())
    err = capsys.readouterr().err
    assert code != 0
    assert case["message"] in err.splitlines(), err
    assert "Traceback" not in err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_validate_reports_every_problem_with_nonzero_exit(capsys, monkeypatch):
    monkeypatch.chdir(CORPUS)
    assert main(["validate", "unknown_gender.csv"]) == 2
    assert "unknown_gender.csv, row 2, column 'gender': found 'F'" in capsys.readouterr().err


def run_key(extract: Path, out: Path, *extra: str) -> bytes:
    assert main(["run", str(extract), "--extract-date", "2024-02-27", "--out", str(out), "--no-figures", *extra]) == 0
    return (out / "key_results.csv").read_bytes()


@pytest.mark.parametrize("disclosure", ["none", "nhs"])
def test_shuffled_reordered_renamed_extract_gives_byte_identical_key_results(tmp_path, disclosure):
    reference = ROOT / "data_synthetic" / "reference_population.csv"
    base = run_key(SYNTHETIC, tmp_path / "a", "--reference", str(reference), "--disclosure", disclosure)
    data = pd.read_csv(SYNTHETIC, dtype=str, keep_default_na=False)
    shuffled = data.sample(frac=1, random_state=3)[list(reversed(data.columns))]
    names = {c: f"Trust {c.replace('_', ' ').title()}" for c in data.columns}
    shuffled.rename(columns=names).to_csv(tmp_path / "trust.csv", index=False)
    (tmp_path / "map.yaml").write_text("columns:\n" + "".join(f"  {v}: {k}\n" for k, v in names.items()))
    variant = run_key(tmp_path / "trust.csv", tmp_path / "b", "--reference", str(reference), "--disclosure", disclosure,
                      "--mapping", str(tmp_path / "map.yaml"))
    assert variant == base


@pytest.mark.parametrize("fmt", ["xlsx", "parquet", "typed.parquet", "cp1252", "utf-16", "csv.gz"])
def test_excel_parquet_and_other_encodings_give_the_same_results(tmp_path, fmt):
    data = pd.read_csv(SYNTHETIC, dtype=str, keep_default_na=False)
    data.loc[0, "site"] = "Sütton"  # a character that differs between encodings
    path = tmp_path / f"extract.{fmt if fmt in ('xlsx', 'parquet', 'typed.parquet', 'csv.gz') else 'csv'}"
    if fmt == "typed.parquet":  # real dates (with NaT), whole numbers, and a float column with a missing value
        typed = data.copy()
        for c in ("first_contact_date", "outcome_date", "discharge_date"):
            typed[c] = pd.to_datetime(typed[c], errors="coerce")
        typed["age"] = typed["age"].astype(float)
        typed.loc[1, "site"] = None
        typed.to_parquet(path, index=False)
        data.loc[1, "site"] = ""
    elif fmt == "xlsx":
        typed = data.copy()
        for c in ("first_contact_date", "outcome_date", "discharge_date"):
            typed[c] = pd.to_datetime(typed[c], errors="coerce")  # real Excel dates, not text
        typed["age"] = typed["age"].astype(int)
        typed.to_excel(path, index=False)
    elif fmt == "parquet":
        data.to_parquet(path, index=False)
    elif fmt == "csv.gz":
        path.write_bytes(gzip.compress(data.to_csv(index=False).encode("utf-8"), mtime=0))
    else:
        path.write_bytes(data.to_csv(index=False).encode(fmt))
    assert run_key(path, tmp_path / "b", "--disclosure", "none") == utf8_key(data, tmp_path)


_UTF8_KEYS: dict[str, bytes] = {}  # key results of each distinct UTF-8 CSV: five of the formats share one


def utf8_key(data: pd.DataFrame, folder: Path) -> bytes:
    """Key results of `data` written as a plain UTF-8 CSV, run once per distinct content in this worker."""
    text = data.to_csv(index=False)
    if text not in _UTF8_KEYS:
        (folder / "utf8.csv").write_text(text, encoding="utf-8")
        _UTF8_KEYS[text] = run_key(folder / "utf8.csv", folder / "c", "--disclosure", "none")
    return _UTF8_KEYS[text]


def test_rows_in_equal_rows_analysed_plus_rows_excluded(tmp_path):
    out = tmp_path / "r"
    assert main(["run", str(EXAMPLES / "trust_extract.csv"), "--mapping", str(EXAMPLES / "trust_mapping.yaml"),
                 "--extract-date", "2024-02-27", "--entry-from", "2022-04-01", "--entry-to", "2023-03-31",
                 "--disclosure", "none", "--no-figures", "--out", str(out)]) == 0
    flow = pd.read_csv(out / "exclusions.csv").set_index("reason")
    read = int(flow.loc[flow["step"] == "read", "rows"].iloc[0])
    assert read == len(pd.read_csv(EXAMPLES / "trust_extract.csv"))
    excluded = int(flow.loc[flow["step"] == "excluded", "rows"].sum())
    analysed = int(flow.loc[flow["step"] == "analysed", "rows"].iloc[0])
    assert excluded == 12 and read == analysed + excluded
    key = pd.read_csv(out / "key_results.csv")
    assert key.loc[key["measure"] == "cohort_n", "value"].iloc[0] == analysed


def count_values(folder: Path) -> list[tuple[str, str, float]]:
    """Every count in every CSV output: the count columns, and the value of count measures."""
    found = []
    for path in folder.glob("*.csv"):
        table = pd.read_csv(path)
        for column in table.columns:
            if column in COUNT_COLUMNS:
                found += [(path.name, column, v) for v in table[column].dropna()]
        if path.name == "key_results.csv":
            counts = table[table["measure"].isin(["cohort_n", "site_jobs_total"])]["value"].dropna()
            found += [(path.name, "value", v) for v in counts]
    return found


def assert_disclosure_safe(folder: Path) -> None:
    for name, column, value in count_values(folder):
        assert not (1 <= value <= 7), (name, column, value)
        assert value % 5 == 0, (name, column, value)


def assert_key_results_hide_what_the_tables_hide(folder: Path) -> None:
    """A group's rate blank in outcome_rates (or the 6-month table) is blank in key_results too, and the
    other way round: otherwise rate x n in one gives back a count the other withheld."""
    key = pd.read_csv(folder / "key_results.csv", keep_default_na=False, na_values=[""])
    assert (folder / "outcome_rates.csv").exists()
    for suffix in ("", "_12m_window"):
        if not (folder / f"outcome_rates{suffix}.csv").exists():  # no one followed up 6 months: no such table
            continue
        table = pd.read_csv(folder / f"outcome_rates{suffix}.csv", keep_default_na=False, na_values=[""])
        table = table[table["factor"] != "all"].set_index(["factor", "level"])["rate_pct"]
        rates = key[key["measure"] == f"outcome_rate_pct{suffix}"].set_index(["factor", "level"])["value"]
        rates = rates[rates.index.get_level_values(0) != "all"]
        assert set(table.index) == set(rates.index), suffix
        hidden_in_table = {i for i in table.index if pd.isna(table[i])}
        hidden_in_key = {i for i in rates.index if pd.isna(rates[i])}
        assert hidden_in_table == hidden_in_key, (suffix, hidden_in_table ^ hidden_in_key)


def test_nhs_disclosure_on_the_example_trust_run_including_figures(tmp_path):
    out = tmp_path / "r"
    assert main(["run", str(EXAMPLES / "trust_extract.csv"), "--mapping", str(EXAMPLES / "trust_mapping.yaml"),
                 "--reference", str(EXAMPLES / "trust_cmht_ethnicity.csv"), "--extract-date", "2024-02-27",
                 "--out", str(out)]) == 0
    assert_disclosure_safe(out)
    assert_key_results_hide_what_the_tables_hide(out)
    assert len(count_values(out)) > 500  # the scan did find the counts
    assert (out / "figures" / "employment_cumulative_incidence.png").exists()
    for path in out.glob("*.csv"):
        assert "person_id" not in pd.read_csv(path).columns, path.name


OUTCOMES = ["gained_employment", "retained_employment", "education", "none"]


@st.composite
def small_extracts(draw):
    n = draw(st.integers(min_value=12, max_value=60))
    seed = draw(st.integers(min_value=0, max_value=2**31 - 1))
    rng = np.random.default_rng(seed)
    first = pd.Timestamp("2022-04-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D")
    outcome = rng.choice(OUTCOMES, n, p=[0.35, 0.1, 0.1, 0.45])
    to_outcome = rng.integers(0, 300, n)
    outcome_date = pd.Series(first + pd.to_timedelta(to_outcome, unit="D")).where(outcome != "none")
    start = outcome_date.fillna(pd.Series(first))
    discharge = start + pd.to_timedelta(rng.integers(0, 400, n), unit="D")
    discharge = discharge.where((discharge <= pd.Timestamp("2024-02-27")) & (rng.random(n) < 0.8))
    return pd.DataFrame({
        "person_id": [f"P{i}" for i in range(n)], "first_contact_date": first.strftime("%Y-%m-%d"),
        "age": rng.integers(18, 70, n), "gender": rng.choice(["Female", "Male", "Other", "Not known"], n, p=[.48, .48, .02, .02]),
        "ethnicity": rng.choice(["White", "Mixed", "Asian", "Black", "Other", "Not known"], n),
        "diagnosis": rng.choice(["Psychosis", "Bipolar", "Depression or anxiety", "Personality disorder", "Other", "Not known"], n),
        "outcome": outcome, "outcome_date": outcome_date.dt.strftime("%Y-%m-%d").fillna(""),
        "discharge_date": discharge.dt.strftime("%Y-%m-%d").fillna(""),
        "site": rng.choice(["North", "South", "East"], n),
    })


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(extract=small_extracts())
def test_nhs_disclosure_leaves_no_small_or_unrounded_count_in_any_output(tmp_path_factory, extract):
    folder = tmp_path_factory.mktemp("prop")
    extract.to_csv(folder / "extract.csv", index=False)
    reference = pd.DataFrame({"characteristic": "ethnicity", "category": ["White", "Mixed", "Asian", "Black", "Other"],
                              "count": [400, 30, 60, 70, 25]})
    reference.to_csv(folder / "ref.csv", index=False)
    assert main(["run", str(folder / "extract.csv"), "--reference", str(folder / "ref.csv"), "--extract-date",
                 "2024-02-27", "--disclosure", "nhs", "--no-figures", "--out", str(folder / "out")]) == 0
    assert_disclosure_safe(folder / "out")
    assert_key_results_hide_what_the_tables_hide(folder / "out")


def readme_block(marker: str = "trust-example") -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(rf"<!-- {marker} -->\s*```sh\n(.*?)```", text, re.S).group(1)
    return [line for line in block.splitlines() if line.strip() and not line.startswith("#")]


def test_the_readme_trust_example_runs_as_written(tmp_path):
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ["PATH"]}
    for line in readme_block():
        command = line.replace(".venv/bin/", "")
        done = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True)
        assert done.returncode == 0, (command, done.stderr[-2000:])
    assert (tmp_path / "my_results" / "key_results.csv").exists()
    assert (tmp_path / "my_reports" / "index.html").exists()


@pytest.mark.parametrize("column,values", [("NHS Number", None), ("Client Surname", "Smith"), ("Postcode", "SW17 0QT"),
                                           ("DOB", "1980-01-01")])
def test_an_identifier_listed_under_ignore_columns_still_refuses_the_run(tmp_path, capsys, column, values):
    data = pd.read_csv(SYNTHETIC, dtype=str, keep_default_na=False).head(40)
    data[column] = values if values else [f"{9434765870 + 11 * i}" for i in range(len(data))]
    data.to_csv(tmp_path / "extract.csv", index=False)
    (tmp_path / "map.yaml").write_text(f"ignore_columns: [{column}]\n")
    code = main(["run", str(tmp_path / "extract.csv"), "--mapping", str(tmp_path / "map.yaml"), "--extract-date",
                 "2024-02-27", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and f"column '{column}'" in err and "remove the column" in err, err
    assert "Traceback" not in err and not (tmp_path / "out").exists()


def broken_extract(folder: Path, bad_dates: int = 3) -> Path:
    """The synthetic extract with a client referred twice (a second episode, which is no problem),
    `bad_dates` unreadable dates and a discharge before first contact."""
    data = pd.read_csv(SYNTHETIC, dtype=str, keep_default_na=False)
    data.loc[10, "person_id"] = data.loc[3, "person_id"]  # line 12 is line 5's person, referred on another day
    assert data.loc[10, "first_contact_date"] != data.loc[3, "first_contact_date"]
    for i in range(bad_dates):
        data.loc[20 + i, "first_contact_date"] = "31/04/2022"
    data.loc[40, "discharge_date"] = "2021-01-01"
    data.to_csv(folder / "broken.csv", index=False)
    return folder / "broken.csv"


def test_invalid_rows_stop_the_run_or_are_excluded_and_counted_by_reason(tmp_path, capsys):
    extract = broken_extract(tmp_path)
    args = ["run", str(extract), "--extract-date", "2024-02-27", "--disclosure", "none", "--no-figures"]
    assert main(args + ["--out", str(tmp_path / "a"), "--problems", str(tmp_path / "problems.csv")]) == 2
    err = capsys.readouterr().err
    assert "row 22, column 'first_contact_date': found '31/04/2022'" in err and "person_id" not in err
    problems = pd.read_csv(tmp_path / "problems.csv")
    assert len(problems) == 4 and set(problems.columns) == {"file", "row", "column", "contract_column", "found", "expected"}
    # With --exclude-invalid the run goes on, and --problems still lists every problem of the rows left out.
    assert main(args + ["--out", str(tmp_path / "b"), "--exclude-invalid", "--problems", str(tmp_path / "left.csv")]) == 0
    left = pd.read_csv(tmp_path / "left.csv")
    assert list(left["row"]) == [22, 23, 24, 42] and set(left["column"]) == {"first_contact_date", "discharge_date"}
    flow = pd.read_csv(tmp_path / "b" / "exclusions.csv")
    excluded = flow[flow["step"] == "excluded"].set_index("reason")["rows"]
    assert excluded["invalid first_contact_date: expected a date as YYYY-MM-DD"] == 3
    assert excluded["invalid discharge_date: expected a date on or after first_contact_date"] == 1
    # The second referral is the person's other episode, not an invalid id.
    assert excluded["another episode of a person already counted (each person's first episode that starts in "
                    "the entry window is analysed)"] == 1
    assert not excluded.index.str.contains("person_id").any()
    read = int(flow.loc[flow["step"] == "read", "rows"].iloc[0])
    analysed = int(flow.loc[flow["step"] == "analysed", "rows"].iloc[0])
    assert read == 539 and analysed == 534 and read == analysed + int(excluded.sum())


def test_many_problems_are_summarised_by_column_on_screen_and_all_written_to_the_csv(tmp_path, capsys):
    extract = broken_extract(tmp_path, bad_dates=60)
    assert main(["validate", str(extract), "--problems", str(tmp_path / "p.csv")]) == 2
    err = capsys.readouterr().err
    assert "column 'first_contact_date': 60 problem(s), expected a date as YYYY-MM-DD; rows 22, 23, 24, 25, 26, ..." in err
    assert len(err.splitlines()) < 10  # a summary, not 61 lines
    # 60 dates (line 42's discharge cannot be checked against its unreadable first contact)
    assert len(pd.read_csv(tmp_path / "p.csv")) == 60


def test_a_file_level_problem_still_stops_a_run_that_excludes_invalid_rows(tmp_path, capsys):
    data = pd.read_csv(SYNTHETIC, dtype=str, keep_default_na=False).drop(columns=["diagnosis"])
    data.to_csv(tmp_path / "e.csv", index=False)
    assert main(["run", str(tmp_path / "e.csv"), "--extract-date", "2024-02-27", "--exclude-invalid",
                 "--out", str(tmp_path / "out")]) == 2
    assert "column 'diagnosis': found no such column" in capsys.readouterr().err


def test_the_readme_messy_export_example_runs_as_written(tmp_path):
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ["PATH"]}
    for line in readme_block("messy-example"):
        command = line.replace(".venv/bin/", "")
        done = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True)
        assert done.returncode == 0, (command, done.stderr[-2000:])
    assert (tmp_path / "my_mapping.yaml").exists() and len(pd.read_csv(tmp_path / "my_problems.csv")) == 6
    assert (tmp_path / "my_reports" / "index.html").exists()


def test_the_local_record_goes_into_folders_made_for_it_or_the_run_stops_before_it_starts(tmp_path, capsys):
    """`--problems keep/problems.csv --local-dir keep` with no `keep/` yet: the folder is made (it was a
    traceback after the results had been written); a place that cannot be made stops the run first."""
    args = ["run", str(SYNTHETIC), "--extract-date", "2024-02-27", "--no-figures", "--exclude-invalid"]
    keep = tmp_path / "keep"
    assert main([*args, "--problems", str(keep / "problems.csv"), "--local-dir", str(keep / "record"),
                 "--out", str(tmp_path / "share")]) == 0
    assert (keep / "problems.csv").read_text().startswith("file,row,column")
    assert (keep / "record" / "exclusions_exact.csv").exists()
    (tmp_path / "a_file").write_text("")
    capsys.readouterr()
    code = main([*args, "--problems", str(tmp_path / "a_file" / "problems.csv"), "--out", str(tmp_path / "other")])
    err = capsys.readouterr().err
    assert code == 2 and "--problems" in err and "Traceback" not in err, err
    assert not (tmp_path / "other").exists()
