"""Survival estimators on collapsed data: Kaplan-Meier, Aalen-Johansen, log-rank (Cox: analysis/stats/cox.py).

Kaplan-Meier and the log-rank test are lifelines' (exact on counts, with case weights); the Aalen-Johansen
estimator and the restricted mean's standard error are written here, each docstring saying what the library
gets wrong on counts.

Times are whole days and covariates are categorical, so every estimator works on counts per distinct
time (and covariate pattern) rather than on people: the results are exactly those of the person-level
formulas, at a cost that grows with the number of distinct days, not of rows. Each function names its
method so that the tables built from it can say how every number was computed.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from lifelines.statistics import multivariate_logrank_test

from analysis.core.arrays import distinct
from analysis.core.results import Z95


KM_METHOD = {
    "log-log": "Kaplan-Meier (lifelines); Greenwood variance; 95% CI on the log(-log) scale",
    "log": "Kaplan-Meier (lifelines); Greenwood variance; 95% CI on the log scale (R survfit default)",
}
KM_MEDIAN_METHOD = ("Kaplan-Meier median (smallest time with S(t) <= 0.5, midpoint rule where S(t) = 0.5 exactly, "
                    "as R survfit); CI from where the pointwise CI limits cross 0.5 (Brookmeyer-Crowley type)")
AJ_METHOD = ("Aalen-Johansen cumulative incidence (ties between event types handled together at each time, "
             "no jitter); delta-method variance (Marubini & Valsecchi 1995; SAS LIFETEST ERROR=DELTA); "
             "95% CI on the log(-log) scale")
LOGRANK_METHOD = ("Log-rank test (Mantel-Haenszel; lifelines multivariate_logrank_test), chi-squared on k-1 df "
                  "(fewer when a group has no one at risk at the first event, as R survdiff)")
RMST_METHOD = "Restricted mean from the Kaplan-Meier curve; Greenwood-type variance; Wald 95% CI"
RMTL_METHOD = ("area under the Aalen-Johansen curve from 0 to 12 months (restricted mean time lost, Andersen 2013); "
               "delta-method variance from the multinomial increments of the cause-specific hazards; Wald 95% CI")


def event_counts(time: np.ndarray, event: np.ndarray, weight: np.ndarray | None = None) -> pd.DataFrame:
    """Counts per distinct time: at risk just before it, events by type (1, 2, ...) and censored (0)."""
    time = np.asarray(time)
    event = np.asarray(event, dtype=np.int64)
    weight = np.ones(len(time), dtype=np.int64) if weight is None else np.asarray(weight)
    times, inverse = distinct(time)
    types = max(int(event.max(initial=0)), 1)
    counts = np.zeros((len(times), types + 1), dtype=np.float64)
    np.add.at(counts, (inverse, event), weight)
    leaving = counts.sum(axis=1)
    columns = {"time": times, "n_risk": leaving[::-1].cumsum()[::-1]}
    columns.update({f"d{k}": counts[:, k] for k in range(1, types + 1)})
    columns.update({"n_event": counts[:, 1:].sum(axis=1), "n_censor": counts[:, 0]})
    return pd.DataFrame(columns)  # built in one go: column by column costs more than the sums at 539 rows


def kaplan_meier(time, event, weight=None, conf_type: str = "log-log") -> pd.DataFrame:
    """Kaplan-Meier of any event (event > 0) with Greenwood standard errors and 95% CIs, by lifelines'
    KaplanMeierFitter with the counts as weights (equal to the person-level fit: S, Greenwood variance and
    log(-log) CI to about 1e-14). This wrapper keeps the rows at the observed times (lifelines adds one at
    time 0), reads the Greenwood sum from the fitter (a private attribute: lifelines publishes only the CI
    built from it), gives 0 rather than lifelines' 1 for the CI once S is 0, and offers R's log-scale CI."""
    empty = len(np.asarray(time)) == 0
    if empty:  # lifelines refuses an empty sample; the empty curve has its columns all the same
        time, event, weight = np.zeros(1), np.zeros(1, dtype=bool), np.zeros(1)
    fitter = KaplanMeierFitter().fit(np.asarray(time, dtype=float), np.asarray(event) > 0,
                                     weights=None if weight is None else np.asarray(weight, dtype=float))
    observed = fitter.event_table["removed"].to_numpy() > 0  # drops lifelines' row at time 0 for no one
    table = fitter.event_table[observed]
    n, d = table["at_risk"].to_numpy(dtype=float), table["observed"].to_numpy(dtype=float)
    surv = fitter.survival_function_.iloc[:, 0].to_numpy()[observed]
    greenwood = fitter._cumulative_sq_.to_numpy()[observed]
    with np.errstate(divide="ignore", invalid="ignore"):
        if conf_type == "log":
            half = Z95 * np.sqrt(greenwood)
            low, high = surv * np.exp(-half), np.minimum(surv * np.exp(half), 1.0)
        elif conf_type == "log-log":
            low, high = (fitter.confidence_interval_.iloc[:, i].to_numpy()[observed] for i in (0, 1))
        else:
            raise ValueError(f"conf_type must be 'log' or 'log-log', not {conf_type!r}")
    out = pd.DataFrame({"time": table.index.to_numpy(dtype=float), "n_risk": n, "n_event": d,
                        "n_censor": table["censored"].to_numpy(dtype=float), "survival": surv,
                        "std_err": np.where(surv > 0, surv * np.sqrt(greenwood), 0.0),
                        "conf_low": np.where(surv > 0, low, 0.0), "conf_high": np.where(surv > 0, high, 0.0),
                        "method": KM_METHOD[conf_type]})
    return out.iloc[:0] if empty else out


def _crossing(times: np.ndarray, curve: np.ndarray, event_rows: np.ndarray) -> float:
    """First time a step curve falls to <= 0.5, with R's midpoint rule for an exact 0.5."""
    below = np.flatnonzero((curve <= 0.5 + 1e-12) & event_rows)
    if len(below) == 0:
        return float("nan")
    i = below[0]
    if abs(curve[i] - 0.5) < 1e-12:
        later = np.flatnonzero(event_rows[i + 1:])
        return float((times[i] + times[i + 1 + later[0]]) / 2) if len(later) else float(times[i])
    return float(times[i])


