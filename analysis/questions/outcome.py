"""Equity of outcome: gained or retained employment, or education, by group."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.genmod.families import Binomial  # not statsmodels.api: it imports every model (0.6 s a run)
from statsmodels.genmod.generalized_linear_model import GLM
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import confint_proportions_2indep, tost_proportions_2indep
from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

from analysis.core.contract import FACTORS, IN_WORK_OUTCOMES, NOT_KNOWN, POSITIVE_OUTCOMES

from analysis.stats.modelling import (MIN_COMPARED, WEIGHT, collapse, counts_by, design, model_levels,
                                      not_estimable, usable_rows)
from analysis.stats.proportions import WILSON_METHOD, homogeneity_tests, wilson
from analysis.core.results import MONTH_DAYS, Z95, row

LOGIT_METHOD = ("Logistic regression (binomial GLM, IRLS; statsmodels GLM) on counts per covariate pattern; "
                "odds ratios with Wald 95% CIs; likelihood-ratio test per factor; 'Not known' and non-estimable groups excluded")
SMALL_GROUPS = f"; groups of fewer than {MIN_COMPARED} people excluded"
WINDOW_MONTHS = 12  # the sensitivity analysis: the outcome within a fixed window, among those followed that long
UNSTABLE_SE = 5.0


def positive(data: pd.DataFrame) -> pd.Series:
    return data["outcome"].isin(POSITIVE_OUTCOMES).astype(int)


def rates(frame: pd.DataFrame) -> pd.DataFrame:
    """Rate with a Wilson CI overall and for every level of every factor ('Not known' shown)."""
    rows = [("all", "all", int((frame["positive"] * frame[WEIGHT]).sum()), int(frame[WEIGHT].sum()))]
    for factor in FACTORS:
        counts = counts_by(frame, [factor], "positive")
        rows += [(factor, c, int(counts.loc[c, "sum"]), int(counts.loc[c, "size"]))
                 for c in FACTORS[factor] if c in counts.index]
    table = pd.DataFrame(rows, columns=["factor", "level", "positive", "n"])
    low, high = wilson(table["positive"], table["n"])
    table["rate_pct"] = 100 * table["positive"] / table["n"]
    table["conf_low"], table["conf_high"] = 100 * low, 100 * high
    table["method"] = "Share with a positive outcome; " + WILSON_METHOD
    return table


EQUIVALENCE_MARGIN_PP = 10.0  # percentage points: a difference smaller than this is taken as no real difference
POWER, ALPHA = 0.8, 0.05
PRECISION_METHOD = (
    "Each group against the largest group of its factor: difference in rates with Newcombe's hybrid score 95% CI "
    "(statsmodels confint_proportions_2indep); the rates a group would have needed to be detected with 80% power "
    "by a two-sided 5% test (Cohen's h, statsmodels NormalIndPower, at the groups' sizes and the reference rate); "
    f"equivalence by two one-sided tests against a margin of +/- {EQUIVALENCE_MARGIN_PP:g} percentage points "
    "(statsmodels tost_proportions_2indep, Wald); 'Not known' and groups of fewer than 10 excluded")


def precision(rate_table: pd.DataFrame) -> pd.DataFrame:
    """What the outcome comparison could and could not have detected, from a table of rates (factor, level,
    positive, n): for each group against the largest group of its factor, the difference with its CI, the
    smallest and largest rates that 80% power would have caught, and a TOST of equivalence within the margin.
    Counts only, so disclosure control recomputes it from the published (rounded) counts."""
    rows = []
    groups = rate_table[(rate_table["factor"] != "all") & (rate_table["level"] != NOT_KNOWN)].dropna(subset=["n", "positive"])
    groups = groups[groups["n"] >= MIN_COMPARED]
    for factor, g in groups.groupby("factor", sort=False):
        if len(g) < 2:
            continue
        ref = g.loc[g["n"].idxmax()]
        p_ref = ref["positive"] / ref["n"]
        for _, r in g.iterrows():
            if r["level"] == ref["level"] or r["n"] == 0:
                continue
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                low, high = confint_proportions_2indep(r["positive"], r["n"], ref["positive"], ref["n"],
                                                       method="newcomb", compare="diff")
                h = NormalIndPower().solve_power(effect_size=None, nobs1=r["n"], alpha=ALPHA, power=POWER,
                                                 ratio=ref["n"] / r["n"], alternative="two-sided")
                tost = tost_proportions_2indep(r["positive"], r["n"], ref["positive"], ref["n"],
                                               -EQUIVALENCE_MARGIN_PP / 100, EQUIVALENCE_MARGIN_PP / 100,
                                               method="wald", compare="diff")
            angle = np.arcsin(np.sqrt(p_ref))
            below = np.sin(max(angle - h / 2, 0)) ** 2
            above = np.sin(min(angle + h / 2, np.pi / 2)) ** 2
            rows.append({"factor": factor, "level": r["level"], "reference": ref["level"], "n": int(r["n"]),
                         "n_reference": int(ref["n"]), "rate_pct": 100 * r["positive"] / r["n"],
                         "reference_rate_pct": 100 * p_ref,
                         "difference_pp": 100 * (r["positive"] / r["n"] - p_ref),
                         "difference_conf_low": 100 * low, "difference_conf_high": 100 * high,
                         "detectable_below_pct": 100 * below, "detectable_above_pct": 100 * above,
                         "equivalence_p": float(tost.pvalue), "method": PRECISION_METHOD})
    return pd.DataFrame(rows)


def logistic(successes, trials, x, tol: float = 1e-12) -> tuple[np.ndarray, np.ndarray, float]:
    """Binomial GLM with the logit link on grouped counts (successes, failures), by statsmodels' GLM (IRLS):
    (coefficients, covariance, deviance); an intercept is added in front of x.

    statsmodels' own covariance comes from the weights of the step before the last; it is taken here as the
    inverse of the model's information matrix at the estimates themselves, as R's vcov of a converged fit."""
    y, m = np.asarray(successes, dtype=float), np.asarray(trials, dtype=float)
    design_matrix = np.column_stack([np.ones(len(y)), np.asarray(x, dtype=float).reshape(len(y), -1)])
    if np.linalg.matrix_rank(design_matrix) < design_matrix.shape[1]:
        raise np.linalg.LinAlgError("the design matrix is rank-deficient")
    model = GLM(np.column_stack([y, m - y]), design_matrix, family=Binomial())
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        # Separation shows as a huge standard error, which the odds-ratio table flags as unstable.
        warnings.simplefilter("ignore", PerfectSeparationWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        fit = model.fit(tol=tol, maxiter=100)
        cov = np.linalg.inv(-model.hessian(fit.params, observed=False))
    return np.asarray(fit.params), cov, float(fit.deviance)


def logit_models(frame: pd.DataFrame, factors: list[str], model: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Odds ratios and per-factor likelihood-ratio tests, after the sparse-cell and separation check."""
    levels, excluded = {}, []
    for factor in factors:
        levels[factor], dropped = model_levels(frame, factor, "positive", both_outcomes=True)
        excluded.append(dropped.assign(model=model))
    factors = [f for f in factors if len(levels[f]) >= 2]
    if not factors:
        return pd.DataFrame(), pd.DataFrame(), pd.concat(excluded, ignore_index=True)
    cells = counts_by(frame[usable_rows(frame, factors, levels)], factors, "positive").reset_index()
    x, names, terms = design(cells, factors, levels)
    excluded = pd.concat(excluded, ignore_index=True)
    try:
        coef, cov, deviance = logistic(cells["sum"], cells["size"], x)
        with np.errstate(invalid="ignore"):
            se = np.sqrt(np.diag(cov))[1:]
        if not np.all(np.isfinite(se)) or len(terms) == 0:
            raise np.linalg.LinAlgError("not estimable")
    except (np.linalg.LinAlgError, ValueError):
        return pd.DataFrame(), pd.DataFrame(), pd.concat(
            [excluded, not_estimable(model, factors, int(cells["size"].sum()))], ignore_index=True)
    with np.errstate(over="ignore"):  # unstable estimates are flagged below, not hidden
        ors = _odds_ratio_table(model, terms, names, coef, se, int(cells["size"].sum()))
    lr = []
    for factor in factors:
        keep = [i for i, t in enumerate(terms) if t[0] != factor]
        try:
            _, _, reduced = logistic(cells["sum"], cells["size"], x[:, keep])
        except np.linalg.LinAlgError:
            reduced = np.nan  # the model without this factor cannot be fitted: no test
        chi2, df = reduced - deviance, len(terms) - len(keep)
        lr.append({"model": model, "factor": factor, "lr_chi2": chi2, "df": df, "p": float(stats.chi2.sf(chi2, df)),
                   "n": int(cells["size"].sum()), "method": "Likelihood-ratio test: deviance without the factor "
                   "minus deviance with it, chi-squared"})
    return ors, pd.DataFrame(lr), excluded


