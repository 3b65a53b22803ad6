"""Export fitted sklearn-bn estimators to ONNX with skl2onnx.

Importing this module registers skl2onnx converters for
:class:`~sklearn_bn.BatchNormScaler`, :class:`~sklearn_bn.BatchNormMLPClassifier`
and :class:`~sklearn_bn.BatchNormMLPRegressor`. After that,
``skl2onnx.to_onnx`` converts each of them, alone or inside a ``Pipeline`` or
a ``ColumnTransformer`` with scikit-learn's own estimators. It needs the
``onnx`` extra: ``pip install "sklearn-bn[onnx]"``.

The graphs compute in the dtype of the input, float32 or float64. Every
constant is folded in float64 from the fitted attributes first (the scaler's
``multiplier_``, each hidden layer's ``gamma / sqrt(running_var +
bn_epsilon)`` and its shift) and then cast to that dtype, and the graphs use
only ``Sub``, ``Mul``, ``Add``, ``MatMul`` and the activations. Two ONNX
operators that look like the natural choice are avoided on purpose:
``ai.onnx.ml.Scaler`` computes in float32 whatever its input, and
``BatchNormalization`` stores ``epsilon`` as a float32, a relative error of
about 1.4e-8 in float64.

The scaler maps each feature to ``(x - mean_) * multiplier_ + beta`` (``x *
multiplier_ + beta`` when ``with_mean=False``), the centered form that keeps
full precision wherever the mean lies far from zero; NaN stays NaN, as in
``transform``. A network becomes ``MatMul``, then ``Mul`` and ``Add`` for the
batch normalization with running statistics (``Add`` of the bias without
it), then the activation, layer after layer. A classifier has skl2onnx's two
outputs, the labels and the probabilities, and takes skl2onnx's options
``zipmap`` (True, False or ``"columns"``) and ``nocl`` (labels as class
indices); a regressor has one output of shape ``(n_samples, n_outputs)``.

Examples
--------
Register the converters, convert a fitted pipeline and run it in
onnxruntime:

>>> import numpy as np
>>> import onnxruntime as ort
>>> from skl2onnx import to_onnx
>>> from sklearn.datasets import load_iris
>>> from sklearn.linear_model import LogisticRegression
>>> from sklearn.pipeline import make_pipeline
>>> import sklearn_bn.onnx  # registers the converters
>>> from sklearn_bn import BatchNormScaler
>>> X, y = load_iris(return_X_y=True)
>>> model = make_pipeline(BatchNormScaler(), LogisticRegression()).fit(X, y)
>>> onx = to_onnx(model, X[:1], options={"zipmap": False})
>>> session = ort.InferenceSession(
...     onx.SerializeToString(), providers=["CPUExecutionProvider"]
... )
>>> labels, proba = session.run(None, {"X": X})
>>> bool((labels == model.predict(X)).all())
True
>>> bool(np.abs(proba - model.predict_proba(X)).max() < 1e-11)
True

What cannot be exported says so, starting with an estimator that was never
fitted:

>>> to_onnx(BatchNormScaler(), X[:1])
Traceback (most recent call last):
...
sklearn.exceptions.NotFittedError: This BatchNormScaler instance is not fitted yet...
"""

import numpy as np
from onnx import TensorProto
from skl2onnx import update_registered_converter

# skl2onnx's own parsers, wrapped below to refuse an unfitted estimator before
# they read its fitted attributes; every custom classifier converter uses them.
from skl2onnx._parse import _parse_sklearn_classifier, _parse_sklearn_simple_model
from skl2onnx.common.data_types import (
    DoubleTensorType,
    FloatTensorType,
    StringTensorType,
)
from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes
from skl2onnx.common.utils_classifier import get_label_classes
from sklearn.utils.validation import check_is_fitted

from ._mlp import BatchNormMLPClassifier, BatchNormMLPRegressor
from ._scaler import BatchNormScaler
from ._torch_bridge import _as_float64

__all__: list = []

