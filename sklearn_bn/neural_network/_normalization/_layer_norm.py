"""Layer normalization (Ba, Kiros and Hinton, 2016) and RMS normalization
(Zhang and Sennrich, 2019): each sample normalized over its own units.

Neither keeps statistics: training and inference compute the same thing, so
neither folds into the weights, and both accept a mini-batch of one row.
"""

from numbers import Real

import numpy as np

from ...utils._compat import Interval
from .._base import ACTIVATIONS
from .._fused import (
    activation_backward,
    normalize_rows,
    row_norm_input,
    subtract_columns,
)
from ._base import Normalization


def _row_means(z):
    """The mean of each row, as one matrix-vector product (a fifth of the time
    of ``z.mean(axis=1)`` on a mini-batch)."""
    n_units = z.shape[1]
    return z @ np.full(n_units, 1.0 / n_units, dtype=z.dtype)


def _row_dots(a, b):
    """``sum(a * b, axis=1)``, without the temporary."""
    return np.einsum("ij,ij->i", a, b)


def _scale_rows(a, factors):
    """``a *= factors[:, None]``, in place (einsum's loop is a third faster
    than broadcasting)."""
    np.einsum("ij,i->ij", a, factors.astype(a.dtype, copy=False), out=a)


def layer_norm_forward(z, gamma, beta, epsilon, overwrite=False, activation="identity"):
    """Layer normalization: ``gamma * (z - mean) / sqrt(var + epsilon) + beta``,
    with the mean and the biased variance of each row, and ``activation``
    applied to it (a name of ``ACTIVATIONS``).

    Returns the output and ``(x_hat, inv_std)`` for the backward pass;
    ``gamma`` and ``beta`` None for neither. With ``overwrite``, ``z``
    becomes ``x_hat``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_bn.neural_network._normalization._layer_norm import (
    ...     layer_norm_forward,
    ... )
    >>> out, _ = layer_norm_forward(np.array([[1.0, 3.0]]), None, None, 0.0)
    >>> out
    array([[-1.,  1.]])
    """
    x_hat = z if overwrite else z.copy()
    subtract_columns(x_hat, _row_means(z))
    inv_std = 1.0 / np.sqrt(_row_dots(x_hat, x_hat) / z.shape[1] + epsilon)
    return _normalized_output(x_hat, inv_std, gamma, beta, activation)


def _normalized_output(x_hat, factors, gamma, beta, activation):
    """``(activation(x_hat * factors * gamma + beta), (x_hat, factors))``,
    ``x_hat`` scaled by the row ``factors`` in place."""
    if gamma is None:
        _scale_rows(x_hat, factors)
        out = x_hat.copy()
        ACTIVATIONS[activation](out)
        return out, (x_hat, factors)
    return normalize_rows(x_hat, factors, gamma, beta, activation), (x_hat, factors)


def layer_norm_backward(grad_out, cache, gamma):
    """The gradient of :func:`layer_norm_forward` with respect to ``z``,
    ``gamma`` and ``beta`` (the last two summed over the rows).

    ``dz = inv_std * (g - mean(g) - x_hat * mean(g * x_hat))`` along each row,
    with ``g = grad_out * gamma``. ``grad_out`` and the cache are overwritten.
    """
    x_hat, inv_std = cache
    n_units = grad_out.shape[1]
    dgamma = np.einsum("ij,ij->j", grad_out, x_hat)
    dbeta = np.ones(grad_out.shape[0], dtype=grad_out.dtype) @ grad_out
    g = grad_out
    if gamma is not None:
        g *= gamma
    row_norm_input(g, x_hat, _row_dots(g, x_hat) / n_units, _row_means(g), inv_std)
    return g, dgamma, dbeta


def rms_norm_forward(z, gamma, epsilon, overwrite=False, activation="identity"):
    """RMS normalization: ``gamma * z / sqrt(mean(z ** 2) + epsilon)`` along
    each row, and ``activation`` applied to it; ``gamma`` None for none. With
    ``overwrite``, ``z`` becomes ``x_hat``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_bn.neural_network._normalization._layer_norm import (
    ...     rms_norm_forward,
    ... )
    >>> out, _ = rms_norm_forward(np.array([[3.0, 4.0]]), None, 0.0)
    >>> out * np.sqrt(12.5)
    array([[3., 4.]])
    """
    inv_rms = 1.0 / np.sqrt(_row_dots(z, z) / z.shape[1] + epsilon)
    x_hat = z if overwrite else z.copy()
    return _normalized_output(x_hat, inv_rms, gamma, None, activation)


def rms_norm_backward(grad_out, cache, gamma):
    """The gradient of :func:`rms_norm_forward`:
    ``dz = inv_rms * (g - x_hat * mean(g * x_hat))`` along each row, with
    ``g = grad_out * gamma``. ``grad_out`` and the cache are overwritten."""
    x_hat, inv_rms = cache
    n_units = grad_out.shape[1]
    dgamma = np.einsum("ij,ij->j", grad_out, x_hat)
    g = grad_out
    if gamma is not None:
        g *= gamma
    row_norm_input(g, x_hat, _row_dots(g, x_hat) / n_units, None, inv_rms)
    return g, dgamma


