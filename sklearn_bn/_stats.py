"""Per-feature moments: computing, merging and averaging them.

Pure functions on arrays, kept apart from the estimator plumbing. A batch is
summarised by its :class:`Moments`: the (weighted) count, the mean and the
centered sum of squares ``m2`` of each feature, all in float64. Two summaries
merge exactly (Chan, Golub and LeVeque, 1983), so statistics computed block by
block, batch by batch or chunk by chunk on a cluster equal those of one pass.
"""

import functools
from typing import NamedTuple

import numpy as np

from ._validation import raise_overflow

try:
    from . import _kernels
except ImportError:  # built without a C compiler: the numpy paths serve
    _kernels = None

# Rows are processed in blocks of about this many float64 values (256 KiB):
# the temporaries stay in the CPU cache and small whatever the size of X.
_BLOCK_VALUES = 1 << 15

# The statistics of a large X are computed in chunks of about this many values
# (16 MiB of float64), merged in row order. The chunks depend on the shape of
# X alone, so one thread or several give the same bits.
_CHUNK_VALUES = 1 << 21


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
    from sklearn.utils._array_api import get_namespace

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


def _block_moments(block, weights):
    """Corrected two-pass moments of one block of rows, in float64."""
    _check_no_infinity(block)
    mask = np.isnan(block)
    has_nan = mask.any()
    if has_nan:
        present = ~mask
        block = np.where(mask, 0.0, block)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        if weights is None:
            count = (
                present.sum(axis=0, dtype=np.float64)
                if has_nan
                else np.full(block.shape[1], float(block.shape[0]))
            )
            total = block.sum(axis=0, dtype=np.float64)
        else:
            count = (
                weights @ present if has_nan else np.full(block.shape[1], weights.sum())
            )
            total = weights @ block.astype(np.float64, copy=False)
        mean = total / count
        dev = block - mean
        if has_nan:
            dev[mask] = 0.0
        # The corrected two-pass algorithm: the deviations' own sum removes the
        # rounding error of the first pass's mean (large when |mean| >> spread).
        dev_sum = dev.sum(axis=0) if weights is None else weights @ dev
        sq = dev * dev
        m2 = sq.sum(axis=0) if weights is None else weights @ sq
        correction = dev_sum / count
        mean = mean + correction
        m2 = m2 - dev_sum * correction
    return Moments(count, mean, m2)


# The kernels loop over the features of a row; with few features, rows of
# rows are passed as one wider row of at least this many values, the
# per-feature arrays tiled to match.
_KERNEL_MIN_ROW = 64


# Blocks of fewer rows are passed to the kernel as they are.
_WIDEN_FROM_ROWS = 1024


