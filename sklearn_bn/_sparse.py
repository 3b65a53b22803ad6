"""CSR and CSC matrices: their moments, and the scaling of their entries.

Only the stored entries are read or written; implicit zeros count as values
of 0 in the moments and stay zeros in the output.
"""

import numpy as np

from . import _native
from ._stats import Moments
from ._validation import check_no_infinity, check_sparse_structure, raise_overflow

_BLOCK_VALUES = 1 << 15


def moments(X, sample_weight=None):
    """Moments of the columns of a CSR or CSC matrix, ignoring explicit NaN.

    Implicit zeros count as values: a column's count is the weight of all rows
    less that of its explicit NaN entries. Duplicate entries stand for their
    sum, as everywhere in scipy; a malformed structure is an error.
    scikit-learn's compiled ``mean_variance_axis`` does the pass over the
    stored entries.
    """
    from sklearn.utils.sparsefuncs import mean_variance_axis

    check_sparse_structure(X)
    if not X.has_canonical_format:
        X = X.copy()
        X.sum_duplicates()

    if X.dtype != np.float64:
        X = X.astype(np.float64)
    weights = None if sample_weight is None else np.asarray(sample_weight, np.float64)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        mean, var, count = mean_variance_axis(
            X, axis=0, weights=weights, return_sum_weights=True
        )
        count = np.asarray(count, dtype=np.float64)
        m2 = var * count
    unseen = count == 0
    if not (np.isfinite(mean[~unseen]).all() and np.isfinite(m2[~unseen]).all()):
        check_no_infinity(X.data)
    return Moments(count, np.where(unseen, np.nan, mean), np.where(unseen, np.nan, m2))


def scale_entries(data, indices, factor, out):
    """``out = data * factor[indices]``.

    The stored entries of a sparse matrix, each scaled by the factor of its
    column (``indices``: those of a CSR matrix), in float64 and rounded once.
    The kernel does it in one pass; the numpy code gathers the factors a
    cache-sized block at a time. ``out`` may be ``data``: a column index out
    of range is found before anything is written, an overflow is not (the
    estimator writes into a new array, then copies). An infinite entry, a
    result beyond ``out``'s dtype or a column index outside ``factor`` is an
    error.
    """
    factor = np.ascontiguousarray(factor, np.float64)
    if _native.kernel_ready(data, out) and data.dtype == out.dtype:
        if _native.kernels.scale_entries(data, indices, factor, out):
            check_no_infinity(data)
            raise_overflow(np.unique(indices[np.isinf(out)]), out.dtype)
        return out
    if indices.size and (indices.min() < 0 or indices.max() >= factor.size):
        raise ValueError(
            f"A stored entry has a column index outside [0, {factor.size}): "
            "the sparse matrix is malformed."
        )
    for start in range(0, data.size, _BLOCK_VALUES):
        block = slice(start, start + _BLOCK_VALUES)
        with np.errstate(over="ignore"):
            np.multiply(data[block], factor.take(indices[block]), out=out[block])
    if not np.isfinite(out).all() and np.isinf(out).any():
        check_no_infinity(data)
        raise_overflow(np.unique(indices[np.isinf(out)]), out.dtype)
    return out


def is_new(X, given):
    """Whether validation made X a new matrix, which the caller does not hold."""
    if X is given:
        return False
    data = getattr(given, "data", None)
    return not (isinstance(data, np.ndarray) and np.may_share_memory(X.data, data))


def affine_map(X, out, factor, offset, center=None):
    """Each stored entry of a CSR or CSC matrix multiplied by the factor of
    its column, in float64 and rounded once: into X itself if ``out`` is X,
    else into a new matrix of the same structure. The result is complete and
    checked before X is changed, so an error leaves X as it was.

    Implicit zeros stay zeros: ``offset`` must be 0 and ``center`` None, which
    the estimator ensures by refusing a sparse X with ``with_mean`` or a
    non-zero ``beta``.
    """
    if center is not None or np.any(offset != 0):
        raise ValueError("A sparse matrix can only be scaled: it would be dense.")
    # CSR's column indices are checked by scale_entries as it reads them.
    check_sparse_structure(X, indices=X.format != "csr")
    if X.format == "csr":
        columns = X.indices
    else:  # the entries of a column are contiguous
        columns = np.repeat(np.arange(X.shape[1]), np.diff(X.indptr))
    data = scale_entries(X.data, columns, factor, np.empty_like(X.data))
    if out is X:
        X.data[...] = data
        return X
    return type(X)((data, X.indices.copy(), X.indptr.copy()), shape=X.shape)
