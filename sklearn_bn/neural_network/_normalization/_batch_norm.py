"""Batch normalization (Ioffe and Szegedy, 2015) and ghost batch normalization.

The numerics are plain functions on one layer's arrays: the forward and
backward passes in training, the running statistics' update and the
inference form. :class:`BatchNorm` and :class:`GhostBatchNorm` (Hoffer,
Hubara and Soudry, 2017), which normalizes each virtual batch of a
mini-batch on its own, call them.
"""

from numbers import Integral, Real
from typing import NamedTuple

import numpy as np

from ...preprocessing._dense import moments
from ...utils._compat import Interval, StrOptions
from ...utils._stats import moments_variance
from .._base import ACTIVATIONS
from .._fused import (
    affine_activate,
    batch_norm_gradients,
    batch_norm_output,
    column_moments,
    running_moments,
)
from ._base import BatchStats, Normalization, weighted_count


class BatchNormCache(NamedTuple):
    """What the backward pass of batch normalization needs from the forward:
    ``centered``, ``z - mean_B``, and ``inv_std``, ``1 / sqrt(var_B +
    epsilon)``, whose product is the normalized ``x_hat`` (never made: one
    pass fewer over the batch each way)."""

    centered: np.ndarray
    inv_std: np.ndarray
    # Each sample's share of the batch's total weight, or None when unweighted.
    weight_share: np.ndarray | None = None


def batch_norm_forward(
    z,
    gamma,
    beta,
    epsilon,
    sample_weight=None,
    overwrite=False,
    activation="identity",
):
    """Batch normalization in training mode: normalize with the batch's own moments.

    ``out = gamma * (z - mean_B) / sqrt(var_B + epsilon) + beta``, where
    ``mean_B`` and ``var_B`` are the mean and the biased variance of each
    column of ``z`` (Ioffe and Szegedy, 2015, Algorithm 1).

    Parameters
    ----------
    z : ndarray of shape (n_samples, n_units)
        The pre-activations of a mini-batch, with ``n_samples >= 2``.
    gamma, beta : ndarray of shape (n_units,) or None
        The learned scale and shift; None for neither (``affine=False``).
    epsilon : float
        Added to the variance inside the square root.
    sample_weight : ndarray of shape (n_samples,) or None
        Weights of the samples: the moments are weighted means over the batch.
    overwrite : bool, default=False
        Whether ``z`` may be overwritten (it becomes the cache's ``centered``).
    activation : str, default="identity"
        The activation applied to the output, in the same pass (a name of
        ``ACTIVATIONS``).

    Returns
    -------
    out : ndarray of shape (n_samples, n_units)
    cache : BatchNormCache
        ``z - mean_B`` and ``inv_std``, for the backward pass.
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
    if gamma is None:
        cache, stats = batch_normalized(z, epsilon, sample_weight, overwrite)
        out = cache.centered * cache.inv_std
        ACTIVATIONS[activation](out)
        return out, cache, stats
    # The statistics and the output in one call of the kernels.
    centered = z if overwrite else np.empty_like(z)
    count, weight_share = _shares(z, sample_weight)
    out, mean, var, inv_std = batch_norm_output(
        z, centered, epsilon, gamma, beta, activation, weight_share
    )
    cache = BatchNormCache(centered, inv_std, weight_share)
    return out, cache, BatchStats(weighted_count(sample_weight, count), mean, var)


def _shares(z, sample_weight):
    """The batch's count (the weights' sum) and each row's share of it, None
    without weights."""
    if sample_weight is None:
        return z.shape[0], None
    count = sample_weight.sum()
    return count, sample_weight / count


def batch_normalized(z, epsilon, sample_weight=None, overwrite=False):
    """The cache of :func:`batch_norm_forward` (``z - mean_B`` in ``z`` itself
    where ``overwrite``) and the batch's statistics, without the output."""
    centered = z if overwrite else np.empty_like(z)
    count, weight_share = _shares(z, sample_weight)
    mean, var, inv_std = column_moments(z, centered, epsilon, weight_share)
    cache = BatchNormCache(centered, inv_std, weight_share)
    return cache, BatchStats(weighted_count(sample_weight, count), mean, var)


