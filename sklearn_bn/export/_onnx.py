"""skl2onnx converters for the fitted estimators.

Imported by :mod:`sklearn_bn.onnx`, whose docstring says what the graphs
compute. The scaler's graph reads the scaler's inference map
(``BatchNormScaler._inference_map``) and a network's graph reads the folded
form of the one inference view (``neural_network._inference``), which is
what ``predict`` computes.
"""

import numpy as np
from onnx import TensorProto
from skl2onnx import update_registered_converter
from skl2onnx.common.data_types import (
    DoubleTensorType,
    FloatTensorType,
    StringTensorType,
)
from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes
from skl2onnx.common.utils_classifier import get_label_classes
from sklearn.utils.validation import check_is_fitted

from ..neural_network import BatchNormMLPClassifier, BatchNormMLPRegressor
from ..neural_network._inference import inference_layers
from ..preprocessing._scaler import BatchNormScaler
from ..utils._compat import skl2onnx_parsers
from ._common import as_float64, float32_overflows

# skl2onnx's own parsers, wrapped below to refuse an unfitted estimator before
# they read its fitted attributes; every custom classifier converter uses them.
_parse_sklearn_classifier, _parse_sklearn_simple_model = skl2onnx_parsers()

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

# A regressor's output activation (out_activation_), as predict applies it.
_ONNX_OUTPUTS = {"identity": "Identity", "exp": "Exp"}

_NUMPY_DTYPES = {TensorProto.FLOAT: np.float32, TensorProto.DOUBLE: np.float64}


# Parsing and shapes --------------------------------------------------------


def _checked_parser(parse):
    """A skl2onnx parser that refuses what cannot be exported, then parses."""

    def parser(scope, model, inputs, custom_parsers=None):
        check_is_fitted(model, msg=_NOT_FITTED)
        if isinstance(model, BatchNormMLPClassifier | BatchNormMLPRegressor):
            _check_normalization(model)
        if isinstance(model, BatchNormMLPClassifier):
            _check_single_label(model)
            _check_one_class_zipmap(scope, model)
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


