"""What the published figures pin down: the robustness table is current, and its checks measure what
they say (on a few seeds, so the test stays fast)."""
from pathlib import Path

import pandas as pd
import pytest

from analysis import robustness
from analysis.calibration import Calibration

ROOT = Path(__file__).resolve().parent.parent


def test_r10_across_the_cmht_make_up_turns_on_the_assumption():
    rows = pd.DataFrame(robustness._r10_across_a8(Calibration.read())).set_index("setting")
    assert rows.loc["x 0.7: all four groups", "share"] == 1  # a less diverse case-load: every group over
    assert rows.loc["x 1.3: all four groups", "share"] == 0  # a more diverse one: not every group
    assert rows.loc["x 1: Black", "share"] == 1


def test_the_generator_without_its_rejection_step_finds_chance_differences(monkeypatch):
    monkeypatch.setattr(robustness, "SEEDS", range(1, 41))
    rows = pd.DataFrame(robustness._chance_differences(Calibration.read())).set_index("setting")
    assert 0 < rows.loc["every factor", "share"] < 1  # some random cohorts differ by chance, most do not
    assert rows.loc["every factor", "share"] <= rows["share"].min()


def test_the_committed_robustness_table_is_current():
    committed = pd.read_csv(ROOT / "results" / "robustness.csv")
    assert list(committed["conclusion"].unique()) == ["R11/R12", "R10", "R6"]
    fresh = pd.DataFrame(robustness._r10_across_a8(Calibration.read()))
    mine = committed[committed["conclusion"] == "R10"].reset_index(drop=True)
    assert mine["note"].tolist() == fresh["note"].tolist()
    assert mine["share"].tolist() == pytest.approx(fresh["share"].tolist())
