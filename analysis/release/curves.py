"""Curves and their summaries (rules 5 and 6 of analysis/release/rules.py): Kaplan-Meier and cumulative-incidence
curves republished from rounded cumulative monthly counts; medians, shares at fixed times and restricted means
from the person-level data on a coarse grid; the by-group tables of the survival steps and of competing risks.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.core.results import MONTH_DAYS
from analysis.release.counts import _counts_only
from analysis.release.models import _exclusions, _model_table
from analysis.release.rules import Disclosure, published_counts, rounded, small
from analysis.release.step import _and_outcomes, _empty_like, _group_ok, _hide, Step, _why
from analysis.stats import intervals
from analysis.stats.survival import aalen_johansen, at_risk_on_curve, kaplan_meier, km_median, step_at


def _monthly_rounded(curve: pd.DataFrame, column: str, months: np.ndarray, rule: Disclosure) -> np.ndarray:
    """Per-month counts as differences of the rounded cumulative counts by the end of each month."""
    per_month = np.bincount(months, weights=curve[column].to_numpy(dtype=float), minlength=months.max(initial=0) + 1)
    return np.diff(np.concatenate([[0.0], rounded(np.cumsum(per_month), rule)]))


def _curve_visible(curve: pd.DataFrame, rule: Disclosure) -> bool:
    people = float(curve["n_risk"].iloc[0]) if len(curve) else 0.0
    if rule.has("published_conditions"):
        return bool(_group_ok(people, curve["n_event"].sum(), rule)[()])
    return people >= rule.min_people and not small(curve["n_event"].sum(), rule)


CURVE_INTERVALS = ("std_err", "conf_low", "conf_high")


def coarse(estimate, low, high, n, rule: Disclosure, scale: float = 100.0) -> tuple[np.ndarray, ...]:
    """A curve's value at a fixed time (a share on `scale`, 100 for percent) and its 95% CI, computed on the
    person-level data, as published: on a grid of the share `base` people make of the `n` people published
    (at least a point), the estimate to the nearest step and the limits outward, so the published interval
    holds the exact one and no more is said of the numerator than a rounded count says."""
    step = intervals.percent_step(published_counts(n, rule), rule.base) * scale / 100
    return intervals.outward(estimate, low, high, step)


def coarse_days(estimate, low, high) -> tuple[np.ndarray, ...]:
    """A time (a Kaplan-Meier median, a restricted mean) and its CI in whole weeks, the limits outward."""
    return intervals.outward(estimate, low, high, intervals.WEEK)


def published_curves(curve: pd.DataFrame, rule: Disclosure, competing: bool = False,
                     only: str | None = None) -> dict[str, pd.DataFrame]:
    """A per-day curve table republished by whole month from rounded cumulative counts.

    `curve` is a kaplan_meier table (n_event, n_censor) or, with competing=True, an aalen_johansen table of
    cause 1 (n_event, n_competing, n_censor): then the cumulative incidence of each cause and the
    Kaplan-Meier of cause 1 (the other cause censoring) come from the same rounded counts. Keys: "km", and
    with competing "cif" and "cif_competing"; with `only`, that one curve alone (a group's curve needs one)."""
    months = np.maximum(np.ceil(curve["time"].to_numpy(dtype=float) / MONTH_DAYS - 1e-9), 0).astype(int)
    events = _monthly_rounded(curve, "n_event", months, rule)
    censored = _monthly_rounded(curve, "n_censor", months, rule)
    other = _monthly_rounded(curve, "n_competing", months, rule) if competing else np.zeros_like(events)
    grid = np.arange(len(events)) * MONTH_DAYS
    time = np.concatenate([grid, grid, grid])
    cause = np.repeat([1, 2, 0], len(grid))
    weight = np.concatenate([events, other, censored])
    keep = weight > 0
    time, cause, weight = time[keep], cause[keep], weight[keep]
    note = f"; republished by month from cumulative counts rounded to {rule.base} (disclosure control)"
    out = {}
    if only in (None, "km"):
        out["km"] = kaplan_meier(time, cause == 1, weight)
    for key, of in (("cif", 1), ("cif_competing", 2)):
        if competing and only in (None, key):
            out[key] = aalen_johansen(time, cause, of=of, weight=weight)
    for key, table in out.items():
        table.insert(0, "months", np.rint(table["time"].to_numpy() / MONTH_DAYS).astype(int))
        table["method"] = table["method"] + note
    return out


def _blank_thin_rows(table: pd.DataFrame, rule: Disclosure) -> pd.DataFrame:
    """Rows with fewer than min_people at risk: values blank (the curve stops there)."""
    table = table.copy()
    thin = table["n_risk"].to_numpy(dtype=float) < rule.min_people
    values = [c for c in table.columns if c not in ("months", "time", "method", "factor", "level", "definition")]
    table[values] = table[values].astype(float)
    table.loc[thin, values] = np.nan
    table["suppressed"] = np.where(thin, f"fewer than {rule.min_people} at risk", "")
    table["n_risk"] = pd.array(np.round(table["n_risk"].to_numpy(dtype=float)), dtype="Int64")
    # The month's events and censorings are differences of rounded counts: kept out of the file (the curve and
    # the numbers at risk are enough to draw and read it), so no cell shows a count below the threshold. The
    # curve's own intervals go too: the curve of rounded counts is not the curve of the data, and its interval
    # need not hold the data's estimate; the intervals published are those of the summaries (`coarse`).
    dropped = ("n_event", "n_censor", "n_competing") + (CURVE_INTERVALS if rule.has("true_intervals") else ())
    return table.drop(columns=[c for c in dropped if c in table])


def _survival_step(prefix: str, step: Step) -> None:
    rule, raw = step.rule, step.raw
    curves_on = rule.has("curves")
    # Overall curves.
    if f"{prefix}_cif" in raw:
        exact = raw[f"{prefix}_cif"]
        visible = _curve_visible(exact, rule)
        made = published_curves(exact, rule, competing=True) if visible and curves_on else None
        for key, name in (("cif", f"{prefix}_cif"), ("cif_competing", f"{prefix}_cif_competing"), ("km", f"{prefix}_km")):
            if name in raw:
                step.out[name] = _publish_curve(name, raw[name], made[key] if made else None, visible, step)
    elif f"{prefix}_km" in raw:
        exact = raw[f"{prefix}_km"]
        visible = _curve_visible(exact, rule)
        made = published_curves(exact, rule) if visible and curves_on else None
        step.out[f"{prefix}_km"] = _publish_curve(f"{prefix}_km", exact, made["km"] if made else None, visible, step)
    # Numbers at risk under the curve: read off the published curve before thin rows are blanked.
    if f"{prefix}_at_risk" in raw:
        risk = raw[f"{prefix}_at_risk"].copy()
        km = step.curves.get(f"{prefix}_km")
        if km is not None and curves_on:
            risk["n_at_risk"] = at_risk_on_curve(km, risk["days"])
        elif km is None:
            risk["n_at_risk"] = np.nan
        step.out[f"{prefix}_at_risk"] = _counts_only(f"{prefix}_at_risk", risk, step)
        thin = risk["n_at_risk"].to_numpy(dtype=float) < rule.min_people
        step.out[f"{prefix}_at_risk"] = _hide(step.out[f"{prefix}_at_risk"], thin, ["n_at_risk"], f"{prefix}_at_risk",
                                              step, f"fewer than {rule.min_people} at risk")
    # Curves and their summaries by group: Kaplan-Meier (in-work support) or cumulative incidence (employment).
    if f"{prefix}_by_group" in raw:
        curve_name = f"{prefix}_cif_by_group" if f"{prefix}_cif_by_group" in raw else f"{prefix}_km_by_group"
        _groups_step(prefix, raw[f"{prefix}_by_group"], curve_name, raw[curve_name], step)
    if f"{prefix}_definitions" in raw:
        _definitions_step(prefix, step)
    for kind in ("cox", "ph_test", "logrank"):
        name = f"{prefix}_{kind}"
        if name in raw:
            step.out[name] = _model_table(name, raw[name], prefix, step)
    if f"{prefix}_model_exclusions" in raw:
        step.out[f"{prefix}_model_exclusions"] = _exclusions(f"{prefix}_model_exclusions",
                                                             raw[f"{prefix}_model_exclusions"], prefix, step)


def _published_group_curve(exact: pd.DataFrame, rule: Disclosure) -> pd.DataFrame:
    """One group's curve republished by month: a Kaplan-Meier table, or an Aalen-Johansen one (a `cif`
    column: the cause of interest against the competing events together)."""
    if "cif" in exact:
        return published_curves(exact, rule, competing=True, only="cif")["cif"]
    return published_curves(exact, rule, only="km")["km"]


def _groups_step(prefix: str, groups: pd.DataFrame, curve_name: str, long: pd.DataFrame, step: Step) -> None:
    """By-group summaries (n, events, medians or incidences at fixed months) and the curves they are read off:
    curves of groups passing rule 3 republished by month from rounded cumulative counts, every summary read
    off the published curve, the rest blank."""
    rule = step.rule
    curves_on = rule.has("curves")
    ok = _group_ok(groups["n"], groups["events"], rule)
    published, rows = [], []
    for (_, g), good in zip(groups.iterrows(), ok):
        step.visible[(prefix, g["factor"], g["level"])] = bool(good)
        exact = long[(long["factor"] == g["factor"]) & (long["level"] == g["level"])]
        record = g.to_dict()
        if good and curves_on:
            curve = _published_group_curve(exact, rule)
            if rule.has("true_intervals"):  # the summaries of the data, coarse; n and events as the curve has them
                record.update(_coarse_summary(record, rule))
                record["method"] = record["method"] + coarse_note(rule)
            else:
                record.update(_group_summary(curve, record))
                record["method"] = record["method"] + "; from the published monthly curve"
            record.update(n=float(curve["n_risk"].iloc[0]) if len(curve) else 0.0, events=float(curve["n_event"].sum()))
            published.append(_blank_thin_rows(curve.assign(factor=g["factor"], level=g["level"]), rule))
        elif good:
            published.append(exact.assign(suppressed=""))
        rows.append(record)
    table = _counts_only(f"{prefix}_by_group", pd.DataFrame(rows, columns=groups.columns), step)
    if curves_on:  # the log's "rounded" above is true of these only as multiples of the base
        step.note(f"{prefix}_by_group", "n; events", "read from the published curve", int(ok.sum()),
                  f"the curve's first number at risk and its total events: sums of counts rounded to {rule.base} "
                  f"month by month, so within a few people of the truth but not always its nearest multiple of "
                  f"{rule.base}")
    stats_columns = [c for c in groups.columns if c.startswith(("km_", "cif_"))]
    step.out[f"{prefix}_by_group"] = _hide(table, ~ok, _and_outcomes(stats_columns, table, rule), f"{prefix}_by_group",
                                           step, _why(rule))
    step.out[curve_name] = pd.concat(published, ignore_index=True) if published else _empty_like(long)
    step.note(curve_name, "(curves)", "groups without a curve", (~ok).sum(), _why(rule))
    if curves_on:
        step.note(curve_name, "(all)", "recomputed from published counts", len(step.out[curve_name]),
                  f"curves by month from cumulative counts rounded to {rule.base}")


# How every note disclosure control appends to a method starts: the definition is the text before the first.
RELEASE_NOTE_STARTS = ("; computed on the person-level data", "; fitted on the published", "; from the published",
                       "; from the rounded counts", "; rounded to whole weeks", "; 95% interval: the hull",
                       "; on the published (rounded) counts", "; no disclosure rule for this measure")


def coarse_note(rule: Disclosure) -> str:
    return (f"; computed on the person-level data and published coarse: shares on a grid of the share {rule.base} "
            "people make of the group (at least 1 point), times in whole weeks, the estimate to the nearest step and "
            "the 95% limits outward, so the published interval holds the exact one")


def _coarse_summary(record: dict, rule: Disclosure) -> dict:
    """A by-group row's summaries (incidences at fixed months in percent, survival shares, medians in days)
    computed on the data, published coarse (`coarse`, `coarse_days`)."""
    out, n = {}, record["n"]
    for column in [c for c in record if c.startswith("cif_") and c.endswith("_pct")]:
        value, low, high = coarse(record[column], record[column.replace("_pct", "_conf_low")],
                                  record[column.replace("_pct", "_conf_high")], n, rule)
        out.update({column: value, column.replace("_pct", "_conf_low"): low, column.replace("_pct", "_conf_high"): high})
    if "km_median_days" in record:
        out.update(zip(("km_median_days", "km_median_conf_low", "km_median_conf_high"),
                       coarse_days(record["km_median_days"], record["km_median_conf_low"], record["km_median_conf_high"])))
    for column in ("km_survival_6m", "km_survival_12m"):
        if column in record:
            out[column] = coarse(record[column], record[column], record[column], n, rule, scale=1.0)[0]
    return {k: float(v) for k, v in out.items()}


def _group_summary(curve: pd.DataFrame, record: dict) -> dict:
    """The summary columns of a by-group row, read off its published curve."""
    out = {}
    if "cif" in curve:
        for column in [c for c in record if c.startswith("cif_") and c.endswith("_pct")]:
            months = int(column.split("_")[1][:-1])
            at = step_at(curve, [months * MONTH_DAYS], ["cif", "conf_low", "conf_high"], before=0.0).iloc[0]
            out.update({column: 100 * at["cif"], column.replace("_pct", "_conf_low"): 100 * at["conf_low"],
                        column.replace("_pct", "_conf_high"): 100 * at["conf_high"]})
        return out
    median, low, high = km_median(curve)
    out.update(km_median_days=median, km_median_conf_low=low, km_median_conf_high=high)
    for column, days in (("km_survival_6m", 6 * MONTH_DAYS), ("km_survival_12m", 12 * MONTH_DAYS)):
        if column in record:
            out[column] = float(step_at(curve, [days], ["survival"]).iloc[0]["survival"])
    return out


def _definitions_step(prefix: str, step: Step) -> None:
    """The sensitivity table of competing-event definitions: each definition's curve republished by month from
    rounded cumulative counts (a Kaplan-Meier for 1 - KM), and the incidences read off it."""
    rule, raw = step.rule, step.raw
    table, long = raw[f"{prefix}_definitions"].copy(), raw[f"{prefix}_definition_curves"]
    curves_name = f"{prefix}_definition_curves"
    if not rule.has("curves"):
        step.out[curves_name] = _counts_only(curves_name, long, step)
        step.out[f"{prefix}_definitions"] = _counts_only(f"{prefix}_definitions", table, step)
        return
    published, exact_table = [], table.copy()
    for definition, exact in long.groupby("definition", sort=False):
        exact = exact.drop(columns="definition")
        visible = _curve_visible(exact, rule)
        if "n_competing" in exact:
            curve = published_curves(exact, rule, competing=True, only="cif")["cif"] if visible else None
        else:
            km = published_curves(exact, rule)["km"] if visible else None
            curve = None if km is None else km.assign(cif=1 - km["survival"], conf_low=1 - km["conf_high"],
                                                       conf_high=1 - km["conf_low"]).drop(columns=["survival", "std_err"])
        mine = (table["definition"] == definition).to_numpy()
        if curve is None:
            table.loc[mine, ["cif_pct", "conf_low", "conf_high"]] = np.nan
            continue
        at = step_at(curve, table.loc[mine, "months"].to_numpy() * MONTH_DAYS, ["cif", "conf_low", "conf_high"],
                     before=0.0)
        thin = at_risk_on_curve(curve, table.loc[mine, "months"].to_numpy() * MONTH_DAYS) < rule.min_people
        if rule.has("true_intervals"):  # the data's incidences, coarse
            found = exact_table.loc[mine]
            values = coarse(found["cif_pct"], found["conf_low"], found["conf_high"], found["n"], rule)
            for column, value in zip(("cif_pct", "conf_low", "conf_high"), values):
                table.loc[mine, column] = np.where(thin, np.nan, value)
        else:
            for column in ("cif", "conf_low", "conf_high"):
                table.loc[mine, "cif_pct" if column == "cif" else column] = np.where(thin, np.nan, 100 * at[column].to_numpy())
        table.loc[mine, "n"] = float(curve["n_risk"].iloc[0]) if len(curve) else np.nan
        published.append(_blank_thin_rows(curve.assign(definition=definition), rule))
    table["method"] = table["method"] + (coarse_note(rule) if rule.has("true_intervals") else "; from the published monthly curve")
    step.out[f"{prefix}_definitions"] = _counts_only(f"{prefix}_definitions", table, step)
    step.out[curves_name] = pd.concat(published, ignore_index=True) if published else _empty_like(long)
    step.note(curves_name, "(all)", "recomputed from published counts", len(step.out[curves_name]),
              f"curves by month from cumulative counts rounded to {rule.base}")


def _publish_curve(name: str, exact: pd.DataFrame, made: pd.DataFrame | None, visible: bool, step: Step) -> pd.DataFrame:
    rule = step.rule
    if not visible:
        step.note(name, "(all)", "curve not published", len(exact), _why(rule))
        return _empty_like(exact)
    if made is None:  # protection switched off (attack tests): the exact curve with its counts rounded
        step.curves[name] = exact
        return _counts_only(name, exact, step)
    step.curves[name] = made
    step.note(name, "(all)", "recomputed from published counts", len(made),
              f"by month from cumulative counts rounded to {rule.base}")
    return _blank_thin_rows(made, rule)


COMPETING_WHY = ("per-group cumulative incidence is not released: at 6 and 12 months in a small group it gives back "
                 "the group's counts; Gray's test is released")


def _competing_step(step: Step) -> None:
    """Gray's tests and the Fine-Gray models as estimates fitted on person-level data (reduced precision, no
    SEs, blank rows for groups failing rule 3 on their jobs, as for the cause-specific Cox models); the
    per-group incidences themselves are not released (counts rounded, every statistic blank)."""
    raw = step.raw
    groups = raw["competing_by_group"]
    jobs = groups[groups["cause"] == "job"].drop_duplicates(["factor", "level"]) if len(groups) else groups
    for factor, level, good in zip(jobs.get("factor", []), jobs.get("level", []),
                                   _group_ok(jobs.get("n", []), jobs.get("events", []), step.rule)):
        step.visible[("employment", factor, level)] = bool(good)
    step.out["competing_gray"] = _model_table("competing_gray", raw["competing_gray"], "employment", step)
    if "competing_fine_gray" in raw:
        step.out["competing_fine_gray"] = _model_table("competing_fine_gray", raw["competing_fine_gray"],
                                                       "employment", step)
        step.out["competing_model_exclusions"] = _exclusions("competing_model_exclusions",
                                                             raw["competing_model_exclusions"], "employment", step)
    table = _counts_only("competing_by_group", groups, step)
    # n too: rounded here from the group's own size, it would be a second rounding of a size that the
    # employment tables publish from the rounded curve, and the two together narrow it (seen: 245 and 240).
    statistics = [c for c in ("cif_pct", "conf_low", "conf_high", "n", "events") if c in table]
    step.out["competing_by_group"] = _hide(table, np.ones(len(table), dtype=bool), statistics, "competing_by_group",
                                           step, COMPETING_WHY)
