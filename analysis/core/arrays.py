"""Array helpers the stages share: distinct whole numbers, and rows counted by pattern (one integer per row
whose digits are its codes), without sorting where counting by position will do."""
from __future__ import annotations

import numpy as np


def by_position(space: int, rows: int) -> bool:
    """Whether `rows` values in range(space) are counted by position (an array of `space` entries) rather
    than sorted: when the space is not much wider than the rows, the counting is the faster."""
    return space <= 4 * rows + (1 << 20)


def whole_number_span(values: np.ndarray) -> tuple[int, np.ndarray, np.ndarray] | None:
    """For whole numbers in a span narrow enough to count by position (by_position): the lowest value, the
    values present as offsets from it (sorted) and each value's offset; None for anything else."""
    if values.dtype.kind not in "iu" or values.ndim != 1 or not len(values):
        return None
    low, high = int(values.min()), int(values.max())
    if not by_position(high - low + 1, len(values)):
        return None
    shifted = values.astype(np.int64, copy=False) - low if low else values  # no overflow in a small type
    seen = np.zeros(high - low + 1, dtype=bool)
    seen[shifted] = True
    return low, np.flatnonzero(seen), shifted


def distinct(values) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(values, return_inverse=True): the sorted distinct values and each value's position among
    them. Whole numbers in a narrow span (days, pattern numbers) are counted by position instead of sorted:
    the same two arrays, and at ten million days the sort was most of the time."""
    values = np.asarray(values)
    span = whole_number_span(values)
    if span is None:
        return np.unique(values, return_inverse=True)
    low, present, shifted = span
    position = np.empty(int(present[-1]) + 1, dtype=np.intp)
    position[present] = np.arange(len(present))
    return (present + low).astype(values.dtype, copy=False), position[shifted]


def pattern_key(codes: list[np.ndarray], sizes: list[int]) -> np.ndarray:
    """One integer per row whose digits (in the mixed radix `sizes`) are the row's codes, first column first."""
    key = np.zeros(len(codes[0]), dtype=np.int64)
    for column, size in zip(codes, sizes):
        key *= size  # in place: codes may be small integers, the key is always int64
        key += column
    return key


def pattern_digits(patterns: np.ndarray, sizes: list[int]) -> list[np.ndarray]:
    """pattern_key turned round: each pattern's code in every column."""
    digits = []
    for size in reversed(sizes):
        patterns, digit = np.divmod(patterns, size)
        digits.append(digit)
    return digits[::-1]


def counted_keys(key: np.ndarray, space: int, weights: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The distinct keys (sorted), the rows with each and the sum of `weights` over them (floats: numpy's
    weighted bincount of no rows gives integers)."""
    if by_position(space, len(key)):  # no sort
        counts = np.bincount(key, minlength=space)
        patterns = np.flatnonzero(counts)
        sums = None if weights is None else np.bincount(key, weights=weights, minlength=space)[patterns]
        counts = counts[patterns]
    else:
        patterns, which = distinct(key)
        counts, sums = np.bincount(which), None if weights is None else np.bincount(which, weights=weights)
    return patterns, counts, None if sums is None else sums.astype(float, copy=False)


def added_counts(a: tuple[np.ndarray, np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray, np.ndarray]
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two counted_keys results of different rows as one: what counting the rows together gives, to the bit
    when the weights are whole numbers (events), whose float sums are exact in any order."""
    patterns = union_sorted(a[0], b[0])
    counts, sums = np.zeros(len(patterns), dtype=np.int64), np.zeros(len(patterns))
    for keys, n, total in (a, b):
        at = np.searchsorted(patterns, keys)
        counts[at] += n
        sums[at] += total
    return patterns, counts, sums


def union_sorted(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """np.union1d of two sorted arrays of distinct non-negative keys: marked by position when the keys are
    few enough for it (sorting the two together was most of adding an imputed copy's counts)."""
    if not len(a) or not len(b):
        return np.union1d(a, b)
    space = int(max(a[-1], b[-1])) + 1
    if not by_position(space, len(a) + len(b)) or min(a[0], b[0]) < 0:
        return np.union1d(a, b)
    seen = np.zeros(space, dtype=bool)
    seen[a] = True
    seen[b] = True
    return np.flatnonzero(seen).astype(np.result_type(a, b), copy=False)
