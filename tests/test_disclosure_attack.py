"""Playing the attacker against a shared (`nhs`) results folder, with every file read together.

The attacker knows the published rule (counts rounded to 5, 1-7 blank) and uses every statistic at the
precision it is printed. Its attacks are the leak classes of issue #11:

1. models: an odds ratio with its CI and the reference group's counts solve for a group's 2 x 2 cells;
   a representation ratio with its Katz CI and the CMHT table solve for the IPS count;
2. curves: before the first censoring S = (N - D) / N, so a curve's values give N and each month's events;
3. rates: a rate at full precision beside a rounded n has one (numerator, n) that fits;
4. differencing: a blank group = the total minus the other groups, when the numbers pin it down;
5. text: an exclusion reason that tells 'nobody' or 'everybody' about a group whose size is hidden;
6. person-level values: a median that is one person's exact duration; the earliest or latest date of
   first contact; the extract's SHA-256.

A claim is a *recovery* when it equals the true value and the true value is not what the rule intends
to show (the rounded count, a difference of rounded cumulative counts for a curve, or nothing for a blank
cell). The truth comes from the person-level extract; the intended values are worked out here from the
truth by the documented rule, not by the package's code. The same attacker, run on outputs made with a
protection switched off, must recover something: that shows it would catch the leak.
"""
from __future__ import annotations

import math
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.data.calibration import Calibration
from analysis.release import PRESETS, merge_small_groups
from analysis.data.load import apply_entry_window, load_extract
from analysis.data.references import load_reference, load_sites
from analysis.pipeline import gathered, paper_steps, run, sha256, whole_month_window
from analysis.core.results import MONTH_DAYS
from analysis.synthetic import generate

EXTRACT_DATE = "2024-02-27"
SITE_FAMILIES = ("sites", "own_sites")
ACCESS_FAMILIES = ("access", "access_need")
MIW_SITES = Path(__file__).resolve().parent.parent / "data_synthetic" / "making_ips_work_sites.csv"
Z = 1.959963984540054
NHS = PRESETS["nhs"]


def r5(value) -> float:
    """The rule's rounding, written out here: nearest 5, half up (whole numbers never tie)."""
    return 5 * math.floor(value / 5 + 0.5)


def published(value) -> float | None:
    """What the rule intends to show for a count: None (blank) for 1-7, else the rounded count."""
    return None if 1 <= value <= 7 else r5(value)


# --- the truth and what the rule intends -----------------------------------------------------------------

