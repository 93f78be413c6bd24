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
from analysis.disclosure import PRESETS
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
    # Curves read in key results equal the published curve at that month.
    cif, key = read(folder, "employment_cif"), key_rows(folder, "cif_employment_pct")
    for (factor, level), k in key.iterrows():
        at = cif[cif["months"] == int(level)] if len(cif) else cif
        if len(at) and shown(k["value"]):
            assert np.isclose(100 * at["cif"].iloc[0], k["value"], rtol=1e-12)


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
    from analysis.disclosure import control_step, verdicts

    tables = {"new_analysis": pd.DataFrame({"factor": ["ethnicity"], "level": ["White"], "n": [23], "mean_days": [12.345]})}
    keys = [{"measure": "new_measure", "factor": "all", "level": "all", "value": 3.21, "conf_low": np.nan,
             "conf_high": np.nan, "n": 23, "method": "a new estimator"}]
    out, published, log = control_step(tables, keys, PRESETS["nhs"])
    assert out["new_analysis"]["n"].iloc[0] == 25 and pd.isna(out["new_analysis"]["mean_days"].iloc[0])
    assert pd.isna(published[0]["value"]) and published[0]["n"] == 25
    verdict = verdicts(pd.DataFrame(log), ["new_analysis.csv", "key_results.csv"], PRESETS["nhs"])
    assert verdict.loc[verdict["file"] != "figures/*.png", "rule"].str.startswith("review").all()