def batch_norm_backward(grad_out, cache, gamma, activation=None):
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

    ``grad_out`` and the cache are overwritten (``dz`` is ``grad_out``).

    Parameters
    ----------
    grad_out : ndarray of shape (n_samples, n_units)
        The gradient of the loss with respect to the output of the layer.
    cache : BatchNormCache
        From :func:`batch_norm_forward`.
    gamma : ndarray of shape (n_units,) or None
        None for a scale of 1 (``affine=False``).
    activation : tuple (name, output) or None, default=None
        The activation applied to the normalization's output, and its
        output: ``grad_out`` is then the gradient with respect to the
        activation's output, and first takes its derivative (in the same
        pass for the ReLU).

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
    centered, inv_std, weight_share = cache
    dgamma, dbeta = batch_norm_gradients(
        grad_out, centered, inv_std, gamma, weight_share, activation=activation
    )
    return grad_out, dgamma, dbeta


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


def update_running_stats(running_mean, running_var, stats, momenta):
    """Momentum steps of the running mean and variance, one per mini-batch in
    order, as PyTorch takes them.

    Step ``t`` takes ``running = (1 - momenta[t]) * running + momenta[t] *
    batch``, where the batch variance is the unbiased one, as
    :class:`torch.nn.BatchNorm1d` keeps it: the biased variance times ``n /
    (n - 1)``, with ``n`` the batch's :func:`weighted_count`. The steps of
    several mini-batches in one call give the bits of one call each.

    Parameters
    ----------
    running_mean, running_var : ndarray of shape (n_units,)
        The statistics before the first step (not written into).
    stats : list of BatchStats
        The statistics of each mini-batch, in order.
    momenta : list of float
        The momentum of each step.

    Returns
    -------
    running_mean, running_var : ndarray of shape (n_units,)
        New arrays, after the last step.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_bn.neural_network._normalization import (
    ...     BatchStats,
    ...     update_running_stats,
    ... )
    >>> stats = BatchStats(count=2, mean=np.array([2.0]), var=np.array([1.0]))
    >>> update_running_stats(np.zeros(1), np.ones(1), [stats], [0.5])
    (array([1.]), array([1.5]))
    >>> update_running_stats(np.zeros(1), np.ones(1), [stats, stats], [0.5, 0.5])
    (array([1.5]), array([1.75]))
    """
    # exponential_average's expression, without its NaN handling (the
    # scaler's missing features), which a network's statistics never need.
    return running_moments(
        running_mean,
        running_var,
        np.stack([batch.mean for batch in stats]),
        np.stack([batch.var for batch in stats]),
        [1.0 - momentum for momentum in momenta],
        momenta,
        [batch.count / (batch.count - 1) for batch in stats],
    )


def ghost_batches(n_samples, virtual_batch_size):
    """The virtual batches of a mini-batch: consecutive slices of
    ``virtual_batch_size`` rows, a last one of fewer than ``max(2,
    virtual_batch_size / 2)`` rows joined to the one before, as the networks
    join a small last mini-batch: the statistics of a few rows are noise (two
    rows normalize to -1 and +1 whatever their values), and the unbiased
    variance of one row is undefined.

    Examples
    --------
    >>> from sklearn_bn.neural_network._normalization._batch_norm import (
    ...     ghost_batches,
    ... )
    >>> ghost_batches(7, 3)
    [slice(0, 3, None), slice(3, 7, None)]
    >>> ghost_batches(130, 32)[-1]
    slice(96, 130, None)
    """
    slices = [
        slice(start, min(start + virtual_batch_size, n_samples))
        for start in range(0, n_samples, virtual_batch_size)
    ]
    last = slices[-1]
    if len(slices) > 1 and last.stop - last.start < max(2, virtual_batch_size / 2):
        slices[-2:] = [slice(slices[-2].start, n_samples)]
    return slices


