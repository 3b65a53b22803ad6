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

from ._normalization import NO_NORMALIZATION, layer_arrays


class InferenceLayer(NamedTuple):
    """One layer of a fitted network, in inference mode.

    Attributes
    ----------
    coef : ndarray of shape (n_inputs, n_units)
        The weights, as trained.
    intercept : ndarray of shape (n_units,) or None
        The bias, as trained; None where the normalization replaces it.
    normalization : str
        The kind of normalization of the layer (``"none"`` for the output
        layer), a key of ``NORMALIZATIONS``.
    normalizer : Normalization
        The normalization itself, with the hyperparameters of the fit.
    position : {"before_activation", "after_activation"}
        Where the normalization sits: between the product and the
        activation, or after the activation.
    trained, statistics : dict
        The normalization's arrays of this layer by the names of their roles
        (``Normalization.roles``: ``{"gamma": ..., "beta": ...}`` and
        ``{"running_mean": ..., "running_var": ..., ...}`` for batch norm);
        empty without normalization.
    folded_coef, folded_intercept : ndarray
        The layer with the normalizations that fold folded in: its own
        before the activation, and the previous layer's after its
        activation. ``a @ folded_coef + folded_intercept``, then the
        normalization if it is ``computed``, then the activation, gives the
        input of the next folded layer.
    computed : bool
        Whether inference computes the normalization (``normalizer._infer``)
        after the folded product, because it does not fold.
    activation : str
        The activation after the layer, a key of ``ACTIVATIONS``.
    dropout : float
        The dropout rate after the activation in training (0 for the output
        layer); inference drops nothing.
    """

    coef: np.ndarray
    intercept: np.ndarray | None
    normalization: str
    normalizer: object
    position: str
    trained: dict
    statistics: dict
    folded_coef: np.ndarray
    folded_intercept: np.ndarray
    computed: bool
    activation: str
    dropout: float

    @property
    def epsilon(self):
        """The normalization's epsilon."""
        return self.normalizer.epsilon


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


def fold_input(coef, intercept, scale, shift):
    """``(a * scale + shift) @ coef + intercept`` as one linear layer.

    ``a @ (scale[:, None] * coef) + (shift @ coef + intercept)``, computed in
    float64 and rounded once to the dtype of ``coef``: a normalization after
    an activation, folded into the next layer.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_bn.neural_network._inference import fold_input
    >>> fold_input(np.ones((1, 1)), np.zeros(1), np.array([0.5]), np.array([-1.0]))
    (array([[0.5]]), array([-1.]))
    """
    coef64 = coef.astype(np.float64)
    folded = coef64 * np.asarray(scale, dtype=np.float64)[:, np.newaxis]
    shift = np.asarray(shift, dtype=np.float64) @ coef64
    if intercept is not None:
        shift = shift + intercept.astype(np.float64)
    return folded.astype(coef.dtype, copy=False), shift.astype(coef.dtype)


def inference_layers(estimator, statistics=None):
    """A fitted network as its inference layers, the output layer last.

    Parameters
    ----------
    estimator : BatchNormMLPClassifier or BatchNormMLPRegressor
        A fitted network.
    statistics : list of tuple of ndarray, default=None
        Statistics to use in place of the fitted ones, one tuple per hidden
        layer in the order of ``Normalization.statistics_names`` (the full
        batch's, for L-BFGS's callbacks).

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
    kind = estimator._normalization
    coefs, intercepts = estimator.coefs_, estimator.intercepts_
    n_hidden = len(coefs) - 1
    all_trained = layer_arrays(estimator, kind.trained_names)
    if statistics is None:
        statistics = layer_arrays(estimator, kind.statistics_names)
    after = kind.position == "after_activation"
    # The previous layer's normalization after its activation, to fold in.
    pending = None
    layers = []
    for i in range(n_hidden + 1):
        hidden = i < n_hidden
        if not hidden:
            intercept = intercepts[-1]
        else:
            intercept = None if kind.replaces_bias else intercepts[i]
        folded_coef, folded_intercept = coefs[i], intercept
        if pending is not None:
            folded_coef, folded_intercept = fold_input(
                folded_coef, folded_intercept, *pending
            )
        pending = None
        if hidden:
            trained, stats = all_trained[i], tuple(statistics[i])
            affine = kind._affine(trained, stats) if kind.folds else None
            if affine is not None and after:
                pending = affine
            elif affine is not None:
                folded_coef, folded_intercept = fold(
                    folded_coef, folded_intercept, *affine
                )
        layers.append(
            InferenceLayer(
                coef=coefs[i],
                intercept=intercept,
                normalization=kind.name if hidden else "none",
                normalizer=kind if hidden else NO_NORMALIZATION,
                position=kind.position if hidden else "before_activation",
                trained=kind.by_role(kind.trained_names, trained) if hidden else {},
                statistics=(
                    kind.by_role(kind.statistics_names, stats) if hidden else {}
                ),
                folded_coef=folded_coef,
                folded_intercept=folded_intercept,
                computed=hidden and kind.computed,
                activation=(
                    estimator.activation if hidden else estimator.out_activation_
                ),
                dropout=float(getattr(estimator, "dropout", 0.0)) if hidden else 0.0,
            )
        )
    return layers
