"""Competing risks by group: who gains a job, who starts education, who is discharged with neither.

The one competing-event definition of analysis/questions/employment.py (contract.SURVIVAL_RULES): from first contact,
a person's first event is a job start (gained_employment, on the outcome date), the start of education (on
the outcome date), or discharge with neither; people still on the case-load are censored at the extract
date; people already in work at referral (retained_employment) are left out. Education is a success, not a
failure, but it ends the search for a job through IPS, so it competes with a job here as in the
time-to-employment chapter. For each group the cumulative incidence of each cause is estimated
(Aalen-Johansen), and Gray's test compares the groups' incidence of each cause.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from analysis.core.arrays import distinct
from analysis.core.contract import FACTORS
from analysis.questions.employment import CENSORED, DISCHARGED, EDUCATION, EMPLOYED, employment_times
from analysis.stats.survival import aalen_johansen, step_at
from analysis.stats.cox import newton_raphson
from analysis.stats.modelling import (MIN_COMPARED, WEIGHT, collapse, compared_groups, design, fit_by_factors,
                                      left_out_note, model_specs, ratio_key_rows)
from analysis.core.results import MONTH_DAYS, Z95, row

CAUSES = {EMPLOYED: "job", EDUCATION: "education", DISCHARGED: "discharged with neither"}
AT_MONTHS = (6, 12)
GRAY_METHOD = ("Gray's (1988) K-sample test of cumulative incidence (rho = 0), chi-squared on k-1 df; causes: "
               "job, education, discharge with neither; 'Not known' and groups of fewer than "
               f"{MIN_COMPARED} excluded; checked against R cmprsk::cuminc")


def first_event_times(data: pd.DataFrame, extract_date: pd.Timestamp) -> pd.DataFrame:
    """One row per person seeking work: days from first contact to the first event, and its cause (the
    package's one definition, employment.employment_times)."""
    return employment_times(data, extract_date)


def gray_test(time, cause, group, weight=None, of: int = 1) -> dict:
    """Gray's test that the cumulative incidence of cause `of` is the same in every group (rho = 0).

    time, cause (0 = censored; `of` = the cause of interest; any other code = a competing cause), group and
    weight (people per row: the statistic is the same on counts as on people). Written here because no
    Python library has it; it follows Gray (1988, Ann Stat 16:1141) as R's cmprsk computes it, ties and
    all, and equals cmprsk::cuminc's test to 1e-10 (tests/test_competing.py, against R's printed output)."""
    time, cause = np.asarray(time, float), np.asarray(cause)
    weight = np.ones(len(time)) if weight is None else np.asarray(weight, float)
    group = np.asarray(group)
    groups = sorted(pd.unique(group))
    k = len(groups)
    if k < 2:
        return {"chi2": np.nan, "df": 0, "p": np.nan}
    g = pd.Index(groups).get_indexer(group)
    kind = np.where(cause == of, 1, np.where(cause == 0, 0, 2))
    times, at = distinct(time)
    # weight per (distinct time, kind: 0 censored, 1 the cause, 2 another cause, group), counted by position
    counts = np.bincount((at * 3 + kind) * k + g, weights=weight, minlength=len(times) * 3 * k).reshape(-1, 3, k)
    leaving = counts.sum(axis=1)  # everyone leaving the risk set, by group
    d1, d2 = counts[:, 1], counts[:, 2]
    at_risk = np.bincount(g, weights=weight, minlength=k)
    f1_before, surv_before = np.zeros(k), np.ones(k)  # left-continuous incidence and all-cause KM, by group
    pooled_before = 0.0
    score, variance = np.zeros(k - 1), np.zeros((k - 1, k - 1))
    c, v2, v3 = np.zeros((k, k)), np.zeros((k - 1, k)), np.zeros(k)
    for j in range(len(times)):
        n1, n2 = d1[j].sum(), d2[j].sum()
        live = at_risk > 0
        if n1 > 0 or n2 > 0:
            with np.errstate(divide="ignore", invalid="ignore"):
                surv = np.where(live, surv_before * (at_risk - d1[j] - d2[j]) / at_risk, surv_before)
                f1 = np.where(live, f1_before + surv_before * d1[j] / at_risk, f1_before)
                scaled = np.where(live, at_risk / surv_before, 0.0)  # R_k / S_k(t-)
            total = scaled.sum()
            pooled = pooled_before + n1 / total
            a = -np.outer(scaled, scaled) / total
            a[np.diag_indices(k)] = scaled * (1 - scaled / total)
            c += a * n1 / (total * (1 - pooled_before))
            weight_left = (at_risk * (1 - f1_before) / np.where(live, surv_before, 1.0))[live].sum()
            with np.errstate(divide="ignore", invalid="ignore"):
                score += np.where(live, d1[j] - n1 * at_risk * (1 - f1_before) / (surv_before * weight_left), 0.0)[:-1]
            # the variance terms of every group at once (cmprsk loops over the groups)
            with np.errstate(divide="ignore", invalid="ignore"):
                if n1 > 0:
                    at_g = np.flatnonzero(live)
                    t4 = np.where(surv[at_g] > 0, 1 - (1 - pooled) / surv[at_g], 1.0)
                    t5 = 1 - (n1 - 1) / (total * surv_before[at_g] - 1) if n1 > 1 else np.ones(len(at_g))
                    t3 = t5 * surv_before[at_g] * n1 / (total * at_risk[at_g])
                    t1 = a[:-1, at_g] - t4 * c[:-1, at_g]
                    v3[at_g] += t4 * t4 * t3
                    v2[:, at_g] += t1 * t4 * t3
                    variance += (t1 * t3) @ t1.T
                if n2 > 0:
                    at_g = np.flatnonzero(live & (surv > 0) & (d2[j] > 0))
                    t4 = (1 - pooled) / surv[at_g]
                    d2g = d2[j, at_g]
                    t5 = np.where(d2g > 1, 1 - (d2g - 1) / (at_risk[at_g] - 1), 1.0)
                    t3 = t5 * surv_before[at_g] ** 2 * d2g / at_risk[at_g] ** 2
                    t1 = t4 * c[:-1, at_g]
                    v3[at_g] += t4 * t4 * t3
                    v2[:, at_g] -= t1 * t4 * t3
                    variance += (t1 * t3) @ t1.T
            pooled_before, f1_before, surv_before = pooled, f1, surv
        at_risk = at_risk - leaving[j]
    cc = c[:-1]
    variance += (cc * v3) @ cc.T + cc @ v2.T + v2 @ cc.T
    try:
        chi2 = float(score @ np.linalg.solve(variance, score))
    except np.linalg.LinAlgError:
        return {"chi2": np.nan, "df": k - 1, "p": np.nan}
    return {"chi2": chi2, "df": k - 1, "p": float(stats.chi2.sf(chi2, k - 1))}


FINE_GRAY_METHOD = ("Fine-Gray proportional subdistribution hazards model (Fine & Gray 1999): censoring weights from "
                    "the Kaplan-Meier estimate of the censoring distribution (one censoring group), Breslow ties, "
                    "Newton-Raphson; robust sandwich variance including the censoring-weight term; Wald 95% CI; "
                    "as R cmprsk::crr computes it")


@dataclass
class FineGrayResult:
    names: list[str]
    coef: np.ndarray
    cov: np.ndarray  # the sandwich variance
    n: int
    n_events: int
    iterations: int

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.diag(self.cov))

    def summary(self) -> pd.DataFrame:
        z = self.coef / self.se
        return pd.DataFrame({
            "term": self.names, "coef": self.coef, "se": self.se, "subdistribution_hr": np.exp(self.coef),
            "conf_low": np.exp(self.coef - Z95 * self.se), "conf_high": np.exp(self.coef + Z95 * self.se),
            "z": z, "p": 2 * stats.norm.sf(np.abs(z)), "method": FINE_GRAY_METHOD})


