"""Pooling services' released results: `ips-analysis pool RESULTS_DIR... --out DIR`.

Two-stage random-effects meta-analysis (meta.py: DerSimonian-Laird through statsmodels' combine_effects,
or REML; Hartung-Knapp intervals as an option). Stage one takes each service's estimate and its standard
error from the numbers its release publishes, and nothing else:

- a rate (gained a job, of everyone analysed; the positive outcome) from its published rounded counts:
  events = rate x n / 100 (both rounded to 5 by the `nhs` rule), logit with variance 1/(n p (1-p));
- the Aalen-Johansen cumulative incidence of a job at 6 and 12 months from the published key result
  (key_results.csv, cif_employment_pct): its logit, SE from its published 95% CI on the logit scale,
  (logit(high) - logit(low)) / (2 x 1.959964). Under disclosure control that CI is widened outward to a
  coarse grid, so the SE is conservative (larger than the exact one) and a controlled service weighs less;
- a hazard or odds ratio by group from its published ratio and 95% CI: log ratio, SE =
  (log(high) - log(low)) / (2 x 1.959964); a Cox or adjusted ratio is published to 2 decimals, so this SE
  carries that rounding.

A service whose release blanks a value (disclosure control) is left out of that measure, never counted as
a zero, and the tables say which services entered. Stage two pools the entered estimates. Because every
input is a released number, the pooled outputs disclose nothing the releases did not.

A published site table (site,referrals,jobs, e.g. Making IPS Work's) can be pooled instead of releases
(`--site-table`): each site is a service with a job rate only.
"""
from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit

from analysis.release import RELEASE_NOTE_STARTS
from analysis.book import labels
from analysis.stats import meta
from analysis.questions import sites
from analysis.core.errors import InputError, Problem
from analysis.core.files import as_published, write_csv_atomic, write_folder_atomically
from analysis.stats.proportions import wilson
from analysis.core.results import Z95, key_table, row
from analysis.pool_releases import Service, _fingerprint, check_releases, read_release
RATES = {"job_rate_pct": "pct_job_of_all", "positive_outcome_rate_pct": "outcome_rate_pct"}  # pooled -> key measure
CIF_MONTHS = {"cif_job_6m_pct": 6, "cif_job_12m_pct": 12}
RATIOS = {  # pooled measure -> (released table, ratio column, model)
    "employment_cox_hr_unadjusted": ("employment_cox", "hazard_ratio", "unadjusted"),
    "employment_cox_hr_adjusted": ("employment_cox", "hazard_ratio", "adjusted"),
    "logit_or_unadjusted": ("outcome_logit", "odds_ratio", "unadjusted"),
    "logit_or_adjusted": ("outcome_logit", "odds_ratio", "adjusted"),
}
LABELS = labels.POOLED
FROM_COUNTS = ("each service's rate from its published rounded counts (events = rate x n / 100); "
               + sites.LOGIT_METHOD + "; pooled on the logit scale, back-transformed")
FROM_CURVE = ("the logit of each service's published Aalen-Johansen cumulative incidence at month {m} "
              "(key_results.csv), SE from its published 95% CI as (logit(high) - logit(low)) / (2 x 1.959964) "
              "(a controlled release widens that CI outward to a coarse grid, so the SE is conservative); "
              "pooled on the logit scale, back-transformed")
FROM_CI = ("the log of each service's published ratio, SE from its published 95% CI as (log(high) - log(low)) / "
           "(2 x 1.959964) (a Cox or adjusted ratio and its CI are published to 2 decimals, and the SE carries that "
           "rounding); groups against each service's reference group, entered only where the reference is the "
           "same; pooled on the log scale, back-transformed")
SITE_TABLE = ("each site's rate from its published counts, jobs / referrals (jobs, not people: a person with two "
              "jobs counts twice); " + sites.LOGIT_METHOD + "; pooled on the logit scale, back-transformed")
BLANKED = "blanked by disclosure control in its release"
NOT_SHOWN = ("no row in its release (a group of fewer than 8 people is counted with 'Not known', or the model "
             "could not be fitted)")
# IPS-25 (Bond et al. 2012): 100 and above good fidelity, 74-99 fair; below 74 is neither.
BANDS = {"good": (100, 125), "fair": (74, 99), "below fair": (25, 73)}
FIDELITY_COLUMNS = ("service", "ips25_total", "band", "review_date")