def check_batch_stats(batch_stats):
    """Refuse a mini-batch whose weights stand for 1 sample or fewer (with
    ghost batches, the fewest of its virtual batches)."""
    count = batch_stats.count
    # (np.min of a number costs more than the rest of the check.)
    if not (np.min(count) if isinstance(count, np.ndarray) else count) > 1:
        raise ValueError(
            "With batch normalization the sample weights of each "
            "training mini-batch must stand for more than 1 sample: "
            "the running variance is unbiased, n / (n - 1) times the "
            "batch's, with n the larger of sum(w) and the effective "
            "number of samples sum(w)**2 / sum(w**2); got a mini-batch "
            f"with n = {np.min(batch_stats.count):.17g}. Give positive weight "
            "to at least 2 samples of each mini-batch, or use "
            "batch_norm=False."
        )


def weighted_moments(z, sample_weight=None):
    """Exact mean and biased variance of each column, in float64.

    The variance's divisor is the weights' sum (the number of rows without).
    One pass over ``z``, in the dtype it has, by the scaler's moment kernels
    (``preprocessing/_dense.py``), on threads.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_bn.neural_network._normalization._batch_norm import (
    ...     weighted_moments,
    ... )
    >>> weighted_moments(np.array([[1.0], [3.0]]))
    (array([2.]), array([1.]))
    """
    result = moments(np.ascontiguousarray(z), sample_weight)
    return result.mean, moments_variance(result, ddof=0)


