"""The closed-form distribution functions the analyses use, against scipy over the ranges that occur."""
import numpy as np
import pytest
from scipy import special, stats

from analysis.distributions import Z95, chi2_sf, norm_ppf, norm_sf


@pytest.mark.parametrize("df", [1, 2, 3, 4, 5, 7, 8, 11, 20, 49, 150])
def test_chi2_upper_tail_equals_scipy(df):
    for x in [1e-6, 0.01, 0.5, 1.0, 3.84, df * 0.7, df, df * 1.6, 30.0, 80.0, 200.0, 700.0]:
        expected = special.chdtrc(df, x)
        assert chi2_sf(x, df) == pytest.approx(expected, rel=1e-12, abs=1e-300), (df, x)


def test_chi2_edge_cases():
    assert np.isnan(chi2_sf(3.0, 0))
    assert chi2_sf(0.0, 3) == 1.0
    with pytest.raises(ValueError):
        chi2_sf(3.0, 2.5)


def test_normal_tail_and_quantile_equal_scipy():
    z = np.array([-8.0, -3.1, -1.96, -0.2, 0.0, 0.7, 1.959964, 3.5, 9.0, 20.0])
    np.testing.assert_allclose(norm_sf(z), stats.norm.sf(z), rtol=1e-13, atol=0)
    for q in [1e-10, 0.001, 0.025, 0.3, 0.5, 0.975, 0.999, 1 - 1e-10]:
        assert norm_ppf(q) == pytest.approx(special.ndtri(q), rel=1e-13)
    assert Z95 == pytest.approx(1.959963984540054, rel=1e-15)
