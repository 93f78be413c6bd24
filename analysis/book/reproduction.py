"""The reproduction table: each published figure beside the value computed here, scored only on the evidence
the claim rests on, and with the basis on which the synthetic data meet it.

A claim about each named group is scored per group (R10: each group's representation ratio, not only the
omnibus test); a claim the generator was made to satisfy says so (R11 holds because the generator keeps
only draws in which it holds); a claim that rests on an unpublished assumption names it (R10 rests on the
CMHT make-up, A8). For a trust's own run the same rows are a comparison, not a score (`score=False`).
"""
from __future__ import annotations

import pandas as pd

from analysis.book import labels
from analysis.data.calibration import published_decimals
from analysis.core.contract import FACTORS

MATCHES, FAILS = "matches", "does not hold here"
BASIS = {
    "calibrated": "calibration target: the generator sets this figure exactly",
    "input": "computed from the paper's own published counts (the site table is the published one)",
    "parameter": "the run's end of follow-up (a parameter of the run)",
    "follows": "follows from the calibrated times (their median is the target; this share is not one)",
    "forced": "holds by construction of the generator: it keeps only draws in which this holds",
    "A8": "rests on an unpublished assumption chosen so that it holds: the CMHT make-up (A8)",
    "A17": "holds by construction (the generator's draws) and rests on an unpublished assumption chosen so that it "
           "holds: the rates by diagnosis (A17)",
}
NOTES = {
    "R1": "the paper counts people who used the service in the year; here, people with a first contact in it "
          "(people already on the case-load on 1 April 2022 would add prevalent users, with longer times)",
    "R9": "the paper's words are 'gained employment'; here the outcome of R3 (a job gained or kept, or education)",
    "R12": "rule: chi-squared across diagnoses (as published) p >= 0.05, and every diagnosis group's unadjusted "
           "odds ratio against the largest group with a 95% CI that includes 1",
}


def _key(results, measure: str, factor: str = "all", level: str = "all"):
    return results.row(measure, factor, level) if results.has(measure, factor, level) else None


def _p_text(p) -> str:
    from analysis.book.reporting import p_text
    return p_text(p)


