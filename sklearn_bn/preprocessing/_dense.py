"""Dense numpy arrays: their moments in one pass, and the affine map.

X is read once, on several threads for a large X (``_threads``): by the
compiled kernels where the package has them (``_native``), a chunk of rows per
call, which they sum in cache-sized blocks of their own; otherwise by numpy
code, in blocks of rows small enough to stay in the CPU cache. The moments of
blocks, runs and chunks are merged with :func:`~sklearn_bn.utils._stats.merge_moments`.
"""

import functools

import numpy as np

from ..utils._stats import Moments, empty_moments, merge_moments
from . import _native
from ._threads import BLOCK_VALUES, run_on_blocks
from ._threads import n_threads as default_threads
from ._validation import check_no_infinity, raise_overflow

# The statistics of a large X are computed in chunks of about this many bytes,
# merged in row order. The chunks depend on the shape and dtype of X alone, so
# one thread or several give the same bits. Each chunk costs about a tenth of
# a millisecond in Python (its shift, checks and merge): large chunks keep that
# to a few percent of a pass over memory, and a dozen of them for a 400 MB X
# still let a core that is held up do less of the work.
_CHUNK_BYTES = 1 << 25


def _clear_rows_of_no_weight(dev, weights, keep_infinity=False):
    """Zero the deviations of the rows of weight 0, in place.

    They are no samples, and add nothing; but a deviation beyond 1e154 would
    add ``0 * inf``, NaN, to the sum of squares, and the moments would seem
    to overflow (the kernels multiply the weight first, and add 0). An
    infinity is kept where asked: it is refused wherever it is. Costs a look
    at the weights, and a write only where some are 0.
    """
    idle = weights == 0
    if not idle.any():
        return
    rows = dev[idle]
    dev[idle] = np.where(np.isinf(rows), rows, 0.0) if keep_infinity else 0.0


def _two_pass_moments(block, weights):
    """Corrected two-pass moments of one block of rows, in float64."""
    check_no_infinity(block)
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
        if weights is not None:
            _clear_rows_of_no_weight(dev, weights)
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
        if not _native.kernel_ready(block):
            if not self.anchored:
                return False
            dev = block - self.shift
            ones = np.ones(len(block)) if weights is None else weights
            if weights is not None:
                _clear_rows_of_no_weight(dev, weights, keep_infinity=True)
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
            _native.kernels.shifted_sums(block, self.shift, weights, *totals)
            return totals
        wide, rest = _wide_rows(block, k)
        for rows, shift, width in [
            (wide, np.tile(self.shift, k), k),
            (rest, self.shift, 1),
        ]:
            if rows.size == 0:
                continue
            outputs = [np.zeros(shift.shape) for _ in totals]
            _native.kernels.shifted_sums(rows, shift, None, *outputs)
            for total, output in zip(totals, outputs, strict=True):
                total += output.reshape(width, n_features).sum(axis=0)
        return totals

    def moments(self):
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            correction = self.dev_sum / self.count
            m2 = self.dev_sq - self.dev_sum * correction
        return Moments(self.count.copy(), self.shift + correction, m2)


def _first_values(X, n_rows, weights=None):
    """A value of each column to shift the sums by: that of the first row, or
    where it is NaN or infinite, the first finite one in the first ``n_rows``
    rows; NaN where there is none. Rows of weight 0 are passed over: they are
    no samples, and one far from the data would cost the sums every digit."""
    if weights is not None:
        X = X[:n_rows][weights[:n_rows] > 0]
        if len(X) == 0:
            return np.full(X.shape[1], np.nan)
    first = X[0].astype(np.float64)
    missing = np.flatnonzero(~np.isfinite(first))
    if missing.size:
        head = X[:n_rows, missing].astype(np.float64)
        finite = np.isfinite(head)
        values = head[finite.argmax(axis=0), np.arange(missing.size)]
        first[missing] = np.where(finite.any(axis=0), values, np.nan)
    return first


# Blocks of the compiled kernel are this many times larger: a chunk of float64
# is one block, since the kernel needs no temporaries (it sums in blocks of its
# own, for accuracy) and each block costs tens of microseconds in Python (a
# fifth of the time of a float32 fit with blocks of 2**19 values). A block the
# kernel's run refuses is taken again in blocks of ``BLOCK_VALUES``, so that
# only those get the two-pass algorithm and its temporaries.
_KERNEL_BLOCK_FACTOR = 128

# Blocks summed from one shift before it is re-anchored at the current mean.
_RUN_BLOCKS = 64


