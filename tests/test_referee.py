"""The referee's sensitivity analyses (issue #25) against R's printed output (tests/test_referee/r_output.txt,
from referee.R on the fixtures of that folder), against the libraries, and against published worked
examples: cluster-robust variance, the restricted cubic spline, Rubin's rules, Holm, Schoenfeld's formula,
the imputation model; and the multiplicity plan and the disclosure rule of the new tables."""
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import r_prints
from analysis.questions import age_spline, clustering, missing
from analysis.stats import multinomial, multiplicity, power
from analysis.stats.cox import cox_efron
from analysis.questions.model_frames import dummies
from analysis.questions.outcome import logistic

HERE = Path(__file__).resolve().parent / "test_referee"
ROOT = HERE.parents[1]


def r_values(text: str) -> dict[str, np.ndarray]:
    """referee.R's "name[i] value" lines as {name: values in order}."""
    out: dict[str, list[float]] = {}
    for name, value in re.findall(r"^([\w.]+)(?:\[\d+\])? (\S+)$", text, re.M):
        out.setdefault(name, []).append(float(value))
    return {k: np.array(v) for k, v in out.items()}


@pytest.fixture(scope="module")
def r():
    return r_values((HERE / "r_output.txt").read_text())


def fixture(analysis: str) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    frame = pd.read_csv(HERE / f"{analysis}.csv")
    spec = pd.read_csv(HERE / "levels.csv")
    spec = spec[spec["analysis"] == analysis].sort_values(["factor", "position"])
    order = [f for f in ("ethnicity", "gender", "age_band", "diagnosis") if f in set(spec["factor"])]
    return frame, {f: list(spec.loc[spec["factor"] == f, "level"]) for f in order}


def test_logistic_cluster_robust_se_equals_sandwich_vcovCL(r):
    frame, levels = fixture("outcome")
    coef, cov, robust, _, n, _, _ = clustering.fit_logistic(frame, list(levels), levels)
    assert n == len(frame) == 450
    assert coef == pytest.approx(r["outcome.coef"], rel=1e-7)
    assert np.sqrt(np.diag(cov))[1:] == pytest.approx(r["outcome.se_model"], rel=1e-6)  # R: weights of the last IRLS step
    assert np.sqrt(np.diag(robust))[1:] == pytest.approx(r["outcome.se_cluster_raw"], rel=1e-6)
    g = frame["site"].nunique()
    assert np.sqrt(np.diag(robust) * g / (g - 1))[1:] == pytest.approx(r["outcome.se_cluster"], rel=1e-6)


@pytest.mark.parametrize("analysis", ["employment", "in_work"])
def test_cox_cluster_robust_se_equals_coxph_cluster(r, analysis):
    frame, levels = fixture(analysis)
    coef, cov, robust, *_ = clustering.fit_cox(frame, list(levels), levels)
    assert coef == pytest.approx(r[f"{analysis}.coef"], rel=1e-7, abs=1e-9)
    assert np.sqrt(np.diag(cov)) == pytest.approx(r[f"{analysis}.se_model"], rel=1e-7)
    assert np.sqrt(np.diag(robust)) == pytest.approx(r[f"{analysis}.se_cluster"], rel=1e-7)


def test_robust_variance_with_one_person_per_cluster_is_statsmodels_hc0():
    """Each person a cluster: the logistic sandwich is the heteroskedasticity-robust HC0 of statsmodels' GLM."""
    import statsmodels.api as sm

    frame, levels = fixture("outcome")
    frame = frame.assign(site=np.arange(len(frame)).astype(str))
    _, _, robust, _, _, _, _ = clustering.fit_logistic(frame, list(levels), levels)
    x, _ = dummies(frame, levels)
    fit = sm.GLM(frame["event"], sm.add_constant(x), family=sm.families.Binomial()).fit(cov_type="HC0", tol=1e-12)
    assert np.sqrt(np.diag(robust)) == pytest.approx(np.sqrt(np.diag(fit.cov_params())), rel=1e-6)


