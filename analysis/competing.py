"""Competing risks by group: who gains a job, who starts education, who is discharged with neither.

Education is a success, not a failure that competes with a job, so here it is its own cause: from first
contact, a person's first event is a job start (gained_employment, on the outcome date), the start of
education (on the outcome date), or discharge with neither; people still on the case-load are censored at
the extract date. People already in work at referral (retained_employment) are not seeking a job and are
left out, as in the time-to-employment analysis. For each group the cumulative incidence of each cause is
estimated (Aalen-Johansen), and Gray's test compares the groups' incidence of each cause.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .contract import FACTORS
from .employment import CENSORED, DISCHARGED, EDUCATION, EMPLOYED, employment_times  # noqa: F401 (CENSORED)
from .estimators import aalen_johansen, step_at
from .modelling import MIN_COMPARED, WEIGHT, collapse, compared_groups
from .results import MONTH_DAYS, row

CAUSES = {EMPLOYED: "job", EDUCATION: "education", DISCHARGED: "discharged with neither"}
AT_MONTHS = (6, 12)
GRAY_METHOD = ("Gray's (1988) K-sample test of cumulative incidence (rho = 0), chi-squared on k-1 df; causes: "
               "job, education, discharge with neither; 'Not known' and groups of fewer than "
               f"{MIN_COMPARED} excluded; checked against R cmprsk::cuminc")


def first_event_times(data: pd.DataFrame, extract_date: pd.Timestamp) -> pd.DataFrame:
    """One row per person seeking work: days from first contact to the first event, and its cause."""
    return employment_times(data, extract_date, education_as_cause=True)


def gray_test(time, cause, group, weight=None, of: int = 1) -> dict:
    """Gray's test that the cumulative incidence of cause `of` is the same in every group (rho = 0).

    time, cause (0 = censored; `of` = the cause of interest; any other code = a competing cause), group and
    weight (people per row: the statistic is the same on counts as on people). Written here because no
    Python library has it; it follows Gray (1988, Ann Stat 16:1141) as R's cmprsk computes it, ties and
    all, and equals cmprsk::cuminc's test to 1e-10 (tests/test_competing.py, against R's printed output)."""
    frame = pd.DataFrame({"time": np.asarray(time, float), "cause": np.asarray(cause), "group": np.asarray(group),
                          "w": np.ones(len(time)) if weight is None else np.asarray(weight, float)})
    groups = sorted(frame["group"].unique())
    k = len(groups)
    if k < 2:
        return {"chi2": np.nan, "df": 0, "p": np.nan}
    frame["g"] = frame["group"].map({g: i for i, g in enumerate(groups)})
    frame["kind"] = np.where(frame["cause"] == of, 1, np.where(frame["cause"] == 0, 0, 2))
    counts = frame.pivot_table(index="time", columns=["kind", "g"], values="w", aggfunc="sum", fill_value=0.0)
    counts = counts.reindex(columns=pd.MultiIndex.from_product([[0, 1, 2], range(k)]), fill_value=0.0)
    leaving = counts.T.groupby(level=1).sum().T.to_numpy()  # everyone leaving the risk set, by group
    d1, d2 = counts[1].to_numpy(), counts[2].to_numpy()
    at_risk = frame.groupby("g")["w"].sum().reindex(range(k)).to_numpy(float)
    f1_before, surv_before = np.zeros(k), np.ones(k)  # left-continuous incidence and all-cause KM, by group
    pooled_before = 0.0
    score, variance = np.zeros(k - 1), np.zeros((k - 1, k - 1))
    c, v2, v3 = np.zeros((k, k)), np.zeros((k - 1, k)), np.zeros(k)
    for j in range(len(counts)):
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
            if n1 > 0:
                for g in np.flatnonzero(live):
                    t4 = 1 - (1 - pooled) / surv[g] if surv[g] > 0 else 1.0
                    t5 = 1 - (n1 - 1) / (total * surv_before[g] - 1) if n1 > 1 else 1.0
                    t3 = t5 * surv_before[g] * n1 / (total * at_risk[g])
                    t1 = a[:-1, g] - t4 * c[:-1, g]
                    v3[g] += t4 * t4 * t3
                    v2[:, g] += t1 * t4 * t3
                    variance += np.outer(t1, t1) * t3
            if n2 > 0:
                for g in np.flatnonzero(live & (surv > 0) & (d2[j] > 0)):
                    t4 = (1 - pooled) / surv[g]
                    t5 = 1 - (d2[j, g] - 1) / (at_risk[g] - 1) if d2[j, g] > 1 else 1.0
                    t3 = t5 * surv_before[g] ** 2 * d2[j, g] / at_risk[g] ** 2
                    t1 = t4 * c[:-1, g]
                    v3[g] += t4 * t4 * t3
                    v2[:, g] -= t1 * t4 * t3
                    variance += np.outer(t1, t1) * t3
            pooled_before, f1_before, surv_before = pooled, f1, surv
        at_risk = at_risk - leaving[j]
    cc = c[:-1]
    variance += (cc * v3) @ cc.T + cc @ v2.T + v2 @ cc.T
    try:
        chi2 = float(score @ np.linalg.solve(variance, score))
    except np.linalg.LinAlgError:
        return {"chi2": np.nan, "df": k - 1, "p": np.nan}
    return {"chi2": chi2, "df": k - 1, "p": float(stats.chi2.sf(chi2, k - 1))}


def analyse(data: pd.DataFrame, extract_date: pd.Timestamp) -> tuple[list[dict], dict[str, pd.DataFrame]]:
    """Incidence of each cause by group at 6 and 12 months, and Gray's test of each cause across groups."""
    cells = collapse(first_event_times(data, extract_date), ["days", "cause"])
    curves, tests, keys = [], [], []
    for factor in FACTORS:
        compared = compared_groups(cells, factor)
        for level, group in cells.groupby(factor, sort=False):
            for cause, label in CAUSES.items():
                cif = aalen_johansen(group["days"], group["cause"], of=cause, weight=group[WEIGHT])
                at = step_at(cif, [m * MONTH_DAYS for m in AT_MONTHS], ["cif", "conf_low", "conf_high"], before=0.0)
                for months, (_, r) in zip(AT_MONTHS, at.iterrows()):
                    curves.append({"factor": factor, "level": level, "cause": label, "months": months,
                                   "cif_pct": 100 * r["cif"], "conf_low": 100 * r["conf_low"],
                                   "conf_high": 100 * r["conf_high"], "n": int(group[WEIGHT].sum()),
                                   "method": cif["method"].iloc[0] if len(cif) else ""})
        for cause, label in CAUSES.items():
            test = gray_test(compared["days"], compared["cause"], compared[factor], compared[WEIGHT], of=cause)
            tests.append({"factor": factor, "cause": label, **test, "n": int(compared[WEIGHT].sum()),
                          "method": GRAY_METHOD})
            if cause == EMPLOYED:
                keys.append(row("employment_gray_p", test["p"], GRAY_METHOD + "; cause: job", factor=factor,
                                n=int(compared[WEIGHT].sum())))
    return keys, {"competing_by_group": pd.DataFrame(curves), "competing_gray": pd.DataFrame(tests)}
