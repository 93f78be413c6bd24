"""Between-site variation in job rates: a site table (Making IPS Work's, or one a trust supplies) and the
extract's own sites.

Without a site table the extract's own sites are the analysis ("sites" tables, site_* measures). With a
site table, the table is that analysis and the extract's own sites, when it names two or more, are analysed
beside it ("own_sites" tables, own_site_* measures), so a trust sees its teams next to the benchmark."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit
from analysis.stats.meta import random_effects
from analysis.stats.proportions import WILSON_METHOD, homogeneity_tests, wilson
from analysis.core.results import row

RE_METHOD = ("Random-effects pooled rate: DerSimonian-Laird (statsmodels combine_effects) on the logit scale "
             "(within-site variance 1/(n p (1-p)); 0.5 added to both cells of a site with 0% or 100%), back-transformed; 95% CI Wald "
             "on the logit scale; I^2 from Cochran's Q")
FUNNEL_METHOD = ("Funnel plot control limits around the pooled rate p0: p0 +/- z sqrt(p0 (1-p0) / n), "
                 "z = 1.96 (95%) and 3.09 (99.8%), normal approximation (Spiegelhalter 2005); overdispersed limits "
                 "around the random-effects rate m on the logit scale: logit(m) +/- z sqrt(1 / (n m (1-m)) + tau^2), "
                 "tau^2 from DerSimonian-Laird (Spiegelhalter 2005, additive random effects)")
PREDICTION_METHOD = ("Random-effects 95% prediction interval for the rate of a new site: mu +/- t(k-2) "
                     "sqrt(tau^2 + SE(mu)^2) on the logit scale, back-transformed (Higgins, Thompson and "
                     "Spiegelhalter 2009; DerSimonian-Laird tau^2, which tends to run low on the logit scale of binomial data, so "
                     "the interval can be a little narrow: 92% coverage in a simulation of 200 sites)")
Z_LIMITS = {"95": float(stats.norm.ppf(0.975)), "99.8": float(stats.norm.ppf(0.999))}


LOGIT_METHOD = "logit of each rate with variance 1/(n p (1-p)); 0.5 added to both cells of a rate of 0% or 100%"


def logit_rate(events, n) -> tuple[np.ndarray, np.ndarray]:
    """Each rate's logit and its variance 1/(n p (1-p)), for pooling on the logit scale."""
    events, n = np.asarray(events, float), np.asarray(n, float)
    # A rate of 0% or 100% has no finite logit: add 0.5 to both of its cells.
    extreme = (events == 0) | (events == n)
    events, n = np.where(extreme, events + 0.5, events), np.where(extreme, n + 1.0, n)
    p = events / n
    return np.log(p / (1 - p)), 1 / (n * p * (1 - p))


def dersimonian_laird(jobs: np.ndarray, referrals: np.ndarray) -> dict:
    """Random-effects pooled rate on the logit scale by DerSimonian-Laird (meta.random_effects: statsmodels'
    combine_effects, tau^2 and I^2 truncated at 0 as DerSimonian-Laird define them), back-transformed."""
    # statsmodels returns DerSimonian-Laird's tau^2 untruncated when Cochran's Q < df (-0.0197 for six sites
    # at 34% to 37%) and weights by it; meta.random_effects truncates at 0, as DerSimonian-Laird and metafor do.
    re = random_effects(*logit_rate(jobs, referrals), method="dl")
    return {"rate": float(expit(re["mu"])), "conf_low": float(expit(re["conf_low"])),
            "conf_high": float(expit(re["conf_high"])), "tau2": re["tau2"], "q": re["q"], "q_df": re["q_df"],
            "q_p": re["q_p"], "i2": re["i2"], "pi_low": float(expit(re["pi_low"])), "pi_high": float(expit(re["pi_high"]))}


SOURCES = {"sites": "site_", "own_sites": "own_site_"}  # table prefix -> measure prefix
PEOPLE_IN_WORK = "people in work (a job gained or kept)"  # what an extract's site counts count (pipeline.site_counts)