def test_efron_score_residuals_on_counts_equal_the_residuals_on_people():
    frame, levels = fixture("employment")
    x, _ = dummies(frame, levels)
    fit = cox_efron(x, frame["days"].to_numpy(), frame["event"].to_numpy())
    people = clustering.cox_score_residuals(fit.coef, x, frame["days"].to_numpy(), frame["event"].to_numpy(),
                                            np.ones(len(frame)))
    assert np.abs(people.sum(axis=0)).max() < 1e-9  # residuals sum to the score, 0 at the estimate
    cells = frame.groupby(["days", *levels, "event"]).size().rename("w").reset_index()
    xc, _ = dummies(cells, levels)
    on_counts = clustering.cox_score_residuals(fit.coef, xc, cells["days"].to_numpy(),
                                               (cells["event"] * cells["w"]).to_numpy(), cells["w"].to_numpy())
    assert on_counts.sum(axis=0) == pytest.approx(people.sum(axis=0), abs=1e-9)
    # and the cluster sums, whatever the grouping: per site on counts = per site on people
    sites = frame.groupby(["days", *levels, "event"])["site"].first().reset_index(drop=True)
    assert len(sites) == len(cells)


@pytest.mark.parametrize("analysis", ["outcome", "employment", "in_work"])
def test_spline_knots_basis_and_fit_equal_rms_rcs(r, analysis):
    frame, levels = fixture(analysis)
    knots = age_spline.harrell_knots(frame["age"])
    assert knots == pytest.approx(r[f"{analysis}.knots"], rel=1e-12)
    basis = age_spline.rcs_basis([20, 30, 40, 50, 60, 70], knots)
    assert basis.ravel() == pytest.approx(r[f"{analysis}.basis"], rel=1e-10, abs=1e-12)
    kind = "logistic" if analysis == "outcome" else "cox"
    others = {f: v for f, v in levels.items() if f != "age_band"}
    keys = (["days"] if kind == "cox" else []) + [*levels, "age"]
    cells = frame.groupby(keys).agg(size=("event", "size"), sum=("event", "sum")).reset_index()
    base, _ = dummies(cells, others)
    bands, _ = dummies(cells, {"age_band": levels["age_band"]})
    ll_spline, coef, _, _ = age_spline._fit(kind, cells, np.column_stack([base, age_spline.rcs_basis(cells["age"], knots)]))
    ll_bands, *_ = age_spline._fit(kind, cells, np.column_stack([base, bands]))
    assert coef == pytest.approx(r[f"{analysis}.spline_coef"], rel=1e-6, abs=1e-9)
    # log-likelihoods on counts differ from R's on people by a constant (logistic); their difference does not
    assert ll_spline - ll_bands == pytest.approx(r[f"{analysis}.spline_loglik"][0] - r[f"{analysis}.bands_loglik"][0],
                                                 rel=1e-7, abs=1e-9)


def test_the_spline_tests_nest_as_stated(synthetic):
    from analysis.questions.model_frames import frames

    tests, ratios = age_spline.analyse_one(frames(synthetic, pd.Timestamp("2024-02-27"))["outcome"], "outcome")
    t = tests.set_index("comparison")
    assert list(t["df"]) == [4, 3, 2, 3, 4]
    # LR(bands + spline vs none) two ways: through the bands and through the spline
    via_bands = t.loc["age as bands, against no age", "lr_chi2"] + t.loc["spline added to the bands", "lr_chi2"]
    via_spline = t.loc["age as a spline, against no age", "lr_chi2"] + t.loc["bands added to the spline", "lr_chi2"]
    assert via_bands == pytest.approx(via_spline, rel=1e-9)
    at_reference = ratios[ratios["age"] == 45]["ratio"].iloc[0]
    assert 0 < at_reference < 10 and (ratios["conf_low"] <= ratios["ratio"]).all()


