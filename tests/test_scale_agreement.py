import numpy as np
"""The fast paths (counts per day and covariate pattern, own IRLS) give the reference fitters' numbers:
lifelines for Kaplan-Meier and Cox, statsmodels for cumulative incidence, log-rank and logistic models,
to 1e-8 relative on every estimate, on a synthetic extract small enough for the reference fitters."""
import pandas as pd
import pytest

from analysis.questions import employment, outcome
from analysis.data.calibration import Calibration
from analysis.core.contract import FACTORS
from analysis.stats.survival import aalen_johansen, kaplan_meier, logrank
from analysis.data.load import validate_extract
from analysis.stats.modelling import cox_by_factors
from analysis.stats.modelling import WEIGHT, collapse

EXTRACT_DATE = pd.Timestamp("2024-02-27")
RTOL = 1e-8


@pytest.fixture(scope="module")
def times():
    from analysis.synthetic import generate

    extract, _ = generate(Calibration.read(), n=4000, seed=11)
    text = extract.astype(str).replace({"NaT": ""})
    data = validate_extract(text, "synthetic", EXTRACT_DATE)
    return data, employment.employment_times(data, EXTRACT_DATE)


def test_kaplan_meier_on_counts_equals_lifelines(times):
    from lifelines import KaplanMeierFitter

    _, t = times
    cells = collapse(t, ["days", "cause", "employed"])
    mine = kaplan_meier(cells["days"], cells["employed"], cells[WEIGHT])
    theirs = KaplanMeierFitter().fit(t["days"], t["employed"]).survival_function_.iloc[:, 0]
    assert mine["survival"].to_numpy() == pytest.approx(theirs.loc[mine["time"]].to_numpy(), rel=RTOL)


def test_cumulative_incidence_with_ties_equals_statsmodels(times):
    from statsmodels.duration.survfunc import CumIncidenceRight

    _, t = times
    cells = collapse(t, ["days", "cause", "employed"])
    mine = aalen_johansen(cells["days"], cells["cause"], of=1, weight=cells[WEIGHT])
    theirs = CumIncidenceRight(t["days"].to_numpy(float), t["cause"].to_numpy())
    reference = pd.Series(theirs.cinc[0], index=theirs.times)
    at = mine[mine["n_event"] + mine["n_competing"] > 0]
    assert at["cif"].to_numpy() == pytest.approx(reference.loc[at["time"]].to_numpy(), rel=RTOL)


def test_logrank_on_counts_equals_statsmodels_survdiff(times):
    from statsmodels.duration.survfunc import survdiff

    _, t = times
    known = t[t["ethnicity"].astype(str) != "Not known"]
    cells = collapse(known, ["days", "cause", "employed"])
    mine = logrank(cells["days"], cells["employed"], cells["ethnicity"], cells[WEIGHT])
    chi2, p = survdiff(known["days"].to_numpy(float), known["employed"].to_numpy(), known["ethnicity"].astype(str).to_numpy())
    assert mine["chi2"] == pytest.approx(chi2, rel=RTOL)
    assert mine["p"] == pytest.approx(p, rel=RTOL)


def test_adjusted_cox_on_counts_equals_lifelines_efron(times):
    from lifelines import CoxPHFitter

    _, t = times
    cells = collapse(t, ["days", "cause", "employed"])
    mine, _, _ = cox_by_factors(cells, list(FACTORS), "days", "employed", model="adjusted")
    people = t[(t[list(FACTORS)].astype(str) != "Not known").all(axis=1)]
    design = pd.DataFrame({"days": people["days"], "employed": people["employed"]})
    for _, term in mine.iterrows():
        design[term["term"]] = (people[term["factor"]].astype(str) == term["level"]).astype(float)
    fitter = CoxPHFitter().fit(design, "days", "employed", fit_options={"precision": 1e-14, "max_steps": 200})
    assert mine["coef"].to_numpy() == pytest.approx(fitter.params_[mine["term"]].to_numpy(), rel=RTOL)
    assert mine["se"].to_numpy() == pytest.approx(fitter.standard_errors_[mine["term"]].to_numpy(), rel=RTOL)


