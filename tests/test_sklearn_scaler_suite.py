"""scikit-learn's own StandardScaler tests, run on BatchNormScaler.

Every test of ``sklearn/preprocessing/tests/test_data.py`` (scikit-learn 1.9.1)
that exercises ``StandardScaler`` or ``scale``, with
``BatchNormScaler(epsilon=0.0)`` (``gamma=1``, ``beta=0``) substituted for
``StandardScaler`` and ``BatchNormScaler(epsilon=0.0).fit_transform`` for
``scale``. Each test keeps scikit-learn's name after a ``test_sk_`` prefix, and
its assertions and tolerances. What differs by documented design is adapted,
with a comment naming the difference at the place it is made. The differences:

- No ``with_std``: BatchNormScaler always divides by the spread. Cases with
  ``with_std=False`` are left out where they are made.
- No ``scale_``: StandardScaler's ``scale_`` is the divisor of each feature, 1
  for a constant one. BatchNormScaler's divisor is ``gamma / multiplier_``
  (``multiplier_`` is ``gamma / sqrt(var_ + epsilon)``, with a divisor of 1
  for a constant feature when ``epsilon=0``): ``1 / multiplier_`` here.
- No ``scale`` function, and so no ``axis``: ``scale(X, axis=1)`` normalizes
  each sample, which is the transform of ``X.T``, transposed back.
- A tighter near-constant rule (``is_constant`` in ``sklearn_bn/utils/_stats.py``,
  "constant feature" in the README's conventions): a feature is constant when
  ``var <= n * eps * var + (8 * eps * mean) ** 2`` rather than scikit-learn's
  ``n * eps * var + (n * eps * mean) ** 2``.
- Sparse input only with ``with_mean=False`` (as StandardScaler).

Left out, with the reason:

- ``test_handle_zeros_in_scale``: a scikit-learn private function
  (``_handle_zeros_in_scale``), not the scaler.
- ``test_partial_fit_sparse_input`` and ``test_scaler_return_identity``: their
  only scaler is ``with_mean=False, with_std=False`` (the identity), which has
  no BatchNormScaler counterpart (no ``with_std``).
- ``test_center_kernel`` and ``test_kernelcenterer_non_linear_kernel``: they
  test KernelCenterer against ``StandardScaler(with_std=False)`` (no
  ``with_std``).
- ``test_power_transformer_1d`` and ``test_power_transformer_2d``: ``scale``
  is the reference there for PowerTransformer, which is not ours.
- The parametrizations over other estimators (MinMaxScaler, RobustScaler, ...)
  in tests shared with StandardScaler: they test those estimators.
"""

import re
import warnings

import numpy as np
import pytest
from scipy import sparse
from sklearn import config_context, datasets
from sklearn.callback.tests._utils import (
    RecordingCallback,
    skip_callback_test_if_wasm,
)
from sklearn.utils import gen_batches
from sklearn.utils._array_api import (
    move_to,
    yield_namespace_device_dtype_combinations,
)
from sklearn.utils._testing import (
    _array_api_for_tests,
    _convert_container,
    assert_allclose,
    assert_allclose_dense_sparse,
    assert_almost_equal,
    assert_array_almost_equal,
    assert_array_equal,
    assert_array_less,
    skip_if_32bit,
)
from sklearn.utils.estimator_checks import (
    _get_check_estimator_ids,
    check_array_api_input_and_values,
)
from sklearn.utils.fixes import (
    CSC_CONTAINERS,
    CSR_CONTAINERS,
    _sparse_random_array,
)
from sklearn.utils.sparsefuncs import mean_variance_axis

from sklearn_bn import BatchNormScaler

iris = datasets.load_iris()

# Make some data to be used many times (scikit-learn's module-level data, drawn
# in the same order from the same seed).
rng = np.random.RandomState(0)
n_features = 30
n_samples = 1000
offsets = rng.uniform(-1, 1, size=n_features)
scales = rng.uniform(1, 10, size=n_features)
X_2d = rng.randn(n_samples, n_features) * scales + offsets
X_1row = X_2d[0, :].reshape(1, n_features)
X_1col = X_2d[:, 0].reshape(n_samples, 1)
X_list_1row = X_1row.tolist()
X_list_1col = X_1col.tolist()


def _scale(X, with_mean=True, copy=True):
    """What ``sklearn.preprocessing.scale(X, with_mean, copy=copy)`` becomes."""
    return BatchNormScaler(epsilon=0.0, with_mean=with_mean, copy=copy).fit_transform(X)


def _scale_of(scaler):
    """StandardScaler's ``scale_``: the divisor of each feature.

    Adapted (no ``scale_``): BatchNormScaler divides by ``gamma / multiplier_``,
    and gamma is 1 here.
    """
    return 1.0 / scaler.multiplier_


def _check_dim_1axis(a):
    return np.asarray(a).shape[0]


def assert_correct_incr(i, batch_start, batch_stop, n, chunk_size, n_samples_seen):
    if batch_stop != n:
        assert (i + 1) * chunk_size == n_samples_seen
    else:
        assert i * chunk_size + (batch_stop - batch_start) == n_samples_seen


def test_sk_raises_value_error_if_sample_weights_greater_than_1d():
    # Sample weights must be either scalar or 1D

    n_sampless = [2, 3]
    n_featuress = [3, 2]

    for n_samples, n_features in zip(n_sampless, n_featuress, strict=True):
        X = rng.randn(n_samples, n_features)
        y = rng.randn(n_samples)

        scaler = BatchNormScaler(epsilon=0.0)

        # make sure Error is raised the sample weights greater than 1d
        sample_weight_notOK = rng.randn(n_samples, 1) ** 2
        with pytest.raises(ValueError):
            scaler.fit(X, y, sample_weight=sample_weight_notOK)


