"""CSR and CSC matrices: their moments, and the scaling of their entries.

Only the stored entries are read or written; implicit zeros count as values
of 0 in the moments and stay zeros in the output.
"""

import copy

import numpy as np

from ..utils._stats import Moments, merge_moments
from . import _native
from ._threads import BLOCK_VALUES, run_on_blocks
from ._threads import n_threads as default_threads
from ._validation import (
    check_no_infinity,
    check_sparse_structure,
    float64_matrix,
    malformed_sparse_error,
    raise_overflow,
)

# The kernels read a sparse matrix in chunks of about this many stored
# entries, a thread per chunk. The chunks depend on the matrix alone, so one
# thread or several give the same bits. Small chunks let a core held up by
# another process do less of the work: with 4 chunks of a 4-million-entry
# matrix one core often finished a chunk's time (2 ms) after the other.
_CHUNK_ENTRIES = 1 << 18

# Each chunk of CSR rows has records for every column, to zero and merge:
# its moments are read in chunks this much larger (16 chunks of 4 million
# entries and 2000 columns took 10-15% longer than 4).
_CSR_MOMENTS_CHUNK_FACTOR = 4

# The passes over the stored entries of a matrix run on threads from this
# many (a pass costs more per byte than a dense one).
_THREADED_BYTES = 4 * 2**20

# What the kernels say of a structure they stopped on (_kernels.c).
_NOT_CANONICAL, _BAD_INDEX, _BAD_INDPTR = 1, 2, 3

# The fields of a column's record in the moments kernel (_kernels.c).
_SHIFT, _SUM, _SQUARES, _WEIGHT, _NAN_WEIGHT, _STORED = range(6)
_FIELDS = 8


_INDEX_DTYPES = (np.dtype(np.int32), np.dtype(np.int64))


def _readable(X):
    """X with arrays that the kernels and scikit-learn's compiled code read:
    each C-contiguous, the indices and indptr of one dtype, native int32 or
    int64. X itself when its arrays are so, which costs nothing to find out;
    otherwise a new matrix over copies that are, X's flags kept.

    scipy accepts more: views with strides (as ``csr_matrix((data,
    buffer[::2], indptr))`` keeps them), int64 indices with an int32 indptr,
    other integer dtypes or byte orders. Such X is read through this copy,
    taken once per call at the boundary, so that no later call fails on it.
    """
    indices, indptr, data = X.indices, X.indptr, X.data
    if (
        indices.dtype == indptr.dtype
        and indices.dtype in _INDEX_DTYPES
        and indices.flags.c_contiguous
        and indptr.flags.c_contiguous
        and data.flags.c_contiguous
    ):
        return X
    for name, array in (("indices", indices), ("indptr", indptr)):
        if array.dtype.kind not in "iu":
            raise TypeError(
                f"X.{name} must be an array of integers; got one of dtype "
                f"{array.dtype}. Build X with scipy.sparse's constructors."
            )
    both_int32 = all(a.dtype == np.int32 for a in (indices, indptr))
    index_dtype = np.int32 if both_int32 else np.int64
    readable = copy.copy(X)
    # An integer beyond int64 becomes negative: refused as out of range.
    readable.indices = np.asarray(indices, dtype=index_dtype, order="C")
    readable.indptr = np.asarray(indptr, dtype=index_dtype, order="C")
    readable.data = np.asarray(data, order="C")
    return readable


def _kernel_ready(X):
    """Whether the kernels can read X, once :func:`_readable`."""
    return _native.kernel_ready(X.data)


def _structure_error(X, status):
    """The error for a structure a kernel stopped on (its ``status``)."""
    if status == _BAD_INDEX:
        axis = "column" if X.format == "csr" else "row"
        n_minor = X.shape[1] if X.format == "csr" else X.shape[0]
        return malformed_sparse_error(X, f"a {axis} index lies outside [0, {n_minor})")
    return malformed_sparse_error(X, "indptr decreases or leaves [0, nnz]")


def _major_chunks(X, moments=False):
    """Ranges of rows (CSR) or columns (CSC) of about ``_CHUNK_ENTRIES``
    stored entries each; CSR rows for the moments kernel in larger ranges."""
    n_major, nnz = X.indptr.size - 1, int(X.indptr[-1])
    entries = _CHUNK_ENTRIES
    if X.format == "csr" and moments:
        entries *= _CSR_MOMENTS_CHUNK_FACTOR
    # A multiple of 4 chunks, so that 2 or 4 threads finish together.
    n_chunks = 4 * -(-nnz // (4 * entries))
    if X.format == "csr":
        # Each CSR chunk has records for every column: not many more of
        # them than entries.
        n_chunks = min(n_chunks, nnz // (8 * X.shape[1]))
    n_chunks = max(1, n_chunks)
    targets = (np.arange(1, n_chunks) * (nnz / n_chunks)).astype(X.indptr.dtype)
    bounds = np.searchsorted(X.indptr, targets)
    bounds = np.unique(np.concatenate([[0], bounds, [n_major]]))
    return list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))