def test_adjusted_logistic_on_counts_equals_statsmodels_glm(times):
    import statsmodels.api as sm

    data, _ = times
    keys, tables = outcome.analyse(data, EXTRACT_DATE)
    mine = tables["outcome_logit"]
    mine = mine[mine["model"].str.startswith("adjusted")]
    people = data[(data[list(FACTORS)].astype(str) != "Not known").all(axis=1)]
    x = pd.DataFrame({term: (people[f].astype(str) == lvl).astype(float)
                      for term, f, lvl in zip(mine["term"], mine["factor"], mine["level"])})
    model = sm.GLM(outcome.positive(people).to_numpy(), sm.add_constant(x), family=sm.families.Binomial())
    fit = model.fit(tol=1e-14)
    # statsmodels' bse comes from the weights of the step before the last; the person-level information at
    # the estimates is what the collapsed fit is compared with (both converged).
    se = pd.Series(np.sqrt(np.diag(np.linalg.inv(-model.hessian(fit.params.to_numpy())))), index=fit.params.index)
    assert mine["log_odds_ratio"].to_numpy() == pytest.approx(fit.params[mine["term"]].to_numpy(), rel=RTOL)
    assert mine["se"].to_numpy() == pytest.approx(se[mine["term"]].to_numpy(), rel=RTOL)


# --- collapse: counted from codes, as pandas' groupby counts it -------------------------------------------

from hypothesis import given, settings, strategies as st  # noqa: E402


@st.composite
def person_frames(draw):
    """People with a day, a cause, a yes/no key and four factors: categoricals with unused and unsorted
    categories, or plain text, some values missing."""
    n = draw(st.integers(0, 60))
    frame = {"days": draw(st.lists(st.integers(0, 40), min_size=n, max_size=n)),
             "cause": draw(st.lists(st.sampled_from([0, 1, 2, 3]), min_size=n, max_size=n)),
             "flag": draw(st.lists(st.booleans(), min_size=n, max_size=n))}
    for factor in FACTORS:
        groups = draw(st.lists(st.sampled_from(["b", "a", "Not known", "c", "d"]), min_size=1, max_size=4, unique=True))
        values = draw(st.lists(st.sampled_from(groups + [None]), min_size=n, max_size=n))
        if draw(st.booleans()):
            frame[factor] = pd.Categorical(values, categories=groups + ["unused"])
        else:
            frame[factor] = pd.Series([v if v is not None else "z" for v in values], dtype=object)
    return pd.DataFrame(frame)


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(frame=person_frames(), keys=st.sampled_from([["days", "cause"], ["days", "cause", "flag"], ["flag"], []]))
def test_collapse_equals_the_groupby(frame, keys):
    factors = list(FACTORS)
    expected = frame.groupby(keys + factors, observed=True, sort=True).size().rename(WEIGHT).reset_index()
    expected[factors] = expected[factors].astype(str)
    pd.testing.assert_frame_equal(collapse(frame, keys), expected, check_exact=True)


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(values=st.lists(st.one_of(st.integers(-50, 3000), st.sampled_from([-2 ** 40, 2 ** 40])), max_size=80),
       dtype=st.sampled_from(["int64", "int32", "uint16"]))
def test_whole_numbers_counted_by_position_are_the_sorted_factorize(values, dtype):
    """_group_codes reads whole numbers (days) by position in their range, when the range is small: the same
    codes and groups as pandas' sorted factorize, in the column's own dtype."""
    from analysis.stats.modelling import _group_codes
    column = pd.Series(np.array(values, dtype=np.int64))
    if dtype != "int64":
        column = column[(column >= 0) & (column < 3000)].astype(dtype) if dtype == "uint16" else \
            column[column.abs() < 2 ** 31].astype(dtype)
    codes, groups = _group_codes(column)
    expected_codes, expected_groups = pd.factorize(column, sort=True)
    assert np.array_equal(codes, expected_codes)
    assert groups.equals(pd.Index(expected_groups)) and groups.dtype == pd.Index(expected_groups).dtype


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(frame=person_frames(), keys=st.sampled_from([["days"], ["days", *FACTORS], list(FACTORS), ["flag", "ethnicity"]]),
       event=st.sampled_from(["cause", "flag"]))