def truth_of(extract: Path, reference: Path, rule, sites: Path | None = None, need: Path | None = None
             ) -> tuple[dict, dict, dict]:
    """(truth, intended, facts) for every key the attacker can claim, from the person-level extract."""
    data = load_extract(extract, EXTRACT_DATE)
    first = data["first_contact_date"]
    facts = {"dates": {f"{first.min():%Y-%m-%d}", f"{first.max():%Y-%m-%d}"}, "sha256": sha256(extract)}
    entry_from, entry_to, _ = whole_month_window(extract, data, None, None, NHS)
    data, _ = apply_entry_window(data, entry_from, entry_to)
    ref = load_reference(reference)
    need_table = merge_small_groups(data, load_reference(need), rule)[1] if need else None
    data, ref, _ = merge_small_groups(data, ref, rule)
    # The paper's analyses only: every count and key the attack claims comes from them (the referee's steps
    # publish models and power, no count), and they are a third of a run's time.
    site_table = load_sites(sites) if sites else None
    exact_keys, tables = gathered(paper_steps(data, pd.Timestamp(EXTRACT_DATE), ref, site_table, need_table))
    truth, intended = {}, {}

    def count(key, value):
        truth[key], intended[key] = value, published(value)

    for suffix in ("", "_12m_window"):
        rates = tables.get(f"outcome{suffix}_rates")
        if rates is None:
            continue
        for r in rates.itertuples():
            count(("rate", f"outcome{suffix}", r.factor, r.level, "positive"), r.positive)
            count(("rate", f"outcome{suffix}", r.factor, r.level, "n"), r.n)
    for family in ACCESS_FAMILIES:  # the case-load comparison, and the need-based one when given
        for r in tables.get(f"{family}_composition", pd.DataFrame()).itertuples():
            count((family, r.characteristic, r.category, "ips_n"), r.ips_n)
    for family in SITE_FAMILIES:  # a site table's sites, and the extract's own (beside a table: own_sites)
        for r in tables.get(f"{family}_rates", pd.DataFrame()).itertuples():
            count(("rate", family, "site", r.site, "positive"), r.jobs)
            count(("rate", family, "site", r.site, "n"), r.referrals)
    # A group's outcome read from a zero: the rule means to show a 0 only for a group whose size is shown (8 or
    # more people) and, with class disclosure hidden, never a group in which nobody had the outcome.
    for name, (size, outcome) in ZERO_SOURCES.items():
        for r in tables.get(name, pd.DataFrame()).to_dict("records"):
            if r[outcome] == 0:
                factor, level = ("site", r["site"]) if "site" in r else (r["factor"], r["level"])
                truth[("zero", name, factor, level)] = 0
                intended[("zero", name, factor, level)] = None if (1 <= r[size] <= 7 or rule.class_disclosure) else 0
    curves = {("employment_km", "all", "all"): (tables["employment_cif"], ("n_event", "n_competing", "n_censor")),
              ("employment_cif", "all", "all"): (tables["employment_cif"], ("n_event", "n_competing", "n_censor")),
              ("in_work_km", "all", "all"): (tables["in_work_km"], ("n_event", "n_censor"))}
    for name, columns in (("employment_cif_by_group", ("n_event", "n_competing", "n_censor")),
                          ("in_work_km_by_group", ("n_event", "n_censor"))):
        for (factor, level), curve in tables[name].groupby(["factor", "level"], sort=False):
            curves[(name, factor, level)] = (curve, columns)
    for (name, factor, level), (curve, columns) in curves.items():
        months = np.maximum(np.ceil(curve["time"].to_numpy(float) / MONTH_DAYS - 1e-9), 0).astype(int)
        per_month = {c: np.bincount(months, weights=curve[c].to_numpy(float), minlength=months.max() + 1)
                     for c in columns}
        truth[("curve", name, factor, level, "N")] = float(curve["n_risk"].iloc[0])
        intended[("curve", name, factor, level, "N")] = sum(r5(v.sum()) for v in per_month.values())
        events = per_month["n_event"]
        rounded_cumulative = np.array([r5(v) for v in np.cumsum(events)])
        for m, (d, shown) in enumerate(zip(events, np.diff(np.concatenate([[0], rounded_cumulative])))):
            truth[("curve", name, factor, level, m)] = float(d)
            intended[("curve", name, factor, level, m)] = float(shown)
    for r in exact_keys.itertuples():
        if r.measure.startswith("median_days") and pd.notna(r.value):
            truth[("median", r.measure)] = float(r.value)
            intended[("median", r.measure)] = 7 * math.floor(r.value / 7 + 0.5)
        if r.measure.startswith("pct_") and pd.notna(r.value) and r.n:
            k = round(r.value * r.n / 100)
            count(("key_pct", r.measure, "numerator"), k)
            count(("key_pct", r.measure, "n"), int(r.n))
    return truth, intended, facts


ZERO_SOURCES = {"outcome_rates": ("n", "positive"), "outcome_12m_window_rates": ("n", "positive"),
                "employment_by_group": ("n", "events"), "in_work_by_group": ("n", "events"),
                "sites_rates": ("referrals", "jobs"), "own_sites_rates": ("referrals", "jobs")}


# --- the attacks ----------------------------------------------------------------------------------------

def read(folder: Path, name: str) -> pd.DataFrame:
    path = folder / f"{name}.csv"
    return pd.read_csv(path, keep_default_na=False, na_values=[""]) if path.exists() and path.stat().st_size > 1 \
        else pd.DataFrame()


def near_int(x: float, tol: float = 1e-6) -> bool:
    return math.isfinite(x) and abs(x - round(x)) <= tol * max(1.0, abs(x))


