"""Array helpers the stages share."""
from __future__ import annotations

import numpy as np


def distinct(values) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(values, return_inverse=True): the sorted distinct values and each value's position among
    them. Whole numbers in a span not much wider than their count (days, pattern numbers) are counted by
    position instead of sorted: the same two arrays, and at ten million days the sort was most of the time."""
    values = np.asarray(values)
    if values.dtype.kind in "iu" and values.ndim == 1 and len(values):
        low, high = int(values.min()), int(values.max())
        span = high - low + 1
        if span <= 4 * len(values) + (1 << 20):
            shifted = values.astype(np.int64, copy=False) - low if low else values  # no overflow in a small type
            seen = np.zeros(span, dtype=bool)
            seen[shifted] = True
            present = np.flatnonzero(seen)
            position = np.empty(span, dtype=np.intp)
            position[present] = np.arange(len(present))
            return (present + low).astype(values.dtype, copy=False), position[shifted]
    return np.unique(values, return_inverse=True)
