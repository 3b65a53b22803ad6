"""Behaviour of BatchNormScaler: one test per promise."""

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.testing import assert_allclose, assert_array_equal
from scipy import sparse
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_bn import BatchNormScaler
from sklearn_bn.utils._compat import InvalidParameterError


def _data(n_samples=40, n_features=3, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    scale = np.logspace(-2, 3, n_features)
    shift = np.linspace(-50, 50, n_features)
    return (rng.normal(size=(n_samples, n_features)) * scale + shift).astype(dtype)


def _formula(X, gamma=1.0, beta=0.0, epsilon=1e-5, ddof=0):
    """The batch-normalization formula, written out with numpy."""
    mean = np.nanmean(X, axis=0)
    var = np.nanvar(X, axis=0, ddof=ddof)
    return gamma * (X - mean) / np.sqrt(var + epsilon) + beta


def _state(estimator):
    """A deep snapshot of an estimator's attributes."""
    return pickle.loads(pickle.dumps(estimator.__dict__))


def _assert_close(actual, desired, rtol, atol):
    """assert_allclose with a per-feature absolute tolerance."""
    assert np.all(np.abs(actual - desired) <= rtol * np.abs(desired) + atol)


def _assert_same_state(state, estimator):
    assert state.keys() == estimator.__dict__.keys()
    for key, value in state.items():
        assert_array_equal(np.asarray(value), np.asarray(estimator.__dict__[key]))


# %% The formula and its parameters


@pytest.mark.parametrize("ddof", [0, 1])
def test_transform_equals_the_formula(ddof):
    X = _data()
    gamma, beta = np.array([0.5, 2.0, -1.0]), np.array([1.0, 0.0, -3.0])
    scaler = BatchNormScaler(gamma=gamma, beta=beta, epsilon=1e-3, ddof=ddof)
    assert_allclose(
        scaler.fit_transform(X),
        _formula(X, gamma, beta, 1e-3, ddof),
        rtol=1e-12,
        atol=1e-12,
    )
    assert_allclose(scaler.mean_, X.mean(axis=0), rtol=1e-13)
    assert_allclose(scaler.var_, X.var(axis=0, ddof=ddof), rtol=1e-12)


def test_default_matches_standard_scaler_up_to_epsilon():
    X = _data()
    # Feature 0 has |mean| / std = 5000; StandardScaler's one-pass mean rounds
    # there at 1e-9 of the output, while ours matches numpy's to 1e-12 (above).
    assert_allclose(
        BatchNormScaler(epsilon=0.0).fit_transform(X),
        StandardScaler().fit_transform(X),
        rtol=1e-8,
        atol=1e-10,
    )


def test_multiplier_and_offset_are_the_affine_form_of_transform():
    X = _data()
    scaler = BatchNormScaler(gamma=[1.0, 2.0, 3.0], beta=[0.0, 1.0, -1.0]).fit(X)
    assert_allclose(
        scaler.multiplier_,
        np.array([1.0, 2.0, 3.0]) / np.sqrt(scaler.var_ + scaler.epsilon),
    )
    assert_allclose(
        X * scaler.multiplier_ + scaler.offset_, scaler.transform(X), atol=1e-11
    )


def test_scalar_gamma_and_beta_apply_to_every_feature():
    X = _data()
    scalar = BatchNormScaler(gamma=2.0, beta=-1.0).fit_transform(X)
    array = BatchNormScaler(gamma=[2.0] * 3, beta=[-1.0] * 3).fit_transform(X)
    assert_allclose(scalar, array, rtol=1e-15)


@pytest.mark.parametrize("name", ["gamma", "beta"])
def test_wrong_length_affine_parameter_is_a_value_error(name):
    scaler = BatchNormScaler(**{name: [1.0, 2.0]})
    with pytest.raises(ValueError, match=rf"{name} must be .* \(3,\); .* \(2,\)"):
        scaler.fit(_data())


@pytest.mark.parametrize("name", ["gamma", "beta"])
@pytest.mark.parametrize("value", [np.inf, np.nan, [1.0, np.nan, 1.0]])
def test_non_finite_affine_parameter_is_a_value_error(name, value):
    # Scalars are refused by parameter validation, arrays by fit: both say why.
    with pytest.raises(ValueError, match=rf"{name}.* must be (finite|a float in)"):
        BatchNormScaler(**{name: value}).fit(_data())


def test_fit_never_changes_gamma_and_beta():
    gamma, beta = np.array([1.0, 2.0, 3.0]), np.array([0.5, 0.5, 0.5])
    scaler = BatchNormScaler(gamma=gamma, beta=beta)
    scaler.fit(_data()).partial_fit(_data(seed=1))
    assert scaler.gamma is gamma and scaler.beta is beta
    assert_array_equal(gamma, [1.0, 2.0, 3.0])
    assert_array_equal(beta, [0.5, 0.5, 0.5])


@pytest.mark.parametrize(
    "params",
    [{"epsilon": -1.0}, {"momentum": 0.0}, {"momentum": 1.5}, {"ddof": 2}],
)
def test_invalid_parameters_are_rejected(params):
    with pytest.raises(InvalidParameterError):
        BatchNormScaler(**params).fit(_data())


def test_epsilon_is_inside_the_square_root():
    X = _data()
    scaler = BatchNormScaler(epsilon=4.0).fit(X)
    assert_allclose(scaler.multiplier_, 1.0 / np.sqrt(X.var(axis=0) + 4.0))


def test_epsilon_zero_gives_divisor_one_for_constant_features():
    X = np.column_stack([np.full(6, 7.0), np.full(6, 0.1 + 0.2), np.arange(6.0)])
    # 0.1 + 0.2 stored in different ways: constant only up to rounding.
    X[::2, 1] = 0.3
    scaler = BatchNormScaler(epsilon=0.0, beta=5.0).fit(X)
    Xt = scaler.transform(X)
    assert np.all(np.isfinite(Xt))
    assert_array_equal(scaler.multiplier_[:2], [1.0, 1.0])
    assert_allclose(Xt[:, :2], 5.0, atol=1e-15)


def test_epsilon_zero_on_a_single_sample_is_finite():
    Xt = BatchNormScaler(epsilon=0.0).fit_transform([[1.0, -3.0]])
    assert_array_equal(Xt, [[0.0, 0.0]])


# %% Exact statistics and partial_fit


def test_partial_fit_over_batches_equals_fit():
    X = _data(n_samples=100)
    incremental = BatchNormScaler()
    for batch in np.array_split(X, 7):
        incremental.partial_fit(batch)
    full = BatchNormScaler().fit(X)
    assert_allclose(incremental.mean_, full.mean_, rtol=1e-13)
    assert_allclose(incremental.var_, full.var_, rtol=1e-12)
    assert incremental.n_samples_seen_ == full.n_samples_seen_ == 100


def test_fit_resets_previous_statistics():
    scaler = BatchNormScaler().partial_fit(_data(seed=1) + 100)
    scaler.fit(_data())
    assert_allclose(scaler.mean_, _data().mean(axis=0))
    assert scaler.n_samples_seen_ == 40


def test_weighted_statistics_equal_numpy_weighted_formulas():
    X = _data()
    w = np.random.default_rng(1).uniform(0.1, 3.0, size=X.shape[0])
    scaler = BatchNormScaler(ddof=1).fit(X, sample_weight=w)
    mean = np.average(X, axis=0, weights=w)
    var = (w[:, None] * (X - mean) ** 2).sum(axis=0) / (w.sum() - 1)
    assert_allclose(scaler.mean_, mean, rtol=1e-13)
    assert_allclose(scaler.var_, var, rtol=1e-12)
    assert_allclose(scaler.n_samples_seen_, w.sum())


def test_weighted_statistics_match_standard_scaler():
    X = _data()
    w = np.random.default_rng(2).uniform(0, 2, size=X.shape[0])
    ours = BatchNormScaler().fit(X, sample_weight=w)
    theirs = StandardScaler().fit(X, sample_weight=w)
    assert_allclose(ours.mean_, theirs.mean_, rtol=1e-12)
    assert_allclose(ours.var_, theirs.var_, rtol=1e-10)


def test_ddof_one_needs_more_than_one_sample():
    with pytest.raises(ValueError, match="ddof=1 needs more than 1 sample"):
        BatchNormScaler(ddof=1).fit([[1.0, 2.0]])


# %% Running statistics (momentum)


def _running_reference(batches, momentum, ddof):
    mean, var = batches[0].mean(axis=0), batches[0].var(axis=0, ddof=ddof)
    for batch in batches[1:]:
        mean = (1 - momentum) * mean + momentum * batch.mean(axis=0)
        var = (1 - momentum) * var + momentum * batch.var(axis=0, ddof=ddof)
    return mean, var


@pytest.mark.parametrize("ddof", [0, 1])
@pytest.mark.parametrize("momentum", [0.1, 0.5, 1.0])
def test_momentum_running_statistics_match_numpy_reference(momentum, ddof):
    batches = [_data(n_samples=16, seed=seed) * (1 + seed) for seed in range(6)]
    scaler = BatchNormScaler(momentum=momentum, ddof=ddof)
    for batch in batches:
        scaler.partial_fit(batch)
    mean, var = _running_reference(batches, momentum, ddof)
    assert_allclose(scaler.mean_, mean, rtol=1e-13)
    assert_allclose(scaler.var_, var, rtol=1e-13)
    assert scaler.n_samples_seen_ == 96


def test_momentum_fit_is_one_batch():
    X = _data()
    assert_allclose(
        BatchNormScaler(momentum=0.1).fit(X).var_, BatchNormScaler().fit(X).var_
    )


def test_momentum_one_keeps_only_the_last_batch():
    scaler = BatchNormScaler(momentum=1.0).partial_fit(_data(seed=0))
    scaler.partial_fit(_data(seed=1))
    assert_allclose(scaler.mean_, _data(seed=1).mean(axis=0))


def test_momentum_keeps_running_value_of_a_feature_absent_from_a_batch():
    first = np.array([[0.0, 1.0], [2.0, 3.0]])
    second = np.array([[10.0, np.nan], [12.0, np.nan]])
    scaler = BatchNormScaler(momentum=0.5).partial_fit(first).partial_fit(second)
    assert_allclose(scaler.mean_, [6.0, 2.0])


def test_momentum_matches_torch_batchnorm1d_running_buffers():
    torch = pytest.importorskip("torch")
    batches = [_data(n_samples=32, seed=seed) * (seed + 1) for seed in range(5)]
    momentum = 0.1
    layer = torch.nn.BatchNorm1d(3, momentum=momentum, dtype=torch.float64)
    first = torch.from_numpy(batches[0])
    with torch.no_grad():
        layer.running_mean.copy_(first.mean(dim=0))
        layer.running_var.copy_(first.var(dim=0, unbiased=True))
    layer.train()
    for batch in batches[1:]:
        layer(torch.from_numpy(batch))

    scaler = BatchNormScaler(momentum=momentum, ddof=1)
    for batch in batches:
        scaler.partial_fit(batch)
    assert_allclose(scaler.mean_, layer.running_mean.numpy(), rtol=1e-12)
    assert_allclose(scaler.var_, layer.running_var.numpy(), rtol=1e-12)


def test_transform_matches_torch_batchnorm1d_in_eval_mode():
    torch = pytest.importorskip("torch")
    X = _data(n_samples=64)
    gamma, beta = np.array([0.5, 1.5, -2.0]), np.array([0.1, -0.2, 0.3])
    layer = torch.nn.BatchNorm1d(3, eps=1e-5, dtype=torch.float64)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(gamma))
        layer.bias.copy_(torch.from_numpy(beta))
        layer.running_mean.copy_(torch.from_numpy(X.mean(axis=0)))
        layer.running_var.copy_(torch.from_numpy(X.var(axis=0, ddof=1)))
    layer.eval()
    expected = layer(torch.from_numpy(X)).detach().numpy()
    scaler = BatchNormScaler(gamma=gamma, beta=beta, ddof=1).fit(X)
    assert_allclose(scaler.transform(X), expected, rtol=1e-12, atol=1e-12)