class _FineGrayData(NamedTuple):
    """What does not change between iterations: rows sorted by time and grouped by distinct time, and the
    weight each covariate pattern has in each failure time's risk set."""
    x: np.ndarray
    w: np.ndarray
    status: np.ndarray
    starts: np.ndarray  # first row of each distinct time
    at: np.ndarray  # distinct-time number of each row
    at_risk: np.ndarray  # people followed to each distinct time or beyond
    censored: np.ndarray  # people censored at each distinct time
    g_before: np.ndarray  # censoring survival G(t-) at each distinct time, as crr evaluates it
    failures: np.ndarray  # distinct-time numbers with a failure of the cause of interest
    deaths: np.ndarray  # failures (people) at each of those times
    patterns: np.ndarray  # the distinct covariate rows
    in_risk_set: np.ndarray  # (failure time, pattern): people still followed + G-weighted earlier competing
    failing_x: np.ndarray  # sum of x over the people who fail


def _fine_gray_data(x, time, status, w) -> _FineGrayData:
    order = np.argsort(time, kind="stable")
    x, time, status, w = x[order], time[order], status[order], w[order]
    times, at = distinct(time)
    starts = np.flatnonzero(np.r_[True, np.diff(at) != 0])
    at_risk = np.cumsum(np.bincount(at, weights=w)[::-1])[::-1]
    censored = np.bincount(at, weights=w * (status == 0), minlength=len(times))
    g_after = np.cumprod(1 - censored / at_risk)
    g_before = np.r_[1.0, g_after[:-1]]
    if times[0] == 0:  # crr reads G at t(1 - 100 eps): at t = 0 that is G(0), after a censoring at 0
        g_before[0] = g_after[0]
    failed = np.bincount(at, weights=w * (status == 1), minlength=len(times))
    failures = np.flatnonzero(failed > 0)
    # Categorical covariates have few distinct rows (patterns): a risk set is a weight per pattern, the same
    # at every iteration, so each iteration costs (failure times x patterns), not (rows x covariates^2).
    pattern = (pd.DataFrame(x).groupby(list(range(x.shape[1])), sort=False).ngroup().to_numpy() if x.shape[1]
               else np.zeros(len(x), dtype=np.int64))  # hashed: np.unique(axis=0) sorts rows, 0.7 s at 1M people
    patterns = x[np.unique(pattern, return_index=True)[1]]
    cells = at * len(patterns) + pattern
    shape = (len(times), len(patterns))
    followed = np.bincount(cells, weights=w, minlength=shape[0] * shape[1]).reshape(shape)
    still = np.cumsum(followed[::-1], axis=0)[::-1][failures]  # t >= t_k
    competing = np.bincount(cells, weights=w * (status == 2) / g_before[at], minlength=shape[0] * shape[1]).reshape(shape)
    earlier = np.vstack([np.zeros(shape[1]), np.cumsum(competing, axis=0)])[failures]  # t < t_k, weighted G(t_k-)/G(t-)
    in_risk_set = still + g_before[failures][:, None] * earlier
    failing_x = (w * (status == 1)) @ x
    return _FineGrayData(x, w, status, starts, at, at_risk, censored, g_before, failures, failed[failures], patterns,
                         in_risk_set, failing_x)


