"""Equity of access: the IPS case-load against the CMHT case-load it serves, and, when a trust has one,
against a need-based denominator (the people in the case-load who want work).

A case-load is a snapshot of who is under a team, not of who needs or wants work. With a need table (same
format as the CMHT table: characteristic,category,count of people in the case-load who want work), the
same comparison is made against it ("access_need" tables, need_* measures), beside the case-load one."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import chi2_contingency

from analysis.core.contract import FACTORS, NOT_KNOWN
from analysis.stats.contingency import CHI2_METHOD
from analysis.stats.proportions import WILSON_METHOD, homogeneity_tests, wilson
from analysis.stats.modelling import MIN_COMPARED
from analysis.stats.multiplicity import holm as multiplicity_holm
from analysis.core.results import Z95, row

RATIO_METHOD = ("Representation ratio = IPS share / CMHT share of those with a known value; 95% CI on the log "
                "scale by the delta method for a case-load inside the other (c = a + b, the rest b of B = C - A): "
                "Var = 1/a - 1/A + (a(1-a/A) + b(1-b/B))/c^2 - 2(1-a/A)/c; per group, IPS "
                "against the rest of the CMHT case-load: Pearson chi-squared (1 df, scipy chi2_contingency), "
                "Holm-adjusted across the groups of the characteristic (as statsmodels multipletests and R p.adjust)")
INDEPENDENT_METHOD = ("; a CMHT count is below the IPS count for a group, so the case-loads are compared as "
                      "independent samples (Katz: Var = 1/a - 1/A + 1/c - 1/C; IPS against CMHT)")
REACH_METHOD = ("IPS people / CMHT case-load (the characteristic's table total): the people who started IPS over the "
                "entry window (a flow) over the people on the CMHT case-load in the reference table (a snapshot), "
                "as the paper's 8.7% is; not the share of the case-load in IPS on any one day")
# table prefix -> (measure prefix, what the denominator is)
SOURCES = {"access": ("", "the CMHT case-load"),
           "access_need": ("need_", "the people in the CMHT case-load who want work (need table)")}


def ratio_se(a, big_a, c, big_c, nested: bool):
    """SE of log(representation ratio) = log((a/A) / (c/C)), by the delta method.

    Independent samples: Katz's 1/a - 1/A + 1/c - 1/C. When the IPS case-load (a of A) is part of the CMHT
    case-load (c of C), c = a + b with b of B = C - A the rest of the case-load, so the CMHT share is a mix
    of two binomials and moves with the IPS share: Var = 1/a - 1/A + (a(1 - a/A) + b(1 - b/B)) / c^2
    - 2 (1 - a/A) / c. Checked against 200,000 simulated case-loads (tests/test_equity_validation.py)."""
    if not nested:
        return np.sqrt(1 / a - 1 / big_a + 1 / c - 1 / big_c)
    b, big_b = c - a, big_c - big_a
    q_a = 1 - a / big_a
    q_b = np.where(big_b > 0, 1 - b / np.where(big_b > 0, big_b, 1), 0)
    variance = 1 / a - 1 / big_a + (a * q_a + b * q_b) / c ** 2 - 2 * q_a / c
    return np.sqrt(np.maximum(variance, 0))


def group_tests(ips: pd.Series, rest: pd.Series) -> pd.DataFrame:
    """Each group against all others: IPS against the rest of the case-load (2 x 2 Pearson chi-squared),
    with Holm's adjustment across the groups."""
    p = []
    for group in ips.index:
        table = np.array([[ips[group], ips.sum() - ips[group]], [rest[group], rest.sum() - rest[group]]], float)
        usable = (table.sum(axis=0) > 0).all() and (table.sum(axis=1) > 0).all()
        p.append(float(chi2_contingency(table, correction=False).pvalue) if usable else np.nan)
    p = np.array(p)
    holm = np.full(len(p), np.nan)
    if np.isfinite(p).any():  # multiplicity.holm: multipletests' Holm without its garbage collection (0.1 s a call)
        holm[np.isfinite(p)] = multiplicity_holm(p[np.isfinite(p)])
    return pd.DataFrame({"ratio_p": p, "ratio_p_holm": holm}, index=ips.index)


AS_PUBLISHED = "as published"
CORRECTED = "corrected"
PUBLISHED_SCOPE = ("IPS against the CMHT case-load as two samples, every known group (as the paper's test: "
                   "2 x k table of counts, 'Not known' excluded)")
SMALL_LEFT_OUT = f"groups of fewer than {MIN_COMPARED} people in IPS left out"
CORRECTED_SCOPE = {True: "IPS against the rest of the CMHT case-load (CMHT minus IPS, as the IPS case-load is part of "
                         "it); " + SMALL_LEFT_OUT,
                   False: "IPS against the CMHT case-load as independent samples (a CMHT count is below its IPS count, "
                          "so the tables cannot be nested); " + SMALL_LEFT_OUT}