def km_median(km: pd.DataFrame) -> tuple[float, float, float]:
    """Median and its 95% CI from a kaplan_meier table; NaN where the curve does not reach 0.5."""
    times = km["time"].to_numpy(dtype=float)
    events = km["n_event"].to_numpy() > 0
    return (_crossing(times, km["survival"].to_numpy(), events),
            _crossing(times, km["conf_low"].to_numpy(), events),
            _crossing(times, km["conf_high"].to_numpy(), events))


def step_at(table: pd.DataFrame, times, columns: list[str], before: float = 1.0) -> pd.DataFrame:
    """Value of a right-continuous step function at each of `times` (`before` ahead of the first step)."""
    idx = np.searchsorted(table["time"].to_numpy(), np.asarray(times, dtype=float), side="right") - 1
    out = pd.DataFrame({"time": times})
    for col in columns:
        values = table[col].to_numpy(dtype=float)
        if len(values) == 0:  # no one in the curve: the value before any step
            values, idx = np.array([np.nan]), np.full(len(out), -1)
        out[col] = np.where(idx >= 0, values[np.maximum(idx, 0)], before if col != "std_err" else 0.0)
    return out


def at_risk_on_curve(curve: pd.DataFrame, times) -> np.ndarray:
    """People at risk at each of `times` read off a curve table: n_risk of its first row at or after the time
    (0 after its last row)."""
    t, n_risk = curve["time"].to_numpy(dtype=float), curve["n_risk"].to_numpy(dtype=float)
    if len(t) == 0:
        return np.zeros(len(np.asarray(times)))
    at = np.searchsorted(t, np.asarray(times, dtype=float), side="left")
    return np.where(at < len(t), n_risk[np.minimum(at, len(t) - 1)], 0.0)


def number_at_risk(time, at_times, weight=None) -> np.ndarray:
    """People still at risk (time >= t) at each of `at_times` (weights = counts per row)."""
    time = np.asarray(time)
    w = np.ones(len(time)) if weight is None else np.asarray(weight, dtype=float)
    order = np.argsort(time, kind="stable")
    from_end = np.concatenate([np.cumsum(w[order][::-1])[::-1], [0.0]])
    return from_end[np.searchsorted(time[order], np.asarray(at_times), side="left")].astype(np.int64)


