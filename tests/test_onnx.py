"""ONNX export with skl2onnx, checked against the real onnxruntime.

Every graph runs in onnxruntime, in float32 and in float64, and is compared
with scikit-learn's own ``transform``, ``predict_proba`` and ``predict``:
within 2e-5 in float32 and 1e-11 in float64 (absolute where the output is at
most 1 in size, relative beyond). With ``SKLEARN_BN_EXPORT_ERRORS=path`` set,
the largest error of each kind is appended to that file as JSON lines.
"""

import json
import os
import subprocess
import sys
import warnings

import numpy as np
import onnxruntime as ort
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from skl2onnx import to_onnx
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

import sklearn_bn.onnx  # noqa: F401  (registers the converters)
from sklearn_bn import BatchNormMLPClassifier, BatchNormMLPRegressor, BatchNormScaler

TOLERANCE = {np.float32: 2e-5, np.float64: 1e-11}
DTYPES = [np.float32, np.float64]
ACTIVATIONS = ["identity", "logistic", "tanh", "relu"]
LARGEST_ERROR = {}


@pytest.fixture(scope="module", autouse=True)
def _report_errors():
    yield
    path = os.environ.get("SKLEARN_BN_EXPORT_ERRORS")
    if path:
        with open(path, "a") as file:
            for (what, dtype), error in sorted(LARGEST_ERROR.items()):
                print(
                    json.dumps({"export": what, "dtype": dtype, "error": error}),
                    file=file,
                )


def assert_close(actual, desired, dtype, what):
    """Within the tolerance of dtype, and NaN where desired is NaN.

    The error is absolute where ``|desired| <= 1`` and relative beyond; the
    largest one of each kind is recorded.
    """
    actual, desired = np.asarray(actual, np.float64), np.asarray(desired, np.float64)
    assert actual.shape == desired.shape
    assert_array_equal(np.isnan(actual), np.isnan(desired))
    errors = np.abs(actual - desired) / np.maximum(1.0, np.abs(desired))
    error = float(np.nanmax(errors, initial=0.0))
    key = (what, np.dtype(dtype).name)
    LARGEST_ERROR[key] = max(error, LARGEST_ERROR.get(key, 0.0))
    assert error <= TOLERANCE[dtype], f"{what}: error {error:.3g} in {dtype.__name__}"