def reproduction_table(calibration: pd.DataFrame, results, score: bool = True) -> pd.DataFrame:
    """One row per published figure (per named group, per factor): id, figure, published, computed, and, when
    scoring (the synthetic reproduction), verdict and basis. `results` is a reporting.Results."""
    from analysis.book.reporting import anchor, fmt

    rows = []

    def add(c, figure, published, computed, holds, basis, link, note=""):
        rows.append({"id": c["id"], "figure": figure, "published": published, "computed": computed,
                     "verdict": (MATCHES if holds else FAILS) if score else "", "basis": BASIS[basis] if score else "",
                     "note": note or NOTES.get(c["id"], ""), "source": c["source_or_reason"], "anchor": link})

    for _, c in calibration[calibration["kind"] == "published"].iterrows():
        quantity, factor, level, text = c["quantity"], c["characteristic"], c["category"], c["value"]
        if quantity in ("entry_from", "entry_to", "site_referrals", "site_jobs"):
            continue  # the cohort's window and the site counts are inputs; R1 and the site rates score them
        if quantity == "extract_date":
            computed = results.info("extract_date", "")
            add(c, "End of follow-up (extract date)", text, computed, computed == text, "parameter", "")
            continue
        if quantity == "access_p_below":
            r = _key(results, "access_p", factor)
            if r is not None:
                add(c, f"{labels.measure('access_p')} ({labels.factor(factor)})", "p < 0.05", _p_text(r["value"]),
                    r["value"] < 0.05, "A8", anchor("access_p", factor))
            continue
        if quantity == "over_represented":
            r = _key(results, "representation_ratio", factor, level)
            if r is not None:
                computed = f"{fmt(r['value'], 2)} (95% CI {fmt(r['conf_low'], 2)} to {fmt(r['conf_high'], 2)})"
                add(c, f"Over-represented in IPS ({labels.factor(factor)}: {level})", "over-represented", computed,
                    bool(r["conf_low"] > 1), "A8", anchor("representation_ratio", factor, level))
            continue
        if quantity == "outcome_p_at_least":
            for f in ([factor] if factor != "all" else list(FACTORS)):
                r = _key(results, "outcome_p", f)
                if r is not None:
                    add(c, f"{labels.measure('outcome_p')} ({labels.factor(f)})", "p ≥ 0.05", _p_text(r["value"]),
                        r["value"] >= 0.05, "forced", anchor("outcome_p", f))
            continue
        if quantity == "outcome_equitable":
            r = _key(results, "outcome_p", factor)
            ratios = results.key[(results.key["measure"] == "logit_or_unadjusted") & (results.key["factor"] == factor)]
            if r is not None:
                differ = ratios[(ratios["conf_low"] > 1) | (ratios["conf_high"] < 1)]
                computed = (f"{_p_text(r['value'])}; " + ("no group's odds ratio CI excludes 1" if not len(differ) else
                            "CI excludes 1: " + ", ".join(f"{lv} {fmt(v, 2)} ({fmt(lo, 2)} to {fmt(hi, 2)})"
                                                          for lv, v, lo, hi in differ[["level", "value", "conf_low",
                                                                                        "conf_high"]].itertuples(index=False))))
                add(c, f"Outcomes equitable across {labels.factor(factor).lower()} groups", "equitable", computed,
                    bool(r["value"] >= 0.05 and not len(differ) and len(ratios)), "A17", anchor("outcome_p", factor))
            continue
        if quantity == "site_published_rate_pct":
            quantity, factor = "site_job_rate_pct", "site"
        r = _key(results, quantity, factor, level)
        if r is None:
            continue
        shown = fmt(r["value"], published_decimals(text)).replace(",", "")
        group = "" if factor == "all" else f" ({labels.factor(factor)}: {level})"
        add(c, labels.measure(quantity) + group, text, shown, shown == text,
            "input" if factor == "site" else "calibrated", anchor(quantity, factor, level))
    for claim in MAJORITY_CLAIMS:  # the papers' second claims in R4 and R7, in words rather than a figure
        r, whole = _key(results, claim["measure"]), _key(results, claim["whole"][0], *claim["whole"][1:])
        if r is None:
            continue
        note = claim["note"] + (f"; {claim['whole_words']} {fmt(whole['value'], 1)}%" if whole is not None
                                and pd.notna(whole["value"]) else "")
        add({"id": claim["id"], "source_or_reason": claim["source"]}, claim["figure"], claim["published"],
            f"{fmt(r['value'], 1)}%", bool(r["value"] > 50), "follows", anchor(claim["measure"]), note)
    return pd.DataFrame(rows)


# The second claims of R4 and R7 (../shared/BRIEF.md): scored on the paper's own denominator, with the figure
# on the other denominator a reader would compare them with beside it.
MAJORITY_CLAIMS = (
    {"id": "R4", "measure": "pct_employed_within_6m_of_employed", "published": "a majority",
     "figure": "Gained employment by 6 months (of those who gained employment)",
     "source": "Rinaldi et al. 2024: a majority gained employment by 6 months",
     "note": "the paper's denominator is the people who gained employment",
     "whole": ("cif_employment_pct", "months", "6"),
     "whole_words": "of everyone seeking work, the cumulative incidence of a job by 6 months is"},
    {"id": "R7", "measure": "pct_discharged_within_6m_of_discharged", "published": "a majority",
     "figure": "In-work support of 6 months or less (of those discharged)",
     "source": "Rinaldi et al. 2024: a majority needed in-work support up to 6 months only",
     "note": "the paper's denominator is the people discharged from in-work support by the extract date",
     "whole": ("km_pct_still_supported", "months", "6"),
     "whole_words": "of everyone in work, the Kaplan-Meier share still supported at 6 months is"},
)


def summary(table: pd.DataFrame) -> dict:
    """The honest count: rows matched, and on what basis."""
    matched = table[table["verdict"] == MATCHES]
    return {"rows": len(table), "matched": len(matched), "failed": int((table["verdict"] == FAILS).sum()),
            **{key: int((matched["basis"] == text).sum()) for key, text in BASIS.items()}}
