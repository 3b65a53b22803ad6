"""Dask collections: statistics computed on the workers, transforms kept lazy.

A row chunk of a dask array is summarised on the worker that holds it by the
same :func:`~sklearn_bn.preprocessing._dense.moments` that the numpy path uses, and the
summaries are combined with the same :func:`~sklearn_bn.utils._stats.merge_moments`
in a tree. Fitting is therefore one pass over the data, the result equals the
numpy path up to rounding, and only per-feature summaries (three float64
vectors) ever travel to the client.

Dask is an optional dependency: it is imported inside the functions that need
it, never when :mod:`sklearn_bn` is imported.
"""

import functools

import numpy as np

from ..utils._stats import Moments, merge_moments
from . import _dense
from ._validation import check_not_empty, check_weight_sum

# How many partial results each merge task combines. A wider tree has fewer
# levels (less latency); a narrower one spreads the merging over more tasks.
_SPLIT_EVERY = 8

_FLOAT_DTYPES = (np.float64, np.float32, np.float16)


def is_dask_collection(X):
    """Whether X is a dask collection (array, DataFrame or Series).

    Decided from the type's module first, so that dask is never imported for
    numpy, pandas or any other input.

    Parameters
    ----------
    X : object
        Anything.

    Returns
    -------
    bool
        True for a dask collection.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_bn.preprocessing._dask import is_dask_collection
    >>> is_dask_collection(np.ones((2, 2)))
    False
    """
    if not type(X).__module__.startswith("dask"):
        return False
    import dask

    return dask.is_dask_collection(X)


def _is_dask_frame(X):
    """Whether X is a dask DataFrame (dask.dataframe is then already imported)."""
    if not type(X).__module__.startswith("dask.dataframe"):
        return False
    import dask.dataframe as dd

    return isinstance(X, dd.DataFrame)


def _float_dtype(dtype):
    """The dtype the numpy path validates into: float kept, anything else float64."""
    return dtype if dtype in _FLOAT_DTYPES else np.dtype(np.float64)


def as_dask_array(X):
    """X as a 2-D floating point dask array, and what its feature names come from.

    Nothing is computed: a dask DataFrame becomes a dask array whose row chunk
    lengths may be unknown, which fitting does not need.

    Parameters
    ----------
    X : dask.array.Array or dask.dataframe.DataFrame
        The data, of shape (n_samples, n_features).

    Returns
    -------
    X_array : dask.array.Array of shape (n_samples, n_features)
        Of X's dtype if it is float64, float32 or float16, of float64 otherwise.
        X with no features, or a known count of no samples, is refused with
        scikit-learn's error, as numpy input is.
    names : pandas.DataFrame or dask.array.Array
        An empty pandas DataFrame with X's columns when X is a dask DataFrame,
        X_array otherwise: pass it to scikit-learn's ``_check_feature_names``.

    Examples
    --------
    >>> import dask.array as da
    >>> from sklearn_bn.preprocessing._dask import as_dask_array
    >>> X, names = as_dask_array(da.ones((4, 2), dtype=int, chunks=2))
    >>> X.dtype, X.chunks
    (dtype('float64'), ((2, 2), (2,)))
    """
    import dask.array as da

    names = None
    if _is_dask_frame(X):
        # The meta is an empty pandas frame: it carries the column names
        # without computing anything.
        names = X._meta
        X = X.to_dask_array()
    if not isinstance(X, da.Array):
        raise TypeError(
            "X must be a dask array or a dask DataFrame when it is a dask "
            f"collection; got {type(X).__name__}."
        )
    if X.ndim != 2:
        raise ValueError(
            f"Expected a 2-D dask array for X, got one with ndim={X.ndim}. "
            "Reshape it with X.reshape(-1, 1) for a single feature."
        )
    if not isinstance(X._meta, np.ndarray):
        raise TypeError(
            "X must be a dask array of numpy blocks; got blocks of type "
            f"{type(X._meta).__name__}. Sparse blocks are not supported."
        )
    # As numpy input is: an empty block would reach the kernels. A row count
    # not known yet (a dask DataFrame's) is checked as X is fitted.
    check_not_empty(X.shape)
    X = X.astype(_float_dtype(X.dtype))
    return X, X if names is None else names


def _check_block_weights(weights, n_rows):
    """Validate one chunk of sample_weight; runs on the worker that holds it."""
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (n_rows,):
        raise ValueError(
            f"sample_weight must be chunked like the rows of X; a chunk of X "
            f"has {n_rows} rows, the matching chunk of sample_weight has shape "
            f"{weights.shape}."
        )
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError(
            "sample_weight must be finite and non-negative; got a chunk with "
            f"values between {weights.min()} and {weights.max()}."
        )
    return weights