def test_rubins_rules_equal_mice_pool_scalar(r):
    pool = pd.read_csv(HERE / "pool_input.csv")
    q = pool.pivot(index="imputation", columns="parameter", values="estimate").to_numpy()
    u = pool.pivot(index="imputation", columns="parameter", values="variance").to_numpy()
    pooled = missing.rubin(q, u, df_complete=100 - 4)
    for j in range(q.shape[1]):
        assert pooled["qbar"][j] == pytest.approx(r[f"pool{j}.qbar"][0], rel=1e-12)
        assert pooled["t"][j] == pytest.approx(r[f"pool{j}.t"][0], rel=1e-12)
        assert pooled["df"][j] == pytest.approx(r[f"pool{j}.df"][0], rel=1e-10)
        assert pooled["fmi"][j] == pytest.approx(r[f"pool{j}.fmi"][0], rel=1e-10)


def test_holm_equals_p_adjust_and_statsmodels(r):
    from statsmodels.stats.multitest import multipletests

    p = np.array([0.01, 0.04, 0.03, 0.2, 0.005, 0.5])
    assert multiplicity.holm(p) == pytest.approx(r["holm"], rel=1e-12)
    rng = np.random.default_rng(3)
    for _ in range(50):
        p = rng.random(rng.integers(1, 12)) ** 3
        assert multiplicity.holm(p) == pytest.approx(multipletests(p, method="holm")[1], rel=1e-12)
    # a p not published counts as 1: the others' adjusted p are never smaller than with the true value
    true = np.array([0.001, 0.02, 0.03])
    hidden = multiplicity.holm(np.array([np.nan, 0.02, 0.03]))
    assert np.isnan(hidden[0]) and (hidden[1:] >= multiplicity.holm(true)[1:]).all()


def test_schoenfeld_equals_published_worked_examples():
    """Trials 2015;16:213, Table 1 (doi:10.1186/s13063-015-0727-9): Schoenfeld's total sample size for 80%
    power at the 5% level, equal allocation and half the people censored, events rounded up to an even
    number: 1264, 384, 204 and 132 for hazard ratios 1.25, 1.5, 1.75 and 2. And the MRC CBU statistics
    wiki's log-rank example (FAQ/powsurv): with z = 1.96 and 0.84, a hazard ratio of log(0.75)/log(0.37)
    needs 20.39 events."""
    for hr, total in ((1.25, 1264), (1.5, 384), (1.75, 204), (2.0, 132)):
        events = power.events_required(hr)
        assert 2 * (2 * np.ceil(events / 2)) == total
    hr = np.log(0.75) / np.log(0.37)
    exact = power.events_required(hr)  # with the exact normal quantiles
    rounded_z, exact_z = 1.96 + 0.84, 1.959963984540054 + 0.8416212335729143
    assert exact * (rounded_z / exact_z) ** 2 == pytest.approx(20.39, abs=0.005)


def test_detectable_hazard_ratio_inverts_the_events_formula():
    for hr, share in ((1.5, 0.5), (2.0, 0.2), (0.6, 0.35)):
        events = power.events_required(hr, share)
        assert power.detectable_hazard_ratio(events, share) == pytest.approx(max(hr, 1 / hr), rel=1e-12)
        assert power.achieved_power(hr, events, share) == pytest.approx(0.8, abs=1e-3)
    assert power.detectable_hazard_ratio(400, 0.5) < power.detectable_hazard_ratio(100, 0.5)


def test_multinomial_imputation_model_equals_statsmodels_mnlogit_without_the_ridge():
    import statsmodels.api as sm

    rng = np.random.default_rng(11)
    n = 400
    x = np.column_stack([np.ones(n), rng.normal(size=n), rng.random(n) < 0.4])
    eta = np.column_stack([np.zeros(n), x @ [0.2, 0.8, -0.5], x @ [-0.4, -0.3, 1.0]])
    prob = np.exp(eta) / np.exp(eta).sum(axis=1, keepdims=True)
    y = (prob.cumsum(axis=1) < rng.random(n)[:, None]).sum(axis=1)
    beta, cov = multinomial.multinomial_fit(y, x, np.ones(n), 3, ridge=0.0)
    fit = sm.MNLogit(y, x).fit(disp=0, method="newton", tol=1e-12)
    assert beta == pytest.approx(np.asarray(fit.params), rel=1e-6)
    assert np.sqrt(np.diag(cov)) == pytest.approx(np.sqrt(np.diag(fit.cov_params())), rel=1e-5)
    # on counts per distinct row, the same fit
    unique, counts = np.unique(np.column_stack([y, x]), axis=0, return_counts=True)
    on_counts, _ = multinomial.multinomial_fit(unique[:, 0].astype(int), unique[:, 1:], counts.astype(float), 3, ridge=0.0)
    assert on_counts == pytest.approx(beta, rel=1e-8)


