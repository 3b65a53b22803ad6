"""The compiled one-pass kernels give what the numpy code paths give."""

import math
import os
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import sparse

from sklearn_bn import BatchNormScaler
from sklearn_bn.preprocessing import _dense, _native, _sparse

KERNELS_BUILT = _native.kernels is not None


def test_kernels_are_built_in_ci():
    # Without a C compiler the build falls back to numpy silently; CI has one,
    # so a missing kernel there is a broken build, not a skipped test.
    if os.environ.get("CI") and not KERNELS_BUILT:
        pytest.fail(
            "sklearn_bn.preprocessing._kernels was not built: check the C build output"
        )


requires_kernels = pytest.mark.skipif(
    not KERNELS_BUILT, reason="built without the compiled kernels"
)


def use_numpy_path(monkeypatch):
    """The numpy fallback for the rest of the test: the tests' one kernel switch."""
    monkeypatch.setattr(_native, "kernels", None)


@pytest.fixture(params=["kernels", "numpy"])
def code_path(request, monkeypatch):
    """Runs a test on the compiled kernels, then on the numpy fallback."""
    if request.param == "kernels" and not KERNELS_BUILT:
        pytest.skip("built without the compiled kernels")
    if request.param == "numpy":
        use_numpy_path(monkeypatch)
    return request.param


_SUMS_SCRIPT = """
import hashlib, numpy as np
from sklearn_bn.preprocessing import _native
rng = np.random.default_rng(3)
digest = hashlib.sha256()
for n_features in [1, 7, 8, 9, 70, 100, 255, 300, 511, 1000]:
    for dtype in [np.float64, np.float32]:
        X = (rng.normal(size=(203, n_features)) * 7 + 1e3).astype(dtype)
        totals = np.zeros((2, n_features))
        _native.kernels.shifted_sums(X, X[1].astype(np.float64), None, *totals)
        digest.update(totals.tobytes())
print(_native.kernels.variant(), digest.hexdigest())
"""