def unique(candidates: set) -> tuple | None:
    return next(iter(candidates)) if len(candidates) == 1 else None


def attack_rates(folder: Path) -> dict:
    """Class 3: a rate beside a rounded n has one (numerator, n) with n within the rounding."""
    claims = {}
    for name, positive, total, rate in (("outcome_rates", "positive", "n", "rate_pct"),
                                        ("outcome_12m_window_rates", "positive", "n", "rate_pct"),
                                        *((f"{f}_rates", "jobs", "referrals", "rate_pct") for f in SITE_FAMILIES)):
        table = read(folder, name)
        for r in table.to_dict("records"):
            if pd.isna(r.get(rate)) or pd.isna(r.get(total)):
                continue
            fits = {(round(r[rate] * n / 100), n) for n in range(max(1, int(r[total]) - 2), int(r[total]) + 3)
                    if near_int(r[rate] * n / 100, 1e-9)}
            found = unique(fits)
            if found:
                family = name[: -len("_rates")]
                factor, level = ("site", r["site"]) if family in SITE_FAMILIES else (r["factor"], r["level"])
                claims[("rate", family, factor, level, "positive")] = found[0]
                claims[("rate", family, factor, level, "n")] = found[1]
    key = read(folder, "key_results")
    for r in key[key["measure"].str.startswith("pct_")].to_dict("records"):
        if pd.isna(r["value"]) or pd.isna(r["n"]):
            continue
        fits = {(round(r["value"] * n / 100), n) for n in range(max(1, int(r["n"]) - 2), int(r["n"]) + 3)
                if near_int(r["value"] * n / 100, 1e-9)}
        found = unique(fits)
        if found:
            claims[("key_pct", r["measure"], "numerator")], claims[("key_pct", r["measure"], "n")] = found
    return claims


def attack_models(folder: Path, denominators: dict[str, pd.DataFrame]) -> dict:
    """Class 1: closed forms of the odds ratio (with the reference group's cells) and of the
    representation ratio (with the CMHT table) for a group's hidden counts."""
    claims = {}
    for suffix in ("", "_12m_window"):
        logit, rates = read(folder, f"outcome{suffix}_logit"), read(folder, f"outcome{suffix}_rates")
        if not len(logit) or not len(rates):
            continue
        for r in logit.to_dict("records"):
            if not str(r["model"]).startswith("unadjusted") or pd.isna(r.get("odds_ratio")) or pd.isna(r.get("conf_low")):
                continue
            ref = rates[(rates["factor"] == r["factor"]) & (rates["level"] == r["reference"])]
            if not len(ref) or ref[["positive", "n"]].isna().any(axis=None):
                continue
            c0, n0 = int(ref["positive"].iloc[0]), int(ref["n"].iloc[0])
            se = (math.log(r["conf_high"]) - math.log(r["conf_low"])) / (2 * Z)
            fits = set()
            for c in range(max(1, c0 - 2), c0 + 3):
                for d in range(max(1, n0 - c0 - 4), n0 - c0 + 5):
                    odds = r["odds_ratio"] * c / d
                    rest = se ** 2 - 1 / c - 1 / d
                    if rest <= 0:
                        continue
                    a = (1 + odds) / rest
                    b = a / odds
                    if near_int(a, 1e-5) and near_int(b, 1e-5) and round(a) > 0 and round(b) > 0:
                        fits.add((round(a), round(a) + round(b)))
            found = unique(fits)
            if found:
                claims[("rate", f"outcome{suffix}", r["factor"], r["level"], "positive")] = found[0]
                claims[("rate", f"outcome{suffix}", r["factor"], r["level"], "n")] = found[1]
    for family, cmht, r in ((f, d, r) for f, d in denominators.items()
                            for r in read(folder, f"{f}_composition").to_dict("records")):
        if pd.isna(r.get("representation_ratio")) or pd.isna(r.get("ratio_conf_low")) or r["category"] == "Not known":
            continue
        mine = cmht[cmht["characteristic"] == r["characteristic"]]
        c = float(mine.loc[mine["category"] == r["category"], "count"].sum())
        big_c = float(mine.loc[mine["category"] != "Not known", "count"].sum())
        if c <= 0 or r["representation_ratio"] <= 0:
            continue
        found = ips_count_from_ratio(r["representation_ratio"], r["ratio_conf_low"], r["ratio_conf_high"], c, big_c)
        if found is not None:
            claims[(family, r["characteristic"], r["category"], "ips_n")] = found
    return claims