_NOT_FITTED = (
    "This %(name)s instance is not fitted yet: ONNX export needs a fitted "
    "estimator. Call 'fit' with appropriate arguments before converting it."
)

_ONNX_ACTIVATIONS = {
    "identity": "Identity",
    "logistic": "Sigmoid",
    "tanh": "Tanh",
    "relu": "Relu",
}


# Parsing and shapes --------------------------------------------------------


def _checked_parser(parse):
    """A skl2onnx parser that refuses what cannot be exported, then parses."""

    def parser(scope, model, inputs, custom_parsers=None):
        check_is_fitted(model, msg=_NOT_FITTED)
        if isinstance(model, BatchNormMLPClassifier):
            _check_single_label(model)
            _check_zipmap_dtype(scope, model, inputs)
        return parse(scope, model, inputs, custom_parsers=custom_parsers)

    return parser


def _check_single_label(model):
    if model.out_activation_ == "logistic" and model.n_outputs_ > 1:
        raise NotImplementedError(
            "ONNX export of BatchNormMLPClassifier supports binary and "
            "multiclass targets; this classifier was fitted on a "
            f"multilabel-indicator target with {model.n_outputs_} labels."
        )


def _check_zipmap_dtype(scope, model, inputs):
    zipmap = scope.get_options(model, dict(zipmap=True))["zipmap"]
    if zipmap is True and isinstance(inputs[0].type, DoubleTensorType):
        raise ValueError(
            "ONNX's ZipMap operator takes float32 probabilities only, so "
            "zipmap=True (the default) cannot be used with a float64 input; got "
            "a float64 input. Pass options={'zipmap': False} (a probability "
            "tensor) or {'zipmap': 'columns'}, or convert with a float32 X."
        )


def _float_input_type(operator):
    """The input's skl2onnx type, which must be float or double."""
    if len(operator.inputs) != 1:
        raise RuntimeError(
            f"{type(operator.raw_operator).__name__} takes one input tensor in "
            f"ONNX; got {len(operator.inputs)}."
        )
    input_type = operator.inputs[0].type
    if not isinstance(input_type, FloatTensorType | DoubleTensorType):
        raise TypeError(
            f"{type(operator.raw_operator).__name__} converts float and double "
            f"tensors to ONNX; got an input of type {type(input_type).__name__}. "
            "Cast the input to float32 or float64 first."
        )
    return input_type


def _check_n_features(operator):
    """The input's width agrees with n_features_in_ where it is known."""
    input_type = _float_input_type(operator)
    model = operator.raw_operator
    shape = input_type.shape
    if len(shape) == 2 and isinstance(shape[1], int):
        if shape[1] != model.n_features_in_:
            raise ValueError(
                f"The ONNX input of {type(model).__name__} has {shape[1]} "
                f"features, but the estimator was fitted on "
                f"n_features_in_={model.n_features_in_}."
            )
    return input_type


def _scaler_shape(operator):
    input_type = _check_n_features(operator)
    n_samples = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = type(input_type)(
        [n_samples, operator.raw_operator.n_features_in_]
    )


def _regressor_shape(operator):
    input_type = _check_n_features(operator)
    n_samples = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = type(input_type)(
        [n_samples, operator.raw_operator.n_outputs_]
    )


def _classifier_shape(operator):
    input_type = _check_n_features(operator)
    calculate_linear_classifier_output_shapes(operator)
    n_samples = operator.inputs[0].get_first_dimension()
    n_classes = len(operator.raw_operator.classes_)
    operator.outputs[1].type = type(input_type)([n_samples, n_classes])


# Graph building --------------------------------------------------------------


def _proto_dtype(operator):
    """The ONNX and numpy dtypes the graph computes in: the input's."""
    if isinstance(operator.inputs[0].type, DoubleTensorType):
        return TensorProto.DOUBLE, np.float64
    return TensorProto.FLOAT, np.float32


