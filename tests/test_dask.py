"""BatchNormScaler on dask collections: one test per promise.

Each promise is checked on a real ``distributed.LocalCluster`` (two worker
processes on the loopback interface) and on dask's threaded scheduler, against
the numpy path of the same estimator on the same data.
"""

import pickle
import resource

import numpy as np
import pytest

dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")
pd = pytest.importorskip("pandas")

import dask.array as da  # noqa: E402
import dask.dataframe as dd  # noqa: E402
from dask_cluster import strict_local_cluster  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from numpy.testing import assert_allclose, assert_array_equal  # noqa: E402

from sklearn_bn import BatchNormScaler  # noqa: E402

RTOL = 1e-12
# Each worker may use this much; the memory test streams several times more.
WORKER_MEMORY = 500 * 2**20
FITTED = ["mean_", "var_", "multiplier_", "offset_", "n_samples_seen_"]


@pytest.fixture(scope="module")
def client():
    """Two worker processes on 127.0.0.1, which fail rather than spill (see
    ``dask_cluster.strict_local_cluster``), their memory sampled often."""
    interval = {"distributed.admin.system-monitor.interval": "50ms"}
    with strict_local_cluster(WORKER_MEMORY, **interval) as client:
        yield client


@pytest.fixture(params=["distributed", "threads"])
def scheduler(request):
    """Run the test on the LocalCluster, then on the threaded scheduler."""
    if request.param == "distributed":
        client = request.getfixturevalue("client")
        with dask.config.set(scheduler=client.get):
            yield client
    else:
        with dask.config.set(scheduler="threads"):
            yield None


def _data(n_samples=300, n_features=4, seed=0, nan_fraction=0.0):
    """Features on different scales and offsets, with NaNs here and there."""
    rng = np.random.default_rng(seed)
    scale = np.logspace(-2, 3, n_features)
    shift = np.linspace(-50, 50, n_features) + 7.0
    X = rng.normal(size=(n_samples, n_features)) * scale + shift
    X[rng.random(X.shape) < nan_fraction] = np.nan
    return X


def _weights(n_samples=300, seed=1):
    return np.random.default_rng(seed).uniform(0.0, 3.0, n_samples)


def _assert_same_fit(actual, desired, rtol=RTOL):
    """Equal fitted attributes; ``rtol`` may be one per feature.

    A mean near zero is compared in units of its feature's spread, and so is
    the offset, which is the mean in those units.
    """
    n_features = desired.n_features_in_
    rtol = np.broadcast_to(rtol, (n_features,))
    spread = np.sqrt(np.nan_to_num(desired.var_))
    atol = {"mean_": rtol * spread, "offset_": rtol * np.abs(desired.multiplier_)}
    for name in FITTED:
        values = [
            np.broadcast_to(getattr(fitted, name), (n_features,))
            for fitted in (actual, desired)
        ]
        tolerance = np.broadcast_to(atol.get(name, 0.0), (n_features,))
        for j in range(n_features):
            assert_allclose(
                *(v[j] for v in values),
                rtol=rtol[j],
                atol=tolerance[j],
                err_msg=name,
            )
    assert actual.n_features_in_ == desired.n_features_in_


def _assert_close(actual, desired):
    """Equal to RTOL relative, NaNs in the same places."""
    assert_allclose(actual, desired, rtol=RTOL, atol=RTOL * np.nanmax(abs(desired)))


# %% Fitting


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("nan_fraction", [0.0, 0.1])
@pytest.mark.parametrize(
    "params", [{}, {"gamma": 2.0, "beta": -1.0, "epsilon": 0.0}, {"ddof": 1}]
)
def test_fit_equals_numpy_fit(scheduler, params, nan_fraction, weighted):
    X = _data(nan_fraction=nan_fraction)
    weights = _weights() if weighted else None
    dask_weights = da.from_array(weights, chunks=70) if weighted else None
    scaler = BatchNormScaler(**params)
    scaler.fit(da.from_array(X, chunks=(70, 4)), sample_weight=dask_weights)
    _assert_same_fit(scaler, BatchNormScaler(**params).fit(X, sample_weight=weights))


def test_fit_merges_column_chunks_and_uneven_row_chunks(scheduler):
    X = _data(n_features=7, nan_fraction=0.05)
    X_dask = da.from_array(X, chunks=((1, 100, 13, 186), (3, 1, 3)))
    _assert_same_fit(BatchNormScaler().fit(X_dask), BatchNormScaler().fit(X))


