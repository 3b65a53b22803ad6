"""Fitted estimators saved with skops and loaded without trusting anything else."""

import copy
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from numpy.testing import assert_array_equal
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning

import sklearn_bn
from sklearn_bn import (
    SKOPS_TRUSTED_TYPES,
    BatchNorm,
    BatchNormMLPClassifier,
    BatchNormMLPRegressor,
    BatchNormScaler,
    BatchRenorm,
    GhostBatchNorm,
    LayerNorm,
    RMSNorm,
)


def make_data(seed=0, n_classes=3):
    X, y = make_classification(
        n_samples=120,
        n_features=5,
        n_informative=3,
        n_classes=n_classes,
        random_state=seed,
    )
    return X * [1.0, 10.0, 100.0, 0.1, 3.0], y


def test_import_sklearn_bn_loads_no_skops():
    code = "import sys, sklearn_bn; print('skops' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_trusted_types_name_the_public_classes():
    public = [getattr(sklearn_bn, name) for name in sklearn_bn.__all__]
    classes = [obj for obj in public if isinstance(obj, type)]
    assert sorted(SKOPS_TRUSTED_TYPES) == sorted(
        f"{cls.__module__}.{cls.__qualname__}" for cls in classes
    )


# BatchNormScaler ------------------------------------------------------------------


SCALER_CONFIGS = [
    "default",
    "per-feature gamma and beta",
    "momentum",
    "NaN: counts per feature",
    "sample weights: a float count",
    "with_mean=False",
    "feature names",
]
NETWORK_CONFIGS = [
    "classifier, adam",
    "classifier, sgd, binary",
    "classifier, early stopping",
    "regressor, adam",
    "regressor, sgd, no batch norm",
]


def _scalers():
    X, _ = make_data()
    X_nan = X.copy()
    X_nan[::4, 1] = np.nan
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    weights = np.arange(X.shape[0]) % 3 + 0.5
    return {
        "default": (BatchNormScaler().fit(X), X),
        "per-feature gamma and beta": (
            BatchNormScaler(gamma=[1.0, 2.0, 0.5, 3.0, 1.0], beta=1.0).fit(X),
            X,
        ),
        "momentum": (BatchNormScaler(momentum=0.1).partial_fit(X).partial_fit(X), X),
        "NaN: counts per feature": (BatchNormScaler().fit(X_nan), X_nan),
        "sample weights: a float count": (
            BatchNormScaler().fit(X, sample_weight=weights),
            X,
        ),
        "with_mean=False": (BatchNormScaler(with_mean=False).fit(X), X),
        "feature names": (BatchNormScaler().fit(frame), frame),
    }


@pytest.mark.parametrize("config", SCALER_CONFIGS)
def test_scaler_loads_trusting_only_the_public_classes(config):
    scaler, X = _scalers()[config]
    data = sio.dumps(scaler)
    assert sio.get_untrusted_types(data=data) == [
        "sklearn_bn.preprocessing._scaler.BatchNormScaler"
    ]
    loaded = sio.loads(data, trusted=SKOPS_TRUSTED_TYPES)
    assert type(loaded) is BatchNormScaler
    assert_array_equal(loaded.transform(X), scaler.transform(X))
    Y = scaler.transform(X)
    if isinstance(X, pd.DataFrame):
        Y = pd.DataFrame(Y, columns=X.columns)
    assert_array_equal(loaded.inverse_transform(Y), scaler.inverse_transform(Y))
    # It keeps learning exactly as the original does.
    batch = X[:30]
    for estimator in (scaler, loaded):
        estimator.partial_fit(batch)
    assert_array_equal(loaded.transform(X), scaler.transform(X))
    assert_array_equal(loaded.n_samples_seen_, scaler.n_samples_seen_)


# The networks -------------------------------------------------------------------


def _fit(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y)


def _networks():
    X, y = make_data()
    X = X / np.abs(X).max(axis=0)
    y_binary = (y == 0).astype(int)
    small = dict(hidden_layer_sizes=(6,), max_iter=5, random_state=0)
    return {
        "classifier, adam": (BatchNormMLPClassifier(**small), X, y),
        "classifier, sgd, binary": (
            BatchNormMLPClassifier(solver="sgd", **small),
            X,
            y_binary,
        ),
        "classifier, early stopping": (
            BatchNormMLPClassifier(early_stopping=True, **small),
            X,
            y,
        ),
        "regressor, adam": (BatchNormMLPRegressor(**small), X, X[:, 0]),
        "regressor, sgd, no batch norm": (
            BatchNormMLPRegressor(solver="sgd", batch_norm=False, **small),
            X,
            X[:, 0],
        ),
    }


def _assert_same_outputs(loaded, original, X):
    assert_array_equal(loaded.predict(X), original.predict(X))
    if hasattr(original, "predict_proba"):
        assert_array_equal(loaded.predict_proba(X), original.predict_proba(X))