def _fine_gray_terms(beta: np.ndarray, data: _FineGrayData):
    """Log partial likelihood, score and information at beta; and the risk-set sums S0 and mean x."""
    z = data.patterns
    e = np.exp(z @ beta)
    s0 = data.in_risk_set @ e
    s1 = data.in_risk_set @ (e[:, None] * z)
    s2 = (data.in_risk_set @ (e[:, None] * np.einsum("pi,pj->pij", z, z).reshape(len(z), -1))).reshape(
        len(s0), z.shape[1], z.shape[1])
    xbar = s1 / s0[:, None]
    loglik = float(data.failing_x @ beta - data.deaths @ np.log(s0))
    score = data.failing_x - data.deaths @ xbar
    info = np.einsum("k,kij->ij", data.deaths / s0, s2) - np.einsum("k,ki,kj->ij", data.deaths, xbar, xbar)
    return loglik, score, info, s0, xbar


def _fine_gray_sandwich(beta: np.ndarray, info: np.ndarray, s0: np.ndarray, xbar: np.ndarray,
                        data: _FineGrayData) -> np.ndarray:
    """Fine & Gray's (1999) robust variance, written as crr's crrvv computes it (eta_i + psi_i per person;
    identical people have identical terms, so a row counts w times)."""
    x, w, status, at = data.x, data.w, data.status, data.at
    n_times = len(data.starts)
    e = np.exp(x @ beta)
    g_row = data.g_before[at]
    hazard = np.zeros(n_times)
    hazard[data.failures] = data.deaths / s0  # dLambda_1 at each distinct time
    mean = np.zeros((n_times, x.shape[1]))
    mean[data.failures] = xbar
    g_hazard = data.g_before * hazard
    # eta: the score's own term, minus the compensator while at risk, then (competing events) while weighted.
    l0, l1 = np.cumsum(hazard)[at], np.cumsum(hazard[:, None] * mean, axis=0)[at]
    m0 = (np.cumsum(g_hazard[::-1])[::-1] - g_hazard)[at]  # failure times after t
    m1 = (np.cumsum((g_hazard[:, None] * mean)[::-1], axis=0)[::-1] - g_hazard[:, None] * mean)[at]
    eta = (status == 1)[:, None] * (x - mean[at]) - e[:, None] * (x * l0[:, None] - l1)
    eta -= ((status == 2) * e / g_row)[:, None] * (x * m0[:, None] - m1)
    # psi: the censoring-weight term, through q(u) at each distinct time u.
    weight_before = w * (status == 2) * e / g_row
    c0 = np.r_[0.0, np.cumsum(np.bincount(at, weights=weight_before, minlength=n_times))[:-1]]
    c1 = np.vstack([np.zeros(x.shape[1]), np.cumsum(np.add.reduceat(weight_before[:, None] * x, data.starts, axis=0),
                                                    axis=0)[:-1]])
    q0 = np.cumsum(g_hazard[::-1])[::-1]  # failure times at or after u
    q1 = np.cumsum((g_hazard[:, None] * mean)[::-1], axis=0)[::-1]
    q = c1 * q0[:, None] - c0[:, None] * q1
    running = np.cumsum((data.censored / data.at_risk ** 2)[:, None] * q, axis=0)
    psi = (status == 0)[:, None] * (q / data.at_risk[:, None])[at] - running[at]
    v = eta + psi
    meat = (w[:, None] * v).T @ v
    bread = np.linalg.inv(info)
    return bread @ meat @ bread


