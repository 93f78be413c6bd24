"""Statistics from published counts (rule 3 and the true intervals of rule 6 in analysis/release/rules.py): rates,
Wilson CIs, tests and unadjusted odds ratios of the outcome tables, the access comparison and the site rates,
recomputed from the rounded counts in the same file, each interval the hull over the counts they may stand for.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.core.contract import NOT_KNOWN
from analysis.questions import access, outcome, sites
from analysis.release.counts import _counts_only, _secondary_for_totals
from analysis.release.models import _exclusions, _model_table
from analysis.release.rules import (COUNT_COLUMNS, Disclosure, MODEL_HIDDEN_COLUMNS, published_counts, rounded,
                                    small)
from analysis.release.step import _and_outcomes, _empty_like, _group_ok, _hide, Step, _why
from analysis.stats import intervals
from analysis.stats.modelling import Comparable, WEIGHT
from analysis.stats.proportions import wilson


def _outcome_step(step: Step) -> None:
    for name in [n for n in step.raw if n.endswith("_rates") and n.startswith("outcome")]:
        prefix = name[: -len("_rates")]  # outcome or outcome_12m_window
        _outcome_tables(prefix, step)


def _outcome_tables(prefix: str, step: Step) -> None:
    rule, raw = step.rule, step.raw
    exact = raw[f"{prefix}_rates"]
    ok = _group_ok(exact["n"], exact["positive"], rule, binary=True)
    secondary = (_secondary_for_totals(exact, ok, rule) if rule.has("secondary_for_totals")
                 else np.zeros(len(exact), dtype=bool))
    ok &= ~secondary
    for f, lvl, good in zip(exact["factor"], exact["level"], ok):
        step.visible[(prefix, f, lvl)] = bool(good)
    rates = _hide(_counts_only(f"{prefix}_rates", exact, step), secondary, ["n", "positive"], f"{prefix}_rates", step,
                  "the groups' and the total's rounding would pin a count (rounding is not controlled)",
                  note="n (secondary); positive (secondary)", action="suppressed (secondary)")
    from_counts = rule.has("published_counts")
    if from_counts:
        positive, n = rates["positive"].to_numpy(dtype=float), rates["n"].to_numpy(dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            low, high = _wilson_of_published(positive, n, rule)
            rates["rate_pct"] = 100 * positive / n
        rates["conf_low"], rates["conf_high"] = 100 * low, 100 * high
        rates["method"] = rates["method"] + "; from the published (rounded) counts" + _hull_note(rule)
        step.note(f"{prefix}_rates", "rate_pct; conf_low; conf_high", "recomputed from published counts", ok.sum(),
                  "rate and Wilson CI of the rounded counts in the same row")
    step.out[f"{prefix}_rates"] = _hide(rates, ~ok, _and_outcomes(["rate_pct", "conf_low", "conf_high"], rates, rule),
                                        f"{prefix}_rates", step, _why(rule))
    published = step.out[f"{prefix}_rates"]
    shown = published[(published["factor"] != "all") & ok]
    if f"{prefix}_precision" in raw:  # statistics of the published counts of the groups shown
        name = f"{prefix}_precision"
        step.out[name] = (_precision_from_counts(shown, rule).reindex(columns=raw[name].columns) if from_counts
                          else _model_table(name, raw[name], prefix, step))
        if from_counts:
            step.note(name, "(statistics)", "recomputed from published counts", len(step.out[name]),
                      "differences, detectable rates and equivalence tests of the rounded counts")
    if from_counts and f"{prefix}_tests" in raw:
        step.out[f"{prefix}_tests"] = _tests_from_counts(f"{prefix}_tests", raw[f"{prefix}_tests"], shown, step)
    elif f"{prefix}_tests" in raw:
        step.out[f"{prefix}_tests"] = _counts_only(f"{prefix}_tests", raw[f"{prefix}_tests"], step)
    for kind in ("logit", "logit_lr"):
        name = f"{prefix}_{kind}"
        if name not in raw or not len(raw[name].columns):
            if name in raw:
                step.out[name] = raw[name]
            continue
        table = raw[name]
        adjusted = table["model"].str.startswith("adjusted").to_numpy()
        unadjusted = (_unadjusted_from_counts(name, kind, table[~adjusted], shown, prefix, step) if from_counts
                      else _model_table(name, table[~adjusted], prefix, step))
        parts = [p for p in (unadjusted, _model_table(name, table[adjusted], prefix, step)) if len(p)]
        columns = [c for c in table.columns if any(c in p for p in parts)] + ["suppressed"]
        step.out[name] = pd.concat(parts, ignore_index=True).reindex(columns=columns) if parts else _empty_like(table)
    if f"{prefix}_model_exclusions" in raw:
        step.out[f"{prefix}_model_exclusions"] = _exclusions(f"{prefix}_model_exclusions",
                                                             raw[f"{prefix}_model_exclusions"], prefix, step)


def _hull_note(rule: Disclosure) -> str:
    return ("; 95% interval: the hull of the intervals of every set of counts the rounded ones may stand for, so it "
            "holds the interval of the exact counts" if rule.has("true_intervals") else "")


def _wilson_of_published(positive, n, rule: Disclosure) -> tuple[np.ndarray, np.ndarray]:
    """The Wilson interval of published counts: the hull over the counts they may stand for (true_intervals),
    else the interval of the rounded counts themselves."""
    if rule.has("true_intervals"):
        return intervals.wilson_hull(positive, n, rule.base, rule.threshold)
    return wilson(positive, n)


def _precision_from_counts(shown: pd.DataFrame, rule: Disclosure) -> pd.DataFrame:
    """outcome.precision on the published counts, with each difference's interval the hull of Newcombe's
    intervals over the counts the published ones may stand for."""
    table = outcome.precision(shown)
    if not len(table) or not rule.has("true_intervals"):
        return table
    counts = shown.set_index(["factor", "level"])[["positive", "n"]].astype(float)
    group = counts.reindex(list(zip(table["factor"], table["level"]))).to_numpy()
    reference = counts.reindex(list(zip(table["factor"], table["reference"]))).to_numpy()
    low, high = intervals.difference_hull(group[:, 0], group[:, 1], reference[:, 0], reference[:, 1], rule.base,
                                          rule.threshold)
    table["difference_conf_low"], table["difference_conf_high"] = 100 * low, 100 * high
    table["method"] = table["method"] + _hull_note(rule)
    return table


def _two_by_k(shown: pd.DataFrame, factor: str) -> pd.DataFrame:
    rows = shown[shown["factor"] == factor]
    positive = rows["positive"].to_numpy(dtype=float)
    return pd.DataFrame({0: rows["n"].to_numpy(dtype=float) - positive, 1: positive}, index=rows["level"].to_numpy())


def _tests_from_counts(name: str, exact: pd.DataFrame, shown: pd.DataFrame, step: Step) -> pd.DataFrame:
    """Both outcome tests of each factor (outcome.factor_tests) on the published counts of the groups shown."""
    rows, by_factor = [], {}
    for _, t in exact.iterrows():
        if t["factor"] not in by_factor:  # one call gives every test of the factor (and its one exact test)
            by_factor[t["factor"]] = {r["test"]: r for r in outcome.factor_tests(_two_by_k(shown, t["factor"]))}
        recomputed = by_factor[t["factor"]][t["test"]]
        rows.append({**t.to_dict(), **{k: recomputed[k] for k in recomputed if k in exact.columns},
                     "chi2_method": recomputed["chi2_method"] + "; on the published (rounded) counts, groups with "
                     "suppressed statistics excluded"})
    step.note(name, "chi2; p; min_expected; exact_p", "recomputed from published counts", len(rows),
              "tests on the rounded table of the rates file")
    return _counts_only(name, pd.DataFrame(rows, columns=exact.columns), step)


def _unadjusted_from_counts(name: str, kind: str, exact: pd.DataFrame, shown: pd.DataFrame, family: str,
                            step: Step) -> pd.DataFrame:
    """The saturated one-factor logistic model refitted on the published counts (its estimates are a
    function of the 2 x k table), with blank rows for groups whose statistics are hidden."""
    from analysis.questions.outcome import logit_models

    parts = []
    for factor in dict.fromkeys(exact["factor"]):
        counts = _two_by_k(shown, factor)
        frame = pd.DataFrame({factor: np.repeat(counts.index.to_numpy(), 2), "positive": np.tile([0, 1], len(counts)),
                              WEIGHT: counts.to_numpy().ravel()})
        frame = frame[frame[WEIGHT] > 0]
        ors, lr, _ = logit_models(frame, [factor], f"unadjusted: {factor}")
        fitted = ors if kind == "logit" else lr
        mine = exact[exact["factor"] == factor]
        if not len(fitted.columns):  # not estimable on the published counts: the rows stay, blank
            fitted = mine[["model", "factor"] + [c for c in ("level", "reference", "term", "df") if c in mine]].copy()
        elif kind == "logit":
            fitted = mine[["model", "factor", "level", "reference", "term"]].merge(
                fitted.drop(columns=["reference", "term"], errors="ignore"), on=["model", "factor", "level"], how="left")
            if step.rule.has("true_intervals"):  # the hull over every 2 x 2 table the rounded counts stand for
                rows = shown[shown["factor"] == factor].set_index("level")[["positive", "n"]].astype(float)
                group, reference = rows.reindex(fitted["level"]).to_numpy(), rows.reindex(fitted["reference"]).to_numpy()
                low, high, p = intervals.odds_ratio_hull(group[:, 0], group[:, 1], reference[:, 0], reference[:, 1],
                                                         step.rule.base, step.rule.threshold, with_p=True)
                keep = fitted["odds_ratio"].notna().to_numpy()
                fitted["conf_low"] = np.where(keep, low, np.nan)
                fitted["conf_high"] = np.where(keep, high, np.nan)
                if "wald_p" in fitted:  # the largest over the same tables, so that p and interval agree
                    fitted["wald_p"] = np.where(keep, p, np.nan)
        else:
            fitted = fitted if len(fitted) else mine.assign(lr_chi2=np.nan, p=np.nan)
        fitted["method"] = ((mine["method"].iloc[0] if len(mine) else "") + "; fitted on the published (rounded) counts"
                            + (_hull_note(step.rule) + ("; Wald p: the largest over the same sets of counts, so it "
                                                        "agrees with the interval" if step.rule.has("true_intervals")
                                                        else "") if kind == "logit" else ""))
        parts.append(fitted.reindex(columns=exact.columns))
    table = pd.concat(parts, ignore_index=True) if parts else exact.iloc[0:0]
    step.note(name, "(unadjusted models)", "recomputed from published counts", len(table),
              "saturated one-factor model on the rounded counts")
    out = _counts_only(name, table, step)
    for column in MODEL_HIDDEN_COLUMNS:
        if column in out and step.rule.has("model_precision"):
            out = out.drop(columns=column)
    statistic = [c for c in ("odds_ratio", "conf_low", "conf_high", "wald_p", "lr_chi2", "p", "flag") if c in out]
    missing = out[[c for c in ("odds_ratio", "lr_chi2") if c in out]].isna().any(axis=1).to_numpy()
    return _hide(out, missing, statistic, name, step, _why(step.rule))


def _access_step(step: Step, keys: list[dict], prefix: str) -> list[dict]:
    """Access against the CMHT case-load ("access") or the need table ("access_need"): every statistic
    recomputed from the rounded counts, groups failing rule 3 blank and left out of the tests."""
    rule, raw = step.rule, step.raw
    composition, tests_name, coverage = f"{prefix}_composition", f"{prefix}_tests", f"{prefix}_coverage"
    comp, tests = raw[composition], raw[tests_name]
    step.out[coverage] = _counts_only(coverage, raw[coverage], step)
    if not len(comp):
        step.out[composition], step.out[tests_name] = comp, tests
        return []
    if rule.has("published_conditions"):  # on the published size, like every other group
        ok = rule.comparing().groups(comp["ips_n"]) if rule.has("tests_without_hidden_groups") else \
            Comparable(lambda v: published_counts(v, rule)).groups(comp["ips_n"])
        ok &= ~small(comp["cmht_n"], rule)
    else:
        ok = (comp["ips_n"].to_numpy(dtype=float) >= rule.min_people) & ~small(comp["cmht_n"], rule)
    published_keys, compositions, test_rows = [], [], []
    note = "; from the published (rounded) counts, groups with suppressed statistics excluded from the test"
    for factor, rows in comp.groupby("characteristic", sort=False):
        good = ok[rows.index.to_numpy()]
        for level, g in zip(rows["category"], good):
            step.visible[(prefix, factor, level)] = bool(g)
        ips = pd.Series(published_counts(rows["ips_n"], rule), index=rows["category"].to_numpy())
        cmht = pd.Series(published_counts(rows["cmht_n"], rule), index=rows["category"].to_numpy())
        if rule.has("published_counts"):
            tested = good | (rows["category"] == NOT_KNOWN).to_numpy()
            c, t, k = access.compare(factor, ips[tested].fillna(0), cmht[tested].fillna(0), note, prefix)
            if rule.has("true_intervals"):
                c, k = _access_hulls(c, k, rule)
            c = rows[["characteristic", "category"]].merge(c.drop(columns=["ips_n", "cmht_n"]), how="left",
                                                           on=["characteristic", "category"])
            c.insert(2, "ips_n", rows["ips_n"].to_numpy())
            c.insert(4, "cmht_n", rows["cmht_n"].to_numpy())
            c["method"] = c["method"].fillna(rows["method"].iloc[0] + note)
            compositions.append(c)
            test_rows += t
            published_keys += k
        else:
            compositions.append(rows)
    table = pd.concat(compositions, ignore_index=True).reindex(columns=comp.columns)
    table = _counts_only(composition, table, step)
    statistics = [c for c in comp.columns if c.endswith(("_pct", "conf_low", "conf_high")) or "ratio" in c]
    step.out[composition] = _hide(table, ~ok, statistics, composition, step, _why(rule))
    step.out[tests_name] = _counts_only(tests_name, pd.DataFrame(test_rows, columns=tests.columns)
                                        if test_rows else tests, step)
    reach = [k for k in keys if k["measure"] == access.SOURCES[prefix][0] + "reach_pct"]
    if reach and rule.has("published_counts"):
        total = reach[0]["n"] / (reach[0]["value"] / 100)
        factor = reach[0]["method"].rsplit("(", 1)[-1].rstrip(")")
        published_keys.insert(0, access.reach(rounded(reach[0]["n"], rule), rounded(total, rule), factor,
                                               "; both counts rounded", prefix))
    return published_keys


def _access_hulls(comp: pd.DataFrame, keys: list[dict], rule: Disclosure) -> tuple[pd.DataFrame, list[dict]]:
    """Access intervals that hold for every count the published ones may stand for: each group's share of its
    CMHT group in IPS (Wilson) and its representation ratio (the nested or independent delta-method interval),
    hulls over the group's counts and the extremes of the totals; the evidence read off the hull."""
    comp = comp.copy()
    known = (comp["category"] != NOT_KNOWN).to_numpy()
    ips, cmht = comp["ips_n"].to_numpy(dtype=float), comp["cmht_n"].to_numpy(dtype=float)
    low, high = intervals.wilson_hull(ips, cmht, rule.base, rule.threshold)
    comp["pct_of_cmht_group_conf_low"], comp["pct_of_cmht_group_conf_high"] = 100 * low, 100 * high
    nested = not comp["method"].str.contains("independent samples").any()
    totals = [tuple(np.sum(bound[known]) for bound in intervals.count_box(x, rule.base, rule.threshold)) for x in (ips, cmht)]
    low, high = intervals.ratio_hull(ips, totals[0], cmht, totals[1], rule.base, rule.threshold,
                                     lambda a, big_a, c, big_c: access.ratio_se(a, big_a, c, big_c, nested))
    shown = comp["representation_ratio"].notna().to_numpy()
    comp["ratio_conf_low"] = np.where(shown, low, np.nan)
    comp["ratio_conf_high"] = np.where(shown, high, np.nan)
    comp["ratio_evidence"] = np.where(~shown, None, np.where(comp["ratio_conf_low"] > 1, "over-represented", np.where(
        comp["ratio_conf_high"] < 1, "under-represented", "no clear difference")))
    comp["method"] = comp["method"] + _hull_note(rule)
    if "ratio_evidence_holm" in comp:  # the Holm p of rounded counts may not speak past the interval that holds
        stronger = comp["ratio_evidence_holm"].isin(["over-represented", "under-represented"]) & (
            comp["ratio_evidence_holm"] != comp["ratio_evidence"])
        comp.loc[stronger, "ratio_evidence_holm"] = "no clear difference"
        comp["method"] = comp["method"] + "; ratio_evidence_holm never says more than that interval"
    by_level = comp.set_index("category")
    keys = [{**k, "conf_low": by_level.loc[k["level"], "ratio_conf_low"], "conf_high": by_level.loc[k["level"], "ratio_conf_high"],
             "method": k["method"] + _hull_note(rule)} if k["measure"].endswith("representation_ratio") else k for k in keys]
    return comp, keys