def _yield_xw_x_sampleweight():
    yield from (
        (
            [[1, 2, 3], [4, 5, 6]],
            [[1, 2, 3], [1, 2, 3], [4, 5, 6]],
            [2.0, 1.0],
        ),
        (
            [[1, 0, 1], [0, 0, 1]],
            [[1, 0, 1], [0, 0, 1], [0, 0, 1], [0, 0, 1]],
            np.array([1, 3]),
        ),
        (
            [[1, np.nan, 1], [np.nan, np.nan, 1]],
            [
                [1, np.nan, 1],
                [np.nan, np.nan, 1],
                [np.nan, np.nan, 1],
                [np.nan, np.nan, 1],
            ],
            np.array([1, 3]),
        ),
    )


# Lists where scikit-learn passes generators to parametrize: pytest 9 deprecates
# generators there, and this project makes DeprecationWarning an error.
_XW_X_SAMPLEWEIGHT = list(_yield_xw_x_sampleweight())
_NAMESPACE_DEVICE_DTYPE = list(yield_namespace_device_dtype_combinations())


@pytest.mark.parametrize(["Xw", "X", "sample_weight"], _XW_X_SAMPLEWEIGHT)
@pytest.mark.parametrize("array_constructor", ["array", "sparse_csr", "sparse_csc"])
def test_sk_standard_scaler_sample_weight(Xw, X, sample_weight, array_constructor):
    with_mean = not array_constructor.startswith("sparse")
    X = _convert_container(X, array_constructor)
    Xw = _convert_container(Xw, array_constructor)

    # weighted StandardScaler
    yw = np.ones(Xw.shape[0])
    scaler_w = BatchNormScaler(epsilon=0.0, with_mean=with_mean)
    scaler_w.fit(Xw, yw, sample_weight=sample_weight)

    # unweighted, but with repeated samples
    y = np.ones(X.shape[0])
    scaler = BatchNormScaler(epsilon=0.0, with_mean=with_mean)
    scaler.fit(X, y)

    X_test = [[1.5, 2.5, 3.5], [3.5, 4.5, 5.5]]

    assert_almost_equal(scaler.mean_, scaler_w.mean_)
    assert_almost_equal(scaler.var_, scaler_w.var_)
    assert_almost_equal(scaler.transform(X_test), scaler_w.transform(X_test))


@pytest.mark.parametrize(["Xw", "X", "sample_weight"], _XW_X_SAMPLEWEIGHT)
@pytest.mark.parametrize(
    "namespace, device_name, dtype_name",
    _NAMESPACE_DEVICE_DTYPE,
)
def test_sk_standard_scaler_sample_weight_array_api(
    Xw, X, sample_weight, namespace, device_name, dtype_name
):
    # N.B. The sample statistics for Xw w/ sample_weight should match
    #      the statistics of X w/ uniform sample_weight.
    xp, device = _array_api_for_tests(namespace, device_name, dtype_name)

    X = np.array(X).astype(dtype_name, copy=False)
    y = np.ones(X.shape[0]).astype(dtype_name, copy=False)
    Xw = np.array(Xw).astype(dtype_name, copy=False)
    yw = np.ones(Xw.shape[0]).astype(dtype_name, copy=False)
    X_test = np.array([[1.5, 2.5, 3.5], [3.5, 4.5, 5.5]]).astype(dtype_name, copy=False)

    scaler = BatchNormScaler(epsilon=0.0)
    scaler.fit(X, y)

    scaler_w = BatchNormScaler(epsilon=0.0)
    scaler_w.fit(Xw, yw, sample_weight=sample_weight)

    # Test array-api support and correctness.
    X_xp = xp.asarray(X, device=device)
    y_xp = xp.asarray(y, device=device)
    Xw_xp = xp.asarray(Xw, device=device)
    yw_xp = xp.asarray(yw, device=device)
    X_test_xp = xp.asarray(X_test, device=device)
    sample_weight_xp = xp.asarray(sample_weight, device=device)

    scaler_w_xp = BatchNormScaler(epsilon=0.0)
    with config_context(array_api_dispatch=True):
        scaler_w_xp.fit(Xw_xp, yw_xp, sample_weight=sample_weight_xp)
        w_mean = move_to(scaler_w_xp.mean_, xp=np, device="cpu")
        w_var = move_to(scaler_w_xp.var_, xp=np, device="cpu")

    assert_allclose(scaler_w.mean_, w_mean)
    assert_allclose(scaler_w.var_, w_var)

    # unweighted, but with repeated samples
    scaler_xp = BatchNormScaler(epsilon=0.0)
    with config_context(array_api_dispatch=True):
        scaler_xp.fit(X_xp, y_xp)
        uw_mean = move_to(scaler_xp.mean_, xp=np, device="cpu")
        uw_var = move_to(scaler_xp.var_, xp=np, device="cpu")

    assert_allclose(scaler.mean_, uw_mean)
    assert_allclose(scaler.var_, uw_var)

    # Check that both array-api outputs match.
    assert_allclose(uw_mean, w_mean)
    assert_allclose(uw_var, w_var)
    with config_context(array_api_dispatch=True):
        assert_allclose(
            move_to(scaler_xp.transform(X_test_xp), xp=np, device="cpu"),
            move_to(scaler_w_xp.transform(X_test_xp), xp=np, device="cpu"),
        )