# --- stage one: each service's estimates from its released numbers ---------------------------------------

def _estimate(service: Service, measure: str, value, low, high, y, v, scale: str, n=np.nan, events=np.nan,
              factor: str = "all", level: str = "all", reference: str = "", reason: str = "") -> dict:
    entered = not reason and bool(np.isfinite(y) and np.isfinite(v) and v > 0)
    return {"measure": measure, "factor": factor, "level": level, "reference": reference, "service": service.name,
            "value": value, "conf_low": low, "conf_high": high, "events": events, "n": n,
            "estimate": y if entered else np.nan, "se": float(np.sqrt(v)) if entered else np.nan, "scale": scale,
            "entered": entered, "reason": reason or ("" if entered else "not estimable from the released numbers")}


def _rate(service: Service, measure: str, events, n) -> dict:
    if pd.isna(events) or pd.isna(n) or n <= 0:
        return _estimate(service, measure, np.nan, np.nan, np.nan, np.nan, np.nan, "logit", reason=BLANKED)
    y, v = (float(a[0]) for a in sites.logit_rate([events], [n]))
    low, high = wilson(events, n)
    return _estimate(service, measure, 100 * events / n, 100 * float(low), 100 * float(high), y, v, "logit",
                     n=n, events=events)


def _cif(service: Service, measure: str, key: pd.DataFrame, months: int) -> dict:
    at = key[(key["measure"] == "cif_employment_pct") & (key["factor"] == "months")
             & (pd.to_numeric(key["level"], errors="coerce") == months)]
    if not len(at):
        return _estimate(service, measure, np.nan, np.nan, np.nan, np.nan, np.nan, "logit",
                         reason=f"its release has no cumulative incidence at month {months}")
    f, low, high = (float(at[c].iloc[0]) / 100 for c in ("value", "conf_low", "conf_high"))
    if not all(0 < x < 1 for x in (f, low, high)):
        return _estimate(service, measure, 100 * f, 100 * low, 100 * high, np.nan, np.nan, "logit",
                         n=float(at["n"].iloc[0]), reason=BLANKED if np.isnan(f) else "")
    logit = lambda x: np.log(x / (1 - x))  # noqa: E731
    return _estimate(service, measure, 100 * f, 100 * low, 100 * high, logit(f),
                     ((logit(high) - logit(low)) / (2 * Z95)) ** 2, "logit", n=float(at["n"].iloc[0]))


def _definition(method: str) -> str:
    """A method without the notes disclosure control appends, so a controlled and an uncontrolled release of
    the same measure agree on its definition."""
    cuts = [method.find(note) for note in RELEASE_NOTE_STARTS if note in method]
    return method[:min(cuts)] if cuts else method


def _ratios(service: Service, measure: str, table: pd.DataFrame, column: str, model: str) -> list[dict]:
    rows = table[table["model"].str.split(":").str[0] == model]
    out = []
    for _, r in rows.iterrows():
        ratio, low, high = (float(r[c]) for c in (column, "conf_low", "conf_high"))
        shown = all(np.isfinite(x) and x > 0 for x in (ratio, low, high))
        y = np.log(ratio) if shown else np.nan
        v = ((np.log(high) - np.log(low)) / (2 * Z95)) ** 2 if shown else np.nan
        out.append(_estimate(service, measure, ratio, low, high, y, v, "log", n=r.get("n", np.nan),
                             factor=r["factor"], level=str(r["level"]), reference=str(r["reference"]),
                             reason="" if shown else BLANKED if pd.isna(ratio) else "not estimable in this service"))
    return out


def _method(table: pd.DataFrame | None) -> str:
    return str(table["method"].iloc[0]) if table is not None and len(table) and "method" in table else ""