def _sites_step(step: Step, keys: list[dict], prefix: str) -> list[dict]:
    """One site analysis (prefix "sites" or "own_sites"): every statistic recomputed from the rounded counts
    of the sites that pass rule 3, or nothing compared when fewer than two do. (`keys` is not needed here;
    it keeps the signature of _access_step, which reads its reach row from them.)"""
    rule, raw = step.rule, step.raw
    rates_name, summary_name = f"{prefix}_rates", f"{prefix}_summary"
    exact = raw[rates_name]
    ok = _group_ok(exact["referrals"], exact["jobs"], rule, binary=True)
    for site, good in zip(exact["site"], ok):
        step.visible[(prefix, "site", site)] = bool(good)
    if rule.has("published_counts") and ok.sum() < 2:  # no comparison of sites to publish
        ok = np.zeros(len(exact), dtype=bool)
    statistics = [c for c in exact.columns if c not in COUNT_COLUMNS | {"site", "counted", "method"}]
    if not rule.has("published_counts") or ok.sum() < 2:
        step.out[rates_name] = _hide(_counts_only(rates_name, exact, step), ~ok, _and_outcomes(statistics, exact, rule),
                                     rates_name, step, _why(rule))
        step.out[summary_name] = (_model_table(summary_name, raw[summary_name], prefix, step)
                                  if ok.sum() >= 2 else _empty_like(raw[summary_name]))
        return []
    shown = pd.DataFrame({"site": exact["site"][ok], "referrals": rounded(exact["referrals"][ok], rule).astype(int),
                          "jobs": rounded(exact["jobs"][ok], rule).astype(int), "counted": exact["counted"][ok]})
    keys, tables = sites.analyse(shown.reset_index(drop=True), prefix)
    if rule.has("true_intervals"):
        keys, tables = _site_hulls(shown.reset_index(drop=True), keys, tables, prefix, rule)
    rates = exact[["site"]].merge(tables[rates_name].drop(columns=["referrals", "jobs", "counted"]), on="site",
                                  how="left")
    rates.insert(1, "referrals", exact["referrals"].to_numpy())
    rates.insert(2, "jobs", exact["jobs"].to_numpy())
    rates.insert(3, "counted", exact["counted"].to_numpy())
    rates["method"] = rates["method"].fillna(exact["method"].iloc[0]) + "; from the published (rounded) counts"
    rates = _counts_only(rates_name, rates.reindex(columns=exact.columns), step)
    step.out[rates_name] = _hide(rates, ~ok, _and_outcomes(statistics, rates, rule), rates_name, step, _why(rule))
    summary = tables[summary_name]
    left_out = int((~ok).sum())
    summary["method"] = summary["method"] + (f"; from the published (rounded) counts of {int(ok.sum())} sites"
                                             + (f", {left_out} left out ({_why(rule)})" if left_out else ""))
    step.out[summary_name] = summary
    step.note(rates_name, "(statistics)", "recomputed from published counts", ok.sum(), "rates, CIs, limits")
    step.note(summary_name, "(all)", "recomputed from published counts", 1, "pooled, random-effects, tests")
    for k in keys:
        if k["measure"].endswith("jobs_total"):
            k["value"] = float(rounded(k["value"], rule))
    return keys


