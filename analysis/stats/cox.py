"""Cox proportional hazards with Efron ties on collapsed counts (`cox_efron`), the Newton-Raphson it shares with
the Fine-Gray model (analysis/questions/competing.py), and the proportional-hazards test. Hand-written, not
lifelines': CoxPHFitter(weights_col=) counts tied rows, not people, in Efron's correction (cox_efron's
docstring gives the size of the difference).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from analysis.core.arrays import distinct
from analysis.core.results import Z95


MAX_LOG_HR = 15.0  # |log hazard ratio| beyond this means the fit is running off to infinity


PH_CURRENT, PH_APPROXIMATE = "score test (R survival >= 3.0)", "approximation (R survival < 3.0)"
PH_METHOD = ("Grambsch-Therneau score test of proportional hazards as R survival >= 3.0 cox.zph(transform = 'km', "
             "terms = TRUE) computes it: each term (a factor's dummies together) times g(t) = 1 - KM(t-) centred, "
             "added to the model and tested by a score test with the full information matrix; chi-squared on the "
             "term's df, on all df for GLOBAL")
PH_APPROXIMATE_METHOD = ("Grambsch-Therneau test, the approximation of survival < 3.0 and lifelines (scaled "
                         "Schoenfeld residuals against 1 - KM(t), the variance of x taken as constant over time); "
                         "chi-squared on 1 df per coefficient, on all df for GLOBAL; shown for comparison")
COX_METHOD = "Cox proportional hazards, Efron ties, Newton-Raphson; Wald 95% CI"


@dataclass
class CoxResult:
    names: list[str]
    coef: np.ndarray
    cov: np.ndarray
    loglik_null: float
    loglik: float
    n: int
    n_events: int
    iterations: int
    ph_test: pd.DataFrame  # Grambsch-Therneau test per covariate and global

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.diag(self.cov))

    @property
    def lr_chi2(self) -> float:
        return 2 * (self.loglik - self.loglik_null)

    def summary(self) -> pd.DataFrame:
        z = self.coef / self.se
        return pd.DataFrame({
            "term": self.names, "coef": self.coef, "se": self.se,
            "hazard_ratio": np.exp(self.coef),
            "conf_low": np.exp(self.coef - Z95 * self.se), "conf_high": np.exp(self.coef + Z95 * self.se),
            "z": z, "p": 2 * stats.norm.sf(np.abs(z)), "method": COX_METHOD,
        })


class _TimeLayout(NamedTuple):
    """What does not change between iterations of a Cox fit: rows sorted by time, where each time's rows
    start, the deaths per time, and one entry per death for Efron's l = 0..D-1 (as the fraction l/D)."""
    starts: np.ndarray  # first row of each distinct time (rows sorted by time)
    time_index: np.ndarray  # distinct-time number of each row
    deaths: np.ndarray  # deaths at each distinct time
    event_times: np.ndarray  # distinct times with a death
    rep: np.ndarray  # for each death, its distinct time
    rep_starts: np.ndarray  # first death of each event time within `rep`
    frac: np.ndarray  # l / D for each death


def _time_layout(time_index: np.ndarray, d: np.ndarray) -> _TimeLayout:
    starts = np.flatnonzero(np.r_[True, np.diff(time_index) != 0])
    deaths = np.add.reduceat(d, starts)
    event_times = np.flatnonzero(deaths > 0)
    dt = deaths[event_times].astype(np.int64)
    rep = np.repeat(event_times, dt)
    first = np.cumsum(dt) - dt
    frac = (np.arange(len(rep)) - np.repeat(first, dt)) / np.repeat(dt, dt)
    return _TimeLayout(starts, time_index, deaths, event_times, rep, first, frac)