def tests(table: pd.DataFrame, nested: bool) -> list[dict]:
    """The paper's test beside the corrected one, for one characteristic's table (index: categories; columns
    ips, cmht, rest). As published: IPS against the whole CMHT case-load as two samples, every known group.
    Corrected: IPS against the rest of the case-load (the two are not independent: IPS is part of the
    CMHT case-load), groups of fewer than MIN_COMPARED people in IPS left out; independent samples when a
    CMHT count is below its IPS count (the tables cannot be nested)."""
    large = table[table["ips"] >= MIN_COMPARED]
    rows = []
    for test, counts, columns, how in ((AS_PUBLISHED, table, ["ips", "cmht"], PUBLISHED_SCOPE),
                                       (CORRECTED, large, ["ips", "rest"], CORRECTED_SCOPE[nested])):
        result = homogeneity_tests(counts[columns].T, exact=test == CORRECTED)  # the paper's test had none
        known = counts.drop(index=NOT_KNOWN, errors="ignore")
        rows.append({"test": test, **result, "chi2_method": result["chi2_method"] + "; " + how,
                     "compared_with": ("CMHT case-load" if test == AS_PUBLISHED else
                                       "rest of the CMHT case-load" if nested else "CMHT case-load (not nested)"),
                     "n_ips": int(known["ips"].sum()), "n_cmht": int(known["cmht"].sum()),
                     "n": int(known[columns].to_numpy().sum())})
    return rows


def compare(factor: str, ips: pd.Series, cmht: pd.Series, note: str = "", prefix: str = "access"
            ) -> tuple[pd.DataFrame, list[dict], list[dict]]:
    """One characteristic: IPS counts against CMHT counts by category (both Series indexed by category).

    The paper's test (IPS against the CMHT case-load, every known group) and the corrected one (IPS against
    the rest of the case-load, small groups left out) side by side (`tests`); the ratio's CI allows for the
    overlap of the case-loads (independent samples when a CMHT count is below its IPS count).
    Returns the composition rows, the test rows and the key-result rows. Works on counts only, so disclosure
    control can run it again on the published (rounded) counts. With prefix "access_need" the CMHT counts are
    those of the need table and the measures are need_*."""
    measure, denominator = SOURCES[prefix]
    categories = [c for c in FACTORS[factor] if ips.get(c, 0) > 0 or cmht.get(c, 0) > 0]
    table = pd.DataFrame({"ips": [int(ips.get(c, 0)) for c in categories],
                          "cmht": [int(cmht.get(c, 0)) for c in categories]}, index=categories)
    nested = bool((table["cmht"] >= table["ips"]).all())
    table["rest"] = table["cmht"] - table["ips"] if nested else table["cmht"]
    method = RATIO_METHOD if nested else RATIO_METHOD + INDEPENDENT_METHOD
    known = table.drop(index=NOT_KNOWN, errors="ignore")
    a, c = known["ips"], known["cmht"]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (a / a.sum()) / (c / c.sum())
        se = ratio_se(a, a.sum(), c, c.sum(), nested)
        low, high = wilson(table["ips"], table["cmht"])
        per_group = group_tests(a, known["rest"])
        evidence = np.where(ratio * np.exp(-Z95 * se) > 1, "over-represented",
                            np.where(ratio * np.exp(Z95 * se) < 1, "under-represented", "no clear difference"))
        holm = np.where(per_group["ratio_p_holm"] < 0.05, np.where(ratio > 1, "over-represented", "under-represented"),
                        np.where(per_group["ratio_p_holm"].notna(), "no difference after Holm", ""))
        comp = pd.DataFrame({
            "characteristic": factor, "category": categories,
            "ips_n": table["ips"].to_numpy(), "ips_pct": 100 * table["ips"].to_numpy() / table["ips"].sum(),
            "cmht_n": table["cmht"].to_numpy(), "cmht_pct": 100 * table["cmht"].to_numpy() / table["cmht"].sum(),
            "ips_known_pct": (100 * a / a.sum()).reindex(categories).to_numpy(),
            "cmht_known_pct": (100 * c / c.sum()).reindex(categories).to_numpy(),
            "pct_of_cmht_group_in_ips": 100 * table["ips"].to_numpy() / np.where(table["cmht"] > 0, table["cmht"], np.nan),
            "pct_of_cmht_group_conf_low": 100 * low, "pct_of_cmht_group_conf_high": 100 * high,
            "representation_ratio": ratio.reindex(categories).to_numpy(),
            "ratio_conf_low": (ratio * np.exp(-Z95 * se)).reindex(categories).to_numpy(),
            "ratio_conf_high": (ratio * np.exp(Z95 * se)).reindex(categories).to_numpy(),
            "ratio_p": per_group["ratio_p"].reindex(categories).to_numpy(),
            "ratio_p_holm": per_group["ratio_p_holm"].reindex(categories).to_numpy(),
            "ratio_evidence": pd.Series(evidence, index=known.index).reindex(categories).to_numpy(),
            "ratio_evidence_holm": pd.Series(holm, index=known.index).reindex(categories).to_numpy(),
            "method": f"Denominator: {denominator}; shares of all (ips_pct, cmht_pct, incl. 'Not known') and of those "
                      f"with a known value (ips_known_pct, cmht_known_pct, the ratio's shares); group access: "
                      f"{WILSON_METHOD} (IPS n / CMHT n); {method}; ratio_evidence from the unadjusted 95% CI, "
                      f"ratio_evidence_holm from the Holm-adjusted p{note}",
        })
    test_rows = [{"characteristic": factor, **t} for t in tests(table, nested)]
    keys = []
    for t in test_rows:
        name = f"{measure}access" if t["test"] == AS_PUBLISHED else f"{measure}access_rest"
        keys.append(row(f"{name}_chi2", t["chi2"], t["chi2_method"] + f"; 2 x k table, {t['df']} df{note}",
                        factor=factor, n=t["n"]))
        keys.append(row(f"{name}_p", t["p"], t["chi2_method"] + note, factor=factor, n=t["n"]))
        if t["test"] == CORRECTED:
            keys.append(row(f"{name}_exact_p", t["exact_p"], t["exact_method"] + t["chi2_method"].removeprefix(CHI2_METHOD)
                            + note, factor=factor, n=t["n"]))
    for _, r in comp.iterrows():
        if r["category"] != NOT_KNOWN:
            keys.append(row(f"{measure}representation_ratio", r["representation_ratio"], method + note, factor=factor,
                            level=r["category"], conf_low=r["ratio_conf_low"], conf_high=r["ratio_conf_high"],
                            n=int(r["ips_n"])))
    return comp, test_rows, keys