def test_counted_cells_equal_the_groupby(frame, keys, event):
    """counted_cells is the model fits' groupby (people and events per pattern) to the bit: rows, order,
    categories kept, missing keys left out, integer counts."""
    from analysis.stats.modelling import counted_cells
    expected = frame.groupby(keys, observed=True).agg(size=(event, "size"), sum=(event, "sum")).reset_index()
    pd.testing.assert_frame_equal(counted_cells(frame, keys, event), expected, check_exact=True)


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(frame=person_frames(), keys=st.sampled_from([["days"], ["days", *FACTORS], list(FACTORS), ["flag", "ethnicity"],
                                                    []]),
       event=st.sampled_from(["cause", "flag"]), dtype=st.sampled_from(["int64", "int8"]))
def test_counting_a_collapsed_frame_is_counting_its_people(frame, keys, event, dtype):
    """collapsed_people counts the people once by every key a model may use; counted_cells of that frame
    (weighted by its WEIGHT) is counted_cells of the people to the bit, for any subset of those keys: rows,
    order, categories kept, integer counts. Where a key is missing for someone the people come back as they
    are (a count would leave that person out of models that do not use the key)."""
    from analysis.stats.modelling import collapsed_people, counted_cells, is_collapsed
    frame = frame.assign(**{event: frame[event].astype(dtype), WEIGHT: 1})
    collapsed = collapsed_people(frame, ["days", "flag", event, *FACTORS], event)
    missing_key = any(frame[f].isna().any() for f in FACTORS)
    assert (collapsed is frame) == missing_key
    assert int(collapsed[WEIGHT].sum()) == len(frame)
    if not missing_key and len(frame) > len(collapsed):
        assert is_collapsed(collapsed)
    if keys:
        pd.testing.assert_frame_equal(counted_cells(collapsed, keys, event), counted_cells(frame, keys, event),
                                      check_exact=True)


@pytest.mark.parametrize("groups", [3, 127, 128, 40_000])
def test_codes_kept_in_small_integers_are_the_sorted_factorize(groups):
    """_group_codes keeps codes in the smallest integer type that holds them (int8 up to 127 groups, then
    int16, int32): every group's code is still its sorted position, across each type's boundary."""
    from analysis.stats.modelling import _group_codes
    rng = np.random.default_rng(groups)
    labels = [f"g{i:05d}" for i in range(groups)]
    values = pd.Series(pd.Categorical(rng.choice(labels, 3 * groups), categories=labels))
    values[::7] = np.nan
    codes, found = _group_codes(values)
    expected_codes, expected_groups = pd.factorize(values, sort=True)
    assert np.array_equal(codes, expected_codes) and list(found) == list(expected_groups)
    assert codes.dtype.itemsize < 8


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(frame=person_frames(), factor=st.sampled_from(list(FACTORS)))
def test_counts_table_tests_as_the_crosstab(frame, factor):
    """The generator's and the robustness draws' k x 2 tables: counted by codes, tested as crosstab's."""
    from analysis.stats.contingency import chi2_homogeneity, counts_table, tested_table
    groups = frame[factor].astype(object).where(frame[factor].notna(), "z")
    if isinstance(frame[factor].dtype, pd.CategoricalDtype):
        groups = pd.Categorical(groups, categories=list(frame[factor].cat.categories) + ["z"])
    groups = pd.Series(groups, name=factor)
    mine, theirs = counts_table(groups, frame["flag"]), pd.crosstab(groups, frame["flag"])
    np.testing.assert_array_equal(tested_table(mine).to_numpy(), tested_table(theirs).to_numpy())
    assert list(tested_table(mine).index.astype(str)) == list(tested_table(theirs).index.astype(str))
    assert list(tested_table(mine).columns) == list(tested_table(theirs).columns)
    assert chi2_homogeneity(mine) == pytest.approx(chi2_homogeneity(theirs), rel=0, abs=0, nan_ok=True)


