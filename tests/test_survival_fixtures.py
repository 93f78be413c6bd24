"""Hand-built patients whose times, censoring and competing events are worked out by hand."""
import pandas as pd
import pytest

from analysis.questions.employment import CENSORED, DISCHARGED, EDUCATION, EMPLOYED, employment_times
from analysis.stats.survival import aalen_johansen, kaplan_meier, step_at
from analysis.questions.in_work import support_times
from analysis.data.load import load_extract

EXTRACT = pd.Timestamp("2024-02-27")
PATIENTS = """person_id,first_contact_date,age,gender,ethnicity,diagnosis,outcome,outcome_date,discharge_date
job_on_discharge_day,2023-01-01,30,Female,White,Psychosis,gained_employment,2023-03-01,2023-03-01
discharged_before_job,2023-01-01,40,Male,Black,Bipolar,none,,2023-02-01
still_open,2023-06-01,50,Female,Asian,Other,none,,
job_on_first_day,2023-05-05,25,Male,Mixed,Psychosis,gained_employment,2023-05-05,
already_in_work,2023-02-01,35,Female,White,Other,retained_employment,2023-02-10,2023-08-10
education_then_discharge,2023-01-01,22,Male,White,Psychosis,education,2023-04-01,2023-05-01
"""


@pytest.fixture(scope="module")
def patients(tmp_path_factory):
    path = tmp_path_factory.mktemp("fixtures") / "patients.csv"
    path.write_text(PATIENTS)
    return load_extract(path, EXTRACT)


def test_time_to_employment_rules(patients):
    times = employment_times(patients, EXTRACT).set_index("person_id")
    expected = {
        "job_on_discharge_day": (59, EMPLOYED),       # the job counts: outcome date = discharge date
        "discharged_before_job": (31, DISCHARGED),    # competing event at discharge
        "still_open": (271, CENSORED),                # censored at the extract date (2023-06-01 -> 2024-02-27)
        "job_on_first_day": (0, EMPLOYED),            # an event at time 0
        "education_then_discharge": (90, EDUCATION),   # the start of education competes with a job
    }
    assert "already_in_work" not in times.index     # retained employment was never at risk
    assert {pid: (int(r.days), int(r.cause)) for pid, r in times.iterrows()} == expected


def test_in_work_support_rules(patients):
    times = support_times(patients, EXTRACT).set_index("person_id")
    assert {pid: (int(r.days), int(r.discharged)) for pid, r in times.iterrows()} == {
        "job_on_discharge_day": (0, 1),   # discharged the day the job started: zero days of support
        "job_on_first_day": (298, 0),     # still supported: censored at the extract date
        "already_in_work": (181, 1),
    }


def test_kaplan_meier_and_cumulative_incidence_by_hand(patients):
    times = employment_times(patients, EXTRACT)
    km = kaplan_meier(times["days"], times["employed"])
    # at 0: 1 job of 5 at risk -> 0.8; 31 and 120 censor; at 59: 1 of 3 -> 0.8 * 2/3
    assert step_at(km, [0, 58, 59, 300], ["survival"])["survival"].tolist() == pytest.approx([0.8, 0.8, 0.8 * 2 / 3, 0.8 * 2 / 3])
    jobs = aalen_johansen(times["days"], times["cause"], of=EMPLOYED)
    discharges = aalen_johansen(times["days"], times["cause"], of=DISCHARGED)
    education = aalen_johansen(times["days"], times["cause"], of=EDUCATION)
    # F1: 1/5 at 0, then S(59-) = 0.8 * 3/4 = 0.6 times 1/3 -> 0.4; F2: 0.8 * 1/4 at 31; education at 90:
    # S(90-) = 0.6 * 2/3 = 0.4 times 1/2 -> 0.2 (it competes: the search for a job ends there)
    assert step_at(jobs, [0, 59, 300], ["cif"], before=0)["cif"].tolist() == pytest.approx([0.2, 0.4, 0.4])
    assert step_at(discharges, [31, 120], ["cif"], before=0)["cif"].tolist() == pytest.approx([0.2, 0.2])
    assert step_at(education, [89, 90], ["cif"], before=0)["cif"].tolist() == pytest.approx([0.0, 0.2])
    # employment + discharge + education + still seeking (all-cause Kaplan-Meier) add up to everyone
    still_seeking = step_at(kaplan_meier(times["days"], times["cause"]), [300], ["survival"])["survival"].iloc[0]
    assert still_seeking == pytest.approx(0.2)
    assert 0.4 + 0.2 + 0.2 + still_seeking == pytest.approx(1.0)
