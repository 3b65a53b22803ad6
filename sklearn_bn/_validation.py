"""Checks of inputs that scikit-learn's validation does not make."""

import numpy as np


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
    >>> from sklearn_bn._validation import check_weight_sum
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


def check_sparse_structure(X):
    """Refuse a CSR or CSC matrix whose index arrays are inconsistent.

    scipy builds such a matrix from raw arrays without a check, and code
    reading it by its indices would read or write out of bounds.

    Parameters
    ----------
    X : scipy.sparse CSR or CSC matrix or array

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import sparse
    >>> from sklearn_bn._validation import check_sparse_structure
    >>> X = sparse.csr_matrix((np.ones(2), np.array([0, 5]), np.array([0, 1, 2])),
    ...                       shape=(2, 2))
    >>> check_sparse_structure(X)
    Traceback (most recent call last):
        ...
    ValueError: X is a malformed CSR matrix: a column index lies outside [0, 2). ...
    """
    n_major, n_minor = X.shape if X.format == "csr" else X.shape[::-1]
    indptr, indices = X.indptr, X.indices
    problem = None
    if indptr.ndim != 1 or indptr.shape[0] != n_major + 1:
        problem = f"indptr has {indptr.size} entries, not {n_major + 1}"
    elif indptr[0] != 0 or indptr[-1] != indices.size or indices.size != X.data.size:
        problem = (
            f"indptr runs from {indptr[0]} to {indptr[-1]} over "
            f"{indices.size} indices and {X.data.size} values"
        )
    elif (np.diff(indptr) < 0).any():
        problem = "indptr decreases"
    elif indices.size and (indices.min() < 0 or indices.max() >= n_minor):
        axis = "column" if X.format == "csr" else "row"
        problem = f"a {axis} index lies outside [0, {n_minor})"
    if problem:
        raise ValueError(
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
    >>> from sklearn_bn._validation import raise_overflow
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