# %% with_mean=False and sparse input

SPARSE_CONTAINERS = [
    sparse.csr_matrix,
    sparse.csc_matrix,
    sparse.csr_array,
    sparse.csc_array,
]


def _sparse_data(seed=0):
    X = sparse.random(50, 4, density=0.3, random_state=seed, format="csr") * 10
    return X.toarray()


def test_without_mean_equals_the_formula():
    X = _data()
    Xt = BatchNormScaler(with_mean=False, gamma=2.0, beta=1.0).fit_transform(X)
    assert_allclose(Xt, 2.0 * X / np.sqrt(X.var(axis=0) + 1e-5) + 1.0, rtol=1e-13)


@pytest.mark.parametrize("container", SPARSE_CONTAINERS)
def test_sparse_input_matches_dense_and_stays_sparse(container):
    dense = _sparse_data()
    dense[3, 1] = np.nan
    X = container(dense)
    scaler = BatchNormScaler(with_mean=False, gamma=[1.0, 2.0, 3.0, 4.0])
    Xt = scaler.fit_transform(X)
    reference = clone(scaler).fit(dense)
    assert type(Xt) is type(X) and Xt.format == X.format
    assert_allclose(scaler.mean_, reference.mean_, rtol=1e-13)
    assert_allclose(scaler.var_, reference.var_, rtol=1e-12)
    assert_array_equal(scaler.n_samples_seen_, reference.n_samples_seen_)
    assert_allclose(Xt.toarray(), reference.transform(dense), rtol=1e-13)
    assert_allclose(scaler.inverse_transform(Xt).toarray(), dense, rtol=1e-13)


