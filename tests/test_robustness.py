"""What the published figures pin down: the robustness table is current, and its checks measure what
they say (on a few seeds, so the test stays fast)."""
from pathlib import Path

import pandas as pd
import pytest
from scipy import stats

from analysis import robustness
from analysis.data.calibration import Calibration

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


def test_r11_for_ethnicity_varies_white_and_other_jointly_over_every_pair_the_totals_allow():
    """The 'Not known' group absorbs what White and Other do not take of the 249: for each Other count from 10
    to 20, White runs from the count that leaves all 65 'Not known' people positive to the one that leaves
    none. The row's share is the share of those pairs with p >= 0.05, and its smallest p is recomputed here."""
    row = pd.DataFrame(robustness._r11_across_a3(Calibration.read())).iloc[0]
    fixed = 11 + 23 + 33  # Mixed, Asian and Black: their published rates (R9)
    pairs, p_values = [], []
    for other in range(10, 21):
        rest = 249 - fixed - other
        for white in range(max(rest - 65, 0), min(rest, 290) + 1):
            table = pd.DataFrame({"yes": [white, 11, 23, 33, other], "no": [290 - white, 12, 29, 43, 33 - other]})
            pairs.append((white, other))
            p_values.append(stats.chi2_contingency(table, correction=False)[1])
    assert row["draws"] == len(pairs)
    assert row["share"] == pytest.approx(sum(p >= 0.05 for p in p_values) / len(pairs))
    assert f"smallest p = {min(p_values):.3f}" in row["note"]
    assert 0 < row["share"] < 1  # jointly, some pairs the published figures allow would show a difference


def test_r6_across_the_support_assumptions_regenerates_with_them(monkeypatch):
    """A varied assumption reaches the generator: who is still supported at the extract date (A13) changes
    the cohorts, and so the Kaplan-Meier share, on the same seeds."""
    monkeypatch.setattr(robustness, "A13_SEEDS", range(1, 3))
    monkeypatch.setattr(robustness, "A13_SIGMAS", (0.7,))
    monkeypatch.setattr(robustness, "A13_OPEN_DAYS", (75, 300))
    rows = pd.DataFrame(robustness._r6_km_across_a13(Calibration.read(), pd.Timestamp("2024-02-27")))
    assert rows["setting"].tolist() == ["sigma 0.7, open weight 75 days", "sigma 0.7, open weight 300 days"]
    assert rows["draws"].tolist() == [2, 2] and rows["note"].nunique() == 2
    with pytest.raises(AssertionError):
        robustness._with(Calibration.read(), "lognormal_sigma", "time", "no such row", 1.0)


def test_the_committed_robustness_table_is_current():
    committed = pd.read_csv(ROOT / "results" / "robustness.csv")
    assert list(committed["conclusion"].unique()) == ["R11/R12", "R11 (ethnicity)", "R10", "R6"]
    for conclusion, fresh in (("R10", robustness._r10_across_a8(Calibration.read())),
                              ("R11 (ethnicity)", robustness._r11_across_a3(Calibration.read()))):
        fresh = pd.DataFrame(fresh)
        mine = committed[committed["conclusion"] == conclusion].reset_index(drop=True)
        assert mine["note"].tolist() == fresh["note"].tolist()
        assert mine["share"].tolist() == pytest.approx(fresh["share"].tolist())


def test_the_sizes_at_which_a_published_rate_is_exact_are_found_by_counting():
    from analysis.data.calibration import exact_sizes

    assert exact_sizes(["47.8"], 80) == [23, 46, 67, 69]  # 11/23 = 47.83%; 22/46; 32/67; 33/69
    assert exact_sizes(["84.7", "6.2"], 250) == [177, 209, 242]  # both at once: 177/209 and 13/209
    assert exact_sizes(["50"], 3) == [2]  # '50' has no decimals: 1/2 only