def _check_one_class_zipmap(scope, model):
    zipmap = scope.get_options(model, dict(zipmap=True))["zipmap"]
    if len(model.classes_) == 1 and zipmap is not False:
        raise ValueError(
            "This BatchNormMLPClassifier was fitted on a single class, "
            f"{model.classes_.tolist()[0]!r}: its predict_proba, and the graph, "
            "give two probability columns (that class and its complement), "
            f"which ZipMap cannot name with one class; got zipmap={zipmap!r}. "
            "Pass options={'zipmap': False} for a probability tensor."
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


def _n_proba_columns(mlp):
    """The number of columns of predict_proba.

    Two for one sigmoid output, even for a classifier fitted on one class;
    else one per class.
    """
    return 2 if mlp.out_activation_ == "logistic" else mlp.n_outputs_


def _classifier_shape(operator):
    input_type = _check_n_features(operator)
    calculate_linear_classifier_output_shapes(operator)
    n_samples = operator.inputs[0].get_first_dimension()
    n_columns = _n_proba_columns(operator.raw_operator)
    operator.outputs[1].type = type(input_type)([n_samples, n_columns])


# Graph building --------------------------------------------------------------


def _proto_dtype(operator):
    """The ONNX and numpy dtypes of the input, which the outputs have too."""
    if isinstance(operator.inputs[0].type, DoubleTensorType):
        return TensorProto.DOUBLE, np.float64
    return TensorProto.FLOAT, np.float32


def _compute_dtype(operator, constants):
    """The ONNX and numpy dtypes a step computes in.

    The input's, or float64 where float32 cannot hold one of the step's
    float64 ``constants``: the step then starts and ends with a ``Cast``.
    """
    proto_type, dtype = _proto_dtype(operator)
    if dtype == np.float32 and any(float32_overflows(c).any() for c in constants):
        return TensorProto.DOUBLE, np.float64
    return proto_type, dtype


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


def _cast(scope, container, name, from_type, to_type, output=None):
    """``name`` in ``to_type``, through a Cast node where the types differ."""
    if from_type == to_type:
        return name
    return _node(scope, container, "Cast", [name], "cast", output, to=to_type)


def _output_node(scope, container, op_type, inputs, compute_type, output, **attrs):
    """The last node of a step, writing ``output`` in the input's dtype.

    ``output`` is an output variable of the operator; ``compute_type`` the
    ONNX type the step computed in, cast back to the output's where it
    differs.
    """
    proto_type = (
        TensorProto.DOUBLE
        if isinstance(output.type, DoubleTensorType)
        else TensorProto.FLOAT
    )
    if compute_type == proto_type:
        return _node(
            scope, container, op_type, inputs, "out", output.full_name, **attrs
        )
    result = _node(scope, container, op_type, inputs, "out", **attrs)
    return _cast(scope, container, result, compute_type, proto_type, output.full_name)


def _convert_scaler(scope, operator, container):
    # The fitted map, as transform computes it: set_params since the fit
    # changes neither.
    center, multiplier, beta = operator.raw_operator._inference_map()
    constants = [c for c in (center, multiplier, beta) if c is not None]
    input_type, _ = _proto_dtype(operator)
    proto_type, dtype = _compute_dtype(operator, constants)
    X = _cast(scope, container, operator.inputs[0].full_name, input_type, proto_type)
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
    _output_node(
        scope, container, "Add", [scaled, shift], proto_type, operator.outputs[0]
    )


def _reduce_mean(scope, container, x, name):
    """The mean of each row of ``x``, as a column: ``ReduceMean`` over axis 1,
    whose axes are an input from opset 18 on and an attribute before."""
    if container.target_opset >= 18:
        axes = _constant(scope, container, "axes", [1], TensorProto.INT64, np.int64)
        return _node(scope, container, "ReduceMean", [x, axes], name, keepdims=1)
    return _node(scope, container, "ReduceMean", [x], name, axes=[1], keepdims=1)


def _scaled_nodes(scope, container, x, inv_std, layer, proto_type, dtype):
    """``x * inv_std``, then times ``gamma`` and plus ``beta`` where the layer
    has them, as the normalization's ``_infer`` computes it."""
    out = _node(scope, container, "Mul", [x, inv_std], "normalized")
    trained = layer.trained
    for op_type, role in (("Mul", "gamma"), ("Add", "beta")):
        if role in trained:
            values = as_float64(trained[role])
            constant = _constant(scope, container, role, values, proto_type, dtype)
            out = _node(scope, container, op_type, [out, constant], role)
    return out


def _inv_sqrt(scope, container, mean_square, layer, proto_type, dtype):
    """``1 / sqrt(mean_square + epsilon)``."""
    epsilon = _constant(scope, container, "epsilon", layer.epsilon, proto_type, dtype)
    shifted = _node(scope, container, "Add", [mean_square, epsilon], "plus_epsilon")
    root = _node(scope, container, "Sqrt", [shifted], "root")
    return _node(scope, container, "Reciprocal", [root], "inv_root")


def _layer_norm_nodes(scope, container, z, layer, proto_type, dtype):
    """Layer normalization of each row: ``(z - mean) / sqrt(var + epsilon)``,
    the variance biased, then ``gamma`` and ``beta``."""
    mean = _reduce_mean(scope, container, z, "ln_mean")
    centered = _node(scope, container, "Sub", [z, mean], "ln_centered")
    square = _node(scope, container, "Mul", [centered, centered], "ln_square")
    var = _reduce_mean(scope, container, square, "ln_var")
    inv_std = _inv_sqrt(scope, container, var, layer, proto_type, dtype)
    return _scaled_nodes(scope, container, centered, inv_std, layer, proto_type, dtype)


def _rms_norm_nodes(scope, container, z, layer, proto_type, dtype):
    """RMS normalization of each row: ``z / sqrt(mean(z ** 2) + epsilon)``,
    then ``gamma``."""
    square = _node(scope, container, "Mul", [z, z], "rms_square")
    mean_square = _reduce_mean(scope, container, square, "rms_mean_square")
    inv_rms = _inv_sqrt(scope, container, mean_square, layer, proto_type, dtype)
    return _scaled_nodes(scope, container, z, inv_rms, layer, proto_type, dtype)


# Each kind of normalization of the inference view, by name: None where the
# view folds it into the weights (folded_coef, folded_intercept), else the
# nodes that compute it after the folded product (a kind that is
# ``computed``). A kind not here is refused, not exported without it.
_ONNX_NORMALIZATIONS = {
    "none": None,
    "batch_norm": None,
    "ghost_batch_norm": None,
    "batch_renorm": None,
    "layer_norm": _layer_norm_nodes,
    "rms_norm": _rms_norm_nodes,
}


def _check_normalization(mlp):
    """Refuse a network whose normalization the converter cannot compute."""
    for layer in inference_layers(mlp):
        name = layer.normalization
        if name not in _ONNX_NORMALIZATIONS or (
            layer.computed and _ONNX_NORMALIZATIONS[name] is None
        ):
            raise ValueError(
                f"ONNX export has no nodes for the normalization {name!r} of "
                f"this {type(mlp).__name__}; the graph would leave it out and "
                "compute something else than predict."
            )


def _network_layers(mlp):
    """The layers that predict computes, input first.

    The folded form of the inference view, each hidden layer's
    normalization folded into its weights where it folds, as ``predict``
    folds it, so that ``set_params`` since the fit changes the graph no more
    than it changes predict. Each layer is ``(coef, intercept, layer)``:
    ``a @ coef + intercept`` (float64 arrays), then the normalization where
    the view's ``layer`` is ``computed``, then its activation.
    """
    return [
        (as_float64(layer.folded_coef), as_float64(layer.folded_intercept), layer)
        for layer in inference_layers(mlp)
    ]


def _mlp_logits(scope, operator, container):
    """The network up to the output layer's pre-activation.

    Returns its name and the ONNX type it is computed in: the input's, or
    float64 where float32 cannot hold a weight.
    """
    mlp = operator.raw_operator
    layers = _network_layers(mlp)
    input_type, _ = _proto_dtype(operator)
    constants = [array for coef, intercept, _ in layers for array in (coef, intercept)]
    constants += [
        as_float64(values) for *_, layer in layers for values in layer.trained.values()
    ]
    proto_type, dtype = _compute_dtype(operator, constants)
    activation = _cast(
        scope, container, operator.inputs[0].full_name, input_type, proto_type
    )
    for i, (coef, intercept, layer) in enumerate(layers):
        coef_name = _constant(scope, container, "coef", coef, proto_type, dtype)
        z = _node(scope, container, "MatMul", [activation, coef_name], "z")
        shift = _constant(scope, container, "intercept", intercept, proto_type, dtype)
        z = _node(scope, container, "Add", [z, shift], "z_shifted")
        if layer.computed:
            normalize = _ONNX_NORMALIZATIONS[layer.normalization]
            z = normalize(scope, container, z, layer, proto_type, dtype)
        if i < len(layers) - 1:
            op_type = _ONNX_ACTIVATIONS[layer.activation]
            z = _node(scope, container, op_type, [z], "hidden")
        activation = z
    return activation, proto_type


def _convert_regressor(scope, operator, container):
    logits, proto_type = _mlp_logits(scope, operator, container)
    op_type = _ONNX_OUTPUTS[operator.raw_operator.out_activation_]
    _output_node(scope, container, op_type, [logits], proto_type, operator.outputs[0])


def _convert_classifier(scope, operator, container):
    mlp = operator.raw_operator
    logits, proto_type = _mlp_logits(scope, operator, container)
    proba = operator.outputs[1]
    if mlp.out_activation_ == "softmax":
        _output_node(scope, container, "Softmax", [logits], proto_type, proba, axis=1)
    else:
        positive = _node(scope, container, "Sigmoid", [logits], "positive")
        one = _constant(
            scope, container, "one", 1.0, proto_type, _NUMPY_DTYPES[proto_type]
        )
        negative = _node(scope, container, "Sub", [one, positive], "negative")
        _output_node(
            scope, container, "Concat", [negative, positive], proto_type, proba, axis=1
        )
    # ArgMax keeps the first maximum, as numpy's argmax in predict; for two
    # classes, 1 - p < p exactly when p > 0.5, predict's threshold.
    index = _node(
        scope, container, "ArgMax", [proba.full_name], "index", axis=1, keepdims=0
    )
    _labels_from_index(scope, operator, container, index)


def _labels_from_index(scope, operator, container, index):
    """The label output: the class at each index (the index itself with nocl)."""
    classes = np.asarray(get_label_classes(scope, operator.raw_operator))
    if len(classes) == 1:
        # Fitted on one class, the classifier predicts it whichever of its
        # two probability columns is larger.
        classes = np.repeat(classes, 2)
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
