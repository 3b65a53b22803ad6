"""The kinds of normalization of a hidden layer.

Each kind is a class of its own (``Normalization``'s subclasses): the value
of the networks' ``batch_norm`` parameter, with its hyperparameters, the
names of its fitted attributes and the numerics of one layer. A fitted
network records the one it was trained with as plain values (its name and
parameters, so that skops loads it trusting only the estimator's class), and
:func:`fitted_normalization` gives it back. ``NORMALIZATIONS`` holds the
classes by name. The network's forward,
backward and inference passes loop over the hidden layers and call the
kind; they know nothing else of it. A new kind is a class here, its entry
in ``NORMALIZATIONS``, and, where an exporter builds one module or node per
kind (``to_torch``'s and the ONNX converter's tables), its entries there;
both refuse a kind they have no entry for.
"""

import warnings
from functools import lru_cache

from sklearn.base import clone

from ._base import BatchStats, NoNormalization, Normalization, weighted_count
from ._batch_norm import (
    BatchNorm,
    GhostBatchNorm,
    batch_norm_backward,
    batch_norm_forward,
    batch_norm_inference_affine,
    update_running_stats,
)
from ._batch_renorm import BatchRenorm
from ._layer_norm import LayerNorm, RMSNorm

#: The kinds of normalization, by name.
NORMALIZATIONS = {
    kind.name: kind
    for kind in (
        NoNormalization,
        BatchNorm,
        BatchRenorm,
        GhostBatchNorm,
        LayerNorm,
        RMSNorm,
    )
}

NO_NORMALIZATION = NoNormalization()


def normalization_for(param):
    """A copy of the kind that the ``batch_norm`` parameter selects.

    Examples
    --------
    >>> from sklearn_bn import LayerNorm
    >>> from sklearn_bn.neural_network._normalization import normalization_for
    >>> normalization_for(True), normalization_for(False).name
    (BatchNorm(), 'none')
    >>> normalization_for(LayerNorm(epsilon=1e-3))
    LayerNorm(epsilon=0.001)
    """
    if isinstance(param, Normalization):
        return clone(param)
    if param is True:
        return BatchNorm()
    if param is False:
        return NoNormalization()
    raise ValueError(
        "batch_norm must be True, False or a normalization such as BatchNorm(), "
        f"BatchRenorm(), GhostBatchNorm(), LayerNorm() or RMSNorm(); got {param!r}."
    )


def requested_normalization(batch_norm, bn_momentum, bn_epsilon):
    """A validated copy of the normalization that the networks' parameters ask
    for, with the deprecated ``bn_momentum`` and ``bn_epsilon`` applied to
    ``batch_norm=True`` (with a FutureWarning).

    Examples
    --------
    >>> from sklearn_bn.neural_network._normalization import (
    ...     requested_normalization,
    ... )
    >>> requested_normalization(True, "deprecated", "deprecated")
    BatchNorm()
    """
    kind = normalization_for(batch_norm)
    if isinstance(batch_norm, Normalization):
        # (True and False give defaults, valid by construction.)
        kind._validate_params()
    given = {
        name: value
        for name, value in (("momentum", bn_momentum), ("epsilon", bn_epsilon))
        if not (isinstance(value, str) and value == "deprecated")
    }
    if not given:
        return kind
    names = " and ".join(f"bn_{name}" for name in given)
    if batch_norm is not True and batch_norm is not False:
        raise ValueError(
            f"{names} apply to batch_norm=True only; with "
            f"batch_norm={batch_norm!r}, set them on it (batch_norm__momentum="
            f"... in a grid search) and leave {names} unset."
        )
    replacement = ", ".join(f"{name}={value!r}" for name, value in given.items())
    warnings.warn(
        f"{names} {'were' if len(given) > 1 else 'was'} deprecated in 0.1 and "
        f"will be removed in 0.3. Use batch_norm=BatchNorm({replacement}) instead.",
        FutureWarning,
        stacklevel=5,
    )
    return BatchNorm(**given) if batch_norm else kind


def normalization_record(kind):
    """What a fitted network records of its normalization: plain values."""
    return kind.name, kind.get_params()


@lru_cache(maxsize=64)
def _normalization_of(name, params):
    return NORMALIZATIONS[name](**dict(params))


def fitted_normalization(record):
    """The normalization that ``record`` (:func:`normalization_record`)
    describes, or no normalization for None. One object per record's values:
    the network's passes ask for it several times a mini-batch.

    Examples
    --------
    >>> from sklearn_bn import LayerNorm
    >>> from sklearn_bn.neural_network._normalization import (
    ...     fitted_normalization,
    ...     normalization_record,
    ... )
    >>> normalization_record(LayerNorm())
    ('layer_norm', {'affine': True, 'epsilon': 1e-05})
    >>> fitted_normalization(normalization_record(LayerNorm()))
    LayerNorm()
    """
    if record is None:
        return NO_NORMALIZATION
    name, params = record
    return _normalization_of(name, tuple(sorted(params.items())))


def layer_arrays(estimator, names):
    """The arrays named by ``names``, as one tuple per hidden layer."""
    if not names:
        return [()] * (len(estimator.coefs_) - 1)
    return list(zip(*[getattr(estimator, name) for name in names], strict=True))


def all_attributes():
    """The fitted attributes of every kind (at its defaults, which keep the
    most), each once."""
    kinds = [kind() for kind in NORMALIZATIONS.values()]
    return tuple(dict.fromkeys(name for kind in kinds for name in kind.attribute_names))


__all__ = [
    "NORMALIZATIONS",
    "NO_NORMALIZATION",
    "BatchNorm",
    "BatchRenorm",
    "BatchStats",
    "GhostBatchNorm",
    "LayerNorm",
    "NoNormalization",
    "Normalization",
    "RMSNorm",
    "all_attributes",
    "batch_norm_backward",
    "batch_norm_forward",
    "batch_norm_inference_affine",
    "fitted_normalization",
    "layer_arrays",
    "normalization_for",
    "normalization_record",
    "requested_normalization",
    "update_running_stats",
    "weighted_count",
]