def _efron_terms(beta, x, d, w, layout: _TimeLayout, observed: np.ndarray, columns: np.ndarray):
    """Log-likelihood, score, information and per-time Efron mean covariates for collapsed rows sorted by time.

    Efron's correction sums over the l = 0..D-1 tied deaths at each time with denominators
    S0 - (l/D) E0. Everything that depends on l is a scalar, so it is summed per time first (A0, A1, B0, B1,
    B2 below) and the p x p information is then two weighted Gram matrices of X plus per-time outer
    products: the cost grows with rows x p^2 once, not with deaths x p^2. Sums by time are contiguous
    (np.add.reduceat), as the rows are sorted by time. `observed`, the sum of x over the deaths, is the same
    at every beta: the fit computes it once, not an n x p product every iteration. `columns` is x with each
    column contiguous (np.asfortranarray(x), made once per fit) for the sums by time.
    """
    eta = x @ beta
    with np.errstate(over="ignore"):
        risk = np.exp(eta)
    wr, dr = w * risk, d * risk
    by_time = lambda a: np.add.reduceat(a, layout.starts)  # noqa: E731
    reverse_cumsum = lambda a: a[::-1].cumsum(axis=0)[::-1]  # noqa: E731  (risk set = still present at t)
    s0, s1 = reverse_cumsum(by_time(wr)), reverse_cumsum(_by_time_of_each(wr, columns, layout.starts))
    e0, e1 = by_time(dr), _by_time_of_each(dr, columns, layout.starts)
    rep, frac = layout.rep, layout.frac
    den = s0[rep] - frac * e0[rep]
    inverse = 1 / den
    per_time = np.zeros((len(s0), 5))
    if len(rep):  # each sum over a time's deaths on its own: a deaths x 5 stack was a third of a large fit's time
        share, square = frac * inverse, inverse ** 2  # l/D / den and 1/den^2, each made once
        for j, per_death in enumerate((inverse, share, square, frac * square, share ** 2)):
            per_time[layout.event_times, j] = np.add.reduceat(per_death, layout.rep_starts)
    a0, a1 = per_time[:, 0], per_time[:, 1]
    loglik = float((d * eta).sum() - np.log(den).sum())
    mean_by_time = s1 * a0[:, None] - e1 * a1[:, None]  # sum over the tied deaths of their Efron means
    score = observed - mean_by_time.sum(axis=0)
    info = _information(x, wr, dr, s1, e1, per_time, layout)
    return loglik, score, info, mean_by_time, (wr, dr, s1, e1, per_time)


def _by_time_of_each(weight, x, starts):
    """by_time(weight * x[:, j]) for each column j: the same sums as one reduceat over the rows of
    weight[:, None] * x, to the bit, in half the time at a million rows and without that n x p product; with
    x column-major (np.asfortranarray) each column is contiguous, and the products are seven times faster
    than over a strided column of a row-major x (the same numbers, to the bit)."""
    out = np.empty((len(starts), x.shape[1]))
    for j in range(x.shape[1]):
        out[:, j] = np.add.reduceat(weight * x[:, j], starts)
    return out


def _information(x, wr, dr, s1, e1, per_time, layout: _TimeLayout):
    """sum_t sum_l (S2 - a E2)/den - mean mean': the information as a sum over times of each time's variance
    of x (Efron); per_time's rows may be scaled by a weight per time (the PH test's g(t) and g(t)^2)."""
    a0, a1, b0, b1, b2 = per_time.T
    # a row is in every risk set up to its own time, and in E only at it.
    row_weight = wr * np.cumsum(a0)[layout.time_index] - dr * a1[layout.time_index]
    info = (x * row_weight[:, None]).T @ x
    info -= (s1 * b0[:, None]).T @ s1 - (s1 * b1[:, None]).T @ e1 - (e1 * b1[:, None]).T @ s1 + (e1 * b2[:, None]).T @ e1
    return info