@settings(max_examples=25, deadline=None)
@given(
    rows=st.lists(st.integers(1, 60), min_size=1, max_size=8),
    columns=st.lists(st.integers(1, 3), min_size=1, max_size=3),
    weighted=st.booleans(),
)
def test_any_chunking_equals_numpy_fit(rows, columns, weighted):
    X = _data(n_samples=sum(rows), n_features=sum(columns), nan_fraction=0.1)
    weights = _weights(sum(rows)) if weighted else None
    X_dask = da.from_array(X, chunks=(tuple(rows), tuple(columns)))
    with dask.config.set(scheduler="synchronous"):
        scaler = BatchNormScaler().fit(X_dask, sample_weight=weights)
    reference = BatchNormScaler().fit(X, sample_weight=weights)
    # Each merge of chunk moments subtracts chunk means rounded to float64,
    # which costs the variance up to about eps * |mean| / std: 1e-12 to 1e-11
    # here, where the first feature's mean is thousands of std from zero and
    # chunks of a row or two can have means far apart.
    spread = np.sqrt(np.nan_to_num(reference.var_))
    condition = np.divide(
        np.abs(reference.mean_), spread, out=np.zeros_like(spread), where=spread > 0
    )
    # Per feature: the well-conditioned ones keep the 1e-12 check.
    rtol = RTOL + 16 * np.finfo(np.float64).eps * condition
    _assert_same_fit(scaler, reference, rtol)


def test_partial_fit_pools_dask_and_numpy_batches_exactly(scheduler):
    X = _data(nan_fraction=0.1)
    scaler = BatchNormScaler()
    scaler.partial_fit(da.from_array(X[:120], chunks=50))
    scaler.partial_fit(X[120:200])
    scaler.partial_fit(da.from_array(X[200:], chunks=33))
    _assert_same_fit(scaler, BatchNormScaler().fit(X))


@pytest.mark.parametrize("ddof", [0, 1])
def test_momentum_treats_each_row_chunk_as_a_batch_in_order(scheduler, ddof):
    X, weights = _data(nan_fraction=0.05), _weights()
    chunks = (40, 100, 60, 100)
    scaler = BatchNormScaler(momentum=0.3, ddof=ddof).fit(
        da.from_array(X, chunks=(chunks, 2)),
        sample_weight=da.from_array(weights, chunks=(chunks,)),
    )
    reference = BatchNormScaler(momentum=0.3, ddof=ddof)
    bounds = np.cumsum((0,) + chunks)
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        reference.partial_fit(X[start:stop], sample_weight=weights[start:stop])
    _assert_same_fit(scaler, reference)


def test_sample_weight_chunked_differently_is_rechunked_like_x(scheduler):
    X, weights = _data(), _weights()
    scaler = BatchNormScaler().fit(
        da.from_array(X, chunks=70), sample_weight=da.from_array(weights, chunks=45)
    )
    _assert_same_fit(scaler, BatchNormScaler().fit(X, sample_weight=weights))


def test_numpy_sample_weight_with_dask_x_equals_numpy_fit(scheduler):
    X, weights = _data(), _weights()
    scaler = BatchNormScaler().fit(da.from_array(X, chunks=70), sample_weight=weights)
    _assert_same_fit(scaler, BatchNormScaler().fit(X, sample_weight=weights))


def test_integer_dask_array_is_fitted_as_float64(scheduler):
    X = np.arange(40).reshape(10, 4) ** 2
    scaler = BatchNormScaler().fit(da.from_array(X, chunks=3))
    _assert_same_fit(scaler, BatchNormScaler().fit(X))
    assert scaler.transform(da.from_array(X, chunks=3)).dtype == np.float64


# %% Transforming


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_transform_is_lazy_with_the_same_chunks_and_equals_numpy(scheduler, dtype):
    X = _data(nan_fraction=0.1).astype(dtype)
    X_dask = da.from_array(X, chunks=((100, 150, 50), (1, 3)))
    scaler = BatchNormScaler(gamma=2.0, beta=0.5).fit(X_dask)
    result = scaler.transform(X_dask)
    assert isinstance(result, da.Array)
    assert result.chunks == X_dask.chunks
    assert result.dtype == dtype
    computed = result.compute()
    assert computed.dtype == dtype
    _assert_close(computed, scaler.transform(X))


def test_inverse_transform_is_lazy_and_undoes_transform(scheduler):
    X = _data(nan_fraction=0.1)
    X_dask = da.from_array(X, chunks=(70, 2))
    scaler = BatchNormScaler(gamma=[1.0, -2.0, 0.5, 3.0], beta=1.0).fit(X_dask)
    result = scaler.inverse_transform(scaler.transform(X_dask))
    assert isinstance(result, da.Array)
    assert result.chunks == X_dask.chunks
    _assert_close(result.compute(), X)
    _assert_close(
        scaler.inverse_transform(X_dask).compute(), scaler.inverse_transform(X)
    )