def test_missing_data_table_complete_case_is_the_papers_model_and_imputation_is_seeded(analysed):
    _, tables = analysed
    models = tables["missing_data_models"]
    paper = tables["outcome_logit"][tables["outcome_logit"]["model"].str.startswith("adjusted")]
    mine = models[(models["analysis"] == "outcome") & (models["approach"] == "complete case")]
    assert list(mine["level"]) == list(paper["level"])
    assert mine["ratio"].to_numpy() == pytest.approx(paper["odds_ratio"].to_numpy(), rel=1e-9)
    cox = tables["in_work_cox"][tables["in_work_cox"]["model"].str.startswith("adjusted")]
    mine = models[(models["analysis"] == "in_work") & (models["approach"] == "complete case")]
    assert mine["ratio"].to_numpy() == pytest.approx(cox["hazard_ratio"].to_numpy(), rel=1e-9)
    own = models[(models["approach"] == "'Not known' as its own level") & (models["level"] == "Not known")]
    assert set(own["factor"]) == {"ethnicity", "diagnosis"}  # gender's 4 'Not known' are too few to compare
    imputed = models[models["approach"] == "multiple imputation"]
    assert imputed["fraction_missing_information"].between(0, 1).all()
    assert (imputed["n"] > mine["n"].max()).all()
    summary = tables["missing_data_summary"]
    assert (summary.loc[summary["approach"] == "multiple imputation", "imputations"] == missing.IMPUTATIONS).all()


def test_imputation_recovers_a_known_effect_under_mcar():
    """Ethnicity deleted completely at random for 30%: the imputed estimate of a strong true odds ratio (3)
    is close to the full-data estimate, and multiple imputation is seeded (the same twice)."""
    rng = np.random.default_rng(5)
    n = 1500
    group = rng.choice(["A", "B"], size=n, p=[0.6, 0.4])
    y = rng.random(n) < np.where(group == "B", 0.6, 1 / 3)  # odds 1.5 vs 0.5: OR 3
    frame = pd.DataFrame({"person_id": np.arange(n).astype(str), "ethnicity": group, "gender": "Female",
                          "age_band": "25-34", "diagnosis": "Psychosis", "age": rng.integers(18, 65, n).astype(float),
                          "site": "all", "event": y.astype(int), "count": 1})
    full_or = (y[group == "B"].mean() / (1 - y[group == "B"].mean())) / (y[group == "A"].mean() / (1 - y[group == "A"].mean()))
    hidden = frame.copy()
    hidden.loc[rng.random(n) < 0.3, "ethnicity"] = "Not known"
    table, _ = missing.analyse({"outcome": hidden})
    again, _ = missing.analyse({"outcome": hidden})
    pd.testing.assert_frame_equal(table, again)
    mi = table[(table["approach"] == "multiple imputation") & (table["level"] == "B")].iloc[0]
    assert mi["ratio"] == pytest.approx(full_or, rel=0.1)
    assert mi["conf_low"] > 1.5


def test_multiplicity_plan_marks_the_papers_tests_primary(analysed):
    _, tables = analysed
    plan = tables["multiplicity"]
    primary = plan[plan["role"] == "primary"]
    assert len(primary) == 5 and set(primary["tests_in_family"]) == {5}
    assert set(zip(primary["source"], primary["factor"])) == {("access_tests.csv", "ethnicity")} | {
        ("outcome_tests.csv", f) for f in ("ethnicity", "gender", "age_band", "diagnosis")}
    assert (plan["holm_p"] >= plan["raw_p"] - 1e-15).all()
    tests = tables["outcome_tests"]
    outcome_p = tests[tests["test"] == "as published"].set_index("factor")["p"]  # the paper's test is primary
    for _, row in primary[primary["source"] == "outcome_tests.csv"].iterrows():
        assert row["raw_p"] == outcome_p[row["factor"]]
    assert plan.groupby("family")["role"].nunique().max() == 1


