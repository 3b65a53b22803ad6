"""Batch renormalization (Ioffe, 2017), as Keras 3.15 computes it.

Training normalizes with the batch's statistics, then corrects the result
towards what the running statistics would give, with ``r`` and ``d`` held
constant in the gradient. The statistics follow Keras'
``BatchNormalization(renorm=True)`` (``keras/src/layers/normalization/
batch_normalization.py``): a moving standard deviation, not a variance, and
a second pair of averages, ``renorm_mean`` and ``renorm_stddev``, for ``r``
and ``d``.
"""

from numbers import Real
from typing import NamedTuple

import numpy as np

from ...utils._compat import Interval
from .._fused import affine_activate
from ._base import Normalization
from ._batch_norm import (
    batch_norm_backward,
    batch_norm_inference_affine,
    batch_normalized,
    check_batch_stats,
)


def _average(running, batch, momentum):
    """``(1 - momentum) * running + momentum * batch``."""
    return (1.0 - momentum) * running + momentum * batch


class RenormCache(NamedTuple):
    """Batch norm's cache and the correction ``r``, ``d`` of the forward pass."""

    batch_norm: object
    r: np.ndarray
    d: np.ndarray


class BatchRenorm(Normalization):
    """Batch renormalization of a network's hidden layers (Ioffe, 2017).

    Batch normalization trains with the statistics of each mini-batch and
    infers with running averages: with small or non-i.i.d. mini-batches the
    two differ. Batch renormalization corrects training towards inference::

        x_hat = (z - mean_B) / sigma_B,     sigma_B = sqrt(var_B + epsilon)
        r = clip(sigma_B / s, 1 / r_max, r_max)
        d = clip((mean_B - renorm_mean) / s, -d_max, d_max)
        out = gamma * (r * x_hat + d) + beta

    with ``s = max(renorm_stddev, sqrt(epsilon))``, ``var_B`` the batch's
    biased variance, and ``r`` and ``d`` constants in the gradient. This is
    Keras 3.15's ``BatchNormalization(renorm=True, renorm_clipping={"rmin":
    1 / r_max, "rmax": r_max, "dmax": d_max})``, step for step.

    Kept for inference, as Keras keeps them: the moving mean and the moving
    standard deviation (averages of ``mean_B`` and ``sigma_B`` with weight
    ``momentum``), and apart from them ``renorm_mean`` and ``renorm_stddev``
    (the same averages with weight ``renorm_momentum``), which give ``r``
    and ``d``. All start at mean 0 and standard deviation 1. Inference
    normalizes with the moving mean and the variance ``max(moving_std ** 2 -
    epsilon, 0)``, and folds into the layer's weights.

    Parameters
    ----------
    momentum : float in (0, 1], default=0.1
        The weight of each new mini-batch in the moving mean and standard
        deviation, PyTorch's convention; Keras' ``momentum`` is ``1 -
        momentum``.

    renorm_momentum : float in (0, 1], default=0.1
        The same for ``renorm_mean`` and ``renorm_stddev``; Keras'
        ``renorm_momentum`` is ``1 - renorm_momentum``.

    epsilon : float > 0, default=1e-5
        Added to the variance inside the square root.

    r_max : float >= 1, default=3.0
        ``r`` is clipped to ``[1 / r_max, r_max]``; 1 gives batch norm's
        training (with the running statistics kept as above).

    d_max : float >= 0, default=5.0
        ``d`` is clipped to ``[-d_max, d_max]``. The defaults of ``r_max``
        and ``d_max`` are the paper's final values (it ramps them up from 1
        and 0 during training).

    See Also
    --------
    BatchNorm : Batch normalization, without the correction.

    Notes
    -----
    Without sample weights every step equals Keras 3.15's on the torch
    backend, computed in float64. With sample weights the batch's mean and
    variance are weighted, as in :class:`BatchNorm` (Keras takes no weights).
    L-BFGS is refused: the correction depends on statistics that only
    mini-batch training moves.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_bn import BatchNormMLPClassifier, BatchRenorm
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = BatchNormMLPClassifier(
    ...     (8,),
    ...     batch_norm=BatchRenorm(r_max=2.0),
    ...     batch_size=16,
    ...     learning_rate_init=0.01,
    ...     random_state=0,
    ... ).fit(X, y)
    >>> round(clf.score(X, y), 2)
    0.94
    """

    _parameter_constraints: dict = {
        "momentum": [Interval(Real, 0, 1, closed="right")],
        "renorm_momentum": [Interval(Real, 0, 1, closed="right")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "r_max": [Interval(Real, 1, None, closed="left")],
        "d_max": [Interval(Real, 0, None, closed="left")],
    }

    name = "batch_renorm"
    fuses_activation = True
    batch_statistics = True
    folds = True
    min_batch = 2
    # The correction depends on statistics that only mini-batch training moves.
    lbfgs = False
    # The correction reads the renorm statistics of the mini-batches before.
    statistics_in_training = True
    replaces_bias = True
    trained_names = ("bn_gammas_", "bn_betas_")
    statistics_names = (
        "bn_running_means_",
        "bn_running_stds_",
        "bn_renorm_means_",
        "bn_renorm_stds_",
    )
    roles = {
        "bn_gammas_": "gamma",
        "bn_betas_": "beta",
        "bn_running_means_": "running_mean",
        "bn_running_stds_": "running_std",
        "bn_renorm_means_": "renorm_mean",
        "bn_renorm_stds_": "renorm_std",
    }

    def __init__(
        self,
        momentum=0.1,
        renorm_momentum=0.1,
        epsilon=1e-5,
        r_max=3.0,
        d_max=5.0,
    ):
        self.momentum = momentum
        self.renorm_momentum = renorm_momentum
        self.epsilon = epsilon
        self.r_max = r_max
        self.d_max = d_max

    def _initialize(self, n_units, dtype):
        zeros, ones = np.zeros(n_units, dtype=dtype), np.ones(n_units, dtype=dtype)
        return (ones, zeros), (zeros, ones, zeros, ones)

    def _forward(
        self, z, trained, statistics, sample_weight=None, activation="identity"
    ):
        gamma, beta = trained
        cache, stats = batch_normalized(z, self.epsilon, sample_weight)
        sigma = np.sqrt(stats.var + self.epsilon)
        renorm_mean, renorm_std = statistics[2:]
        divisor = np.maximum(renorm_std, np.sqrt(self.epsilon))
        r = np.clip(sigma / divisor, 1.0 / self.r_max, self.r_max).astype(z.dtype)
        d = np.clip((stats.mean - renorm_mean) / divisor, -self.d_max, self.d_max)
        d = d.astype(z.dtype)
        # gamma * (r * x_hat + d) + beta, and the activation, in one pass.
        out = affine_activate(
            cache.centered, gamma * r * cache.inv_std, gamma * d + beta, activation
        )
        return out, RenormCache(cache, r, d), stats

    def _backward(self, grad_out, cache, trained, activation=None):
        gamma = trained[0]
        dz, dgamma_hat, dbeta = batch_norm_backward(
            grad_out, cache.batch_norm, gamma * cache.r, activation
        )
        # out = gamma * (r * x_hat + d) + beta, with r and d constants.
        return dz, (cache.r * dgamma_hat + cache.d * dbeta, dbeta)

    def _check(self, batch_stats):
        check_batch_stats(batch_stats)

    def _update(self, statistics, batch_stats):
        running_mean, running_std, renorm_mean, renorm_std = statistics
        sigma = np.sqrt(batch_stats.var + self.epsilon)
        return (
            _average(running_mean, batch_stats.mean, self.momentum),
            _average(running_std, sigma, self.momentum),
            _average(renorm_mean, batch_stats.mean, self.renorm_momentum),
            _average(renorm_std, sigma, self.renorm_momentum),
        )

    def _affine(self, trained, statistics):
        f64 = np.float64
        gamma, beta = (array.astype(f64) for array in trained)
        running_mean, running_std = (array.astype(f64) for array in statistics[:2])
        running_var = np.maximum(running_std * running_std - self.epsilon, 0.0)
        return batch_norm_inference_affine(
            gamma, beta, running_mean, running_var, self.epsilon
        )
