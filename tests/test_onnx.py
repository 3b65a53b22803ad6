"""ONNX export with skl2onnx, checked against the real onnxruntime.

Every graph runs in onnxruntime, in float32 and in float64, and is compared
with scikit-learn's own ``transform``, ``predict_proba`` and ``predict``:
within 2e-5 in float32 and 1e-11 in float64 (absolute where the output is at
most 1 in size, relative beyond). With ``SKLEARN_BN_EXPORT_ERRORS=path`` set,
the largest error of each kind is appended to that file as JSON lines, with
the test case that gave it.
"""

import copy
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest
from export_errors import (
    CLASSIFIER_TARGETS,
    NORMALIZATIONS,
    REGRESSOR_LOSSES,
    case_id,
    classes,
    fit_quietly,
    fitted_classifier,
    fitted_regressor,
    make_data,
    network_cases,
    regression,
    report_errors,
)
from export_errors import assert_close as export_assert_close
from numpy.testing import assert_allclose, assert_array_equal
from skl2onnx import to_onnx
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

import sklearn_bn.onnx  # noqa: F401  (registers the converters)
from sklearn_bn import (
    BatchNorm,
    BatchNormMLPClassifier,
    BatchNormMLPRegressor,
    BatchNormScaler,
)

TOLERANCE = {np.float32: 2e-5, np.float64: 1e-11}
DTYPES = [np.float32, np.float64]
_report_errors = pytest.fixture(scope="module", autouse=True)(report_errors)


def assert_close(actual, desired, dtype, what):
    """The export's output against the estimator's, within TOLERANCE."""
    export_assert_close(actual, desired, dtype, what, TOLERANCE)


def run(model, X, **options):
    """Convert model with X[:1] as the example and run it on X in onnxruntime."""
    onx = to_onnx(model, X[:1], options=options or None)
    session = ort.InferenceSession(
        onx.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    return session.run(None, {session.get_inputs()[0].name: X})


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


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "params",
    [{"gamma": 2.0, "beta": 5.0}, {"epsilon": 10.0}, {"gamma": [3.0] * 6}],
    ids=case_id,
)
def test_scaler_graph_reads_the_fitted_state(params, dtype):
    # set_params without a new fit leaves transform as it was (to rounding:
    # epsilon also picks which of two equal forms it computes); the graph too.
    X, _ = make_data()
    scaler = BatchNormScaler(gamma=0.5, beta=-1.0).fit(X)
    expected = scaler.transform(X.astype(dtype))
    scaler.set_params(**params)
    assert_allclose(scaler.transform(X.astype(dtype)), expected, rtol=1e-6)
    (output,) = run(scaler, X.astype(dtype))
    assert_close(output, expected, dtype, "BatchNormScaler.transform")


@pytest.mark.parametrize("dtype", DTYPES)
def test_scaler_beyond_float32_is_computed_in_float64(dtype):
    # float32 data whose spread is below float32's smallest normal number:
    # with epsilon=0, multiplier_ is about 1e40, more than float32 holds.
    X = np.array([[1e-40, 1.0], [2e-40, 2.0], [3e-40, 4.0], [5e-40, 3.0]], dtype)
    scaler = BatchNormScaler(epsilon=0.0).fit(X)
    assert scaler.multiplier_[0] > np.finfo(np.float32).max
    (output,) = run(scaler, X)
    assert output.dtype == dtype
    assert_close(output, scaler.transform(X), dtype, "BatchNormScaler.transform")
    onx = to_onnx(scaler, X[:1])
    casts = [node.op_type for node in onx.graph.node].count("Cast")
    assert casts == (2 if dtype == np.float32 else 0)


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
@pytest.mark.parametrize(
    "target, kind, activation",
    network_cases([(target,) for target in CLASSIFIER_TARGETS], [("multiclass",)]),
)
def test_classifier_matches_predict_proba_and_predict(target, kind, activation, dtype):
    clf, X = fitted_classifier(target, activation, kind)
    X = X.astype(dtype)
    labels, proba = run(clf, X, zipmap=False)
    assert proba.dtype == dtype and labels.dtype == np.int64
    expected = clf.predict_proba(X)
    assert_close(proba, expected, dtype, "BatchNormMLPClassifier.predict_proba")
    _assert_labels_match(labels, clf, X, expected)


