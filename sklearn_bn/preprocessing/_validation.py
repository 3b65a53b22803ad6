"""Checks of inputs that scikit-learn's validation does not make, and the
options BatchNormScaler passes to it."""

from numbers import Real

import numpy as np
from scipy import sparse
from sklearn.utils.validation import FLOAT_DTYPES

from ..utils._compat import _is_numpy_namespace, _max_precision_float_dtype


def check_weight_sum(total, what="of X"):
    """Refuse sample weights that sum to zero, or beyond float64's range.

    Parameters
    ----------
    total : float or 0-d array
        The sum of the sample weights.
    what : str, default="of X"
        What the weights belong to, for the message.

    Examples
    --------
    >>> from sklearn_bn.preprocessing._validation import check_weight_sum
    >>> check_weight_sum(3.0)
    >>> check_weight_sum(0.0)
    Traceback (most recent call last):
        ...
    ValueError: Sample weights must contain at least one non-zero number: ...
    """
    total = float(total)
    if not total > 0:
        raise ValueError(
            "Sample weights must contain at least one non-zero number: "
            f"sample_weight {what} sums to zero."
        )
    if not np.isfinite(total):
        raise ValueError(
            f"The sum of sample_weight {what} overflows float64. Divide "
            "sample_weight by a constant: weights count as frequencies, so "
            "mean_ and var_ depend only on their ratios (n_samples_seen_ is "
            "their sum)."
        )


def check_not_empty(shape, estimator="BatchNormScaler"):
    """Refuse X with no samples or no features, in scikit-learn's words.

    scikit-learn's ``validate_data`` says this of a numpy array; a dask
    collection, checked lazily, and a pandas frame with no columns (whose
    dtypes scikit-learn fails to combine first) are refused here with the
    same message.

    Parameters
    ----------
    shape : tuple of two numbers
        The shape of X; a row count of NaN (not known yet) is not checked.
    estimator : str, default="BatchNormScaler"
        The estimator named in the message.

    Examples
    --------
    >>> from sklearn_bn.preprocessing._validation import check_not_empty
    >>> check_not_empty((10, 3))
    >>> check_not_empty((10, 0))
    Traceback (most recent call last):
        ...
    ValueError: Found array with 0 feature(s) (shape=(10, 0)) while a minimum of 1 ...
    """
    shape = tuple(shape)
    for what, size in (("sample", shape[0]), ("feature", shape[1])):
        if size == 0:
            raise ValueError(
                f"Found array with 0 {what}(s) (shape={shape}) while a minimum "
                f"of 1 is required by {estimator}."
            )


def check_sparse_structure(X, indices=True, indptr=True):
    """Refuse a CSR or CSC matrix whose index arrays are inconsistent.

    scipy builds such a matrix from raw arrays without a check, and code
    reading it by its indices would read or write out of bounds.

    Parameters
    ----------
    X : scipy.sparse CSR or CSC matrix or array

    indices : bool, default=True
        Whether to check that every index lies within the other axis; False
        for a caller whose kernel checks them itself.

    indptr : bool, default=True
        Whether to check that indptr never decreases; False for a caller
        whose kernel checks it itself. The lengths and the ends of indptr are
        always checked.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import sparse
    >>> from sklearn_bn.preprocessing._validation import check_sparse_structure
    >>> X = sparse.csr_matrix((np.ones(2), np.array([0, 5]), np.array([0, 1, 2])),
    ...                       shape=(2, 2))
    >>> check_sparse_structure(X)
    Traceback (most recent call last):
        ...
    ValueError: X is a malformed CSR matrix: a column index lies outside [0, 2). ...
    """
    n_major, n_minor = X.shape if X.format == "csr" else X.shape[::-1]
    check_indices, check_indptr = indices, indptr
    indptr, indices = X.indptr, X.indices
    problem = None
    if indices.ndim != 1 or X.data.ndim != 1:
        problem = "indices or data is not 1-D"
    elif indptr.ndim != 1 or indptr.shape[0] != n_major + 1:
        problem = f"indptr has {indptr.size} entries, not {n_major + 1}"
    elif indptr[0] != 0 or indptr[-1] != indices.size or indices.size != X.data.size:
        problem = (
            f"indptr runs from {indptr[0]} to {indptr[-1]} over "
            f"{indices.size} indices and {X.data.size} values"
        )
    elif check_indptr and (indptr[1:] < indptr[:-1]).any():  # unsigned too
        problem = "indptr decreases"
    elif (
        check_indices
        and indices.size
        and (indices.min() < 0 or indices.max() >= n_minor)
    ):
        axis = "column" if X.format == "csr" else "row"
        problem = f"a {axis} index lies outside [0, {n_minor})"
    if problem:
        raise malformed_sparse_error(X, problem)


def malformed_sparse_error(X, problem):
    """The error for a CSR or CSC matrix X whose structure has ``problem``."""
    return ValueError(
        f"X is a malformed {X.format.upper()} matrix: {problem}. Build it "
        "with scipy.sparse's constructors; X.check_format(full_check=True) "
        "shows the problem."
    )


