"""Age as a continuous term: a restricted cubic spline beside the paper's age bands, in the adjusted
logistic and Cox models.

The spline is Harrell's (Regression Modeling Strategies, 2nd ed., section 2.4.5): four knots at the 5th,
35th, 65th and 95th percentiles of age (R's quantile type 7), linear beyond the outer knots, in the
truncated-power basis of rms::rcs / Hmisc::rcspline.eval with its default normalisation (norm = 2: each
non-linear term divided by (t4 - t1)^2), so age enters as age plus two non-linear terms (3 df). The
other three factors stay as in the adjusted model, on the same people, so every model here is nested in
or beside the bands model on identical rows.

Bands and a spline are not nested, so "the spline against the bands" is given three ways: the LR test of
age in each form against no age at all; the LR tests of each form added to the other (does a smooth age
explain what the bands do not, and the reverse); and the AIC of each. The LR test of the two non-linear
terms tests linearity. Checked against R's rms::rcs, glm and coxph (tests/test_referee.py, R's printed
output committed). The basis and the fits are numpy / statsmodels / the package's own Cox (analysis/
estimators.py); no Python library has rms's basis.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from analysis.stats.cox import cox_efron
from analysis.questions.model_frames import ANALYSES, adjusted_levels, counted_once, dummies
from analysis.stats.modelling import WEIGHT, counted_cells
from analysis.questions.outcome import logistic
from analysis.core.results import Z95

KNOT_PROBABILITIES = (0.05, 0.35, 0.65, 0.95)
REFERENCE_AGE = 40
AGES = (20, 25, 30, 35, 45, 50, 55, 60)
METHOD = ("Restricted cubic spline of age, 4 knots at the 5/35/65/95th percentiles (Harrell; truncated-power "
          "basis as rms::rcs, norm = 2), with the other three factors as in the adjusted model, on the same people; "
          "likelihood-ratio tests (chi-squared) and AIC; {fit}")
FITS = {"logistic": "binomial GLM (statsmodels) on counts per covariate pattern and age",
        "cox": "Cox with Efron ties on counts per time, covariate pattern and age"}


def harrell_knots(age, probabilities=KNOT_PROBABILITIES) -> np.ndarray:
    """Knots at the given quantiles (type 7, as R's quantile and rms::rcs for 100 or more values)."""
    return np.quantile(np.asarray(age, float), probabilities)


def rcs_basis(x, knots) -> np.ndarray:
    """rms::rcs's design columns: x and the k - 2 non-linear terms of Hmisc::rcspline.eval (norm = 2)."""
    x, t = np.asarray(x, float), np.asarray(knots, float)
    k = len(t)
    scale = (t[-1] - t[0]) ** (2 / 3)
    cube = lambda v: np.maximum(v / scale, 0) ** 3  # noqa: E731
    terms = [x]
    for j in range(k - 2):
        terms.append(cube(x - t[j]) + ((t[k - 2] - t[j]) * cube(x - t[k - 1])
                                       - (t[k - 1] - t[j]) * cube(x - t[k - 2])) / (t[k - 1] - t[k - 2]))
    return np.column_stack(terms)


def _fit(kind: str, cells: pd.DataFrame, x: np.ndarray):
    """(log-likelihood up to a constant common to the nested models, coefficients, covariance, parameters)."""
    if kind == "logistic":
        coef, cov, deviance = logistic(cells["sum"], cells["size"], x)
        return -deviance / 2, coef[1:], cov[1:, 1:], coef.size
    fit = cox_efron(x, cells["days"].to_numpy(), cells["sum"].to_numpy(), cells["size"].to_numpy(), test_ph=False)
    return fit.loglik, fit.coef, fit.cov, fit.coef.size


def analyse_one(frame: pd.DataFrame, analysis: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    kind = ANALYSES[analysis][1]
    levels, rows = adjusted_levels(frame, kind == "logistic")
    others = {f: v for f, v in levels.items() if f != "age_band"}
    keys = (["days"] if kind == "cox" else []) + [*levels, "age"]
    cells = counted_cells(rows, keys)
    knots = harrell_knots(np.repeat(rows["age"].to_numpy(), rows[WEIGHT].to_numpy()))  # the people's ages
    base, _ = dummies(cells, others)
    bands, _ = dummies(cells, {"age_band": levels["age_band"]}) if "age_band" in levels else (np.zeros((len(cells), 0)), [])
    spline = rcs_basis(cells["age"], knots)
    designs = {"none": [base], "bands": [base, bands], "linear": [base, spline[:, :1]], "spline": [base, spline],
               "bands + spline": [base, bands, spline]}
    # each design matrix is made for its fit and let go after it: the five held together were a million-person
    # run's peak memory
    fits = {name: _fit(kind, cells, np.column_stack(parts)) for name, parts in designs.items()}
    n, events = int(cells["size"].sum()), int(cells["sum"].sum())
    method = METHOD.format(fit=FITS[kind])
    tests = []
    for label, bigger, smaller in (("age as bands, against no age", "bands", "none"),
                                   ("age as a spline, against no age", "spline", "none"),
                                   ("non-linearity: spline against linear age", "spline", "linear"),
                                   ("spline added to the bands", "bands + spline", "bands"),
                                   ("bands added to the spline", "bands + spline", "spline")):
        chi2 = 2 * (fits[bigger][0] - fits[smaller][0])
        df = fits[bigger][3] - fits[smaller][3]
        tests.append({"analysis": analysis, "comparison": label, "lr_chi2": chi2, "df": df,
                      "p": float(stats.chi2.sf(chi2, df)), "n": n, "events": events, "method": method})
    aic = {name: 2 * fits[name][3] - 2 * fits[name][0] for name in ("bands", "spline")}
    for test in tests:
        test["aic_bands_minus_spline"] = aic["bands"] - aic["spline"]
        test["knots"] = "; ".join(f"{k:g}" for k in knots)
    # Ratios at chosen ages against REFERENCE_AGE from the spline model, Wald CI (delta method)
    _, coef, cov, _ = fits["spline"]
    j = slice(base.shape[1], base.shape[1] + spline.shape[1])
    reference = rcs_basis([REFERENCE_AGE], knots)[0]
    ratios = []
    for age in AGES:
        contrast = rcs_basis([age], knots)[0] - reference
        b, se = float(contrast @ coef[j]), float(np.sqrt(contrast @ cov[j, j] @ contrast))
        ratios.append({"analysis": analysis, "age": age, "reference_age": REFERENCE_AGE,
                       "measure": "odds ratio" if kind == "logistic" else "hazard ratio",
                       "ratio": np.exp(b), "conf_low": np.exp(b - Z95 * se), "conf_high": np.exp(b + Z95 * se),
                       "within_outer_knots": bool(knots[0] <= age <= knots[-1]), "n": n, "events": events,
                       "method": method + "; Wald 95% CI of the spline contrast"})
    return pd.DataFrame(tests), pd.DataFrame(ratios)


def analyse(frames: dict[str, pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame]:
    tests, ratios = [], []
    for name, frame in frames.items():
        if len(frame) < 20 or frame["event"].nunique() < 2 or frame["age"].nunique() < 6:
            continue  # too few people, no events or too few distinct ages for four knots
        try:
            t, r = analyse_one(counted_once(frame, name, "age"), name)  # the people counted once, not per model
        except (np.linalg.LinAlgError, ValueError, KeyError, IndexError):
            continue  # not estimable on these data (separation, a singular information)
        tests.append(t), ratios.append(r)
    if not tests:
        return pd.DataFrame(), pd.DataFrame()
    return pd.concat(tests, ignore_index=True), pd.concat(ratios, ignore_index=True)