def test_sparse_weighted_statistics_match_dense():
    dense = _sparse_data()
    w = np.random.default_rng(0).uniform(0, 2, size=dense.shape[0])
    ours = BatchNormScaler(with_mean=False).fit(sparse.csc_array(dense), None, w)
    reference = BatchNormScaler(with_mean=False).fit(dense, sample_weight=w)
    assert_allclose(ours.var_, reference.var_, rtol=1e-12)


def test_sparse_input_with_mean_is_a_value_error():
    with pytest.raises(ValueError, match="Pass with_mean=False"):
        BatchNormScaler().fit(sparse.csr_matrix(_sparse_data()))


def test_sparse_input_with_non_zero_beta_is_a_value_error():
    scaler = BatchNormScaler(with_mean=False, beta=1.0)
    with pytest.raises(ValueError, match="beta must be 0 for sparse input"):
        scaler.fit(sparse.csr_matrix(_sparse_data()))
    scaler.fit(_sparse_data())
    with pytest.raises(ValueError, match="beta must be 0 for sparse input"):
        scaler.transform(sparse.csr_matrix(_sparse_data()))


# %% copy


def test_copy_false_transforms_in_place():
    X = _data()
    expected = BatchNormScaler().fit(X).transform(X)
    scaler = BatchNormScaler(copy=False).fit(X)
    Xt = scaler.transform(X)
    assert Xt is X
    assert_allclose(X, expected)
    assert scaler.inverse_transform(X) is X


def test_transform_copy_argument_overrides_the_parameter():
    X = _data()
    scaler = BatchNormScaler(copy=False).fit(X)
    assert scaler.transform(X, copy=True) is not X
    assert BatchNormScaler().fit(X).transform(X, copy=False) is X


def test_input_is_never_modified_with_copy_true():
    X = _data()
    X[0, 0] = np.nan
    original = X.copy()
    scaler = BatchNormScaler().fit(X)
    scaler.partial_fit(X)
    scaler.inverse_transform(scaler.transform(X))
    assert_array_equal(X, original)


@pytest.mark.parametrize("container", SPARSE_CONTAINERS)
@pytest.mark.parametrize("method", ["transform", "inverse_transform"])
def test_sparse_copy_true_shares_no_memory_with_the_input(container, method):
    X = container(_sparse_data())
    parts = [X.data.copy(), X.indices.copy(), X.indptr.copy()]
    scaler = BatchNormScaler(with_mean=False, gamma=3.0).fit(X)
    result = getattr(scaler, method)(X)
    assert type(result) is type(X) and result.format == X.format
    for before, after, new in zip(
        parts,
        [X.data, X.indices, X.indptr],
        [result.data, result.indices, result.indptr],
        strict=True,
    ):
        assert_array_equal(after, before)
        assert not np.may_share_memory(new, after)
    expected = 3.0 * X.toarray() / np.sqrt(scaler.var_ + 1e-5)
    if method == "inverse_transform":
        expected = X.toarray() * np.sqrt(scaler.var_ + 1e-5) / 3.0
    assert_allclose(result.toarray(), expected, rtol=1e-13)