def ips_count_from_ratio(ratio: float, low: float, high: float, c: float, big_c: float) -> int | None:
    """A group's IPS count a from its representation ratio, CI and denominator counts (c of C): for each
    possible IPS total A, a = ratio c / C x A must be whole and the CI's variance must be what the nested
    formula (or Katz's, for independent samples) gives for (a, A); a claim only if one a fits."""
    variance = ((math.log(high) - math.log(low)) / (2 * Z)) ** 2
    big_a = np.arange(1, int(big_c) + 1, dtype=float)
    a = ratio * c / big_c * big_a
    whole = (np.abs(a - np.round(a)) < 1e-6) & (np.round(a) >= 1)
    a, big_a = np.round(a[whole]), big_a[whole]
    b, big_b = c - a, big_c - big_a
    with np.errstate(divide="ignore", invalid="ignore"):
        katz = 1 / a - 1 / big_a + 1 / c - 1 / big_c
        nested = 1 / a - 1 / big_a + (a * (1 - a / big_a) + b * (1 - b / np.where(big_b > 0, big_b, np.nan))) / c ** 2 \
            - 2 * (1 - a / big_a) / c
    fits = {int(x) for x, k, n in zip(a, katz, nested)
            if abs(k - variance) <= 1e-6 * variance or (n == n and abs(n - variance) <= 1e-6 * variance)}
    return unique(fits)


def attack_curves(folder: Path) -> dict:
    """Class 2: while no one has been censored S = (N - D) / N (and CIF = D / N): the N near the printed
    number at risk that makes every early value a whole number of events gives N and each month's events."""
    claims = {}
    sources = [("employment_km", "survival", None), ("in_work_km", "survival", None), ("employment_cif", "cif", None),
               ("employment_cif_by_group", "cif", "group"), ("in_work_km_by_group", "survival", "group")]
    for name, column, by in sources:
        table = read(folder, name)
        if not len(table) or column not in table:
            continue
        groups = table.groupby(["factor", "level"], sort=False) if by else [(("all", "all"), table)]
        for (factor, level), curve in groups:
            curve = curve.dropna(subset=[column, "n_risk"]).sort_values("time")
            if len(curve) < 2:
                continue
            shown_n = int(curve["n_risk"].iloc[0])
            share = (1 - curve[column] if column == "survival" else curve[column]).to_numpy(float)
            months = (curve["months"] if "months" in curve else np.ceil(curve["time"] / MONTH_DAYS - 1e-9)).astype(int)
            at_risk = curve["n_risk"].to_numpy(float)
            best = {}
            for n in range(max(1, shown_n - 2), shown_n + 3):
                # Only while no one has left but by the event: the number at risk (rounded, so within 2) is
                # N minus the events so far.
                prefix = 0
                while (prefix < len(share) and near_int(n * share[prefix], 1e-7)
                       and abs(at_risk[prefix] - (n - (n * share[prefix - 1] if prefix else 0))) <= 2):
                    prefix += 1
                if prefix >= 2:
                    best[n] = prefix
            if not best:
                continue
            longest = max(best.values())
            found = unique({n for n, p in best.items() if p == longest})
            if not found:
                continue
            n = found
            claims[("curve", name, factor, level, "N")] = float(n)
            cumulative = np.rint(n * share[:longest])
            per_month = {}
            previous = 0.0
            for m, cum in zip(months[:longest], cumulative):
                per_month[int(m)] = per_month.get(int(m), 0.0) + cum - previous
                previous = cum
            for m, d in per_month.items():
                claims[("curve", name, factor, level, m)] = float(d)
    return claims