class LayerNorm(Normalization):
    """Layer normalization of a network's hidden layers (Ba, Kiros and Hinton, 2016).

    Each sample's pre-activations are normalized over the units of the
    layer, then scaled and shifted::

        out = gamma * (z - mean(z)) / sqrt(var(z) + epsilon) + beta

    with the mean and the biased variance of the row, as
    :class:`torch.nn.LayerNorm` computes it. Nothing depends on the other
    samples of the batch: training and inference compute the same thing, a
    batch of one row is fine, and sample weights weigh the loss only. The
    layer keeps its bias. Inference computes it (it does not fold into the
    weights).

    Parameters
    ----------
    epsilon : float > 0, default=1e-5
        Added to the variance inside the square root.

    affine : bool, default=True
        Whether to learn ``gamma`` and ``beta``.

    See Also
    --------
    RMSNorm : Scaling by the root mean square, without centering.
    BatchNorm : Normalization over the samples of a mini-batch.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_bn import BatchNormMLPClassifier, LayerNorm
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = BatchNormMLPClassifier(
    ...     (8,), batch_norm=LayerNorm(), learning_rate_init=0.01, max_iter=400,
    ...     random_state=0,
    ... ).fit(X, y)
    >>> [gamma.shape for gamma in clf.ln_gammas_]
    [(8,)]
    """

    _parameter_constraints: dict = {
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "affine": ["boolean"],
    }

    name = "layer_norm"
    fuses_activation = True
    computed = True
    roles = {"ln_gammas_": "gamma", "ln_betas_": "beta"}

    def __init__(self, epsilon=1e-5, affine=True):
        self.epsilon = epsilon
        self.affine = affine

    @property
    def trained_names(self):
        return ("ln_gammas_", "ln_betas_") if self.affine else ()

    def _initialize(self, n_units, dtype):
        trained = (np.ones(n_units, dtype=dtype), np.zeros(n_units, dtype=dtype))
        return trained[: len(self.trained_names)], ()

    def _forward(
        self, z, trained, statistics, sample_weight=None, activation="identity"
    ):
        gamma, beta = trained if self.affine else (None, None)
        out, cache = layer_norm_forward(
            z, gamma, beta, self.epsilon, overwrite=True, activation=activation
        )
        return out, cache, None

    def _backward(self, grad_out, cache, trained, activation=None):
        if activation is not None:
            activation_backward(*activation, grad_out)
        gamma = trained[0] if self.affine else None
        dz, dgamma, dbeta = layer_norm_backward(grad_out, cache, gamma)
        return dz, (dgamma, dbeta) if self.affine else ()

    def _infer(self, z, trained, statistics):
        return self._forward(z, trained, statistics)[0]


class RMSNorm(Normalization):
    """RMS normalization of a network's hidden layers (Zhang and Sennrich, 2019).

    Each sample's pre-activations are divided by their root mean square over
    the units of the layer, then scaled::

        out = gamma * z / sqrt(mean(z ** 2) + epsilon)

    as :class:`torch.nn.RMSNorm` computes it: no centering and no shift, so
    the layer keeps its bias. Nothing depends on the other samples of the
    batch; inference computes it (it does not fold into the weights).

    Parameters
    ----------
    epsilon : float > 0, default=1e-5
        Added to the mean square inside the square root. (PyTorch's default,
        ``eps=None``, is the machine epsilon of the dtype.)

    affine : bool, default=True
        Whether to learn ``gamma`` (PyTorch's ``elementwise_affine``).

    See Also
    --------
    LayerNorm : Centering and scaling over the units.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_bn import BatchNormMLPClassifier, RMSNorm
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = BatchNormMLPClassifier(
    ...     (8,), batch_norm=RMSNorm(), learning_rate_init=0.01, max_iter=400,
    ...     random_state=0,
    ... ).fit(X, y)
    >>> round(clf.score(X, y), 2)
    0.98
    """

    _parameter_constraints: dict = {
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "affine": ["boolean"],
    }

    name = "rms_norm"
    fuses_activation = True
    computed = True
    roles = {"rms_gammas_": "gamma"}

    def __init__(self, epsilon=1e-5, affine=True):
        self.epsilon = epsilon
        self.affine = affine

    @property
    def trained_names(self):
        return ("rms_gammas_",) if self.affine else ()

    def _initialize(self, n_units, dtype):
        trained = (np.ones(n_units, dtype=dtype),)
        return trained[: len(self.trained_names)], ()

    def _forward(
        self, z, trained, statistics, sample_weight=None, activation="identity"
    ):
        gamma = trained[0] if self.affine else None
        out, cache = rms_norm_forward(
            z, gamma, self.epsilon, overwrite=True, activation=activation
        )
        return out, cache, None

    def _backward(self, grad_out, cache, trained, activation=None):
        if activation is not None:
            activation_backward(*activation, grad_out)
        gamma = trained[0] if self.affine else None
        dz, dgamma = rms_norm_backward(grad_out, cache, gamma)
        return dz, (dgamma,) if self.affine else ()

    def _infer(self, z, trained, statistics):
        return self._forward(z, trained, statistics)[0]
