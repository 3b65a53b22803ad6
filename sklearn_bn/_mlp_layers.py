"""The numerics of a batch-normalized multi-layer perceptron, as pure functions.

Everything here works on numpy arrays and keeps their dtype: float32 in,
float32 out. The estimators in ``_mlp.py`` hold the state and call these.
Functions whose name starts with ``inplace_`` overwrite their first argument;
the others leave their inputs alone. The optimizers are in
``_mlp_optimizers.py`` and the training loop in ``_mlp_training.py``.

``sample_weight`` arguments weight the batch means: a row of weight 2 counts
as two copies of the row, a row of weight 0 as no row at all, and only the
weights' ratios matter. The running variance's ``n / (n - 1)`` is the one
place where their scale matters (:func:`weighted_count`). ``None`` is the
unweighted case, computed without the weights.
"""

from typing import NamedTuple

import numpy as np
from scipy.special import expit, xlogy

from ._stats import exponential_average

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
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)


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


def log_loss(y, proba, sample_weight=None):
    """Cross-entropy of softmax probabilities ``proba`` against one-hot ``y``."""
    eps = np.finfo(proba.dtype).eps
    if sample_weight is None:
        return -np.log(np.clip(proba[y], eps, 1 - eps)).sum() / y.shape[0]
    per_sample = -np.log(np.clip(np.where(y, proba, 1), eps, 1 - eps)).sum(axis=1)
    return _mean_over_samples(per_sample, sample_weight)


def binary_log_loss(y, proba, sample_weight=None):
    """Cross-entropy of independent sigmoid outputs against 0/1 ``y``."""
    eps = np.finfo(proba.dtype).eps
    likelihood = np.where(y, proba, 1 - proba)
    if sample_weight is None:
        return -np.log(np.clip(likelihood, eps, 1 - eps)).sum() / y.shape[0]
    per_sample = -np.log(np.clip(likelihood, eps, 1 - eps)).sum(axis=1)
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


# Batch normalization.


class BatchNormCache(NamedTuple):
    """What the backward pass of batch normalization needs from the forward."""

    x_hat: np.ndarray
    inv_std: np.ndarray
    # Each sample's share of the batch's total weight, or None when unweighted.
    weight_share: np.ndarray | None = None


class BatchStats(NamedTuple):
    """Statistics of one mini-batch: the mean and the biased variance.

    ``count`` is the ``n`` of the unbiased variance's ``n / (n - 1)``: the
    number of samples, or with sample weights :func:`weighted_count`.
    """

    count: float
    mean: np.ndarray
    var: np.ndarray


def batch_norm_forward(z, gamma, beta, epsilon, sample_weight=None):
    """Batch normalization in training mode: normalize with the batch's own moments.

    ``out = gamma * (z - mean_B) / sqrt(var_B + epsilon) + beta``, where
    ``mean_B`` and ``var_B`` are the mean and the biased variance of each
    column of ``z`` (Ioffe and Szegedy, 2015, Algorithm 1).

    Parameters
    ----------
    z : ndarray of shape (n_samples, n_units)
        The pre-activations of a mini-batch, with ``n_samples >= 2``.
    gamma, beta : ndarray of shape (n_units,)
        The learned scale and shift.
    epsilon : float
        Added to the variance inside the square root.
    sample_weight : ndarray of shape (n_samples,) or None
        Weights of the samples: the moments are weighted means over the batch.

    Returns
    -------
    out : ndarray of shape (n_samples, n_units)
    cache : BatchNormCache
        ``x_hat`` (the normalized ``z``) and ``inv_std``, for the backward pass.
    stats : BatchStats
        The batch mean and biased variance, for the running statistics.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_bn._mlp_layers import batch_norm_forward
    >>> z = np.array([[1.0], [3.0]])
    >>> out, cache, stats = batch_norm_forward(z, np.ones(1), np.zeros(1), 0.0)
    >>> out.ravel(), stats.mean, stats.var
    (array([-1.,  1.]), array([2.]), array([1.]))
    """
    if sample_weight is None:
        count, weight_share = z.shape[0], None
        mean = z.mean(axis=0)
        x_hat = z - mean
        var = np.einsum("ij,ij->j", x_hat, x_hat) / count
    else:
        count = sample_weight.sum()
        weight_share = sample_weight / count
        mean = weight_share @ z
        x_hat = z - mean
        var = weight_share @ (x_hat * x_hat)
    inv_std = 1.0 / np.sqrt(var + epsilon)
    x_hat *= inv_std
    out = x_hat * gamma
    out += beta
    cache = BatchNormCache(x_hat, inv_std, weight_share)
    return out, cache, BatchStats(weighted_count(sample_weight, count), mean, var)