def test_the_committed_r_output_is_what_r_prints_today():
    """Skips only where R or its packages are not installed (CI installs neither); the checks above run anyway."""
    printed = r_prints(HERE / "referee.R", HERE, missing="R's survival, sandwich, rms or mice")
    now, committed = r_values(printed), r_values((HERE / "r_output.txt").read_text())
    assert now.keys() == committed.keys()
    for key in now:
        assert now[key] == pytest.approx(committed[key], rel=1e-9, abs=1e-12), key


def test_logistic_on_counts_agrees_with_the_person_level_fit():
    frame, levels = fixture("outcome")
    x, _ = dummies(frame, levels)
    coef, _, _ = logistic(frame["event"], np.ones(len(frame)), x)
    grouped, _, _, _, _, _, _ = clustering.fit_logistic(frame, list(levels), levels)
    assert grouped == pytest.approx(coef[1:], rel=1e-8)


@pytest.fixture(scope="module")
def nhs_run(tmp_path_factory):
    """A generated extract of 300 people run under the default nhs disclosure rule."""
    from analysis.cli import main

    folder = tmp_path_factory.mktemp("nhs")
    assert main(["synth", "--n", "300", "--seed", "11", "--out", str(folder)]) == 0
    assert main(["run", str(folder / "ips_extract.csv"), "--reference", str(folder / "reference_population.csv"),
                 "--extract-date", "2024-02-27", "--out", str(folder / "out"), "--no-figures",
                 "--specialists", "4", "--in-work-limit", "3"]) == 0
    out = folder / "out"
    return {p.stem: pd.read_csv(p) for p in out.glob("*.csv")}


NEW_TABLES = ("capacity_arrivals", "capacity_census", "capacity_durations", "capacity_littles_law", "capacity_steady",
              "capacity_what_if", "missing_data_models", "missing_data_summary", "clustering_models",
              "age_spline_tests", "age_spline_ratios", "power_detectable_hr", "multiplicity")


def test_every_new_table_has_a_rule_and_is_safe_to_release(nhs_run):
    log = nhs_run["disclosure_log"]
    verdicts = log[log["action"] == "verdict"].set_index("file")["rule"]
    for name in NEW_TABLES:
        assert name in nhs_run, name
        assert verdicts[f"{name}.csv"].startswith("safe to release"), (name, verdicts[f"{name}.csv"])
    keys = nhs_run["key_results"]
    mine = keys[keys["measure"].str.startswith(("capacity_", "holm_p_"))]
    assert len(mine) and not mine["method"].str.contains("no disclosure rule").any()
    limits = mine.loc[mine["measure"] == "capacity_places_freed", "level"].tolist()
    assert limits[-1] == "in-work 3m" and "IPS-LITE" in limits  # the run option's limit after the defaults


def test_new_count_tables_show_no_small_or_unrounded_count(nhs_run):
    for name, columns in (("capacity_arrivals", ["first_contacts", "in_work_starts", "education_starts", "discharges"]),
                          ("capacity_census", ["seeking", "in_work", "education", "total", "mean_total"]),
                          ("capacity_what_if", ["observed_people_cut", "observed_jobs_forgone", "people_cut_per_year",
                                                "more_starts_per_year", "jobs_forgone_per_year"]),
                          ("missing_data_summary", ["n_analysed", "n_total", "events"])):
        values = nhs_run[name][columns].to_numpy(dtype=float).ravel()
        values = values[~np.isnan(values)]
        assert len(values) and (values % 5 == 0).all(), name
    # the per-day census is not published: one row a month, and no person-days
    census = nhs_run["capacity_census"]
    assert len(census) == census["month"].nunique() == len(nhs_run["capacity_arrivals"])
    assert "observed_person_days_freed" not in nhs_run["capacity_what_if"]
    steady = nhs_run["capacity_steady"].iloc[0]
    first_contacts = nhs_run["capacity_arrivals"]["first_contacts"]
    # the arrival rate is recomputed from the rounded count: it gives back no exact cohort size
    assert steady["arrivals_per_month"] * steady["entry_window_days"] / (365.25 / 12) % 5 == pytest.approx(0, abs=1e-6)
    assert first_contacts.notna().all() or nhs_run["capacity_arrivals"]["suppressed"].str.contains("first_contacts").any()