def _chunk_moments(block, weights=None):
    """Moments of one block of X; runs on the worker that holds the block.

    An infinity in the block raises scikit-learn's ValueError there, and the
    client re-raises it.
    """
    block = np.asarray(block)
    if weights is not None:
        weights = _check_block_weights(weights, block.shape[0])
    return _dense.moments(block, weights, n_threads=1)


def _merge_all(*parts):
    """Merge the moments of consecutive row chunks, in order."""
    return functools.reduce(merge_moments, parts)


def _concatenate(*parts):
    """Join the moments of consecutive column chunks into one Moments."""
    return Moments(*(np.concatenate(field) for field in zip(*parts, strict=True)))


def _tree_reduce(parts, combine):
    """Combine delayed parts in a tree of fan-in _SPLIT_EVERY, keeping their order."""
    import dask

    combine = dask.delayed(combine)
    while len(parts) > 1:
        parts = [
            combine(*parts[start : start + _SPLIT_EVERY])
            for start in range(0, len(parts), _SPLIT_EVERY)
        ]
    return parts[0]


def _dask_weights(sample_weight, X):
    """sample_weight as a 1-D float64 dask array chunked like X's rows."""
    import dask.array as da

    if is_dask_collection(sample_weight):
        if type(sample_weight).__module__.startswith("dask.dataframe"):
            sample_weight = sample_weight.to_dask_array()
        weights = sample_weight
    else:
        if any(np.isnan(length) for length in X.chunks[0]):
            raise ValueError(
                "sample_weight must be a dask array or Series partitioned like X "
                "when the chunk lengths of X are unknown (as for a dask "
                "DataFrame); got a non-dask sample_weight."
            )
        weights = da.from_array(np.asarray(sample_weight), chunks=-1)
    if weights.ndim != 1:
        raise ValueError(
            f"sample_weight must be 1-D; got an array of shape {weights.shape}."
        )
    weights = weights.astype(np.float64)
    return _align_rows(weights, X)


def _align_rows(weights, X):
    """Rechunk the weights to X's row chunks where both are known."""
    if weights.chunks[0] == X.chunks[0]:
        return weights
    known = not (np.isnan(X.chunks[0]).any() or np.isnan(weights.chunks[0]).any())
    if known and weights.shape[0] == X.shape[0]:
        return weights.rechunk((X.chunks[0],))
    if not known and weights.numblocks[0] == X.numblocks[0]:
        # Lengths are compared chunk by chunk on the workers.
        return weights
    raise ValueError(
        f"sample_weight must have one weight per row of X: X has shape "
        f"{X.shape} in {X.numblocks[0]} row chunks, sample_weight has shape "
        f"{weights.shape} in {weights.numblocks[0]} chunks."
    )


def _leaf_moments(X, sample_weight):
    """Delayed moments of each block, a list per column chunk in row order, and
    the weights as a dask array (None without weights)."""
    import dask

    # Delayed calls get fresh keys: a fit always computes, never picking up
    # results of an earlier fit that the cluster has not released yet.
    blocks = X.to_delayed()
    if sample_weight is None:
        weights = None
        weight_blocks = [None] * X.numblocks[0]
    else:
        weights = _dask_weights(sample_weight, X)
        weight_blocks = list(weights.to_delayed())
    leaf = dask.delayed(_chunk_moments)
    columns = [
        [leaf(blocks[row, column], weight_blocks[row]) for row in range(X.numblocks[0])]
        for column in range(X.numblocks[1])
    ]
    return columns, weights


def _compute_checked(result, X, weights, per_chunk=False):
    """Compute a delayed result, and in the same pass what is checked: the
    number of rows of X where it is not known (a dask DataFrame's), refused
    if 0 as numpy input is, and the sums of the weights, their total or with
    ``per_chunk`` that of each row chunk (each a batch). With ``per_chunk``,
    the results of the row chunks that hold rows, in order: an empty chunk is
    no batch."""
    import dask

    rows = list(X.chunks[0])
    if np.isnan(rows).any():
        rows = [dask.delayed(len)(block) for block in X.to_delayed()[:, 0]]
    sums = None
    if weights is not None:
        sums = weights.map_blocks(
            _weight_sum, chunks=((1,) * weights.numblocks[0],), dtype=np.float64
        )
    result, rows, sums = dask.compute(result, rows, sums)
    check_not_empty((sum(rows), X.shape[1]))
    if not per_chunk:
        if sums is not None:
            with np.errstate(over="ignore"):
                check_weight_sum(np.sum(sums), "of X")
        return result
    for index, n_rows in enumerate(rows):
        if sums is not None and n_rows:
            check_weight_sum(sums[index], f"in row chunk {index}")
    return [part for part, n_rows in zip(result, rows, strict=True) if n_rows]


def _weight_sum(weights):
    """The sum of one chunk of weights, as an array of one value."""
    with np.errstate(over="ignore"):
        return np.atleast_1d(np.sum(weights))


