"""Every private scikit-learn name sklearn-bn uses, imported in one place.

scikit-learn may move or change a private name in any release. Importing each
one here, under the same name, means that such a release breaks this module
alone, as with the sklearn-compat package that imbalanced-learn and skrub use.
The names are re-exported unchanged, so a module switches to this one by
editing its import line only.

Supported: scikit-learn 1.6 (the floor in pyproject.toml, tested in CI with the
oldest numpy and scipy declared) to 1.9. Names that differ across that range
are guarded by version below.
"""

import sklearn
from sklearn.base import _fit_context
from sklearn.utils._array_api import (
    _convert_to_numpy,
    _is_numpy_namespace,
    _max_precision_float_dtype,
    get_namespace,
    get_namespace_and_device,
)
from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    Options,
    StrOptions,
)
from sklearn.utils._set_output import _get_output_config
from sklearn.utils.fixes import parse_version
from sklearn.utils.multiclass import _check_partial_fit_first_call

# Since scikit-learn 1.6 these are functions of sklearn.utils.validation, no
# longer methods of BaseEstimator: 1.6 is the floor, so no fallback is needed.
from sklearn.utils.validation import (
    FLOAT_DTYPES,
    _check_feature_names,
    _check_n_features,
    _check_sample_weight,
)

SKLEARN_VERSION = parse_version(parse_version(sklearn.__version__).base_version)

# The callback API (sklearn.callback) is new in scikit-learn 1.9. Before it,
# CallbackSupportMixin keeps an estimator's signature (set_callbacks exists
# and says what it needs), and _callbacks.fit_callback_context, the one caller
# into the framework, reads SKLEARN_HAS_CALLBACKS and gives a context that
# does nothing. The import is tried rather than the version compared, so that
# a scikit-learn without the module (or a test that hides it) gets the
# stand-in.
try:
    from sklearn.callback import CallbackSupportMixin

    SKLEARN_HAS_CALLBACKS = True
except ImportError:
    SKLEARN_HAS_CALLBACKS = False

    class CallbackSupportMixin:  # type: ignore[no-redef]
        """Stands in for ``sklearn.callback.CallbackSupportMixin`` before 1.9."""

        def set_callbacks(self, *callbacks):
            raise ValueError(
                "set_callbacks needs scikit-learn >= 1.9 (sklearn.callback); "
                f"scikit-learn {sklearn.__version__} is installed."
            )


def skl2onnx_parsers():
    """skl2onnx's own private parsers: ``(_parse_sklearn_classifier,
    _parse_sklearn_simple_model)``.

    Every custom classifier converter uses them. skl2onnx is optional, so they
    are imported when asked for (by ``sklearn_bn.export._onnx``), never at
    ``import sklearn_bn``; like scikit-learn's private names, they are
    imported here alone.
    """
    from skl2onnx._parse import _parse_sklearn_classifier, _parse_sklearn_simple_model

    return _parse_sklearn_classifier, _parse_sklearn_simple_model


__all__ = [
    "FLOAT_DTYPES",
    "SKLEARN_HAS_CALLBACKS",
    "SKLEARN_VERSION",
    "CallbackSupportMixin",
    "Interval",
    "InvalidParameterError",
    "Options",
    "StrOptions",
    "_check_feature_names",
    "_check_n_features",
    "_check_partial_fit_first_call",
    "_check_sample_weight",
    "_get_output_config",
    "_convert_to_numpy",
    "_fit_context",
    "_is_numpy_namespace",
    "_max_precision_float_dtype",
    "get_namespace",
    "get_namespace_and_device",
    "skl2onnx_parsers",
]