class BatchNorm(Normalization):
    """Batch normalization of a network's hidden layers (Ioffe and Szegedy, 2015).

    In training each unit is normalized with the mean and the biased variance
    of the mini-batch (weighted means, with sample weights), then scaled by
    ``gamma`` and shifted by ``beta``::

        out = gamma * (x - mean_B) / sqrt(var_B + epsilon) + beta

    where ``x`` is the layer's product (``position="before_activation"``) or
    the activation's output (``"after_activation"``). Inference uses the
    statistics kept for it, and folds into the layer's weights.

    Pass it as the ``batch_norm`` parameter of :class:`BatchNormMLPClassifier`
    or :class:`BatchNormMLPRegressor`; ``batch_norm=True`` is ``BatchNorm()``.

    Parameters
    ----------
    momentum : float in (0, 1] or None, default=0.1
        The weight of each new mini-batch in the running statistics,
        PyTorch's convention: ``running = (1 - momentum) * running + momentum
        * batch``, with the batch's unbiased variance. None is PyTorch's
        cumulative average: the k-th mini-batch gets weight ``1 / k`` and the
        initial statistics none. Keras' ``momentum`` is ``1 - momentum``.

    epsilon : float > 0, default=1e-5
        Added to the variance inside the square root.

    position : {"before_activation", "after_activation"}, \
            default="before_activation"
        What is normalized: the layer's product ``z``, as in the paper (the
        layer then has no bias, which ``beta`` replaces), or the output of
        its activation (the layer keeps its bias; the normalization folds
        into the next layer's weights for inference).

    statistics : {"running", "population"}, default="running"
        The statistics that inference uses. ``"running"``: the exponential
        moving average of the mini-batches' statistics. ``"population"``
        (PreciseBN, Wu and Johnson, 2021): at the end of ``fit``, the exact
        weighted mean and variance (divisor ``n``) of each layer's input to
        the normalization over the whole ``X`` given to ``fit``, in inference
        mode, layer by layer (each layer already using its population
        statistics). ``partial_fit`` updates the running statistics as
        ``"running"`` does: it sees one chunk of the data. With
        ``early_stopping=True`` the validation scores are computed with the
        running statistics, and the population statistics of the epoch kept
        replace them at the end.

    affine : bool, default=True
        Whether to learn ``gamma`` and ``beta``. Without, the output is the
        normalized ``x`` (as PyTorch's ``affine=False``).

    See Also
    --------
    GhostBatchNorm : Batch norm on virtual batches of a mini-batch.
    BatchRenorm : Batch norm corrected towards the running statistics.
    LayerNorm : Normalization over the units of each sample.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_bn import BatchNorm, BatchNormMLPClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = BatchNormMLPClassifier(
    ...     (8,),
    ...     batch_norm=BatchNorm(position="after_activation"),
    ...     learning_rate_init=0.01,
    ...     random_state=0,
    ... ).fit(X, y)
    >>> [gamma.shape for gamma in clf.bn_gammas_]
    [(8,)]
    """

    _parameter_constraints: dict = {
        "momentum": [Interval(Real, 0, 1, closed="right"), None],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "position": [StrOptions({"before_activation", "after_activation"})],
        "statistics": [StrOptions({"running", "population"})],
        "affine": ["boolean"],
    }

    name = "batch_norm"
    batch_statistics = True
    folds = True
    fuses_activation = True
    # The unbiased variance of one sample is undefined.
    min_batch = 2
    roles = {
        "bn_gammas_": "gamma",
        "bn_betas_": "beta",
        "bn_running_means_": "running_mean",
        "bn_running_vars_": "running_var",
        "bn_num_batches_tracked_": "num_batches_tracked",
    }

    def __init__(
        self,
        momentum=0.1,
        epsilon=1e-5,
        position="before_activation",
        statistics="running",
        affine=True,
    ):
        self.momentum = momentum
        self.epsilon = epsilon
        self.position = position
        self.statistics = statistics
        self.affine = affine

    @property
    def trained_names(self):
        return ("bn_gammas_", "bn_betas_") if self.affine else ()

    @property
    def statistics_names(self):
        return ("bn_running_means_", "bn_running_vars_", "bn_num_batches_tracked_")

    @property
    def replaces_bias(self):
        return self.position == "before_activation"

    def _initialize(self, n_units, dtype):
        # gamma 1 and beta 0; the running statistics start at 0 and 1, as PyTorch's.
        trained = (np.ones(n_units, dtype=dtype), np.zeros(n_units, dtype=dtype))
        statistics = (
            np.zeros(n_units, dtype=dtype),
            np.ones(n_units, dtype=dtype),
            np.asarray(0, dtype=np.int64),
        )
        return trained[: len(self.trained_names)], statistics

    def _gamma_beta(self, trained):
        return tuple(trained) if self.affine else (None, None)

    def _forward(
        self, z, trained, statistics, sample_weight=None, activation="identity"
    ):
        gamma, beta = self._gamma_beta(trained)
        # Before the activation, z is the network's to give away; after it,
        # it is the activation's output, which the backward pass reads.
        overwrite = self.position == "before_activation"
        return batch_norm_forward(
            z, gamma, beta, self.epsilon, sample_weight, overwrite, activation
        )

    def _backward(self, grad_out, cache, trained, activation=None):
        gamma, _ = self._gamma_beta(trained)
        dz, dgamma, dbeta = batch_norm_backward(grad_out, cache, gamma, activation)
        return dz, (dgamma, dbeta) if self.affine else ()

    def _check(self, batch_stats):
        check_batch_stats(batch_stats)

    def _update(self, statistics, batch_stats):
        return self._steps(statistics, [batch_stats])

    def _update_many(self, statistics, batch_stats):
        if type(self)._update is not BatchNorm._update:
            # A subclass's own step (ghost batch norm's, a closed form over
            # the virtual batches), taken once per mini-batch.
            return super()._update_many(statistics, batch_stats)
        return self._steps(statistics, batch_stats)

    def _steps(self, statistics, batch_stats):
        """The running statistics' steps of ``batch_stats``, in one kernel call."""
        if not batch_stats:
            return tuple(statistics)
        running_mean, running_var, n_batches = statistics
        seen = int(n_batches)
        # None: the cumulative average, the k-th batch weighing 1 / k.
        # (Python floats, which keep float32 statistics float32.)
        momenta = [
            1.0 / (seen + k) if self.momentum is None else self.momentum
            for k in range(1, len(batch_stats) + 1)
        ]
        return (
            *update_running_stats(running_mean, running_var, batch_stats, momenta),
            np.asarray(seen + len(batch_stats), dtype=np.int64),
        )

    def _full_batch(self, batch_stats):
        # The biased variance: the statistics each L-BFGS evaluation normalized with.
        return batch_stats.mean, batch_stats.var, np.asarray(1, dtype=np.int64)

    def _affine(self, trained, statistics):
        f64 = np.float64
        running_mean, running_var, _ = statistics
        if self.affine:
            gamma, beta = (array.astype(f64) for array in trained)
        else:
            gamma, beta = np.ones(1), np.zeros(1)
        return batch_norm_inference_affine(
            gamma,
            beta,
            running_mean.astype(f64),
            running_var.astype(f64),
            self.epsilon,
        )

    @property
    def population(self):
        return self.statistics == "population"

    def _population(self, z, sample_weight, statistics):
        mean, var = weighted_moments(z, sample_weight)
        dtype = statistics[0].dtype
        return mean.astype(dtype), var.astype(dtype), statistics[2]