@requires_kernels
@pytest.mark.skipif(
    KERNELS_BUILT and _native.kernels.variant() != "avx512",
    reason="the processor has no AVX-512: the kernels have one path here",
)
def test_avx512_and_avx2_sums_have_the_same_bits():
    def run(**env):
        return subprocess.run(
            [sys.executable, "-c", _SUMS_SCRIPT],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()

    with_avx512 = run()
    without = run(SKLEARN_BN_NO_AVX512="1")
    assert with_avx512[0] == "avx512" and without[0] == "avx2"
    assert with_avx512[1] == without[1]


def _data(dtype, n_features=7, seed=0):
    # 7 features: the kernels take rows of 9 rows at once; 70: one row each.
    rng = np.random.default_rng(seed)
    scale = np.resize([1, 10, 100, 0.1, 1, 1, 5], n_features)
    shift = np.resize([3, -2, 50, 0, 1, 9, -4], n_features)
    X = rng.normal(size=(30_001, n_features)) * scale + shift
    X[rng.random(X.shape) < 0.001] = np.nan
    return X.astype(dtype)


def _with_and_without(monkeypatch, compute):
    with_kernel = compute()
    use_numpy_path(monkeypatch)
    return with_kernel, compute()


@requires_kernels
@pytest.mark.parametrize("n_features", [7, 70])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weighted", [False, True])
def test_kernel_moments_equal_numpy_moments(monkeypatch, dtype, weighted, n_features):
    X = _data(dtype, n_features)
    w = np.random.default_rng(1).uniform(0, 2, len(X)) if weighted else None
    kernel, numpy = _with_and_without(monkeypatch, lambda: _dense.moments(X, w))
    assert_allclose(kernel.count, numpy.count, rtol=1e-14)
    # Relative to each feature's spread: some means are near zero.
    scale = np.abs(numpy.mean) + np.sqrt(numpy.m2 / numpy.count)
    assert np.all(np.abs(kernel.mean - numpy.mean) <= 1e-13 * scale)
    assert_allclose(kernel.m2, numpy.m2, rtol=1e-12)


@requires_kernels
@pytest.mark.parametrize("n_features", [7, 70])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("center", [False, True])
def test_kernel_affine_map_equals_numpy(monkeypatch, dtype, center, n_features):
    X = _data(dtype, n_features)
    factor = np.linspace(0.5, 2, n_features)
    offset = np.linspace(-1, 1, n_features)
    mean = np.nanmean(X, axis=0) if center else None

    def compute():
        return _dense.affine_map(X, np.empty_like(X), factor, offset, center=mean)

    kernel, numpy = _with_and_without(monkeypatch, compute)
    assert kernel.dtype == dtype
    assert_array_equal(np.isnan(kernel), np.isnan(X))
    assert_allclose(kernel, numpy, rtol=1e-6 if dtype == np.float32 else 1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_finds_an_infinity_in_the_last_block(dtype):
    X = _data(dtype)
    X[-1, 3] = -np.inf
    with pytest.raises(ValueError, match="Input X contains infinity"):
        _dense.affine_map(X, np.empty_like(X), np.ones(7), np.zeros(7))


def test_fortran_ordered_input_takes_the_numpy_path():
    X = np.asfortranarray(_data(np.float64))
    scaler = BatchNormScaler().fit(X)
    reference = BatchNormScaler().fit(np.ascontiguousarray(X))
    assert_allclose(scaler.var_, reference.var_, rtol=1e-12)
    assert_allclose(scaler.transform(X), reference.transform(X), rtol=1e-12, atol=1e-12)


def test_scaler_on_either_code_path_gives_the_numpy_formulas(code_path):
    X = _data(np.float64)
    scaler = BatchNormScaler().fit(X)
    assert_allclose(scaler.mean_, np.nanmean(X, axis=0), rtol=1e-13)
    assert_allclose(scaler.var_, np.nanvar(X, axis=0), rtol=1e-12)
    assert_allclose(
        scaler.transform(X),
        (X - scaler.mean_) / np.sqrt(scaler.var_ + 1e-5),
        rtol=1e-12,
        atol=1e-12,
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_blocks_keep_float64_accuracy(dtype):
    # Millions of rows: the kernels sum long runs of rows before merging.
    rng = np.random.default_rng(3)
    X = (rng.normal(size=(2_000_000, 3)) * [1.0, 1e-3, 50.0] + [0.5, 1e3, -7.0]).astype(
        dtype
    )
    moments = _dense.moments(X, n_threads=2)
    # Exactly rounded sums (numpy's own var is off by 7e-12 on column 1,
    # whose mean is 1e6 standard deviations from zero).
    for j, column in enumerate(X.astype(np.float64).T):
        mean = math.fsum(column) / len(column)
        dev = column - mean
        var = (math.fsum(dev * dev) - math.fsum(dev) ** 2 / len(column)) / len(column)
        assert moments.mean[j] == pytest.approx(mean, rel=1e-13)
        assert moments.m2[j] / len(X) == pytest.approx(var, rel=1e-12)


def _exact_moments(column):
    """Mean and variance of the non-NaN values, from exactly rounded sums."""
    values = column[~np.isnan(column)].astype(np.float64)
    mean = math.fsum(values) / len(values)
    dev = values - mean
    var = (math.fsum(dev * dev) - math.fsum(dev) ** 2 / len(values)) / len(values)
    return mean, var


def _count_calls(monkeypatch, name):
    calls = []
    original = getattr(_dense, name)

    def counted(*args, **kwargs):
        calls.append(name)
        return original(*args, **kwargs)

    monkeypatch.setattr(_dense, name, counted)
    return calls


@requires_kernels
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weighted", [False, True])
def test_blocks_with_nan_are_summed_by_the_kernel(monkeypatch, dtype, weighted):
    # 40 blocks, each with NaN, the first row too: the kernel that skips NaN
    # sums them all, and no block falls back to the two-pass numpy path.
    monkeypatch.setattr(_dense, "BLOCK_VALUES", 500 // _dense._KERNEL_BLOCK_FACTOR)
    X = _data(dtype, n_features=5)[:4000]
    X[np.random.default_rng(3).random(X.shape) < 0.02] = np.nan
    X[0, [1, 3]] = np.nan
    w = np.random.default_rng(2).uniform(0, 2, len(X)) if weighted else None
    careful = _count_calls(monkeypatch, "_two_pass_moments")
    kernel = _dense.moments(X, w)
    assert careful == []
    use_numpy_path(monkeypatch)
    numpy = _dense.moments(X, w)
    assert len(careful) > 40
    assert_allclose(kernel.count, numpy.count, rtol=1e-14)
    assert_allclose(kernel.mean, numpy.mean, rtol=1e-12, atol=1e-12)
    assert_allclose(kernel.m2, numpy.m2, rtol=1e-12)


def test_nan_in_the_first_rows_keeps_precision_far_from_zero(monkeypatch, code_path):
    # Means 1e6 standard deviations from zero. Column 0 is NaN in the first
    # row, column 1 in the whole first block: a shift of 0 there would leave
    # 4 digits of the variance. (Merging moments whose means are rounded at
    # 1e6 costs about 1e-11.)
    monkeypatch.setattr(_dense, "BLOCK_VALUES", 3 * 256 // _dense._KERNEL_BLOCK_FACTOR)
    # 10 chunks of 2000 rows, for the threads to share and merge.
    monkeypatch.setattr(_dense, "_CHUNK_BYTES", 8 * 3 * 2000)
    rng = np.random.default_rng(4)
    X = rng.normal(size=(20_000, 3)) + [1e6, -1e6, 1e6]
    X[0, 0] = np.nan
    X[:300, 1] = np.nan
    X[rng.random(len(X)) < 0.01, 2] = np.nan
    moments = _dense.moments(X, n_threads=2)
    for j in range(3):
        mean, var = _exact_moments(X[:, j])
        assert moments.mean[j] == pytest.approx(mean, rel=1e-15)
        assert moments.m2[j] / moments.count[j] == pytest.approx(var, rel=1e-10)


def test_a_column_of_nan_only_has_no_moments(monkeypatch):
    monkeypatch.setattr(_dense, "BLOCK_VALUES", 7 * 1000 // _dense._KERNEL_BLOCK_FACTOR)
    X = _data(np.float64)
    X[:, 2] = np.nan
    careful = _count_calls(monkeypatch, "_two_pass_moments")
    moments = _dense.moments(X)
    assert moments.count[2] == 0
    assert np.isnan(moments.mean[2]) and np.isnan(moments.m2[2])
    others = [0, 1, 3, 4, 5, 6]
    assert_allclose(moments.mean[others], np.nanmean(X[:, others], axis=0), rtol=1e-13)
    assert_allclose(
        moments.m2[others] / moments.count[others],
        np.nanvar(X[:, others], axis=0),
        rtol=1e-12,
    )
    if KERNELS_BUILT:
        # The kernel that skips NaN sums the other columns of all 31 blocks.
        assert careful == []


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fit_finds_an_infinity_after_blocks_with_nan(monkeypatch, dtype):
    monkeypatch.setattr(_dense, "BLOCK_VALUES", 700 // _dense._KERNEL_BLOCK_FACTOR)
    X = _data(dtype)
    X[-1, 4] = np.inf
    with pytest.raises(ValueError, match="Input X contains infinity"):
        _dense.moments(X)


@requires_kernels
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_transform_of_nan_takes_no_second_pass(monkeypatch, dtype):
    # The kernel flags infinities only: NaN needs no numpy check afterwards.
    X = _data(dtype)
    checks = _count_calls(monkeypatch, "check_no_infinity")
    out = _dense.affine_map(X, np.empty_like(X), np.full(7, 2.0), np.ones(7))
    assert checks == []
    assert_array_equal(np.isnan(out), np.isnan(X))
    assert_allclose(out, 2 * X + 1, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_scale_entries_equals_a_gather(code_path, dtype, index_dtype):
    rng = np.random.default_rng(5)
    # More entries than one numpy block, and a NaN, which stays NaN.
    data = rng.normal(size=100_003).astype(dtype)
    data[17] = np.nan
    indices = rng.integers(0, 40, size=data.size).astype(index_dtype)
    factor = rng.uniform(0.5, 2.0, size=40)
    expected = data * factor[indices]
    out = _sparse.scale_entries(data, indices, factor, np.empty_like(data))
    assert out.dtype == dtype
    assert_allclose(
        out, expected.astype(dtype), rtol=1e-6 if dtype == np.float32 else 1e-15
    )
    # In place: out is data.
    assert _sparse.scale_entries(data, indices, factor, data) is data
    assert_array_equal(data, out)


def test_scale_entries_refuses_a_column_index_out_of_range(code_path):
    data, indices = np.ones(5), np.array([0, 1, 2, 3, 1], dtype=np.int32)
    with pytest.raises(ValueError, match="outside .* malformed"):
        _sparse.scale_entries(data, indices, np.ones(3), np.empty(5))
    with pytest.raises(ValueError, match="outside .* malformed"):
        _sparse.scale_entries(data, -indices, np.ones(4), np.empty(5))
    # In place, nothing is written before the error.
    with pytest.raises(ValueError, match="outside .* malformed"):
        _sparse.scale_entries(data, indices, np.full(3, 2.0), data)
    assert_array_equal(data, np.ones(5))


# Sparse matrices: one-pass moments, and the scaling of CSC columns ------------


def _exact_weighted_moments(dense, weights=None):
    """Count, mean and centered sum of squares of each column, ignoring NaN,
    computed with fractions and rounded once: the reference."""
    n_rows, n_columns = dense.shape
    w = [Fraction(1)] * n_rows if weights is None else [Fraction(v) for v in weights]
    result = []
    for j in range(n_columns):
        pairs = [(Fraction(x), w[i]) for i, x in enumerate(dense[:, j]) if x == x]
        total = sum(wi for _, wi in pairs)
        if total == 0:
            result.append((0.0, np.nan, np.nan))
            continue
        mean = sum(x * wi for x, wi in pairs) / total
        m2 = sum(wi * (x - mean) ** 2 for x, wi in pairs)
        result.append((float(total), float(mean), float(m2)))
    return [np.array(column) for column in zip(*result, strict=True)]


def _awkward_sparse(dtype, seed=0):
    """A 300x7 matrix with what a sparse pass can get wrong: a fully stored
    column far from zero, explicit zeros, NaN, a column of NaN only, an empty
    column and a first row far from the data."""
    rng = np.random.default_rng(seed)
    dense = np.where(rng.random((300, 7)) < 0.3, rng.normal(size=(300, 7)) * 3, 0.0)
    dense[:, 0] = 1e6 + rng.random(300)  # every row stored, spread 1 at 1e6
    dense[:, 1] = np.where(dense[:, 1] != 0, dense[:, 1] + 1e4, 0.0)
    dense[0, 2] = 1e8  # far from the rest of the column
    dense[rng.random(300) < 0.05, 3] = np.nan
    dense[:, 4] = np.where(rng.random(300) < 0.1, np.nan, 0.0)  # NaN or implicit 0
    dense[:, 5] = 0.0  # empty
    dense = dense.astype(dtype)
    X = sparse.csr_matrix(dense)
    # Explicit zeros are stored entries of value 0: they count as zeros.
    X.data[::11] = np.where(np.isnan(X.data[::11]), np.nan, 0.0)
    return X, X.toarray()


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_sparse_moments_are_the_exact_moments_rounded(
    code_path, fmt, dtype, weighted, index_dtype
):
    X, dense = _awkward_sparse(dtype)
    X = X.asformat(fmt)
    X.indices, X.indptr = X.indices.astype(index_dtype), X.indptr.astype(index_dtype)
    weights = None
    if weighted:
        weights = np.random.default_rng(1).uniform(0.0, 3.0, size=300)
        weights[0] = 0.0  # the far first row is no sample: no shift from it
        weights[5] = 0.0
    count, mean, m2 = _sparse.moments(X, weights)
    exact = _exact_weighted_moments(dense.astype(np.float64), weights)
    assert_allclose(count, exact[0], rtol=1e-15)
    # The mean within a few units in the last place of the column's values.
    scale = np.nanmax(np.abs(dense), axis=0, initial=0.0).astype(np.float64)
    assert_array_equal(np.isnan(mean), np.isnan(exact[1]))
    assert (np.abs(mean - exact[1]) <= 1e-15 * scale)[~np.isnan(mean)].all()
    assert_allclose(m2, exact[2], rtol=1e-12, atol=0)
    # The dense moments of the same data agree to 1e-12.
    dense_moments = _dense.moments(dense.astype(np.float64), weights)
    for ours, theirs in zip((count, mean, m2), dense_moments, strict=True):
        assert_allclose(ours, theirs, rtol=1e-12)


@requires_kernels
@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_sparse_moments_have_the_same_bits_on_any_number_of_threads(fmt):
    # 1.1 million stored entries: 4 chunks of the kernels.
    X = sparse.random(110_000, 100, density=0.1, format=fmt, random_state=0)
    X.data += 50.0
    assert len(_sparse._major_chunks(X, moments=True)) > 1
    one = _sparse.moments(X, n_threads=1)
    for n_threads in [2, 3]:
        for a, b in zip(one, _sparse.moments(X, n_threads=n_threads), strict=True):
            assert_array_equal(a, b)
    dense = _dense.moments(X.toarray())
    for a, b in zip(one, dense, strict=True):
        assert_allclose(a, b, rtol=1e-12)


@requires_kernels
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_long_csc_columns_have_the_exact_moments_rounded(dtype):
    # Every row of 10001 stored: the unweighted CSC loop sums runs of 4096
    # entries in two lanes, then an odd tail. Column 1 has a NaN in its last
    # run, to be summed again entry by entry; columns 2 and 3 have a spread
    # of 1 far from zero, column 3 with a trend, so that each run's shift
    # (the mean so far) is off the next run's values.
    rng = np.random.default_rng(4)
    dense = rng.normal(size=(10_001, 4)) * [1.0, 3.0, 1.0, 1.0] + [0, -5, 1e6, 1e4]
    dense[:, 3] += np.linspace(0.0, 50.0, 10_001)
    dense[9_000, 1] = np.nan
    dense = dense.astype(dtype)
    X = sparse.csc_matrix(dense)
    assert X.nnz == dense.size
    count, mean, m2 = _sparse.moments(X)
    exact = _exact_weighted_moments(dense.astype(np.float64))
    assert_array_equal(count, exact[0])
    scale = np.nanmax(np.abs(dense), axis=0).astype(np.float64)
    assert (np.abs(mean - exact[1]) <= 1e-15 * scale).all()
    assert_allclose(m2, exact[2], rtol=1e-12, atol=0)


@requires_kernels
@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("weighted", [False, True])
def test_sparse_columns_of_huge_equal_values_have_no_variance(fmt, weighted):
    # The CSC kernel merged a column's first run into nothing with
    # 0 * delta**2, NaN for a mean beyond 1e154 (found by fuzzing). Without
    # the kernels, scikit-learn's mean_variance_axis has the same trouble.
    dense = np.array([[1e300, 1.0], [1e300, 2.0], [1e300, 4.0]])
    weights = np.array([1.0, 2.0, 0.5]) if weighted else None
    X = getattr(sparse, f"{fmt}_matrix")(dense)
    scaler = BatchNormScaler(with_mean=False).fit(X, sample_weight=weights)
    reference = BatchNormScaler(with_mean=False).fit(dense, sample_weight=weights)
    assert_array_equal(scaler.mean_[0], 1e300)
    assert_array_equal(scaler.var_[0], 0.0)
    assert_allclose(scaler.var_, reference.var_, rtol=1e-12)


@requires_kernels
@pytest.mark.parametrize("position", [100, 101])
def test_csc_duplicates_at_either_lane_count_as_their_sum(position):
    # Column 1 stores a row twice, at an even or an odd entry: one lane of
    # the unweighted loop or the other sees the row index not increase, the
    # loop that checks each entry says so, and the caller sums the matrix's
    # duplicates in a copy.
    X = sparse.csc_matrix(np.random.default_rng(5).normal(size=(300, 3)) + 10)
    k = X.indptr[1] + position
    assert k % 2 == position % 2  # column 0 stores all 300 rows
    X.indices[k + 1] = X.indices[k]
    assert not X.has_canonical_format
    count, mean, m2 = _sparse.moments(X)
    dense = X.toarray()  # sums the duplicates
    assert dense[X.indices[k], 1] == X.data[k] + X.data[k + 1]
    assert_array_equal(count, [300, 300, 300])
    assert_allclose(mean, dense.mean(axis=0), rtol=1e-14)
    assert_allclose(m2, dense.var(axis=0) * 300, rtol=1e-12)


@requires_kernels
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_csr_moments_have_the_bits_of_unit_weights(dtype):
    # Without weights the CSR kernel scatters into compact records until a
    # NaN, then hands over to the loop that handles NaN; with weights of 1
    # that loop does it all, with the same arithmetic: the same bits, with
    # NaN first in a column or later, in the first chunk or at the last's end.
    X = sparse.random(5_000, 40, density=0.2, format="csr", random_state=6)
    X.data += 1e3
    X.data[[0, 17, 3_000, X.nnz // 2, X.nnz - 1]] = np.nan
    X = X.astype(dtype)
    unweighted = _sparse.moments(X)
    weighted = _sparse.moments(X, np.ones(X.shape[0]))
    for a, b in zip(unweighted, weighted, strict=True):
        assert_array_equal(a, b)
    dense = _exact_weighted_moments(X.toarray().astype(np.float64))
    assert_allclose(unweighted.m2, dense[2], rtol=1e-12)


@requires_kernels
def test_sparse_moments_kernel_sums_unsorted_csc_duplicates():
    # Column 0 stores row 2, then row 0 twice: the kernel sees the order is
    # not increasing and the caller sums the duplicates in a copy.
    X = sparse.csc_matrix(
        (np.array([5.0, 1.0, 2.0, 7.0]), np.array([2, 0, 0, 1]), np.array([0, 3, 4])),
        shape=(3, 2),
    )
    before = X.data.copy()
    count, mean, m2 = _sparse.moments(X)
    dense = X.toarray()
    assert_allclose(mean, dense.mean(axis=0), rtol=1e-15)
    assert_allclose(m2, dense.var(axis=0) * 3, rtol=1e-15)
    assert_array_equal(X.data, before)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_csc_scaling_equals_a_gather(code_path, dtype, index_dtype):
    X = sparse.random(500, 30, density=0.2, format="csc", random_state=3, dtype=dtype)
    X.indices = X.indices.astype(index_dtype)
    X.indptr = X.indptr.astype(index_dtype)
    X.data[5] = np.nan
    factor = np.random.default_rng(0).uniform(-2, 2, size=30)
    out = _sparse.affine_map(X, None, factor, np.zeros(30))
    expected = X.toarray().astype(np.float64) * factor
    assert out.dtype == dtype and out.format == "csc"
    assert_allclose(out.toarray(), expected.astype(dtype), rtol=1e-6, equal_nan=True)
    # A new matrix shares no array with X.
    for name in ["data", "indices", "indptr"]:
        assert not np.shares_memory(getattr(out, name), getattr(X, name))
    assert_array_equal(out.indices, X.indices)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("copy", [True, False])
def test_sparse_transform_finds_an_infinity_and_keeps_x(code_path, fmt, copy):
    # validate_data does not look for infinities in sparse input: the pass
    # that scales the entries finds them, before X is changed.
    scaler = BatchNormScaler(with_mean=False).fit(sparse.eye(4, format=fmt) * 2)
    X = sparse.random(4, 4, density=0.5, format=fmt, random_state=0)
    X.data[-1] = np.inf
    before = X.data.copy()
    with pytest.raises(ValueError, match="Input X contains infinity"):
        scaler.transform(X, copy=copy)
    assert_array_equal(X.data, before)
    with pytest.raises(ValueError, match="Input X contains infinity"):
        BatchNormScaler(with_mean=False).fit(X)


@requires_kernels
def test_sparse_kernels_refuse_inconsistent_arguments():
    X = sparse.random(20, 5, density=0.5, format="csc", random_state=0)
    records = np.zeros((5, 8))
    with pytest.raises(ValueError, match="records must have shape"):
        _native.kernels.sparse_moments(
            X.data, X.indices, X.indptr, 0, 5, 20, None, records[:4], True
        )
    with pytest.raises(ValueError, match="range of indptr"):
        _native.kernels.sparse_moments(
            X.data, X.indices, X.indptr, 0, 6, 20, None, records, True
        )
    with pytest.raises(ValueError, match="same dtype"):
        _native.kernels.sparse_moments(
            X.data, X.indices.astype(np.int64), X.indptr, 0, 5, 20, None, records, True
        )
    with pytest.raises(ValueError, match="weights must have 20 items"):
        _native.kernels.sparse_moments(
            X.data, X.indices, X.indptr, 0, 5, 20, np.ones(3), records, True
        )
    with pytest.raises(ValueError, match="out must be a new array"):
        _native.kernels.scale_columns(
            X.data, X.indices, X.indptr, 0, 5, 20, np.ones(5), X.data
        )
