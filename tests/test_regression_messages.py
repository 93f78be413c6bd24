"""A researcher who changes an assumption sees each changed regression value by name and the command
that accepts the change (`make regen`), not a pytest flag."""
import pandas as pd
import pytest

from conftest import changed_values


def test_changed_values_are_named_by_measure_factor_and_level():
    baseline = pd.DataFrame({"measure": ["outcome_rate_pct", "outcome_rate_pct"], "factor": ["all", "ethnicity"],
                             "level": ["all", "Black"], "value": [46.19666, 43.4], "n": [539, 83]})
    current = baseline.assign(value=[46.19666, 45.1])
    assert changed_values(baseline, current) == ["outcome_rate_pct, ethnicity, Black: value: 43.4 -> 45.1"]
    assert changed_values(baseline, baseline) == []


def test_a_changed_baseline_fails_with_the_names_and_make_regen(dataframe_regression):
    """Checks a frame against a baseline that differs from it in one value (the baseline is written here,
    as a researcher's changed calibration row would leave it)."""
    frame = pd.DataFrame({"measure": ["median_days_to_employment"], "factor": ["all"], "level": ["all"], "value": [132.0]})
    folder = dataframe_regression.folder
    folder.mkdir(exist_ok=True)
    (folder / "changed.csv").write_text(",measure,factor,level,value\n0,median_days_to_employment,all,all,140.0\n")
    try:
        with pytest.raises(AssertionError) as failure:
            dataframe_regression.check(frame, basename="changed")
    finally:
        (folder / "changed.csv").unlink()
        folder.rmdir()
    message = str(failure.value)
    assert "median_days_to_employment, all, all: value: 140.0 -> 132.0" in message
    assert "make regen" in message and "--force-regen" not in message