class GhostBatchNorm(BatchNorm):
    """Ghost batch normalization (Hoffer, Hubara and Soudry, 2017).

    In training each mini-batch is cut into consecutive virtual batches of
    ``virtual_batch_size`` rows, and each is batch-normalized with its own
    mean and variance, as one :class:`torch.nn.BatchNorm1d` called on each
    chunk would. The running statistics take one step per virtual batch, in
    order. A last virtual batch of fewer than ``max(2, virtual_batch_size /
    2)`` rows joins the one before, as a small last mini-batch does.
    Inference is batch norm's, with the running statistics, folded into the
    weights. With ``virtual_batch_size`` at least the mini-batch size it is
    :class:`BatchNorm`.

    Large mini-batches generalize worse than small ones; normalizing small
    virtual batches brings back some of the small batches' noise while the
    gradient is still averaged over the large batch.

    Parameters
    ----------
    virtual_batch_size : int >= 2, default=32
        The rows of each virtual batch.

    momentum : float in (0, 1] or None, default=0.1
        The weight of each virtual batch in the running statistics; None is
        the cumulative average (see :class:`BatchNorm`).

    epsilon : float > 0, default=1e-5
        Added to the variance inside the square root.

    See Also
    --------
    BatchNorm : One normalization per mini-batch.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_bn import BatchNormMLPClassifier, GhostBatchNorm
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = BatchNormMLPClassifier(
    ...     (8,),
    ...     batch_norm=GhostBatchNorm(virtual_batch_size=16),
    ...     learning_rate_init=0.01,
    ...     random_state=0,
    ... ).fit(X, y)
    >>> int(clf.bn_num_batches_tracked_[0]) > clf.n_iter_
    True
    """

    _parameter_constraints: dict = {
        "virtual_batch_size": [Interval(Integral, 2, None, closed="left")],
        "momentum": [Interval(Real, 0, 1, closed="right"), None],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
    }

    name = "ghost_batch_norm"
    # L-BFGS's inference could not compute what its virtual batches trained.
    lbfgs = False

    def __init__(self, virtual_batch_size=32, momentum=0.1, epsilon=1e-5):
        self.virtual_batch_size = virtual_batch_size
        self.momentum = momentum
        self.epsilon = epsilon

    # The parameters of BatchNorm that a ghost batch norm fixes.
    position = "before_activation"
    statistics = "running"
    affine = True

    def _forward(
        self, z, trained, statistics, sample_weight=None, activation="identity"
    ):
        gamma, beta = trained
        n_samples, n_units = z.shape
        size = self.virtual_batch_size
        chunks = ghost_batches(n_samples, size)
        # The leading virtual batches of ``size`` rows, normalized at once as
        # a (k, size, n_units) array; the last one on its own if it differs.
        k = len(chunks) - (chunks[-1].stop - chunks[-1].start != size)
        rows = k * size
        out = np.empty_like(z)
        caches, stats = [], []
        if k:
            weights = None if sample_weight is None else sample_weight[:rows]
            cache, chunk_stats = _grouped_normalized(
                z[:rows].reshape(k, size, n_units), self.epsilon, weights
            )
            affine_activate(
                cache.centered.reshape(rows, n_units),
                (gamma * cache.inv_std).ravel(),
                beta,
                activation,
                groups=k,
                out=out[:rows],
            )
            caches.append((slice(0, rows), cache))
            stats.append(chunk_stats)
        if rows < n_samples:
            tail = slice(rows, n_samples)
            weights = None if sample_weight is None else sample_weight[tail]
            out[tail], cache, chunk_stats = batch_norm_forward(
                z[tail], gamma, beta, self.epsilon, weights, True, activation
            )
            caches.append((tail, cache))
            stats.append(
                BatchStats(
                    np.atleast_1d(chunk_stats.count),
                    chunk_stats.mean[np.newaxis],
                    chunk_stats.var[np.newaxis],
                )
            )
        return (
            out,
            caches,
            BatchStats(*(np.concatenate(a) for a in zip(*stats, strict=True))),
        )

    def _backward(self, grad_out, cache, trained, activation=None):
        # Each part's dz is written in grad_out's rows (views of them).
        gamma = trained[0]
        dgamma = dbeta = 0
        for rows, chunk_cache in cache:
            grad = grad_out[rows]
            part = None if activation is None else (activation[0], activation[1][rows])
            if chunk_cache.centered.ndim == 3:
                _, chunk_dgamma, chunk_dbeta = _grouped_backward(
                    grad, chunk_cache, gamma, part
                )
            else:
                _, chunk_dgamma, chunk_dbeta = batch_norm_backward(
                    grad, chunk_cache, gamma, part
                )
            dgamma = dgamma + chunk_dgamma
            dbeta = dbeta + chunk_dbeta
        return grad_out, (dgamma, dbeta)

    def _update(self, statistics, batch_stats):
        # One step per virtual batch, in order, in closed form: the k-th of
        # K batches weighs momentum * (1 - momentum) ** (K - k), the old
        # statistics (1 - momentum) ** K; with momentum=None each batch
        # weighs 1 / (batches seen), the old statistics their share.
        running_mean, running_var, n_batches = statistics
        counts, means, variances = batch_stats
        unbiased = variances * (counts / (counts - 1))[:, np.newaxis]
        n_new = len(counts)
        if self.momentum is None:
            total = int(n_batches) + n_new
            keep = int(n_batches) / total
            weights = np.full(n_new, 1.0 / total)
        else:
            decay = (1.0 - self.momentum) ** np.arange(n_new - 1, -1, -1)
            keep = (1.0 - self.momentum) ** n_new
            weights = self.momentum * decay
        dtype = running_mean.dtype
        return (
            (keep * running_mean + weights @ means).astype(dtype),
            (keep * running_var + weights @ unbiased).astype(dtype),
            np.asarray(n_batches + n_new, dtype=np.int64),
        )