def _odds_ratio_table(model, terms, names, coef, se, n) -> pd.DataFrame:
    return pd.DataFrame({"model": model, "factor": [t[0] for t in terms], "level": [t[1] for t in terms],
                        "reference": [t[2] for t in terms], "term": names, "log_odds_ratio": coef[1:], "se": se,
                        "odds_ratio": np.exp(coef[1:]), "conf_low": np.exp(coef[1:] - Z95 * se),
                        "conf_high": np.exp(coef[1:] + Z95 * se),
                        "wald_p": 2 * stats.norm.sf(np.abs(coef[1:] / se)), "n": n,
                        "flag": np.where(se > UNSTABLE_SE, "unstable: SE of log odds ratio > 5 (sparse cells or "
                                         "quasi-separation); do not interpret", ""),
                        "method": LOGIT_METHOD})


AS_PUBLISHED = "as published"
EXCLUDING_SMALL = f"groups of {MIN_COMPARED} or more"
TEST_MEASURES = {AS_PUBLISHED: "", EXCLUDING_SMALL: "_excluding_small"}  # test -> measure suffix
PUBLISHED_SCOPE = "every group with a known value, as the paper's test"


def factor_tests(table: pd.DataFrame) -> list[dict]:
    """The paper's test of one factor's k x 2 table (groups by outcome) beside the corrected one: chi-squared
    on every known group, as published, with the exact test; and chi-squared with the groups of fewer than
    MIN_COMPARED people left out (with 2 or 3 people one person sets a group's rate). 'Not known' is left
    out of both (contingency.tested_table). Counts only: disclosure control reruns it on published counts."""
    rows = []
    for test, counts, scope in ((AS_PUBLISHED, table, PUBLISHED_SCOPE),
                                (EXCLUDING_SMALL, table[table.sum(axis=1) >= MIN_COMPARED], SMALL_GROUPS[2:])):
        result = homogeneity_tests(counts, exact=test == AS_PUBLISHED)  # one exact test per factor: outcome_exact_p
        n = int(counts.drop(index=NOT_KNOWN, errors="ignore").to_numpy().sum())
        rows.append({"test": test, **result, "chi2_method": result["chi2_method"] + "; " + scope,
                     "exact_method": result["exact_method"] + "; " + scope, "n": n})
    return rows