def _constant(scope, container, name, values, proto_type, dtype):
    """An initializer holding float64 ``values`` cast to ``dtype``."""
    values = np.asarray(values, dtype=np.float64).astype(dtype)
    constant = scope.get_unique_variable_name(name)
    container.add_initializer(constant, proto_type, list(values.shape), values.ravel())
    return constant


def _node(scope, container, op_type, inputs, name, output=None, **attrs):
    """Add one node; returns the name of its output."""
    output = output or scope.get_unique_variable_name(name)
    container.add_node(
        op_type,
        inputs,
        output,
        name=scope.get_unique_operator_name(op_type),
        **attrs,
    )
    return output


def _scaler_constants(scaler):
    """``(center, multiplier, beta)`` of a fitted scaler, in float64.

    ``transform`` computes ``(x - center) * multiplier + beta``; ``center``
    is None when ``with_mean=False``.
    """
    multiplier = _as_float64(scaler.multiplier_)
    n_features = multiplier.shape[0]
    beta = np.broadcast_to(np.asarray(scaler.beta, dtype=np.float64), (n_features,))
    center = _as_float64(scaler.mean_) if scaler.with_mean else None
    return center, multiplier, beta


def _convert_scaler(scope, operator, container):
    scaler = operator.raw_operator
    proto_type, dtype = _proto_dtype(operator)
    center, multiplier, beta = _scaler_constants(scaler)
    X = operator.inputs[0].full_name
    if center is not None:
        center_name = _constant(scope, container, "bn_mean", center, proto_type, dtype)
        X = _node(scope, container, "Sub", [X, center_name], "bn_centered")
        # transform centers a float32 X on the float64 mean; the rounding of
        # the mean to float32 is subtracted too, so that a feature far from
        # zero keeps its spread in the graph as well.
        residual = (np.asarray(center, np.float64) - center.astype(dtype)).astype(dtype)
        if np.any(residual != 0):
            residual_name = _constant(
                scope, container, "bn_mean_residual", residual, proto_type, dtype
            )
            X = _node(scope, container, "Sub", [X, residual_name], "bn_recentered")
    factor = _constant(scope, container, "bn_multiplier", multiplier, proto_type, dtype)
    scaled = _node(scope, container, "Mul", [X, factor], "bn_scaled")
    shift = _constant(scope, container, "bn_beta", beta, proto_type, dtype)
    output = operator.outputs[0].full_name
    _node(scope, container, "Add", [scaled, shift], "bn_out", output)


def _network_layers(mlp):
    """The layers of a fitted BN-MLP as float64 arrays, input to output.

    Each layer is ``(coef, scale, shift)``: the layer computes ``(a @ coef) *
    scale + shift`` before its activation, where ``scale`` is None for a
    layer without batch normalization (``shift`` is then its bias). The
    batch normalization uses the running statistics, folded in float64 as
    ``scale = gamma / sqrt(running_var + bn_epsilon)`` and ``shift = beta -
    running_mean * scale``.
    """
    n_hidden = len(mlp.coefs_) - 1
    layers = []
    for i in range(n_hidden):
        coef = np.asarray(mlp.coefs_[i], dtype=np.float64)
        if mlp.bn_gammas_ is None:
            layers.append((coef, None, np.asarray(mlp.intercepts_[i], np.float64)))
            continue
        gamma, beta, mean, var = (
            np.asarray(attr[i], dtype=np.float64)
            for attr in (
                mlp.bn_gammas_,
                mlp.bn_betas_,
                mlp.bn_running_means_,
                mlp.bn_running_vars_,
            )
        )
        scale = gamma / np.sqrt(var + mlp.bn_epsilon)
        layers.append((coef, scale, beta - mean * scale))
    out_coef = np.asarray(mlp.coefs_[-1], dtype=np.float64)
    layers.append((out_coef, None, np.asarray(mlp.intercepts_[-1], np.float64)))
    return layers


