"""Competing risks by group: Gray's test and Fine-Gray against R's cmprsk, and the first-event rules with education as
its own cause."""
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import r_prints
from analysis.questions.competing import (CENSORED, DISCHARGED, EDUCATION, EMPLOYED, fine_gray, fine_gray_models,
                                          first_event_times, gray_test)
from analysis.core.contract import FACTORS
from analysis.stats.cox import cox_efron
from analysis.data.load import load_extract
from analysis.stats.modelling import collapse

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


# --- Fine-Gray against R's cmprsk::crr --------------------------------------------------------------------------

def crr_printed(text: str) -> dict[str, tuple[float, float]]:
    """cmprsk::crr's coefficients and standard errors as fine_gray.R prints them: term -> (coef, se)."""
    rows = re.findall(r"^(\w+)\s+([-\d.e+]+)\s+([-\d.e+]+)\s*$", text, re.M)
    return {term: (float(coef), float(se)) for term, coef, se in rows}


def fine_gray_inputs(frame: pd.DataFrame):
    """fine_gray.R's design: group B and C against A, sex M against F; causes 2 and 3 compete with cause 1."""
    x = pd.DataFrame({"groupB": frame["group"] == "B", "groupC": frame["group"] == "C",
                      "sexM": frame["sex"] == "M"}).astype(float)
    status = frame["cause"].map({0: 0, 1: 1, 2: 2, 3: 2}).to_numpy()
    return x.to_numpy(), frame["days"].to_numpy(), status, list(x.columns)


@pytest.fixture(scope="module")
def fine_gray_data():
    return pd.read_csv(HERE / "fine_gray_data.csv")


def test_fine_gray_equals_crr_printed_output(fine_gray_data):
    """fine_gray_r_output.txt is R's print of crr's coefficients and sandwich SEs (fine_gray.R) on 400 people in
    284 rows: weekly times full of ties, failures, competing events and censorings at the same times, and
    censorings at time 0 (where crr reads the censoring weight after the jump, not before it)."""
    printed = crr_printed((HERE / "fine_gray_r_output.txt").read_text())
    x, days, status, names = fine_gray_inputs(fine_gray_data)
    fit = fine_gray(x, days, status, fine_gray_data["weight"].to_numpy(), names=names)
    assert sorted(printed) == sorted(names)
    for j, term in enumerate(names):
        assert fit.coef[j] == pytest.approx(printed[term][0], rel=1e-9, abs=1e-12)
        assert fit.se[j] == pytest.approx(printed[term][1], rel=1e-9)
    assert fit.n == 400 and fit.n_events == int(fine_gray_data.loc[fine_gray_data["cause"] == 1, "weight"].sum())


def test_fine_gray_on_counts_equals_the_fit_on_people(fine_gray_data):
    people = fine_gray_data.loc[fine_gray_data.index.repeat(fine_gray_data["weight"])].reset_index(drop=True)
    on_counts = fine_gray(*fine_gray_inputs(fine_gray_data)[:3], fine_gray_data["weight"].to_numpy())
    on_people = fine_gray(*fine_gray_inputs(people)[:3])
    assert on_counts.coef == pytest.approx(on_people.coef, rel=1e-10)
    assert on_counts.se == pytest.approx(on_people.se, rel=1e-10)


def test_fine_gray_without_competing_events_is_cox_with_breslow_ties(fine_gray_data):
    """With no competing event every weight is 1 and the model is Cox's; with no tied failures Breslow's
    and Efron's handling agree, so the coefficients must equal the Cox fit's (and the sandwich variance
    differs from the model-based one: a check that it is not the information)."""
    untied = fine_gray_data.loc[fine_gray_data.index.repeat(fine_gray_data["weight"])].reset_index(drop=True)
    untied["days"] = untied["days"] + np.arange(len(untied)) / len(untied)  # no two people share a time
    untied["cause"] = untied["cause"].where(untied["cause"] <= 1, 0)
    x, days, status, _ = fine_gray_inputs(untied)
    fg, cox = fine_gray(x, days, status), cox_efron(x, days, status)
    assert fg.coef == pytest.approx(cox.coef, rel=1e-8)
    assert not np.allclose(fg.se, cox.se, rtol=1e-6)


@pytest.mark.parametrize("script, parse", [("gray", r_printed), ("fine_gray", crr_printed)])
def test_the_committed_r_output_is_what_r_prints_today(script, parse):
    """Skips only where R or cmprsk is not installed (CI installs neither); the checks above run anyway."""
    printed = r_prints(HERE / f"{script}.R", HERE / f"{script}_data.csv", missing="R's cmprsk (Debian: r-cran-cmprsk)")
    now, committed = parse(printed), parse((HERE / f"{script}_r_output.txt").read_text())
    assert now.keys() == committed.keys()
    for key in now:
        assert now[key] == pytest.approx(committed[key], rel=1e-12)


def test_fine_gray_models_use_the_cox_models_levels_and_exclusions():
    """Same references and the same 'fewer than 10' rule as the cause-specific Cox models; a group with no
    job is not estimable and says so rather than printing a ratio of 0."""
    data = load_extract(Path(__file__).resolve().parents[1] / "data_synthetic" / "ips_extract.csv", EXTRACT)
    cells = collapse(first_event_times(data, EXTRACT), ["days", "cause"])
    models, excluded = fine_gray_models(cells)
    assert set(models["model"]) == {f"unadjusted: {f}" for f in FACTORS} | {"adjusted: " + " + ".join(FACTORS)}
    assert (models.loc[models["factor"] == "gender", "reference"] == "Female").all()
    assert set(excluded.loc[excluded["factor"] == "gender", "level"]) == {"Other"}
    no_job = cells[~((cells["diagnosis"] == "Bipolar") & (cells["cause"] == EMPLOYED))]
    models, excluded = fine_gray_models(no_job)
    assert "Bipolar" not in set(models["level"])
    assert "no events" in excluded.loc[excluded["level"] == "Bipolar", "reason"].iloc[0]
