"""The seeded synthetic extract: plausible random draws, then calibrated so that every published figure of
Rinaldi et al. (2024) is hit exactly at its published precision.

How: group sizes, outcome counts and the in-work counts come from the calibration file (scaled by
largest remainders for other sizes); positive outcomes are placed to meet both the ethnic groups' published
rates (R9, A3) and the assumed rates by diagnosis (A17, behind R12); who gets which is otherwise random; times are drawn from truncated
log-normal distributions and the two published medians are then set exactly by moving the fewest values
next to the median onto it. At the published size the draw is repeated (same random stream) until the
outcome tests are non-significant, as published. Everything is vectorised so a million rows take seconds.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special  # the vectorised normal quantiles of the time draws (synthesis only, not analysis)

from analysis.core import contract as C
from analysis.data.calibration import Calibration, round_half_up
from analysis.stats.contingency import chi2_homogeneity, counts_table

MAX_ATTEMPTS = 200
SITE_COLUMNS = ("site", "referrals", "jobs", "published_rate_pct", "period_months", "source")


class CalibrationError(RuntimeError):
    """A draw could not be calibrated; the generator draws again."""


def scale_counts(counts: dict[str, int], total: int) -> dict[str, int]:
    """Scale group sizes to a new total, keeping proportions (largest remainder, ties by order)."""
    base = sum(counts.values())
    exact = {k: v * total / base for k, v in counts.items()}
    floor = {k: int(np.floor(v)) for k, v in exact.items()}
    short = total - sum(floor.values())
    by_remainder = sorted(exact, key=lambda k: -(exact[k] - floor[k]))
    for k in by_remainder[:short]:
        floor[k] += 1
    return floor


def force_median(values: np.ndarray, target: int, upper: np.ndarray) -> np.ndarray:
    """Move the fewest values nearest the median onto `target` so the median is exactly `target`.

    Values may only rise where `upper` allows it. Raises CalibrationError when that is impossible.
    """
    v = values.copy()
    n = len(v)
    lo, hi = (n - 1) // 2, n // 2
    below = np.flatnonzero(v < target)
    excess = len(below) - lo
    if excess > 0:
        movable = below[upper[below] >= target]
        if len(movable) < excess:
            raise CalibrationError("too few values can rise to the median")
        v[movable[np.argsort(-v[movable], kind="stable")[:excess]]] = target
    above = np.flatnonzero(v > target)
    excess = len(above) - (n - 1 - hi)
    if excess > 0:
        v[above[np.argsort(v[above], kind="stable")[:excess]]] = target
    return v


def truncated_lognormal_days(rng: np.random.Generator, median: float, sigma: float, upper: np.ndarray) -> np.ndarray:
    """Whole days from a log-normal with the given median, truncated to [0, upper] by inverse CDF."""
    top = special.ndtr((np.log(np.maximum(upper, 0) + 1) - np.log(median)) / sigma)
    u = rng.random(len(upper)) * top
    days = np.floor(np.exp(np.log(median) + sigma * special.ndtri(u))).astype(np.int64)
    return np.minimum(days, upper)


def shuffled_labels(rng: np.random.Generator, counts: dict[str, int]) -> np.ndarray:
    return rng.permutation(np.repeat(np.array(list(counts), dtype=object), list(counts.values())))


def draw_people(rng, cal: Calibration, n: int, calibrating: bool) -> pd.DataFrame:
    people = {}
    for factor in ("ethnicity", "gender", "age_band", "diagnosis", "site"):
        people[factor] = shuffled_labels(rng, scale_counts(cal.counts("ips_count", factor), n))
    people = pd.DataFrame(people)

    # Positive outcomes within each ethnic group at the group's calibrated rate (R9).
    sizes = cal.counts("ips_count", "ethnicity")
    positives = cal.counts("outcome_positive_count", "ethnicity")
    scaled = scale_counts(sizes, n)
    want = {g: int(round_half_up(positives[g] / sizes[g] * scaled[g], 0)) for g in sizes}
    codes = pd.Categorical(people["ethnicity"], categories=list(sizes)).codes
    order = np.lexsort((rng.random(n), codes))
    rank = np.empty(n, dtype=np.int64)
    starts = np.searchsorted(codes[order], np.arange(len(sizes)))
    rank[order] = np.arange(n) - np.repeat(starts, np.bincount(codes, minlength=len(sizes)))
    positive = rank < np.array([want[g] for g in sizes])[codes]
    # ... and within each diagnosis group at its assumed rate (A17, behind R12), keeping the ethnic groups' counts.
    by_diagnosis = cal.counts("outcome_positive_count", "diagnosis")
    diagnosis_sizes = cal.counts("ips_count", "diagnosis")
    scaled_diagnosis = scale_counts(diagnosis_sizes, n)
    targets = scale_counts(by_diagnosis, int(positive.sum()))
    targets = {g: min(targets[g], scaled_diagnosis[g]) for g in by_diagnosis}
    second = pd.Categorical(people["diagnosis"], categories=list(diagnosis_sizes)).codes
    positive = meet_both_margins(rng, positive, codes, second, np.array([targets[g] for g in diagnosis_sizes]))

    # Which positive outcome each positive person had.
    outcome_counts = cal.counts("outcome_count", "outcome")
    kinds = {k: outcome_counts[k] for k in C.POSITIVE_OUTCOMES}
    outcome = np.full(n, "none", dtype=object)
    outcome[positive] = shuffled_labels(rng, scale_counts(kinds, int(positive.sum())))
    people["outcome"] = outcome

    if calibrating:
        people["positive"] = positive
        for factor in C.FACTORS:
            table = counts_table(people[factor], people["positive"])
            if chi2_homogeneity(table)["p"] < cal.number("outcome_p_at_least"):
                raise CalibrationError(f"outcome differs significantly by {factor}")
        people = people.drop(columns="positive")
    return people


def meet_both_margins(rng, positive: np.ndarray, first: np.ndarray, second: np.ndarray,
                      second_targets: np.ndarray) -> np.ndarray:
    """Positive flags with the same count in each group of `first` (codes) and `second_targets` positives in
    each group of `second`: positives are moved one at a time, within a group of `first`, from a `second`
    group with too many to one with too few (so the first margins never change), then placed at random
    within each (first, second) cell. Raises CalibrationError when the margins cannot both hold."""
    k1, k2 = first.max() + 1, second.max() + 1
    cell = first * k2 + second
    people = np.bincount(cell, minlength=k1 * k2).reshape(k1, k2)
    count = np.bincount(cell[positive], minlength=k1 * k2).reshape(k1, k2)
    if second_targets.sum() != count.sum():
        raise CalibrationError("the two margins have different totals")
    while True:
        excess = count.sum(axis=0) - second_targets
        if not excess.any():
            break
        moved = False
        for g in np.flatnonzero(excess > 0):
            for h in np.flatnonzero(excess < 0):
                room = np.flatnonzero((count[:, g] > 0) & (count[:, h] < people[:, h]))
                if len(room):
                    e = room[rng.integers(len(room))]
                    count[e, g] -= 1
                    count[e, h] += 1
                    moved = True
                    break
            if moved:
                break
        if not moved:
            raise CalibrationError("positive outcomes cannot meet the diagnosis rates and the ethnic rates together")
    order = np.lexsort((rng.random(len(cell)), cell))
    starts = np.searchsorted(cell[order], np.arange(k1 * k2))
    rank = np.empty(len(cell), dtype=np.int64)
    rank[order] = np.arange(len(cell)) - np.repeat(starts, np.bincount(cell, minlength=k1 * k2))
    return rank < count.ravel()[cell]


def _draw_ages(rng, bands: pd.Series, age_max: int) -> np.ndarray:
    ages = np.zeros(len(bands), dtype=np.int64)
    for label, lo, hi in C.AGE_BANDS:
        rows = np.flatnonzero(bands.to_numpy() == label)
        ages[rows] = rng.integers(lo, min(hi, age_max) + 1, size=len(rows))
    return ages


def _draw_dates(rng, cal: Calibration, people: pd.DataFrame) -> pd.DataFrame:
    n = len(people)
    entry_from = pd.Timestamp(cal.text("entry_from"))
    entry_to = pd.Timestamp(cal.text("entry_to"))
    extract = pd.Timestamp(cal.text("extract_date"))
    num = lambda q, cat: cal.number(q, "time", cat)  # noqa: E731

    first = rng.integers(0, (entry_to - entry_from).days + 1, size=n)  # days after entry_from
    follow_up = (extract - entry_from).days - first  # days from first contact to the extract date
    outcome = people["outcome"].to_numpy()
    to_outcome = np.full(n, -1, dtype=np.int64)
    discharge = np.full(n, -1, dtype=np.int64)  # days after first contact; -1 = still open

    gained = np.flatnonzero(outcome == "gained_employment")
    t = truncated_lognormal_days(rng, cal.number("median_days_to_employment"),
                                 num("lognormal_sigma", "days_to_employment"), follow_up[gained])
    to_outcome[gained] = force_median(t, int(cal.number("median_days_to_employment")), follow_up[gained])

    retained = np.flatnonzero(outcome == "retained_employment")
    to_outcome[retained] = np.minimum(
        rng.integers(0, int(num("max_days", "retained_support_start")) + 1, size=len(retained)),
        follow_up[retained])

    education = np.flatnonzero(outcome == "education")
    to_outcome[education] = truncated_lognormal_days(
        rng, num("lognormal_median_days", "days_to_education"), num("lognormal_sigma", "days_to_education"),
        follow_up[education])

    # In-work support: exact numbers discharged (R7) and supported for more than a year (R6).
    in_work = np.concatenate([gained, retained])
    in_work.sort()
    window = follow_up[in_work] - to_outcome[in_work]  # days from outcome to the extract date
    n_in_work = len(in_work)
    n_discharged = int(round_half_up(cal.number("pct_not_requiring_time_unlimited_support") / 100 * n_in_work, 0))
    n_over = int(round_half_up(cal.number("pct_in_work_support_over_12m") / 100 * n_in_work, 0))
    # Still open: mostly those whose support began recently (Gumbel top-k = weighted sampling w/o replacement).
    keys = -window / num("open_weight_days", "days_in_work_support") + rng.gumbel(size=n_in_work)
    is_open = np.zeros(n_in_work, dtype=bool)
    is_open[np.argsort(-keys, kind="stable")[: n_in_work - n_discharged]] = True
    over_needed = n_over - int((is_open & (window > 365)).sum())
    can_go_over = np.flatnonzero(~is_open & (window >= 366))
    if over_needed < 0 or len(can_go_over) < over_needed:
        raise CalibrationError("cannot place the people supported for more than a year")
    over = np.zeros(n_in_work, dtype=bool)
    over[rng.choice(can_go_over, size=over_needed, replace=False)] = True

    support = np.full(n_in_work, -1, dtype=np.int64)
    capped = np.minimum(window, 365)
    short = ~is_open & ~over
    support[short] = truncated_lognormal_days(rng, cal.number("median_days_in_work_support"),
                                              num("lognormal_sigma", "days_in_work_support"), capped[short])
    support[over] = rng.integers(366, window[over] + 1)
    discharged = np.flatnonzero(~is_open)
    support[discharged] = force_median(support[discharged], int(cal.number("median_days_in_work_support")),
                                       np.where(over, window, capped)[discharged])
    discharge[in_work[~is_open]] = to_outcome[in_work[~is_open]] + support[~is_open]

    for rows, start, median_key in ((education, to_outcome[education], "days_education_to_discharge"),
                                    (np.flatnonzero(outcome == "none"), 0, "days_to_discharge_without_outcome")):
        stay = np.floor(np.exp(np.log(num("lognormal_median_days", median_key))
                               + num("lognormal_sigma", median_key) * rng.standard_normal(len(rows))))
        end = start + stay.astype(np.int64)
        discharge[rows] = np.where(end <= follow_up[rows], end, -1)

    day = np.timedelta64(1, "D")
    first_date = np.datetime64(entry_from.date()) + first * day
    as_date = lambda offset: pd.Series(np.where(offset >= 0, first_date + np.maximum(offset, 0) * day,  # noqa: E731
                                                np.datetime64("NaT")), dtype="datetime64[ns]")
    return pd.DataFrame({"first_contact_date": pd.Series(first_date, dtype="datetime64[ns]"),
                         "outcome_date": as_date(to_outcome), "discharge_date": as_date(discharge)})


def generate(cal: Calibration, n: int | None = None, seed: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (extract, reference): a person-level extract in the contract's columns and the CMHT table."""
    cohort_n = int(cal.number("cohort_n"))
    n = cohort_n if n is None else int(n)
    seed = int(cal.number("seed")) if seed is None else int(seed)
    calibrating = n == cohort_n  # the published tests can only be matched at the published size
    rng = np.random.default_rng(seed)
    for _ in range(MAX_ATTEMPTS):
        try:
            people = draw_people(rng, cal, n, calibrating)
            dates = _draw_dates(rng, cal, people)
            break
        except CalibrationError:
            continue
    else:
        raise CalibrationError(f"no calibrated draw in {MAX_ATTEMPTS} attempts (seed {seed})")

    ages = _draw_ages(rng, people["age_band"], int(cal.number("age_max", "age_band", "55+")))
    extract = pd.concat([people, dates], axis=1)
    extract["age"] = ages
    extract = extract.sort_values(["first_contact_date"], kind="stable").reset_index(drop=True)
    width = max(6, len(str(n)))
    extract["person_id"] = [f"IPS{i:0{width}d}" for i in range(1, n + 1)]
    extract = extract[list(C.COLUMN_NAMES)]

    cmht_total = int(round_half_up(n * sum(cal.counts("cmht_count", "ethnicity").values()) / cohort_n, 0))
    reference = pd.DataFrame(
        [(factor, cat, count)
         for factor in C.FACTORS
         for cat, count in scale_counts(cal.counts("cmht_count", factor), cmht_total).items()],
        columns=list(C.REFERENCE_COLUMNS))
    return extract, reference


def making_ips_work_sites(cal: Calibration) -> pd.DataFrame:
    """The Making IPS Work site table (exact published counts) with its citation."""
    referrals, jobs = cal.counts("site_referrals", "site"), cal.counts("site_jobs", "site")
    source = cal.table.loc[cal.table["quantity"] == "site_referrals", "source_or_reason"].iloc[0]
    return pd.DataFrame({
        "site": list(referrals),
        "referrals": list(referrals.values()),
        "jobs": [jobs[s] for s in referrals],
        "published_rate_pct": [cal.counts("site_published_rate_pct", "site")[s] for s in referrals],
        "period_months": 18,
        "source": source,
    })[list(SITE_COLUMNS)]
