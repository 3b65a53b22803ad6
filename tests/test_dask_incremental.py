"""The networks on data larger than memory, behind dask-ml's ``Incremental``.

``make_pipeline(BatchNormScaler(), Incremental(network))`` fits the scaler on
a dask array in one pass, then hands each scaled block to the network's
``partial_fit`` on the workers of a real ``distributed.LocalCluster``. Each
test compares the result with the same blocks fed to ``partial_fit`` by hand,
or watches the client's memory while the data stream past it.

The data are drawn on the workers, block by block, by a generator seeded with
the block's first row, so that the tests draw the same blocks on the client
as numpy arrays without asking dask for them.
"""

import tracemalloc

import numpy as np
import pytest

dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")
pytest.importorskip("dask_ml", minversion="2025.1.0")

import dask.array as da  # noqa: E402
from dask_cluster import strict_local_cluster  # noqa: E402
from dask_ml.wrappers import Incremental  # noqa: E402
from numpy.testing import assert_allclose, assert_array_equal  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402

from sklearn_bn import (  # noqa: E402
    BatchNorm,
    BatchNormMLPClassifier,
    BatchNormMLPRegressor,
    BatchNormScaler,
    BatchRenorm,
    GhostBatchNorm,
    LayerNorm,
    RMSNorm,
)

# Uneven blocks, none a multiple of the mini-batch size: each call to
# partial_fit ends with a ragged mini-batch.
CHUNKS = (300, 250, 410, 180)
N_FEATURES = 4
SCALE = np.array([0.01, 1.0, 30.0, 1000.0])
SHIFT = np.array([5.0, -3.0, 100.0, -2000.0])
CLASSES = [0, 1, 2]
# Some by-hand fits use a scaler fitted on the numpy array. Its statistics
# differ from those merged from the dask blocks by rounding, 1e-15 relative
# (tests/test_dask.py bounds them by 1e-12); after these few dozen Adam steps,
# the networks' parameters, running statistics and outputs differ by at most
# 1.1e-15 of their largest value (measured; a running mean in units of its
# running standard deviation). RTOL leaves a thousandfold margin.
RTOL = 1e-12
# Each worker may use this much; the stream never comes near it.
WORKER_MEMORY = 500 * 2**20


@pytest.fixture(scope="module")
def client():
    """Two worker processes on 127.0.0.1, which fail rather than spill (see
    ``dask_cluster.strict_local_cluster``)."""
    with strict_local_cluster(WORKER_MEMORY) as client:
        # Incremental computes through dask's default scheduler: this client's.
        with dask.config.set(scheduler=client.get):
            yield client


# %% The data, drawn on the workers or on the client


def _rows(seed, start, stop, dtype=np.float64):
    """Rows ``start:stop`` of data set ``seed``: features on different scales."""
    rng = np.random.default_rng([seed, start])
    X = rng.standard_normal((stop - start, N_FEATURES)) * SCALE + SHIFT
    return X.astype(dtype, copy=False)


def _draw_block(seed, float_dtype, block_info=None):
    (start, stop), _ = block_info[None]["array-location"]
    return _rows(seed, start, stop, float_dtype)


def _classes(X):
    """Three classes from the two features whose scales are 1e5 apart."""
    standard = (X - SHIFT) / SCALE
    return np.digitize(standard[:, 0] + standard[:, 3], [-0.5, 0.5])


def _target(X):
    """A smooth target that a hidden layer helps with."""
    standard = (X - SHIFT) / SCALE
    return np.sin(standard[:, 1]) + standard[:, 2] ** 2


def _dask_data(label, chunks=CHUNKS, seed=0, dtype=np.float64):
    """X drawn block by block where it is computed, and its label, both lazy."""
    X = da.map_blocks(
        _draw_block,
        seed=seed,
        float_dtype=dtype,
        dtype=dtype,
        chunks=(chunks, (N_FEATURES,)),
        meta=np.empty((0, 0), dtype=dtype),
    )
    y_dtype = np.int64 if label is _classes else dtype
    return X, X.map_blocks(label, drop_axis=1, dtype=y_dtype)


