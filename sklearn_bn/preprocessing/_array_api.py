"""Arrays of other array API namespaces (torch, CuPy, ...), on their device.

Used with ``sklearn.set_config(array_api_dispatch=True)``. The moments and
the affine map are computed in the array's namespace, in float64 where its
device has it.
"""

import numpy as np

from ..utils._compat import (
    _convert_to_numpy,
    _is_numpy_namespace,
    _max_precision_float_dtype,
    get_namespace_and_device,
)
from ..utils._stats import Moments, namespace_of
from ._validation import raise_overflow


def accumulation_dtype(X):
    """float64 where X's device has it, else float32."""
    xp, _, device = get_namespace_and_device(X)
    return _max_precision_float_dtype(xp, device)


def moments(X, sample_weight=None):
    """Moments of a 2-D array of any array API namespace, on its device.

    The corrected two-pass algorithm on the whole array, NaN-aware and
    weighted, accumulated in float64 where the device has it.
    ``sample_weight`` is None or a 1-D array of the same namespace and device.
    """
    xp = namespace_of(X)
    # array-api-strict computes with numpy: quiet, as the numpy path is.
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        return _two_pass(xp, X, sample_weight, accumulation_dtype(X))


def _two_pass(xp, X, sample_weight, dtype):
    X = xp.astype(X, dtype)
    missing = xp.isnan(X)
    present = xp.astype(~missing, dtype)
    values = xp.where(missing, xp.zeros_like(X), X)
    if sample_weight is None:
        count = xp.sum(present, axis=0)
        total = xp.sum(values, axis=0)
    else:
        weights = xp.astype(sample_weight, dtype)[:, None]
        count = xp.sum(weights * present, axis=0)
        total = xp.sum(weights * values, axis=0)
    mean = total / count
    dev = xp.where(missing, xp.zeros_like(X), X - mean)
    if sample_weight is not None:
        dev_sum = xp.sum(weights * dev, axis=0)
        m2 = xp.sum(weights * dev * dev, axis=0)
    else:
        dev_sum = xp.sum(dev, axis=0)
        m2 = xp.sum(dev * dev, axis=0)
    correction = dev_sum / count
    return Moments(count, mean + correction, m2 - dev_sum * correction)


def affine_map(X, out, factor, offset, center=None):
    """``(X - center) * factor + offset`` (or ``X * factor + offset``) in a new
    array of X's namespace, device and dtype; ``out`` is None.

    Computed in the dtype of ``factor`` (float64 where the device has it) and
    rounded once to X's dtype; a result beyond that dtype is an error.
    """
    xp = namespace_of(X)
    # array-api-strict computes with numpy: keep its warnings quiet, as the
    # numpy path does.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        values = xp.astype(X, factor.dtype)
        if center is not None:
            values = values - center
        result = xp.astype(values * factor + offset, X.dtype)
        beyond = xp.any(xp.isinf(result), axis=0)
    if bool(xp.any(beyond)):
        dtype = to_numpy(result[:1, :1]).dtype
        raise_overflow(np.flatnonzero(to_numpy(beyond)), dtype)
    return result


def to_numpy(array):
    """A numpy copy of an array of any namespace, for checks, messages and
    the exporters.

    A torch tensor comes back from its device whether or not array API
    dispatch is on now (a scaler fitted on CUDA tensors is exported outside
    the ``config_context`` it was fitted in).
    """
    if isinstance(array, np.ndarray):
        return array
    if hasattr(array, "cpu"):
        array = array.cpu()
    return np.asarray(_convert_to_numpy(array, namespace_of(array)))


def check_same_namespace(X, estimator, method):
    """Refuse X from another array namespace or device than the one of fit."""
    X_xp, _, X_device = get_namespace_and_device(X)
    fit_xp, _, fit_device = get_namespace_and_device(estimator.mean_)
    both_numpy = _is_numpy_namespace(X_xp) and _is_numpy_namespace(fit_xp)
    if both_numpy or (X_xp == fit_xp and X_device == fit_device):
        return
    raise ValueError(
        f"Inputs passed to {type(estimator).__name__}.{method}() must use the same "
        "namespace and the same device as those passed to fit(): fit used "
        f"{fit_xp.__name__} on {fit_device!r}, {method} got {X_xp.__name__} on "
        f"{X_device!r}. Move X to the namespace and device of fit, or fit again."
    )