@pytest.mark.filterwarnings("ignore::scipy.sparse.SparseEfficiencyWarning")
@pytest.mark.parametrize("container", SPARSE_CONTAINERS)
def test_sparse_copy_true_without_stored_entries_is_a_new_matrix(container):
    scaler = BatchNormScaler(with_mean=False).fit(_sparse_data())
    X = container((50, 4))
    for result in (scaler.transform(X), scaler.inverse_transform(X)):
        assert result is not X
        result[0, 0] = 1.0
        assert X.nnz == 0


@pytest.mark.parametrize("container", SPARSE_CONTAINERS)
def test_sparse_copy_false_transforms_in_place(container):
    X = container(_sparse_data())
    expected = BatchNormScaler(with_mean=False).fit(X).transform(X).toarray()
    scaler = BatchNormScaler(with_mean=False, copy=False).fit(X)
    assert scaler.transform(X) is X
    assert_allclose(X.toarray(), expected, rtol=1e-13)
    assert scaler.inverse_transform(X) is X


def test_sparse_input_converted_by_validation_is_left_untouched():
    # COO and integer input are converted to a new float CSR matrix, which
    # the transform may then write into; the caller's matrix stays as it was.
    dense = np.arange(12.0).reshape(4, 3)
    scaler = BatchNormScaler(with_mean=False).fit(dense)
    coo = sparse.coo_array(dense)
    ints = sparse.csr_array(dense.astype(np.int64))
    for X in (coo, ints):
        original = X.toarray().copy()
        Xt = scaler.transform(X)
        assert_allclose(Xt.toarray(), scaler.transform(dense), rtol=1e-13)
        assert_array_equal(X.toarray(), original)


def test_fit_never_modifies_input_with_copy_false():
    X = _data()
    X[1, 2] = np.nan
    original = X.copy()
    BatchNormScaler(copy=False).fit(X, sample_weight=np.ones(len(X)))
    assert_array_equal(X, original)


# %% Fitted attributes and methods


def test_fitted_attributes_are_float64_of_shape_n_features():
    scaler = BatchNormScaler().fit(_data(dtype=np.float32))
    for name in ["mean_", "var_", "multiplier_", "offset_"]:
        value = getattr(scaler, name)
        assert value.dtype == np.float64 and value.shape == (3,), name
    assert scaler.n_features_in_ == 3


def test_n_samples_seen_is_an_int_without_nan_or_weights():
    scaler = BatchNormScaler().fit(_data())
    assert isinstance(scaler.n_samples_seen_, int)
    assert scaler.n_samples_seen_ == 40


def test_n_samples_seen_counts_each_feature_when_nan_makes_them_differ():
    X = _data(n_samples=10)
    X[:3, 0] = np.nan
    scaler = BatchNormScaler().fit(X)
    assert_array_equal(scaler.n_samples_seen_, [7, 10, 10])
    assert scaler.n_samples_seen_.dtype.kind == "i"
    scaler.partial_fit(_data(n_samples=5))
    assert_array_equal(scaler.n_samples_seen_, [12, 15, 15])


def test_n_samples_seen_is_the_sum_of_weights():
    scaler = BatchNormScaler().fit(_data(n_samples=4), sample_weight=[1, 2, 0.5, 1])
    assert scaler.n_samples_seen_ == pytest.approx(4.5)
    scaler.partial_fit(_data(n_samples=2))
    assert scaler.n_samples_seen_ == pytest.approx(6.5)


def test_inverse_transform_is_exact():
    X = _data()
    scaler = BatchNormScaler(gamma=[0.5, 3.0, -2.0], beta=[1.0, -1.0, 0.0]).fit(X)
    assert_allclose(scaler.inverse_transform(scaler.transform(X)), X, rtol=1e-13)


def test_inverse_transform_with_zero_gamma_is_a_value_error():
    scaler = BatchNormScaler(gamma=[1.0, 0.0, 1.0]).fit(_data())
    with pytest.raises(ValueError, match=r"gamma is 0 for features \[1\]"):
        scaler.inverse_transform(_data())


def test_get_feature_names_out_returns_input_names():
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(_data(), columns=["a", "b", "c"])
    scaler = BatchNormScaler().fit(X)
    assert_array_equal(scaler.get_feature_names_out(), ["a", "b", "c"])
    assert_array_equal(scaler.feature_names_in_, ["a", "b", "c"])


def test_set_output_pandas_keeps_names_and_index():
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(_data(), columns=["a", "b", "c"], index=range(10, 50))
    out = BatchNormScaler().set_output(transform="pandas").fit_transform(X)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == ["a", "b", "c"]
    assert_array_equal(out.index, X.index)


def test_polars_float32_frame_stays_float32():
    pl = pytest.importorskip("polars")
    X = pl.DataFrame(_data(dtype=np.float32), schema=["a", "b", "c"])
    assert X.schema["a"] == pl.Float32
    scaler = BatchNormScaler().set_output(transform="polars")
    out = scaler.fit_transform(X)
    assert isinstance(out, pl.DataFrame)
    assert out.columns == ["a", "b", "c"]
    assert all(dtype == pl.Float32 for dtype in out.schema.values())
    assert BatchNormScaler().fit(X).transform(X).dtype == np.float32


def test_polars_float64_frame_gives_float64():
    pl = pytest.importorskip("polars")
    X = pl.DataFrame(_data(), schema=["a", "b", "c"])
    assert BatchNormScaler().fit_transform(X).dtype == np.float64


# %% Input types