def _numpy_blocks(label, chunks=CHUNKS, seed=0, dtype=np.float64):
    """The same blocks as ``_dask_data``'s, drawn here."""
    bounds = np.cumsum((0, *chunks))
    blocks = [
        _rows(seed, start, stop, dtype)
        for start, stop in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    return blocks, [label(block) for block in blocks]


def _by_hand(network, scaler, X_blocks, y_blocks, classes=None, epochs=1):
    """``network`` trained with one partial_fit call per scaled block, in order."""
    network = clone(network)
    for _ in range(epochs):
        for X, y in zip(X_blocks, y_blocks, strict=True):
            if classes is not None and not hasattr(network, "classes_"):
                network.partial_fit(scaler.transform(X), y, classes=classes)
            else:
                network.partial_fit(scaler.transform(X), y)
    return network


def _fitted_attributes(estimator):
    """The public fitted attributes: ``coefs_``, ``bn_running_means_``..."""
    return {
        name: value
        for name, value in vars(estimator).items()
        if name.endswith("_") and not name.startswith("_")
    }


def _as_list(value):
    return list(value) if isinstance(value, list) else [value]


def _assert_same_network(actual, desired, rtol=0.0):
    """Every fitted attribute equal: bit for bit, or to ``rtol`` of its
    largest value.

    A running mean near zero is compared in units of its unit's running
    standard deviation, as tests/test_dask.py compares a scaler's mean.
    """
    actual_attributes = _fitted_attributes(actual)
    desired_attributes = _fitted_attributes(desired)
    assert actual_attributes.keys() == desired_attributes.keys()
    for name, value in desired_attributes.items():
        if value is None or isinstance(value, str):
            assert actual_attributes[name] == value, name
            continue
        got, expected = _as_list(actual_attributes[name]), _as_list(value)
        assert len(got) == len(expected), name
        for layer, (got_array, expected_array) in enumerate(
            zip(got, expected, strict=True)
        ):
            expected_array = np.asarray(expected_array)
            if rtol == 0.0 or not np.issubdtype(expected_array.dtype, np.floating):
                assert_array_equal(got_array, expected_array, err_msg=name)
                continue
            scale = np.max(np.abs(expected_array), initial=0.0)
            if name == "bn_running_means_":
                spread = np.sqrt(desired.bn_running_vars_[layer])
                got_array, expected_array = got_array / spread, expected_array / spread
                scale = 1.0
            assert_allclose(
                got_array, expected_array, rtol=rtol, atol=rtol * scale, err_msg=name
            )


def _client_peak(compute):
    """``compute()`` and the most memory it held at once on this process.

    tracemalloc counts every thread's allocations, numpy's arrays included,
    so a gather of X, received by the client's event loop, would count in
    full.
    """
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        result = compute()
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    return result, peak


NETWORK = {
    "hidden_layer_sizes": (8, 6),
    "batch_size": 64,
    "learning_rate_init": 0.01,
    "random_state": 0,
}
# Each kind of state that partial_fit carries from one block to the next.
KINDS = {
    "batch_norm": {"batch_norm": True},
    "cumulative_average": {"batch_norm": BatchNorm(momentum=None)},
    "ghost_batches": {"batch_norm": GhostBatchNorm(virtual_batch_size=16)},
    "renorm": {"batch_norm": BatchRenorm()},
    "layer_norm": {"batch_norm": LayerNorm()},
    "rms_norm": {"batch_norm": RMSNorm()},
    "dropout": {"batch_norm": True, "dropout": 0.2},
}


def _classifier(kind):
    return clone(BatchNormMLPClassifier(**KINDS[kind], **NETWORK))


def _streamed(network, **incremental):
    return make_pipeline(BatchNormScaler(), Incremental(network, **incremental))


# %% Training: what the workers compute is partial_fit on each block


@pytest.mark.parametrize("kind", KINDS)
def test_fit_is_partial_fit_on_each_scaled_block_in_order(client, kind):
    X, y = _dask_data(_classes)
    pipeline = _streamed(_classifier(kind), shuffle_blocks=False)
    pipeline.fit(X, y, incremental__classes=CLASSES)
    # The pipeline's own scaler scales the blocks here as it did there: the
    # network that comes back from the workers is the one built here, bit for
    # bit, running statistics, gammas, betas and the loss of each call
    # included.
    X_blocks, y_blocks = _numpy_blocks(_classes)
    reference = _by_hand(_classifier(kind), pipeline[0], X_blocks, y_blocks, CLASSES)
    _assert_same_network(pipeline[-1].estimator_, reference)
    assert len(pipeline[-1].estimator_.loss_curve_) == len(CHUNKS)


@pytest.mark.parametrize("kind", ["batch_norm", "layer_norm"])
def test_pipeline_equals_numpy_scaler_and_partial_fit_by_hand(client, kind):
    X, y = _dask_data(_classes)
    pipeline = _streamed(_classifier(kind), shuffle_blocks=False)
    pipeline.fit(X, y, incremental__classes=CLASSES)
    X_blocks, y_blocks = _numpy_blocks(_classes)
    X_all = np.concatenate(X_blocks)
    scaler = BatchNormScaler().fit(X_all)
    for name in ["mean_", "var_", "multiplier_", "offset_", "n_samples_seen_"]:
        assert_allclose(
            getattr(pipeline[0], name), getattr(scaler, name), rtol=RTOL, err_msg=name
        )
    reference = _by_hand(_classifier(kind), scaler, X_blocks, y_blocks, CLASSES)
    _assert_same_network(pipeline[-1].estimator_, reference, rtol=RTOL)
    expected = reference.predict_proba(scaler.transform(X_all))
    assert_allclose(pipeline.predict_proba(X).compute(), expected, rtol=RTOL, atol=RTOL)
    assert_array_equal(
        pipeline.predict(X).compute(), reference.predict(scaler.transform(X_all))
    )


def test_regressor_fit_is_partial_fit_on_each_scaled_block_in_order(client):
    X, y = _dask_data(_target)
    network = BatchNormMLPRegressor(**NETWORK)
    pipeline = _streamed(network, shuffle_blocks=False).fit(X, y)
    X_blocks, y_blocks = _numpy_blocks(_target)
    _assert_same_network(
        pipeline[-1].estimator_, _by_hand(network, pipeline[0], X_blocks, y_blocks)
    )
    scaler = BatchNormScaler().fit(np.concatenate(X_blocks))
    reference = _by_hand(network, scaler, X_blocks, y_blocks)
    _assert_same_network(pipeline[-1].estimator_, reference, rtol=RTOL)
    prediction = pipeline.predict(X)
    assert isinstance(prediction, da.Array)
    expected = reference.predict(scaler.transform(np.concatenate(X_blocks)))
    assert_allclose(prediction.compute(), expected, rtol=RTOL, atol=RTOL)


def test_float32_blocks_train_a_float32_network(client):
    X, y = _dask_data(_classes, dtype=np.float32)
    pipeline = _streamed(_classifier("batch_norm"), shuffle_blocks=False)
    pipeline.fit(X, y, incremental__classes=CLASSES)
    X_blocks, y_blocks = _numpy_blocks(_classes, dtype=np.float32)
    reference = _by_hand(
        _classifier("batch_norm"), pipeline[0], X_blocks, y_blocks, CLASSES
    )
    _assert_same_network(pipeline[-1].estimator_, reference)
    assert all(coef.dtype == np.float32 for coef in pipeline[-1].estimator_.coefs_)
    assert pipeline.predict_proba(X).dtype == np.float32


def test_shuffled_blocks_train_the_same_network_on_every_run(client):
    X, y = _dask_data(_classes)
    networks = [
        _streamed(_classifier("batch_norm"), random_state=0)
        .fit(X, y, incremental__classes=CLASSES)[-1]
        .estimator_
        for _ in range(2)
    ]
    _assert_same_network(*networks)


def test_partial_fit_of_the_incremental_step_trains_another_epoch(client):
    X, y = _dask_data(_classes)
    pipeline = _streamed(_classifier("batch_norm"), shuffle_blocks=False)
    pipeline.fit(X, y, incremental__classes=CLASSES)
    scaler, incremental = pipeline[0], pipeline[-1]
    incremental.partial_fit(scaler.transform(X), y)
    X_blocks, y_blocks = _numpy_blocks(_classes)
    reference = _by_hand(
        _classifier("batch_norm"), scaler, X_blocks, y_blocks, CLASSES, epochs=2
    )
    _assert_same_network(incremental.estimator_, reference)
    assert len(incremental.estimator_.loss_curve_) == 2 * len(CHUNKS)


def test_population_statistics_are_not_recomputed_by_the_stream(client):
    # statistics="population" recomputes them at the end of fit, over the
    # whole training set; partial_fit sees one block, and keeps the running
    # averages, as statistics="running" does.
    X, y = _dask_data(_classes)
    population = BatchNormMLPClassifier(
        batch_norm=BatchNorm(statistics="population"), **NETWORK
    )
    pipeline = _streamed(population, shuffle_blocks=False)
    pipeline.fit(X, y, incremental__classes=CLASSES)
    X_blocks, y_blocks = _numpy_blocks(_classes)
    running = BatchNormMLPClassifier(batch_norm=BatchNorm(), **NETWORK)
    reference = _by_hand(running, pipeline[0], X_blocks, y_blocks, CLASSES)
    _assert_same_network(pipeline[-1].estimator_, reference)


def test_early_stopping_is_refused_with_partial_fit_s_error(client):
    X, y = _dask_data(_classes)
    network = BatchNormMLPClassifier(early_stopping=True, **NETWORK)
    with pytest.raises(ValueError, match="partial_fit does not support early_stop"):
        _streamed(network).fit(X, y, incremental__classes=CLASSES)


# %% Prediction


def test_predict_on_a_dask_array_is_lazy_with_its_row_chunks(client):
    X, y = _dask_data(_classes)
    pipeline = _streamed(_classifier("batch_norm"), random_state=0)
    pipeline.fit(X, y, incremental__classes=CLASSES)
    network = pipeline[-1].estimator_
    X_new, y_new = _dask_data(_classes, chunks=(200, 150, 90), seed=1)
    X_blocks, y_blocks = _numpy_blocks(_classes, chunks=(200, 150, 90), seed=1)
    scaled = [pipeline[0].transform(block) for block in X_blocks]
    for method in ["predict", "predict_proba"]:
        result = getattr(pipeline, method)(X_new)
        assert isinstance(result, da.Array)
        assert result.chunks[0] == X_new.chunks[0]
        expected = np.concatenate([getattr(network, method)(z) for z in scaled])
        # Computed block by block on the workers as here, bit for bit.
        assert_array_equal(result.compute(), expected, err_msg=method)
        # numpy in, numpy out, in one piece.
        in_one_piece = getattr(pipeline, method)(np.concatenate(X_blocks))
        assert isinstance(in_one_piece, np.ndarray)
        assert_allclose(in_one_piece, expected, rtol=RTOL, atol=RTOL)
    accuracy = np.mean(np.concatenate(y_blocks) == pipeline.predict(X_new).compute())
    assert pipeline.score(X_new, y_new) == pytest.approx(accuracy, rel=1e-15)


# %% Memory: X streams past the client, which never holds it


def test_fit_and_score_never_gather_x_on_the_client(client):
    # 1 million rows, 32 MB, in 32 blocks of 1 MB; a gather would hold all of
    # it on the client at once.
    X, y = _dask_data(_classes, chunks=(31_250,) * 32)
    network = BatchNormMLPClassifier(
        hidden_layer_sizes=(8,),
        batch_size=4_000,
        learning_rate_init=0.01,
        random_state=0,
    )
    pipeline = _streamed(network, random_state=0)
    _, fit_peak = _client_peak(lambda: pipeline.fit(X, y, incremental__classes=CLASSES))
    score, score_peak = _client_peak(lambda: pipeline.score(X, y))
    assert fit_peak < X.nbytes / 4
    assert score_peak < X.nbytes / 4
    assert pipeline[0].n_samples_seen_ == 1_000_000
    assert pipeline[-1].estimator_.t_ == 1_000_000
    assert score > 0.9


def test_the_client_memory_watch_sees_a_gather(client):
    # The control for the test above: computing X on the client counts in
    # full in the peak that test bounds.
    X, _ = _dask_data(_classes, chunks=(31_250,) * 32)
    _, peak = _client_peak(X.compute)
    assert peak >= X.nbytes