def fine_gray(x, time, status, w=None, names: list[str] | None = None, max_iter: int = 50,
              tol: float = 1e-10) -> FineGrayResult:
    """Fine-Gray model of the subdistribution hazard of cause 1 (status 1; 2 = a competing event, 0 =
    censored), on rows that stand for w people each.

    Hand-written because no Python library fits it (lifelines and statsmodels have none). It follows R's
    cmprsk::crr step for step: censoring weights from the Kaplan-Meier estimate of censoring read just
    before each time, Breslow's handling of tied failures, and the sandwich variance with the term for the
    estimated weights; tests/test_competing.py checks coefficients and standard errors against crr's printed
    output, and counts against people."""
    x = np.asarray(x, dtype=float)
    x = x[:, None] if x.ndim == 1 else x
    status = np.asarray(status, dtype=int)
    w = np.ones(len(status)) if w is None else np.asarray(w, dtype=float)
    data = _fine_gray_data(x, np.asarray(time, dtype=float), status, w)
    names = names or [f"x{j}" for j in range(x.shape[1])]
    beta, (_, _, info, s0, xbar), _, iteration = newton_raphson(lambda b: _fine_gray_terms(b, data), x.shape[1],
                                                               "Fine-Gray", max_iter, tol)
    cov = _fine_gray_sandwich(beta, info, s0, xbar, data)
    return FineGrayResult(names, beta, cov, int(w.sum()), int(data.deaths.sum()), iteration)


