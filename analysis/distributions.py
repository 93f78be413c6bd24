"""The few distribution functions the analyses need, from scipy.special (light to import; scipy.stats and
statsmodels cost seconds at start-up, which a 539-row run cannot afford)."""
from __future__ import annotations

import numpy as np
from scipy import special


def norm_cdf(x):
    return special.ndtr(x)


def norm_ppf(q):
    return special.ndtri(q)


def norm_sf(x):
    return special.ndtr(-np.asarray(x, dtype=float))


def chi2_sf(x, df):
    """Upper tail of the chi-squared distribution (NaN for df = 0)."""
    return float(special.chdtrc(df, x)) if df > 0 else float("nan")


Z95 = float(norm_ppf(0.975))