def attack_differencing(folder: Path) -> dict:
    """Class 4: each group's count from its factor's total and the other groups: every published count is an
    interval (0 exactly; 1-7 when blank; +/-2 when rounded; anything when blanked as 'secondary'), and the
    groups must add up to the total. Wherever the intervals leave one value, it is claimed."""
    claims = {}
    for suffix in ("", "_12m_window"):
        rates = read(folder, f"outcome{suffix}_rates")
        if not len(rates):
            continue
        total = rates[rates["factor"] == "all"]
        for column in ("n", "positive"):
            if not len(total) or pd.isna(total[column].iloc[0]):
                continue
            t = float(total[column].iloc[0])
            t_low, t_high = (0, 0) if t == 0 else (t - 2, t + 2)
            for factor, rows in rates[rates["factor"] != "all"].groupby("factor"):
                bounds = []
                for value, note in zip(rows[column], rows["suppressed"].fillna("")):
                    if pd.isna(value):
                        bounds.append([0, t_high] if f"{column} (secondary)" in note else [1, 7])
                    else:
                        bounds.append([value, value] if value == 0 else [value - 2, value + 2])
                bounds = np.array(bounds, dtype=float)
                for _ in range(len(bounds) + 1):
                    low_sum, high_sum = bounds[:, 0].sum(), bounds[:, 1].sum()
                    bounds = np.column_stack([np.maximum(bounds[:, 0], t_low - (high_sum - bounds[:, 1])),
                                              np.minimum(bounds[:, 1], t_high - (low_sum - bounds[:, 0]))])
                for level, (low, high), value in zip(rows["level"], bounds, rows[column]):
                    if low == high and not value == 0:
                        claims[("rate", f"outcome{suffix}", factor, level, column)] = low
    return claims


def attack_zeros(folder: Path) -> dict:
    """Class 7: a published 0 beside a hidden group size (the group has 1-7 people, and none had the outcome),
    or beside a shown size (nobody in the group had the outcome: class disclosure)."""
    claims = {}
    for name, (size, outcome) in ZERO_SOURCES.items():
        table = read(folder, name)
        for r in table.to_dict("records") if len(table) and outcome in table else []:
            if r[outcome] == 0 and not pd.isna(r[outcome]):
                factor, level = ("site", r["site"]) if "site" in r else (r["factor"], r["level"])
                claims[("zero", name, factor, level)] = 0
    return claims


def attack_tests_with_hidden_groups(folder: Path) -> list[str]:
    """Class 8: a test or model-wide statistic that counts a group whose statistics are hidden. A test across
    k groups has k - 1 df; with fewer groups shown than that, the test has used a hidden one (whose counts
    it then carries)."""
    found = []
    for by_group, tests, label in (("employment_by_group", "employment_logrank", "cif_6m_pct"),
                                   ("in_work_by_group", "in_work_logrank", "km_survival_6m"),
                                   ("employment_by_group", "competing_gray", "cif_6m_pct")):
        groups, table = read(folder, by_group), read(folder, tests)
        if not len(groups) or not len(table) or label not in groups:
            continue
        if "cause" in table:
            table = table[table["cause"] == "job"]
        for r in table.to_dict("records"):
            mine = groups[(groups["factor"] == r["factor"]) & (groups["level"] != "Not known")]
            shown = int(mine[label].notna().sum())
            if pd.notna(r.get("df")) and r["df"] > 0 and r["df"] + 1 > shown:
                found.append(f"{tests}: the {r['factor']} test has {int(r['df'])} df with {shown} groups shown: "
                             "it counts a hidden group")
    return found


