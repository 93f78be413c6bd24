"""What the published figures pin down, and what the synthetic data only assume.

The synthetic cohort is calibrated to every published figure, but much was not published (the
calibration's assumption rows). This module regenerates what each published conclusion depends on,
across seeds and across the plausible range of the assumptions behind it, and counts how often the
conclusion still holds:

- R11/R12 (no difference in outcome by group): the generator rejects any draw in which a group differs
  at p < 0.05, so in the synthetic data they hold by construction. What can be measured is how often a
  cohort with the assumed group rates would show a difference by chance alone: the same draws without
  the rejection. For ethnicity the rates of three groups are published (R9) and those of White and Other
  people are assumed (A3); the generator places each group's outcomes exactly, so the ethnicity test is
  fixed by A3, and is recomputed for every pair of White and Other rates the published totals allow.
- R10 (Black, Asian, Mixed and Other people each over-represented in IPS): the IPS counts are fixed by
  the published rates; the CMHT case-load's ethnic make-up (assumption A8) is not published. It is varied
  from 0.7 to 1.3 times the assumed share of each minority group (White taking up the difference).
- R6 (6.2% had in-work support beyond 12 months, a crude share): fixed by calibration; the
  censoring-aware Kaplan-Meier share still supported at 12 months depends on assumed support durations
  (A13: their spread, and who is still supported at the extract date) and varies with the seed; it is
  recomputed across seeds and across a grid of A13 (its spread, not a share: it cannot fall below the
  crude share when open cases are censored before 12 months).

Not varied, and why: the IPS group sizes (A2). They are sizes at which the published rates are exact (23 is
the smallest for Mixed; 44.2% is also exact at 19/43 and 43.4% at 23/53, so the Asian and Black sizes are
choices); larger ones would narrow every interval (strengthening R10, weakening R11) and were not tried. The
rates by diagnosis (A17) are set near the overall rate, so R12 holds by that choice. The other CMHT make-ups
(A9-A11) and time scales (A12, A14) bear on no published conclusion.

`ips-analysis robustness` (make robustness) writes results/robustness.csv; the book's chapter reads it.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.questions import access, in_work
from analysis.book import labels
from analysis.core import contract as C
from analysis.data.calibration import Calibration
from analysis.core.files import write_csv_atomic
from analysis.data.load import load_extract
from analysis.stats.contingency import counts_table
from analysis.stats.proportions import chi2_homogeneity
from analysis.synthetic import draw_people, generate

SEEDS = range(1, 201)          # outcome draws: fast (no dates)
KM_SEEDS = range(1, 41)        # whole cohorts with dates, for the Kaplan-Meier share
A8_SCALES = (0.7, 0.85, 1.0, 1.15, 1.3)
R10_GROUPS = ("Black", "Asian", "Mixed", "Other")
A3_OTHER = (10, 20)                   # positive outcomes among the 33 Other people: from 10 to 20 (assumed: 15)
A13_SIGMAS = (0.5, 0.7, 0.9)          # spread of in-work support durations (assumed: 0.7)
A13_OPEN_DAYS = (75, 150, 300)        # who is still supported at the extract date (assumed: 150)
A13_SEEDS = range(1, 11)


def _chance_differences(cal: Calibration) -> list[dict]:
    """Share of random cohorts (the generator's draw without its rejection step) whose outcome differs by
    each factor at p < 0.05, and share differing by any factor."""
    rows, any_factor = [], 0
    hits = {f: 0 for f in C.FACTORS}
    n = int(cal.number("cohort_n"))
    for seed in SEEDS:
        people = draw_people(np.random.default_rng(seed), cal, n, calibrating=False)
        positive = people["outcome"].isin(C.POSITIVE_OUTCOMES)
        found = False
        for factor in C.FACTORS:
            table = counts_table(people[factor], positive).drop(index=C.NOT_KNOWN, errors="ignore")
            if chi2_homogeneity(table)["p"] < 0.05:
                hits[factor] += 1
                found = True
        any_factor += found
    for factor in C.FACTORS:
        rows.append({"conclusion": "R11/R12", "assumption": "seeds (outcome draws)", "setting": labels.factor(factor),
                     "draws": len(SEEDS), "share": 1 - hits[factor] / len(SEEDS),
                     "note": "share of random cohorts with no difference at p < 0.05 by this factor"})
    rows.append({"conclusion": "R11/R12", "assumption": "seeds (outcome draws)", "setting": "every factor",
                 "draws": len(SEEDS), "share": 1 - any_factor / len(SEEDS),
                 "note": "share with no difference by any of the four factors; the generator keeps only these"})
    return rows


def _r10_across_a8(cal: Calibration) -> list[dict]:
    """Whether each group's representation ratio CI lies above 1 as the CMHT make-up varies."""
    ips = pd.Series(cal.counts("ips_count", "ethnicity"))
    cmht = pd.Series(cal.counts("cmht_count", "ethnicity"))
    rows = []
    for scale in A8_SCALES:
        varied = cmht.copy().astype(float)
        minority = [g for g in varied.index if g not in ("White", C.NOT_KNOWN)]
        varied[minority] = np.round(varied[minority] * scale)
        varied["White"] = cmht.sum() - varied.drop("White").sum()  # the case-load's total stays the same
        comp, _, _ = access.compare("ethnicity", ips, varied.astype(int))
        comp = comp.set_index("category")
        holding = [g for g in R10_GROUPS if comp.loc[g, "ratio_evidence"] == "over-represented"]
        for group in R10_GROUPS:
            rows.append({"conclusion": "R10", "assumption": "A8: CMHT share of each minority group",
                         "setting": f"x {scale:g}: {group}", "draws": 1,
                         "share": float(group in holding),
                         "note": f"ratio {comp.loc[group, 'representation_ratio']:.2f} "
                                 f"({comp.loc[group, 'ratio_conf_low']:.2f} to {comp.loc[group, 'ratio_conf_high']:.2f})"})
        rows.append({"conclusion": "R10", "assumption": "A8: CMHT share of each minority group",
                     "setting": f"x {scale:g}: all four groups", "draws": 1,
                     "share": float(len(holding) == len(R10_GROUPS)), "note": ", ".join(holding) or "none"})
    return rows


def _with(cal: Calibration, quantity: str, characteristic: str, category: str, value) -> Calibration:
    """The calibration with one assumption row set to another value."""
    table = cal.table.copy()
    at = ((table["quantity"] == quantity) & (table["characteristic"] == characteristic)
          & (table["category"] == category))
    assert at.sum() == 1, (quantity, characteristic, category)
    table.loc[at, "value"] = str(value)
    return Calibration(table)


def _r11_across_a3(cal: Calibration) -> list[dict]:
    """R11 for ethnicity across the unpublished White and Other rates (A3), varied jointly: every pair of
    positive counts that the published totals allow (White from the count that leaves every 'Not known'
    person positive to the one that leaves none; Other from A3_OTHER's lowest to its highest). The generator
    places each ethnic group's positive outcomes exactly, so the test is the same in every draw."""
    all_sizes = pd.Series(cal.counts("ips_count", "ethnicity"))
    all_positive = pd.Series(cal.counts("outcome_positive_count", "ethnicity"))
    sizes, assumed = all_sizes.drop(C.NOT_KNOWN), all_positive.drop(C.NOT_KNOWN)
    published = [g for g in sizes.index if g not in ("White", "Other")]  # R9's groups, fixed by their rates
    total, unknown = int(all_positive.sum()), int(all_sizes[C.NOT_KNOWN])
    settings = []
    for other in range(min(A3_OTHER), max(A3_OTHER) + 1):
        rest = total - int(assumed[published].sum()) - other  # White plus 'Not known'
        for white in range(max(rest - unknown, 0), min(rest, int(sizes["White"])) + 1):
            positive = assumed.copy()
            positive["White"], positive["Other"] = white, other
            p = chi2_homogeneity(pd.DataFrame({"yes": positive, "no": sizes - positive}))["p"]
            settings.append((white, other, p))
    p_values = np.array([p for _, _, p in settings])
    lowest = min(settings, key=lambda s: s[2])
    at_assumed = [p for w, o, p in settings if w == assumed["White"] and o == assumed["Other"]]
    return [{"conclusion": "R11 (ethnicity)", "assumption": "A3: positive outcomes of White and Other people, jointly",
             "setting": f"White {min(w for w, _, _ in settings)} to {max(w for w, _, _ in settings)} of {sizes['White']}, "
                        f"Other {min(A3_OTHER)} to {max(A3_OTHER)} of {sizes['Other']}",
             "draws": len(settings), "share": float((p_values >= 0.05).mean()),
             "note": f"share of the {len(settings)} combinations with chi-squared p >= 0.05; smallest p = "
                     f"{lowest[2]:.3f} (White {lowest[0]}, Other {lowest[1]}); at the assumed A3, p = {at_assumed[0]:.3f}; "
                     "'Not known' takes up the rest of the 249"}]


def _km_still_supported_at_12m(cal: Calibration, seeds, extract_date: pd.Timestamp) -> np.ndarray:
    """The Kaplan-Meier share still supported at 12 months in whole synthetic cohorts, one per seed: the
    in-work chapter's own curve (in_work.support_curve), without the group comparisons it does not need."""
    shares = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            extract, _ = generate(cal, seed=seed)
            path = Path(tmp) / f"extract_{seed}.csv"
            extract.to_csv(path, index=False)  # read back as the pipeline reads any extract
            times = in_work.support_times(load_extract(path, extract_date), extract_date)
            shares.append(float(in_work.still_supported(in_work.support_curve(times)[1], 12)["survival"]))
    return np.array(shares)


def _r6_row(assumption: str, setting: str, shares: np.ndarray) -> dict:
    """R6 is a crude share, the same in every calibrated cohort; what varies is the censoring-aware estimate.
    That it exceeds the crude share is no finding (the Kaplan-Meier share still supported at 12 months is at
    least the crude share whenever a case still open is censored before 12 months), so there is no `share`
    here: the rows give the estimate's spread."""
    return {"conclusion": "R6", "assumption": assumption, "setting": setting, "draws": len(shares),
            "share": np.nan, "median_pct": float(np.median(shares)),
            "note": f"Kaplan-Meier share still supported at 12 months: median {np.median(shares):.1f}%, range "
                    f"{shares.min():.1f}% to {shares.max():.1f}% (the crude published share is 6.2% in every cohort)"}


def _r6_km_across_seeds(cal: Calibration, extract_date: pd.Timestamp) -> list[dict]:
    """The Kaplan-Meier share still supported at 12 months across whole synthetic cohorts (seeds)."""
    return [_r6_row("seeds (whole cohorts)", "Kaplan-Meier % still supported at 12 months",
                    _km_still_supported_at_12m(cal, KM_SEEDS, extract_date))]


def _r6_km_across_a13(cal: Calibration, extract_date: pd.Timestamp) -> list[dict]:
    """The same share as the assumed support durations (A13) vary: their spread (the log-normal sigma) and
    how strongly those still supported are the recently placed (the open weight in days)."""
    rows = []
    for sigma in A13_SIGMAS:
        for days in A13_OPEN_DAYS:
            varied = _with(_with(cal, "lognormal_sigma", "time", "days_in_work_support", sigma),
                           "open_weight_days", "time", "days_in_work_support", days)
            rows.append(_r6_row("A13: in-work support durations", f"sigma {sigma:g}, open weight {days:g} days",
                                _km_still_supported_at_12m(varied, A13_SEEDS, extract_date)))
    return rows


def robustness(cal: Calibration | None = None) -> pd.DataFrame:
    """One row per conclusion and setting: `share` is the share of draws in which the conclusion holds
    (for R6: in which the censoring-aware estimate exceeds the crude published share); `note` says what."""
    cal = cal or Calibration.read()
    date = pd.Timestamp(cal.text("extract_date"))  # the end of follow-up of every synthetic cohort
    rows = (_chance_differences(cal) + _r11_across_a3(cal) + _r10_across_a8(cal) + _r6_km_across_seeds(cal, date)
            + _r6_km_across_a13(cal, date))
    return pd.DataFrame(rows)


def write(out: Path) -> pd.DataFrame:
    """`ips-analysis robustness`: the table above, written atomically (results/robustness.csv)."""
    table = robustness()
    out.parent.mkdir(parents=True, exist_ok=True)
    write_csv_atomic(out, table)
    return table
