"""Bad and extreme input: each gives the right numbers or a clear error.

Every test here is one promise: a result that is representable in the output
dtype is computed, one that is not is refused with a message that says what
to change, and a refused call leaves the fitted state as it was. What could
crash the interpreter (malformed sparse matrices, buffers of the wrong kind
handed to the compiled kernels) runs in a subprocess.
"""

import os
import re
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose, assert_array_equal
from scipy import sparse
from sklearn.preprocessing import StandardScaler

from sklearn_bn import BatchNormScaler
from sklearn_bn.preprocessing import _native

KERNELS_BUILT = _native.kernels is not None


@pytest.fixture(params=["kernels", "numpy"])
def code_path(request, monkeypatch):
    """Runs a test on the compiled kernels, then on the numpy fallback."""
    if request.param == "kernels" and not KERNELS_BUILT:
        pytest.skip("built without the compiled kernels")
    if request.param == "numpy":
        monkeypatch.setattr(_native, "kernels", None)
    return request.param


def _state(scaler):
    """The fitted state, to compare before and after a refused call."""
    params = scaler.get_params()
    return {
        name: np.array(value, copy=True) if isinstance(value, np.ndarray) else value
        for name, value in vars(scaler).items()
        if name not in params
    }


def _assert_same_state(before, after):
    assert before.keys() == after.keys()
    for name, value in before.items():
        if isinstance(value, np.ndarray):
            assert_array_equal(value, after[name], err_msg=name)
        else:
            assert value == after[name], name


def _run_python(code, env=None):
    """Run code in a fresh interpreter; a crash shows as a negative return code.

    ``env``: variables to set there, on top of this process's.
    """
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        env=None if env is None else {**os.environ, **env},
    )


# Dask sample weights (defect 1)


@pytest.fixture
def dask_array():
    da = pytest.importorskip("dask.array")
    X = np.random.default_rng(0).normal(size=(40, 3)) * [1, 10, 100] + [0, 5, -7]
    return X, da.from_array(X, chunks=(10, 3))


@pytest.mark.parametrize("make", ["ones", "full"])
def test_dask_broadcast_weights_equal_numpy_weights(dask_array, make):
    da = pytest.importorskip("dask.array")
    X, dX = dask_array
    # da.ones and da.full give chunks that are broadcast arrays, of stride 0.
    weights = da.ones(40, chunks=10) if make == "ones" else da.full(40, 2.5, chunks=10)
    ours = BatchNormScaler().fit(dX, sample_weight=weights)
    ref = BatchNormScaler().fit(X, sample_weight=weights.compute())
    assert_allclose(ours.mean_, ref.mean_, rtol=1e-12)
    assert_allclose(ours.var_, ref.var_, rtol=1e-12)


def test_dask_all_zero_weights_are_refused_as_in_numpy(dask_array):
    da = pytest.importorskip("dask.array")
    _, dX = dask_array
    with pytest.raises(ValueError, match="at least one non-zero"):
        BatchNormScaler().fit(dX, sample_weight=da.zeros(40, chunks=10))


def test_dask_momentum_chunk_of_zero_weights_is_refused_as_in_partial_fit(
    dask_array,
):
    da = pytest.importorskip("dask.array")
    X, dX = dask_array
    weights = np.ones(40)
    weights[10:20] = 0.0
    with pytest.raises(ValueError, match="at least one non-zero"):
        scaler = BatchNormScaler(momentum=0.1)
        for start in range(0, 40, 10):
            scaler.partial_fit(
                X[start : start + 10], sample_weight=weights[start:][:10]
            )
    with pytest.raises(ValueError, match=r"at least one non-zero.*row chunk 1"):
        BatchNormScaler(momentum=0.1).fit(
            dX, sample_weight=da.from_array(weights, chunks=10)
        )


# Overflow of pooled statistics (defect 2)


@pytest.mark.parametrize("container", [np.asarray, sparse.csr_matrix])
def test_partial_fit_refuses_a_pooled_variance_that_overflows(container):
    scaler = BatchNormScaler(with_mean=container is np.asarray)
    scaler.partial_fit(container(np.full((100, 1), 1e153)))
    before = _state(scaler)
    with pytest.raises(ValueError, match=r"features \[0\] overflows float64 pooled"):
        scaler.partial_fit(container(np.full((100, 1), -1e153)))
    _assert_same_state(before, _state(scaler))
    # fit on the same data stacked says the same.
    with pytest.raises(ValueError, match=r"features \[0\] overflows float64"):
        scaler.fit(np.vstack([np.full((100, 1), 1e153), np.full((100, 1), -1e153)]))


# Malformed sparse matrices (defect 3)