def test_new_model_tables_at_reduced_precision_and_consistent_with_the_other_files(nhs_run):
    for name in ("missing_data_models", "clustering_models", "age_spline_ratios"):
        table = nhs_run[name]
        assert not {"coef", "se", "z", "log_odds_ratio"} & set(table.columns)
        ratios = table["ratio"].dropna().to_numpy()
        assert len(ratios) and np.allclose(ratios, np.round(ratios, 2))
    # power: the group sizes and events are those the by-group file publishes
    power_table = nhs_run["power_detectable_hr"].dropna(subset=["n"])
    groups = nhs_run["employment_by_group"].set_index(["factor", "level"])
    for _, r in power_table[power_table["analysis"] == "employment"].iterrows():
        assert r["n"] == groups.loc[(r["factor"], r["level"]), "n"]
        assert r["events"] == groups.loc[(r["factor"], r["level"]), "events"]
    # multiplicity: the raw p-values are the published ones
    plan = nhs_run["multiplicity"]
    tests = nhs_run["outcome_tests"].set_index("factor")["p"]
    for _, r in plan[plan["source"] == "outcome_tests.csv"].iterrows():
        published = tests[r["factor"]]
        assert (np.isnan(r["raw_p"]) and np.isnan(published)) or r["raw_p"] == pytest.approx(round(published, 3), abs=1e-12)


@pytest.mark.parametrize("shape", ["no outcome", "everyone in work at referral", "twelve people", "no site"])
def test_the_new_steps_leave_out_what_cannot_be_fitted_instead_of_failing(synthetic, shape):
    from analysis.questions import referee

    data = {"no outcome": synthetic.assign(outcome="none", outcome_date=pd.NaT),
            "everyone in work at referral": synthetic[synthetic["outcome"] == "retained_employment"],
            "twelve people": synthetic.head(12), "no site": synthetic.drop(columns="site")}[shape].reset_index(drop=True)
    steps = {label: tables for label, _, tables in referee.steps(data, pd.Timestamp("2024-02-27"))}
    assert "capacity and time limits" in steps
    assert ("clustering by site" in steps) == (shape == "everyone in work at referral")  # sites and events there
    assert all(len(t.columns) for tables in steps.values() for t in tables.values())


def test_an_imputation_model_is_fitted_on_everyone_known_or_on_a_seeded_sample_above_fit_max():
    from analysis.questions import missing

    observed = np.zeros(missing.FIT_MAX + 500, dtype=bool)
    observed[::2] = True  # fewer than FIT_MAX known: all of them
    rows = missing.fitted_on(observed, np.random.default_rng(1))
    assert np.array_equal(rows, np.flatnonzero(observed))
    observed[:] = True  # more than FIT_MAX known: FIT_MAX distinct known people, in order, the same for a seed
    rows = missing.fitted_on(observed, np.random.default_rng(1))
    assert len(rows) == missing.FIT_MAX == len(set(rows)) and np.all(np.diff(rows) > 0)
    assert np.array_equal(rows, missing.fitted_on(observed, np.random.default_rng(1)))
    known = ["x", "y"] * (missing.FIT_MAX // 2 + 1)  # two known groups: an imputation model is fitted
    people = pd.DataFrame({f: known + [missing.NOT_KNOWN] for f in missing.FACTORS})
    assert "seeded random sample of 10,000" in missing.sample_note(people)
    assert missing.sample_note(people.iloc[-20:]) == ""
    # one known group: nobody is modelled (the unknown are put in it), so no sample is said to be used
    single = pd.DataFrame({f: ["x"] * (missing.FIT_MAX + 1) + [missing.NOT_KNOWN] for f in missing.FACTORS})
    assert missing.sample_note(single) == ""


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 4), st.integers(0, 400), st.integers(0, 2 ** 32 - 1), st.floats(0.01, 30))
def test_drawn_classes_are_the_classes_a_row_wise_softmax_draw_gives(others, rows, seed, scale):
    """The imputation's draw, column by column, gives the classes that a row-wise softmax and cumsum give
    (the arithmetic it replaced), including rows whose linear predictors overflow a plain exp."""
    rng = np.random.default_rng(seed)
    linear, u = rng.normal(scale=scale, size=(rows, others)), rng.random(rows)
    eta = np.column_stack([np.zeros(rows), linear])
    eta -= eta.max(axis=1, keepdims=True)
    prob = np.exp(eta)
    prob /= prob.sum(axis=1, keepdims=True)
    expected = np.minimum((prob.cumsum(axis=1) < u[:, None]).sum(axis=1), others)
    assert np.array_equal(multinomial.drawn_classes(linear, u), expected)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 300), st.integers(0, 2 ** 32 - 1), st.floats(0, 1))
