"""analysis/core/arrays.py: the shortcuts give what numpy's general routines give, for any shape of input."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from analysis.core.arrays import distinct, union_sorted

INTEGERS = st.sampled_from([np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32])


@settings(max_examples=200, deadline=None)
@given(INTEGERS.flatmap(lambda dtype: hnp.arrays(dtype, st.integers(0, 300))))
def test_distinct_is_np_unique_with_its_inverse(values):
    found, position = distinct(values)
    expected, inverse = np.unique(values, return_inverse=True)
    assert found.dtype == expected.dtype and position.dtype == inverse.dtype
    np.testing.assert_array_equal(found, expected)
    np.testing.assert_array_equal(position, inverse)


def test_distinct_of_a_wide_span_and_of_floats_falls_back_to_sorting():
    for values in (np.array([0, 10 ** 12, 5, 5]), np.array([2.5, 1.0, 2.5])):
        found, position = distinct(values)
        expected, inverse = np.unique(values, return_inverse=True)
        np.testing.assert_array_equal(found, expected)
        np.testing.assert_array_equal(position, inverse)


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(np.int64, st.integers(0, 200), elements=st.integers(0, 5000), unique=True),
       hnp.arrays(np.int64, st.integers(0, 200), elements=st.integers(0, 5000), unique=True))
def test_union_of_sorted_keys_is_union1d(a, b):
    found = union_sorted(np.sort(a), np.sort(b))
    expected = np.union1d(a, b)
    assert found.dtype == expected.dtype
    np.testing.assert_array_equal(found, expected)