def test_float32_stays_float32_and_integers_become_float64():
    X32 = _data(dtype=np.float32)
    assert BatchNormScaler().fit(X32).transform(X32).dtype == np.float32
    assert BatchNormScaler().fit(X32).inverse_transform(X32).dtype == np.float32
    Xint = np.arange(12).reshape(4, 3)
    assert BatchNormScaler().fit_transform(Xint).dtype == np.float64


def test_lists_and_pandas_give_the_numpy_result():
    pd = pytest.importorskip("pandas")
    X = _data()
    expected = BatchNormScaler().fit_transform(X)
    assert_allclose(BatchNormScaler().fit_transform(X.tolist()), expected)
    assert_allclose(BatchNormScaler().fit_transform(pd.DataFrame(X)), expected)


@pytest.mark.parametrize("kind", ["list", "array", "series"])
def test_sample_weight_accepts_lists_arrays_and_series(kind):
    pd = pytest.importorskip("pandas")
    X = _data()
    w = np.linspace(0.5, 2.0, len(X))
    given_weight = {"list": w.tolist(), "array": w, "series": pd.Series(w)}[kind]
    scaler = BatchNormScaler().fit(X, sample_weight=given_weight)
    assert_allclose(scaler.mean_, np.average(X, axis=0, weights=w))


def test_nan_is_ignored_in_fit_and_kept_by_transform():
    X = _data()
    X_nan = X.copy()
    X_nan[[0, 5, 9], [0, 1, 2]] = np.nan
    scaler = BatchNormScaler().fit(X_nan)
    assert_allclose(scaler.mean_, np.nanmean(X_nan, axis=0), rtol=1e-13)
    assert_allclose(scaler.var_, np.nanvar(X_nan, axis=0), rtol=1e-12)
    Xt = scaler.transform(X_nan)
    assert_array_equal(np.isnan(Xt), np.isnan(X_nan))
    back = scaler.inverse_transform(Xt)
    assert_array_equal(np.isnan(back), np.isnan(X_nan))
    assert_allclose(back, X_nan, rtol=1e-13)


def test_nan_with_weights_matches_standard_scaler():
    X = _data()
    X[[1, 2, 3], [0, 0, 2]] = np.nan
    w = np.random.default_rng(3).uniform(0, 2, size=len(X))
    ours = BatchNormScaler().fit(X, sample_weight=w)
    theirs = StandardScaler().fit(X, sample_weight=w)
    assert_allclose(ours.mean_, theirs.mean_, rtol=1e-12)
    assert_allclose(ours.var_, theirs.var_, rtol=1e-10)
    assert_allclose(ours.n_samples_seen_, theirs.n_samples_seen_)


# %% Bad input


@pytest.mark.parametrize(
    "X, match",
    [
        ([[1.0, np.inf], [2.0, 3.0]], "Input X contains infinity"),
        (np.array([[1.0 + 1j, 2.0], [2.0, 3.0]]), "Complex data not supported"),
        ([["a", "b"], ["c", "d"]], "could not convert string to float"),
        (np.empty((0, 3)), "0 sample"),
        ([1.0, 2.0, 3.0], "Expected 2D array, got 1D array"),
    ],
    ids=["inf", "complex", "strings", "empty", "1d"],
)
def test_bad_input_is_a_value_error_that_says_what_to_fix(X, match):
    with pytest.raises(ValueError, match=match):
        BatchNormScaler().fit(X)


def test_wrong_number_of_features_is_a_value_error():
    scaler = BatchNormScaler().fit(_data())
    for method in [scaler.transform, scaler.inverse_transform, scaler.partial_fit]:
        with pytest.raises(ValueError, match="has 2 features, but BatchNormScaler"):
            method(_data(n_features=2))


@pytest.mark.parametrize(
    "sample_weight, match",
    [
        (-np.ones(40), "Negative values in data passed to `sample_weight`"),
        (np.r_[np.nan, np.ones(39)], "Input sample_weight contains NaN"),
        (np.zeros(40), "Sample weights must contain at least one non-zero"),
        (np.ones(39), r"sample_weight.shape == \(39,\), expected \(40,\)"),
    ],
    ids=["negative", "nan", "all-zero", "wrong-length"],
)
def test_bad_sample_weight_is_a_value_error(sample_weight, match):
    with pytest.raises(ValueError, match=match):
        BatchNormScaler().fit(_data(), sample_weight=sample_weight)


def test_variance_overflow_is_refused_not_silently_wrong():
    X = np.array([[1e160, 1.0], [-1e160, 2.0], [3e159, 3.0]])
    with pytest.raises(ValueError, match=r"features \[0\] overflows float64"):
        BatchNormScaler().fit(X)


def test_large_but_representable_values_are_handled():
    X = np.array([[1e150, 1.0], [-1e150, 2.0], [3e149, 3.0]])
    scaler = BatchNormScaler().fit(X)
    assert_allclose(scaler.var_[0], np.var(X[:, 0] / 1e150) * 1e300, rtol=1e-12)
    assert np.all(np.isfinite(scaler.transform(X)))


@pytest.mark.parametrize(
    "bad_batch",
    [
        np.array([[1.0, np.inf, 2.0]]),
        np.array([[1.0, 2.0]]),
        np.array([[1e160, 1.0, 1.0], [-1e160, 1.0, 1.0]]),
    ],
    ids=["inf", "n_features", "overflow"],
)
@pytest.mark.parametrize("momentum", [None, 0.1])
def test_failed_partial_fit_leaves_the_state_exactly_as_it_was(bad_batch, momentum):
    scaler = BatchNormScaler(momentum=momentum).partial_fit(_data())
    before = _state(scaler)
    with pytest.raises(ValueError):
        scaler.partial_fit(bad_batch)
    _assert_same_state(before, scaler)


