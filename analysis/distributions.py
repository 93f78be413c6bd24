"""The few distribution functions the analyses need, in closed form from the standard library.

scipy.special alone costs a fifth of a second to import and scipy.stats or statsmodels seconds, which a
539-row run cannot afford; tests/test_distributions.py checks these against scipy to 1e-12 relative.
"""
from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

_STANDARD_NORMAL = NormalDist()
_erfc = np.frompyfunc(math.erfc, 1, 1)


def norm_sf(x):
    """Upper tail of the standard normal, P(Z > x), elementwise."""
    return (0.5 * _erfc(np.asarray(x, dtype=float) / math.sqrt(2))).astype(float)


def norm_ppf(q: float) -> float:
    """Quantile of the standard normal (Wichura's AS 241, as in R's qnorm)."""
    return _STANDARD_NORMAL.inv_cdf(q)


def chi2_sf(x: float, df: int) -> float:
    """Upper tail of the chi-squared distribution with whole-number df (NaN for df = 0).

    Closed form: exp(-x/2) * sum_k (x/2)^k / k! for even df; for odd df, erfc(sqrt(x/2)) plus
    exp(-x/2) * sum_k (x/2)^(k-1/2) / Gamma(k+1/2). Every term is positive, so nothing cancels.
    """
    if df <= 0:
        return float("nan")
    if df != int(df):
        raise ValueError(f"chi2_sf implemented for whole-number df, not {df}")
    df, x = int(df), float(x)
    if x <= 0:
        return 1.0
    half = x / 2
    if df % 2 == 0:
        terms = (k * math.log(half) - math.lgamma(k + 1) for k in range(df // 2))
        return math.fsum(math.exp(t - half) for t in terms)
    terms = ((k - 0.5) * math.log(half) - math.lgamma(k + 0.5) for k in range(1, (df - 1) // 2 + 1))
    return math.erfc(math.sqrt(half)) + math.fsum(math.exp(t - half) for t in terms)


Z95 = norm_ppf(0.975)