def attack_conditions(folder: Path) -> list[str]:
    """Class 9: the publication conditions as constraints. Each count of an outcome table is an interval (its
    rounding), and the rule's conditions as the release states them constrain it further: if a group's
    statistics are shown only when, on the exact counts, it has 8 or more people and events and non-events
    not from 1 to 7, and a group said to be left out for having 'fewer than 10 people' has at most 9, then
    intersecting those with the rounding narrows counts. Reported where the conditions narrow a count that
    the rounding alone leaves at five values to two or fewer."""
    found = []
    info = read(folder, "run_info")
    exact_conditions = len(info) and "published_conditions" in " ".join(info["value"].astype(str))
    for suffix in ("", "_12m_window"):
        rates = read(folder, f"outcome{suffix}_rates")
        excluded = read(folder, f"outcome{suffix}_model_exclusions")
        few = set()
        if len(excluded):
            few = {(f, lv) for f, lv, why in zip(excluded["factor"], excluded["level"], excluded["reason"])
                   if "fewer than 10 people" in str(why)}
        for r in rates.to_dict("records") if len(rates) else []:
            if pd.isna(r["n"]) or pd.isna(r["positive"]) or r["factor"] == "all":
                continue
            ns = [n for n in range(int(r["n"]) - 2, int(r["n"]) + 3) if n >= 0]
            pairs = [(n, k) for n in ns for k in range(max(0, int(r["positive"]) - 2), int(r["positive"]) + 3)
                     if k <= n and (r["positive"] != 0 or k == 0)]
            kept = pairs
            if exact_conditions and pd.notna(r["rate_pct"]):
                kept = [(n, k) for n, k in kept if n >= 8 and not 1 <= k <= 7 and not 1 <= n - k <= 7]
            if (r["factor"], r["level"]) in few:
                kept = [(n, k) for n, k in kept if n <= 9]
            values = sorted({n for n, _ in kept})
            if len({n for n, _ in pairs}) == 5 and 0 < len(values) <= 2:
                found.append(f"outcome{suffix}_rates {r['factor']} {r['level']}: the conditions narrow n to {values}")
    return found


def attack_text_and_metadata(folder: Path, facts: dict, truth: dict) -> list[str]:
    """Classes 5 and 6: leaks that are not counts. Returns a description of each found."""
    found = []
    everything = "\n".join(p.read_text() for p in folder.glob("*.csv"))
    if facts["sha256"] in everything:
        found.append("the extract's SHA-256 is in the results")
    for date in facts["dates"]:
        if date in everything and not (date.endswith("-01") or pd.Timestamp(date).is_month_end):
            found.append(f"a person's date of first contact ({date}) is in the results")
    key = read(folder, "key_results")
    for r in key[key["measure"].str.startswith("median_days")].to_dict("records"):
        exact = truth.get(("median", r["measure"]))
        if exact is not None and pd.notna(r["value"]) and r["value"] == exact and exact % 7:
            found.append(f"{r['measure']} is the exact sample median ({exact})")
    for path in folder.glob("*_model_exclusions.csv"):
        table = read(folder, path.stem)
        family = path.stem[: -len("_model_exclusions")]
        for r in table.to_dict("records") if len(table) else []:
            n = truth.get(("rate", family, r["factor"], r["level"], "n"))
            if n is not None and n < 8 and re.search(r"no events|everyone", str(r["reason"])):
                found.append(f"{path.name}: '{r['reason']}' for {r['factor']} {r['level']} of {n} people")
    return found


def attack(folder: Path, denominators: dict[str, pd.DataFrame], facts: dict, truth: dict) -> tuple[dict, list[str]]:
    """denominators: the CMHT table ("access") and any need table ("access_need"), known to the attacker
    exactly (the worst case: the release shows them rounded)."""
    claims = {}
    for attempt in (attack_rates(folder), attack_models(folder, denominators), attack_curves(folder),
                    attack_differencing(folder), attack_zeros(folder)):
        for key, value in attempt.items():
            claims.setdefault(key, value)
    return claims, (attack_text_and_metadata(folder, facts, truth) + attack_tests_with_hidden_groups(folder)
                    + attack_conditions(folder))


def score(claims: dict, truth: dict, intended: dict) -> tuple[list, list]:
    """(recovered, wrong): claims equal to a true value the rule meant to hide, and claims that were wrong."""
    recovered, wrong = [], []
    for key, value in claims.items():
        if key not in truth:
            continue
        if value == truth[key] and intended.get(key) != truth[key]:
            recovered.append((key, value, intended.get(key)))
        elif value != truth[key]:
            wrong.append((key, value, truth[key]))
    return recovered, wrong