def _mlp_logits(scope, operator, container):
    """The network up to the output layer's pre-activation; returns its name."""
    mlp = operator.raw_operator
    proto_type, dtype = _proto_dtype(operator)
    activation = operator.inputs[0].full_name
    layers = _network_layers(mlp)
    for i, (coef, scale, shift) in enumerate(layers):
        coef_name = _constant(scope, container, "coef", coef, proto_type, dtype)
        z = _node(scope, container, "MatMul", [activation, coef_name], "z")
        if scale is not None:
            factor = _constant(scope, container, "bn_scale", scale, proto_type, dtype)
            z = _node(scope, container, "Mul", [z, factor], "z_scaled")
        shift_name = _constant(scope, container, "shift", shift, proto_type, dtype)
        z = _node(scope, container, "Add", [z, shift_name], "z_shifted")
        if i < len(layers) - 1:
            op_type = _ONNX_ACTIVATIONS[mlp.activation]
            z = _node(scope, container, op_type, [z], "hidden")
        activation = z
    return activation


def _convert_regressor(scope, operator, container):
    logits = _mlp_logits(scope, operator, container)
    _node(scope, container, "Identity", [logits], "y", operator.outputs[0].full_name)


def _convert_classifier(scope, operator, container):
    mlp = operator.raw_operator
    proto_type, dtype = _proto_dtype(operator)
    logits = _mlp_logits(scope, operator, container)
    proba = operator.outputs[1].full_name
    if mlp.out_activation_ == "softmax":
        _node(scope, container, "Softmax", [logits], "proba", proba, axis=1)
    else:
        positive = _node(scope, container, "Sigmoid", [logits], "positive")
        one = _constant(scope, container, "one", 1.0, proto_type, dtype)
        negative = _node(scope, container, "Sub", [one, positive], "negative")
        _node(scope, container, "Concat", [negative, positive], "proba", proba, axis=1)
    # ArgMax keeps the first maximum, as numpy's argmax in predict; for two
    # classes, 1 - p < p exactly when p > 0.5, predict's threshold.
    index = _node(scope, container, "ArgMax", [proba], "index", axis=1, keepdims=0)
    _labels_from_index(scope, operator, container, index)


def _labels_from_index(scope, operator, container, index):
    """The label output: the class at each index (the index itself with nocl)."""
    classes = np.asarray(get_label_classes(scope, operator.raw_operator))
    label = operator.outputs[0].full_name
    if isinstance(operator.outputs[0].type, StringTensorType):
        values, proto_type = np.array([str(c).encode() for c in classes]), "string"
    else:
        values, proto_type = classes.astype(np.int64), "int64"
    classes_name = scope.get_unique_variable_name("classes")
    container.add_initializer(
        classes_name,
        TensorProto.STRING if proto_type == "string" else TensorProto.INT64,
        [len(values)],
        values.tolist(),
    )
    picked = _node(
        scope,
        container,
        "ArrayFeatureExtractor",
        [classes_name, index],
        "picked",
        op_domain="ai.onnx.ml",
    )
    flat = _constant(scope, container, "flat", [-1], TensorProto.INT64, np.int64)
    _node(scope, container, "Reshape", [picked, flat], "label", label)


# Registration ----------------------------------------------------------------

_CLASSIFIER_OPTIONS = {"zipmap": [True, False, "columns"], "nocl": [True, False]}

update_registered_converter(
    BatchNormScaler,
    "SklearnBNBatchNormScaler",
    _scaler_shape,
    _convert_scaler,
    parser=_checked_parser(_parse_sklearn_simple_model),
)
update_registered_converter(
    BatchNormMLPRegressor,
    "SklearnBNBatchNormMLPRegressor",
    _regressor_shape,
    _convert_regressor,
    parser=_checked_parser(_parse_sklearn_simple_model),
)
update_registered_converter(
    BatchNormMLPClassifier,
    "SklearnBNBatchNormMLPClassifier",
    _classifier_shape,
    _convert_classifier,
    parser=_checked_parser(_parse_sklearn_classifier),
    options=_CLASSIFIER_OPTIONS,
)