def _grouped_normalized(z, epsilon, sample_weight=None):
    """:func:`batch_normalized` of each of ``k`` batches at once: ``z`` of shape
    (k, size, n_units), overwritten, ``sample_weight`` of shape (k * size,) or
    None; the statistics with a first axis of ``k``."""
    k, size, n_units = z.shape
    if sample_weight is None:
        counts = np.full(k, float(size))
        weight_share = None
    else:
        weights = sample_weight.reshape(k, size)
        totals = weights.sum(axis=1)
        counts = np.array(
            [weighted_count(w, total) for w, total in zip(weights, totals, strict=True)]
        )
        weight_share = weights / totals[:, np.newaxis]
    flat = z.reshape(k * size, n_units)
    share = None if weight_share is None else weight_share.ravel()
    mean, var, inv_std = (
        a.reshape(k, n_units)
        for a in column_moments(flat, flat, epsilon, share, groups=k)
    )
    cache = BatchNormCache(z, inv_std, weight_share)
    return cache, BatchStats(counts, mean, var)


def _grouped_backward(grad_out, cache, gamma, activation=None):
    """:func:`batch_norm_backward` of each of ``k`` batches at once, for
    ``grad_out`` of shape (k * size, n_units); overwrites ``grad_out`` (which
    becomes ``dz``)."""
    centered, inv_std, weight_share = cache
    k, size, n_units = centered.shape
    share = None if weight_share is None else weight_share.ravel()
    dgamma, dbeta = batch_norm_gradients(
        grad_out,
        centered.reshape(k * size, n_units),
        inv_std.ravel(),
        gamma,
        share,
        groups=k,
        activation=activation,
    )
    return (
        grad_out,
        dgamma.reshape(k, n_units).sum(axis=0),
        dbeta.reshape(k, n_units).sum(axis=0),
    )