# --- extracts ---------------------------------------------------------------------------------------------

def write_extract(folder: Path, n: int, seed: int, skew: float, tiny_site: int = 0) -> tuple[Path, Path]:
    """A synthetic extract of n people (the package's generator: realistic times and groups), with a share
    `skew` of people moved into small groups so that some groups are tiny; with tiny_site, that many people
    without a job moved to a site of their own (a team of 1 to 7: its size is hidden, and so is its zero)."""
    extract, reference = generate(Calibration.read(), n=n, seed=seed)
    rng = np.random.default_rng(seed)
    moved = rng.random(len(extract)) < skew
    extract.loc[moved, "ethnicity"] = rng.choice(["Mixed", "Other"], moved.sum())
    extract.loc[rng.random(len(extract)) < skew / 2, "gender"] = "Other"
    if tiny_site:
        without_job = np.flatnonzero(~extract["outcome"].isin(["gained_employment", "retained_employment"]).to_numpy())
        extract.loc[extract.index[without_job[:tiny_site]], "site"] = "Tiny team"
    folder.mkdir(parents=True, exist_ok=True)
    extract.to_csv(folder / "extract.csv", index=False)
    reference.to_csv(folder / "cmht.csv", index=False)
    # A need table: the people who want work, a varying share of each group of the case-load.
    need = reference[reference["characteristic"].isin(["ethnicity", "age_band"])].copy()
    need["count"] = np.round(need["count"] * rng.uniform(0.25, 0.6, len(need))).astype(int)
    need.to_csv(folder / "need.csv", index=False)
    return folder / "extract.csv", folder / "cmht.csv"


def attack_run(folder: Path, extract: Path, cmht: Path, rule, sites: Path | None = None, need: Path | None = None
               ) -> tuple[list, list, list[str], int]:
    out = folder / f"out-{abs(hash(rule.protections)) % 10**8}"
    run(extract, EXTRACT_DATE, out, reference=cmht, sites_path=sites, disclosure=rule, with_figures=False, need=need)
    truth, intended, facts = truth_of(extract, cmht, rule, sites, need)
    denominators = {"access": pd.read_csv(cmht), **({"access_need": pd.read_csv(need)} if need else {})}
    claims, text = attack(out, denominators, facts, truth)
    recovered, wrong = score(claims, truth, intended)
    return recovered, wrong, text, len(claims)


# --- the tests --------------------------------------------------------------------------------------------

@settings(max_examples=20, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(min_value=40, max_value=220), seed=st.integers(min_value=0, max_value=10_000),
       skew=st.sampled_from([0.0, 0.03, 0.08]))
def test_the_attacker_recovers_nothing_from_a_default_release(tmp_path_factory, n, seed, skew):
    """Half the runs are also given a site table, so that the extract's own sites are published beside it;
    the other half a need table, so that access is also published against it."""
    folder = tmp_path_factory.mktemp("attack")
    extract, cmht = write_extract(folder, n, seed, skew)
    recovered, wrong, text, claims = attack_run(folder, extract, cmht, NHS, MIW_SITES if seed % 2 else None,
                                                None if seed % 2 else folder / "need.csv")
    assert recovered == [], recovered[:10]
    assert text == []


def test_the_attacker_recovers_nothing_from_the_shipped_synthetic_data_at_nhs(tmp_path):
    root = Path(__file__).resolve().parent.parent / "data_synthetic"
    recovered, wrong, text, claims = attack_run(tmp_path, root / "ips_extract.csv", root / "reference_population.csv", NHS)
    assert recovered == [] and text == []