def _kernel_moments(X, weights, n_threads):
    """The column records of X (see _kernels.c), of shape ``(n_parts,
    n_columns, _FIELDS)``: one part for CSC, one per chunk of rows for CSR,
    run in threads; None if X may hold duplicate entries."""
    n_rows, n_columns = X.shape
    csc = X.format == "csc"
    n_minor = n_rows if csc else n_columns
    chunks = _major_chunks(X, moments=True)
    records = np.zeros((1 if csc else len(chunks), n_columns, _FIELDS))
    records[..., _SHIFT] = np.nan

    def run(index):
        first, last = chunks[index]
        return _native.kernels.sparse_moments(
            X.data,
            X.indices,
            X.indptr,
            first,
            last,
            n_minor,
            weights,
            records[0 if csc else index],
            csc,
        )

    statuses = run_on_blocks(run, len(chunks), 1, n_threads)
    for status in (_BAD_INDPTR, _BAD_INDEX):
        if status in statuses:
            raise _structure_error(X, status)
    if _NOT_CANONICAL in statuses:
        return None
    if weights is None and not csc:  # the CSR kernel counts them if weighted
        records[..., _STORED] = records[..., _WEIGHT] + records[..., _NAN_WEIGHT]
    return records


def _stored_moments(records):
    """The moments of the stored, non-NaN entries of each column, from
    records of any leading shape."""
    count = records[..., _WEIGHT]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        correction = records[..., _SUM] / count
        m2 = records[..., _SQUARES] - records[..., _SUM] * correction
        mean = records[..., _SHIFT] + correction
    return Moments(count, mean, m2)


def _merge_stored_moments(records):
    """The stored moments of the column records of disjoint chunks of rows,
    ``records[k]`` chunk k's, merged at once: with ``delta_k`` the deviation
    of chunk k's mean from a reference (the first chunk's that has one), the
    mean is the reference plus the count-weighted mean of the deltas, and
    ``m2`` the chunks' ``m2`` plus their counts times the squared deviations
    of their means from it. No term cancels, as in pairwise merges, and the
    cost does not grow with the number of chunks as a chain of
    :func:`merge_moments` calls does."""
    if len(records) == 1:
        return _stored_moments(records[0])
    count, mean, m2 = _stored_moments(records)
    seen = count > 0
    reference = mean[seen.argmax(axis=0), np.arange(mean.shape[1])]
    total = count.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        delta = np.where(seen, mean - reference, 0.0)
        shift = (count * delta).sum(axis=0) / total
        spread = np.where(seen, count * (delta - shift) ** 2 + m2, 0.0)
    return Moments(total, reference + shift, spread.sum(axis=0))


def moments(X, sample_weight=None, n_threads=None):
    """Moments of the columns of a CSR or CSC matrix, ignoring explicit NaN.

    Implicit zeros count as values: a column's count is the weight of all rows
    less that of its explicit NaN entries. Duplicate entries stand for their
    sum, as everywhere in scipy; a malformed structure is an error.

    The compiled kernel reads the stored entries once, in float64 whatever
    their dtype, summing each column's deviations from a shift near its
    values (its first value, in a chunk of CSR rows; its running mean, in a
    CSC column, summed in two lanes without weights) and checking the
    structure as it goes. The moments of CSR chunks are merged at once
    (:func:`_merge_stored_moments`), then the implicit zeros (a group of
    value 0) with :func:`merge_moments`. Without the kernels, scikit-learn's
    compiled ``mean_variance_axis`` does the pass.
    """
    X = _readable(X)
    weights = None
    if sample_weight is not None:
        weights = np.ascontiguousarray(sample_weight, np.float64)
    if not _kernel_ready(X):
        return _moments_without_kernel(X, weights)
    if n_threads is None:
        n_threads = default_threads(X.data, _THREADED_BYTES)
    # The CSR kernel leaves duplicates to scipy's flag, which scipy finds in
    # a pass over indptr and the indices (reading out of bounds if indptr
    # is wrong); the CSC kernel checks the row order itself.
    csr = X.format == "csr"
    check_sparse_structure(X, indices=False, indptr=csr)
    records = None
    if not csr or X.has_canonical_format:
        records = _kernel_moments(X, weights, n_threads)
    if records is None:  # duplicate entries, maybe: sum them in a copy
        check_sparse_structure(X)
        X = X.copy()
        X.sum_duplicates()
        records = _kernel_moments(X, weights, n_threads)
    # An infinity makes sums NaN or infinite, even in a row of weight 0.
    if not np.isfinite(records[..., _SUM : _SQUARES + 1]).all():
        check_no_infinity(X.data)
    stored = _merge_stored_moments(records)
    nan_weight = records[..., _NAN_WEIGHT].sum(axis=0)
    n_stored = records[..., _STORED].sum(axis=0)
    n_rows = X.shape[0]
    total = float(n_rows) if weights is None else weights.sum()
    # The implicit zeros, as a group of mean 0: exactly none in a column
    # that stores every row, however the weights round.
    with np.errstate(invalid="ignore"):
        zeros = np.maximum(total - (stored.count + nan_weight), 0.0)
    zeros[n_stored == n_rows] = 0.0
    empty = np.zeros_like(zeros)
    result = merge_moments(Moments(zeros, empty, empty), stored)
    unseen = result.count == 0
    # A column without NaN counts every row: the total weight itself, not
    # its zeros and stored entries summed apart, which may round another way
    # in each column (n_samples_seen_ would be an array).
    count = np.where(nan_weight == 0, total, result.count)
    return Moments(
        count,
        np.where(unseen, np.nan, result.mean),
        np.where(unseen, np.nan, result.m2),
    )


