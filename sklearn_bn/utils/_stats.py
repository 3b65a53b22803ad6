"""Per-feature moments: computing, merging and averaging them.

Pure functions on arrays of any array API namespace, kept apart from the
estimator plumbing and from the code that computes moments from each kind of
input (``_dense``, ``_sparse``, ``_array_api``, ``_dask``). A batch is
summarised by its :class:`Moments`: the (weighted) count, the mean and the
centered sum of squares ``m2`` of each feature, all in float64. Two summaries
merge exactly (Chan, Golub and LeVeque, 1983), so statistics computed block by
block, batch by batch or chunk by chunk on a cluster equal those of one pass.
"""

from typing import NamedTuple

import numpy as np


class Moments(NamedTuple):
    """Sufficient statistics of a batch, per feature, in float64.

    ``count`` is the number of non-NaN values (the sum of their weights with
    sample weights), ``mean`` their mean and ``m2`` the sum of the weighted
    squared deviations from that mean. A feature with ``count == 0`` has a NaN
    mean and ``m2``.
    """

    count: np.ndarray
    mean: np.ndarray
    m2: np.ndarray


def empty_moments(n_features):
    """The moments of no data: the neutral element of :func:`merge_moments`."""
    nan = np.full(n_features, np.nan)
    return Moments(np.zeros(n_features), nan, nan.copy())


def namespace_of(*arrays):
    """The array namespace of the arrays: numpy itself for numpy arrays.

    numpy arrays skip scikit-learn's namespace lookup, which costs more than
    the arithmetic on a small batch.
    """
    if all(isinstance(array, np.ndarray) for array in arrays):
        return np
    from ._compat import get_namespace

    return get_namespace(*arrays)[0]


def merge_moments(a, b):
    """Merge the moments of two disjoint batches into those of their union.

    Chan, Golub and LeVeque's pairwise update, exact up to rounding. A feature
    with zero count on one side takes the other side's values unchanged. Works
    on numpy arrays and on any array API namespace.
    """
    xp = namespace_of(a.mean, b.mean)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        count = a.count + b.count
        delta = b.mean - a.mean
        share_b = b.count / count
        mean = a.mean + delta * share_b
        m2 = a.m2 + b.m2 + delta * delta * a.count * share_b
    only_a = b.count == 0
    only_b = a.count == 0
    mean = xp.where(only_a, a.mean, xp.where(only_b, b.mean, mean))
    m2 = xp.where(only_a, a.m2, xp.where(only_b, b.m2, m2))
    return Moments(count, mean, m2)


def moments_variance(moments, ddof):
    """The variance of each feature: ``m2 / (count - ddof)``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return moments.m2 / (moments.count - ddof)


def exponential_average(running, batch, momentum):
    """One step of a running average: ``(1 - momentum) * running + momentum * batch``.

    This is PyTorch's convention for ``momentum``. Where ``running`` is NaN (a
    feature not seen yet) the batch value initialises it; where ``batch`` is
    NaN (a feature absent from the batch) the running value is kept.
    """
    xp = namespace_of(running, batch)
    updated = (1.0 - momentum) * running + momentum * batch
    updated = xp.where(xp.isnan(running), batch, updated)
    return xp.where(xp.isnan(batch), running, updated)


def is_constant(var, mean, count):
    """Whether a variance is indistinguishable from zero given rounding.

    A feature whose values all lie within a few units in the last place of
    their mean has a computed variance of pure rounding noise. The corrected
    two-pass algorithm with pairwise summation keeps the error near
    ``(eps * mean) ** 2``, so the bound is ``(8 * eps * mean) ** 2``, plus
    ``count * eps * var`` for the relative error of the sum itself. (scikit-learn
    uses ``(count * eps * mean) ** 2``, the bound of the naive two-pass algorithm,
    which calls a feature at 1e9 with a spread of 1e-3 constant.)
    """
    eps = namespace_of(var).finfo(var.dtype).eps
    with np.errstate(over="ignore", invalid="ignore"):
        bound = count * eps * var + (8 * eps * mean) ** 2
    return var <= bound