def _analyse_frame(frame: pd.DataFrame, suffix: str) -> tuple[list[dict], dict[str, pd.DataFrame]]:
    keys = []
    rate_table = rates(frame)
    for _, r in rate_table.iterrows():
        keys.append(row("outcome_rate_pct" + suffix, r["rate_pct"], r["method"], factor=r["factor"], level=r["level"],
                        conf_low=r["conf_low"], conf_high=r["conf_high"], n=int(r["n"])))
    tests = []
    for factor in FACTORS:
        table = frame.groupby([factor, "positive"], observed=True)[WEIGHT].sum().unstack(fill_value=0)
        for test in factor_tests(table):
            tests.append({"factor": factor, **test})
            name = TEST_MEASURES[test["test"]]
            keys.append(row(f"outcome_chi2{name}{suffix}", test["chi2"], test["chi2_method"]
                            + f"; k x 2 table, {test['df']} df", factor=factor, n=test["n"]))
            keys.append(row(f"outcome_p{name}{suffix}", test["p"], test["chi2_method"], factor=factor, n=test["n"]))
            if test["test"] == AS_PUBLISHED:
                keys.append(row(f"outcome_exact_p{suffix}", test["exact_p"], test["exact_method"]
                                + ("; Cochran's rule broken, prefer this p" if test["sparse"] else ""),
                                factor=factor, n=test["n"]))
    ors, lrs, excluded = [], [], []
    for factor in FACTORS:
        o, lr, e = logit_models(frame, [factor], f"unadjusted: {factor}")
        ors.append(o), lrs.append(lr), excluded.append(e)
    o, lr, e = logit_models(frame, list(FACTORS), "adjusted: " + " + ".join(FACTORS))
    ors.append(o), lrs.append(lr), excluded.append(e)
    ors, lrs, excluded = (pd.concat(t, ignore_index=True) for t in (ors, lrs, excluded))
    for _, r in lrs.iterrows():
        keys.append(row(f"logit_lr_p_{r['model'].split(':')[0]}" + suffix, r["p"], r["method"] + f"; {r['model']}",
                        factor=r["factor"], n=int(r["n"])))
    for _, r in ors.iterrows():
        keys.append(row(f"logit_or_{r['model'].split(':')[0]}" + suffix, r["odds_ratio"],
                        f"{LOGIT_METHOD}; {r['model']}; vs {r['reference']}", factor=r["factor"], level=r["level"],
                        conf_low=r["conf_low"], conf_high=r["conf_high"], n=int(r["n"])))
    name = "outcome" + suffix
    return keys, {f"{name}_rates": rate_table, f"{name}_precision": precision(rate_table),
                  f"{name}_tests": pd.DataFrame(tests), f"{name}_logit": ors,
                  f"{name}_logit_lr": lrs, f"{name}_model_exclusions": excluded}