_MALFORMED = """
import numpy as np
from scipy import sparse
from sklearn_bn import BatchNormScaler

fitted = BatchNormScaler(with_mean=False).fit(np.eye(3) + 1)
data, ones = np.array([1.0, 2.0, 3.0]), np.array([0, 1, 2, 3])
bad = {
    "csr index": sparse.csr_matrix((data, np.array([0, 7, 1]), ones), shape=(3, 3)),
    "csr negative": sparse.csr_matrix((data, np.array([0, -1, 1]), ones), shape=(3, 3)),
    "csc index": sparse.csc_matrix((data, np.array([0, 9, 1]), ones), shape=(3, 3)),
    "indptr": sparse.csr_matrix((data, np.array([0, 1, 2]), ones), shape=(3, 3)),
}
bad["indptr"].indptr = np.array([0, 2, 1, 3], dtype=bad["indptr"].indptr.dtype)
bad["csc indptr"] = sparse.csc_matrix((data, np.array([0, 1, 2]), ones), shape=(3, 3))
bad["csc indptr"].indptr = np.array([0, 2, 1, 3], dtype=bad["csc indptr"].indices.dtype)
bad["csc unsorted, then bad indptr"] = sparse.csc_matrix(
    (data, np.array([2, 0, 1]), np.array([0, 2, 2, 3])), shape=(3, 3)
)
bad["csc unsorted, then bad indptr"].indptr = np.array(
    [0, 2, 3, 1], dtype=bad["csc unsorted, then bad indptr"].indices.dtype
)
for name, X in bad.items():
    for method in ["fit", "partial_fit", "transform", "inverse_transform"]:
        scaler = BatchNormScaler(with_mean=False) if "fit" in method else fitted
        try:
            getattr(scaler, method)(X)
        except ValueError as error:
            assert "malformed" in str(error), (name, method, error)
        else:
            raise AssertionError(f"{name}: {method} accepted a malformed matrix")
print("refused")
"""


def test_malformed_sparse_input_is_refused_without_a_crash():
    result = _run_python(_MALFORMED)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "refused"


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_duplicate_sparse_entries_count_as_their_sum(fmt):
    # 3x2; the entry at row 0, column 0 is stored twice, as 1 and 1.
    if fmt == "csr":
        structure = np.array([0, 0, 1, 0, 1]), np.array([0, 3, 4, 5])
    else:
        structure = np.array([0, 0, 1, 0, 2]), np.array([0, 3, 5])
    data = np.array([1.0, 1.0, 4.0, 2.0, 3.0] if fmt == "csc" else [1, 1, 2, 4, 3.0])
    X = getattr(sparse, f"{fmt}_matrix")((data, *structure), shape=(3, 2))
    assert not X.has_canonical_format
    dense = X.toarray()
    assert dense[0, 0] == 2.0
    scaler = BatchNormScaler(with_mean=False, epsilon=0.0).fit(X)
    assert_allclose(scaler.var_, dense.var(axis=0), rtol=1e-14)
    assert_allclose(scaler.mean_, dense.mean(axis=0), rtol=1e-14)
    assert_allclose(scaler.transform(X).toarray(), scaler.transform(dense))


# Sparse layouts that scipy accepts (issue 22, defects 10 and 11)


def _strided(array):
    """A view of ``array`` with a stride of two items."""
    buffer = np.zeros(2 * array.size, dtype=array.dtype)
    buffer[::2] = array
    return buffer[::2]


_LAYOUTS = {
    "strided indices": lambda X: setattr(X, "indices", _strided(X.indices)),
    "strided data": lambda X: setattr(X, "data", _strided(X.data)),
    "strided indptr": lambda X: setattr(X, "indptr", _strided(X.indptr)),
    "int64 indices, int32 indptr": lambda X: setattr(
        X, "indices", X.indices.astype(np.int64)
    ),
    "int32 indices, int64 indptr": lambda X: setattr(
        X, "indptr", X.indptr.astype(np.int64)
    ),
    "big-endian indices": lambda X: setattr(X, "indices", X.indices.astype(">i4")),
    "uint16 indptr": lambda X: setattr(X, "indptr", X.indptr.astype(np.uint16)),
}