def batch_norm_backward(grad_out, cache, gamma):
    """The exact gradient of batch normalization in training mode.

    The gradient flows through the batch mean and variance too, which gives
    the compact formula

    .. code-block:: text

        dgamma = sum_i grad_out_i * x_hat_i
        dbeta  = sum_i grad_out_i
        dz     = gamma * inv_std / n * (n * grad_out - dbeta - x_hat * dgamma)

    With sample weights ``w`` the ``1 / n`` in front of ``dbeta`` and
    ``x_hat * dgamma`` becomes each sample's share of the weight, ``w / sum(w)``
    (``grad_out`` then already carries the weights of the loss).

    Parameters
    ----------
    grad_out : ndarray of shape (n_samples, n_units)
        The gradient of the loss with respect to the output of the layer.
    cache : BatchNormCache
        From :func:`batch_norm_forward`.
    gamma : ndarray of shape (n_units,)

    Returns
    -------
    dz, dgamma, dbeta : ndarrays
        The gradients with respect to the input ``z``, ``gamma`` and ``beta``.

    Examples
    --------
    A gradient that is constant over the batch only moves ``beta``: the mean
    of ``z`` is subtracted, so ``z`` gets no gradient.

    >>> import numpy as np
    >>> from sklearn_bn._mlp_layers import batch_norm_backward, batch_norm_forward
    >>> z = np.array([[1.0], [3.0]])
    >>> _, cache, _ = batch_norm_forward(z, np.ones(1), np.zeros(1), 0.0)
    >>> dz, dgamma, dbeta = batch_norm_backward(np.ones((2, 1)), cache, np.ones(1))
    >>> dz.ravel(), dgamma, dbeta
    (array([0., 0.]), array([0.]), array([2.]))
    """
    x_hat, inv_std, weight_share = cache
    n_samples = grad_out.shape[0]
    dbeta = grad_out.sum(axis=0)
    dgamma = np.einsum("ij,ij->j", grad_out, x_hat)
    if weight_share is None:
        dz = x_hat * (dgamma / n_samples)
        dz += dbeta / n_samples
    else:
        dz = x_hat * dgamma
        dz += dbeta
        dz *= weight_share[:, np.newaxis]
    np.subtract(grad_out, dz, out=dz)
    dz *= gamma * inv_std
    return dz, dgamma, dbeta


def batch_norm_inference_affine(gamma, beta, running_mean, running_var, epsilon):
    """Batch normalization with running statistics, folded into ``z * scale + shift``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_bn._mlp_layers import batch_norm_inference_affine
    >>> batch_norm_inference_affine(
    ...     np.ones(1), np.zeros(1), np.array([2.0]), np.array([4.0]), 0.0
    ... )
    (array([0.5]), array([-1.]))
    """
    scale = gamma / np.sqrt(running_var + epsilon)
    return scale, beta - running_mean * scale


def fold_batch_norm(coef, gamma, beta, running_mean, running_var, epsilon):
    """A linear layer followed by inference-mode batch norm, as one linear layer.

    ``(a @ coef) * scale + shift == a @ (coef * scale) + shift`` with ``scale =
    gamma / sqrt(running_var + epsilon)`` and ``shift = beta - running_mean *
    scale``. Computed in float64 and rounded once to the dtype of ``coef``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_bn._mlp_layers import fold_batch_norm
    >>> coef, intercept = fold_batch_norm(
    ...     np.ones((1, 1)), np.ones(1), np.zeros(1), np.array([2.0]),
    ...     np.array([4.0]), 0.0,
    ... )
    >>> coef, intercept
    (array([[0.5]]), array([-1.]))
    """
    f64 = np.float64
    scale, shift = batch_norm_inference_affine(
        gamma.astype(f64),
        beta.astype(f64),
        running_mean.astype(f64),
        running_var.astype(f64),
        epsilon,
    )
    folded = coef.astype(f64) * scale
    return folded.astype(coef.dtype, copy=False), shift.astype(coef.dtype)


def weighted_count(sample_weight, weight_sum):
    """The number of samples that weights stand for, in ``n / (n - 1)``.

    The larger of the weights' sum and their effective number ``sum(w) ** 2
    / sum(w ** 2)`` (Kish). Weights of 1 or more are counts, and their sum
    is the larger: an integer weight is that many copies of the row, as
    scikit-learn's estimator checks require. Weights of at most 1 are shares,
    and the effective number is the larger: ``n`` equal weights count as
    ``n`` samples whatever they sum to, so weights normalized to sum to 1
    work, and multiplying such weights by a constant changes nothing.

    Parameters
    ----------
    sample_weight : ndarray of shape (n_samples,) or None
        Non-negative weights; None for none.
    weight_sum : float
        Their sum (the number of samples when None).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_bn._mlp_layers import weighted_count
    >>> weights = np.full(20, 1 / 20)
    >>> weighted_count(weights, weights.sum())
    20.0
    >>> weights = np.array([3.0, 0.0, 1.0])
    >>> weighted_count(weights, weights.sum())
    4.0
    """
    if sample_weight is None:
        return weight_sum
    largest = sample_weight.max()
    if not largest > 0:
        return 0.0
    # On the weights divided by their largest, so that none underflows.
    share = sample_weight / largest
    effective = share.sum() ** 2 / (share @ share)
    return float(max(weight_sum, effective))


def update_running_stats(running_mean, running_var, stats, momentum):
    """One momentum step of the running mean and variance, as PyTorch takes it.

    ``running = (1 - momentum) * running + momentum * batch``, where the
    batch variance is the unbiased one, as :class:`torch.nn.BatchNorm1d`
    keeps it: the biased variance times ``n / (n - 1)``, with ``n`` the
    batch's :func:`weighted_count`.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_bn._mlp_layers import BatchStats, update_running_stats
    >>> stats = BatchStats(count=2, mean=np.array([2.0]), var=np.array([1.0]))
    >>> update_running_stats(np.zeros(1), np.ones(1), stats, momentum=0.5)
    (array([1.]), array([1.5]))
    """
    unbiased_var = stats.var * (stats.count / (stats.count - 1))
    return (
        exponential_average(running_mean, stats.mean, momentum),
        exponential_average(running_var, unbiased_var, momentum),
    )


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