def analyse(sites: pd.DataFrame, prefix: str = "sites") -> tuple[list[dict], dict[str, pd.DataFrame]]:
    """Sites table with columns site, referrals, jobs (and `counted`, what "jobs" counts: jobs in a site table,
    people in work when the sites are the extract's); tables and measures named by `prefix` (SOURCES)."""
    measure = SOURCES[prefix]
    counted = str(sites["counted"].iloc[0]) if "counted" in sites else "jobs"
    jobs, referrals = sites["jobs"].to_numpy(float), sites["referrals"].to_numpy(float)
    low, high = wilson(jobs, referrals)
    pooled = jobs.sum() / referrals.sum()
    pooled_low, pooled_high = wilson(jobs.sum(), referrals.sum())
    table = pd.DataFrame({"site": sites["site"], "referrals": sites["referrals"], "jobs": sites["jobs"],
                          "counted": counted, "rate_pct": 100 * jobs / referrals, "conf_low": 100 * low,
                          "conf_high": 100 * high})
    for level, z in Z_LIMITS.items():
        half = z * np.sqrt(pooled * (1 - pooled) / referrals)
        table[f"limit_{level}_low"] = 100 * (pooled - half)
        table[f"limit_{level}_high"] = 100 * (pooled + half)
        outside = (jobs / referrals < pooled - half) | (jobs / referrals > pooled + half)
        table[f"outside_{level}"] = np.where(outside, np.where(jobs / referrals > pooled, "above", "below"), "")
    counts = pd.DataFrame({"jobs": jobs, "no_job": referrals - jobs}, index=sites["site"])
    test = homogeneity_tests(counts)
    re = dersimonian_laird(jobs, referrals)
    centre, rate = np.log(re["rate"] / (1 - re["rate"])), jobs / referrals
    for level, z in Z_LIMITS.items():  # limits that allow for real differences between sites (tau^2)
        half = z * np.sqrt(1 / (referrals * re["rate"] * (1 - re["rate"])) + re["tau2"])
        low, high = expit(centre - half), expit(centre + half)
        table[f"limit_re_{level}_low"], table[f"limit_re_{level}_high"] = 100 * low, 100 * high
        table[f"outside_re_{level}"] = np.where(rate > high, "above", np.where(rate < low, "below", ""))
    table["method"] = f"Rate = {counted} / referrals; {WILSON_METHOD}; {FUNNEL_METHOD}"
    keys = [row(f"{measure}job_rate_pct", r["rate_pct"], f"{counted.capitalize()} / referrals; {WILSON_METHOD}", factor="site",
                level=r["site"], conf_low=r["conf_low"], conf_high=r["conf_high"], n=int(r["referrals"]))
            for _, r in table.iterrows()]
    keys += [
        row(f"{measure}jobs_total", jobs.sum(), f"Sum of {counted} over sites", n=int(referrals.sum())),
        row(f"{measure}pooled_rate_pct", 100 * pooled, f"All {counted} / all referrals; {WILSON_METHOD}",
            conf_low=100 * float(pooled_low), conf_high=100 * float(pooled_high), n=int(referrals.sum())),
        row(f"{measure}random_effects_rate_pct", 100 * re["rate"], RE_METHOD, conf_low=100 * re["conf_low"],
            conf_high=100 * re["conf_high"], n=int(referrals.sum())),
        row(f"{measure}prediction_interval_pct", 100 * re["rate"], PREDICTION_METHOD, conf_low=100 * re["pi_low"],
            conf_high=100 * re["pi_high"], n=len(sites), interval="95% prediction interval"),
        row(f"{measure}i2_pct", 100 * re["i2"], RE_METHOD + f"; Cochran's Q = {re['q']:.4f} on {re['q_df']} df", n=len(sites)),
        row(f"{measure}chi2", test["chi2"], test["chi2_method"] + f"; {test['df']} df", n=int(referrals.sum())),
        row(f"{measure}p", test["p"], test["chi2_method"], n=int(referrals.sum())),
    ]
    summary = pd.DataFrame([{"pooled_rate_pct": 100 * pooled, "random_effects_rate_pct": 100 * re["rate"],
                             "re_conf_low": 100 * re["conf_low"], "re_conf_high": 100 * re["conf_high"],
                             "prediction_low": 100 * re["pi_low"], "prediction_high": 100 * re["pi_high"],
                             "tau2": re["tau2"], "cochran_q": re["q"], "q_df": re["q_df"], "q_p": re["q_p"],
                             "i2_pct": 100 * re["i2"], "chi2": test["chi2"], "chi2_df": test["df"],
                             "chi2_p": test["p"], "method": RE_METHOD + "; " + PREDICTION_METHOD + "; " + test["chi2_method"]}])
    return keys, {f"{prefix}_rates": table, f"{prefix}_summary": summary}
