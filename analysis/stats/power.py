"""Power for time to event: the smallest hazard ratio each survival comparison could have detected.

Schoenfeld's (1983, Biometrics 39:499) formula gives the number of events D that a two-sided test at level
alpha of a log hazard ratio needs for power 1 - beta when a share p of the people are in one group:

    D = (z_{1-alpha/2} + z_{1-beta})^2 / (p (1 - p) log(HR)^2).

Turned round with the events D actually observed in a group and its reference group and the group's share
p of the two, the minimum detectable hazard ratio at 80% power is exp(+-(z_{0.975} + z_{0.8}) /
sqrt(D p (1 - p))): a group of the size observed, with the events observed, would have been found to differ
only if its hazard ratio lay beyond these. Each group is compared with the reference of the Cox models (the
largest group of its factor; 'Not known' and groups of fewer than 10 left out), as the unadjusted Cox model
compares them. It is an approximation (the risk sets are assumed proportional to the shares throughout),
checked against two published worked examples (tests/test_referee.py): Table 1 of Trials 2015;16:213
(doi:10.1186/s13063-015-0727-9; Schoenfeld's initial sample sizes for hazard ratios 1.25 to 2) and the
MRC Cognition and Brain Sciences Unit statistics wiki's log-rank example (FAQ/powsurv: 20.39 events).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from analysis.core.contract import FACTORS
from analysis.stats.modelling import MIN_COMPARED, model_levels, sorted_codes

POWER, ALPHA = 0.8, 0.05
METHOD = ("Minimum detectable hazard ratio at 80% power, two-sided 5% test: exp(+-(z_0.975 + z_0.8) / sqrt(D p (1-p))) "
          "with D the events observed in the group and its reference and p the group's share of their people "
          "(Schoenfeld 1983); reference = the Cox models' (largest group); 'Not known' and groups of fewer than "
          f"{MIN_COMPARED} excluded")


def events_required(hazard_ratio: float, share: float = 0.5, alpha: float = ALPHA, power: float = POWER) -> float:
    """Schoenfeld's number of events for a two-sided level-alpha test with the given power."""
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    return float(z ** 2 / (share * (1 - share) * np.log(hazard_ratio) ** 2))


def detectable_hazard_ratio(events: float, share: float, alpha: float = ALPHA, power: float = POWER) -> float:
    """The hazard ratio above 1 that `events` events detect with the given power (its reciprocal below 1)."""
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    with np.errstate(divide="ignore"):
        return float(np.exp(z / np.sqrt(events * share * (1 - share))))


def achieved_power(hazard_ratio: float, events: float, share: float, alpha: float = ALPHA) -> float:
    """Power of the two-sided test for a true hazard ratio with these events (Schoenfeld's approximation)."""
    z = abs(np.log(hazard_ratio)) * np.sqrt(events * share * (1 - share)) - stats.norm.ppf(1 - alpha / 2)
    return float(stats.norm.cdf(z))


def detectable(frame: pd.DataFrame, analysis: str) -> pd.DataFrame:
    """frame: one row per person with the factors, `event` and `count` (1). One row per group against its reference."""
    rows = []
    for factor in FACTORS:
        levels, _ = model_levels(frame, factor, "event")
        if len(levels) < 2:
            continue
        which, groups = sorted_codes(frame[factor])  # a categorical's codes: no text made of every person
        counts = pd.DataFrame({"size": np.bincount(which, minlength=len(groups)),
                               "sum": np.bincount(which, weights=frame["event"].to_numpy(dtype=float),
                                                  minlength=len(groups)).astype(np.int64)}, index=groups)
        reference = levels[0]
        for level in levels[1:]:
            n, n_ref = counts.loc[level, "size"], counts.loc[reference, "size"]
            events = counts.loc[level, "sum"] + counts.loc[reference, "sum"]
            share = n / (n + n_ref)
            above = detectable_hazard_ratio(events, share)
            rows.append({"analysis": analysis, "factor": factor, "level": level, "reference": reference,
                         "n": int(n), "n_reference": int(n_ref), "events": int(counts.loc[level, "sum"]),
                         "events_reference": int(counts.loc[reference, "sum"]), "share": share,
                         "detectable_hr_above": above, "detectable_hr_below": 1 / above,
                         "events_for_hr_1_5": events_required(1.5, share), "method": METHOD})
    return pd.DataFrame(rows)


def analyse(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    parts = [detectable(frames[name], name) for name in ("employment", "in_work") if name in frames]
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