def restricted_mean(km: pd.DataFrame, tau: float) -> tuple[float, float]:
    """Area under the Kaplan-Meier curve from 0 to tau, with its standard error.

    Hand-written for the standard error: lifelines' restricted_mean_survival_time(return_variance=True)
    gives the variance of the restricted survival time itself, not of the estimate of its mean. The area
    is checked against lifelines (tests/test_estimators_validation.py)."""
    t = km["time"].to_numpy(dtype=float)
    s = km["survival"].to_numpy()
    keep = t <= tau
    t, s = t[keep], s[keep]
    n, d = km["n_risk"].to_numpy()[keep], km["n_event"].to_numpy()[keep]
    edges = np.concatenate([[0.0], t, [tau]])
    heights = np.concatenate([[1.0], s])
    areas = heights * np.diff(edges)
    rmst = float(areas.sum())
    after = np.cumsum(areas[::-1])[::-1][1:]  # area from each time to tau
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where((d > 0) & (n > d), after ** 2 * d / (n * (n - d)), 0.0)
    return rmst, float(np.sqrt(terms.sum()))


def restricted_mean_time_lost(cif: pd.DataFrame, tau: float) -> tuple[float, float]:
    """Restricted mean time lost to one cause by tau: the area under its Aalen-Johansen cumulative incidence
    F from 0 to tau (Andersen 2013, Stat Med 32:5137), with its delta-method standard error.

    RMTL = sum over event times u <= tau of (tau - u) S(u-) dL1(u), with dL1 = d1/n the cause's hazard
    increment and S the all-cause Kaplan-Meier. Perturbing the hazards: the increment dL1(s) moves RMTL by
    a(s) = (tau - s) S(s-) - G(s), and a competing increment dL2(s) by -G(s), where G(s) = (RMTL(tau) -
    RMTL accumulated to s) / (1 - dL(s)) (dL = all causes). Var = sum over times of the quadratic form of
    (a, -G) in the multinomial covariance of (d1, d2) given n: d1(n - d1)/n^3, d2(n - d2)/n^3, -d1 d2/n^3.
    Hand-written: no Python library has it; checked by simulation (tests/test_employment_definitions.py)
    and its point value against R (the area under cmprsk::cuminc's curve)."""
    t = cif["time"].to_numpy(dtype=float)
    keep = t <= tau
    t, n = t[keep], cif["n_risk"].to_numpy(dtype=float)[keep]
    d1, d2 = cif["n_event"].to_numpy(dtype=float)[keep], cif["n_competing"].to_numpy(dtype=float)[keep]
    with np.errstate(divide="ignore", invalid="ignore"):
        hazard = np.where(n > 0, (d1 + d2) / n, 0.0)
        before = np.concatenate([[1.0], np.cumprod(1 - hazard)[:-1]])  # S(t-)
        gain = (tau - t) * before * np.where(n > 0, d1 / n, 0.0)  # each time's contribution to the area
        lost = float(gain.sum())
        later = (lost - np.cumsum(gain)) / np.where(hazard < 1, 1 - hazard, np.inf)  # G(s): the area after s
        a = (tau - t) * before - later
        v11, v22, v12 = d1 * (n - d1) / n ** 3, d2 * (n - d2) / n ** 3, -d1 * d2 / n ** 3
        variance = np.where(n > 0, a ** 2 * v11 + later ** 2 * v22 - 2 * a * later * v12, 0.0)
    return lost, float(np.sqrt(variance.sum()))