def newton_raphson(terms, n_params: int, model: str, max_iter: int = 50, tol: float = 1e-10) -> tuple:
    """Maximise a log partial likelihood from beta = 0; terms(beta) returns (loglik, score, information, ...).

    Newton steps, halved while they lower the likelihood; a step or estimate beyond MAX_LOG_HR means the
    likelihood has no finite maximum (a group's hazard heading to 0 or infinity) and raises LinAlgError.
    Returns (beta, terms at beta, terms at 0, iterations). Shared by the Cox and Fine-Gray fits."""
    beta = np.zeros(n_params)
    start = current = terms(beta)
    converged = False
    for iteration in range(1, max_iter + 1):
        step = np.linalg.solve(current[2], current[1])
        candidate = beta + step
        if np.max(np.abs(candidate), initial=0) > 2 * MAX_LOG_HR:
            raise np.linalg.LinAlgError(f"the {model} likelihood has no finite maximum (monotone likelihood)")
        new = terms(candidate)
        halvings = 0
        while new[0] < current[0] - 1e-12 and halvings < 30:  # step halving keeps the fit monotone
            step /= 2
            candidate = beta + step
            new = terms(candidate)
            halvings += 1
        converged = abs(new[0] - current[0]) <= tol * (abs(new[0]) + tol) and np.max(np.abs(step), initial=0) < 1e-8
        beta, current = candidate, new
        if converged:
            break
    if not converged or np.max(np.abs(beta), initial=0) > MAX_LOG_HR:
        raise np.linalg.LinAlgError(f"the {model} likelihood has no finite maximum (monotone likelihood)")
    return beta, current, start, iteration


def cox_efron(x, time, d, w=None, names: list[str] | None = None, max_iter: int = 50, tol: float = 1e-10,
              terms: list[str] | None = None, test_ph: bool = True) -> CoxResult:
    """Cox model by Newton-Raphson with Efron's tie correction.

    Rows may be collapsed: row i stands for w[i] people with covariates x[i] leaving at time[i], of whom
    d[i] had the event. With w = 1 and d in {0, 1} it is the ordinary person-level fit.

    Hand-written because lifelines is inexact on counts: CoxPHFitter(weights_col=) counts tied *rows*, not
    people, in Efron's correction, so on the 539-row synthetic extract collapsed to counts its unadjusted
    log hazard ratios differ from the person-level fit by up to 1.0e-3 (gender; measured with lifelines 0.30.3).
    This fit equals lifelines and R's coxph on person-level data (tests/test_estimators_validation.py,
    tests/test_scale_agreement.py) and stays fast at a million people, where expanding to people does not.
    With test_ph=False the proportional-hazards tests are not computed (ph_test is empty): the sensitivity
    analyses refit the adjusted model dozens of times and report only its estimates.
    """
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    d = np.asarray(d, dtype=float)
    w = np.ones(len(d)) if w is None else np.asarray(w, dtype=float)
    times, time_index = distinct(time)
    if np.any(np.diff(time_index) < 0):  # rows by time: sums per time become contiguous (counts by time already are)
        order = np.argsort(time_index, kind="stable")
        x, d, w, time_index = x[order], d[order], w[order], time_index[order]
    layout = _time_layout(time_index, d)
    names = names or [f"x{j}" for j in range(x.shape[1])]
    observed = (d[:, None] * x).sum(axis=0)
    columns = np.asfortranarray(x)
    beta, (loglik, _, info, mean_sum, pieces), (loglik0, *_), iteration = newton_raphson(
        lambda b: _efron_terms(b, x, d, w, layout, observed, columns), x.shape[1], "Cox", max_iter, tol)
    cov = np.linalg.inv(info)
    ph = pd.concat([ph_test(info, mean_sum, pieces, x, d, w, layout, terms or names),
                    _ph_test_approximate(beta, cov, x, d, w, layout, mean_sum).assign(
                        term=lambda t: t["term"].map(lambda j: names[j] if isinstance(j, (int, np.integer)) else j))],
                   ignore_index=True) if test_ph else pd.DataFrame()
    return CoxResult(names, beta, cov, loglik0, loglik, int(w.sum()), int(d.sum()), iteration, ph)