def test_failed_partial_fit_with_bad_weights_leaves_the_state_as_it_was():
    scaler = BatchNormScaler().partial_fit(_data())
    before = _state(scaler)
    with pytest.raises(ValueError):
        scaler.partial_fit(_data(), sample_weight=-np.ones(40))
    _assert_same_state(before, scaler)


def test_failed_first_partial_fit_leaves_the_scaler_unfitted():
    scaler = BatchNormScaler(gamma=[1.0, 2.0])
    with pytest.raises(ValueError):
        scaler.partial_fit(_data())
    assert not hasattr(scaler, "n_features_in_")
    assert not hasattr(scaler, "mean_")


def test_failed_fit_leaves_the_previous_fit_in_place():
    scaler = BatchNormScaler().fit(_data())
    before = _state(scaler)
    with pytest.raises(ValueError):
        scaler.fit([[np.inf, 1.0, 2.0]])
    _assert_same_state(before, scaler)


# %% scikit-learn compatibility


def test_pipeline_with_logistic_regression_converges_in_fewer_iterations():
    X, y = load_breast_cancer(return_X_y=True)
    raw = LogisticRegression(max_iter=10_000).fit(X, y)
    pipe = make_pipeline(BatchNormScaler(), LogisticRegression(max_iter=10_000))
    pipe.fit(X, y)
    assert raw.n_iter_[0] >= 10 * pipe[-1].n_iter_[0]
    assert pipe.score(X, y) > 0.98


def test_column_transformer_scales_only_the_chosen_columns():
    X = _data()
    ct = ColumnTransformer([("bn", BatchNormScaler(), [0, 2])], remainder="passthrough")
    Xt = ct.fit_transform(X)
    assert_allclose(Xt[:, :2], _formula(X[:, [0, 2]]), rtol=1e-12, atol=1e-12)
    assert_array_equal(Xt[:, 2], X[:, 1])


def test_grid_search_over_gamma_beta_epsilon_with_two_jobs():
    X, y = load_breast_cancer(return_X_y=True)
    pipe = make_pipeline(BatchNormScaler(), LogisticRegression(max_iter=1000))
    grid = {
        "batchnormscaler__gamma": [0.1, 1.0, np.full(X.shape[1], 2.0)],
        "batchnormscaler__beta": [0.0, 1.0],
        "batchnormscaler__epsilon": [1e-5, 1.0],
    }
    search = GridSearchCV(pipe, grid, cv=3, n_jobs=2).fit(X, y)
    assert len(search.cv_results_["params"]) == 12
    assert search.best_score_ > 0.95
    best_gamma = search.best_estimator_[0].gamma
    assert np.all(
        np.asarray(best_gamma)
        == np.asarray(search.best_params_["batchnormscaler__gamma"])
    )


def test_clone_and_pickle_keep_parameters_and_fitted_state():
    X = _data()
    scaler = BatchNormScaler(gamma=np.array([1.0, 2.0, 3.0]), momentum=0.2).fit(X)
    cloned = clone(scaler)
    assert_array_equal(cloned.gamma, scaler.gamma)
    assert not hasattr(cloned, "mean_")
    restored = pickle.loads(pickle.dumps(scaler))
    assert_array_equal(restored.transform(X), scaler.transform(X))


# %% Properties (hypothesis)

_finite = st.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=False)


@st.composite
def _matrices(draw, min_rows=2, max_rows=30, max_cols=4):
    n_rows = draw(st.integers(min_rows, max_rows))
    n_cols = draw(st.integers(1, max_cols))
    return draw(arrays(np.float64, (n_rows, n_cols), elements=_finite))


@settings(max_examples=60, deadline=None)
@given(X=_matrices(), gamma=st.floats(0.1, 10), beta=st.floats(-10, 10))
def test_property_inverse_transform_undoes_transform(X, gamma, beta):
    scaler = BatchNormScaler(gamma=gamma, beta=beta).fit(X)
    back = scaler.inverse_transform(scaler.transform(X))
    scale = np.abs(X).max(axis=0) + np.sqrt(scaler.var_ + 1e-5)
    assert np.all(np.abs(back - X) <= 1e-9 * scale)


@settings(max_examples=60, deadline=None)
@given(X=_matrices(max_rows=40), data=st.data())
def test_property_partial_fit_any_chunking_equals_fit(X, data):
    cuts = sorted(data.draw(st.sets(st.integers(1, len(X) - 1), max_size=6)))
    incremental = BatchNormScaler()
    for chunk in np.split(X, cuts):
        incremental.partial_fit(chunk)
    full = BatchNormScaler().fit(X)
    spread = np.abs(X).max(axis=0) + 1.0
    _assert_close(incremental.mean_, full.mean_, rtol=0, atol=1e-12 * spread)
    _assert_close(incremental.var_, full.var_, rtol=1e-9, atol=1e-12 * spread**2)
    assert incremental.n_samples_seen_ == full.n_samples_seen_


@settings(max_examples=60, deadline=None)
@given(X=_matrices(max_rows=15), data=st.data())
def test_property_integer_weights_equal_repetition(X, data):
    weights = np.asarray(
        data.draw(st.lists(st.integers(0, 4), min_size=len(X), max_size=len(X)))
    )
    if weights.sum() == 0:
        weights[0] = 1
    weighted = BatchNormScaler(ddof=1 if weights.sum() > 1 else 0)
    weighted.fit(X, sample_weight=weights)
    repeated = clone(weighted).fit(np.repeat(X, weights, axis=0))
    spread = np.abs(X).max(axis=0) + 1.0
    _assert_close(weighted.mean_, repeated.mean_, rtol=0, atol=1e-12 * spread)
    _assert_close(weighted.var_, repeated.var_, rtol=1e-9, atol=1e-12 * spread**2)


