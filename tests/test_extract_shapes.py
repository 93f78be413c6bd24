"""Any extract that meets the data contract runs to the end: results and figures, or a clear message.

The synthetic cohort is tidy; trust extracts are not. Explicit degenerate shapes (one person, nobody
employed, everybody employed, nobody discharged, one gender, only 'Not known', no sites, one site, a
group with no positive outcome, CMHT tables that miss or add a group) and random small extracts go
through the whole `run`, with and without disclosure control. Boundaries are exact: 0 is 0.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from analysis.cli import main

OUTCOMES = ["gained_employment", "retained_employment", "education", "none"]
ETHNICITY = ["White", "Mixed", "Asian", "Black", "Other", "Not known"]
END = pd.Timestamp("2024-02-27")


def make_extract(n, seed, outcome_p=(0.35, 0.1, 0.1, 0.45), discharged=0.8, ethnicity=None, gender=None,
                 sites=("North", "South")) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    first = pd.Timestamp("2022-04-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D")
    outcome = rng.choice(OUTCOMES, n, p=outcome_p)
    outcome_date = pd.Series(first + pd.to_timedelta(rng.integers(0, 300, n), unit="D")).where(outcome != "none")
    start = outcome_date.fillna(pd.Series(first))
    discharge = start + pd.to_timedelta(rng.integers(0, 400, n), unit="D")
    discharge = discharge.where((discharge <= END) & (rng.random(n) < discharged))
    frame = pd.DataFrame({
        "person_id": [f"P{i}" for i in range(n)], "first_contact_date": first.strftime("%Y-%m-%d"),
        "age": rng.integers(16, 75, n),
        "gender": gender or rng.choice(["Female", "Male", "Other", "Not known"], n, p=[.48, .46, .03, .03]),
        "ethnicity": ethnicity or rng.choice(ETHNICITY, n),
        "diagnosis": rng.choice(["Psychosis", "Bipolar", "Depression or anxiety", "Personality disorder", "Other",
                                 "Not known"], n),
        "outcome": outcome, "outcome_date": outcome_date.dt.strftime("%Y-%m-%d").fillna(""),
        "discharge_date": discharge.dt.strftime("%Y-%m-%d").fillna("")})
    if sites:
        frame["site"] = rng.choice(list(sites), n)
    return frame


def no_jobs_in(group: str, frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    mine = frame["ethnicity"] == group
    frame.loc[mine, ["outcome", "outcome_date"]] = ["none", ""]
    return frame


REFERENCES = {
    "all four": pd.concat([pd.DataFrame({"characteristic": "ethnicity", "category": ETHNICITY[:5],
                                         "count": [900, 80, 160, 170, 60]}),
                           pd.DataFrame({"characteristic": "gender", "category": ["Female", "Male", "Other"],
                                         "count": [700, 640, 30]})]),
    "missing a group": pd.DataFrame({"characteristic": "ethnicity", "category": ["White", "Asian", "Black"],
                                     "count": [900, 160, 170]}),
    "an extra group": pd.DataFrame({"characteristic": "age_band", "category": ["Under 18", "18-24", "25-34", "35-44",
                                                                              "45-54", "55+"],
                                    "count": [5, 200, 400, 380, 300, 250]}),
    "none": None,
}

SHAPES = {
    "one person": (make_extract(1, 1), "all four"),
    "three people": (make_extract(3, 2), "missing a group"),
    "twenty people": (make_extract(20, 3), "all four"),
    "nobody employed": (make_extract(60, 4, outcome_p=(0, 0, 0, 1)), "all four"),
    "everybody employed": (make_extract(60, 5, outcome_p=(1, 0, 0, 0)), "all four"),
    "everybody already in work": (make_extract(40, 6, outcome_p=(0, 1, 0, 0)), "an extra group"),
    "only education": (make_extract(40, 12, outcome_p=(0, 0, 1, 0)), "none"),
    "nobody discharged (all censored)": (make_extract(60, 7, discharged=0), "all four"),
    "one gender": (make_extract(80, 8, gender="Female"), "all four"),
    "ethnicity only 'Not known'": (make_extract(60, 9, ethnicity="Not known"), "all four"),
    "no site column": (make_extract(60, 10, sites=None), "missing a group"),
    "one site": (make_extract(60, 11, sites=("Only",)), "an extra group"),
    "a large group with no positive outcome": (no_jobs_in("Asian", make_extract(300, 13)), "all four"),
}


def run_shape(folder: Path, extract: pd.DataFrame, reference: str, disclosure: str, figures: bool, capsys) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    extract.to_csv(folder / "extract.csv", index=False)
    args = ["run", str(folder / "extract.csv"), "--extract-date", f"{END:%Y-%m-%d}", "--disclosure", disclosure,
            "--out", str(folder / "out")]
    if REFERENCES[reference] is not None:
        REFERENCES[reference].to_csv(folder / "cmht.csv", index=False)
        args += ["--reference", str(folder / "cmht.csv")]
    if not figures:
        args.append("--no-figures")
    code = main(args)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert code == 0, err[-2000:]
    assert "warning: a figure could not be drawn" not in err, err
    assert "Warning:" not in err, err  # no library warning leaks onto the analyst's screen
    return folder / "out"


def assert_exact_boundaries(out: Path) -> None:
    """A rate of nobody is 0 with a lower limit of exactly 0; a rate of everybody is 100 with an upper of 100."""
    for path in out.glob("outcome*_rates.csv"):
        rates = pd.read_csv(path)
        shown = rates.dropna(subset=["rate_pct"])
        nobody, everybody = shown[shown["positive"] == 0], shown[shown["positive"] == shown["n"]]
        assert (nobody["rate_pct"] == 0).all() and (nobody["conf_low"] == 0).all(), path.name
        assert (everybody["rate_pct"] == 100).all() and (everybody["conf_high"] == 100).all(), path.name
    key = pd.read_csv(out / "key_results.csv")
    assert len(key) and (out / "exclusions.csv").exists()


@pytest.mark.filterwarnings("error::UserWarning", "error::RuntimeWarning")
@pytest.mark.parametrize("disclosure", ["nhs", "none"])
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_degenerate_shape_runs_to_results_and_figures(tmp_path, shape, disclosure, capsys):
    extract, reference = SHAPES[shape]
    out = run_shape(tmp_path, extract, reference, disclosure, figures=disclosure == "nhs", capsys=capsys)
    assert_exact_boundaries(out)
    if disclosure == "nhs":
        assert not (out / "figures" / "not_drawn.csv").exists()


@pytest.mark.filterwarnings("error::UserWarning", "error::RuntimeWarning")
@settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(min_value=1, max_value=120), seed=st.integers(0, 10_000),
       outcome_p=st.sampled_from([(0.35, 0.1, 0.1, 0.45), (0.9, 0.0, 0.0, 0.1), (0.0, 0.3, 0.0, 0.7)]),
       discharged=st.sampled_from([0.0, 0.5, 1.0]), reference=st.sampled_from(sorted(REFERENCES)),
       sites=st.sampled_from([None, ("A",), ("A", "B", "C")]))
@example(n=2, seed=0, outcome_p=(0.0, 0.3, 0.0, 0.7), discharged=0.0, reference="none", sites=None)
def test_random_small_extracts_run_to_the_end(tmp_path_factory, capsys, n, seed, outcome_p, discharged, reference, sites):
    folder = tmp_path_factory.mktemp("shape")
    out = run_shape(folder, make_extract(n, seed, outcome_p, discharged, sites=sites), reference, "nhs",
                    figures=False, capsys=capsys)
    assert_exact_boundaries(out)


@pytest.mark.parametrize("shape,disclosure", [("one person", "nhs"), ("nobody employed", "none")])
def test_the_reports_render_for_degenerate_shapes(tmp_path, shape, disclosure, capsys):
    import re

    extract, reference = SHAPES[shape]
    out = run_shape(tmp_path, extract, reference, disclosure, figures=True, capsys=capsys)
    assert main(["report", "--results", str(out), "--out", str(tmp_path / "reports")]) == 0
    for page in (tmp_path / "reports").glob("*.html"):
        text = re.sub(r"<[^>]+>", " ", re.sub(r"<(details|script|style)\b.*?</\1>", " ", page.read_text(), flags=re.S))
        assert not re.search(r"Traceback|\bnan\b|\bNaN\b|\bNone\b", text), page.name