def _dense_moments_serial(X, sample_weight, block_values=None):
    n_samples, n_features = X.shape
    # The kernel streams X once whatever the block: larger blocks spend less
    # time in Python between calls.
    if block_values is None:
        block_values = BLOCK_VALUES * (
            _KERNEL_BLOCK_FACTOR if _native.kernel_ready(X) else 1
        )
    step = max(16, block_values // max(1, n_features))
    small_step = max(16, BLOCK_VALUES // max(1, n_features))
    result = empty_moments(n_features)
    if n_samples == 0:
        return result
    # The first row is a fine first shift: a far outlier there inflates the
    # variance as much as it costs digits. Not so a row of weight 0, which
    # inflates nothing: the first row of positive weight is taken.
    run = _ShiftedSums(_first_values(X, step, sample_weight))
    merged = False
    for index, start in enumerate(range(0, n_samples, step)):
        rows = slice(start, start + step)
        block = X[rows]
        weights = None if sample_weight is None else sample_weight[rows]
        if run.add(block, weights):
            if (index + 1) % _RUN_BLOCKS:
                continue
            block_moments = None
        elif step > small_step:
            block_moments = _dense_moments_serial(block, weights, BLOCK_VALUES)
        else:
            block_moments = _two_pass_moments(block, weights)
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


def moments(X, sample_weight=None, n_threads=None):
    """Moments of the rows of a dense 2-D array, ignoring NaN.

    X is read once, in chunks of rows on threads, each in blocks (see the
    module's docstring). Runs of blocks are summed as deviations from a shift
    near the mean: the first row's values (for a column where it is NaN, that
    column's first value), then each run's mean for the next run. A block the
    runs cannot take (an infinity, NaN without the compiled kernels, a column
    with no value yet) gets the corrected two-pass algorithm. Runs, blocks and
    chunks are merged with :func:`merge_moments`.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Floating point data. NaN marks a missing value.
    sample_weight : ndarray of shape (n_samples,), default=None
        Non-negative float64 weights, or None for unit weights.
    n_threads : int, default=None
        Number of threads; None for the cores, within the BLAS thread limits,
        where X is large. Whatever the number, the chunks of rows and the
        order of their merge are the same, and so is the result.

    Returns
    -------
    Moments
        The float64 moments of each column.
    """

    step = max(16, _CHUNK_BYTES // (X.itemsize * max(1, X.shape[1])))
    if sample_weight is not None:
        # The kernels read the weights as one contiguous float64 buffer; a
        # broadcast array (dask's ones, say) has a stride of 0.
        sample_weight = np.ascontiguousarray(sample_weight, dtype=np.float64)

    def chunk(start):
        rows = slice(start, start + step)
        weights = None if sample_weight is None else sample_weight[rows]
        return _dense_moments_serial(X[rows], weights)

    if n_threads is None:
        n_threads = default_threads(X)
    parts = run_on_blocks(chunk, X.shape[0], step, n_threads)
    if not parts:
        return empty_moments(X.shape[1])
    result = parts[0]
    for part in parts[1:]:
        result = merge_moments(result, part)
    return result


def affine_map(X, out, factor, offset, center=None, n_threads=None):
    """``out = X * factor + offset``, or ``(X - center) * factor + offset``.

    Computed in float64 and rounded once to ``out``'s dtype, so that a
    float32 X keeps the digits of a float64 ``center`` and a ``factor``
    beyond float32's range gives the output wherever it is representable.
    The kernel maps each value in one pass; the numpy code finishes each
    cache-sized block of rows while it sits in the CPU cache. Either way the
    whole map costs one read of X and one write of ``out``. The centered form
    keeps full precision when a feature's ``center`` is far larger than its
    spread, where ``X * factor`` and ``offset`` would cancel. NaN stays NaN.

    An infinity in X, or a result beyond the largest value of ``out``'s
    dtype, is an error. Where ``out`` is X itself, all of X is checked before
    any of it is written, so that an error leaves X as it was.
    """
    if n_threads is None:
        n_threads = default_threads(X)
    factor, offset = (np.ascontiguousarray(a, np.float64) for a in (factor, offset))
    if center is not None:
        center = np.ascontiguousarray(center, np.float64)
    step = max(16, BLOCK_VALUES // max(1, X.shape[1]))
    use_kernel = _native.kernel_ready(X, out) and X.dtype == out.dtype
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
        run_on_blocks(check_rows, X.shape[0], step, n_threads)
    run_on_blocks(map_rows, X.shape[0], step, n_threads)
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
    check_no_infinity(source)
    with np.errstate(over="ignore", invalid="ignore"):
        centered = source if center is None else source - center
        result = centered * factor + offset
        beyond = np.abs(result) > np.finfo(dtype).max
    raise_overflow(np.flatnonzero(beyond.any(axis=0)), dtype)


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
            overflow |= _native.kernels.affine_map(
                rows, out, factor, offset, center, write
            )
    return overflow
