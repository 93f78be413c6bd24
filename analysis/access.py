"""Equity of access: the IPS case-load against the CMHT case-load it serves."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .contract import FACTORS, NOT_KNOWN
from .proportions import WILSON_METHOD, homogeneity_tests, wilson
from .results import Z95, row

RATIO_METHOD = ("Representation ratio = IPS share / CMHT share of those with a known value; 95% CI on the log "
                "scale, Var = 1/a - 1/A + 1/c - 1/C (Katz), treating the two case-loads as independent samples")
REACH_METHOD = "IPS people / CMHT case-load (the characteristic's table total)"


def compare(factor: str, ips: pd.Series, cmht: pd.Series, note: str = "") -> tuple[pd.DataFrame, dict, list[dict]]:
    """One characteristic: IPS counts against CMHT counts by category (both Series indexed by category).

    Returns the composition rows, the test row and the key-result rows. Works on counts only, so disclosure
    control can run it again on the published (rounded) counts."""
    categories = [c for c in FACTORS[factor] if ips.get(c, 0) > 0 or cmht.get(c, 0) > 0]
    table = pd.DataFrame({"ips": [int(ips.get(c, 0)) for c in categories],
                          "cmht": [int(cmht.get(c, 0)) for c in categories]}, index=categories)
    known = table.drop(index=NOT_KNOWN, errors="ignore")
    a, c = known["ips"], known["cmht"]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (a / a.sum()) / (c / c.sum())
        se = np.sqrt(1 / a - 1 / a.sum() + 1 / c - 1 / c.sum())
        low, high = wilson(table["ips"], table["cmht"])
        comp = pd.DataFrame({
            "characteristic": factor, "category": categories,
            "ips_n": table["ips"].to_numpy(), "ips_pct": 100 * table["ips"].to_numpy() / table["ips"].sum(),
            "cmht_n": table["cmht"].to_numpy(), "cmht_pct": 100 * table["cmht"].to_numpy() / table["cmht"].sum(),
            "pct_of_cmht_group_in_ips": 100 * table["ips"].to_numpy() / np.where(table["cmht"] > 0, table["cmht"], np.nan),
            "pct_of_cmht_group_conf_low": 100 * low, "pct_of_cmht_group_conf_high": 100 * high,
            "representation_ratio": ratio.reindex(categories).to_numpy(),
            "ratio_conf_low": (ratio * np.exp(-Z95 * se)).reindex(categories).to_numpy(),
            "ratio_conf_high": (ratio * np.exp(Z95 * se)).reindex(categories).to_numpy(),
            "method": f"Shares of all (incl. 'Not known'); group access: {WILSON_METHOD} (IPS n / CMHT n); {RATIO_METHOD}{note}",
        })
    test = homogeneity_tests(table.T)
    n_tested = int(known["ips"].sum() + known["cmht"].sum())
    keys = [row("access_chi2", test["chi2"], test["chi2_method"] + f"; 2 x k table, {test['df']} df{note}",
                factor=factor, n=n_tested),
            row("access_p", test["p"], test["chi2_method"] + note, factor=factor, n=n_tested)]
    for _, r in comp.iterrows():
        if r["category"] != NOT_KNOWN:
            keys.append(row("representation_ratio", r["representation_ratio"], RATIO_METHOD + note, factor=factor,
                            level=r["category"], conf_low=r["ratio_conf_low"], conf_high=r["ratio_conf_high"],
                            n=int(r["ips_n"])))
    test_row = {"characteristic": factor, **test, "n_ips": int(known["ips"].sum()), "n_cmht": int(known["cmht"].sum())}
    return comp, test_row, keys


def reach(n_ips: int, cmht_total: int, factor: str, note: str = "") -> dict:
    return row("reach_pct", 100 * n_ips / cmht_total, REACH_METHOD + f" ({factor}){note}", n=n_ips)


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


def analyse(data: pd.DataFrame, reference: pd.DataFrame | None) -> tuple[list[dict], dict[str, pd.DataFrame]]:
    keys, compositions, tests = [], [], []
    available = [] if reference is None else [f for f in FACTORS if f in set(reference["characteristic"])]
    for factor in available:
        cmht = reference[reference["characteristic"] == factor].set_index("category")["count"]
        ips = data[factor].value_counts()  # categorical: counted without turning a million rows into text
        comp, test, factor_keys = compare(factor, ips, cmht)
        compositions.append(comp)
        tests.append(test)
        keys += factor_keys
    if available:
        first = reference[reference["characteristic"] == available[0]]["count"].sum()
        keys.insert(0, reach(len(data), first, available[0]))
    tables = {"access_composition": pd.concat(compositions, ignore_index=True) if compositions else pd.DataFrame(),
              "access_tests": pd.DataFrame(tests), "access_coverage": coverage_table(available, reference)}
    return keys, tables