@pytest.mark.parametrize("layout", list(_LAYOUTS))
@pytest.mark.parametrize(
    "container", [sparse.csr_matrix, sparse.csc_matrix, sparse.csr_array]
)
def test_sparse_layouts_scipy_accepts_give_the_dense_results(
    code_path, layout, container
):
    # A CSR matrix with strided indices was fitted, then refused by
    # transform; strided data or mixed index dtypes were refused by fit.
    dense = np.array([[1.0, 0, 2], [0, 3, 0], [4, 0, np.nan], [0, 5, 6]])
    X = container(dense)
    X.indices, X.indptr = X.indices.astype(np.int32), X.indptr.astype(np.int32)
    _LAYOUTS[layout](X)
    arrays = [np.array(a, copy=True) for a in (X.data, X.indices, X.indptr)]
    scaler = BatchNormScaler(with_mean=False).fit(X)
    reference = BatchNormScaler(with_mean=False).fit(dense)
    for name in ["mean_", "var_", "n_samples_seen_"]:
        assert_allclose(getattr(scaler, name), getattr(reference, name), rtol=1e-12)
    for method in ["transform", "inverse_transform"]:
        result = getattr(scaler, method)(X)
        assert_allclose(result.toarray(), getattr(reference, method)(dense))
    scaler.partial_fit(X)
    reference.partial_fit(dense)
    assert_allclose(scaler.var_, reference.var_, rtol=1e-12)
    for array, before in zip((X.data, X.indices, X.indptr), arrays, strict=True):
        assert_array_equal(array, before)
    expected = reference.transform(dense)
    assert scaler.transform(X, copy=False) is X
    assert_allclose(X.toarray(), expected)


# Found by fuzzing the boundaries (issue 22, tests/test_fuzz_boundaries.py)

_MALFORMED_TO_CONVERT = """
import numpy as np
from scipy import sparse
from sklearn_bn import BatchNormScaler

fitted = BatchNormScaler(with_mean=False).fit(np.eye(3) + 1)
for data_dtype in [np.int64, np.bool_, ">f8"]:
    for indptr_dtype in [np.int32, np.uint32]:
        X = sparse.csr_matrix((3, 3))
        X.data = np.ones(3, dtype=data_dtype)
        X.indices = np.array([0, 1, 2], dtype=np.int32)
        X.indptr = np.array([0, 3, 1, 3], dtype=indptr_dtype)
        for method in ["fit", "partial_fit", "transform", "inverse_transform"]:
            scaler = BatchNormScaler(with_mean=False) if "fit" in method else fitted
            try:
                getattr(scaler, method)(X)
            except ValueError as error:
                assert "malformed" in str(error), (method, error)
            else:
                raise AssertionError(f"{method} accepted a malformed matrix")
print("refused")
"""