def _assert_keeps_working(loaded, original, X, y):
    """partial_fit, then a warm-started fit, change both alike, bit for bit."""
    if not original.early_stopping:
        for estimator in (original, loaded):
            estimator.partial_fit(X, y)
        _assert_same_outputs(loaded, original, X)
    for estimator in (original, loaded):
        estimator.set_params(warm_start=True, max_iter=2)
        _fit(estimator, X, y)
    _assert_same_outputs(loaded, original, X)
    assert loaded.n_iter_ == original.n_iter_
    assert loaded.loss_curve_ == original.loss_curve_


@pytest.mark.parametrize("config", NETWORK_CONFIGS)
def test_network_loads_trusting_the_types_it_reports(config):
    # Whatever the fitted state holds today, skops saves and restores it.
    network, X, y = _networks()[config]
    _fit(network, X, y)
    data = sio.dumps(network)
    loaded = sio.loads(data, trusted=sio.get_untrusted_types(data=data))
    _assert_same_outputs(loaded, network, X)
    _assert_keeps_working(loaded, copy.deepcopy(network), X, y)


@pytest.mark.parametrize("config", NETWORK_CONFIGS)
def test_network_loads_trusting_only_the_public_classes(config):
    network, X, y = _networks()[config]
    _fit(network, X, y)
    data = sio.dumps(network)
    assert sio.get_untrusted_types(data=data) == [
        f"{type(network).__module__}.{type(network).__qualname__}"
    ]
    loaded = sio.loads(data, trusted=SKOPS_TRUSTED_TYPES)
    _assert_same_outputs(loaded, network, X)
    _assert_keeps_working(loaded, copy.deepcopy(network), X, y)


# Every kind of normalization, as the batch_norm of a network.
NORMALIZATIONS = {
    "BatchNorm(after_activation, momentum=None)": BatchNorm(
        momentum=None, position="after_activation"
    ),
    "BatchNorm(affine=False, population)": BatchNorm(
        affine=False, statistics="population"
    ),
    "GhostBatchNorm": GhostBatchNorm(virtual_batch_size=8),
    "BatchRenorm": BatchRenorm(r_max=1.5, d_max=0.5),
    "LayerNorm": LayerNorm(),
    "LayerNorm(affine=False)": LayerNorm(affine=False),
    "RMSNorm": RMSNorm(),
    "RMSNorm(affine=False)": RMSNorm(affine=False),
}


@pytest.mark.parametrize("Network", [BatchNormMLPClassifier, BatchNormMLPRegressor])
@pytest.mark.parametrize("kind", NORMALIZATIONS)
def test_network_of_each_normalization_loads_trusting_the_public_classes(kind, Network):
    # batch_norm=<a normalization> is a parameter: skops saves the object, and
    # its class must be trusted too; the fitted state is plain arrays.
    X, y = make_data()
    X = X / np.abs(X).max(axis=0)
    y = y if Network is BatchNormMLPClassifier else X[:, 0]
    normalization = NORMALIZATIONS[kind]
    network = Network((6,), batch_norm=normalization, max_iter=5, random_state=0)
    _fit(network, X, y)
    data = sio.dumps(network)
    assert sio.get_untrusted_types(data=data) == sorted(
        f"{type(obj).__module__}.{type(obj).__qualname__}"
        for obj in (network, normalization)
    )
    loaded = sio.loads(data, trusted=SKOPS_TRUSTED_TYPES)
    assert repr(loaded.batch_norm) == repr(normalization)
    _assert_same_outputs(loaded, network, X)
    _assert_keeps_working(loaded, copy.deepcopy(network), X, y)


@pytest.mark.parametrize(
    "estimator",
    [BatchNormScaler(), BatchNormMLPClassifier((4,), max_iter=3, random_state=0)],
    ids=["scaler", "network"],
)
def test_callbacks_are_saved_and_refused_until_dropped(estimator):
    # What the README says: a callback set with set_callbacks is saved with
    # the estimator, its type is not trusted, and set_callbacks() drops it.
    pytest.importorskip("sklearn.callback")
    from sklearn.callback import ProgressBar

    X, y = make_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator = estimator.set_callbacks(ProgressBar()).fit(X, y)
    data = sio.dumps(estimator)
    assert any("ProgressBar" in name for name in sio.get_untrusted_types(data=data))
    with pytest.raises(sio.exceptions.UntrustedTypesFoundException):
        sio.loads(data, trusted=SKOPS_TRUSTED_TYPES)
    loaded = sio.loads(
        sio.dumps(estimator.set_callbacks()), trusted=SKOPS_TRUSTED_TYPES
    )
    method = "transform" if hasattr(estimator, "transform") else "predict_proba"
    assert_array_equal(getattr(loaded, method)(X), getattr(estimator, method)(X))