def test_one_class_classifier_predicts_its_class_whatever_the_probabilities():
    # Fitted on one class, predict_proba has two columns (the class and its
    # complement) and predict gives the class even where the second is larger.
    clf, X = fitted_classifier("one class", "relu", "BatchNorm")
    X = X.astype(np.float32)
    labels, proba = run(clf, X, zipmap=False)
    assert proba.shape == (X.shape[0], 2) and (proba[:, 1] > 0.5).any()
    assert_array_equal(labels, 7)
    indices, _ = run(clf, X, zipmap=False, nocl=True)
    assert_array_equal(indices, 0)


@pytest.mark.parametrize("zipmap", [True, "columns"])
def test_one_class_classifier_with_zipmap_is_an_error(zipmap):
    clf, X = fitted_classifier("one class", "relu", "BatchNorm")
    with pytest.raises(
        ValueError, match="fitted on a single class, 7.*'zipmap': False"
    ):
        to_onnx(clf, X[:1].astype(np.float32), options={"zipmap": zipmap})


@pytest.mark.parametrize("dtype", DTYPES)
def test_classifier_trained_in_float32(dtype):
    clf, X = _fit_classifier("relu", 3, np.float32)
    X = X.astype(dtype)
    labels, proba = run(clf, X, zipmap=False)
    expected = clf.predict_proba(X)
    # The network's parameters are float32, the batch normalization folded
    # into them as predict folds it; predict_proba of float64 X computes in
    # float32 (float32 weights times float64 X gives float64, in numpy).
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
    assert {"MatMul", "Add", "Relu", "Softmax"} <= ops
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
@pytest.mark.parametrize(
    "loss, n_outputs, kind, activation",
    network_cases(
        [(loss, n_outputs) for loss in REGRESSOR_LOSSES for n_outputs in (1, 2)],
        [(loss, 1) for loss in REGRESSOR_LOSSES],
    ),
)
def test_regressor_matches_predict(loss, n_outputs, kind, activation, dtype):
    reg, X = fitted_regressor(loss, n_outputs, activation, kind)
    X = X.astype(dtype)
    (output,) = run(reg, X)
    assert output.shape == (X.shape[0], n_outputs) and output.dtype == dtype
    expected = reg.predict(X).reshape(-1, n_outputs)
    assert_close(output, expected, dtype, "BatchNormMLPRegressor.predict")


def test_poisson_regressor_graph_ends_with_exp():
    reg, X = fitted_regressor("poisson", 1, "relu", "BatchNorm")
    assert to_onnx(reg, X[:1]).graph.node[-1].op_type == "Exp"
    (output,) = run(reg, X)
    assert (output > 0).all()


# Changed after the fit: predict goes on with the fitted state, except the
# hidden activation, which it reads at each call as scikit-learn's MLPs do.
NETWORK_CHANGES = {
    "regressor": [
        {"loss": "squared_error"},
        {"batch_norm": BatchNorm(epsilon=10.0)},
        {"batch_norm": False},
        {"activation": "tanh"},
    ],
    "classifier": [
        {"batch_norm": BatchNorm(epsilon=10.0)},
        {"batch_norm": False},
        {"activation": "tanh"},
    ],
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "kind, params",
    [(kind, params) for kind, changes in NETWORK_CHANGES.items() for params in changes],
    ids=case_id,
)
def test_network_graph_computes_predict_after_set_params(kind, params, dtype):
    if kind == "regressor":
        X, y = regression("poisson", 1)
        model = BatchNormMLPRegressor((8, 6), loss="poisson", random_state=0)
        method, what = "predict", "BatchNormMLPRegressor.predict"
    else:
        X, y = classes("multiclass")
        model = BatchNormMLPClassifier((8, 6), random_state=0)
        method, what = "predict_proba", "BatchNormMLPClassifier.predict_proba"
    fit_quietly(model.set_params(max_iter=15), X, y)
    model.set_params(**params)
    X = X.astype(dtype)
    output = run(model, X, zipmap=False) if kind == "classifier" else run(model, X)
    expected = getattr(model, method)(X)
    assert_close(output[-1], expected.reshape(output[-1].shape), dtype, what)