def test_malformed_sparse_input_is_refused_before_its_conversion():
    # Validation converts X to float64 with scipy's astype, which sorts its
    # entries by indptr in compiled code: a RuntimeError, or a crash. An
    # unsigned indptr that decreases was not seen to decrease.
    result = _run_python(_MALFORMED_TO_CONVERT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "refused"


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_float16_sparse_duplicates_count_as_their_sum(code_path, fmt):
    # scipy has no float16 matrices: it refused to sum their duplicates.
    X = getattr(sparse, f"{fmt}_matrix")((2, 2))
    X.data = np.array([1.0, 2.0, 4.0], dtype=np.float16)
    X.indices = np.array([0, 0, 1], dtype=np.int32)
    X.indptr = np.array([0, 2, 3], dtype=np.int32)
    dense = np.array([[3.0, 0.0], [0.0, 4.0]] if fmt == "csr" else [[3, 0], [0, 4.0]])
    scaler = BatchNormScaler(with_mean=False).fit(X)
    reference = BatchNormScaler(with_mean=False).fit(dense)
    assert_allclose(scaler.mean_, reference.mean_, rtol=1e-12)
    assert_allclose(scaler.var_, reference.var_, rtol=1e-12)


@pytest.mark.parametrize("order", ["C", "F"])
def test_rows_of_weight_zero_are_no_samples_however_large(code_path, order):
    # Without the kernels, or for an array they do not take (Fortran order),
    # 0 * (1e300 - mean)**2 made the variance NaN, and fit said it overflows.
    X = np.array([[1e300, -1e300], [1.0, 2.0], [3.0, 4.0], [5.0, 7.0]], order=order)
    weights = np.array([0.0, 1.0, 2.0, 1.0])
    scaler = BatchNormScaler().fit(X, sample_weight=weights)
    reference = BatchNormScaler().fit(X[1:], sample_weight=weights[1:])
    assert_allclose(scaler.mean_, reference.mean_, rtol=1e-14)
    assert_allclose(scaler.var_, reference.var_, rtol=1e-14)
    X[0, 1] = np.inf  # an infinity is refused wherever it is
    with pytest.raises(ValueError, match="infinity"):
        BatchNormScaler().fit(X, sample_weight=weights)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_weighted_sparse_fit_counts_every_column_alike(code_path, fmt):
    # Each column's count summed its zeros and its stored entries apart, and
    # could round differently: n_samples_seen_ was an array of near-equal
    # counts where the dense fit has one number.
    dense = np.zeros((5, 3))
    dense[[0, 3], 2] = 1.0
    weights = np.array([1.0, 1.0, 2.5, 0.001, 1.0])
    X = getattr(sparse, f"{fmt}_matrix")(dense)
    scaler = BatchNormScaler(with_mean=False).fit(X, sample_weight=weights)
    reference = BatchNormScaler(with_mean=False).fit(dense, sample_weight=weights)
    assert np.ndim(scaler.n_samples_seen_) == 0
    assert scaler.n_samples_seen_ == pytest.approx(reference.n_samples_seen_)


# float32: multipliers beyond its range, centring far from zero (defects 4, 5)


def test_float32_denormal_data_transforms_like_standard_scaler(code_path):
    X = np.array([[1e-40], [2e-40], [3e-40], [2e-40]], dtype=np.float32)
    ours = BatchNormScaler(epsilon=0.0).fit(X).transform(X)
    ref = StandardScaler().fit(X.astype(np.float64)).transform(X.astype(np.float64))
    assert ours.dtype == np.float32
    assert_allclose(ours, ref, rtol=1e-6)


def test_float32_multiplier_beyond_float32_gives_the_true_output(code_path):
    X = np.array([[0.0], [1e-30], [2e-30]], dtype=np.float32)
    scaler = BatchNormScaler(gamma=1e10, epsilon=0.0).fit(X)
    assert scaler.multiplier_[0] > np.finfo(np.float32).max
    expected = 1e10 * (X.astype(np.float64) - scaler.mean_) / np.sqrt(scaler.var_)
    assert_allclose(scaler.transform(X), expected, rtol=1e-6)
    assert_allclose(
        scaler.inverse_transform(scaler.transform(X)), X, rtol=1e-5, atol=1e-36
    )


@pytest.mark.parametrize("copy", [True, False])
def test_output_beyond_the_dtype_is_refused_and_x_kept(code_path, copy):
    X = np.array([[0.0], [1.0], [2.0]], dtype=np.float32)
    scaler = BatchNormScaler(gamma=1e38).fit(X)
    big = np.array([[0.0], [1.0], [100.0]], dtype=np.float32)
    given = big.copy()
    with pytest.raises(ValueError, match=r"features \[0\].*largest float32.*float64"):
        scaler.transform(given, copy=copy)
    # In place too, X is checked before any of it is written.
    assert_array_equal(given, big)
    # The same data as float64 is representable, and computed.
    assert np.isfinite(scaler.transform(big.astype(np.float64))).all()


def test_float64_output_beyond_its_range_is_refused(code_path):
    scaler = BatchNormScaler(gamma=1e300, epsilon=1.0).fit([[0.0], [1.0]])
    with pytest.raises(ValueError, match="largest float64.*cannot be represented"):
        scaler.transform([[1e10]])


def test_a_multiplier_that_overflows_float64_is_refused_at_fit():
    scaler = BatchNormScaler(gamma=1e300, epsilon=0.0)
    with pytest.raises(ValueError, match=r"gamma / sqrt\(var_ \+ epsilon\) overflows"):
        scaler.fit([[0.0], [1e-30]])
    assert not hasattr(scaler, "mean_")


def test_float32_far_from_zero_keeps_its_spread(code_path):
    # The issue's example: float32's spacing at 1e6 is 0.0625, so a mean
    # rounded to float32 before centring loses the whole spread.
    X = np.array([[1e6], [1e6 + 0.0625], [1e6 + 0.0625], [1e6 + 0.0625]], np.float32)
    scaler = BatchNormScaler(epsilon=0.0).fit(X)
    expected = np.array(
        [[-np.sqrt(3)], [1 / np.sqrt(3)], [1 / np.sqrt(3)], [1 / np.sqrt(3)]]
    )
    assert_allclose(scaler.transform(X), expected, rtol=1e-6)


@settings(max_examples=50, deadline=None)
@given(
    X=hnp.arrays(
        np.float32,
        hnp.array_shapes(min_dims=2, max_dims=2, min_side=2, max_side=20),
        elements=st.floats(-1e6, 1e6, width=32),
    ),
    gamma=st.floats(1e-3, 1e3),
)
def test_float32_transform_is_float64_math_rounded_once(X, gamma):
    scaler = BatchNormScaler(gamma=gamma).fit(X)
    centered = X.astype(np.float64) - scaler.mean_
    expected = centered * scaler.multiplier_ + scaler._beta
    far = np.abs(scaler.mean_) > 16 * np.sqrt(scaler.var_ + scaler.epsilon)
    expected = np.where(far, expected, X * scaler.multiplier_ + scaler.offset_)
    # One rounding to float32, beside float64 rounding of the affine form.
    tolerance = 2.0**-23 * np.abs(expected) + 1e-9 * gamma
    assert np.all(np.abs(scaler.transform(X) - expected) <= tolerance)


# copy=False and data frames (defect 6)


def test_copy_false_never_writes_into_a_pandas_frame():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [4.0, 6.0, 9.0]})
    parent = frame.copy()
    child = parent[["a", "b"]]  # may share memory with parent under copy-on-write
    kept = frame.copy(deep=True), parent.copy(deep=True)
    scaler = BatchNormScaler(copy=False).fit(frame)
    scaler.transform(frame)
    scaler.transform(child)
    scaler.inverse_transform(child)
    pd.testing.assert_frame_equal(frame, kept[0])
    pd.testing.assert_frame_equal(parent, kept[1])


