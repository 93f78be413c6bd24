"""A group's statistic is shown or hidden alike in every file of a release, and where shown it is the same
number: otherwise one file gives back what another withheld."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.pipeline import run
from analysis.release import PRESETS
from analysis.stats.modelling import comparing
from test_disclosure_attack import EXTRACT_DATE, MIW_SITES, read, write_extract

ROOT = Path(__file__).resolve().parent.parent


def shown(value) -> bool:
    return value is not None and not pd.isna(value)


def key_rows(folder: Path, measure: str) -> pd.DataFrame:
    key = read(folder, "key_results")
    return key[key["measure"] == measure].set_index(["factor", "level"])


def check_release(folder: Path) -> None:
    # A column blank on every row must not be named row by row in `suppressed`: the rows that name it (a
    # count from 1 to 7) would be told apart from those that do not (seen: a 0 given away that way).
    for path in folder.glob("*.csv"):
        table = read(folder, path.stem)
        if "suppressed" not in table or not len(table):
            continue
        flags = table["suppressed"].fillna("").astype(str).str.split("; ")
        for column in [c for c in table.columns if c != "suppressed" and table[c].isna().all()]:
            named = flags.map(lambda f: column in f)
            assert named.all() or not named.any(), (path.name, column)
    for suffix in ("", "_12m_window"):
        rates = read(folder, f"outcome{suffix}_rates")
        if not len(rates):
            continue
        key = key_rows(folder, f"outcome_rate_pct{suffix}")
        logit = read(folder, f"outcome{suffix}_logit")
        for r in rates.to_dict("records"):
            k = key.loc[(r["factor"], r["level"])]
            if shown(r["n"]) and shown(r["positive"]) and r["n"] - r["positive"] >= 15:  # no over-suppression (true >= 11)
                assert shown(r["rate_pct"]), (suffix, r["factor"], r["level"])
            assert shown(r["rate_pct"]) == shown(k["value"]), (suffix, r["factor"], r["level"])
            if shown(r["rate_pct"]):
                assert r["rate_pct"] == k["value"] and r["conf_low"] == k["conf_low"]
                assert r["n"] == k["n"]
            else:  # no odds ratio, unadjusted or adjusted, for a group whose rate is hidden
                mine = logit[(logit["factor"] == r["factor"]) & (logit["level"] == r["level"])] if len(logit) else logit
                assert not len(mine) or not mine["odds_ratio"].map(shown).any(), (r["factor"], r["level"])
        if len(logit):
            for model in ("unadjusted", "adjusted"):
                key_or = key_rows(folder, f"logit_or_{model}{suffix}")
                for r in logit[logit["model"].str.startswith(model)].to_dict("records"):
                    k = key_or.loc[(r["factor"], r["level"])]
                    assert shown(r["odds_ratio"]) == shown(k["value"])
                    if shown(k["value"]):
                        assert r["odds_ratio"] == k["value"]
    for prefix, curve_name, statistic in (("employment", "employment_cif_by_group", "cif_6m_pct"),
                                          ("in_work", "in_work_km_by_group", "km_survival_6m")):
        groups, curves = read(folder, f"{prefix}_by_group"), read(folder, curve_name)
        # The cause-specific Cox models and, for employment, the Fine-Gray models of the same job events.
        models = [(read(folder, f"{prefix}_cox"), "hazard_ratio", f"{prefix}_cox_hr")]
        if prefix == "employment":
            models.append((read(folder, "competing_fine_gray"), "subdistribution_hr", "employment_fine_gray_shr"))
        with_curve = set(zip(curves["factor"], curves["level"])) if len(curves) else set()
        for g in groups.to_dict("records"):
            visible = shown(g[statistic])
            assert ((g["factor"], g["level"]) in with_curve) == visible, (prefix, g["factor"], g["level"])
            for table, ratio, _ in models:
                if not visible and len(table):  # no ratio for a group without published statistics
                    mine = table[(table["factor"] == g["factor"]) &
                                 ((table["level"] == g["level"]) | (table["reference"] == g["level"]))]
                    assert not mine[ratio].map(shown).any(), (prefix, ratio, g["factor"], g["level"])
            if visible:
                first = curves[(curves["factor"] == g["factor"]) & (curves["level"] == g["level"])]["n_risk"].iloc[0]
                assert first == g["n"]  # the curve and the table tell the same number of people
        for table, ratio, measure in models:
            if not len(table):
                continue
            for model in ("unadjusted", "adjusted"):
                key_hr = key_rows(folder, f"{measure}_{model}")
                for r in table[table["model"].str.startswith(model)].to_dict("records"):
                    k = key_hr.loc[(r["factor"], r["level"])]
                    assert shown(r[ratio]) == shown(k["value"])
                    if shown(k["value"]):
                        assert (r[ratio], r["conf_low"], r["conf_high"]) == (k["value"], k["conf_low"], k["conf_high"])
    comp = read(folder, "access_composition")
    if len(comp):
        key = key_rows(folder, "representation_ratio")
        for r in comp[comp["category"] != "Not known"].to_dict("records"):
            k = key.loc[(r["characteristic"], r["category"])]
            assert shown(r["representation_ratio"]) == shown(k["value"])
            if shown(k["value"]):
                assert r["representation_ratio"] == k["value"] and r["ips_n"] == k["n"]
            if shown(r["ips_n"]) and r["ips_n"] >= 10 and shown(r["cmht_n"]):  # no over-suppression
                assert shown(r["representation_ratio"]) and shown(r["ips_pct"]), (r["characteristic"], r["category"])
    for family, measure in (("sites", "site_job_rate_pct"), ("own_sites", "own_site_job_rate_pct")):
        sites = read(folder, f"{family}_rates")
        if len(sites):
            key = key_rows(folder, measure)
            for r in sites.to_dict("records"):
                k = key.loc[("site", r["site"])]
                assert shown(r["rate_pct"]) == shown(k["value"]), (family, r["site"])
                if shown(k["value"]):
                    assert r["rate_pct"] == k["value"] and r["referrals"] == k["n"], (family, r["site"])
    # A curve's summary in the key results is the data's, published on its grid: a whole number of steps of the
    # share 5 people make of the cohort as published (at least a point), its limits outward on the same grid.
    key = key_rows(folder, "cif_employment_pct")
    for (factor, level), k in key.iterrows():
        if shown(k["value"]):
            step = max(1.0, np.ceil(100 * 5 / k["n"]))
            for value in (k["value"], k["conf_low"], k["conf_high"]):
                assert np.isclose(value / step, round(value / step)), (level, value, step)


@settings(max_examples=10, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(min_value=25, max_value=250), seed=st.integers(min_value=0, max_value=10_000),
       skew=st.sampled_from([0.0, 0.05, 0.1]))
def test_every_group_statistic_is_shown_or_hidden_alike_in_every_file(tmp_path_factory, n, seed, skew):
    """Half the runs are also given a site table, so that the extract's own sites are published beside it."""
    folder = tmp_path_factory.mktemp("consistency")
    extract, cmht = write_extract(folder, n, seed, skew)
    run(extract, EXTRACT_DATE, folder / "out", reference=cmht, sites_path=MIW_SITES if seed % 2 else None,
        disclosure=PRESETS["nhs"], with_figures=False)
    check_release(folder / "out")