def reach(n_ips: int, cmht_total: int, factor: str, note: str = "", prefix: str = "access") -> dict:
    measure, denominator = SOURCES[prefix]
    method = REACH_METHOD if prefix == "access" else f"IPS people / {denominator} (the characteristic's table total)"
    return row(f"{measure}reach_pct", 100 * n_ips / cmht_total, method + f" ({factor}){note}", n=n_ips)


def coverage_table(available: list[str], reference: pd.DataFrame | None) -> pd.DataFrame:
    """Which characteristics the CMHT table covers, its total for each, and a flag where the totals differ
    (the same case-load counted by ethnicity and by gender should add up to the same people)."""
    totals = ({f: int(reference.loc[reference["characteristic"] == f, "count"].sum()) for f in available}
              if reference is not None else {})
    first = totals.get(available[0]) if available else None
    notes = []
    for f in FACTORS:
        if f not in available:
            notes.append("not in the reference table: access not analysed for this characteristic")
        elif totals[f] != first:
            notes.append(f"compared; the CMHT total differs from {available[0]}'s: check the reference table")
        else:
            notes.append("compared")
    return pd.DataFrame({"characteristic": list(FACTORS), "in_reference_table": [f in available for f in FACTORS],
                         "cmht_n": [totals.get(f) for f in FACTORS], "note": notes})


def analyse(data: pd.DataFrame, reference: pd.DataFrame | None, prefix: str = "access"
            ) -> tuple[list[dict], dict[str, pd.DataFrame]]:
    """Every characteristic the table covers: composition, tests, ratios and reach; tables named by prefix."""
    keys, compositions, test_tables = [], [], []
    available = [] if reference is None else [f for f in FACTORS if f in set(reference["characteristic"])]
    for factor in available:
        cmht = reference[reference["characteristic"] == factor].set_index("category")["count"]
        ips = data[factor].value_counts()  # categorical: counted without turning a million rows into text
        comp, test_rows, factor_keys = compare(factor, ips, cmht, prefix=prefix)
        compositions.append(comp)
        test_tables += test_rows
        keys += factor_keys
    if available:
        first = reference[reference["characteristic"] == available[0]]["count"].sum()
        keys.insert(0, reach(len(data), first, available[0], prefix=prefix))
    tables = {f"{prefix}_composition": pd.concat(compositions, ignore_index=True) if compositions else pd.DataFrame(),
              f"{prefix}_tests": pd.DataFrame(test_tables), f"{prefix}_coverage": coverage_table(available, reference)}
    return keys, tables