def test_counts_table_refuses_what_crosstab_would_align_or_drop():
    from analysis.stats.contingency import counts_table
    with pytest.raises(ValueError, match="different people"):
        counts_table(pd.Series(["a", "a", "b"]), pd.Series([True, False, False], index=[2, 1, 0]))
    with pytest.raises(ValueError, match="missing value"):
        counts_table(pd.Series(["a", None, "b"]), pd.Series([True, False, False]))


# --- the sensitivity analyses' people counted once: the same models as counting them for each -------------

@pytest.fixture(scope="module")
def large_frames():
    """The referee's person frames of 55,000 synthetic people: each above COLLAPSE_FROM, where models are fitted on
    counts and the missing-data step counts its people once."""
    from analysis.questions.model_frames import COLLAPSE_FROM, frames
    from analysis.synthetic import generate

    extract, _ = generate(Calibration.read(), n=55_000, seed=5)
    text = extract.astype(str).replace({"NaT": ""})
    person = frames(validate_extract(text, "synthetic", EXTRACT_DATE), EXTRACT_DATE)
    assert min(len(f) for f in person.values()) >= COLLAPSE_FROM
    return person


@pytest.mark.parametrize("analysis", ["outcome", "employment", "in_work"])
def test_models_on_people_counted_once_equal_the_models_on_people(large_frames, analysis):
    """Clustering's models, and the missing-data step's complete-case and 'Not known' as a level models, on
    collapsed_people's frame equal them on the people to the bit. (In-work support here has 21,000 people but
    fewer than COLLAPSE_FROM complete cases: that model is fitted on the people, as it was before counting.)"""
    from analysis.questions import clustering, missing
    from analysis.questions.model_frames import ANALYSES, adjusted_levels, fit_adjusted
    from analysis.stats.modelling import collapsed_people, is_collapsed

    frame = large_frames[analysis]
    kind = ANALYSES[analysis][1]
    time = ["days"] if kind == "cox" else []
    counted = collapsed_people(frame, [*time, "event", *FACTORS, "site"])
    assert is_collapsed(counted) and len(counted) < len(frame)
    pd.testing.assert_frame_equal(clustering.models(counted, analysis), clustering.models(frame, analysis),
                                  check_exact=True)
    cases, counted_levels, counted_complete = missing.counted_cases(frame, analysis)
    levels, complete = adjusted_levels(frame, kind == "logistic")
    assert counted_levels == levels
    for mine, theirs in zip(fit_adjusted(counted_complete, levels, kind), fit_adjusted(complete, levels, kind)):
        assert np.array_equal(mine, theirs) if isinstance(mine, np.ndarray) else mine == theirs
    assert missing._own_level_rows(cases, analysis, kind, levels) == \
        missing._own_level_rows(frame, analysis, kind, levels)


@pytest.mark.parametrize("share", [0.0, 0.16, 1.0])
def test_the_imputation_predictors_of_some_people_are_their_rows_of_everyones(large_frames, share):
    """missing.auxiliary builds the imputation model's predictors only for the people a fit or a draw uses
    (everyone's, at ten million people, was the run's peak memory): each of them gets the row everyone's
    matrix gives them, and the in-work indicator says who is in the in-work analysis."""
    from analysis.questions import missing

    people = large_frames["outcome"]
    everyone = missing.auxiliary(large_frames, np.arange(len(people)))
    rows = np.flatnonzero(np.random.default_rng(3).random(len(people)) < share)
    some = missing.auxiliary(large_frames, rows)
    assert some.shape == (len(rows), everyone.shape[1])
    assert np.array_equal(some, everyone[rows])
    in_work = people["person_id"].isin(large_frames["in_work"]["person_id"]).to_numpy()
    assert np.array_equal(some[:, 5] == 1, in_work[rows])