def test_the_shipped_example_trust_release_is_consistent(tmp_path):
    examples = ROOT / "examples"
    run(examples / "trust_extract.csv", EXTRACT_DATE, tmp_path / "out", reference=examples / "trust_cmht_ethnicity.csv",
        mapping=examples / "trust_mapping.yaml", disclosure=PRESETS["nhs"], with_figures=False)
    check_release(tmp_path / "out")
    log = read(tmp_path / "out", "disclosure_log")
    verdicts = log[log["action"] == "verdict"]
    written = {p.name for p in (tmp_path / "out").glob("*.csv")} - {"disclosure_log.csv"} | {"figures/*.png"}
    assert set(verdicts["file"]) == written  # a verdict for every shared file
    assert verdicts["rule"].str.startswith("safe to release").all(), verdicts


@pytest.mark.parametrize("window", [("2022-04-02", None), (None, "2023-03-30")])
def test_an_entry_window_that_is_not_whole_months_is_refused_under_disclosure_control(tmp_path, window, capsys):
    from analysis.cli import main

    extract = ROOT / "data_synthetic" / "ips_extract.csv"
    args = ["run", str(extract), "--extract-date", EXTRACT_DATE, "--out", str(tmp_path / "out"), "--no-figures"]
    if window[0]:
        args += ["--entry-from", window[0]]
    if window[1]:
        args += ["--entry-to", window[1]]
    assert main(args) == 2
    assert "day of a month" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    assert main(args + ["--disclosure", "none"]) == 0  # internal use may cut anywhere


def test_a_table_or_measure_without_a_rule_is_blanked_and_sent_for_review():
    from analysis.release import control_step, verdicts

    tables = {"new_analysis": pd.DataFrame({"factor": ["ethnicity"], "level": ["White"], "n": [23], "mean_days": [12.345]})}
    keys = [{"measure": "new_measure", "factor": "all", "level": "all", "value": 3.21, "conf_low": np.nan,
             "conf_high": np.nan, "n": 23, "method": "a new estimator"}]
    out, published, log = control_step(tables, keys, PRESETS["nhs"])
    assert out["new_analysis"]["n"].iloc[0] == 25 and pd.isna(out["new_analysis"]["mean_days"].iloc[0])
    assert pd.isna(published[0]["value"]) and published[0]["n"] == 25
    verdict = verdicts(pd.DataFrame(log), ["new_analysis.csv", "key_results.csv"], PRESETS["nhs"])
    verdicts_of_files = verdict[(verdict["action"] == "verdict") & (verdict["file"] != "figures/*.png")]
    assert verdicts_of_files["rule"].str.startswith("review").all()