@pytest.mark.parametrize("momentum", [None, 0.1])
def test_fit_transform_equals_numpy_fit_transform(scheduler, momentum):
    X = _data(nan_fraction=0.1)
    scaler = BatchNormScaler(momentum=momentum)
    # One row chunk: in momentum mode, one batch, as the numpy call sees X.
    result = scaler.fit_transform(da.from_array(X, chunks=(300, 2)))
    assert isinstance(result, da.Array)
    _assert_close(result.compute(), BatchNormScaler(momentum=momentum).fit_transform(X))


def test_transform_never_modifies_the_wrapped_numpy_array(scheduler):
    X = _data()
    original = X.copy()
    scaler = BatchNormScaler(copy=False).fit(X)
    scaler.transform(da.from_array(X, chunks=70)).compute()
    assert_array_equal(X, original)


def test_lazy_transform_keeps_the_statistics_of_its_fit(scheduler):
    X = _data()
    X_dask = da.from_array(X, chunks=70)
    scaler = BatchNormScaler().fit(X_dask)
    expected = scaler.transform(X)
    result = scaler.transform(X_dask)
    scaler.fit(X_dask * 10.0)
    _assert_close(result.compute(), expected)


# %% Dask DataFrames


def _frame(nan_fraction=0.1):
    X = _data(nan_fraction=nan_fraction)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    frame["w"] = _weights()
    return frame


def test_dask_dataframe_fit_equals_pandas_fit_with_names(scheduler):
    frame = _frame()
    features = ["a", "b", "c", "d"]
    dask_frame = dd.from_pandas(frame, npartitions=4)
    scaler = BatchNormScaler().fit(dask_frame[features], sample_weight=dask_frame["w"])
    reference = BatchNormScaler().fit(frame[features], sample_weight=frame["w"])
    _assert_same_fit(scaler, reference)
    assert_array_equal(scaler.feature_names_in_, features)


def test_dask_dataframe_transform_keeps_columns_index_and_partitions(scheduler):
    frame = _frame().drop(columns="w")
    frame.index = frame.index * 3 + 5
    dask_frame = dd.from_pandas(frame, npartitions=4)
    scaler = BatchNormScaler().fit(dask_frame)
    result = scaler.transform(dask_frame)
    assert isinstance(result, dd.DataFrame)
    assert list(result.columns) == list(frame.columns)
    assert result.npartitions == dask_frame.npartitions
    computed = result.compute()
    assert_array_equal(computed.index, frame.index)
    _assert_close(computed.to_numpy(), scaler.transform(frame))
    inverse = scaler.inverse_transform(result).compute()
    _assert_close(inverse.to_numpy(), frame.to_numpy())


def test_dask_dataframe_with_other_columns_is_a_value_error(scheduler):
    dask_frame = dd.from_pandas(_frame(), npartitions=2)
    scaler = BatchNormScaler().fit(dask_frame[["a", "b", "c", "d"]])
    with pytest.raises(ValueError, match="feature names"):
        scaler.transform(dask_frame[["d", "c", "b", "a"]])


# %% Errors, raised before anything is gathered


def test_inf_in_dask_x_is_a_value_error(scheduler):
    X = _data()
    X[123, 2] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        BatchNormScaler().fit(da.from_array(X, chunks=70))
    scaler = BatchNormScaler().fit(_data())
    with pytest.raises(ValueError, match="infinity"):
        scaler.transform(da.from_array(X, chunks=70)).compute()


@pytest.mark.parametrize(
    "weights, match",
    [
        (-np.ones(300), "non-negative"),
        (np.zeros(300), "sums to zero"),
        (np.ones(299), "one weight per row"),
    ],
)
def test_bad_dask_sample_weight_is_a_value_error(scheduler, weights, match):
    X_dask = da.from_array(_data(), chunks=70)
    with pytest.raises(ValueError, match=match):
        BatchNormScaler().fit(X_dask, sample_weight=da.from_array(weights, chunks=70))


def test_numpy_sample_weight_with_unknown_chunks_is_a_value_error(scheduler):
    dask_frame = dd.from_pandas(_frame(), npartitions=3)
    with pytest.raises(ValueError, match="sample_weight must be a dask"):
        BatchNormScaler().fit(dask_frame, sample_weight=_weights())