@pytest.mark.parametrize(
    "column, weights",
    [
        ([663177.890625, 0.0, 0.0, 0.0], [0, 1, 4, 1]),
        ([1e8, 1.0, 2.0, 3.0], [0, 1, 1, 1]),
    ],
)
def test_zero_weight_first_row_far_from_the_data_costs_no_digits(column, weights):
    # Found by test_property_integer_weights_equal_repetition, in about one run
    # in fifteen: the sums were shifted by the first row, of weight 0 or not,
    # which made the first variance negative and the second 0.
    X = np.array(column)[:, None]
    weighted = BatchNormScaler().fit(X, sample_weight=weights)
    repeated = BatchNormScaler().fit(np.repeat(X, weights, axis=0))
    assert_allclose(weighted.mean_, repeated.mean_, rtol=1e-15, atol=1e-15)
    assert_allclose(weighted.var_, repeated.var_, rtol=1e-12, atol=1e-15)


@settings(max_examples=60, deadline=None)
@given(X=_matrices(), seed=st.integers(0, 2**32 - 1))
def test_property_row_order_does_not_matter(X, seed):
    shuffled = np.random.default_rng(seed).permutation(X)
    a, b = BatchNormScaler().fit(X), BatchNormScaler().fit(shuffled)
    spread = np.abs(X).max(axis=0) + 1.0
    _assert_close(a.mean_, b.mean_, rtol=0, atol=1e-12 * spread)
    _assert_close(a.var_, b.var_, rtol=1e-9, atol=1e-12 * spread**2)


@settings(max_examples=60, deadline=None)
@given(X=_matrices(), epsilon=st.floats(1e-8, 1.0))
def test_property_gamma_sqrt_var_and_beta_mean_give_the_identity(X, epsilon):
    stats = BatchNormScaler(epsilon=epsilon).fit(X)
    identity = BatchNormScaler(
        gamma=np.sqrt(stats.var_ + epsilon), beta=stats.mean_, epsilon=epsilon
    ).fit(X)
    scale = np.abs(X).max(axis=0) + 1.0
    assert np.all(np.abs(identity.transform(X) - X) <= 1e-9 * scale)


# %% Numerical stability


def test_large_offset_small_spread_float64():
    rng = np.random.default_rng(0)
    deviations = rng.normal(scale=1e-3, size=(10_000, 2))
    X = 1e9 + deviations
    scaler = BatchNormScaler(epsilon=0.0).fit(X)
    # The exact statistics of the stored values, computed without the offset.
    exact = X - 1e9
    # mean_ itself is stored at 1e9, where float64 steps by 1.2e-7.
    assert_allclose(scaler.mean_ - 1e9, exact.mean(axis=0), rtol=0, atol=1.2e-7)
    assert_allclose(scaler.var_, exact.var(axis=0), rtol=1e-9)
    Xt = scaler.transform(X)
    # The output mean is off by at most mean_'s own rounding, in units of std.
    assert_allclose(Xt.mean(axis=0), 0.0, atol=np.spacing(1e9) / 2 / 1e-3)
    assert_allclose(Xt.std(axis=0), 1.0, rtol=1e-9)


def test_large_offset_float32_variance_accurate_to_1e_6():
    rng = np.random.default_rng(0)
    X = (1e6 + rng.normal(scale=1.0, size=(100_000, 3))).astype(np.float32)
    reference = X.astype(np.float64)
    scaler = BatchNormScaler().fit(X)
    assert_allclose(scaler.var_, reference.var(axis=0), rtol=1e-6)
    assert_allclose(scaler.mean_, reference.mean(axis=0), rtol=1e-12)
    incremental = BatchNormScaler()
    for batch in np.array_split(X, 13):
        incremental.partial_fit(batch)
    assert_allclose(incremental.var_, reference.var(axis=0), rtol=1e-6)


@pytest.mark.parametrize("copy", [True, False])
@pytest.mark.parametrize("method", ["transform", "inverse_transform"])
def test_infinity_in_transform_is_an_error_and_leaves_X_untouched(copy, method):
    scaler = BatchNormScaler().fit(_data())
    X = _data(n_samples=20_000, seed=1)
    X[-1, 2] = np.inf
    original = X.copy()
    with pytest.raises(ValueError, match="Input X contains infinity"):
        getattr(scaler, method)(X, copy=copy)
    assert_array_equal(X, original)


def test_features_far_from_zero_are_centered_before_scaling():
    rng = np.random.default_rng(0)
    # Column 0 sits 1e6 standard deviations from zero; column 1 near zero.
    X = np.column_stack([1e6 + rng.normal(size=1000), rng.normal(size=1000)])
    scaler = BatchNormScaler(epsilon=0.0).fit(X)
    exact = (X - scaler.mean_) / np.sqrt(scaler.var_)
    assert_allclose(scaler.transform(X), exact, rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_affine_form_is_as_accurate_as_the_formula_near_zero(dtype):
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(500, 3)) * [1.0, 10.0, 0.1] + [0.5, -3.0, 0.02]).astype(dtype)
    scaler = BatchNormScaler().fit(X)
    exact = _formula(X.astype(np.float64))
    tolerance = 1e-6 if dtype == np.float32 else 1e-13
    assert_allclose(scaler.transform(X), exact, rtol=0, atol=tolerance)