# --- every interval a release publishes holds the estimate of the same run without disclosure control --------

INTERVALS = {  # (low, high) -> the estimate it is an interval of, first found in the table
    ("conf_low", "conf_high"): ("rate_pct", "odds_ratio", "hazard_ratio", "subdistribution_hr", "cif_pct", "ratio",
                                "value"),
    ("ratio_conf_low", "ratio_conf_high"): ("representation_ratio",),
    ("pct_of_cmht_group_conf_low", "pct_of_cmht_group_conf_high"): ("pct_of_cmht_group_in_ips",),
    ("difference_conf_low", "difference_conf_high"): ("difference_pp",),
    ("km_median_conf_low", "km_median_conf_high"): ("km_median_days",),
    ("cif_6m_conf_low", "cif_6m_conf_high"): ("cif_6m_pct",),
    ("cif_12m_conf_low", "cif_12m_conf_high"): ("cif_12m_pct",),
    ("re_conf_low", "re_conf_high"): ("random_effects_rate_pct",),
    ("prediction_low", "prediction_high"): ("random_effects_rate_pct",),
    ("robust_conf_low", "robust_conf_high"): ("ratio",),
}
ROW_KEYS = ("measure", "model", "term", "factor", "level", "reference", "characteristic", "category", "site", "months",
            "definition", "cause", "analysis", "approach", "test", "phase", "version", "interval", "age")


def intervals_missing_the_estimate(released: Path, uncontrolled: Path) -> tuple[int, list[str]]:
    """(intervals checked, those that do not hold the uncontrolled estimate), over every file of a release."""
    checked, missed = 0, []
    for path in sorted(released.glob("*.csv")):
        mine, theirs = read(released, path.stem), read(uncontrolled, path.stem)
        if not len(mine) or not len(theirs):
            continue
        for (low, high), estimates in INTERVALS.items():
            estimate = next((e for e in estimates if e in theirs and e in mine), None)
            if estimate is None or low not in mine or high not in mine:
                continue
            keys = [k for k in ROW_KEYS if k in mine and k in theirs]
            if path.stem == "key_results":
                mine = mine[mine["interval"] == "95% CI"]
            if not keys:  # a one-row summary (sites_summary): the row itself
                if len(mine) != 1 or len(theirs) != 1:
                    continue
                mine, theirs, keys = mine.assign(row="0"), theirs.assign(row="0"), ["row"]
            both = mine[keys + [low, high]].astype({k: str for k in keys}).merge(
                theirs[keys + [estimate]].astype({k: str for k in keys}), on=keys, how="inner")
            both = both[both[low].notna() & both[high].notna() & both[estimate].notna()]
            checked += len(both)
            bad = both[(both[estimate] < both[low] - 1e-9) | (both[estimate] > both[high] + 1e-9)]
            missed += [f"{path.name} {dict(r[keys])} {estimate} {r[estimate]} outside {r[low]}-{r[high]}"
                       for _, r in bad.iterrows()]
    return checked, missed


@pytest.mark.parametrize("case", ["synthetic", "messy export", "small skewed"])
def test_every_published_interval_holds_the_uncontrolled_estimate(tmp_path, case):
    """A release may be coarser than the data, never wrong: each CI of an nhs release contains the estimate the
    same analyses give without disclosure control."""
    from analysis.cli import main

    examples = ROOT / "examples"
    if case == "synthetic":
        data = ROOT / "data_synthetic"
        args = [str(data / "ips_extract.csv"), "--reference", str(data / "reference_population.csv"), "--sites",
                str(data / "making_ips_work_sites.csv"), "--staffing", str(data / "staffing.csv")]
    elif case == "messy export":
        args = [str(examples / "messy_export.xlsx"), "--mapping", str(examples / "messy_mapping.yaml"), "--reference",
                str(examples / "messy_cmht.csv"), "--exclude-invalid"]
    else:
        extract, cmht = write_extract(tmp_path / "in", 90, 7, 0.08)
        args = [str(extract), "--reference", str(cmht)]
    common = ["--extract-date", EXTRACT_DATE, "--no-figures"]
    assert main(["run", *args, *common, "--out", str(tmp_path / "nhs")]) == 0
    # The same analyses without rounding: the groups a release leaves out of its tests and models (those whose
    # statistics it hides) are left out here too, so each model is the one the release published.
    with comparing(PRESETS["nhs"].comparing()):
        assert main(["run", *args, *common, "--disclosure", "none", "--out", str(tmp_path / "none")]) == 0
    uncontrolled = tmp_path / "none"
    checked, missed = intervals_missing_the_estimate(tmp_path / "nhs", uncontrolled)
    assert checked >= (150 if case != "small skewed" else 20) and missed == [], (checked, missed[:10])
