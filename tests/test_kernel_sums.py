"""The fit kernel's sums, bit for bit: numpy's sequential sums, for every
version of the kernels (the AVX-512 path of narrow rows, the AVX2 clone, the
default one). In a file of its own, since it needs hypothesis: CI runs
tests/test_kernels.py on the newest CPython with the core dependencies only."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

from sklearn_bn.preprocessing import _native

requires_kernels = pytest.mark.skipif(
    _native.kernels is None, reason="built without the compiled kernels"
)


def _sequential_shifted_sums(X, shift):
    """What the unweighted kernel computes, in numpy, to the bit.

    Blocks of rows are summed from zero, one row after another (cumulative
    sums add in order), each square rounded before it is added; the block
    sums are then added in order. The kernel's blocks hold 2**16 values.
    """
    rows = max(1, 2**16 // X.shape[1])
    totals = np.zeros((2, X.shape[1]))
    for start in range(0, len(X), rows):
        d = X[start : start + rows].astype(np.float64) - shift
        with np.errstate(invalid="ignore", over="ignore"):
            totals += [np.cumsum(d, axis=0)[-1], np.cumsum(d * d, axis=0)[-1]]
    return totals


def _kernel_shifted_sums(X, shift):
    totals = np.zeros((2, X.shape[1]))
    _native.kernels.shifted_sums(X, shift, None, *totals)
    return totals


@requires_kernels
@settings(max_examples=150, deadline=None)
@given(
    n_rows=st.integers(1, 40),
    # Narrow rows (4 a pass) and wide ones; float32 rows of 256 to 511 values
    # are narrow and span two segments of the kernel.
    n_features=st.one_of(st.integers(1, 40), st.integers(250, 520)),
    dtype=st.sampled_from([np.float32, np.float64]),
    scale=st.sampled_from([1e-3, 1.0, 1e6]),
    seed=st.integers(0, 2**32 - 1),
    special=st.sampled_from([None, np.nan, np.inf]),
)
def test_kernel_sums_are_sequential_sums_bit_for_bit(
    n_rows, n_features, dtype, scale, seed, special
):
    # Whatever version of the kernels runs (AVX-512 for narrow rows, the AVX2
    # clone, the default one), each column is summed in row order and each
    # square rounded before it is added: the bits of the sequential sums.
    rng = np.random.default_rng(seed)
    X = (rng.normal(size=(n_rows, n_features)) * scale + scale).astype(dtype)
    if special is not None:
        X[rng.random(X.shape) < 0.05] = special
    shift = X[0].astype(np.float64) + rng.normal(size=n_features)
    assert_array_equal(
        _kernel_shifted_sums(X, shift), _sequential_shifted_sums(X, shift)
    )


@requires_kernels
def test_kernel_sums_over_many_blocks_are_sequential_sums_bit_for_bit():
    X = np.random.default_rng(5).normal(size=(9_001, 70)) * 3 + 1e4
    shift = X[0] + 0.5
    for dtype in [np.float64, np.float32]:
        block = X.astype(dtype)
        assert_array_equal(
            _kernel_shifted_sums(block, shift), _sequential_shifted_sums(block, shift)
        )