def test_copy_false_still_works_in_place_on_numpy_arrays():
    X = np.array([[1.0, 4.0], [2.0, 6.0], [3.0, 9.0]])
    scaler = BatchNormScaler(copy=False).fit(X)
    out = scaler.transform(X)
    assert out is X
    assert_allclose(X.mean(axis=0), 0.0, atol=1e-12)


# Warnings from correct results (defect 7)


def test_float16_transform_is_right_without_warnings():
    X = np.array([[1.0], [2.0], [3.0], [60000.0]], dtype=np.float16)
    scaler = BatchNormScaler().fit(X)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        out = scaler.transform(X)
    expected = (X.astype(np.float64) - scaler.mean_) * scaler.multiplier_
    assert out.dtype == np.float16
    assert_allclose(out, expected, rtol=1e-3)


def test_non_contiguous_float32_near_its_limit_transforms_without_warnings(
    code_path,
):
    X = np.full((64, 6), 1e36, dtype=np.float32)
    X[::2] = -1e36
    view = X[:, ::2]
    scaler = BatchNormScaler().fit(view)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        out = scaler.transform(view)
    assert_allclose(np.abs(out), 1.0, rtol=1e-5)


# Tiny gamma (defect 9) and huge weights (defect 10)


@pytest.mark.parametrize("gamma", [1e-320, 1e-300])
def test_inverse_of_a_vanishing_multiplier_is_refused(gamma):
    scaler = BatchNormScaler(gamma=gamma).fit([[0.0], [1e30]])
    with pytest.raises(ValueError, match="too small for its reciprocal") as info:
        scaler.inverse_transform([[0.0]])
    assert "gamma is 0" not in str(info.value)