def service_estimates(services: list[Service]) -> pd.DataFrame:
    """Stage one for every measure and service; an InputError when a service does not publish a measure at
    all or defines it differently (its method text differs)."""
    rows, problems, definitions = [], [], {}

    def define(service: Service, measure: str, method: str) -> None:
        if measure not in definitions:
            definitions[measure] = (method, service.source)
        elif method != definitions[measure][0]:
            problems.append(Problem(service.source, None, measure, f"the definition '{method}'",
                                    f"'{definitions[measure][0]}', as in {definitions[measure][1]}"))

    for s in services:
        for measure, key_measure in RATES.items():
            found = s.key[(s.key["measure"] == key_measure) & (s.key["factor"] == "all")]
            if not len(found):
                problems.append(Problem(s.source, None, "key_results.csv", f"no {key_measure} row ({LABELS[measure]})",
                                        "every service to publish each measure pooled"))
                continue
            r = found.iloc[0]
            define(s, measure, _definition(str(r["method"])))
            events = np.rint(r["value"] * r["n"] / 100) if pd.notna(r["value"]) and pd.notna(r["n"]) else np.nan
            rows.append(_rate(s, measure, events, r["n"]))
        tables = {name: s.table(name) for name in {t for t, _, _ in RATIOS.values()}}
        for name, table in tables.items():
            if table is None:
                problems.append(Problem(s.source, None, f"{name}.csv", "no such file", "every service to publish each "
                                        "measure pooled"))
        for measure, months in CIF_MONTHS.items():
            found = s.key[s.key["measure"] == "cif_employment_pct"]
            if len(found):
                define(s, measure, _definition(str(found["method"].iloc[0])))
            rows.append(_cif(s, measure, s.key, months))
        for measure, (name, column, model) in RATIOS.items():
            if tables[name] is not None:
                define(s, measure, _definition(_method(tables[name])))
                rows += _ratios(s, measure, tables[name], column, model)
    if problems:
        raise InputError(problems)
    return pd.DataFrame(rows)


# --- stage two: pooling ----------------------------------------------------------------------------------

def _common_reference(group: pd.DataFrame) -> pd.DataFrame:
    """Ratios enter only against the reference most services use (ties: the first in name order)."""
    shown = group[group["entered"]]
    if not len(shown) or group["scale"].iloc[0] != "log":
        return group
    counts = shown.groupby("reference", sort=False).size()
    reference = counts.index[int(np.argmax(counts.to_numpy()))]
    other = group["entered"] & (group["reference"] != reference)
    group = group.copy()
    group.loc[other, "reason"] = "its reference group is " + group.loc[other, "reference"] + ", not " + reference
    group.loc[other, ["entered", "estimate", "se"]] = [False, np.nan, np.nan]
    return group


