"""Competing risks by group: Gray's test against R's cmprsk, and the first-event rules with education as
its own cause."""
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from analysis.competing import CENSORED, DISCHARGED, EDUCATION, EMPLOYED, first_event_times, gray_test
from analysis.load import load_extract

HERE = Path(__file__).resolve().parent / "test_competing"
EXTRACT = pd.Timestamp("2024-02-27")


def r_printed(text: str) -> dict[int, tuple[float, float, int]]:
    """cmprsk::cuminc's $Tests as R prints it: cause -> (stat, p, df)."""
    rows = re.findall(r"^(\d+)\s+([-\d.e+]+)\s+([-\d.e+]+)\s+(\d+)\s*$", text, re.M)
    return {int(c): (float(s), float(p), int(df)) for c, s, p, df in rows}


@pytest.fixture(scope="module")
def data():
    return pd.read_csv(HERE / "gray_data.csv")


def test_gray_test_equals_cmprsk_printed_output(data):
    """gray_r_output.txt is R's print of cuminc(days, cause, group)$Tests on gray_data.csv with each row
    repeated by its weight (gray.R): 300 rows, three groups, weekly times full of ties, three causes."""
    printed = r_printed((HERE / "gray_r_output.txt").read_text())
    assert sorted(printed) == [1, 2, 3]
    for cause, (stat, p, df) in printed.items():
        mine = gray_test(data["days"], data["cause"], data["group"], data["weight"], of=cause)
        assert mine["chi2"] == pytest.approx(stat, rel=1e-10)
        assert mine["p"] == pytest.approx(p, rel=1e-8)
        assert mine["df"] == df


def test_gray_test_on_counts_equals_the_test_on_people(data):
    people = data.loc[data.index.repeat(data["weight"])]
    for cause in (1, 2, 3):
        on_counts = gray_test(data["days"], data["cause"], data["group"], data["weight"], of=cause)
        on_people = gray_test(people["days"], people["cause"], people["group"], of=cause)
        assert on_counts["chi2"] == pytest.approx(on_people["chi2"], rel=1e-12)


def test_the_committed_r_output_is_what_r_prints_today():
    """Skips only where R or cmprsk is not installed (CI installs neither); the check above runs anyway."""
    if shutil.which("Rscript") is None:
        pytest.skip("Rscript is not installed")
    done = subprocess.run(["Rscript", str(HERE / "gray.R"), str(HERE / "gray_data.csv")], capture_output=True, text=True)
    if "there is no package called" in done.stderr:
        pytest.skip("R's cmprsk is not installed (Debian: r-cran-cmprsk)")
    assert done.returncode == 0, done.stderr
    now, committed = r_printed(done.stdout), r_printed((HERE / "gray_r_output.txt").read_text())
    assert now.keys() == committed.keys()
    for cause in now:
        assert now[cause][0] == pytest.approx(committed[cause][0], rel=1e-12)


def test_first_events_give_education_its_own_cause(tmp_path):
    path = tmp_path / "patients.csv"
    path.write_text(
        "person_id,first_contact_date,age,gender,ethnicity,diagnosis,outcome,outcome_date,discharge_date\n"
        "job,2023-01-01,30,Female,White,Psychosis,gained_employment,2023-03-01,2023-03-01\n"
        "education,2023-01-01,22,Male,White,Psychosis,education,2023-04-01,2023-05-01\n"
        "discharged,2023-01-01,40,Male,Black,Bipolar,none,,2023-02-01\n"
        "open,2023-06-01,50,Female,Asian,Other,none,,\n"
        "in_work,2023-02-01,35,Female,White,Other,retained_employment,2023-02-10,2023-08-10\n")
    times = first_event_times(load_extract(path, EXTRACT), EXTRACT)
    assert [(int(d), int(c)) for d, c in zip(times["days"], times["cause"])] == [
        (59, EMPLOYED), (90, EDUCATION), (31, DISCHARGED), (271, CENSORED)]
