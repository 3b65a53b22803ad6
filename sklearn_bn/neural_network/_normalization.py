"""The kinds of normalization of a hidden layer, as a table.

Each kind is one :class:`Normalization`: the names of its fitted attributes
and plain functions that initialise a layer's arrays, normalize in training,
give the gradient, update the statistics kept for inference, check a
mini-batch, and give the inference form (an affine map that folds into the
layer's weights). ``NORMALIZATIONS`` holds them by name, and
:func:`normalization_for` maps the estimators' ``batch_norm`` parameter to
one. The network's forward, backward and inference passes loop over the
hidden layers and call the kind that the fitted network has; they know
nothing else of it. A new kind is an entry here, the value of ``batch_norm``
that selects it, and, where an exporter builds one module or node per kind
(``to_torch``'s table of torch modules), its entry there; ``to_torch``
refuses a kind it has no entry for. Every kind so far folds into the
weights for inference (or leaves ``z`` as it is); one that cannot, such as
layer norm, will need ``predict`` and the ONNX graph to compute it from the
inference view's unfolded layers.

A kind's fitted attributes are lists with one array per hidden layer, so
that skops loads a fitted network trusting only the package's public
classes. The functions see one layer at a time: ``trained`` is the tuple of
that layer's arrays named by ``Normalization.trained``, ``statistics`` those
named by ``Normalization.statistics``, in that order.
"""

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ..utils._stats import exponential_average


class Settings(NamedTuple):
    """The hyperparameters of a network's normalization.

    ``momentum`` is the weight of each mini-batch in the running statistics
    (PyTorch's convention) and ``epsilon`` is added to the variance.
    """

    momentum: float
    epsilon: float


class Normalization(NamedTuple):
    """One kind of normalization of the hidden layers: a row of the table.

    Attributes
    ----------
    name : str
        Its key in ``NORMALIZATIONS``.
    param : object
        The value of the estimators' ``batch_norm`` parameter that selects it.
    trained : tuple of str
        The fitted attributes learned by gradient descent, in the order of the
        gradients ``backward`` returns.
    statistics : tuple of str
        The fitted attributes estimated from the batches, for inference.
    replaces_bias : bool
        Whether the layers it normalizes have no bias (a shift replaces it).
    batch_statistics : bool
        Whether it normalizes with statistics over the samples of a batch,
        weighted by the sample weights (which must then be non-negative).
    min_batch : int
        The fewest samples a training mini-batch may hold.
    initialize : callable
        ``initialize(n_units, dtype) -> (trained, statistics)``.
    forward : callable
        ``forward(z, trained, settings, sample_weight) -> (out, cache,
        batch_stats)``, in training.
    backward : callable
        ``backward(grad_out, cache, trained) -> (grad_z, grads)``, with the
        gradients of ``trained`` summed over the samples.
    check : callable
        ``check(batch_stats)`` raises a ValueError for a mini-batch that
        cannot update the statistics.
    update : callable
        ``update(statistics, batch_stats, settings) -> statistics``: one
        mini-batch's step of the statistics kept for inference.
    full_batch : callable
        ``full_batch(batch_stats) -> statistics``: the statistics that make
        inference compute what training on the full batch computed (L-BFGS).
    affine : callable or None
        ``affine(trained, statistics, settings) -> (scale, shift)``, float64:
        the inference form, ``z * scale + shift``, which folds into the
        layer's weights; None for a kind that leaves ``z`` as it is.
    roles : dict
        The role of each fitted attribute (``"gamma"``, ``"running_var"``...),
        the names under which the inference view gives a layer's arrays to
        the exporters.
    """

    name: str
    param: object
    trained: tuple
    statistics: tuple
    replaces_bias: bool
    batch_statistics: bool
    min_batch: int
    initialize: Callable
    forward: Callable
    backward: Callable
    check: Callable
    update: Callable
    full_batch: Callable
    affine: Callable | None
    roles: dict

    @property
    def attributes(self):
        """All its fitted attributes: the trained ones, then the statistics."""
        return self.trained + self.statistics

    def by_role(self, names, arrays):
        """``arrays`` of one layer, named by ``names``, keyed by their roles."""
        return {
            self.roles[name]: array for name, array in zip(names, arrays, strict=True)
        }


# No normalization: the layer keeps its bias, and nothing is computed.


def _no_initialize(n_units, dtype):
    return (), ()


def _no_forward(z, trained, settings, sample_weight=None):
    return z, None, None


def _no_backward(grad_out, cache, trained):
    return grad_out, ()


def _no_check(batch_stats):
    pass


def _no_update(statistics, batch_stats, settings):
    return ()


def _no_full_batch(batch_stats):
    return ()


NO_NORMALIZATION = Normalization(
    name="none",
    param=False,
    trained=(),
    statistics=(),
    replaces_bias=False,
    batch_statistics=False,
    min_batch=1,
    initialize=_no_initialize,
    forward=_no_forward,
    backward=_no_backward,
    check=_no_check,
    update=_no_update,
    full_batch=_no_full_batch,
    affine=None,
    roles={},
)