@pytest.mark.parametrize("dtype", DTYPES)
def test_network_beyond_float32_is_computed_in_float64(dtype):
    # Weights scaled by 1e39 in the first layer and 1e-39 in the next leave
    # predict as it was (identity activation), but float32 cannot hold them.
    reg, X = fitted_regressor("squared_error", 1, "identity", "none")
    reg = copy.deepcopy(reg)
    reg.coefs_[0] = reg.coefs_[0] * 1e39
    reg.intercepts_[0] = reg.intercepts_[0] * 1e39
    reg.coefs_[1] = reg.coefs_[1] * 1e-39
    X = X.astype(dtype)
    (output,) = run(reg, X)
    assert output.dtype == dtype
    expected = reg.predict(X).reshape(-1, 1)
    assert_close(output, expected, dtype, "BatchNormMLPRegressor.predict")


# The graph of each kind of normalization: folded into the weights, or
# computed with arithmetic after the layer's product.
COMPUTED_NODES = {
    "LayerNorm": ["ReduceMean", "Sub", "Mul", "ReduceMean", "Add", "Sqrt"]
    + ["Reciprocal", "Mul", "Mul", "Add"],
    "LayerNorm(affine=False)": ["ReduceMean", "Sub", "Mul", "ReduceMean", "Add"]
    + ["Sqrt", "Reciprocal", "Mul"],
    "RMSNorm": ["Mul", "ReduceMean", "Add", "Sqrt", "Reciprocal", "Mul", "Mul"],
    "RMSNorm(affine=False)": ["Mul", "ReduceMean", "Add", "Sqrt", "Reciprocal", "Mul"],
}


@pytest.mark.parametrize("kind", [kind for kind in NORMALIZATIONS if kind != "none"])
def test_network_graph_of_each_normalization(kind):
    reg, X = fitted_regressor("squared_error", 1, "relu", kind)
    ops = [node.op_type for node in to_onnx(reg, X[:1]).graph.node]
    # MatMul and Add of the folded layer, the normalization where it does not
    # fold, then the activation; the output layer, and Identity.
    hidden = ["MatMul", "Add", *COMPUTED_NODES.get(kind, []), "Relu"]
    assert ops == [*hidden, *hidden, "MatMul", "Add", "Identity"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["LayerNorm", "RMSNorm"])
def test_normalization_beyond_float32_is_computed_in_float64(kind, dtype):
    # gamma and beta of the first layer scaled by 1e45 and the next layer's
    # weights by 1e-45 leave predict as it was (relu), but float32 cannot
    # hold them.
    reg, X = fitted_regressor("squared_error", 1, "relu", kind)
    reg = copy.deepcopy(reg)
    for name in reg._normalization.trained_names:
        getattr(reg, name)[0] = getattr(reg, name)[0] * 1e45
    reg.coefs_[1] = reg.coefs_[1] * 1e-45
    X = X.astype(dtype)
    (output,) = run(reg, X)
    assert output.dtype == dtype
    expected = reg.predict(X).reshape(-1, 1)
    assert_close(output, expected, dtype, "BatchNormMLPRegressor.predict")
    ops = [node.op_type for node in to_onnx(reg, X[:1]).graph.node]
    assert ops.count("Cast") == (2 if dtype == np.float32 else 0)


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


@pytest.mark.parametrize(
    "kind", ["BatchNorm", "GhostBatchNorm", "BatchRenorm", "LayerNorm", "RMSNorm"]
)
def test_network_whose_normalization_has_no_conversion_is_an_error(kind, monkeypatch):
    # A kind added to the normalization table but not to the converter's would
    # be left out of the graph, which would then compute something else.
    from sklearn_bn.export import _onnx as converter

    clf, X = fitted_classifier("multiclass", "relu", kind)
    monkeypatch.delitem(converter._ONNX_NORMALIZATIONS, clf._normalization.name)
    with pytest.raises(ValueError, match="no nodes for the normalization"):
        to_onnx(clf, X[:1], options={"zipmap": False})


def test_computed_normalization_without_nodes_is_an_error(monkeypatch):
    from sklearn_bn.export import _onnx as converter

    reg, X = fitted_regressor("squared_error", 1, "relu", "LayerNorm")
    monkeypatch.setitem(converter._ONNX_NORMALIZATIONS, "layer_norm", None)
    with pytest.raises(ValueError, match="no nodes for the normalization 'layer_n"):
        to_onnx(reg, X[:1])