def _site_hulls(shown: pd.DataFrame, keys: list[dict], tables: dict, prefix: str, rule: Disclosure):
    """Site intervals that hold for every count the published ones may stand for: each site's Wilson interval
    and the pooled one as hulls; the random-effects interval and prediction interval as the hull over the
    published counts and the two extreme sets (every site's jobs at the top of their box and referrals at the
    bottom, and the other way round), between which the pooled rates of every set the counts stand for lie."""
    rates_name, summary_name = f"{prefix}_rates", f"{prefix}_summary"
    jobs, referrals = shown["jobs"].to_numpy(float), shown["referrals"].to_numpy(float)
    (jobs_lo, jobs_hi), (ref_lo, ref_hi) = (intervals.count_box(x, rule.base, rule.threshold) for x in (jobs, referrals))
    rates = tables[rates_name].copy()
    low, high = intervals.wilson_hull(jobs, referrals, rule.base, rule.threshold)
    rates["conf_low"], rates["conf_high"] = 100 * low, 100 * high
    summary = tables[summary_name].copy()
    extremes = [sites.analyse(shown.assign(jobs=j.astype(int), referrals=np.maximum(r, j).astype(int)), prefix)[1][summary_name]
                for j, r in ((jobs_hi, ref_lo), (jobs_lo, ref_hi))]
    for low_column, high_column in (("re_conf_low", "re_conf_high"), ("prediction_low", "prediction_high")):
        summary[low_column] = min([summary[low_column].iloc[0]] + [e[low_column].iloc[0] for e in extremes])
        summary[high_column] = max([summary[high_column].iloc[0]] + [e[high_column].iloc[0] for e in extremes])
    pooled_low = float(wilson(jobs_lo.sum(), ref_hi.sum())[0])
    pooled_high = float(wilson(jobs_hi.sum(), np.maximum(ref_lo, jobs_hi).sum())[1])
    measure = sites.SOURCES[prefix]
    bounds = {f"{measure}job_rate_pct": None,
              f"{measure}pooled_rate_pct": (100 * pooled_low, 100 * pooled_high),
              f"{measure}random_effects_rate_pct": (summary["re_conf_low"].iloc[0], summary["re_conf_high"].iloc[0]),
              f"{measure}prediction_interval_pct": (summary["prediction_low"].iloc[0], summary["prediction_high"].iloc[0])}
    by_site = rates.set_index("site")
    out = []
    for k in keys:
        k = dict(k)
        if k["measure"] == f"{measure}job_rate_pct":
            k["conf_low"], k["conf_high"] = by_site.loc[k["level"], "conf_low"], by_site.loc[k["level"], "conf_high"]
        elif bounds.get(k["measure"]):
            k["conf_low"], k["conf_high"] = bounds[k["measure"]]
        if k["measure"] in bounds:
            k["method"] = k["method"] + _hull_note(rule)
        out.append(k)
    rates["method"] = rates["method"] + _hull_note(rule)
    summary["method"] = summary["method"] + _hull_note(rule)
    return out, {**tables, rates_name: rates, summary_name: summary}
