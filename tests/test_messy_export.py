"""A realistic messy trust export (examples/messy_export.*, made by examples/make_messy_export.py) goes
from the system's own export to reports with a mapping file only: validate -> run -> report."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
MAPPING = EXAMPLES / "messy_mapping.yaml"


def test_the_committed_messy_export_is_what_the_script_makes():
    spec = importlib.util.spec_from_file_location("make_messy_export", EXAMPLES / "make_messy_export.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    export, cmht = script.make(np.random.default_rng(script.SEED))
    assert (EXAMPLES / "messy_export.csv").read_bytes() == export.to_csv(
        index=False, encoding="cp1252", lineterminator="\r\n").encode("cp1252")
    assert pd.read_excel(EXAMPLES / "messy_export.xlsx", dtype=str, keep_default_na=False).equals(export.astype(str))
    assert (EXAMPLES / "messy_cmht.csv").read_text() == cmht.to_csv(index=False)


def test_validation_names_the_messy_rows_in_the_files_own_terms(tmp_path, capsys):
    assert main(["validate", str(EXAMPLES / "messy_export.csv"), "--mapping", str(MAPPING), "--extract-date",
                 "2024-02-27", "--problems", str(tmp_path / "problems.csv")]) == 2
    err = capsys.readouterr().err
    assert "row 2, column 'Discharge Date' (contract column 'discharge_date'): found '23/07/2022'" in err
    assert "row 3, column 'Job Start Date' (contract column 'outcome_date'): found '08/12/2022 00:00'" in err
    # The client entered twice is a copy of an earlier row, left out and counted, not a problem.
    assert "1 row(s) repeat an earlier row in every analysed column (row(s) 541)" in err
    assert "RIO100118" not in err
    assert len(pd.read_csv(tmp_path / "problems.csv")) == 6  # three referrals after discharge, each with a job


@pytest.fixture(scope="module")
def messy_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("messy")
    for fmt in ("csv", "xlsx"):
        assert main(["run", str(EXAMPLES / f"messy_export.{fmt}"), "--mapping", str(MAPPING), "--reference",
                     str(EXAMPLES / "messy_cmht.csv"), "--extract-date", "2024-02-27", "--exclude-invalid",
                     "--disclosure", "none", "--no-figures", "--out", str(out / fmt)]) == 0
    return out


def test_the_csv_and_the_excel_export_give_the_same_results(messy_runs):
    for name in ("key_results.csv", "exclusions.csv", "outcome_rates.csv", "access_composition.csv"):
        assert (messy_runs / "csv" / name).read_bytes() == (messy_runs / "xlsx" / name).read_bytes(), name


def test_the_duplicate_and_the_referrals_after_discharge_are_excluded_and_counted(messy_runs):
    flow = pd.read_csv(messy_runs / "csv" / "exclusions.csv")
    excluded = flow[flow["step"] == "excluded"].set_index("reason")["rows"]
    assert excluded["a copy of an earlier row in every analysed column (a join artefact)"] == 1
    assert excluded.filter(like="on or after first_contact_date").sum() == 3
    assert flow.loc[flow["step"] == "analysed", "rows"].iloc[0] == 536
    composition = pd.read_csv(messy_runs / "csv" / "access_composition.csv")
    assert set(composition["category"]) == {"White", "Mixed", "Asian", "Black", "Other", "Not known"}


def test_the_messy_export_renders_to_reports_that_speak_to_the_trust(tmp_path):
    import re

    assert main(["run", str(EXAMPLES / "messy_export.csv"), "--mapping", str(MAPPING), "--reference",
                 str(EXAMPLES / "messy_cmht.csv"), "--extract-date", "2024-02-27", "--exclude-invalid",
                 "--service-name", "Example Trust IPS", "--out", str(tmp_path / "results")]) == 0
    # The service name and the end of follow-up come from the run.
    assert main(["report", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "reports")]) == 0
    assert (tmp_path / "reports" / "ips-outcomes.pdf").exists()
    def text(page: str) -> str:
        html = re.sub(r"<(details|script|style)\b.*?</\1>", " ", (tmp_path / "reports" / page).read_text(), flags=re.S)
        return " ".join(re.sub(r"<[^>]+>", " ", html).split())

    index = text("index.html")
    assert "Example Trust IPS" in index and "This service beside the published study" in index
    assert "Matches" not in index and "published figures match" not in index
    assert "The synthetic extract and its calibration" not in text("data-methods.html")
    assert "computed on a synthetic extract" not in index
    assert "2024-02-27" in index


MISTAKES = {
    "two columns to one target": ("columns: {Client ID: person_id, Team Name: person_id}",
                                  "found two or more columns mapped to 'person_id'"),
    "an unknown target": ("columns: {Client ID: client}", "found 'client'; expected a contract column"),
    "an unknown key": ("colums: {Client ID: person_id}", "column 'colums': found an unknown key"),
    "bad YAML": ("columns: [unclosed", "text that is not valid YAML"),
    "a value that is not the contract's": ("values: {gender: {'1': Man}}", "found the target 'Man'; expected one of: Female"),
    "a combine rule with an unknown outcome": ("combine: {outcome_date: {job: Job Start Date}}",
                                               "found the outcome 'job'; expected one of: gained_employment"),
}


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_a_mistake_in_the_mapping_is_a_message_not_a_traceback(tmp_path, capsys, mistake):
    text, message = MISTAKES[mistake]
    (tmp_path / "map.yaml").write_text(text + "\n")
    assert main(["validate", str(EXAMPLES / "messy_export.csv"), "--mapping", str(tmp_path / "map.yaml")]) == 2
    err = capsys.readouterr().err
    assert message in err and "map.yaml" in err and "Traceback" not in err, err


def test_mapping_template_lists_every_column_and_code_and_never_an_identifiers_values(tmp_path, capsys):
    data = pd.read_csv(EXAMPLES / "messy_export.csv", dtype=str, keep_default_na=False, encoding="cp1252").head(50)
    data["Patient Surname"] = "Smith"
    data.to_csv(tmp_path / "export.csv", index=False)
    assert main(["mapping-template", str(tmp_path / "export.csv"), "--out", str(tmp_path / "map.yaml")]) == 0
    text = (tmp_path / "map.yaml").read_text()
    assert "Smith" not in text and "remove this column" in text
    for column in data.columns:
        assert column in text, column
    # The NHS code lists are proposed as presets when they read every code found.
    assert "ethnicity: nhs_ethnic_category" in text
    assert "gender: nhs_person_stated_gender" in text
    assert "diagnosis: icd10_f_chapter" in text
    for code in set(data["IPS Outcome"]) - {"NULL"}:  # codes no preset reads are listed, each with a question
        assert f"{code}: '?'" in text, code
    assert "'': '?'" in text  # NULL is a null value, so a blank outcome is asked about too


@pytest.mark.parametrize("dates, expected", [
    (["23/12/2022", "01/04/2022 00:00", "NULL"], 'date_format: "%d/%m/%Y"   # every date found reads as %d/%m/%Y'),
    (["2022-12-23", "2022-04-01"], 'date_format: "%Y-%m-%d"   # every date found reads as %Y-%m-%d'),
    (["03/04/2022", "11/12/2022"], "ambiguous: every date found reads as any of %d/%m/%Y, %m/%d/%Y"),
    (["Dec 23 2022", "2022-04-01"], "no common format reads every date"),
])
def test_mapping_template_detects_the_date_format_or_says_it_cannot(tmp_path, dates, expected):
    """A trust's first mistake is often the date format: the template reads it off the date columns, says
    when day and month cannot be told apart, and when no one format reads them all."""
    data = pd.read_csv(EXAMPLES / "messy_export.csv", dtype=str, keep_default_na=False, encoding="cp1252").head(len(dates))
    for column in ("Referral Received Date", "Job Start Date", "Education Start Date", "Discharge Date"):
        data[column] = dates
    data.to_csv(tmp_path / "export.csv", index=False)
    assert main(["mapping-template", str(tmp_path / "export.csv"), "--out", str(tmp_path / "map.yaml")]) == 0
    assert expected in (tmp_path / "map.yaml").read_text()