def run(model, X, **options):
    """Convert model with X[:1] as the example and run it on X in onnxruntime."""
    onx = to_onnx(model, X[:1], options=options or None)
    session = ort.InferenceSession(
        onx.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    return session.run(None, {session.get_inputs()[0].name: X})


def make_data(n_samples=300, n_classes=3, seed=0):
    """Features on very different scales and offsets, and class labels."""
    X, y = make_classification(
        n_samples=n_samples,
        n_features=6,
        n_informative=4,
        n_classes=n_classes,
        random_state=seed,
    )
    X = X * [1.0, 10.0, 100.0, 0.1, 3.0, 1.0] + [0.0, 5.0, -50.0, 3.0, 1.0, -2.0]
    return X, y


def fit_quietly(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


def test_import_sklearn_bn_loads_no_onnx_package():
    code = (
        "import sys, sklearn_bn; "
        "print([m for m in ('onnx', 'skl2onnx', 'onnxruntime') if m in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


# BatchNormScaler ---------------------------------------------------------------


def _momentum_scaler(X):
    scaler = BatchNormScaler(momentum=0.1, ddof=1)
    for batch in np.array_split(X, 5):
        scaler.partial_fit(batch)
    return scaler


SCALERS = {
    "default": lambda X: BatchNormScaler().fit(X),
    "with_mean=False": lambda X: BatchNormScaler(with_mean=False, beta=0.5).fit(X),
    "per-feature gamma and beta": lambda X: BatchNormScaler(
        gamma=[0.5, 2.0, 3.0, 1.0, -1.0, 0.1], beta=[0.0, 1.0, -1.0, 2.0, 0.5, -2.0]
    ).fit(X),
    "momentum statistics": _momentum_scaler,
    "sample weights": lambda X: BatchNormScaler(epsilon=1e-3).fit(
        X, sample_weight=np.arange(X.shape[0]) % 3
    ),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("config", SCALERS)
def test_scaler_matches_transform(config, dtype):
    X, _ = make_data()
    scaler = SCALERS[config](X)
    X = X.astype(dtype)
    (output,) = run(scaler, X)
    assert output.dtype == dtype
    assert_close(output, scaler.transform(X), dtype, "BatchNormScaler.transform")


@pytest.mark.parametrize("dtype", DTYPES)
def test_scaler_keeps_precision_far_from_zero(dtype):
    # A mean 1e5 standard deviations from zero: x * multiplier_ + offset_
    # would cancel; the graph centers first, as transform does.
    X = np.random.default_rng(0).normal(1e5, 1.0, size=(200, 3))
    scaler = BatchNormScaler().fit(X)
    X = X.astype(dtype)
    (output,) = run(scaler, X)
    assert_close(output, scaler.transform(X), dtype, "BatchNormScaler.transform")


@pytest.mark.parametrize("dtype", DTYPES)
def test_scaler_constant_feature_with_zero_epsilon(dtype):
    X, _ = make_data()
    X[:, 2] = 7.0
    scaler = BatchNormScaler(epsilon=0.0, beta=1.0).fit(X)
    X = X.astype(dtype)
    (output,) = run(scaler, X)
    assert_close(output, scaler.transform(X), dtype, "BatchNormScaler.transform")
    assert_array_equal(output[:, 2], 1.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_scaler_passes_nan_through(dtype):
    X, _ = make_data()
    X[::7, 1] = np.nan
    X[3, :] = np.nan
    scaler = BatchNormScaler(gamma=2.0, beta=1.0).fit(X)
    X = X.astype(dtype)
    (output,) = run(scaler, X)
    assert_array_equal(np.isnan(output), np.isnan(X))
    assert_close(output, scaler.transform(X), dtype, "BatchNormScaler.transform")


@pytest.mark.parametrize("dtype, proto", [(np.float32, 1), (np.float64, 11)])
def test_scaler_graph_uses_only_arithmetic_in_the_input_dtype(dtype, proto):
    X, _ = make_data()
    onx = to_onnx(BatchNormScaler().fit(X), X[:1].astype(dtype))
    # float32 subtracts the mean in two parts: its float32 rounding and the
    # rest, as transform centers on the float64 mean.
    subs = ["Sub", "Sub"] if dtype == np.float32 else ["Sub"]
    assert [node.op_type for node in onx.graph.node] == [*subs, "Mul", "Add"]
    assert {init.data_type for init in onx.graph.initializer} == {proto}


# BatchNormMLPClassifier and BatchNormMLPRegressor ------------------------------


def _fit_classifier(activation, n_classes, dtype, labels=None, **params):
    X, y = make_data(n_classes=n_classes)
    X = StandardScaler().fit_transform(X).astype(dtype)
    if labels is not None:
        y = np.asarray(labels)[y]
    clf = BatchNormMLPClassifier(
        (8, 6), activation=activation, max_iter=15, random_state=0, **params
    )
    return fit_quietly(clf, X, y), X


def _assert_labels_match(labels, clf, X, proba):
    # Where two classes are within rounding of each other, float32 may
    # break the tie differently from the float64 computation of predict.
    top_two = np.sort(proba, axis=1)[:, -2:]
    clear = top_two[:, 1] - top_two[:, 0] > 1e-4
    assert clear.mean() > 0.9
    assert_array_equal(labels[clear], clf.predict(X)[clear])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_classifier_matches_predict_proba_and_predict(activation, n_classes, dtype):
    clf, X = _fit_classifier(activation, n_classes, np.float64)
    X = X.astype(dtype)
    labels, proba = run(clf, X, zipmap=False)
    assert proba.dtype == dtype and labels.dtype == np.int64
    expected = clf.predict_proba(X)
    assert_close(proba, expected, dtype, "BatchNormMLPClassifier.predict_proba")
    _assert_labels_match(labels, clf, X, expected)


@pytest.mark.parametrize("dtype", DTYPES)
def test_classifier_trained_in_float32(dtype):
    clf, X = _fit_classifier("relu", 3, np.float32)
    X = X.astype(dtype)
    labels, proba = run(clf, X, zipmap=False)
    expected = clf.predict_proba(X)
    # The network's parameters are float32; predict_proba of float64 X folds
    # them in float32 where the graph folds them in float64.
    assert_allclose(proba, expected, rtol=0, atol=TOLERANCE[np.float32])
    _assert_labels_match(labels, clf, X, expected)


@pytest.mark.parametrize("dtype", DTYPES)
def test_classifier_string_labels_and_no_batch_norm(dtype):
    clf, X = _fit_classifier(
        "tanh", 3, np.float64, labels=["ant", "bee", "cat"], batch_norm=False
    )
    X = X.astype(dtype)
    labels, proba = run(clf, X, zipmap=False)
    assert labels.dtype == object
    expected = clf.predict_proba(X)
    assert_close(proba, expected, dtype, "BatchNormMLPClassifier.predict_proba")
    _assert_labels_match(labels, clf, X, expected)


def test_network_graph_has_no_float32_only_operator():
    clf, X = _fit_classifier("relu", 3, np.float64)
    ops = {
        node.op_type
        for node in to_onnx(clf, X[:1], options={"zipmap": False}).graph.node
    }
    assert {"MatMul", "Mul", "Add", "Relu", "Softmax"} <= ops
    assert not ops & {"BatchNormalization", "Scaler", "Cast"}


def test_classifier_zipmap_gives_a_dict_per_sample():
    clf, X = _fit_classifier("relu", 3, np.float64, labels=[10, 20, 30])
    X = X.astype(np.float32)
    labels, maps = run(clf, X)
    expected = clf.predict_proba(X)
    assert [list(m) for m in maps[:2]] == [[10, 20, 30]] * 2
    proba = np.array([[m[c] for c in (10, 20, 30)] for m in maps])
    assert_close(proba, expected, np.float32, "BatchNormMLPClassifier.predict_proba")
    _assert_labels_match(labels, clf, X, expected)


def test_classifier_zipmap_columns_gives_an_output_per_class():
    clf, X = _fit_classifier("relu", 3, np.float64, labels=["a", "b", "c"])
    X = X.astype(np.float32)
    labels, *columns = run(clf, X, zipmap="columns")
    assert len(columns) == 3
    assert_close(
        np.column_stack(columns),
        clf.predict_proba(X),
        np.float32,
        "BatchNormMLPClassifier.predict_proba",
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_classifier_nocl_gives_class_indices(dtype):
    clf, X = _fit_classifier("relu", 3, np.float64, labels=["a", "b", "c"])
    X = X.astype(dtype)
    labels, proba = run(clf, X, zipmap=False, nocl=True)
    assert labels.dtype == np.int64
    assert_array_equal(labels, proba.argmax(axis=1))
    assert set(np.unique(labels)) <= {0, 1, 2}
    _assert_labels_match(clf.classes_[labels], clf, X, clf.predict_proba(X))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_outputs", [1, 2])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_regressor_matches_predict(activation, n_outputs, dtype):
    X, _ = make_data()
    X = StandardScaler().fit_transform(X)
    y = X[:, :n_outputs] * 2 + np.sin(X[:, 1:2])
    reg = BatchNormMLPRegressor(
        (8, 6), activation=activation, max_iter=15, random_state=0
    )
    fit_quietly(reg, X, y.ravel() if n_outputs == 1 else y)
    X = X.astype(dtype)
    (output,) = run(reg, X)
    assert output.shape == (X.shape[0], n_outputs)
    expected = reg.predict(X).reshape(-1, n_outputs)
    assert_close(output, expected, dtype, "BatchNormMLPRegressor.predict")


# Pipelines and ColumnTransformers ----------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_pipeline_scaler_then_logistic_regression(dtype):
    X, y = make_data()
    pipe = make_pipeline(BatchNormScaler(gamma=2.0, beta=0.5), LogisticRegression())
    pipe.fit(X, y)
    X = X.astype(dtype)
    labels, proba = run(pipe, X, zipmap=False)
    expected = pipe.predict_proba(X)
    assert_close(proba, expected, dtype, "Pipeline.predict_proba")
    _assert_labels_match(labels, pipe, X, expected)


@pytest.mark.parametrize("dtype", DTYPES)
def test_pipeline_scaler_then_network(dtype):
    X, y = make_data()
    pipe = make_pipeline(
        BatchNormScaler(momentum=0.2),
        BatchNormMLPClassifier((8,), max_iter=15, random_state=0),
    )
    fit_quietly(pipe, X, y)
    X = X.astype(dtype)
    labels, proba = run(pipe, X, zipmap=False)
    expected = pipe.predict_proba(X)
    assert_close(proba, expected, dtype, "Pipeline.predict_proba")
    _assert_labels_match(labels, pipe, X, expected)


@pytest.mark.parametrize("dtype", DTYPES)
def test_column_transformer_with_scikit_learn_scalers(dtype):
    X, y = make_data()
    columns = ColumnTransformer(
        [
            ("bn", BatchNormScaler(gamma=[1.0, 2.0, 0.5], beta=1.0), [0, 1, 2]),
            ("minmax", MinMaxScaler(), [3, 4]),
            ("standard", StandardScaler(), [5]),
        ]
    )
    pipe = make_pipeline(columns, Ridge()).fit(X, y.astype(float))
    X = X.astype(dtype)
    (output,) = run(pipe, X)
    assert_close(output.ravel(), pipe.predict(X), dtype, "Pipeline.predict")
    (transformed,) = run(columns, X)
    assert_close(
        transformed, columns.transform(X), dtype, "ColumnTransformer.transform"
    )


# What cannot be exported ---------------------------------------------------------


@pytest.mark.parametrize(
    "estimator", [BatchNormScaler(), BatchNormMLPClassifier(), BatchNormMLPRegressor()]
)
def test_unfitted_estimator_is_an_error(estimator):
    X, _ = make_data()
    with pytest.raises(NotFittedError, match="not fitted yet: ONNX export needs"):
        to_onnx(estimator, X[:1])
    # Inside a pipeline whose other steps are fitted, the message names it.
    pipe = Pipeline([("scale", StandardScaler().fit(X)), ("last", estimator)])
    with pytest.raises(NotFittedError, match=f"This {type(estimator).__name__} "):
        to_onnx(pipe, X[:1])


def test_multilabel_classifier_is_an_error():
    X, y = make_data()
    Y = np.column_stack([y == 0, y == 1]).astype(int)
    clf = fit_quietly(BatchNormMLPClassifier((4,), max_iter=3), X, Y)
    with pytest.raises(NotImplementedError, match="multilabel-indicator target"):
        to_onnx(clf, X[:1].astype(np.float32))


def test_zipmap_with_float64_input_is_an_error():
    clf, X = _fit_classifier("relu", 2, np.float64)
    with pytest.raises(ValueError, match="zipmap=True .* float64 input"):
        to_onnx(clf, X[:1])


def test_input_of_the_wrong_width_is_an_error():
    X, _ = make_data()
    scaler = BatchNormScaler().fit(X)
    with pytest.raises(ValueError, match="has 4 features, .* n_features_in_=6"):
        to_onnx(scaler, X[:1, :4])


def test_integer_input_is_an_error():
    X, _ = make_data()
    scaler = BatchNormScaler().fit(X)
    with pytest.raises(TypeError, match="converts float and double tensors"):
        to_onnx(scaler, X[:1].astype(np.int64))