def dask_moments(X, sample_weight=None):
    """Moments of a dask array's columns, computed on the workers in one pass.

    Each block is summarised where it lives with
    :func:`~sklearn_bn.preprocessing._dense.moments`; the summaries of the row chunks
    are merged with :func:`~sklearn_bn.utils._stats.merge_moments` in a tree, and
    those of the column chunks are joined. X is never gathered: only the
    summaries, three vectors of length n_features each, travel.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
        Floating point data, as returned by :func:`as_dask_array`. NaN marks a
        missing value.
    sample_weight : array-like or dask collection of shape (n_samples,), default=None
        Non-negative weights. A dask array or Series is used chunk by chunk; it
        is rechunked like X's rows where both chunkings are known.

    Returns
    -------
    Moments
        The float64 moments of each column.

    Examples
    --------
    >>> import dask.array as da
    >>> from sklearn_bn.preprocessing._dask import dask_moments
    >>> X = da.arange(8.0, chunks=2).reshape(4, 2)
    >>> dask_moments(X, sample_weight=None).mean
    array([3., 4.])
    """
    columns, weights = _leaf_moments(X, sample_weight)
    per_column_chunk = [_tree_reduce(leaves, _merge_all) for leaves in columns]
    return _compute_checked(_tree_reduce(per_column_chunk, _concatenate), X, weights)


def dask_chunk_moments(X, sample_weight=None):
    """The moments of each row chunk of a dask array, in order.

    The batches of momentum mode. Computed on the workers in one pass; only the
    summaries travel.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
        Floating point data, as returned by :func:`as_dask_array`.
    sample_weight : array-like or dask collection of shape (n_samples,), default=None
        Non-negative weights, as for :func:`dask_moments`.

    Returns
    -------
    list of Moments
        One per row chunk of X that holds rows, in order.

    Examples
    --------
    >>> import dask.array as da
    >>> from sklearn_bn.preprocessing._dask import dask_chunk_moments
    >>> X = da.from_array([[0.0], [2.0], [10.0], [12.0]], chunks=2)
    >>> [batch.mean for batch in dask_chunk_moments(X)]
    [array([1.]), array([11.])]
    """
    import dask

    columns, weights = _leaf_moments(X, sample_weight)
    concatenate = dask.delayed(_concatenate)
    rows = [concatenate(*row) for row in zip(*columns, strict=True)]
    return _compute_checked(rows, X, weights, per_chunk=True)


def _apply_block(block, func):
    """func applied in place to a fresh float copy of one block, on a worker.

    The copy matters: a block may be a read-only view of the user's array.
    """
    block = np.array(block, dtype=_float_dtype(block.dtype), copy=True)
    return func(block, block)


def _apply_frame(frame, func, columns):
    """func applied to one partition of a dask DataFrame; runs on a worker."""
    import pandas as pd

    values = _apply_block(frame.to_numpy(), func)
    return pd.DataFrame(values, index=frame.index, columns=columns)


def dask_apply_rows(X, func):
    """Apply a function of full rows block-wise, lazily, keeping X's layout.

    Parameters
    ----------
    X : dask.array.Array or dask.dataframe.DataFrame of shape (n_samples, n_features)
        The data.
    func : callable
        ``func(block, out)`` writes the result for a float ndarray ``block``
        of shape (n_rows, n_features) into ``out`` and returns it. ``out`` is
        ``block`` itself, always a fresh copy, so the map is in place. It is
        sent to the workers, so it must pickle.

    Returns
    -------
    dask.array.Array or dask.dataframe.DataFrame
        Lazy. A dask array has X's chunks and a float dtype (X's, or float64
        for non-float X); a dask DataFrame keeps X's columns, index and
        partitions. Errors that func raises on a block (an infinity in X, say)
        are raised when the result is computed.

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> from sklearn_bn.preprocessing._dask import dask_apply_rows
    >>> X = da.ones((4, 2), chunks=2)
    >>> Y = dask_apply_rows(X, lambda block, out: np.multiply(block, 2, out=out))
    >>> Y.chunks, float(Y.sum().compute())
    (((2, 2), (2,)), 16.0)
    """
    if _is_dask_frame(X):
        dtype = _float_dtype(X._meta.to_numpy().dtype)
        meta = X._meta.astype(dtype)
        return X.map_partitions(
            _apply_frame, func, X._meta.columns, meta=meta, align_dataframes=False
        )
    X, _ = as_dask_array(X)
    chunks = X.chunks
    # func needs whole rows: join the column chunks, then split them back.
    rows = X.rechunk({1: -1}) if X.numblocks[1] > 1 else X
    result = rows.map_blocks(
        functools.partial(_apply_block, func=func),
        dtype=X.dtype,
        meta=np.empty((0, 0), dtype=X.dtype),
    )
    return result if result.chunks == chunks else result.rechunk(chunks)