def test_sk_standard_scaler_1d():
    # Test scaling of dataset along single axis
    for X in [X_1row, X_1col, X_list_1row, X_list_1row]:
        scaler = BatchNormScaler(epsilon=0.0)
        X_scaled = scaler.fit(X).transform(X, copy=True)

        if isinstance(X, list):
            X = np.array(X)  # cast only after scaling done

        if _check_dim_1axis(X) == 1:
            assert_almost_equal(scaler.mean_, X.ravel())
            assert_almost_equal(_scale_of(scaler), np.ones(n_features))
            assert_array_almost_equal(X_scaled.mean(axis=0), np.zeros_like(n_features))
            assert_array_almost_equal(X_scaled.std(axis=0), np.zeros_like(n_features))
        else:
            assert_almost_equal(scaler.mean_, X.mean())
            assert_almost_equal(_scale_of(scaler), X.std())
            assert_array_almost_equal(X_scaled.mean(axis=0), np.zeros_like(n_features))
            assert_array_almost_equal(X_scaled.mean(axis=0), 0.0)
            assert_array_almost_equal(X_scaled.std(axis=0), 1.0)
        assert scaler.n_samples_seen_ == X.shape[0]

        # check inverse transform
        X_scaled_back = scaler.inverse_transform(X_scaled)
        assert_array_almost_equal(X_scaled_back, X)

    # Constant feature
    X = np.ones((5, 1))
    scaler = BatchNormScaler(epsilon=0.0)
    X_scaled = scaler.fit(X).transform(X, copy=True)
    assert_almost_equal(scaler.mean_, 1.0)
    assert_almost_equal(_scale_of(scaler), 1.0)
    assert_array_almost_equal(X_scaled.mean(axis=0), 0.0)
    assert_array_almost_equal(X_scaled.std(axis=0), 0.0)
    assert scaler.n_samples_seen_ == X.shape[0]


@pytest.mark.parametrize("sparse_container", [None] + CSC_CONTAINERS + CSR_CONTAINERS)
@pytest.mark.parametrize("add_sample_weight", [False, True])
def test_sk_standard_scaler_dtype(add_sample_weight, sparse_container):
    # Ensure scaling does not affect dtype
    rng = np.random.RandomState(0)
    n_samples = 10
    n_features = 3
    if add_sample_weight:
        sample_weight = np.ones(n_samples)
    else:
        sample_weight = None
    with_mean = True
    if sparse_container is not None:
        # scipy sparse containers do not support float16, see
        # https://github.com/scipy/scipy/issues/7408 for more details.
        supported_dtype = [np.float64, np.float32]
    else:
        supported_dtype = [np.float64, np.float32, np.float16]
    for dtype in supported_dtype:
        X = rng.randn(n_samples, n_features).astype(dtype)
        if sparse_container is not None:
            X = sparse_container(X)
            with_mean = False

        scaler = BatchNormScaler(epsilon=0.0, with_mean=with_mean)
        X_scaled = scaler.fit(X, sample_weight=sample_weight).transform(X)
        assert X.dtype == X_scaled.dtype
        assert scaler.mean_.dtype == np.float64
        # Adapted (no scale_): the divisor is 1 / multiplier_.
        assert scaler.multiplier_.dtype == np.float64


