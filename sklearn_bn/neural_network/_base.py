"""The activations, their derivatives, the losses and the initialization of
the networks, as tables of pure functions.

As scikit-learn's ``neural_network/_base.py``: the network looks each up by
name (``ACTIVATIONS[name]``) and calls it. Everything here works on numpy
arrays and keeps their dtype: float32 in, float32 out. Functions whose name
starts with ``inplace_`` overwrite their first argument; the others leave
their inputs alone. ``sample_weight`` arguments weight the mean over samples;
``None`` is the unweighted case, computed without the weights.
"""

import numpy as np
from scipy.special import expit, xlogy
from sklearn.utils.extmath import safe_sparse_dot

# Activations and their derivatives.


def inplace_identity(z):
    """Leave ``z`` as it is: the identity activation."""


def inplace_relu(z):
    """``max(z, 0)`` in place."""
    np.maximum(z, 0, out=z)


def inplace_tanh(z):
    """``tanh(z)`` in place."""
    np.tanh(z, out=z)


def inplace_logistic(z):
    """The logistic sigmoid ``1 / (1 + exp(-z))`` in place."""
    expit(z, out=z)


def inplace_exp(z):
    """``exp(z)`` in place: the output of the Poisson loss's log link."""
    np.exp(z, out=z)


def inplace_softmax(z):
    """The softmax of each row in place, shifted by the row maximum for range."""
    # The ufuncs' reductions, which ndarray.max and .sum call through Python.
    z -= np.maximum.reduce(z, axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= np.add.reduce(z, axis=1, keepdims=True)


ACTIVATIONS = {
    "identity": inplace_identity,
    "relu": inplace_relu,
    "tanh": inplace_tanh,
    "logistic": inplace_logistic,
    "softmax": inplace_softmax,
    "exp": inplace_exp,
}


def inplace_identity_derivative(a, delta):
    """Multiply ``delta`` by the identity's derivative, 1."""


def inplace_relu_derivative(a, delta):
    """Zero ``delta`` where the unit was off; ``a`` is the relu output."""
    delta *= a > 0


def inplace_tanh_derivative(a, delta):
    """Multiply ``delta`` by ``1 - a**2``; ``a`` is the tanh output."""
    delta *= 1 - a * a


def inplace_logistic_derivative(a, delta):
    """Multiply ``delta`` by ``a * (1 - a)``; ``a`` is the logistic output."""
    delta *= a * (1 - a)


DERIVATIVES = {
    "identity": inplace_identity_derivative,
    "relu": inplace_relu_derivative,
    "tanh": inplace_tanh_derivative,
    "logistic": inplace_logistic_derivative,
}


# Losses. Each is a (weighted) mean over samples of a sum over outputs, and
# with the output activation it is paired with (softmax, logistic, identity,
# exp) its gradient with respect to the output layer's pre-activation is
# ``out - y``: each pair is a canonical link.


def _mean_over_samples(per_sample, sample_weight):
    if sample_weight is None:
        return per_sample.sum() / per_sample.shape[0]
    return (sample_weight @ per_sample) / sample_weight.sum()


def _clipped(p, eps, out=None):
    """``np.clip(p, eps, 1 - eps)``, NaN kept, as two ufuncs (clip's
    dispatch costs more than both on a mini-batch's probabilities); in
    ``out`` where given."""
    return np.minimum(np.maximum(p, eps, out=out), 1 - eps, out=out)


def log_loss(y, proba, sample_weight=None):
    """Cross-entropy of softmax probabilities ``proba`` against one-hot ``y``."""
    eps = np.finfo(proba.dtype).eps
    if sample_weight is None:
        # The probability of each sample's class, in a new array: clipped
        # and its log taken in place.
        likelihood = proba[y]
        np.log(_clipped(likelihood, eps, out=likelihood), out=likelihood)
        return -likelihood.sum() / y.shape[0]
    per_sample = -np.log(_clipped(np.where(y, proba, 1), eps)).sum(axis=1)
    return _mean_over_samples(per_sample, sample_weight)


def binary_log_loss(y, proba, sample_weight=None):
    """Cross-entropy of independent sigmoid outputs against 0/1 ``y``."""
    eps = np.finfo(proba.dtype).eps
    likelihood = np.where(y, proba, 1 - proba)
    if sample_weight is None:
        return -np.log(_clipped(likelihood, eps)).sum() / y.shape[0]
    per_sample = -np.log(_clipped(likelihood, eps)).sum(axis=1)
    return _mean_over_samples(per_sample, sample_weight)


def squared_loss(y, pred, sample_weight=None):
    """Half the squared error, summed over outputs and averaged over samples."""
    residual = pred - y
    if sample_weight is None:
        return 0.5 * np.vdot(residual, residual) / y.shape[0]
    per_sample = 0.5 * np.einsum("ij,ij->i", residual, residual)
    return _mean_over_samples(per_sample, sample_weight)


def poisson_loss(y, mean, sample_weight=None):
    """Half the Poisson deviance, summed over outputs and averaged over samples.

    ``y * log(y / mean) - y + mean``, with ``0 * log(0) = 0``: scikit-learn's
    ``poisson`` loss of MLPRegressor, zero where ``mean == y``.
    """
    per_sample = (xlogy(y, y / mean) - y + mean).sum(axis=1)
    return _mean_over_samples(per_sample, sample_weight)


LOSSES = {
    "softmax": log_loss,
    "logistic": binary_log_loss,
    "identity": squared_loss,
    "exp": poisson_loss,
}


# Initialization.


def glorot_uniform(fan_in, fan_out, activation, random_state, dtype):
    """Weights and biases drawn as scikit-learn's MLP draws them (Glorot et al.).

    Uniform on ``[-bound, bound]`` with ``bound = sqrt(factor / (fan_in +
    fan_out))``, ``factor = 2`` for the logistic activation and 6 otherwise;
    the weights first, then the biases, from the same generator, so that one
    ``random_state`` gives the same network as
    :class:`~sklearn.neural_network.MLPClassifier`.
    """
    factor = 2.0 if activation == "logistic" else 6.0
    bound = np.sqrt(factor / (fan_in + fan_out))
    coef = random_state.uniform(-bound, bound, (fan_in, fan_out))
    intercept = random_state.uniform(-bound, bound, fan_out)
    return coef.astype(dtype, copy=False), intercept.astype(dtype, copy=False)


def dot(a, b):
    """``a @ b``: numpy's product for arrays, scikit-learn's for sparse ``a``.

    Examples
    --------
    >>> import numpy as np
    >>> dot(np.eye(2), np.ones((2, 1))).ravel()
    array([1., 1.])
    """
    if type(a) is np.ndarray:
        return a @ b
    return safe_sparse_dot(a, b)
