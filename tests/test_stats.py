"""The pure statistics functions behind BatchNormScaler."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.testing import assert_allclose, assert_array_equal
from scipy import sparse

from sklearn_bn.preprocessing import _dense
from sklearn_bn.preprocessing._dense import moments as dense_moments
from sklearn_bn.preprocessing._sparse import moments as sparse_moments
from sklearn_bn.preprocessing._threads import run_on_blocks
from sklearn_bn.utils._stats import (
    Moments,
    empty_moments,
    exponential_average,
    is_constant,
    merge_moments,
    moments_variance,
)


def _assert_moments_close(actual, desired, rtol=1e-12):
    assert_allclose(actual.count, desired.count, rtol=rtol)
    assert_allclose(actual.mean, desired.mean, rtol=rtol, atol=1e-12)
    assert_allclose(actual.m2, desired.m2, rtol=rtol, atol=1e-10)


def test_dense_moments_equal_numpy():
    X = np.random.default_rng(0).normal(size=(500, 4)) * [1, 10, 100, 1000]
    moments = dense_moments(X)
    assert_array_equal(moments.count, [500.0] * 4)
    assert_allclose(moments.mean, X.mean(axis=0), rtol=1e-13)
    assert_allclose(moments.m2, ((X - X.mean(axis=0)) ** 2).sum(axis=0), rtol=1e-12)


def test_dense_moments_span_many_blocks(monkeypatch):

    X = np.random.default_rng(1).normal(size=(1000, 3)) + 5
    whole = dense_moments(X)
    monkeypatch.setattr(_dense, "BLOCK_VALUES", 7)
    _assert_moments_close(dense_moments(X), whole)


def test_merge_of_two_halves_equals_the_whole():
    X = np.random.default_rng(2).normal(size=(101, 3)) * 3 + 7
    merged = merge_moments(dense_moments(X[:40]), dense_moments(X[40:]))
    _assert_moments_close(merged, dense_moments(X))


def test_empty_moments_are_the_neutral_element():
    X = np.random.default_rng(3).normal(size=(10, 2))
    moments = dense_moments(X)
    _assert_moments_close(merge_moments(empty_moments(2), moments), moments)
    _assert_moments_close(merge_moments(moments, empty_moments(2)), moments)


@settings(max_examples=50, deadline=None)
@given(
    X=arrays(np.float64, (12, 2), elements=st.floats(-1e3, 1e3)),
    first=st.integers(1, 11),
)
def test_property_merge_is_commutative(X, first):
    a, b = dense_moments(X[:first]), dense_moments(X[first:])
    _assert_moments_close(merge_moments(a, b), merge_moments(b, a), rtol=1e-9)


def test_weighted_moments_use_weights_as_frequencies():
    X = np.array([[1.0], [2.0], [4.0]])
    moments = dense_moments(X, np.array([2.0, 0.0, 1.0]))
    repeated = dense_moments(np.array([[1.0], [1.0], [4.0]]))
    _assert_moments_close(moments, repeated)


def test_nan_is_left_out_of_count_mean_and_m2():
    X = np.array([[1.0, np.nan], [3.0, np.nan], [np.nan, 5.0]])
    moments = dense_moments(X)
    assert_array_equal(moments.count, [2.0, 1.0])
    assert_allclose(moments.mean, [2.0, 5.0])
    assert_allclose(moments.m2, [2.0, 0.0])


def test_all_nan_feature_has_zero_count_and_nan_mean():
    moments = dense_moments(np.array([[np.nan, 1.0], [np.nan, 2.0]]))
    assert moments.count[0] == 0 and np.isnan(moments.mean[0])


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("weighted", [False, True])
def test_sparse_moments_equal_dense_moments(fmt, weighted):
    rng = np.random.default_rng(4)
    X = sparse.random(60, 5, density=0.3, format=fmt, random_state=4) * 5
    X.data[::7] = np.nan
    weights = rng.uniform(0, 2, size=60) if weighted else None
    _assert_moments_close(
        sparse_moments(X, weights), dense_moments(X.toarray(), weights)
    )


def test_variance_divides_by_count_minus_ddof():
    X = np.arange(6.0).reshape(3, 2)
    moments = dense_moments(X)
    assert_allclose(moments_variance(moments, 0), X.var(axis=0))
    assert_allclose(moments_variance(moments, 1), X.var(axis=0, ddof=1))


def test_exponential_average_uses_the_pytorch_convention():
    running, batch = np.array([0.0, 10.0]), np.array([10.0, 20.0])
    assert_allclose(exponential_average(running, batch, 0.1), [1.0, 11.0])


def test_exponential_average_initialises_unseen_and_keeps_absent_features():
    running, batch = np.array([np.nan, 4.0]), np.array([3.0, np.nan])
    assert_array_equal(exponential_average(running, batch, 0.1), [3.0, 4.0])


def test_is_constant_flags_rounding_noise_only():
    rounding = np.array([0.3, 0.1 + 0.2, 0.3, 0.1 + 0.2])
    spread = 1e9 + np.array([-1e-3, 1e-3])
    for values, expected in [(rounding, True), (spread, False)]:
        var, mean = np.var(values), np.mean(values)
        assert bool(is_constant(var, mean, len(values))) is expected


def test_dense_moments_stay_accurate_on_drifting_rows(monkeypatch):

    # Sorted, strongly drifting data: a far-away shift would lose digits.
    rng = np.random.default_rng(5)
    X = (np.linspace(0, 1e8, 20_000)[:, None] + rng.normal(size=(20_000, 2))) * [
        1.0,
        -1.0,
    ]
    monkeypatch.setattr(_dense, "BLOCK_VALUES", 64)
    moments = dense_moments(X)
    assert_allclose(moments.mean, X.mean(axis=0), rtol=1e-13)
    assert_allclose(moments.m2 / 20_000, X.var(axis=0), rtol=1e-11)


@pytest.mark.parametrize("n_threads", [2, 3])
def test_dense_moments_with_threads_equal_serial_bit_for_bit(n_threads, monkeypatch):
    # 20 chunks of 1000 rows: the threads share them, the merge order stays.
    monkeypatch.setattr(_dense, "_CHUNK_BYTES", 8 * 3_000)
    X = np.random.default_rng(6).normal(size=(20_000, 3)) + 4
    X[::97, 1] = np.nan
    w = np.random.default_rng(7).uniform(size=20_000)
    serial = dense_moments(X, w)
    threaded = dense_moments(X, w, n_threads=n_threads)
    for actual, desired in zip(threaded, serial, strict=True):
        assert_array_equal(actual, desired)
    present = ~np.isnan(X)
    mean = (w @ np.where(present, X, 0)) / (w @ present)
    m2 = w @ np.where(present, (X - mean) ** 2, 0)
    _assert_moments_close(serial, Moments(w @ present, mean, m2))


def test_run_on_blocks_returns_results_in_row_order():
    results = run_on_blocks(lambda start: start, 1000, 7, n_threads=3)
    assert results == list(range(0, 1000, 7))


def test_run_on_blocks_stops_taking_blocks_after_an_error():
    import threading
    import time

    done, release = [], threading.Event()

    def work(start):
        if start == 0:
            release.wait(5)
            raise ValueError("bad block")
        time.sleep(0.001)  # lets the failing thread run
        done.append(start)
        if len(done) == 3:
            release.set()
        return start

    with pytest.raises(ValueError, match="bad block"):
        run_on_blocks(work, 1000, 1, n_threads=2)
    # Without the stop the other thread would go on through all 999 blocks;
    # the bound leaves the failing thread half a second to be scheduled.
    assert 3 <= len(done) < 500


def test_run_on_blocks_never_waits_on_a_busy_helper():
    # Work that itself runs on blocks: the helper pool (one thread on two
    # cores) is busy with the outer call, and the inner calls go on in their
    # callers' threads rather than waiting for a free helper.
    def inner(start):
        return sum(run_on_blocks(lambda s: s, 100, 10, n_threads=2)) + start

    assert run_on_blocks(inner, 8, 1, n_threads=4) == [450 + s for s in range(8)]


def test_run_on_blocks_raises_a_helpers_error():
    import threading
    import time

    caller = threading.get_ident()

    def work(start):
        if threading.get_ident() != caller:
            raise ValueError("helper failed")
        time.sleep(0.01)  # leaves blocks for the helper
        return start

    with pytest.raises(ValueError, match="helper failed"):
        run_on_blocks(work, 20, 1, n_threads=2)


def test_run_on_blocks_in_a_forked_child():
    # A child made by fork has none of the parent's helper threads: it must
    # make its own pool, not queue work for threads that do not exist.
    import multiprocessing

    run_on_blocks(lambda start: start, 10, 1, n_threads=2)  # the parent's pool
    context = multiprocessing.get_context("fork")
    with context.Pool(1) as pool:
        result = pool.apply_async(run_on_blocks, (abs, 10, 1), {"n_threads": 2}).get(
            timeout=30
        )
    assert result == list(range(10))


@settings(max_examples=60, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 40), st.integers(1, 6)),
    density=st.floats(0.0, 1.0),
    offset=st.sampled_from([0.0, 1.0, -1e3, 1e6]),
    weighted=st.booleans(),
    fmt=st.sampled_from(["csr", "csc"]),
    seed=st.integers(0, 2**16),
)
def test_property_sparse_moments_equal_dense_moments(
    shape, density, offset, weighted, fmt, seed
):
    rng = np.random.default_rng(seed)
    stored = rng.random(shape) < density
    dense = np.where(stored, rng.normal(size=shape) + offset, 0.0)
    dense[stored & (rng.random(shape) < 0.1)] = np.nan
    weights = rng.integers(0, 4, size=shape[0]).astype(float) if weighted else None
    if weights is not None and not weights.any():
        weights[0] = 1.0
    X = sparse.csr_matrix(dense).asformat(fmt)
    ours = sparse_moments(X, weights)
    theirs = dense_moments(dense, weights)
    assert_array_equal(ours.count, theirs.count)
    for a, b in zip(ours[1:], theirs[1:], strict=True):
        assert_array_equal(np.isnan(a), np.isnan(b))
        assert_allclose(a, b, rtol=1e-12, atol=1e-12 * max(1.0, abs(offset)))


def test_chunk_records_merge_at_once_to_the_exact_moments():
    # The records of 12 chunks of rows, as the CSR kernel leaves them (shift:
    # the chunk's first value; shifted sums, squares, weight): column 0 far
    # from zero, column 1 only in some chunks, column 2 in none.
    from fractions import Fraction

    from sklearn_bn.preprocessing._sparse import _FIELDS, _merge_stored_moments

    rng = np.random.default_rng(0)
    columns = [1e6 + rng.normal(size=600), rng.normal(size=600) * 5 - 3, None]
    present = [np.ones(600, bool), np.repeat(rng.random(12) < 0.5, 50), None]
    present[1][:50] = False  # not in the first chunk: the reference moves
    parts = []
    for chunk in range(12):
        records = np.zeros((3, _FIELDS))
        records[:, 0] = np.nan
        for j in (0, 1):
            values = columns[j][chunk * 50 : (chunk + 1) * 50]
            values = values[present[j][chunk * 50 : (chunk + 1) * 50]]
            if values.size:
                records[j, :4] = [
                    values[0],
                    (values - values[0]).sum(),
                    ((values - values[0]) ** 2).sum(),
                    values.size,
                ]
        parts.append(records)
    count, mean, m2 = _merge_stored_moments(np.stack(parts))
    for j in (0, 1):
        values = [Fraction(v) for v in columns[j][present[j]]]
        exact_mean = sum(values) / len(values)
        exact_m2 = sum((v - exact_mean) ** 2 for v in values)
        assert count[j] == len(values)
        assert mean[j] == pytest.approx(float(exact_mean), rel=1e-15)
        assert m2[j] == pytest.approx(float(exact_m2), rel=1e-11)
    assert count[2] == 0
