"""The one view of a fitted network as inference layers.

``predict``, the ONNX converter and ``to_torch`` all need the network as a
sequence of layers with their running statistics in place of batch
statistics. :func:`inference_layers` computes it, once, for all three:
each hidden layer with its normalization as a layer of its own (what
``to_torch`` builds, so that the module can be fine-tuned) and folded into
the layer's weights where the kind allows (what ``predict`` and the ONNX
graph compute).
"""

from typing import NamedTuple

import numpy as np

from ._normalization import fitted_normalization, layer_arrays


class InferenceLayer(NamedTuple):
    """One layer of a fitted network, in inference mode.

    Attributes
    ----------
    coef : ndarray of shape (n_inputs, n_units)
        The weights, as trained.
    intercept : ndarray of shape (n_units,) or None
        The bias, as trained; None where the normalization replaces it.
    normalization : str
        The kind of normalization after the product (``"none"`` for the
        output layer), a key of ``NORMALIZATIONS``.
    trained, statistics : dict
        The normalization's arrays of this layer by the names of its roles
        (``Normalization.roles``: ``{"gamma": ..., "beta": ...}`` and
        ``{"running_mean": ..., "running_var": ...}`` for batch norm); empty
        without normalization.
    momentum, epsilon : float
        The normalization's settings at fit time.
    folded_coef, folded_intercept : ndarray
        The layer with its normalization folded in: ``a @ folded_coef +
        folded_intercept`` equals the layer's normalized output.
    activation : str
        The activation after the layer, a key of ``ACTIVATIONS``.
    dropout : float
        The dropout rate after the activation in training (0 for the output
        layer); inference drops nothing.
    """

    coef: np.ndarray
    intercept: np.ndarray | None
    normalization: str
    trained: dict
    statistics: dict
    momentum: float
    epsilon: float
    folded_coef: np.ndarray
    folded_intercept: np.ndarray
    activation: str
    dropout: float


def fold(coef, intercept, scale, shift):
    """``(a @ coef + intercept) * scale + shift`` as one linear layer.

    ``a @ (coef * scale) + (intercept * scale + shift)``, computed in float64
    and rounded once to the dtype of ``coef``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_bn.neural_network._inference import fold
    >>> fold(np.ones((1, 1)), None, np.array([0.5]), np.array([-1.0]))
    (array([[0.5]]), array([-1.]))
    """
    folded = coef.astype(np.float64) * scale
    if intercept is not None:
        shift = intercept.astype(np.float64) * scale + shift
    return folded.astype(coef.dtype, copy=False), shift.astype(coef.dtype)


def inference_layers(estimator, statistics=None):
    """A fitted network as its inference layers, the output layer last.

    Parameters
    ----------
    estimator : BatchNormMLPClassifier or BatchNormMLPRegressor
        A fitted network.
    statistics : list of tuple of ndarray, default=None
        Statistics to use in place of the fitted ones, one tuple per hidden
        layer in the order of ``Normalization.statistics`` (the full batch's,
        for L-BFGS's callbacks).

    Returns
    -------
    layers : list of InferenceLayer

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_bn import BatchNormMLPClassifier
    >>> from sklearn_bn.neural_network._inference import inference_layers
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = BatchNormMLPClassifier((5,), random_state=0)
    >>> clf = clf.partial_fit(X, y, classes=[0, 1, 2])
    >>> [(layer.normalization, layer.activation) for layer in inference_layers(clf)]
    [('batch_norm', 'relu'), ('none', 'softmax')]
    """
    kind = fitted_normalization(estimator)
    settings = estimator._fitted_normalization_settings()
    coefs, intercepts = estimator.coefs_, estimator.intercepts_
    n_hidden = len(coefs) - 1
    all_trained = layer_arrays(estimator, kind.trained)
    if statistics is None:
        statistics = layer_arrays(estimator, kind.statistics)
    layers = []
    for i in range(n_hidden):
        trained, stats = all_trained[i], tuple(statistics[i])
        intercept = None if kind.replaces_bias else intercepts[i]
        folded_coef, folded_intercept = coefs[i], intercept
        if kind.affine is not None:
            scale, shift = kind.affine(trained, stats, settings)
            folded_coef, folded_intercept = fold(coefs[i], intercept, scale, shift)
        layers.append(
            InferenceLayer(
                coef=coefs[i],
                intercept=intercept,
                normalization=kind.name,
                trained=kind.by_role(kind.trained, trained),
                statistics=kind.by_role(kind.statistics, stats),
                momentum=settings.momentum,
                epsilon=settings.epsilon,
                folded_coef=folded_coef,
                folded_intercept=folded_intercept,
                activation=estimator.activation,
                dropout=float(getattr(estimator, "dropout", 0.0)),
            )
        )
    layers.append(
        InferenceLayer(
            coef=coefs[-1],
            intercept=intercepts[-1],
            normalization="none",
            trained={},
            statistics={},
            momentum=settings.momentum,
            epsilon=settings.epsilon,
            folded_coef=coefs[-1],
            folded_intercept=intercepts[-1],
            activation=estimator.out_activation_,
            dropout=0.0,
        )
    )
    return layers