def aalen_johansen(time, cause, of: int = 1, weight=None) -> pd.DataFrame:
    """Cumulative incidence of cause `of` with the other causes competing (cause 0 = censored).

    Hand-written because neither library gives it exactly on counts with a variance: lifelines'
    AalenJohansenFitter breaks ties between causes by jittering the times (on a 20,000-person synthetic
    extract its 12-month incidence differs by 1.1e-4) and took 551 ms against 1.7 ms here; statsmodels'
    CumIncidenceRight gives the exact incidence with freq_weights but no standard error. The incidence is
    checked against statsmodels (tests/test_scale_agreement.py) and the variance against lifelines where no
    jitter is needed (tests/test_estimators_validation.py)."""
    table = event_counts(time, cause, weight)
    n = table["n_risk"].to_numpy()
    d = table["n_event"].to_numpy()
    dk = table[f"d{of}"].to_numpy() if f"d{of}" in table else np.zeros(len(table))
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(1 - d / n)
        before = np.concatenate([[1.0], surv[:-1]])  # S(t-): all-cause survival just before each time
        cif = np.cumsum(before * dk / n)
        # Delta-method variance (Marubini & Valsecchi 1995, as SAS LIFETEST and lifelines write it):
        # sum (F(t)-F_j)^2 d_j/(n_j(n_j-d_j)) + sum S_{j-1}^2 dk_j (n_j-dk_j)/n_j^3
        #   - 2 sum (F(t)-F_j) S_{j-1} dk_j/n_j^2, expanded into running sums below (Collett 2015, p. 411).
        # Where everyone still at risk leaves (d = n), the curve is flat from then on, so F(t) - F_j = 0 and the
        # term is 0, not 0 x infinity.
        a = np.where((d > 0) & (n > d), d / (n * (n - d)), 0.0)
        b = before ** 2 * dk * (n - dk) / n ** 3
        c = before * dk / n ** 2
        quad = cif ** 2 * np.cumsum(a) - 2 * cif * np.cumsum(a * cif) + np.cumsum(a * cif ** 2)
        lin = cif * np.cumsum(c) - np.cumsum(c * cif)
        var = quad + np.cumsum(b) - 2 * lin
        se = np.sqrt(np.maximum(var, 0))
        inside = (cif > 0) & (cif < 1)  # log(-log) is defined inside (0, 1); at 1, as lifelines does at S = 0
        half = np.where(inside, Z95 * se / np.where(inside, cif * np.abs(np.log(np.where(inside, cif, 0.5))), 1.0), 0.0)
        low, high = _loglog_ci(cif, np.minimum(half, 700.0))  # exp overflows beyond ~709
    return pd.DataFrame({"time": table["time"].to_numpy(), "n_risk": n, "n_event": dk, "n_competing": d - dk,
                         "n_censor": table["n_censor"].to_numpy(), "cif": cif, "std_err": se,
                         "conf_low": np.where(cif > 0, low, 0.0), "conf_high": np.where(cif > 0, high, 0.0),
                         "method": AJ_METHOD})


def _loglog_ci(estimate: np.ndarray, half: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """95% CI on the log(-log) scale from the half-width there (z x SE of log(-log) of the estimate)."""
    return estimate ** np.exp(half), estimate ** np.exp(-half)


def logrank(time, event, group, weight=None) -> dict:
    """k-sample log-rank test of the hazard of any event (event > 0) across groups (weights = counts), by
    lifelines' multivariate_logrank_test (equal to R's survdiff to about 1e-12 on counts).

    lifelines always counts k - 1 degrees of freedom; R's survdiff counts the rank of the variance matrix.
    Because risk sets are nested, that rank is one less than the number of groups with someone at risk at
    the first event time, unless everyone then at risk has the event (no variance at all). Groups with no one
    at risk then add nothing to the statistic (observed = expected = 0), so they are left out here and the
    test has R's df."""
    frame = pd.DataFrame({"time": np.asarray(time, dtype=float), "event": np.asarray(event) > 0,
                          "group": np.asarray(group),
                          "n": np.ones(len(np.asarray(time))) if weight is None else np.asarray(weight, dtype=float)})
    frame = frame[frame["n"] > 0]
    first = frame.loc[frame["event"], "time"].min()
    at_risk = frame[frame["time"] >= first]  # empty when there is no event (first is NaN)
    deaths = at_risk.loc[at_risk["event"] & (at_risk["time"] == first), "n"].sum()
    if at_risk["group"].nunique() < 2 or deaths == at_risk["n"].sum():
        return {"chi2": float("nan"), "df": 0, "p": float("nan"), "method": LOGRANK_METHOD}
    frame = frame[frame["group"].isin(set(at_risk["group"]))]
    test = multivariate_logrank_test(*(frame[c].to_numpy() for c in ("time", "group", "event")),
                                     weights=frame["n"].to_numpy())
    return {"chi2": float(test.test_statistic), "df": int(test.degrees_of_freedom), "p": float(test.p_value),
            "method": LOGRANK_METHOD}