def test_threads_for_large_inputs_respect_threadpoolctl_limits():
    import os

    from threadpoolctl import threadpool_limits

    from sklearn_bn.preprocessing._threads import n_threads as _n_threads

    large, small = np.empty((5_000_000, 1)), np.empty((100, 1))
    assert _n_threads(small) == 1
    with threadpool_limits(limits=1):
        assert _n_threads(large) == 1
    with threadpool_limits(limits=2):
        assert _n_threads(large) == min(2, os.cpu_count())


@pytest.mark.parametrize("container", SPARSE_CONTAINERS)
def test_infinity_in_sparse_input_is_a_value_error(container):
    X = _sparse_data()
    X[2, 1] = np.inf
    scaler = BatchNormScaler(with_mean=False)
    with pytest.raises(ValueError, match="Input X contains infinity"):
        scaler.fit(container(X))
    scaler.fit(_sparse_data())
    with pytest.raises(ValueError, match="Input X contains infinity"):
        scaler.transform(container(X))


# scikit-learn 1.9's callbacks


def test_callbacks_see_one_task_per_fit_and_a_failed_fit_is_torn_down():
    callback_tests = pytest.importorskip("sklearn.callback.tests._utils")
    recorder = callback_tests.RecordingCallback()
    X = np.random.default_rng(0).normal(size=(20, 3))
    scaler = BatchNormScaler().set_callbacks(recorder).fit(X)
    scaler.partial_fit(X)
    assert recorder.count_hooks("on_fit_task_begin") == 2
    assert recorder.count_hooks("on_fit_task_end") == 2
    ended = [r for r in recorder.record if r["name"] == "on_fit_task_end"][-1]
    assert_allclose(ended["kwargs"]["fitted_estimator"].mean_, scaler.mean_)
    before = scaler.mean_.copy()
    with pytest.raises(ValueError):
        scaler.partial_fit(X[:, :2])
    assert_array_equal(scaler.mean_, before)
    assert recorder.count_hooks("setup") == recorder.count_hooks("teardown") == 3


def test_progress_bar_shows_the_scaler_in_a_pipeline(capsys):
    pytest.importorskip("rich")
    from sklearn.callback import ProgressBar

    X, y = load_breast_cancer(return_X_y=True)
    pipe = make_pipeline(BatchNormScaler(), LogisticRegression())
    pipe.set_callbacks(ProgressBar()).fit(X, y)
    assert pipe.score(X, y) > 0.9
    assert "BatchNormScaler - fit" in capsys.readouterr().out


def _raising_at_task_end(exception):
    """A recording callback that raises ``exception`` when the fit task ends."""
    callback_tests = pytest.importorskip("sklearn.callback.tests._utils")

    class RaisingAtTaskEnd(callback_tests.RecordingCallback):
        def on_fit_task_end(self, estimator, context, **kwargs):
            raise exception

    return RaisingAtTaskEnd()


@pytest.mark.parametrize("exception", [KeyboardInterrupt(), RuntimeError("callback")])
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_callback_raising_at_task_end_leaves_the_state_as_it_was(exception, method):
    rng = np.random.default_rng(0)
    X, X_new = rng.normal(size=(60, 3)), rng.normal(loc=5, size=(60, 3))
    scaler = BatchNormScaler().fit(X)
    before = {key: getattr(scaler, key) for key in ("n_samples_seen_", "mean_", "var_")}
    scaler.set_callbacks(_raising_at_task_end(exception))
    with pytest.raises(type(exception)):
        getattr(scaler, method)(X_new)
    assert scaler.n_samples_seen_ == before["n_samples_seen_"] == 60
    assert_array_equal(scaler.mean_, before["mean_"])
    assert_array_equal(scaler.var_, before["var_"])
    assert_array_equal(scaler.transform(X), BatchNormScaler().fit_transform(X))


def test_callback_raising_at_task_end_of_a_first_fit_leaves_it_unfitted():
    scaler = BatchNormScaler().set_callbacks(_raising_at_task_end(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        scaler.partial_fit(np.ones((4, 2)))
    assert not hasattr(scaler, "mean_")
    assert not hasattr(scaler, "n_samples_seen_")


@pytest.mark.parametrize("n_samples", [7, 10, 20])
@pytest.mark.parametrize("momentum", [None, 0.1])
def test_ddof_one_refuses_normalized_weights_whatever_their_rounding(
    n_samples, momentum
):
    # 7 / 7, 10 / 10 and 20 / 20 weights sum to 1 - 1.1e-16, 1 - 1.1e-16 and
    # 1 + 2.2e-16: one sample each time, so each is refused, where the last
    # once gave a variance 4.5e15 times too large.
    X = np.random.default_rng(0).normal(size=(n_samples, 2))
    scaler = BatchNormScaler(ddof=1, momentum=momentum)
    with pytest.raises(ValueError, match="ddof=1 needs more than 1 sample"):
        scaler.fit(X, sample_weight=np.full(n_samples, 1 / n_samples))
    assert not hasattr(scaler, "var_")


def test_ddof_one_with_weights_summing_to_more_than_one_is_numpys_fweights():
    X = np.random.default_rng(0).normal(size=(6, 2))
    weights = np.array([1, 2, 1, 3, 1, 1])
    scaler = BatchNormScaler(ddof=1).fit(X, sample_weight=weights / 2)
    # Frequencies that sum to 4.5: the divisor is 3.5.
    expected = np.cov(X, rowvar=False, fweights=weights).diagonal()
    assert_allclose(scaler.var_, expected * (9 - 1) / 2 / 3.5, rtol=1e-13)
