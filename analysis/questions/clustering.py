"""Clustering: cluster-robust (sandwich) variance by site for the logistic and Cox models.

People are nested in teams (the synthetic extract: five boroughs), and people of one team share its
specialists, employers and referral habits, so their outcomes may be correlated; the model-based variance
assumes they are not. The sandwich variance with the scores summed by cluster (Liang & Zeger 1986; for Cox,
Lin & Wei 1989, the dfbeta form R's coxph(cluster = ) uses) allows any correlation within a site.

* Logistic: V = A^-1 (sum_g U_g U_g') A^-1 with A the information and U_g the sum over site g of
  x_i (y_i - p_i); small-sample factor G/(G-1), as sandwich::vcovCL's default for a glm (HC0, cadjust).
  (Stata's CR1 multiplies by (N-1)/(N-K) as well: 1.03 at 450 people and 14 parameters.)
* Cox (Efron ties): the same with U_g the sum of the Efron score residuals of site g; R's coxph applies no
  small-sample factor, so the raw sandwich is checked against R and the same G/(G-1) applied in the tables.
* Wald CIs and p from the t distribution on G - 1 degrees of freedom (Cameron & Miller 2015).

Hand-written because neither lifelines nor statsmodels gives it on counts: statsmodels' GLM accepts
cov_type="cluster" only for one row per person, lifelines' CoxPHFitter(cluster_col=) counts tied rows in
Efron's correction (analysis/stats/survival.py) and both would need the people expanded. Checked against
R's sandwich::vcovCL and survival::coxph(cluster = ) on person-level data (tests/test_referee.py, R's
printed output committed).

Caveat, printed with every table: with few clusters (here five) the sandwich variance is itself estimated
from five cluster sums, so it is noisy and biased downward even after CR1; it is a sensitivity check, not
a correction to adopt.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from analysis.core.arrays import distinct
from analysis.core.contract import FACTORS
from analysis.stats.cox import _time_layout, cox_efron
from analysis.questions.model_frames import ANALYSES, adjusted_levels, counted_once, dummies
from analysis.stats.modelling import MIN_COMPARED, counted_cells, model_levels, usable_rows
from analysis.questions.outcome import logistic
from analysis.core.results import Z95

METHOD = ("Cluster-robust sandwich variance by site (scores summed within each site; Liang & Zeger 1986, Lin & "
          "Wei 1989 for Cox), small-sample factor {factor}; Wald 95% CI and p on the t distribution with G - 1 "
          "df; beside the model-based (inverse information) variance with normal-theory CI and p. Few clusters "
          "make the robust SE unreliable (Cameron & Miller 2015): a sensitivity check")
LOGIT_FACTOR = "G/(G-1) (sandwich::vcovCL's default for a glm)"
COX_FACTOR = "G/(G-1) (R's coxph(cluster = ) applies none)"


def logistic_scores(successes, trials, x, coef) -> np.ndarray:
    """Per-row score contributions x_i (y_i - m_i p_i) of a binomial GLM with an intercept added in front."""
    design = np.column_stack([np.ones(len(successes)), x])
    p = 1 / (1 + np.exp(-(design @ coef)))
    return design * (np.asarray(successes, float) - np.asarray(trials, float) * p)[:, None]


ROWS_AT_ONCE = 65_536  # rows of the score residuals computed together (memory, not results: see below)


def cox_score_residuals(beta, x, time, d, w) -> np.ndarray:
    """Efron score residuals summed per row: row i stands for w_i people at time_i, d_i of whom had the event.

    A person at risk at an event time with D deaths shares in each of Efron's l = 0..D-1 steps (weight 1 if
    not dying then, 1 - l/D if dying); a death counts 1/D at each step. Residuals sum to the score, 0 at the
    estimate. Equals R's residuals(coxph(..., ties = "efron"), "score") summed by row."""
    x = np.asarray(x, float)
    x = x[:, None] if x.ndim == 1 else x
    d, w = np.asarray(d, float), np.asarray(w, float)
    times, time_index = distinct(time)
    order = np.argsort(time_index, kind="stable")
    xs, ds, ws, ti = x[order], d[order], w[order], time_index[order]
    layout = _time_layout(ti, ds)
    risk = np.exp(xs @ beta)
    by_time = lambda a: np.add.reduceat(a, layout.starts, axis=0)  # noqa: E731
    reverse = lambda a: a[::-1].cumsum(axis=0)[::-1]  # noqa: E731
    s0, s1 = reverse(by_time(ws * risk)), reverse(by_time((ws * risk)[:, None] * xs))
    e0, e1 = by_time(ds * risk), by_time((ds * risk)[:, None] * xs)
    rep, frac = layout.rep, layout.frac
    den = s0[rep] - frac * e0[rep]
    xbar = (s1[rep] - frac[:, None] * e1[rep]) / den[:, None]
    n_times, p = len(s0), xs.shape[1]

    def per_time(values):
        out = np.zeros((n_times,) + values.shape[1:])
        if len(rep):
            out[layout.event_times] = np.add.reduceat(values, layout.rep_starts, axis=0)
        return out
    a_all, b_all = per_time(1 / den), per_time(xbar / den[:, None])
    a_dead, b_dead = per_time((1 - frac) / den), per_time((1 - frac)[:, None] * xbar / den[:, None])
    deaths = np.maximum(layout.deaths, 1)
    mean_xbar = per_time(xbar) / deaths[:, None]
    cum_a, cum_b = np.cumsum(a_all), np.cumsum(b_all, axis=0)
    before_a, before_b = cum_a - a_all, cum_b - b_all
    out = np.empty((len(d), p))
    for start in range(0, len(d), ROWS_AT_ONCE):  # row by row arithmetic, in blocks: a few blocks' temporaries
        c = slice(start, start + ROWS_AT_ONCE)    # instead of a dozen copies of the whole matrix at once
        t, xc, r = ti[c], xs[c], risk[c, None]
        alive = -r * (xc * cum_a[t][:, None] - cum_b[t])
        dead = (xc - mean_xbar[t]) - r * (xc * before_a[t][:, None] - before_b[t]) \
            - r * (xc * a_dead[t][:, None] - b_dead[t])
        out[order[c]] = ds[c, None] * dead + (ws[c] - ds[c])[:, None] * alive
    return out