def test_a_sweep_that_rewrites_only_the_imputed_rows_leaves_the_design_matrix_a_full_fill_would(people, seed, share):
    """_fill with `only` (the rows whose other factors are imputed) after the values there change gives
    the matrix that filling every row gives."""
    rng = np.random.default_rng(seed)
    categories = {f: [f"g{i}" for i in range(n)] for f, n in zip(missing.FACTORS, (5, 3, 1, 4))}
    codes = {f: np.where(rng.random(people) < share, -1, rng.integers(0, max(len(c), 1), people)).astype(np.int8)
             for f, c in categories.items()}
    rows = np.flatnonzero(rng.random(people) < 0.5)
    extra = rng.normal(size=(people, 2))
    matrix = missing._fill(missing._predictors("ethnicity", categories, extra[rows]), rows, "ethnicity", codes, categories)
    current = {f: c.copy() for f, c in codes.items()}
    for f, c in current.items():
        c[c < 0] = rng.integers(0, max(len(categories[f]), 1), int((c < 0).sum()))
    only = {f: np.flatnonzero(codes[f][rows] < 0) for f in missing.FACTORS}
    partial = missing._fill(matrix, rows, "ethnicity", current, categories, only)
    full = missing._fill(missing._predictors("ethnicity", categories, extra[rows]), rows, "ethnicity", current, categories)
    assert np.array_equal(partial, full)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.sampled_from(["White", "Black", "Not known", "asian", "Ä", ""]), max_size=60),
       st.sampled_from(["object", "string", "string[pyarrow]", "category", "category+unused", "with missing"]))
def test_a_factor_recoded_from_its_codes_is_the_factor_made_from_its_text(values, kind):
    """as_sorted_text reads a categorical's or a text column's codes instead of making text of every person:
    the categories (present groups, sorted as text) and each person's group are those of the text path."""
    from analysis.questions.model_frames import as_sorted_text
    column = pd.Series(values, dtype=object)
    if kind == "with missing":
        column = pd.Series([None] + values, dtype=object)
    elif kind.startswith("category"):
        column = column.astype("category")
        if kind.endswith("unused"):
            column = column.cat.add_categories(["Zzz unused", "Aaa unused"])
    elif kind != "object":
        column = column.astype(kind)
    text = column.astype(str)
    expected = pd.Categorical(text, categories=sorted(text.unique()))
    got = as_sorted_text(column)
    assert list(got.categories) == list(expected.categories)
    assert np.array_equal(np.asarray(got.codes), np.asarray(expected.codes))


def test_detectable_hazard_ratios_count_each_group_from_a_categorical_as_from_its_text(synthetic):
    """power.detectable counts people and events per group from the factor's codes: the same table as when
    the factor is given as text."""
    from analysis.questions.model_frames import frames
    frame = frames(synthetic, pd.Timestamp("2024-02-27"))["employment"]
    as_text = frame.assign(**{f: frame[f].astype(str) for f in ("ethnicity", "gender", "age_band", "diagnosis")})
    pd.testing.assert_frame_equal(power.detectable(frame, "employment"), power.detectable(as_text, "employment"))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 150), st.integers(0, 2 ** 32 - 1), st.booleans(), st.sampled_from([0, 40, 10 ** 9]))