def _widening(n_features):
    """How many rows to pass to a kernel as one row."""
    return max(1, _KERNEL_MIN_ROW // max(1, n_features))


def _wide_rows(block, k):
    """Split ``block`` into a view of rows ``k`` times wider, and the rest."""
    n_wide = (block.shape[0] // k) * k
    wide = block[:n_wide].reshape(n_wide // k, k * block.shape[1])
    return wide, block[n_wide:]


def _kernel_ready(*arrays):
    """Whether the compiled kernels can take these arrays as they are."""
    return _kernels is not None and all(
        a.flags.c_contiguous and a.dtype in (np.float32, np.float64) for a in arrays
    )


class _ShiftedSums:
    """Sums of deviations from a fixed ``shift`` over a run of blocks.

    Per block this costs one pass of the compiled kernel (or, without it, one
    subtraction and two matrix-vector products), and no merge: far cheaper
    than the two-pass algorithm, and as accurate while ``shift`` stays near
    the data's mean. :func:`_dense_moments_serial` turns the sums into
    moments and re-anchors ``shift`` every ``_RUN_BLOCKS`` blocks, so that
    drifting data cannot move far from it.

    ``shift`` is NaN for a feature with no value seen yet. Such a feature is
    summed from 0 by the kernel that skips NaN while it has no value, and the
    first block that gives it one is refused, so that the next run is anchored
    at its mean: a made-up shift could be far from the feature's data. Once a
    block holds a NaN, the run sums this and the next blocks with the kernel
    that skips NaN and counts the values per feature; ``skip_nan`` carries
    that over from the previous run.
    """

    def __init__(self, shift, skip_nan=False):
        self.unanchored = ~np.isfinite(shift)
        self.anchored = not self.unanchored.any()
        self.shift = shift if self.anchored else np.where(self.unanchored, 0.0, shift)
        self.count = np.zeros_like(shift)
        self.dev_sum = np.zeros_like(shift)
        self.dev_sq = np.zeros_like(shift)
        self.skip_nan = skip_nan or not self.anchored

    def add(self, block, weights):
        """Add a block; False (and nothing added) if it cannot be summed here.

        That is a block holding an infinity, one with NaN without the kernel,
        or one that gives a feature with no shift its first value. ``weights``
        is None for unit weights.
        """
        if not _kernel_ready(block):
            if not self.anchored:
                return False
            dev = block - self.shift
            ones = np.ones(len(block)) if weights is None else weights
            with np.errstate(invalid="ignore", over="ignore"):
                sums = ones @ dev, ones @ np.square(dev, out=dev)
            count = ones.sum()
        else:
            if not self.skip_nan:
                sums = self._kernel_sums(block, weights)
                count = len(block) if weights is None else weights.sum()
                # A NaN (or an infinity, which the next call also finds) makes
                # the run skip NaN from here on.
                self.skip_nan = not np.isfinite(sums[0]).all()
            if self.skip_nan:
                *sums, count = self._kernel_sums(block, weights, skip_nan=True)
                if not self.anchored and count[self.unanchored].any():
                    return False
        if not np.isfinite(sums[0]).all():
            return False
        self.dev_sum += sums[0]
        self.dev_sq += sums[1]
        self.count += count
        return True

    def _kernel_sums(self, block, weights, skip_nan=False):
        n_features = block.shape[1]
        totals = [np.zeros(n_features) for _ in range(3 if skip_nan else 2)]
        k = _widening(n_features)
        if weights is not None or k == 1 or len(block) < _WIDEN_FROM_ROWS:
            # One call; a small block (partial_fit) is not worth widening.
            _kernels.shifted_sums(block, self.shift, weights, *totals)
            return totals
        wide, rest = _wide_rows(block, k)
        for rows, shift, width in [
            (wide, np.tile(self.shift, k), k),
            (rest, self.shift, 1),
        ]:
            if rows.size == 0:
                continue
            outputs = [np.zeros(shift.shape) for _ in totals]
            _kernels.shifted_sums(rows, shift, None, *outputs)
            for total, output in zip(totals, outputs, strict=True):
                total += output.reshape(width, n_features).sum(axis=0)
        return totals

    def moments(self):
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            correction = self.dev_sum / self.count
            m2 = self.dev_sq - self.dev_sum * correction
        return Moments(self.count.copy(), self.shift + correction, m2)


def _first_values(X, n_rows):
    """A value of each column to shift the sums by: that of the first row, or
    where it is NaN or infinite, the first finite one in the first ``n_rows``
    rows; NaN where there is none."""
    first = X[0].astype(np.float64)
    missing = np.flatnonzero(~np.isfinite(first))
    if missing.size:
        head = X[:n_rows, missing].astype(np.float64)
        finite = np.isfinite(head)
        values = head[finite.argmax(axis=0), np.arange(missing.size)]
        first[missing] = np.where(finite.any(axis=0), values, np.nan)
    return first


# Blocks of the compiled kernel are this many times larger.
_KERNEL_BLOCK_FACTOR = 16

# Blocks summed from one shift before it is re-anchored at the current mean.
_RUN_BLOCKS = 64


def _dense_moments_serial(X, sample_weight):
    n_samples, n_features = X.shape
    # The kernel streams X once whatever the block: larger blocks spend less
    # time in Python between calls.
    values = _BLOCK_VALUES * (_KERNEL_BLOCK_FACTOR if _kernel_ready(X) else 1)
    step = max(16, values // max(1, n_features))
    result = empty_moments(n_features)
    if n_samples == 0:
        return result
    # The first row is a fine first shift: a far outlier there inflates the
    # variance as much as it costs digits.
    run = _ShiftedSums(_first_values(X, step))
    merged = False
    for index, start in enumerate(range(0, n_samples, step)):
        rows = slice(start, start + step)
        block = X[rows]
        weights = None if sample_weight is None else sample_weight[rows]
        if run.add(block, weights):
            if (index + 1) % _RUN_BLOCKS:
                continue
            block_moments = None
        else:
            block_moments = _block_moments(block, weights)
        # End of a run, or a block that needed the careful path: merge.
        if run.count.any():
            result = merge_moments(result, run.moments())
        if block_moments is not None:
            result = merge_moments(result, block_moments)
        merged = True
        run = _ShiftedSums(result.mean.copy(), skip_nan=run.skip_nan)
    if not run.count.any():
        return result
    # A batch of one run, the common case of partial_fit, needs no merge.
    return merge_moments(result, run.moments()) if merged else run.moments()


def dense_moments(X, sample_weight=None, n_threads=1):
    """Moments of the rows of a dense 2-D array, ignoring NaN.

    X is read once, in blocks of rows small enough to stay in the CPU cache.
    Runs of blocks are summed as deviations from a shift near the mean: the
    first row's values (for a column where it is NaN, that column's first
    value), then each run's mean for the next run. A block the runs cannot
    take (an infinity, NaN without the compiled kernels, a column with no
    value yet) gets the corrected two-pass algorithm. Runs, blocks and chunks
    are merged with :func:`merge_moments`.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Floating point data. NaN marks a missing value.
    sample_weight : ndarray of shape (n_samples,), default=None
        Non-negative float64 weights, or None for unit weights.
    n_threads : int, default=1
        Number of threads. Whatever the number, the chunks of rows and the
        order of their merge are the same, and so is the result.

    Returns
    -------
    Moments
        The float64 moments of each column.
    """

    step = max(16, _CHUNK_VALUES // max(1, X.shape[1]))
    if sample_weight is not None:
        # The kernels read the weights as one contiguous float64 buffer; a
        # broadcast array (dask's ones, say) has a stride of 0.
        sample_weight = np.ascontiguousarray(sample_weight, dtype=np.float64)

    def chunk(start):
        rows = slice(start, start + step)
        weights = None if sample_weight is None else sample_weight[rows]
        return _dense_moments_serial(X[rows], weights)

    parts = _run_on_blocks(chunk, X.shape[0], step, n_threads)
    if not parts:
        return empty_moments(X.shape[1])
    result = parts[0]
    for part in parts[1:]:
        result = merge_moments(result, part)
    return result


def sparse_moments(X, sample_weight=None):
    """Moments of the columns of a CSR or CSC matrix, ignoring explicit NaN.

    Implicit zeros count as values: a column's count is the weight of all rows
    less that of its explicit NaN entries. scikit-learn's compiled
    ``mean_variance_axis`` does the pass over the stored entries.
    """
    from sklearn.utils.sparsefuncs import mean_variance_axis

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
        _check_no_infinity(X.data)
    return Moments(count, np.where(unseen, np.nan, mean), np.where(unseen, np.nan, m2))


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


def array_api_moments(X, sample_weight, dtype):
    """Moments of a 2-D array of any array API namespace, on its device.

    The corrected two-pass algorithm on the whole array, NaN-aware and
    weighted, accumulated in ``dtype`` (float64 where the device has it).
    ``sample_weight`` is None or a 1-D array of the same namespace and device.
    """
    xp = namespace_of(X)
    # array-api-strict computes with numpy: quiet, as the numpy path is.
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        return _array_api_two_pass(xp, X, sample_weight, dtype)


def _array_api_two_pass(xp, X, sample_weight, dtype):
    X = xp.astype(X, dtype)
    missing = xp.isnan(X)
    present = xp.astype(~missing, dtype)
    values = xp.where(missing, xp.zeros_like(X), X)
    if sample_weight is None:
        count = xp.sum(present, axis=0)
        total = xp.sum(values, axis=0)
    else:
        weights = xp.astype(sample_weight, dtype)[:, None]
        count = xp.sum(weights * present, axis=0)
        total = xp.sum(weights * values, axis=0)
    mean = total / count
    dev = xp.where(missing, xp.zeros_like(X), X - mean)
    if sample_weight is not None:
        dev_sum = xp.sum(weights * dev, axis=0)
        m2 = xp.sum(weights * dev * dev, axis=0)
    else:
        dev_sum = xp.sum(dev, axis=0)
        m2 = xp.sum(dev * dev, axis=0)
    correction = dev_sum / count
    return Moments(count, mean + correction, m2 - dev_sum * correction)


def _check_no_infinity(block):
    """Raise scikit-learn's error for an infinite value in X."""
    if np.isinf(block).any():
        raise ValueError(
            f"Input X contains infinity or a value too large for {block.dtype!r}."
        )


def affine_map(X, out, factor, offset, center=None, n_threads=1):
    """``out = X * factor + offset``, or ``(X - center) * factor + offset``.

    Computed in float64 and rounded once to ``out``'s dtype, so that a
    float32 X keeps the digits of a float64 ``center`` and a ``factor``
    beyond float32's range gives the output wherever it is representable.
    Block by block: each block of rows is read once from memory and finished
    while it sits in the CPU cache, so the whole map costs one read of X and
    one write of ``out``. The centered form keeps full precision when a
    feature's ``center`` is far larger than its spread, where ``X * factor``
    and ``offset`` would cancel. NaN stays NaN.

    An infinity in X, or a result beyond the largest value of ``out``'s
    dtype, is an error. Where ``out`` is X itself, all of X is checked before
    any of it is written, so that an error leaves X as it was.
    """
    factor, offset = (np.ascontiguousarray(a, np.float64) for a in (factor, offset))
    if center is not None:
        center = np.ascontiguousarray(center, np.float64)
    step = max(16, _BLOCK_VALUES // max(1, X.shape[1]))
    use_kernel = _kernel_ready(X, out) and X.dtype == out.dtype
    if use_kernel:
        step *= _KERNEL_BLOCK_FACTOR
        params = (factor, offset, center)
        k = _widening(X.shape[1])
        wide_params = [None if a is None else np.tile(a, k) for a in params]

    def map_rows(start, write=True):
        rows = slice(start, start + step)
        source, block = X[rows], out[rows]
        if use_kernel:
            overflow = _kernel_affine_map(source, block, k, wide_params, params, write)
        else:
            overflow = _numpy_affine_map(source, block, factor, offset, center, write)
        if overflow:
            _raise_not_finite(source, factor, offset, center, out.dtype)

    if np.may_share_memory(X, out):
        check_rows = functools.partial(map_rows, write=False)
        _run_on_blocks(check_rows, X.shape[0], step, n_threads)
    _run_on_blocks(map_rows, X.shape[0], step, n_threads)
    return out


def _numpy_affine_map(source, block, factor, offset, center, write):
    """The affine map of one block in numpy; True if it overflows."""
    direct = write and block.dtype == np.float64
    result = block if direct else np.empty(source.shape)
    with np.errstate(over="ignore", invalid="ignore"):
        if center is None:
            np.multiply(source, factor, out=result)
        else:
            np.subtract(source, center, out=result)
            np.multiply(result, factor, out=result)
        np.add(result, offset, out=result)
        magnitude = np.abs(result)
    largest = np.finfo(block.dtype).max
    # The max is NaN where the block holds NaN, which only a closer look
    # tells apart from an infinity.
    if not magnitude.max(initial=0.0) <= largest and (
        np.isinf(source).any() or np.nanmax(magnitude, initial=0.0) > largest
    ):
        return True
    if write and not direct:
        block[...] = result
    return False


def _raise_not_finite(source, factor, offset, center, dtype):
    """The error for a block that holds an infinity or maps beyond ``dtype``."""
    _check_no_infinity(source)
    with np.errstate(over="ignore", invalid="ignore"):
        centered = source if center is None else source - center
        result = centered * factor + offset
        beyond = np.abs(result) > np.finfo(dtype).max
    raise_overflow(np.flatnonzero(beyond.any(axis=0)), dtype)


def scale_entries(data, indices, factor, out, divide=False):
    """``out = data * factor[indices]``, or ``/`` with ``divide``.

    The stored entries of a sparse matrix, each scaled by the factor of its
    column (``indices``: those of a CSR matrix), in float64 and rounded once.
    The kernel does it in one pass; the numpy code gathers the factors a
    cache-sized block at a time. ``out``
    may not be ``data``: an error found halfway would leave it half written.
    An infinite entry, a result beyond ``out``'s dtype or a column index
    outside ``factor`` is an error.
    """
    factor = np.ascontiguousarray(factor, np.float64)
    if _kernel_ready(data, out) and data.dtype == out.dtype:
        if _kernels.scale_entries(data, indices, factor, divide, out):
            _check_no_infinity(data)
            raise_overflow(np.unique(indices[np.isinf(out)]), out.dtype)
        return out
    if indices.size and (indices.min() < 0 or indices.max() >= factor.size):
        raise ValueError(
            f"A stored entry has a column index outside [0, {factor.size}): "
            "the sparse matrix is malformed."
        )
    operation = np.divide if divide else np.multiply
    for start in range(0, data.size, _BLOCK_VALUES):
        block = slice(start, start + _BLOCK_VALUES)
        with np.errstate(over="ignore"):
            operation(data[block], factor.take(indices[block]), out=out[block])
    if not np.isfinite(out).all() and np.isinf(out).any():
        _check_no_infinity(data)
        raise_overflow(np.unique(indices[np.isinf(out)]), out.dtype)
    return out


def _kernel_affine_map(source, block, k, wide_params, params, write):
    """The compiled affine map of one block; ``k`` rows make one wide row.
    True if the block holds an infinity or a result overflows."""
    wide, rest = _wide_rows(source, k)
    parts = [
        (wide, block[: len(source) - len(rest)].reshape(wide.shape), wide_params),
        (rest, block[len(source) - len(rest) :], params),
    ]
    overflow = False
    for rows, out, (factor, offset, center) in parts:
        if rows.size:
            overflow |= _kernels.affine_map(rows, out, factor, offset, center, write)
    return overflow


def _run_on_blocks(work, n_rows, step, n_threads):
    """``[work(start) for start in range(0, n_rows, step)]``, in threads.

    Each thread takes the next block as soon as it is done with one, so a core
    held up by a page fault or a neighbouring process does less of the work,
    rather than making the other wait at the end. Results are in row order.
    After an error the threads take no more blocks, and the error is raised.
    """
    starts = range(0, n_rows, step)
    n_threads = min(n_threads, len(starts))
    if n_threads <= 1:
        return [work(start) for start in starts]
    import threading
    from concurrent.futures import ThreadPoolExecutor

    results = [None] * len(starts)
    queue = iter(enumerate(starts))
    lock = threading.Lock()

    def drain():
        nonlocal queue
        while True:
            with lock:
                index, start = next(queue, (None, None))
            if index is None:
                return
            try:
                results[index] = work(start)
            except BaseException:
                with lock:
                    queue = iter(())
                raise

    with ThreadPoolExecutor(n_threads) as pool:
        for future in [pool.submit(drain) for _ in range(n_threads)]:
            future.result()
    return results
