"""Random-effects meta-analysis of (estimate, variance) pairs: between-site job rates (sites.py) and
services' released results (pool.py).

- tau^2 by DerSimonian-Laird (statsmodels `combine_effects`, method_re="dl", truncated at 0 as
  DerSimonian and Laird define it; statsmodels does not truncate) or by REML (Fisher scoring, written
  here: statsmodels has no REML; it follows R's metafor::rma and equals it to 1e-8, tests/test_pool.py);
- the pooled estimate and its SE with weights 1/(v_i + tau^2) (statsmodels `combine_effects` on the
  variances v_i + tau^2); 95% CI Wald (normal), or Hartung-Knapp (t on k-1 df with the weighted residual
  scale, statsmodels' `sd_eff_w_fe_hksj`, as metafor's test="knha", untruncated);
- Cochran's Q with its chi-squared p; I^2 = tau^2 / (tau^2 + s^2), s^2 the typical within-study variance
  (Higgins and Thompson 2002), which for DerSimonian-Laird is (Q - df) / Q, statsmodels' i2;
- a 95% prediction interval for a new study, mu +/- t(k-2) sqrt(tau^2 + SE(mu)^2) (Higgins, Thompson and
  Spiegelhalter 2009), for three studies or more;
- meta-regression on one covariate: weighted least squares (statsmodels WLS) with weights
  1/(v_i + tau^2_res), residual tau^2 by the method of moments (the DerSimonian-Laird estimator
  generalised to a design matrix) or REML; SEs with the scale fixed at 1, or Hartung-Knapp (estimated
  scale, t on k-2 df).
"""
from __future__ import annotations

import numpy as np
from scipy import stats
from statsmodels.stats.meta_analysis import combine_effects

from analysis.core.results import Z95

METHODS = {"dl": "DerSimonian-Laird", "reml": "REML"}
REML_TOLERANCE = 1e-12  # change in tau^2 between Fisher-scoring steps at convergence
REML_MAX_STEPS = 1000


def describe(method: str, hartung_knapp: bool) -> str:
    """The estimator in words, for every table's `method` column."""
    tau = ("tau^2 by DerSimonian-Laird (statsmodels combine_effects, truncated at 0)" if method == "dl" else
           "tau^2 by REML (Fisher scoring, as R metafor::rma method=\"REML\")")
    ci = ("95% CI Hartung-Knapp: t on k-1 df with the weighted residual scale (statsmodels sd_eff_w_fe_hksj, as "
          "metafor test=\"knha\")" if hartung_knapp else "95% CI Wald (normal)")
    return (f"Random-effects meta-analysis ({METHODS[method]}{', Hartung-Knapp' if hartung_knapp else ''}): {tau}; "
            f"inverse-variance weights 1/(v + tau^2) (statsmodels combine_effects); {ci}; Cochran's Q; "
            "I^2 = tau^2 / (tau^2 + typical within-service variance) (Higgins and Thompson 2002); 95% prediction "
            "interval mu +/- t(k-2) sqrt(tau^2 + SE^2) (Higgins, Thompson and Spiegelhalter 2009)")