def _moments_without_kernel(X, weights):
    """The moments of :func:`moments` with scikit-learn's
    ``mean_variance_axis``: two passes, in float64."""
    from sklearn.utils.sparsefuncs import mean_variance_axis

    check_sparse_structure(X)
    # A float64 copy of X's arrays, whose duplicates may be summed in place.
    if X.dtype != np.float64 or not X.has_canonical_format:
        X = float64_matrix(X, own_indices=True)
        X.sum_duplicates()
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


def scale_entries(data, indices, factor, out, indices_out=None):
    """``out = data * factor[indices]``, and ``indices`` copied into
    ``indices_out`` unless it is None.

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
        if _native.kernels.scale_entries(data, indices, factor, out, indices_out):
            check_no_infinity(data)
            raise_overflow(np.unique(indices[np.isinf(out)]), out.dtype)
        return out
    if indices_out is not None:
        indices_out[...] = indices
    if indices.size and (indices.min() < 0 or indices.max() >= factor.size):
        raise ValueError(
            f"A stored entry has a column index outside [0, {factor.size}): "
            "the sparse matrix is malformed."
        )
    for start in range(0, data.size, BLOCK_VALUES):
        block = slice(start, start + BLOCK_VALUES)
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


def affine_map(X, out, factor, offset, center=None, n_threads=None):
    """Each stored entry of a CSR or CSC matrix multiplied by the factor of
    its column, in float64 and rounded once: into X itself if ``out`` is X,
    else into a new matrix of the same structure. The result is complete and
    checked before X is changed, so an error leaves X as it was.

    Implicit zeros stay zeros: ``offset`` must be 0 and ``center`` None, which
    the estimator ensures by refusing a sparse X with ``with_mean`` or a
    non-zero ``beta``. Large matrices are scaled in chunks on ``n_threads``
    threads (None: the cores, within the BLAS limits).
    """
    if center is not None or np.any(offset != 0):
        raise ValueError("A sparse matrix can only be scaled: it would be dense.")
    # X's own data is written into at the end, if out is X; the rest reads
    # a readable X.
    given, X = X, _readable(X)
    if n_threads is None:
        n_threads = default_threads(X.data, _THREADED_BYTES)
    factor = np.ascontiguousarray(factor, np.float64)
    data = np.empty_like(X.data)
    # A new matrix gets its own indices, copied by the threads that scale.
    indices = None if out is given else np.empty_like(X.indices)
    if X.format == "csc" and _kernel_ready(X):
        # The kernel checks indptr and the row indices as it reads them.
        check_sparse_structure(X, indices=False, indptr=False)
        _scale_columns(X, factor, data, indices, n_threads)
    else:
        # CSR's column indices are checked by scale_entries as it reads them.
        check_sparse_structure(X, indices=X.format != "csr")
        if X.format == "csr":
            columns, columns_out = X.indices, indices
        else:  # the entries of a column are contiguous
            columns = np.repeat(np.arange(X.shape[1]), np.diff(X.indptr))
            columns_out = None
            if indices is not None:
                indices[...] = X.indices

        def scale(start):
            part = slice(start, start + _CHUNK_ENTRIES)
            try:
                scale_entries(
                    X.data[part],
                    columns[part],
                    factor,
                    data[part],
                    None if columns_out is None else columns_out[part],
                )
            except ValueError as error:
                if "malformed" not in str(error):
                    raise
                # The kernel counts positions from the start of this chunk.
                raise _structure_error(X, _BAD_INDEX) from None

        run_on_blocks(scale, X.data.size, _CHUNK_ENTRIES, n_threads)
    if out is given:
        given.data[...] = data
        return given
    return type(X)((data, indices, X.indptr.copy()), shape=X.shape)


def _scale_columns(X, factor, out, indices, n_threads):
    """``out = X.data * factor[column]`` for a CSC matrix, with the kernel,
    and X's row indices copied into ``indices`` unless it is None."""
    chunks = _major_chunks(X)

    def scale(index):
        first, last = chunks[index]
        return _native.kernels.scale_columns(
            X.data, X.indices, X.indptr, first, last, X.shape[0], factor, out, indices
        )

    results = run_on_blocks(scale, len(chunks), 1, n_threads)
    for status, _ in results:
        if status:
            raise _structure_error(X, status)
    if any(overflow for _, overflow in results):
        check_no_infinity(X.data)
        columns = np.repeat(np.arange(X.shape[1]), np.diff(X.indptr))
        raise_overflow(np.unique(columns[np.isinf(out)]), out.dtype)