def analyse(data: pd.DataFrame, extract_date: pd.Timestamp) -> tuple[list[dict], dict[str, pd.DataFrame]]:
    """Every model and test here is exact on counts, so people are first collapsed to one row per
    (factors, outcome, follow-up) with the number of people in it."""
    window = WINDOW_MONTHS * MONTH_DAYS
    followed = (extract_date - data["first_contact_date"]).dt.days >= window
    in_window = (data["outcome_date"] - data["first_contact_date"]).dt.days <= window
    frame = pd.DataFrame({factor: data[factor] for factor in FACTORS})
    frame["positive"], frame["followed"] = positive(data).to_numpy(), followed.to_numpy()
    frame["in_window"] = (positive(data).astype(bool) & in_window.fillna(False)).astype(int).to_numpy()
    cells = collapse(frame, ["positive", "followed", "in_window"])
    keys, tables = _analyse_frame(cells, "")
    # Like with like for benchmarks that count jobs only (IPS Grow): the share of everyone who gained a job,
    # and who gained or kept one, beside the positive outcome that also counts education.
    n = len(data)
    for measure, kinds, what in (("pct_job_of_all", ("gained_employment",), "gained employment"),
                                 ("pct_in_work_of_all", IN_WORK_OUTCOMES, "gained or retained employment")):
        count = int(data["outcome"].isin(kinds).sum())
        keys.append(row(measure, 100 * count / n if n else np.nan, f"Share of everyone analysed who {what}", n=n))
    # IPS Grow's employment rate (2024): jobs among the people who were out of work when they started IPS.
    seeking = int((data["outcome"] != "retained_employment").sum())
    jobs = int((data["outcome"] == "gained_employment").sum())
    keys.append(row("pct_job_of_seeking", 100 * jobs / seeking if seeking else np.nan,
                    "Share who gained employment among those out of work at first contact (everyone but "
                    "retained_employment), as IPS Grow computes its employment rate since April 2024", n=seeking))
    # Sensitivity: a fixed window for everyone, so that people with short follow-up cannot lower the rate:
    # a positive outcome within 12 months of first contact, among those followed for 12 months or more.
    window_cells = cells[cells["followed"]].drop(columns="positive").rename(columns={"in_window": "positive"})
    more_keys, more_tables = _analyse_frame(window_cells, "_12m_window")
    return keys + more_keys, {**tables, **more_tables}