def ph_test(info, mean_sum, pieces, x, d, w, layout: _TimeLayout, terms: list[str]) -> pd.DataFrame:
    """Tests of proportional hazards per term and global, as R's survival (>= 3.0) cox.zph computes them.

    Each covariate x is joined by g(t) x, g(t) = 1 - KM(t-) (the left-continuous Kaplan-Meier of the model's
    own event) centred at its mean over the events; the score U of the new coefficients at (beta-hat, 0) is
    sum over event times of g(t) times the Schoenfeld residuals, and the information of the augmented model
    has the blocks sum V(t), sum g(t) V(t) and sum g(t)^2 V(t), V(t) each time's (Efron) variance of x. A
    term's test is U' H^-1 U with U zero except its own new coefficients (zph.Rnw in R's survival). Written
    here for counts (lifelines has only the approximation, and ignores weights); equals cox.zph's printed
    table (tests/test_ph_zph.py, R's output committed)."""
    wr, dr, s1, e1, per_time = pieces
    deaths = layout.deaths
    observed = np.add.reduceat(d[:, None] * x, layout.starts, axis=0)
    resid = observed - mean_sum  # Schoenfeld residuals summed over the deaths at each time
    n_risk = np.add.reduceat(w, layout.starts)[::-1].cumsum()[::-1]
    km = np.cumprod(1 - deaths / n_risk)
    g = 1 - np.concatenate([[1.0], km[:-1]])  # 1 - KM(t-)
    g = g - (g * deaths).sum() / deaths.sum()
    u = (g[:, None] * resid).sum(axis=0)
    h2 = _information(x, wr, dr, s1, e1, per_time * g[:, None], layout)
    h3 = _information(x, wr, dr, s1, e1, per_time * (g ** 2)[:, None], layout)
    p = x.shape[1]
    full = np.block([[info, h2], [h2.T, h3]])
    rows = []
    groups = list(dict.fromkeys(terms))
    for name in groups + ["GLOBAL"]:
        cols = np.arange(p) if name == "GLOBAL" else np.array([j for j, t in enumerate(terms) if t == name])
        keep = np.concatenate([np.arange(p), p + cols])
        score = np.concatenate([np.zeros(p), u[cols]])
        chi2 = float(score @ np.linalg.solve(full[np.ix_(keep, keep)], score))
        rows.append({"term": name, "chi2": chi2, "df": len(cols), "p": float(stats.chi2.sf(chi2, len(cols)))})
    return pd.DataFrame(rows).assign(version=PH_CURRENT, method=PH_METHOD)


def _ph_test_approximate(beta, cov, x, d, w, layout: _TimeLayout, mean_sum) -> pd.DataFrame:
    """Per-coefficient and global Grambsch-Therneau tests (the score approximation used by survival < 3 and
    lifelines), kept beside ph_test for comparison with older results.

    Hand-written because lifelines' proportional_hazard_test ignores the weights of a weighted fit: on counts
    its p-values differ from the person-level test by up to 0.015 on the 539-row synthetic extract and 0.45
    on a 20,000-person one (adjusted employment model). Checked against lifelines on person-level data."""
    deaths = layout.deaths
    observed = np.add.reduceat(d[:, None] * x, layout.starts, axis=0)
    resid = observed - mean_sum  # Schoenfeld residuals summed over the deaths at each time
    # 1 - KM(t) at each death time (all rows: any event)
    n_risk = np.add.reduceat(w, layout.starts)[::-1].cumsum()[::-1]
    km = np.cumprod(1 - deaths / n_risk)
    g = 1 - km
    total = deaths.sum()
    g_bar = (g * deaths).sum() / total
    centred = g - g_bar
    u = (centred[:, None] * resid).sum(axis=0)  # sum over deaths of (g - mean g) * residual
    ss = (centred ** 2 * deaths).sum()
    scaled = total * cov @ u
    per_term = scaled ** 2 / (total * np.diag(cov) * ss)
    global_chi2 = float(u @ cov @ u * total / ss)
    rows = [{"term": j, "chi2": float(per_term[j]), "df": 1, "p": float(stats.chi2.sf(per_term[j], 1))}
            for j in range(len(beta))]
    rows.append({"term": "GLOBAL", "chi2": global_chi2, "df": len(beta),
                 "p": float(stats.chi2.sf(global_chi2, len(beta)))})
    return pd.DataFrame(rows).assign(version=PH_APPROXIMATE, method=PH_APPROXIMATE_METHOD)