def test_inverse_with_zero_gamma_says_gamma_is_zero():
    scaler = BatchNormScaler(gamma=[1.0, 0.0]).fit([[0.0, 0.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match=r"gamma is 0 for features \[1\]"):
        scaler.inverse_transform([[0.0, 0.0]])


def test_weights_that_overflow_name_sample_weight():
    scaler = BatchNormScaler()
    with pytest.raises(ValueError, match="sum of sample_weight.*overflows") as info:
        scaler.fit([[0.0], [1.0]], sample_weight=[1e308, 1e308])
    assert "Rescale X" not in str(info.value)
    scaler.partial_fit([[0.0], [1.0]], sample_weight=[1e308, 1e307])
    before = _state(scaler)
    with pytest.raises(ValueError, match="sum of sample_weight.*overflows"):
        scaler.partial_fit([[0.0], [1.0]], sample_weight=[1e308, 1e307])
    _assert_same_state(before, _state(scaler))


def test_huge_weights_with_a_finite_sum_give_the_weighted_statistics():
    X = np.array([[0.0], [1.0], [3.0]])
    scaler = BatchNormScaler().fit(X, sample_weight=[1e300, 3e300, 2e300])
    ref = BatchNormScaler().fit(X, sample_weight=[1.0, 3.0, 2.0])
    assert_allclose(scaler.mean_, ref.mean_, rtol=1e-14)
    assert_allclose(scaler.var_, ref.var_, rtol=1e-14)
    assert_allclose(scaler.n_samples_seen_, 6e300)


def test_weights_whose_weighted_sums_overflow_name_sample_weight():
    # The sum of the weights fits, the weighted sum of squares does not.
    with pytest.raises(ValueError, match="Rescale X or sample_weight"):
        BatchNormScaler().fit([[0.0], [10.0]], sample_weight=[8e307, 8e307])


# ddof changed between partial_fit calls (defect 11)


@pytest.mark.parametrize("ddofs", [(0, 1), (1, 0)])
def test_changing_ddof_between_partial_fits_pools_exactly(ddofs):
    X = np.random.default_rng(0).normal(size=(30, 2))
    scaler = BatchNormScaler(ddof=ddofs[0]).partial_fit(X[:12])
    scaler.set_params(ddof=ddofs[1]).partial_fit(X[12:])
    assert_allclose(scaler.var_, X.var(axis=0, ddof=ddofs[1]), rtol=1e-13)
    assert_allclose(scaler.mean_, X.mean(axis=0), rtol=1e-13)


def test_changing_ddof_with_running_statistics_is_refused():
    X = np.random.default_rng(0).normal(size=(30, 2))
    scaler = BatchNormScaler(momentum=0.1).partial_fit(X[:10])
    before = _state(scaler)
    with pytest.raises(ValueError, match="ddof changed from 0 to 1"):
        scaler.set_params(ddof=1).partial_fit(X[10:])
    _assert_same_state(before, _state(scaler))
    scaler.fit(X)  # fit starts again with the new ddof
    assert_allclose(scaler.var_, X.var(axis=0, ddof=1))


# dask with set_output (defect 12)


@pytest.mark.parametrize("container", ["pandas", "polars"])
def test_dask_frame_with_in_memory_output_is_a_clear_error(container):
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    pytest.importorskip(container)
    frame = dd.from_pandas(pd.DataFrame({"a": [1.0, 2.0, 4.0, 8.0]}), npartitions=2)
    scaler = BatchNormScaler().set_output(transform=container).fit(frame)
    with pytest.raises(ValueError, match="lazy.*transform='default'"):
        scaler.transform(frame)
    lazy = scaler.set_output(transform="default").transform(frame)
    assert_allclose(lazy.compute().to_numpy(), scaler.transform(frame.compute()))


# array API warnings (defect 13)


def test_array_api_path_is_as_quiet_as_numpy():
    xp = pytest.importorskip("array_api_strict")
    from sklearn import config_context

    X = np.array([[np.nan, 1.0, 1e300], [np.nan, 2.0, -1e300], [np.nan, 4.0, 1e300]])
    try:
        with config_context(array_api_dispatch=True):
            pass
    except ImportError as error:  # scikit-learn 1.6 with scipy < 1.14
        pytest.skip(f"array API mode unavailable: {error}")
    with config_context(array_api_dispatch=True), warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="overflows"):
            BatchNormScaler().fit(xp.asarray(X))
        scaler = BatchNormScaler().fit(xp.asarray(X[:, :2]))
        out = scaler.transform(xp.asarray(X[:, :2]))
    ref = BatchNormScaler().fit_transform(X[:, :2])
    assert_allclose(np.asarray(out), ref)


# The C boundary (defect 14)

_KERNEL_BOUNDARY = """
import numpy as np
from sklearn_bn.preprocessing import _kernels as k

X = np.ones((4, 3))
z = np.zeros(3)
calls = {
    "int64 X": lambda: k.shifted_sums(np.ones((4, 3), np.int64), z, None, z, z),
    "strided X": lambda: k.shifted_sums(np.ones((4, 6))[:, ::2], z, None, z, z),
    "float32 shift": lambda: k.shifted_sums(X, z.astype(np.float32), None, z, z),
    "short shift": lambda: k.shifted_sums(X, np.zeros(2), None, z, z),
    "short weights": lambda: k.shifted_sums(X, z, np.ones(3), z, z),
    "broadcast weights": lambda: k.shifted_sums(
        X, z, np.broadcast_to(1.0, (4,)), z, z
    ),
    "read-only sums": lambda: k.shifted_sums(
        X, z, None, np.zeros(3), np.frombuffer(bytes(24))
    ),
    "1-D X": lambda: k.shifted_sums(np.ones(3), z, None, z, z),
    "int out": lambda: k.affine_map(X, np.ones((4, 3), np.int64), z, z, None, True),
    "float32 out": lambda: k.affine_map(
        X, np.ones((4, 3), np.float32), z, z, None, True
    ),
    "wrong shape out": lambda: k.affine_map(X, np.ones((3, 4)), z, z, None, True),
    "big-endian X": lambda: k.affine_map(
        X.astype(">f8"), X.copy(), z, z, None, True
    ),
    "float indices": lambda: k.scale_entries(z, z, z, z.copy()),
    "short indices": lambda: k.scale_entries(
        z, np.zeros(2, np.int32), z, z.copy()
    ),
    "index out of range": lambda: k.scale_entries(
        z, np.array([0, 1, 5], np.int32), z, z.copy()
    ),
}
for name, call in calls.items():
    try:
        call()
    except ValueError as error:
        print(name, "->", error)
    else:
        raise AssertionError(f"{name}: accepted")
"""


@pytest.mark.skipif(not KERNELS_BUILT, reason="built without the compiled kernels")
def test_kernels_check_every_buffer_at_the_boundary():
    result = _run_python(_KERNEL_BOUNDARY)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 15, result.stdout
    assert "int64 X -> X must be a 2-D float32 or float64 array" in lines


# No rows or no columns (issue 22, defect 1)

_KERNELS_ON_EMPTY = """
import numpy as np
from sklearn_bn.preprocessing import _kernels as k

none, three = np.zeros(0), np.zeros(3)
i32 = np.int32
calls = {
    "shifted_sums, no columns": lambda: k.shifted_sums(
        np.zeros((4, 0)), none, None, none.copy(), none.copy()
    ),
    "shifted_sums, no rows": lambda: k.shifted_sums(
        np.zeros((0, 3)), three, None, three.copy(), three.copy()
    ),
    "shifted_sums skipping NaN, no columns": lambda: k.shifted_sums(
        np.zeros((4, 0), np.float32), none, None, none.copy(), none.copy(),
        none.copy(),
    ),
    "affine_map, no columns": lambda: k.affine_map(
        np.zeros((4, 0)), np.zeros((4, 0)), none, none, None, True
    ),
    "affine_map, no rows": lambda: k.affine_map(
        np.zeros((0, 3)), np.zeros((0, 3)), three, three, three, True
    ),
    "scale_entries, no columns": lambda: k.scale_entries(
        three, np.zeros(3, i32), none, three.copy()
    ),
    "sparse_moments CSR, no columns": lambda: k.sparse_moments(
        none, np.zeros(0, i32), np.zeros(4, i32), 0, 3, 0, None,
        np.zeros((0, 8)), False,
    ),
    "sparse_moments CSR, no rows": lambda: k.sparse_moments(
        none, np.zeros(0, i32), np.zeros(1, i32), 0, 0, 3, None,
        np.zeros((3, 8)), False,
    ),
    "sparse_moments CSC, no columns": lambda: k.sparse_moments(
        none, np.zeros(0, i32), np.zeros(1, i32), 0, 0, 3, None,
        np.zeros((0, 8)), True,
    ),
    "sparse_moments CSC, no rows": lambda: k.sparse_moments(
        none, np.zeros(0, i32), np.zeros(4, i32), 0, 3, 0, None,
        np.zeros((3, 8)), True,
    ),
    "scale_columns, no rows": lambda: k.scale_columns(
        none, np.zeros(0, i32), np.zeros(4, i32), 0, 3, 0, three, none.copy()
    ),
    "scale_columns, no columns": lambda: k.scale_columns(
        none, np.zeros(0, i32), np.zeros(1, i32), 0, 0, 3, none, none.copy()
    ),
}
for name, call in calls.items():
    try:
        call()
    except ValueError as error:
        print(name, "->", error)
    else:
        raise AssertionError(f"{name}: accepted")
"""


@pytest.mark.skipif(not KERNELS_BUILT, reason="built without the compiled kernels")
def test_kernels_refuse_no_rows_or_no_columns():
    # shifted_sums divided by the number of columns: SIGFPE.
    result = _run_python(_KERNELS_ON_EMPTY)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 12, result.stdout
    for line in lines:
        assert re.search(r"at least one (row|item)", line), line


_NO_FEATURES = """
import importlib
import numpy as np
from scipy import sparse
from sklearn import config_context
from sklearn_bn import BatchNormScaler


def optional(name):
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


pd, pl = optional("pandas"), optional("polars")
xp, da, dd = (
    optional(name) for name in ["array_api_strict", "dask.array", "dask.dataframe"]
)
kinds = {
    "numpy": np.zeros,
    "csr": sparse.csr_matrix,
    "csc_array": sparse.csc_array,
}
if pd is not None:
    kinds["pandas"] = lambda shape: pd.DataFrame(np.zeros(shape))
if pl is not None:  # a polars frame with no columns has no rows either
    kinds["polars"] = lambda shape: pl.DataFrame(np.zeros(shape))
# scikit-learn dispatches to the array API through array_api_compat.
if xp is not None and optional("array_api_compat") is not None:
    kinds["array API"] = lambda shape: xp.asarray(np.zeros(shape))
if da is not None:
    kinds["dask array"] = lambda shape: da.zeros(shape, chunks=5)
    kinds["dask array, chunks of 2048 rows"] = lambda shape: da.zeros(
        (4096, shape[1]), chunks=2048
    )
if dd is not None and pd is not None:
    kinds["dask DataFrame"] = lambda shape: dd.from_pandas(
        pd.DataFrame(np.zeros(shape)), npartitions=2
    )
for kind, make in kinds.items():
    sparse_input = kind in ("csr", "csc_array")
    with config_context(array_api_dispatch=kind == "array API"):
        fitted = BatchNormScaler(with_mean=not sparse_input).fit(make((10, 3)))
        for method in ["fit", "partial_fit", "transform", "inverse_transform"]:
            scaler = fitted if "transform" in method else BatchNormScaler(
                with_mean=not sparse_input
            )
            try:
                getattr(scaler, method)(make((10, 0)))
            except ValueError as error:
                print(kind, method, "->", error)
            else:
                raise AssertionError(f"{kind} {method}: accepted")
"""


def test_no_features_is_refused_for_every_kind_of_input():
    # A dask collection with no columns reached the kernels: SIGFPE.
    result = _run_python(_NO_FEATURES, env={"SCIPY_ARRAY_API": "1"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) >= 12, result.stdout
    for line in lines:
        found = r"Found array with 0 (feature|sample)\(s\) \(shape=\(\w+, 0\)\)"
        assert re.search(f"{found} while a minimum of 1 is required", line), line
    kinds = {line.split(" fit ")[0] for line in lines if " fit " in line}
    assert {"numpy", "csr", "csc_array"} <= kinds


def test_restrict_is_spelled_portably():
    # MSVC accepts C99's restrict only in C11 mode: one macro spells it, in
    # the header the kernels' modules share.
    import pathlib
    import re

    package = pathlib.Path(__file__).parents[1] / "sklearn_bn"
    header = package / "utils" / "_kernel_boundary.h"
    if not header.exists():  # the installed wheel's tests run without the source
        pytest.skip("needs the source tree's C kernels")
    uses = {}
    for path in sorted([*package.rglob("*.c"), *package.rglob("*.h")]):
        code = re.sub(r"/\*.*?\*/", "", path.read_text(), flags=re.DOTALL)
        uses[path.name] = re.findall(r"\brestrict\b", code)
    assert {"_kernels.c", "_network_kernels.h"} <= set(uses)
    # in the macro's definition alone
    assert {name: found for name, found in uses.items() if found} == {
        "_kernel_boundary.h": ["restrict"]
    }
    assert "#define RESTRICT restrict" in header.read_text()


# More bad input of our own


@pytest.mark.parametrize(
    "X, match",
    [
        (np.array([[1 + 1j], [2.0]]), "[Cc]omplex"),
        (np.array([["a"], ["b"]], dtype=object), "could not convert|dtype"),
        (np.ones((2, 2, 2)), "2D|dim"),
        (np.ones((0, 3)), "0 sample"),
        (np.ones((3, 0)), "0 feature"),
        (np.array([[1.0], [np.inf]]), "infinity"),
        (np.array([[1.0], [-np.inf]]), "infinity"),
    ],
)
def test_unusable_x_is_a_clear_error(X, match):
    with pytest.raises(ValueError, match=match):
        BatchNormScaler().fit(X)


@pytest.mark.parametrize(
    "weights, match",
    [
        ([1.0, -1.0, 1.0], "(?i)negative"),
        ([1.0, np.nan, 1.0], "NaN"),
        ([1.0, np.inf, 1.0], "infinity"),
        ([1.0, 1.0], r"shape == \(2,\), expected \(3,\)"),
        ([[1.0, 1.0, 1.0]], "1D|1-D|shape"),
        ([0.0, 0.0, 0.0], "non-zero"),
    ],
)
def test_unusable_sample_weight_is_a_clear_error_and_changes_nothing(weights, match):
    X = np.array([[1.0], [2.0], [4.0]])
    scaler = BatchNormScaler().fit(X)
    before = _state(scaler)
    with pytest.raises(ValueError, match=match):
        scaler.partial_fit(X, sample_weight=weights)
    _assert_same_state(before, _state(scaler))


def test_pandas_nullable_floats_with_missing_values_are_nan():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": pd.array([1.0, None, 3.0], dtype="Float64")})
    scaler = BatchNormScaler(epsilon=0.0).fit(frame)
    assert_allclose(scaler.mean_, [2.0])
    out = scaler.transform(frame)
    assert np.isnan(out[1, 0])
    assert_allclose(out[[0, 2], 0], [-1.0, 1.0])


def test_polars_nulls_are_missing_values():
    pl = pytest.importorskip("polars")
    frame = pl.DataFrame({"a": [1.0, None, 3.0]})
    out = BatchNormScaler(epsilon=0.0).fit_transform(frame)
    assert np.isnan(out[1, 0])
    assert_allclose(out[[0, 2], 0], [-1.0, 1.0])


def test_extreme_but_representable_values_are_exact():
    # Up to 1e153 the variance fits in float64; -0.0, and denormals.
    X = np.array([[1e153, -0.0, 5e-324], [-1e153, 0.0, 0.0], [1e153, 0.0, 5e-324]])
    out = BatchNormScaler(epsilon=0.0).fit(X).transform(X)
    ref = StandardScaler().fit_transform(X / [1e153, 1, 1])
    assert_allclose(out[:, :2], ref[:, :2], atol=1e-12)
    assert np.isfinite(out).all()


def test_int_and_bool_input_are_transformed_as_float64():
    X = np.array([[1, 0], [2, 1], [4, 1]])
    for data in (X, X.astype(bool)):
        out = BatchNormScaler(epsilon=0.0).fit_transform(data)
        assert out.dtype == np.float64
        assert_allclose(out, StandardScaler().fit_transform(data.astype(float)))