# Each protection, switched off alone, lets one of the attacks through: the attacker would catch the leak.
LEAKS = {
    "zeros_beside_blanks": lambda recovered, text: any(k[0] == "zero" for k, _, _ in recovered),
    "tests_without_hidden_groups": lambda recovered, text: any("counts a hidden group" in t for t in text),
    "published_conditions": lambda recovered, text: any("the conditions narrow" in t for t in text),
    "published_counts": lambda recovered, text: any(k[0] in ("rate", "key_pct", *ACCESS_FAMILIES) for k, _, _ in recovered),
    "secondary_for_totals": lambda recovered, text: any(k[0] == "rate" for k, _, _ in recovered),
    "curves": lambda recovered, text: any(k[0] == "curve" for k, _, _ in recovered),
    "whole_weeks": lambda recovered, text: any("exact sample median" in t for t in text),
    "no_identifying_metadata": lambda recovered, text: any("SHA-256" in t for t in text),
    "month_windows": lambda recovered, text: any("date of first contact" in t for t in text),
}


@pytest.mark.parametrize("protection", sorted(LEAKS))
def test_switching_a_protection_off_lets_the_attacker_in(tmp_path, protection):
    rule = replace(NHS, protections=NHS.protections - {protection})
    found = False
    # (168, 1): groups of 38, 38 and 1 positive beside a total of 77, which rounding alone pins
    # (150, 3, with a team of 4 without a job): a hidden team size beside its zero jobs
    for n, seed, skew, tiny in ((60, 11, 0.03, 0), (168, 1, 0.0, 0), (150, 3, 0.03, 4), (539, 20240227, 0.03, 0)):
        extract, cmht = write_extract(tmp_path / f"{n}-{seed}", n, seed, skew, tiny)
        recovered, wrong, text, _ = attack_run(tmp_path / f"{n}-{seed}", extract, cmht, rule)
        if LEAKS[protection](recovered, text):
            found = True
            break
    assert found, f"with {protection} off the attacker recovered nothing: the attack would not catch that leak"


def test_with_every_protection_off_the_attacker_recovers_many_exact_cells(tmp_path):
    """The positive control for the whole attacker: the old kind of release gives exact counts back."""
    rule = replace(NHS, protections=frozenset())
    extract, cmht = write_extract(tmp_path, 150, 3, 0.03)
    recovered, wrong, text, claims = attack_run(tmp_path, extract, cmht, rule, need=tmp_path / "need.csv")
    assert len(recovered) >= 20, (len(recovered), claims)
    # each class of attack finds something, the ratio attack on both denominators included
    assert {"rate", "curve", "key_pct", *ACCESS_FAMILIES} <= {k[0] for k, _, _ in recovered}
    assert text


def test_class_disclosure_is_the_ig_leads_option_and_its_record_stays_local(tmp_path):
    """A team of 12 in which nobody found work (each member's outcome is then known): hidden by default, its
    zero included, and listed only in the local record; shown with --class-disclosure show, and the shared log
    says which was chosen."""
    extract, cmht = write_extract(tmp_path / "in", 200, 5, 0.0, tiny_site=12)
    out = {}
    for choice in ("hide", "show"):
        out[choice] = tmp_path / choice
        run(extract, EXTRACT_DATE, out[choice], reference=cmht, disclosure=replace(NHS, class_disclosure=choice == "hide"),
            with_figures=False, local_dir=tmp_path / f"local-{choice}")
    team = {c: read(out[c], "sites_rates").set_index("site").loc["Tiny team"] for c in out}
    assert team["hide"]["referrals"] == 10 and pd.isna(team["hide"]["jobs"]) and pd.isna(team["hide"]["rate_pct"])
    assert team["show"]["jobs"] == 0 and team["show"]["rate_pct"] == 0
    local = pd.read_csv(tmp_path / "local-hide" / "class_disclosure.csv")
    assert ((local["level"] == "Tiny team") & (local["had_the_outcome"] == "nobody")).any()
    shared = "\n".join(p.read_text() for p in out["hide"].glob("*.csv"))
    assert "Tiny team,12" not in shared and "nobody" not in read(out["hide"], "disclosure_log")["rule"].str.cat(sep=" ").replace(
        "nobody or everybody", "")
    log = read(out["show"], "disclosure_log")
    assert log["rule"].str.contains("are shown \\(--class-disclosure show\\)").any()