def test_one_dimensional_dask_array_is_a_value_error():
    with pytest.raises(ValueError, match="2-D"):
        BatchNormScaler().fit(da.ones(10, chunks=5))


def test_wrong_number_of_features_is_a_value_error(scheduler):
    scaler = BatchNormScaler().fit(da.from_array(_data(), chunks=70))
    with pytest.raises(ValueError, match="features"):
        scaler.transform(da.ones((10, 3), chunks=5))


def test_dask_array_with_no_rows_is_refused_as_numpy_input_is():
    fitted = BatchNormScaler().fit(_data())
    for method in ["fit", "partial_fit", "transform", "inverse_transform"]:
        scaler = fitted if "transform" in method else BatchNormScaler()
        with pytest.raises(ValueError, match=r"Found array with 0 sample\(s\)"):
            getattr(scaler, method)(da.zeros((0, 4), chunks=5))


@pytest.mark.parametrize("momentum", [None, 0.1])
def test_dask_dataframe_with_no_rows_is_refused_as_numpy_input_is(scheduler, momentum):
    # Its row count is not known until it is computed: it is counted in the
    # pass that fits it.
    dask_frame = dd.from_pandas(_frame().drop(columns="w"), npartitions=3)
    empty = dask_frame[dask_frame["a"] > 1e9]
    message = r"Found array with 0 sample\(s\) \(shape=\(0, 4\)\)"
    with pytest.raises(ValueError, match=message):
        BatchNormScaler(momentum=momentum).fit(empty)
    scaler = BatchNormScaler(momentum=momentum).fit(dask_frame)
    state = pickle.dumps(scaler.__dict__)
    with pytest.raises(ValueError, match=message):
        scaler.partial_fit(empty)
    assert pickle.dumps(scaler.__dict__) == state


def test_momentum_passes_over_empty_row_chunks_with_weights(scheduler):
    # A chunk with no rows is no batch, weighted or not; its weights sum to
    # zero, which in a chunk with rows is an error.
    X, weights = _data(), _weights()
    chunks = ((100, 0, 150, 0, 50),)
    dX = da.from_array(X, chunks=(chunks[0], 4))
    dw = da.from_array(weights, chunks=chunks)
    scaler = BatchNormScaler(momentum=0.1).fit(dX, sample_weight=dw)
    reference = BatchNormScaler(momentum=0.1)
    for rows in [slice(0, 100), slice(100, 250), slice(250, 300)]:
        reference.partial_fit(X[rows], sample_weight=weights[rows])
    _assert_same_fit(scaler, reference)


def test_failed_partial_fit_leaves_the_state_unchanged(scheduler):
    scaler = BatchNormScaler().fit(da.from_array(_data(), chunks=70))
    state = pickle.dumps(scaler.__dict__)
    X = _data()
    X[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        scaler.partial_fit(da.from_array(X, chunks=70))
    assert pickle.dumps(scaler.__dict__) == state


# %% Memory: the data are summarised where they are, never gathered


def _peak_rss():
    """This process's peak resident memory in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _sampled_peak_memory(dask_worker):
    """The most resident memory a worker's system monitor has recorded.

    A worker's own peak (getrusage) would not do: Linux carries it over from
    the parent process through fork and exec.
    """
    return max(dask_worker.monitor.quantities["memory"])


def test_fit_streams_data_larger_than_the_workers_memory_and_never_gathers_it(
    client,
):
    # About 2 GB, generated lazily on the workers: four times what one worker
    # may hold, twice what both may hold together.
    X = da.random.default_rng(0).normal(
        3.0, 2.0, size=(2_000_000, 128), chunks=(8_000, 128)
    )
    assert X.nbytes > 3.5 * WORKER_MEMORY
    client_peak = _peak_rss()
    with dask.config.set(scheduler=client.get):
        scaler = BatchNormScaler().fit(X)
    # Gathering X would have raised this process's peak by about X.nbytes.
    assert _peak_rss() - client_peak < X.nbytes / 8
    # A worker holding its share of X would have been killed at 95% of its
    # limit, failing the fit; its memory, sampled every 50 ms, shows how far
    # below the limit it stayed.
    worker_peaks = client.run(_sampled_peak_memory)
    assert len(worker_peaks) == 2
    assert all(peak < WORKER_MEMORY for peak in worker_peaks.values())
    assert scaler.n_samples_seen_ == 2_000_000
    assert_allclose(scaler.mean_, 3.0, atol=0.01)
    assert_allclose(scaler.var_, 4.0, rtol=0.01)