def pool(estimates: pd.DataFrame, method: str, hartung_knapp: bool, how: dict[str, str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stage two for every measure (and group): (pooled table, the estimates with who entered and why not)."""
    estimator = meta.describe(method, hartung_knapp)
    pooled, checked = [], []
    names = list(dict.fromkeys(estimates["service"]))
    for (measure, factor, level), group in estimates.groupby(["measure", "factor", "level"], sort=False):
        absent = [n for n in names if n not in set(group["service"])]  # a group its release does not show
        if absent:
            group = pd.concat([group, pd.DataFrame({
                "measure": measure, "factor": factor, "level": level, "reference": "", "service": absent,
                "scale": group["scale"].iloc[0], "entered": False, "reason": NOT_SHOWN})], ignore_index=True)
        group = _common_reference(group)
        checked.append(group)
        entered = group[group["entered"]]
        back = (lambda x: 100 * expit(x)) if group["scale"].iloc[0] == "logit" else np.exp
        result = {"measure": measure, "label": LABELS[measure], "factor": factor, "level": level,
                  "reference": entered["reference"].iloc[0] if len(entered) else group["reference"].iloc[0],
                  "k": len(entered), "services": "; ".join(entered["service"]),
                  "left_out": "; ".join(f"{r.service} ({r.reason})" for r in group[~group["entered"]].itertuples())}
        if len(entered) >= 2:
            re_ = meta.random_effects(entered["estimate"], entered["se"] ** 2, method, hartung_knapp)
            result.update({"estimate": back(re_["mu"]), "conf_low": back(re_["conf_low"]),
                           "conf_high": back(re_["conf_high"]), "pi_low": back(re_["pi_low"]),
                           "pi_high": back(re_["pi_high"]), "tau2": re_["tau2"], "i2_pct": 100 * re_["i2"],
                           "q": re_["q"], "q_df": re_["q_df"], "q_p": re_["q_p"], "scale": group["scale"].iloc[0],
                           "method": f"{estimator}; {how[measure]}"})
        else:
            result["method"] = "not pooled: fewer than two services publish it"
        pooled.append(result)
    columns = ["measure", "label", "factor", "level", "reference", "k", "services", "estimate", "conf_low",
               "conf_high", "pi_low", "pi_high", "tau2", "i2_pct", "q", "q_df", "q_p", "scale", "left_out", "method"]
    return pd.DataFrame(pooled).reindex(columns=columns), pd.concat(checked, ignore_index=True)


# --- fidelity ------------------------------------------------------------------------------------------------

def band_of(score: float) -> str:
    return next(name for name, (low, high) in BANDS.items() if low <= score <= high)


def read_fidelity(path: Path, names: list[str]) -> pd.DataFrame:
    """service, ips25_total (25-125) or band, review_date; every problem at once."""
    from analysis.data.read import read_table

    file = str(path)
    raw = read_table(path)
    missing = [c for c in FIDELITY_COLUMNS if c not in raw.columns]
    if missing:
        raise InputError([Problem(file, 1, c, "no such column", "columns " + ",".join(FIDELITY_COLUMNS)
                                  + " (ips25_total or band may be blank, not both)") for c in missing])
    problems, out = [], []
    for i, r in raw.iterrows():
        line = int(i)  # read_table numbers each row by its line in the file
        if r["service"] not in names:
            problems.append(Problem(file, line, "service", repr(r["service"]),
                                    "one of the services given: " + ", ".join(names)))
        score = pd.to_numeric(r["ips25_total"], errors="coerce") if r["ips25_total"] != "" else np.nan
        if r["ips25_total"] != "" and not (pd.notna(score) and 25 <= score <= 125):
            problems.append(Problem(file, line, "ips25_total", repr(r["ips25_total"]), "an IPS-25 total from 25 to 125"))
        band = r["band"].strip().lower()
        if band and band not in BANDS:
            problems.append(Problem(file, line, "band", repr(r["band"]), "one of " + ", ".join(BANDS)))
        elif band and pd.notna(score) and 25 <= score <= 125 and band != band_of(score):
            problems.append(Problem(file, line, "band", repr(r["band"]), f"'{band_of(score)}', the band of its score {score:g}"))
        elif not band and pd.isna(score):
            problems.append(Problem(file, line, "ips25_total", "a blank cell and no band", "a score or a band"))
        if pd.isna(pd.to_datetime(r["review_date"], format="%Y-%m-%d", errors="coerce")):
            problems.append(Problem(file, line, "review_date", repr(r["review_date"]), "a date as YYYY-MM-DD"))
        out.append({"service": r["service"], "ips25_total": score, "review_date": r["review_date"],
                    "band": band or (band_of(score) if pd.notna(score) and 25 <= score <= 125 else "")})
    twice = raw["service"].duplicated()
    problems += [Problem(file, int(i), "service", repr(raw["service"][i]), "each service once") for i in raw.index[twice]]
    if problems:
        raise InputError(problems)
    return pd.DataFrame(out)


def fidelity_regression(fidelity: pd.DataFrame, estimates: pd.DataFrame, measure: str, method: str,
                        hartung_knapp: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Job rate (logit) on fidelity: per 10 points of the IPS-25 total when every service has a score, else
    good fidelity (100+) against the rest. Returns (services with their fidelity, the regression)."""
    rates = estimates[(estimates["measure"] == measure) & estimates["entered"]]
    table = fidelity.merge(rates[["service", "value", "estimate", "se"]], on="service", how="left")
    table = table.rename(columns={"value": "job_rate_pct"}).sort_values("service", ignore_index=True)
    used = table[table["estimate"].notna()]
    by_score = bool(len(used)) and used["ips25_total"].notna().all()
    covariate = used["ips25_total"] / 10 if by_score else (used["band"] == "good").astype(float)
    term = "per 10 points of the IPS-25 total" if by_score else "for good fidelity (100+) against fair or below"
    caveat = (f"{len(used)} services: a meta-regression on so few can neither show nor rule out a link with fidelity "
              "(services differ in much besides fidelity, and fidelity was reviewed at different dates)")
    if len(used) < 3 or covariate.nunique() < 2:
        return table, pd.DataFrame([{"term": term, "k": len(used), "method": "not fitted: it needs three services or "
                                     "more with a job rate and two or more different fidelity values; " + caveat}])
    fit = meta.meta_regression(used["estimate"], used["se"] ** 2, covariate, method, hartung_knapp)
    tau = "method of moments (DerSimonian-Laird)" if method == "dl" else "REML"
    ci = "Hartung-Knapp, t on k-2 df" if hartung_knapp else "Wald, scale fixed at 1"
    return table, pd.DataFrame([{
        "term": term, "k": fit["k"], "intercept_logit": fit["intercept"], "slope_logit": fit["slope"],
        "se": fit["se"], "odds_ratio": np.exp(fit["slope"]), "conf_low": np.exp(fit["conf_low"]),
        "conf_high": np.exp(fit["conf_high"]), "p": fit["p"], "tau2_residual": fit["tau2"], "covariate":
        "ips25_total / 10" if by_score else "band == good",
        "method": (f"Random-effects meta-regression of the logit job rate: weighted least squares (statsmodels WLS) with "
                   f"weights 1/(v + tau^2), residual tau^2 by {tau}; odds ratio {term} with 95% CI ({ci}); " + caveat)}])


# --- the whole pooling -----------------------------------------------------------------------------------------

def _window(service: Service) -> tuple[str, str]:
    table = service.table("exclusions")
    analysed = table[table["step"] == "analysed"]["reason"] if table is not None and "step" in table else []
    found = re.search(r"(\d{4}-\d{2}-\d{2}) to (\d{4}-\d{2}-\d{2})", str(analysed.iloc[0])) if len(analysed) else None
    return found.groups() if found else ("not stated", "not stated")


def services_table(services: list[Service]) -> pd.DataFrame:
    """The services side by side: entry windows, extract dates, versions, rules and sizes."""
    rows = []
    for s in services:
        entry_from, entry_to = _window(s) if s.folder else ("", "")
        people = s.key.loc[s.key["measure"] == "cohort_n", "value"]
        rows.append({"service": s.name, "source": s.source, "entry_from": entry_from, "entry_to": entry_to,
                     "extract_date": s.info.get("extract_date", ""), "people": people.iloc[0] if len(people) else np.nan,
                     "package_version": s.info.get("package_version", ""),
                     "disclosure": s.info.get("disclosure", "").split(":")[0],
                     "release_sha256": _fingerprint(s.folder) if s.folder else ""})
    return pd.DataFrame(rows)


def from_site_table(path: Path) -> tuple[list[Service], pd.DataFrame]:
    """Each site of a published site table as a service with a job rate (jobs / referrals) only."""
    from analysis.data.references import load_sites

    table = load_sites(path)
    services = [Service(str(r["site"]), str(path), None, {}, pd.DataFrame()) for _, r in table.iterrows()]
    estimates = pd.DataFrame([_rate(s, "site_job_rate_pct", float(r["jobs"]), float(r["referrals"]))
                              for s, (_, r) in zip(services, table.iterrows())])
    return services, estimates


def run(folders: list[Path], out: Path, site_table: Path | None = None, fidelity: Path | None = None,
        method: str = "dl", hartung_knapp: bool = False, internal: bool = False, name: str | None = None,
        with_book: bool = True, progress=lambda message: None) -> pd.DataFrame:
    """Check, pool and write everything into `out` (replaced as a whole on success); returns the pooled table."""
    if site_table is not None:
        services, estimates = from_site_table(site_table)
        how = {"site_job_rate_pct": SITE_TABLE}
        rule, input_kind = "published counts, no disclosure control needed", "a published site table"
    else:
        services = sorted((read_release(Path(f)) for f in folders), key=lambda s: (s.name, s.source))
        if len(services) < 2:
            raise InputError([Problem(str(folders[0]) if folders else "(no folder)", None, None,
                                      f"{len(services)} results folder", "two or more services' releases to pool")])
        check_releases(services, internal)
        estimates = service_estimates(services)
        how = {**{m: FROM_COUNTS for m in RATES}, **{m: FROM_CURVE.format(m=k) for m, k in CIF_MONTHS.items()},
               **{m: FROM_CI for m in RATIOS}}
        rule, input_kind = services[0].info["disclosure"], "services' released results folders"
    names = [s.name for s in services]
    fidelity_table = read_fidelity(Path(fidelity), names) if fidelity else None
    progress(f"pooling {len(services)} services ({meta.METHODS[method]}{', Hartung-Knapp' if hartung_knapp else ''}) ...")
    pooled, estimates = pool(estimates, method, hartung_knapp, how)
    rate_measure = "site_job_rate_pct" if site_table is not None else "job_rate_pct"
    rates = estimates[(estimates["measure"] == rate_measure) & estimates["entered"]]
    if len(rates) < 2:
        raise InputError([Problem(services[0].source, None, LABELS[rate_measure], f"{len(rates)} services with a "
                                  "published job rate", "two or more services whose releases show their job rate")])
    _, funnel_tables = sites.analyse(pd.DataFrame({"site": rates["service"], "referrals": rates["n"].astype(int),
                                                   "jobs": rates["events"].astype(int),
                                                   "counted": "jobs" if site_table is not None else "people who gained a job"}))
    funnel, funnel_summary = funnel_tables["sites_rates"], funnel_tables["sites_summary"]
    extract_dates = sorted(s.info["extract_date"] for s in services if s.info.get("extract_date"))
    info = [("pooled_services", str(len(services))), ("input", input_kind),
            ("service_name", name or f"{len(services)} services"), ("method", meta.METHODS[method]),
            ("hartung_knapp", "yes" if hartung_knapp else "no"), ("internal", "yes" if internal else "no"),
            ("disclosure", rule), ("extract_date", extract_dates[-1] if extract_dates else ""),
            ("fidelity", Path(fidelity).name if fidelity else "none"), ("package_version", version("ips-outcomes"))]
    key = key_table([r for p in pooled[pooled["k"] >= 2].itertuples() for r in (
        row(f"pooled_{p.measure}", p.estimate, p.method, p.factor, p.level, p.conf_low, p.conf_high, p.k),
        row(f"pooled_{p.measure}_prediction", p.estimate, "95% prediction interval for a new service; " + p.method,
            p.factor, p.level, p.pi_low, p.pi_high, p.k),
        row(f"pooled_{p.measure}_i2_pct", p.i2_pct, p.method, p.factor, p.level, n=p.k))])

    def fill(folder: Path) -> pd.DataFrame:
        from analysis.book import figures

        tables = {"services": services_table(services) if site_table is None else
                  pd.DataFrame({"service": names, "source": str(site_table)}),
                  "service_estimates": estimates, "pooled": pooled,
                  "funnel": funnel.rename(columns={"site": "service", "referrals": "people", "jobs": "events"}),
                  "run_info": pd.DataFrame(info, columns=["item", "value"])}
        if fidelity_table is not None:
            tables["fidelity"], tables["meta_regression"] = fidelity_regression(
                fidelity_table, estimates, rate_measure, method, hartung_knapp)
        for table_name, table in tables.items():
            write_csv_atomic(folder / f"{table_name}.csv", table)
        write_csv_atomic(folder / "key_results.csv", key)
        drawn = folder / "figures"
        published = {n: as_published(t) for n, t in tables.items()}
        for p in published["pooled"].itertuples():
            if p.factor == "all" and p.k >= 2:
                figures.pooled_forest(published["service_estimates"], p, drawn)
        for measure in published["pooled"].query("factor != 'all' and k >= 2")["measure"].unique():
            figures.pooled_ratio_forest(published["pooled"], measure, LABELS[measure], drawn)
        summary = as_published(funnel_summary).iloc[0]
        figures.funnel(as_published(funnel), float(summary["pooled_rate_pct"]), drawn, "pooled_funnel",
                       overdispersed=(float(summary["random_effects_rate_pct"]), float(summary["tau2"])),
                       xlabel="People analysed" if site_table is None else "Referrals",
                       ylabel=LABELS[rate_measure])
        if "meta_regression" in published and "slope_logit" in published["meta_regression"]:
            figures.fidelity_plot(published["fidelity"], published["meta_regression"].iloc[0], drawn)
        if with_book:
            from analysis.book.render import POOLED_BOOK, render

            progress("rendering the pooled book ...")
            details = dict(info)
            subtitle = (f"{len(services)} services; follow-up to {details['extract_date']} at the latest"
                        if details["extract_date"] else f"{len(services)} sites' published counts")
            params = {"results_dir": str(folder), "service_name": details["service_name"],
                      "extract_date": details["extract_date"], "subtitle": subtitle}
            render(folder / "book", params, profile="sites" if site_table is not None else "releases",
                   reports_dir=POOLED_BOOK, progress=progress)
        return pooled

    return write_folder_atomically(Path(out), fill)