# Only StandardScaler(with_mean=False) of scikit-learn's scaler parameter: the
# other, RobustScaler(with_centering=False), is not ours.
@pytest.mark.parametrize("sparse_container", [None] + CSC_CONTAINERS + CSR_CONTAINERS)
@pytest.mark.parametrize("add_sample_weight", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("constant", [0, 1.0, 100.0])
def test_sk_standard_scaler_constant_features(
    add_sample_weight, sparse_container, dtype, constant
):
    scaler = BatchNormScaler(epsilon=0.0, with_mean=False)

    rng = np.random.RandomState(0)
    n_samples = 100
    n_features = 1
    if add_sample_weight:
        fit_params = dict(sample_weight=rng.uniform(size=n_samples) * 2)
    else:
        fit_params = {}
    X_array = np.full(shape=(n_samples, n_features), fill_value=constant, dtype=dtype)
    X = X_array if sparse_container is None else sparse_container(X_array)
    X_scaled = scaler.fit(X, **fit_params).transform(X)

    # The variance info should be close to zero for constant features.
    assert_allclose(scaler.var_, np.zeros(X.shape[1]), atol=1e-7)

    # Constant features should not be scaled (scale of 1.):
    assert_allclose(_scale_of(scaler), np.ones(X.shape[1]))

    assert X_scaled is not X  # make sure we make a copy
    assert_allclose_dense_sparse(X_scaled, X)

    if not add_sample_weight:
        # Also check consistency with the standard scale function.
        X_scaled_2 = _scale(X, with_mean=scaler.with_mean)
        assert X_scaled_2 is not X  # make sure we did a copy
        assert_allclose_dense_sparse(X_scaled_2, X)


@pytest.mark.parametrize("n_samples", [10, 100, 10_000])
@pytest.mark.parametrize("average", [1e-10, 1, 1e10])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sparse_container", [None] + CSC_CONTAINERS + CSR_CONTAINERS)
def test_sk_standard_scaler_near_constant_features(
    n_samples, sparse_container, average, dtype
):
    # Check that when the variance is too small (var << mean**2) the feature
    # is considered constant and not scaled.

    scale_min, scale_max = -30, 19
    scales = np.array([10**i for i in range(scale_min, scale_max + 1)], dtype=dtype)

    n_features = scales.shape[0]
    X = np.empty((n_samples, n_features), dtype=dtype)
    # Make a dataset of known var = scales**2 and mean = average
    X[: n_samples // 2, :] = average + scales
    X[n_samples // 2 :, :] = average - scales
    X_array = X if sparse_container is None else sparse_container(X)

    scaler = BatchNormScaler(epsilon=0.0, with_mean=False).fit(X_array)

    # StandardScaler uses float64 accumulators even if the data has a float32
    # dtype.
    eps = np.finfo(np.float64).eps

    # if var < bound = N.eps.var + N².eps².mean², the feature is considered
    # constant and the scale_ attribute is set to 1.
    # Adapted (the tighter near-constant rule, ``is_constant`` in
    # sklearn_bn/utils/_stats.py): BatchNormScaler's bound is
    # N.eps.var + (8.eps.mean)², which does not grow with N², so fewer features
    # count as constant.
    bounds = n_samples * eps * scales**2 + (8 * eps * average) ** 2
    within_bounds = scales**2 <= bounds

    # Check that scale_min is small enough to have some scales below the
    # bound and therefore detected as constant:
    assert np.any(within_bounds)

    # Check that such features are actually treated as constant by the scaler:
    assert all(scaler.var_[within_bounds] <= bounds[within_bounds])
    assert_allclose(_scale_of(scaler)[within_bounds], 1.0)

    # Depending the on the dtype of X, some features might not actually be
    # representable as non constant for small scales (even if above the
    # precision bound of the float64 variance estimate). Such feature should
    # be correctly detected as constants with 0 variance by StandardScaler.
    representable_diff = X[0, :] - X[-1, :] != 0
    assert_allclose(scaler.var_[np.logical_not(representable_diff)], 0)
    assert_allclose(_scale_of(scaler)[np.logical_not(representable_diff)], 1)

    # The other features are scaled and scale_ is equal to sqrt(var_) assuming
    # that scales are large enough for average + scale and average - scale to
    # be distinct in X (depending on X's dtype).
    common_mask = np.logical_and(scales**2 > bounds, representable_diff)
    assert_allclose(_scale_of(scaler)[common_mask], np.sqrt(scaler.var_)[common_mask])


def test_sk_scale_1d():
    # 1-d inputs
    X_list = [1.0, 3.0, 5.0, 0.0]
    X_arr = np.array(X_list)

    for X in [X_list, X_arr]:
        # Adapted (no scale function): scale() takes a 1-d X as one feature;
        # a transformer takes 2-d input only (as StandardScaler), so X goes in
        # as a column and comes back as a 1-d array.
        X_scaled = _scale(np.reshape(X, (-1, 1))).ravel()
        assert_array_almost_equal(X_scaled.mean(), 0.0)
        assert_array_almost_equal(X_scaled.std(), 1.0)
        # scale(X, with_mean=False, with_std=False) is left out: no with_std.


@skip_if_32bit
def test_sk_standard_scaler_numerical_stability():
    # Adapted (no scale function): a 1-d x goes in as a column, as in
    # test_sk_scale_1d. scikit-learn's scale() double-checks its own result and
    # warns "standard deviation of the data is probably very close to 0" or
    # "Dataset may contain too large values" where its mean and std lose
    # digits; StandardScaler does not warn, and neither does BatchNormScaler,
    # whose constant features come out exactly zero. So each call here is
    # checked to give no UserWarning, where scale() is expected to warn.
    def scale(x):
        return _scale(x.reshape(-1, 1)).ravel()

    # Test numerical stability of scaling
    # np.log(1e-5) is taken because of its floating point representation
    # was empirically found to cause numerical problems with np.mean & np.std.
    x = np.full(8, np.log(1e-5), dtype=np.float64)
    # This does not raise a warning as the number of samples is too low
    # to trigger the problem in recent numpy
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        scale(x)
    assert_array_almost_equal(scale(x), np.zeros(8))

    # with 2 more samples, the std computation run into numerical issues:
    x = np.full(10, np.log(1e-5), dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        x_scaled = scale(x)
    assert_array_almost_equal(x_scaled, np.zeros(10))

    x = np.full(10, 1e-100, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        x_small_scaled = scale(x)
    assert_array_almost_equal(x_small_scaled, np.zeros(10))

    # Large values can cause (often recoverable) numerical stability issues:
    x_big = np.full(10, 1e100, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        x_big_scaled = scale(x_big)
    assert_array_almost_equal(x_big_scaled, np.zeros(10))
    assert_array_almost_equal(x_big_scaled, x_small_scaled)
    # scale(x_big, with_std=False) is left out: no with_std.


def test_sk_scaler_2d_arrays():
    # Test scaling of 2d array along first axis
    rng = np.random.RandomState(0)
    n_features = 5
    n_samples = 4
    X = rng.randn(n_samples, n_features)
    X[:, 0] = 0.0  # first feature is always of zero

    scaler = BatchNormScaler(epsilon=0.0)
    X_scaled = scaler.fit(X).transform(X, copy=True)
    assert not np.any(np.isnan(X_scaled))
    assert scaler.n_samples_seen_ == n_samples

    assert_array_almost_equal(X_scaled.mean(axis=0), n_features * [0.0])
    assert_array_almost_equal(X_scaled.std(axis=0), [0.0, 1.0, 1.0, 1.0, 1.0])
    # Check that X has been copied
    assert X_scaled is not X

    # check inverse transform
    X_scaled_back = scaler.inverse_transform(X_scaled)
    assert X_scaled_back is not X
    assert X_scaled_back is not X_scaled
    assert_array_almost_equal(X_scaled_back, X)

    # scale(X, axis=1, with_std=False) is left out: no with_std.
    # Adapted (no scale function, no axis): scale(X, axis=1) normalizes each
    # sample, which is the transform of X.T (scale() itself works on X.T).
    X_scaled = _scale(X.T).T
    assert not np.any(np.isnan(X_scaled))
    assert_array_almost_equal(X_scaled.mean(axis=1), n_samples * [0.0])
    assert_array_almost_equal(X_scaled.std(axis=1), n_samples * [1.0])
    # Check that the data hasn't been modified
    assert X_scaled is not X

    X_scaled = scaler.fit(X).transform(X, copy=False)
    assert not np.any(np.isnan(X_scaled))
    assert_array_almost_equal(X_scaled.mean(axis=0), n_features * [0.0])
    assert_array_almost_equal(X_scaled.std(axis=0), [0.0, 1.0, 1.0, 1.0, 1.0])
    # Check that X has not been copied
    assert X_scaled is X

    X = rng.randn(4, 5)
    X[:, 0] = 1.0  # first feature is a constant, non zero feature
    scaler = BatchNormScaler(epsilon=0.0)
    X_scaled = scaler.fit(X).transform(X, copy=True)
    assert not np.any(np.isnan(X_scaled))
    assert_array_almost_equal(X_scaled.mean(axis=0), n_features * [0.0])
    assert_array_almost_equal(X_scaled.std(axis=0), [0.0, 1.0, 1.0, 1.0, 1.0])
    # Check that X has not been copied
    assert X_scaled is not X


def test_sk_scaler_float16_overflow():
    # Test if the scaler will not overflow on float16 numpy arrays
    rng = np.random.RandomState(0)
    # float16 has a maximum of 65500.0. On the worst case 5 * 200000 is 100000
    # which is enough to overflow the data type
    X = rng.uniform(5, 10, [200000, 1]).astype(np.float16)

    with np.errstate(over="raise"):
        scaler = BatchNormScaler(epsilon=0.0).fit(X)
        X_scaled = scaler.transform(X)

    # Calculate the float64 equivalent to verify result
    X_scaled_f64 = BatchNormScaler(epsilon=0.0).fit_transform(X.astype(np.float64))

    # Overflow calculations may cause -inf, inf, or nan. Since there is no nan
    # input, all of the outputs should be finite. This may be redundant since a
    # FloatingPointError exception will be thrown on overflow above.
    assert np.all(np.isfinite(X_scaled))

    # The normal distribution is very unlikely to go above 4. At 4.0-8.0 the
    # float16 precision is 2^-8 which is around 0.004. Thus only 2 decimals are
    # checked to account for precision differences.
    assert_array_almost_equal(X_scaled, X_scaled_f64, decimal=2)


def test_sk_standard_scaler_partial_fit():
    # Test if partial_fit run over many batches of size 1 and 50
    # gives the same results as fit
    X = X_2d
    n = X.shape[0]

    for chunk_size in [1, 2, 50, n, n + 42]:
        # Test mean at the end of the process
        # Adapted (no with_std): scikit-learn checks the mean with
        # with_std=False, where var_ is None; the mean and the count do not
        # depend on with_std, so they are checked on the default scaler, and
        # the `var_ is None` assertion is left out.
        scaler_batch = BatchNormScaler(epsilon=0.0).fit(X)

        scaler_incr = BatchNormScaler(epsilon=0.0)
        for batch in gen_batches(n_samples, chunk_size):
            scaler_incr = scaler_incr.partial_fit(X[batch])
        assert_array_almost_equal(scaler_batch.mean_, scaler_incr.mean_)
        assert scaler_batch.n_samples_seen_ == scaler_incr.n_samples_seen_

        # Test std after 1 step
        batch0 = slice(0, chunk_size)
        scaler_incr = BatchNormScaler(epsilon=0.0).partial_fit(X[batch0])
        if chunk_size == 1:
            assert_array_almost_equal(
                np.zeros(n_features, dtype=np.float64), scaler_incr.var_
            )
            assert_array_almost_equal(
                np.ones(n_features, dtype=np.float64), _scale_of(scaler_incr)
            )
        else:
            assert_array_almost_equal(np.var(X[batch0], axis=0), scaler_incr.var_)
            assert_array_almost_equal(
                np.std(X[batch0], axis=0), _scale_of(scaler_incr)
            )  # no constants

        # Test std until the end of partial fits, and
        scaler_batch = BatchNormScaler(epsilon=0.0).fit(X)
        scaler_incr = BatchNormScaler(epsilon=0.0)  # Clean estimator
        for i, batch in enumerate(gen_batches(n_samples, chunk_size)):
            scaler_incr = scaler_incr.partial_fit(X[batch])
            assert_correct_incr(
                i,
                batch_start=batch.start,
                batch_stop=batch.stop,
                n=n,
                chunk_size=chunk_size,
                n_samples_seen=scaler_incr.n_samples_seen_,
            )

        assert_array_almost_equal(scaler_batch.var_, scaler_incr.var_)
        assert scaler_batch.n_samples_seen_ == scaler_incr.n_samples_seen_


@pytest.mark.parametrize("sparse_container", CSC_CONTAINERS + CSR_CONTAINERS)
def test_sk_standard_scaler_partial_fit_numerical_stability(sparse_container):
    # Test if the incremental computation introduces significative errors
    # for large datasets with values of large magniture
    rng = np.random.RandomState(0)
    n_features = 2
    n_samples = 100
    offsets = rng.uniform(-1e15, 1e15, size=n_features)
    scales = rng.uniform(1e3, 1e6, size=n_features)
    X = rng.randn(n_samples, n_features) * scales + offsets

    scaler_batch = BatchNormScaler(epsilon=0.0).fit(X)
    scaler_incr = BatchNormScaler(epsilon=0.0)
    for chunk in X:
        scaler_incr = scaler_incr.partial_fit(chunk.reshape(1, n_features))

    # Regardless of abs values, they must not be more diff 6 significant digits
    tol = 10 ** (-6)
    assert_allclose(scaler_incr.mean_, scaler_batch.mean_, rtol=tol)
    assert_allclose(scaler_incr.var_, scaler_batch.var_, rtol=tol)
    assert_allclose(_scale_of(scaler_incr), _scale_of(scaler_batch), rtol=tol)
    # NOTE Be aware that for much larger offsets std is very unstable (last
    # assert) while mean is OK.

    # Sparse input
    size = (100, 3)
    scale = 1e20
    X = sparse_container(rng.randint(0, 2, size).astype(np.float64) * scale)

    # with_mean=False is required with sparse input
    scaler = BatchNormScaler(epsilon=0.0, with_mean=False).fit(X)
    scaler_incr = BatchNormScaler(epsilon=0.0, with_mean=False)

    for chunk in X:
        if chunk.ndim == 1:
            # Sparse arrays can be 1D (in scipy 1.14 and later) while old
            # sparse matrix instances are always 2D.
            chunk = chunk.reshape(1, -1)
        scaler_incr = scaler_incr.partial_fit(chunk)

    # Regardless of magnitude, they must not differ more than of 6 digits
    tol = 10 ** (-6)
    assert scaler.mean_ is not None
    assert_allclose(scaler_incr.var_, scaler.var_, rtol=tol)
    assert_allclose(_scale_of(scaler_incr), _scale_of(scaler), rtol=tol)


@pytest.mark.parametrize("sample_weight", [True, None])
def test_sk_standard_scaler_transform_with_partial_fit(sample_weight):
    # Check some postconditions after applying partial_fit and transform
    X = X_2d[:100, :]

    if sample_weight:
        sample_weight = rng.rand(X.shape[0])

    scaler_incr = BatchNormScaler(epsilon=0.0)
    for i, batch in enumerate(gen_batches(X.shape[0], 1)):
        X_sofar = X[: (i + 1), :]
        chunks_copy = X_sofar.copy()
        if sample_weight is None:
            scaled_batch = BatchNormScaler(epsilon=0.0).fit_transform(X_sofar)
            scaler_incr = scaler_incr.partial_fit(X[batch])
        else:
            scaled_batch = BatchNormScaler(epsilon=0.0).fit_transform(
                X_sofar, sample_weight=sample_weight[: i + 1]
            )
            scaler_incr = scaler_incr.partial_fit(
                X[batch], sample_weight=sample_weight[batch]
            )
        scaled_incr = scaler_incr.transform(X_sofar)

        assert_array_almost_equal(scaled_batch, scaled_incr)
        assert_array_almost_equal(X_sofar, chunks_copy)  # No change
        right_input = scaler_incr.inverse_transform(scaled_incr)
        assert_array_almost_equal(X_sofar, right_input)

        zero = np.zeros(X.shape[1])
        epsilon = np.finfo(float).eps
        assert_array_less(zero, scaler_incr.var_ + epsilon)  # as less or equal
        assert_array_less(zero, _scale_of(scaler_incr) + epsilon)
        if sample_weight is None:
            # (i+1) because the Scaler has been already fitted
            assert (i + 1) == scaler_incr.n_samples_seen_
        else:
            assert np.sum(sample_weight[: i + 1]) == pytest.approx(
                scaler_incr.n_samples_seen_
            )


def test_sk_standard_check_array_of_inverse_transform():
    # Check if StandardScaler inverse_transform is
    # converting the integer array to float
    x = np.array(
        [
            [1, 1, 1, 0, 1, 0],
            [1, 1, 1, 0, 1, 0],
            [0, 8, 0, 1, 0, 0],
            [1, 4, 1, 1, 0, 0],
            [0, 1, 0, 0, 1, 0],
            [0, 4, 0, 1, 0, 1],
        ],
        dtype=np.int32,
    )

    scaler = BatchNormScaler(epsilon=0.0)
    scaler.fit(x)

    # The of inverse_transform should be converted
    # to a float array.
    # If not X *= self.scale_ will fail.
    scaler.inverse_transform(x)


@pytest.mark.parametrize(
    "array_namespace, device_name, dtype_name",
    _NAMESPACE_DEVICE_DTYPE,
)
@pytest.mark.parametrize(
    "check",
    [check_array_api_input_and_values],
    ids=_get_check_estimator_ids,
)
@pytest.mark.parametrize("sample_weight", [True, None])
def test_sk_standard_scaler_array_api_compliance(
    check, sample_weight, array_namespace, device_name, dtype_name
):
    estimator = BatchNormScaler(epsilon=0.0)
    name = estimator.__class__.__name__
    check(
        name,
        estimator,
        array_namespace,
        device_name=device_name,
        dtype_name=dtype_name,
        check_sample_weight=sample_weight,
    )


@pytest.mark.parametrize("sample_weight", [True, None])
@pytest.mark.parametrize("sparse_container", CSC_CONTAINERS + CSR_CONTAINERS)
def test_sk_scaler_without_centering(sample_weight, sparse_container):
    rng = np.random.RandomState(42)
    X = rng.randn(4, 5)
    X[:, 0] = 0.0  # first feature is always of zero
    X_sparse = sparse_container(X)

    if sample_weight:
        sample_weight = rng.rand(X.shape[0])

    with pytest.raises(ValueError):
        BatchNormScaler(epsilon=0.0).fit(X_sparse)

    scaler = BatchNormScaler(epsilon=0.0, with_mean=False).fit(
        X, sample_weight=sample_weight
    )
    X_scaled = scaler.transform(X, copy=True)
    assert not np.any(np.isnan(X_scaled))

    scaler_sparse = BatchNormScaler(epsilon=0.0, with_mean=False).fit(
        X_sparse, sample_weight=sample_weight
    )
    X_sparse_scaled = scaler_sparse.transform(X_sparse, copy=True)
    assert not np.any(np.isnan(X_sparse_scaled.data))

    assert_array_almost_equal(scaler.mean_, scaler_sparse.mean_)
    assert_array_almost_equal(scaler.var_, scaler_sparse.var_)
    assert_array_almost_equal(_scale_of(scaler), _scale_of(scaler_sparse))
    assert_array_almost_equal(scaler.n_samples_seen_, scaler_sparse.n_samples_seen_)

    if sample_weight is None:
        assert_array_almost_equal(
            X_scaled.mean(axis=0), [0.0, -0.01, 2.24, -0.35, -0.78], 2
        )
        assert_array_almost_equal(X_scaled.std(axis=0), [0.0, 1.0, 1.0, 1.0, 1.0])

    X_sparse_scaled_mean, X_sparse_scaled_var = mean_variance_axis(X_sparse_scaled, 0)
    assert_array_almost_equal(X_sparse_scaled_mean, X_scaled.mean(axis=0))
    assert_array_almost_equal(X_sparse_scaled_var, X_scaled.var(axis=0))

    # Check that X has not been modified (copy)
    assert X_scaled is not X
    assert X_sparse_scaled is not X_sparse

    X_scaled_back = scaler.inverse_transform(X_scaled)
    assert X_scaled_back is not X
    assert X_scaled_back is not X_scaled
    assert_array_almost_equal(X_scaled_back, X)

    X_sparse_scaled_back = scaler_sparse.inverse_transform(X_sparse_scaled)
    assert X_sparse_scaled_back is not X_sparse
    assert X_sparse_scaled_back is not X_sparse_scaled
    assert_array_almost_equal(X_sparse_scaled_back.toarray(), X)

    # The null transform (with_mean=False, with_std=False) on CSR is left out:
    # no with_std.


@pytest.mark.parametrize("with_mean", [True, False])
# Only with_std=True of scikit-learn's with_std=[True, False]: no with_std.
@pytest.mark.parametrize("sparse_container", [None] + CSC_CONTAINERS + CSR_CONTAINERS)
def test_sk_scaler_n_samples_seen_with_nan(with_mean, sparse_container):
    X = np.array(
        [[0, 1, 3], [np.nan, 6, 10], [5, 4, np.nan], [8, 0, np.nan]], dtype=np.float64
    )
    if sparse_container is not None:
        X = sparse_container(X)

    if sparse.issparse(X) and with_mean:
        pytest.skip("'with_mean=True' cannot be used with sparse matrix.")

    transformer = BatchNormScaler(epsilon=0.0, with_mean=with_mean)
    transformer.fit(X)

    assert_array_equal(transformer.n_samples_seen_, np.array([3, 4, 2]))


@pytest.mark.parametrize("sparse_container", CSC_CONTAINERS + CSR_CONTAINERS)
def test_sk_scaler_int(sparse_container):
    # test that scaler converts integer input to floating
    # for both sparse and dense matrices
    rng = np.random.RandomState(42)
    X = rng.randint(20, size=(4, 5))
    X[:, 0] = 0  # first feature is always of zero
    X_sparse = sparse_container(X)

    with warnings.catch_warnings(record=True):
        scaler = BatchNormScaler(epsilon=0.0, with_mean=False).fit(X)
        X_scaled = scaler.transform(X, copy=True)
    assert not np.any(np.isnan(X_scaled))

    with warnings.catch_warnings(record=True):
        scaler_sparse = BatchNormScaler(epsilon=0.0, with_mean=False).fit(X_sparse)
        X_sparse_scaled = scaler_sparse.transform(X_sparse, copy=True)
    assert not np.any(np.isnan(X_sparse_scaled.data))

    assert_array_almost_equal(scaler.mean_, scaler_sparse.mean_)
    assert_array_almost_equal(scaler.var_, scaler_sparse.var_)
    assert_array_almost_equal(_scale_of(scaler), _scale_of(scaler_sparse))

    assert_array_almost_equal(
        X_scaled.mean(axis=0), [0.0, 1.109, 1.856, 21.0, 1.559], 2
    )
    assert_array_almost_equal(X_scaled.std(axis=0), [0.0, 1.0, 1.0, 1.0, 1.0])

    X_sparse_scaled_mean, X_sparse_scaled_std = mean_variance_axis(
        X_sparse_scaled.astype(float), 0
    )
    assert_array_almost_equal(X_sparse_scaled_mean, X_scaled.mean(axis=0))
    assert_array_almost_equal(X_sparse_scaled_std, X_scaled.std(axis=0))

    # Check that X has not been modified (copy)
    assert X_scaled is not X
    assert X_sparse_scaled is not X_sparse

    X_scaled_back = scaler.inverse_transform(X_scaled)
    assert X_scaled_back is not X
    assert X_scaled_back is not X_scaled
    assert_array_almost_equal(X_scaled_back, X)

    X_sparse_scaled_back = scaler_sparse.inverse_transform(X_sparse_scaled)
    assert X_sparse_scaled_back is not X_sparse
    assert X_sparse_scaled_back is not X_sparse_scaled
    assert_array_almost_equal(X_sparse_scaled_back.toarray(), X)

    # The null transform (with_mean=False, with_std=False) on CSR is left out:
    # no with_std.


@pytest.mark.parametrize("sparse_container", CSR_CONTAINERS + CSC_CONTAINERS)
def test_sk_scaler_without_copy(sparse_container):
    # Check that StandardScaler.fit does not change input
    rng = np.random.RandomState(42)
    X = rng.randn(4, 5)
    X[:, 0] = 0.0  # first feature is always of zero
    X_sparse = sparse_container(X)

    X_copy = X.copy()
    BatchNormScaler(epsilon=0.0, copy=False).fit(X)
    assert_array_equal(X, X_copy)

    X_sparse_copy = X_sparse.copy()
    BatchNormScaler(epsilon=0.0, with_mean=False, copy=False).fit(X_sparse)
    assert_array_equal(X_sparse.toarray(), X_sparse_copy.toarray())


@pytest.mark.parametrize("sparse_container", CSR_CONTAINERS + CSC_CONTAINERS)
def test_sk_scale_sparse_with_mean_raise_exception(sparse_container):
    rng = np.random.RandomState(42)
    X = rng.randn(4, 5)
    X_sparse = sparse_container(X)

    # check scaling and fit with direct calls on sparse data
    with pytest.raises(ValueError):
        _scale(X_sparse, with_mean=True)
    with pytest.raises(ValueError):
        BatchNormScaler(epsilon=0.0, with_mean=True).fit(X_sparse)

    # check transform and inverse_transform after a fit on a dense array
    scaler = BatchNormScaler(epsilon=0.0, with_mean=True).fit(X)
    with pytest.raises(ValueError):
        scaler.transform(X_sparse)

    X_transformed_sparse = sparse_container(scaler.transform(X))
    with pytest.raises(ValueError):
        scaler.inverse_transform(X_transformed_sparse)


def test_sk_scale_input_finiteness_validation():
    # Check if non-finite inputs raise ValueError
    X = [[np.inf, 5, 6, 7, 8]]
    with pytest.raises(
        ValueError, match=r"Input X contains infinity or a value too large for dtype"
    ):
        _scale(X)


@pytest.mark.parametrize("csr_container", CSR_CONTAINERS)
def test_sk_scale_function_without_centering(csr_container):
    rng = np.random.RandomState(42)
    X = rng.randn(4, 5)
    X[:, 0] = 0.0  # first feature is always of zero
    X_csr = csr_container(X)

    X_scaled = _scale(X, with_mean=False)
    assert not np.any(np.isnan(X_scaled))

    X_csr_scaled = _scale(X_csr, with_mean=False)
    assert not np.any(np.isnan(X_csr_scaled.data))

    # test csc has same outcome
    X_csc_scaled = _scale(X_csr.tocsc(), with_mean=False)
    assert_array_almost_equal(X_scaled, X_csc_scaled.toarray())

    # scale(X_csr, with_mean=False, axis=1) raising is left out: no scale
    # function, and so no axis.

    assert_array_almost_equal(
        X_scaled.mean(axis=0), [0.0, -0.01, 2.24, -0.35, -0.78], 2
    )
    assert_array_almost_equal(X_scaled.std(axis=0), [0.0, 1.0, 1.0, 1.0, 1.0])
    # Check that X has not been copied
    assert X_scaled is not X

    X_csr_scaled_mean, X_csr_scaled_std = mean_variance_axis(X_csr_scaled, 0)
    assert_array_almost_equal(X_csr_scaled_mean, X_scaled.mean(axis=0))
    assert_array_almost_equal(X_csr_scaled_std, X_scaled.std(axis=0))

    # The null scale (with_mean=False, with_std=False) is left out: no with_std.


def test_sk_fit_transform():
    rng = np.random.RandomState(0)
    X = rng.random_sample((5, 4))
    # Only StandardScaler of scikit-learn's (StandardScaler, Normalizer,
    # Binarizer): the others are not ours.
    for obj in (BatchNormScaler(epsilon=0.0),):
        X_transformed = obj.fit(X).transform(X)
        X_transformed2 = obj.fit_transform(X)
        assert_array_equal(X_transformed, X_transformed2)


def test_sk_fit_cold_start():
    X = iris.data
    X_2d = X[:, :2]

    # Scalers that have a partial_fit method
    # Adapted (no with_std): scikit-learn uses StandardScaler(with_mean=False,
    # with_std=False); what is tested, that fit resets the state fitted on
    # another number of features, does not depend on with_std. MinMaxScaler
    # and MaxAbsScaler are not ours.
    scalers = [
        BatchNormScaler(epsilon=0.0, with_mean=False),
    ]

    for scaler in scalers:
        scaler.fit_transform(X)
        # with a different shape, this may break the scaler unless the internal
        # state is reset
        scaler.fit_transform(X_2d)


@pytest.mark.parametrize(
    "X_2",
    [_sparse_random_array((10, 1), density=0.8, rng=0)]
    + [
        csr_container(np.full((10, 1), fill_value=np.nan))
        for csr_container in CSR_CONTAINERS
    ],
)
def test_sk_standard_scaler_sparse_partial_fit_finite_variance(X_2):
    # non-regression test for:
    # https://github.com/scikit-learn/scikit-learn/issues/16448
    X_1 = _sparse_random_array((5, 1), density=0.8)
    scaler = BatchNormScaler(epsilon=0.0, with_mean=False)
    scaler.fit(X_1).partial_fit(X_2)
    assert np.isfinite(scaler.var_[0])


def test_sk_standard_scaler_raise_error_for_1d_input():
    """Check that `inverse_transform` from `StandardScaler` raises an error
    with 1D array.
    Non-regression test for:
    https://github.com/scikit-learn/scikit-learn/issues/19518
    """
    scaler = BatchNormScaler(epsilon=0.0).fit(X_2d)
    err_msg = "Expected 2D array, got 1D array instead"
    with pytest.raises(ValueError, match=err_msg):
        scaler.inverse_transform(X_2d[:, 0])


# Only StandardScaler of scikit-learn's Transformer parameter: the others are
# not ours.
@pytest.mark.parametrize("Transformer", [BatchNormScaler])
def test_sk_one_to_one_features(Transformer):
    """Check one-to-one transformers give correct feature names."""
    tr = Transformer(epsilon=0.0).fit(iris.data)
    names_out = tr.get_feature_names_out(iris.feature_names)
    assert_array_equal(names_out, iris.feature_names)


# Only StandardScaler of scikit-learn's Transformer parameter: the others are
# not ours.
@pytest.mark.parametrize("Transformer", [BatchNormScaler])
def test_sk_one_to_one_features_pandas(Transformer):
    """Check one-to-one transformers give correct feature names."""
    pd = pytest.importorskip("pandas")

    df = pd.DataFrame(iris.data, columns=iris.feature_names)
    tr = Transformer(epsilon=0.0).fit(df)

    names_out_df_default = tr.get_feature_names_out()
    assert_array_equal(names_out_df_default, iris.feature_names)

    names_out_df_valid_in = tr.get_feature_names_out(iris.feature_names)
    assert_array_equal(names_out_df_valid_in, iris.feature_names)

    msg = re.escape("input_features is not equal to feature_names_in_")
    with pytest.raises(ValueError, match=msg):
        invalid_names = list("abcd")
        tr.get_feature_names_out(invalid_names)


@pytest.mark.parametrize("fit_method", ["fit", "partial_fit"])
@skip_callback_test_if_wasm
def test_sk_standard_scaler_callback_support(fit_method):
    """Check that the reconstruction attributes are correctly passed."""
    X = np.random.RandomState(0).random_sample((10, 2))

    cb = RecordingCallback()
    scaler = BatchNormScaler(epsilon=0.0).set_callbacks(cb)
    getattr(scaler, fit_method)(X)
    Xt = scaler.transform(X)

    # StandardScaler has no iterative part -> only one task.
    assert cb.count_hooks("setup") == 1
    assert cb.count_hooks("teardown") == 1
    assert cb.count_hooks("on_fit_task_begin") == 1
    assert cb.count_hooks("on_fit_task_end") == 1

    task_end_record = [rec for rec in cb.record if rec["name"] == "on_fit_task_end"][0]
    fitted_scaler = task_end_record["kwargs"]["fitted_estimator"]
    assert_allclose(fitted_scaler.transform(X), Xt)