def sandwich(bread: np.ndarray, scores: np.ndarray, cluster: np.ndarray) -> np.ndarray:
    """bread (sum_g U_g U_g') bread, U_g = scores summed by cluster."""
    codes, _ = pd.factorize(pd.Series(cluster), sort=True)
    sums = np.zeros((codes.max() + 1, scores.shape[1]))
    np.add.at(sums, codes, scores)
    return bread @ (sums.T @ sums) @ bread


def fit_logistic(frame: pd.DataFrame, factors: list[str], levels: dict[str, list[str]]):
    cells = counted_cells(frame, [*factors, "site"])
    x, terms = dummies(cells, {f: levels[f] for f in factors})
    coef, cov, _ = logistic(cells["sum"], cells["size"], x)
    scores = logistic_scores(cells["sum"], cells["size"], x, coef)
    return coef[1:], cov, sandwich(cov, scores, cells["site"].to_numpy()), terms, int(cells["size"].sum()), \
        int(cells["sum"].sum()), coef.size


def fit_cox(frame: pd.DataFrame, factors: list[str], levels: dict[str, list[str]]):
    cells = counted_cells(frame, ["days", *factors, "site"])
    x, terms = dummies(cells, {f: levels[f] for f in factors})
    fit = cox_efron(x, cells["days"].to_numpy(), cells["sum"].to_numpy(), cells["size"].to_numpy(), test_ph=False)
    scores = cox_score_residuals(fit.coef, x, cells["days"].to_numpy(), cells["sum"].to_numpy(), cells["size"].to_numpy())
    return fit.coef, fit.cov, sandwich(fit.cov, scores, cells["site"].to_numpy()), terms, fit.n, fit.n_events, \
        fit.coef.size


def models(frame: pd.DataFrame, analysis: str) -> pd.DataFrame:
    """Unadjusted (each factor) and adjusted models of one analysis, model-based beside cluster-robust."""
    logistic_model = ANALYSES[analysis][1] == "logistic"
    sites = frame["site"].nunique()
    rows = []
    specs = [(f"unadjusted: {f}", [f]) for f in FACTORS] + [("adjusted: " + " + ".join(FACTORS), list(FACTORS))]
    adjusted, _ = adjusted_levels(frame, logistic_model)
    for model, factors in specs:
        if model.startswith("unadjusted"):
            levels = {f: model_levels(frame, f, "event", both_outcomes=logistic_model)[0] for f in factors}
        else:
            levels = adjusted
        factors = [f for f in factors if len(levels.get(f, [])) >= 2]
        if not factors:
            continue
        rows_used = frame[usable_rows(frame, factors, levels)]
        try:
            coef, cov, robust, terms, n, events, k = (fit_logistic if logistic_model else fit_cox)(rows_used, factors, levels)
        except np.linalg.LinAlgError:
            continue
        factor = sites / (sites - 1)
        offset = 1 if logistic_model else 0
        se_model = np.sqrt(np.diag(cov))[offset:]
        se_robust = np.sqrt(np.diag(robust) * factor)[offset:]
        t = stats.t.ppf(0.975, sites - 1)
        for j, (f, level, reference) in enumerate(terms):
            b = coef[j]
            rows.append({"analysis": analysis, "model": model, "factor": f, "level": level, "reference": reference,
                         "ratio": float(np.exp(b)),
                         "conf_low": float(np.exp(b - Z95 * se_model[j])), "conf_high": float(np.exp(b + Z95 * se_model[j])),
                         "p": float(2 * stats.norm.sf(abs(b / se_model[j]))),
                         "robust_conf_low": float(np.exp(b - t * se_robust[j])),
                         "robust_conf_high": float(np.exp(b + t * se_robust[j])),
                         "robust_p": float(2 * stats.t.sf(abs(b / se_robust[j]), sites - 1)),
                         "se_ratio": float(se_robust[j] / se_model[j]), "clusters": sites, "n": n, "events": events,
                         "measure": "odds ratio" if logistic_model else "hazard ratio",
                         "method": METHOD.format(factor=LOGIT_FACTOR if logistic_model else COX_FACTOR)})
    return pd.DataFrame(rows)


def analyse(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Every analysis's models with site-robust variance; empty when the extract names fewer than two sites.
    Each analysis's people are counted once per (time,) event, factors and site (counted_once), and its
    fifteen models count their own cells from those."""
    parts = []
    for name, frame in frames.items():
        if frame["site"].nunique() < 2 or len(frame) < MIN_COMPARED or frame["event"].nunique() < 2:
            continue
        try:
            parts.append(models(counted_once(frame, name, "site"), name))
        except (ValueError, KeyError, IndexError):
            continue  # not estimable on these data
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
