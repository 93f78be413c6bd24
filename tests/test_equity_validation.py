"""Each equity method against values printed by others:
- Agresti (2007), An Introduction to Categorical Data Analysis, gender x party identification (as in R's
  ?chisq.test): X-squared = 30.07, df = 2, p = 2.954e-07.
- R's ?fisher.test, Fisher's tea-tasting experiment: two-sided p = 0.4857.
- Newcombe (1998), Statistics in Medicine 17:857, Table I: Wilson score intervals 81/263 -> 0.2553 to
  0.3662 and 15/148 -> 0.0624 to 0.1605.
- Venables & Ripley, MASS (4th ed., section 7.2), budworm data, glm(SF ~ sex * ldose, binomial):
  coefficients -2.9935, 0.1750, 0.9060, 0.3529 with standard errors 0.5527, 0.7783, 0.1671, 0.2700.
"""
import numpy as np
import pandas as pd
import pytest

from analysis.contingency import chi2_homogeneity
from analysis.outcome import logistic
from analysis.proportions import exact_test, wilson
from analysis.sites import dersimonian_laird


def test_chi_squared_matches_agresti():
    table = pd.DataFrame([[762, 327, 468], [484, 239, 477]], index=["F", "M"], columns=["Dem", "Ind", "Rep"])
    result = chi2_homogeneity(table)
    assert round(result["chi2"], 2) == 30.07 and result["df"] == 2
    assert f"{result['p']:.3e}" == "2.954e-07"


def test_not_known_is_left_out_of_the_test():
    table = pd.DataFrame([[762, 327, 468], [484, 239, 477], [5000, 1, 1]], index=["F", "M", "Not known"])
    assert round(chi2_homogeneity(table)["chi2"], 2) == 30.07


def test_fisher_exact_matches_r_tea_tasting():
    p, _ = exact_test(pd.DataFrame([[3, 1], [1, 3]]))
    assert round(p, 4) == 0.4857


def test_monte_carlo_exact_test_is_seeded_and_close_to_chi_squared_for_large_counts():
    table = pd.DataFrame([[120, 80], [100, 100], [90, 110]])
    first, method = exact_test(table)
    assert exact_test(table)[0] == first  # the same seed gives the same p
    assert "Monte Carlo" in method
    assert abs(first - chi2_homogeneity(table)["p"]) < 0.01


def test_wilson_matches_newcombe():
    low, high = wilson([81, 15], [263, 148])
    assert np.round(low, 4).tolist() == [0.2553, 0.0624]
    assert np.round(high, 4).tolist() == [0.3662, 0.1605]


def test_logistic_matches_mass_budworm():
    ldose = np.tile(np.arange(6), 2).astype(float)
    male = np.repeat([1.0, 0.0], 6)
    dead = np.array([1, 4, 9, 13, 18, 20, 0, 2, 6, 10, 12, 16])
    coef, cov, _ = logistic(dead, np.full(12, 20), np.column_stack([male, ldose, male * ldose]))
    assert np.round(coef, 4).tolist() == [-2.9935, 0.1750, 0.9060, 0.3529]
    assert np.round(np.sqrt(np.diag(cov)), 4).tolist() == [0.5527, 0.7783, 0.1671, 0.2700]


def test_dersimonian_laird_matches_statsmodels_meta_analysis():
    from statsmodels.stats.meta_analysis import combine_effects

    jobs = np.array([74, 78, 65, 114, 27, 63.0])
    referrals = np.array([240, 193, 170, 264, 139, 155.0])
    p = jobs / referrals
    theirs = combine_effects(np.log(p / (1 - p)), 1 / (referrals * p * (1 - p)), method_re="dl")
    mine = dersimonian_laird(jobs, referrals)
    assert mine["tau2"] == pytest.approx(theirs.tau2, rel=1e-10)
    assert mine["i2"] == pytest.approx(theirs.i2, rel=1e-10)
    expit = 1 / (1 + np.exp(-theirs.mean_effect_re))
    assert mine["rate"] == pytest.approx(expit, rel=1e-10)


def test_enumerated_exact_test_equals_fisher_on_a_2x2_and_monte_carlo_on_a_3x2():
    from scipy import stats

    from analysis.proportions import _enumerated_k_by_2

    table = np.array([[3, 1], [1, 3]])
    assert _enumerated_k_by_2(table.sum(axis=1), table[:, 0]) == pytest.approx(0.4857142857, abs=1e-9)
    table = np.array([[6, 4], [2, 8], [5, 5]])
    exact = _enumerated_k_by_2(table.sum(axis=1), table[:, 0])
    method = stats.MonteCarloMethod(n_resamples=100_000, rng=np.random.default_rng(1))
    assert exact == pytest.approx(stats.fisher_exact(table, method=method).pvalue, abs=0.01)


def test_monte_carlo_exact_test_on_a_service_of_a_hundred_thousand_people():
    """scipy 1.17's fisher_exact raises on this table (its total exceeds draws x cells); ours draws the same
    tables as fisher_exact wherever fisher_exact works."""
    from scipy import stats

    from analysis.proportions import EXACT_RESAMPLES, EXACT_SEED, _monte_carlo

    large = pd.DataFrame([[5009, 57514], [4861, 56030], [56, 371]])
    p, method = exact_test(large)
    assert "Monte Carlo" in method and 0 < p < 0.01
    assert p == pytest.approx(chi2_homogeneity(large)["p"], abs=0.002)
    small = np.array([[12, 30], [20, 25], [9, 31], [14, 14]])
    scipy_p = stats.fisher_exact(small, method=stats.MonteCarloMethod(
        n_resamples=EXACT_RESAMPLES, rng=np.random.default_rng(EXACT_SEED))).pvalue
    assert _monte_carlo(small) == scipy_p