def raise_overflow(features, dtype):
    """Refuse a result beyond the largest value of ``dtype``.

    Parameters
    ----------
    features : array-like of int
        The features whose result overflows.
    dtype : numpy dtype
        The dtype of the result.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_bn.preprocessing._validation import raise_overflow
    >>> raise_overflow([2], np.float32)
    Traceback (most recent call last):
        ...
    ValueError: The result for features [2] lies beyond 3.403e+38, ...
    """
    dtype = np.dtype(dtype)
    advice = (
        "it cannot be represented."
        if dtype == np.float64
        else "pass X as float64 to get it."
    )
    raise ValueError(
        f"The result for features {np.unique(features).tolist()} lies beyond "
        f"{np.finfo(dtype).max:.4g}, the largest {dtype.name} value: {advice}"
    )


def check_no_infinity(block):
    """Raise scikit-learn's error for an infinite value in X."""
    if np.isinf(block).any():
        raise ValueError(
            f"Input X contains infinity or a value too large for {block.dtype!r}."
        )


def finite_check(X, numpy_input):
    """What validate_data checks for.

    numpy input is checked for infinities as it is processed, which saves a
    pass over X: dense input block by block, sparse input as its stored
    entries are read (an infinity shows in the statistics, and the scaling
    of the entries flags it, before X is changed). Other input, and a dense
    numpy array written in place, are checked up front.
    """
    if sparse.issparse(X):
        return False
    return False if numpy_input else "allow-nan"


def float_dtypes(xp, device):
    """The floating dtypes X may keep, best first: no float64 on devices
    that lack it."""
    if _max_precision_float_dtype(xp, device) == xp.float64:
        return (xp.float64, xp.float32)
    return (xp.float32,)


def float_dtype_for(X, xp, device):
    """The dtypes to validate X into, best first.

    numpy input keeps float64, float32 or float16, and a polars frame whose
    columns are all Float32 stays float32 (scikit-learn's own conversion would
    make it float64). Another array API namespace keeps float64 and float32,
    or float32 alone on a device without float64. A pandas frame with no
    columns has none: it is refused with scikit-learn's error for no features
    (:func:`check_not_empty`). A CSR or CSC matrix of another dtype, which
    validation converts, must have a sound indptr
    (:func:`check_sparse_structure`).
    """
    if _is_pandas_frame(X) and len(X.columns) == 0:
        # It has no dtype: scikit-learn's validation fails on that before
        # its check of the number of features.
        check_not_empty(X.shape)
    if sparse.issparse(X) and X.format in ("csr", "csc"):
        if X.dtype not in FLOAT_DTYPES:
            # Validation converts X with scipy's astype, which sorts and
            # sums its entries in compiled code that trusts indptr.
            check_sparse_structure(X, indices=False)
    if not _is_numpy_namespace(xp):
        return float_dtypes(xp, device)
    if type(X).__module__.split(".")[0] == "polars" and hasattr(X, "schema"):
        import polars as pl

        dtypes = list(X.schema.values())
        if dtypes and all(dtype == pl.Float32 for dtype in dtypes):
            return np.float32
    return FLOAT_DTYPES


def sparse_as_float(X):
    """A CSR or CSC matrix of a dtype validation would convert, as a float64
    matrix over X's own index arrays; any other X as it is.

    scikit-learn's validation converts it with scipy's ``astype``, which
    (scipy 1.10) first sums X's duplicate entries in place, changing the
    caller's matrix. Built from X's arrays, the float64 matrix leaves X as it
    was; its structure is checked where it is read, as any matrix's.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import sparse
    >>> from sklearn_bn.preprocessing._validation import sparse_as_float
    >>> X = sparse.csr_matrix((np.array([1, 2]), [0, 0], [0, 2]), shape=(1, 1))
    >>> sparse_as_float(X).dtype, X.data
    (dtype('float64'), array([1, 2]))
    """
    if not (sparse.issparse(X) and X.format in ("csr", "csc")):
        return X
    # Complex and object data are refused by validation, as they are.
    if X.dtype in FLOAT_DTYPES or X.dtype.kind not in "biuf":
        return X
    # Compiled code in scipy trusts indptr: checked before the conversion.
    check_sparse_structure(X, indices=False)
    return float64_matrix(X)


def float64_matrix(X, own_indices=False):
    """A float64 CSR or CSC matrix over X's entries, duplicates kept.

    Built from X's arrays rather than by scipy's ``astype``, which sums
    duplicates first, in place in X (scipy 1.10) and not at all for float16.
    With ``own_indices`` the index arrays are copies, which the caller may
    change (``sum_duplicates``); otherwise they are X's own.
    """
    indices, indptr = X.indices, X.indptr
    if own_indices:
        indices, indptr = indices.copy(), indptr.copy()
    return type(X)((X.data.astype(np.float64), indices, indptr), shape=X.shape)


def _is_pandas_frame(X):
    """Whether X is a pandas DataFrame, without importing pandas."""
    return type(X).__module__.split(".")[0] == "pandas" and hasattr(X, "columns")


def check_affine_param(value, name, n_features):
    """Validate gamma or beta and broadcast it to shape (n_features,)."""
    if isinstance(value, Real) and np.isfinite(value):
        return np.full(n_features, float(value))
    array = np.asarray(value, dtype=np.float64)
    if array.ndim > 1 or (array.ndim == 1 and array.shape[0] != n_features):
        raise ValueError(
            f"{name} must be a float or an array of shape (n_features,) = "
            f"({n_features},); got an array of shape {array.shape}."
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite; got {value!r}.")
    return np.broadcast_to(array, (n_features,)).copy()