def fine_gray_models(cells: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Subdistribution hazard of a job, by factor: unadjusted (one factor at a time) and mutually adjusted,
    with the same levels, reference and exclusions as the cause-specific Cox models of employment.
    Education and discharge with neither are the competing events; open cases are censored."""
    status = np.where(cells["cause"] == EMPLOYED, 1, np.where(cells["cause"] == CENSORED, 0, 2))
    cells = cells.assign(employed=(status == 1).astype(int), status=status)

    def fit(rows, factors, levels):
        # People alike in time, status and this model's factors are one row: far fewer rows, the same fit.
        rows = rows.groupby(["days", "status"] + factors, sort=False)[WEIGHT].sum().reset_index()
        x, names, terms = design(rows, factors, levels)
        return fine_gray(x, rows["days"].to_numpy(), rows["status"].to_numpy(), rows[WEIGHT].to_numpy(),
                         names=names), terms

    tables, excluded = [], []
    for model, factors in model_specs(list(FACTORS)):
        _, table, dropped = fit_by_factors(cells, factors, "employed", model, fit)
        tables.append(table), excluded.append(dropped)
    return pd.concat(tables, ignore_index=True), pd.concat(excluded, ignore_index=True)


def analyse(data: pd.DataFrame, extract_date: pd.Timestamp) -> tuple[list[dict], dict[str, pd.DataFrame]]:
    """Incidence of each cause by group at 6 and 12 months, and Gray's test of each cause across groups."""
    cells = collapse(first_event_times(data, extract_date), ["days", "cause"])
    curves, tests, keys = [], [], []
    for factor in FACTORS:
        for level, group in cells.groupby(factor, sort=False):
            for cause, label in CAUSES.items():
                cif = aalen_johansen(group["days"], group["cause"], of=cause, weight=group[WEIGHT])
                at = step_at(cif, [m * MONTH_DAYS for m in AT_MONTHS], ["cif", "conf_low", "conf_high"], before=0.0)
                for months, (_, r) in zip(AT_MONTHS, at.iterrows()):
                    curves.append({"factor": factor, "level": level, "cause": label, "months": months,
                                   "cif_pct": 100 * r["cif"], "conf_low": 100 * r["conf_low"],
                                   "conf_high": 100 * r["conf_high"], "n": int(group[WEIGHT].sum()),
                                   "events": int(group.loc[group["cause"] == cause, WEIGHT].sum()),
                                   "method": cif["method"].iloc[0] if len(cif) else ""})
        for cause, label in CAUSES.items():
            # the groups this cause's test compares: judged on the cause's own events under disclosure control
            compared = compared_groups(cells, factor, (cells["cause"] == cause).to_numpy())
            test = gray_test(compared["days"], compared["cause"], compared[factor], compared[WEIGHT], of=cause)
            tests.append({"factor": factor, "cause": label, **test, "n": int(compared[WEIGHT].sum()),
                          "method": GRAY_METHOD + left_out_note()})
            if cause == EMPLOYED:
                keys.append(row("employment_gray_p", test["p"], GRAY_METHOD + left_out_note() + "; cause: job", factor=factor,
                                n=int(compared[WEIGHT].sum())))
    models, excluded = fine_gray_models(cells)
    keys += ratio_key_rows(models, "employment_fine_gray_shr", "subdistribution_hr")
    return keys, {"competing_by_group": pd.DataFrame(curves), "competing_gray": pd.DataFrame(tests),
                  "competing_fine_gray": models, "competing_model_exclusions": excluded}