def test_counting_the_known_people_once_gives_each_copys_cells(people, seed, survival, collapse_from):
    """imputed_cells_each counts the people whose model factors are all known once and adds each copy's
    imputed people: every copy's cells equal imputed_cells on all its people (per person below
    COLLAPSE_FROM, per pattern above), to the bit."""
    import analysis.questions.missing as mi
    rng = np.random.default_rng(seed)
    categories = {f: [f"{f}{j}" for j in range(rng.integers(2, 5))] for f in ("a", "b", "c")}
    base = {f: np.where(rng.random(people) < 0.3, -1, rng.integers(0, len(c), people)).astype(np.int8)
            for f, c in categories.items()}
    copies = [{f: np.where(b < 0, rng.integers(0, len(categories[f]), people), b).astype(np.int8)
               for f, b in base.items()} for _ in range(3)]
    where = rng.permutation(people)[: rng.integers(0, people + 1)] if people else np.zeros(0, dtype=np.int64)
    n = len(where)
    times = np.unique(rng.integers(0, 30, n), return_inverse=True) if survival else None
    event = rng.integers(0, 2, n)
    levels = {f: [c[j] for j in sorted(set(rng.integers(0, len(c), 3)))] for f, c in categories.items()
              if rng.random() < 0.8}
    unknown = np.zeros(n, dtype=bool)
    for f in levels:
        unknown |= base[f][where] < 0
    original = mi.COLLAPSE_FROM
    try:
        mi.COLLAPSE_FROM = collapse_from
        each = list(mi.imputed_cells_each(times, event, where, copies, unknown, categories, levels))
        expected = [mi.imputed_cells(times, event, {f: c[f][where] for f in levels}, categories, levels) for c in copies]
    finally:
        mi.COLLAPSE_FROM = original
    assert len(each) == len(copies)
    for got, want in zip(each, expected):
        pd.testing.assert_frame_equal(got, want, check_exact=True)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2 ** 32 - 1), st.sampled_from([0.05, 0.3]))
def test_an_imputed_copy_is_the_known_codes_with_its_own_imputed_values_put_in(seed, share):
    """Each ImputedCopy (held as its imputed values only) gives for every factor a whole column: the known
    codes where known, a known group where imputed, zeros for a factor with one known group, the codes
    themselves for a factor with nothing unknown; and the copies differ only where values were imputed."""
    rng = np.random.default_rng(seed)
    n = 120
    groups = {"ethnicity": ["White", "Black", "Asian"], "gender": ["Female"], "age_band": ["18-24", "25-34"],
              "diagnosis": ["Psychosis", "Bipolar"]}
    people = pd.DataFrame({f: np.where((rng.random(n) < share) & (f != "age_band"), missing.NOT_KNOWN,
                                       rng.choice(g, n)) for f, g in groups.items()})
    people.loc[0, "gender"] = missing.NOT_KNOWN  # at least one unknown in the factor with one known group
    categories = missing.categories_of(people)
    copies = missing.impute(people, lambda rows: rng.normal(size=(len(rows), 1)), np.random.default_rng(seed),
                            imputations=3, iterations=2)
    for copy in copies:
        assert set(copy) == set(missing.FACTORS) and len(copy) == len(missing.FACTORS)
        for f in missing.FACTORS:
            column = copy[f]
            known = (people[f] != missing.NOT_KNOWN).to_numpy()
            expected = np.array([categories[f].index(v) if v in categories[f] else -1 for v in people[f]])
            assert len(column) == n and np.array_equal(column[known], expected[known])
            assert ((column >= 0) & (column < len(categories[f]))).all()
        assert (copy["gender"] == 0).all()
    assert all(np.array_equal(copies[0]["age_band"], c["age_band"]) for c in copies)