def _residual_projection(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """P = W - W X (X'WX)^-1 X'W, the projection of REML and of the method-of-moments estimator."""
    wx = w[:, None] * x
    return np.diag(w) - wx @ np.linalg.solve(x.T @ wx, wx.T)


def reml_tau2(effect, variance, design=None) -> float:
    """REML estimate of tau^2 by Fisher scoring from 0 (a step below 0 stops at 0), as metafor does:
    score (y'PPy - tr P) / 2, information tr(PP) / 2, with P of the weights 1/(v + tau^2)."""
    y, v = np.asarray(effect, float), np.asarray(variance, float)
    x = np.ones((len(y), 1)) if design is None else np.asarray(design, float)
    tau2 = 0.0
    for _ in range(REML_MAX_STEPS):
        p = _residual_projection(1 / (v + tau2), x)
        py = p @ y
        step = (py @ py - np.trace(p)) / np.sum(p * p)  # score / information (the halves cancel)
        new = max(tau2 + step, 0.0)
        if abs(new - tau2) < REML_TOLERANCE:
            return new
        tau2 = new
    raise ArithmeticError(f"REML did not converge in {REML_MAX_STEPS} Fisher-scoring steps")


def moments_tau2(effect, variance, design) -> float:
    """The method-of-moments (DerSimonian-Laird) residual tau^2 of a meta-regression, truncated at 0:
    (Q_E - (k - p)) / tr(P) with P of the weights 1/v (metafor method="DL" with moderators)."""
    y, v, x = np.asarray(effect, float), np.asarray(variance, float), np.asarray(design, float)
    p = _residual_projection(1 / v, x)
    return max(float((y @ p @ y - (len(y) - x.shape[1])) / np.trace(p)), 0.0)


def typical_variance(variance) -> float:
    """Higgins and Thompson's typical within-study variance: (k-1) sum w / ((sum w)^2 - sum w^2), w = 1/v."""
    w = 1 / np.asarray(variance, float)
    return float((len(w) - 1) * w.sum() / (w.sum() ** 2 - (w ** 2).sum()))


def random_effects(effect, variance, method: str = "dl", hartung_knapp: bool = False) -> dict:
    """Pool k estimates with known variances: mu, se, conf_low/high, tau2, i2 (0-1), q, q_df, q_p,
    pi_low/high (NaN below three studies), k. On the scale given (log or logit): back-transform outside."""
    y, v = np.asarray(effect, float), np.asarray(variance, float)
    k = len(y)
    with np.errstate(invalid="ignore"):  # statsmodels takes the root of its own untruncated (negative) tau^2
        dl = combine_effects(y, v, method_re="dl", use_t=False)
        tau2 = max(float(dl.tau2), 0.0) if method == "dl" else reml_tau2(y, v)
        fitted = combine_effects(y, v + tau2, method_re="dl", use_t=False)  # its fixed effect: weights 1/(v + tau^2)
    q = dl.test_homogeneity()  # Cochran's Q, chi-squared on k-1 df
    centre = float(fitted.mean_effect_fe)
    se = float(fitted.sd_eff_w_fe_hksj if hartung_knapp else fitted.sd_eff_w_fe)
    crit = float(stats.t.ppf(0.975, k - 1)) if hartung_knapp else Z95
    # DerSimonian-Laird's I^2 is statsmodels' (Q - df) / Q, truncated at 0: the same as tau^2 / (tau^2 + s^2).
    i2 = max(float(dl.i2), 0.0) if method == "dl" else tau2 / (tau2 + typical_variance(v)) if k > 1 else 0.0
    half = float(stats.t.ppf(0.975, k - 2) * np.sqrt(tau2 + se ** 2)) if k >= 3 else np.nan
    return {"k": k, "mu": centre, "se": se, "conf_low": centre - crit * se, "conf_high": centre + crit * se,
            "tau2": tau2, "i2": i2, "q": float(q.statistic), "q_df": int(q.df), "q_p": float(q.pvalue),
            "pi_low": centre - half, "pi_high": centre + half}


def meta_regression(effect, variance, covariate, method: str = "dl", hartung_knapp: bool = False) -> dict:
    """Effect on one covariate by WLS (statsmodels) with weights 1/(v + tau^2_res): intercept, slope, the
    slope's se, 95% CI and p, tau2 (residual), k. Scale fixed at 1 (z), or Hartung-Knapp (t, k-2 df)."""
    import statsmodels.api as sm

    y, v = np.asarray(effect, float), np.asarray(variance, float)
    x = sm.add_constant(np.asarray(covariate, float), has_constant="add")
    tau2 = moments_tau2(y, v, x) if method == "dl" else reml_tau2(y, v, x)
    model = sm.WLS(y, x, weights=1 / (v + tau2))
    fit = model.fit() if hartung_knapp else model.fit(cov_type="fixed scale", cov_kwds={"scale": 1.0})
    slope, se = float(fit.params[1]), float(fit.bse[1])
    if hartung_knapp:
        crit, p = float(stats.t.ppf(0.975, len(y) - 2)), float(2 * stats.t.sf(abs(slope / se), len(y) - 2))
    else:
        crit, p = Z95, float(2 * stats.norm.sf(abs(slope / se)))
    return {"k": len(y), "intercept": float(fit.params[0]), "slope": slope, "se": se,
            "conf_low": slope - crit * se, "conf_high": slope + crit * se, "p": p, "tau2": tau2}