# Batch normalization (Ioffe and Szegedy, 2015): the numerics.


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
    >>> from sklearn_bn.neural_network._normalization import batch_norm_forward
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
    >>> from sklearn_bn.neural_network._normalization import (
    ...     batch_norm_backward,
    ...     batch_norm_forward,
    ... )
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
    >>> from sklearn_bn.neural_network._normalization import batch_norm_inference_affine
    >>> batch_norm_inference_affine(
    ...     np.ones(1), np.zeros(1), np.array([2.0]), np.array([4.0]), 0.0
    ... )
    (array([0.5]), array([-1.]))
    """
    scale = gamma / np.sqrt(running_var + epsilon)
    return scale, beta - running_mean * scale


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
    >>> from sklearn_bn.neural_network._normalization import weighted_count
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
    >>> from sklearn_bn.neural_network._normalization import (
    ...     BatchStats,
    ...     update_running_stats,
    ... )
    >>> stats = BatchStats(count=2, mean=np.array([2.0]), var=np.array([1.0]))
    >>> update_running_stats(np.zeros(1), np.ones(1), stats, momentum=0.5)
    (array([1.]), array([1.5]))
    """
    unbiased_var = stats.var * (stats.count / (stats.count - 1))
    return (
        exponential_average(running_mean, stats.mean, momentum),
        exponential_average(running_var, unbiased_var, momentum),
    )


# Batch normalization: the entry of the table.


def _bn_initialize(n_units, dtype):
    # gamma 1 and beta 0; the running statistics start at 0 and 1, as PyTorch's.
    trained = (np.ones(n_units, dtype=dtype), np.zeros(n_units, dtype=dtype))
    return trained, (np.zeros(n_units, dtype=dtype), np.ones(n_units, dtype=dtype))


def _bn_forward(z, trained, settings, sample_weight=None):
    gamma, beta = trained
    return batch_norm_forward(z, gamma, beta, settings.epsilon, sample_weight)


def _bn_backward(grad_out, cache, trained):
    dz, dgamma, dbeta = batch_norm_backward(grad_out, cache, trained[0])
    return dz, (dgamma, dbeta)


def _bn_check(batch_stats):
    if not batch_stats.count > 1:
        raise ValueError(
            "With batch normalization the sample weights of each "
            "training mini-batch must stand for more than 1 sample: "
            "the running variance is unbiased, n / (n - 1) times the "
            "batch's, with n the larger of sum(w) and the effective "
            "number of samples sum(w)**2 / sum(w**2); got a mini-batch "
            f"with n = {batch_stats.count:.17g}. Give positive weight "
            "to at least 2 samples of each mini-batch, or use "
            "batch_norm=False."
        )


def _bn_update(statistics, batch_stats, settings):
    running_mean, running_var = statistics
    return update_running_stats(
        running_mean, running_var, batch_stats, settings.momentum
    )


def _bn_full_batch(batch_stats):
    # The biased variance: the statistics each L-BFGS evaluation normalized with.
    return batch_stats.mean, batch_stats.var


def _bn_affine(trained, statistics, settings):
    f64 = np.float64
    gamma, beta = trained
    running_mean, running_var = statistics
    return batch_norm_inference_affine(
        gamma.astype(f64),
        beta.astype(f64),
        running_mean.astype(f64),
        running_var.astype(f64),
        settings.epsilon,
    )


BATCH_NORM = Normalization(
    name="batch_norm",
    param=True,
    trained=("bn_gammas_", "bn_betas_"),
    statistics=("bn_running_means_", "bn_running_vars_"),
    replaces_bias=True,
    batch_statistics=True,
    # The unbiased variance of one sample is undefined.
    min_batch=2,
    initialize=_bn_initialize,
    forward=_bn_forward,
    backward=_bn_backward,
    check=_bn_check,
    update=_bn_update,
    full_batch=_bn_full_batch,
    affine=_bn_affine,
    roles={
        "bn_gammas_": "gamma",
        "bn_betas_": "beta",
        "bn_running_means_": "running_mean",
        "bn_running_vars_": "running_var",
    },
)

#: The kinds of normalization, by name.
NORMALIZATIONS = {kind.name: kind for kind in (NO_NORMALIZATION, BATCH_NORM)}

_KINDS_BY_FIRST_ATTRIBUTE = tuple(
    (kind, kind.attributes[0]) for kind in NORMALIZATIONS.values() if kind.attributes
)


def normalization_for(param):
    """The kind that the ``batch_norm`` parameter selects.

    Examples
    --------
    >>> from sklearn_bn.neural_network._normalization import normalization_for
    >>> normalization_for(True).name, normalization_for(False).name
    ('batch_norm', 'none')
    """
    for kind in NORMALIZATIONS.values():
        if kind.param == bool(param):
            return kind
    raise ValueError(f"batch_norm must be True or False; got {param!r}.")


def fitted_normalization(estimator):
    """The kind of a fitted network: the one whose attributes it holds.

    Every kind's attributes are set on a fitted network, those of the kinds
    it does not use to None (``bn_gammas_ is None`` without batch norm), so
    the first attribute of each kind tells. Called several times a
    mini-batch: a dictionary look-up per kind.
    """
    fitted = estimator.__dict__
    for kind, first_attribute in _KINDS_BY_FIRST_ATTRIBUTE:
        if fitted.get(first_attribute) is not None:
            return kind
    return NO_NORMALIZATION


def layer_arrays(estimator, names):
    """The arrays named by ``names``, as one tuple per hidden layer."""
    if not names:
        return [()] * (len(estimator.coefs_) - 1)
    return list(zip(*[getattr(estimator, name) for name in names], strict=True))


def all_attributes():
    """The fitted attributes of every kind, each once."""
    return tuple(
        dict.fromkeys(
            name for kind in NORMALIZATIONS.values() for name in kind.attributes
        )
    )
