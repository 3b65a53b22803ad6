"""What the exporters share: float64 copies of fitted arrays, and where float32
cannot hold a constant."""

import numpy as np

from ..preprocessing._array_api import to_numpy


def as_float64(array):
    """A numpy float64 copy of a fitted attribute, from any array namespace
    and device (``to_numpy``)."""
    return np.asarray(to_numpy(array), dtype=np.float64)


def float32_overflows(values):
    """Where float32 cannot hold finite ``values``: they round to infinity."""
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(over="ignore"):
        return np.isfinite(values) & np.isinf(values.astype(np.float32))
