"""BatchNormScaler: batch normalization as a scikit-learn transformer."""

import functools
from numbers import Integral, Real

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from ..utils._callbacks import CallbackSupportMixin, fit_callback_context
from ..utils._compat import (
    Interval,
    Options,
    _check_feature_names,
    _check_n_features,
    _check_sample_weight,
    _fit_context,
    _get_output_config,
    _is_numpy_namespace,
    get_namespace_and_device,
)
from ..utils._params import ParamNamesMixin
from ..utils._rollback import restored_on_error
from ..utils._stats import (
    Moments,
    exponential_average,
    is_constant,
    merge_moments,
    moments_variance,
    namespace_of,
)
from . import _array_api, _dense, _sparse
from ._array_api import to_numpy
from ._dask import (
    as_dask_array,
    dask_apply_rows,
    dask_chunk_moments,
    dask_moments,
    is_dask_collection,
)
from ._validation import (
    check_affine_param,
    check_weight_sum,
    finite_check,
    float_dtype_for,
    sparse_as_float,
)

# With ddof=1, a sum of sample weights within this relative distance of ddof
# counts as ddof samples (sqrt of float64's eps): the sum carries rounding error.
_WEIGHT_SUM_RTOL = 2**-26

# transform centers features whose |mean| exceeds this many standard deviations
# before scaling them; the others take the cheaper affine form.
_CENTER_BEYOND = 16


def _backend(X):
    """The module that computes on a validated X: its moments, and the affine
    map of transform and inverse_transform. Each kind of input has one, with
    the same two functions; a dask collection is handled before validation,
    by ``_dask``."""
    if sparse.issparse(X):
        return _sparse
    if isinstance(X, np.ndarray):
        return _dense
    return _array_api


def _as_count(count, weighted):
    """n_samples_seen_ as StandardScaler reports it.

    An int when no weights were given, the sum of weights otherwise; a scalar
    when every feature has the same count, an array (in the namespace of
    ``count``) when NaNs made them differ.
    """
    xp = namespace_of(count)
    if not weighted:
        count = xp.round(count)
        count = count.astype(np.int64) if xp is np else xp.astype(count, xp.int64)
    if bool(xp.all(count == count[0])):
        return int(count[0]) if not weighted else float(count[0])
    return count


def _is_weight_sum(n_samples_seen):
    """Whether n_samples_seen_ sums sample weights (a float) or counts rows."""
    if isinstance(n_samples_seen, Integral):
        return False
    return isinstance(n_samples_seen, Real) or (
        to_numpy(n_samples_seen).dtype.kind == "f"
    )


class BatchNormScaler(
    CallbackSupportMixin,
    ParamNamesMixin,
    OneToOneFeatureMixin,
    TransformerMixin,
    BaseEstimator,
):
    r"""Normalize each feature with batch statistics, then scale and shift it.

    Batch normalization (Ioffe and Szegedy, 2015) as a transformer. Each
    feature ``j`` is mapped to

    .. code-block:: text

        y_j = gamma_j * (x_j - mean_j) / sqrt(var_j + epsilon) + beta_j

    where ``mean_j`` and ``var_j`` are statistics of the data seen in
    :meth:`fit` or :meth:`partial_fit`: exact statistics of all of it
    (``momentum=None``), or running averages over batches as a network's
    batch-normalization layer keeps them (``momentum`` a float).

    With the defaults (``gamma=1``, ``beta=0``) the output has zero mean and
    unit variance up to ``epsilon``, like
    :class:`~sklearn.preprocessing.StandardScaler`.

    Parameters
    ----------
    gamma : float or array-like of shape (n_features,), default=1.0
        The scale applied after normalization. A float applies to every
        feature. Must be finite. It is a hyperparameter: fit never changes it.

    beta : float or array-like of shape (n_features,), default=0.0
        The shift applied after scaling. A float applies to every feature. Must
        be finite, and zero for sparse input.

    epsilon : float, default=1e-5
        Added to the variance inside the square root, so that features with
        tiny variance are not blown up. With ``epsilon=0``, features that are
        constant up to rounding get a divisor of 1, as in StandardScaler.

    momentum : float in (0, 1] or None, default=None
        None keeps exact statistics of all data seen: :meth:`partial_fit`
        pools batches exactly, so any split of the data gives the statistics of
        one :meth:`fit`. A float keeps running statistics instead: the first
        batch sets them, and each later batch updates
        ``running = (1 - momentum) * running + momentum * batch_statistic``,
        PyTorch's convention. Keras' ``momentum`` is the weight of the running
        value instead: ``keras_momentum = 1 - momentum``.

    ddof : {0, 1}, default=0
        Delta degrees of freedom: the variance divides by ``n - ddof`` (the sum
        of sample weights less ``ddof``, with sample weights treated as
        frequency weights). 0 is the batch variance of the paper's Algorithm 1,
        of scikit-learn and of Keras. 1 is the unbiased estimate that the
        paper's Algorithm 2 uses for inference and PyTorch keeps in
        ``running_var``; it needs more than one sample per feature and batch,
        that is a sum of weights above 1 by more than its rounding error
        (relative ``2**-26``): weights normalized to sum to 1 are refused.

    with_mean : bool, default=True
        If False, do not subtract the mean: ``y = gamma * x / sqrt(var +
        epsilon) + beta``. Only this mode accepts sparse input.

    copy : bool, default=True
        If False, :meth:`transform` and :meth:`inverse_transform` work in place
        on numpy float arrays and CSR/CSC matrices. Data frames (pandas,
        polars) are never changed: their output is a new array.

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,)
        The mean of each feature, float64: exact, or the running mean when
        ``momentum`` is set. NaN for a feature that had no value.

    var_ : ndarray of shape (n_features,)
        The variance of each feature with divisor ``n - ddof``, float64: exact,
        or the running variance when ``momentum`` is set.

    multiplier_ : ndarray of shape (n_features,)
        ``gamma / sqrt(var_ + epsilon)``: the factor each centered feature is
        multiplied by.

    offset_ : ndarray of shape (n_features,)
        ``beta - mean_ * multiplier_`` (``beta`` when ``with_mean=False``). With
        ``multiplier_`` it is the affine form of the paper's Algorithm 2:
        ``y = x * multiplier_ + offset_``.

    n_samples_seen_ : int or ndarray of shape (n_features,)
        The number of samples seen. An array when NaNs made the counts of the
        features differ. With ``sample_weight``, the sum of the weights (a
        float). Reset by :meth:`fit`, increased by :meth:`partial_fit`.

    n_features_in_ : int
        Number of features seen during :term:`fit`.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :term:`fit`. Defined only when `X`
        has feature names that are all strings.

    See Also
    --------
    sklearn.preprocessing.StandardScaler : The special case ``gamma=1``,
        ``beta=0``, ``epsilon=0``.

    Notes
    -----
    NaNs are ignored when computing the statistics and kept in place by
    :meth:`transform` and :meth:`inverse_transform`.

    The statistics are accumulated in float64 whatever the input dtype, with a
    two-pass algorithm per block of rows and the exact pairwise merge of Chan,
    Golub and LeVeque (1983) between blocks and batches. Float32 input gives
    float32 output.

    :meth:`transform` computes ``x * multiplier_ + offset_`` in one pass over
    X. Where a feature's mean lies more than 16 standard deviations from zero,
    that form would lose digits to cancellation, and it computes
    ``(x - mean_) * multiplier_ + beta`` instead, the same map in exact
    arithmetic. The arithmetic is float64, rounded once to X's dtype; a
    result beyond the largest value of that dtype is an error. Large inputs
    are processed in blocks of rows, on as many threads as there are cores
    within the BLAS thread limit (``threadpoolctl``).

    Dask arrays and DataFrames are fitted on their workers in one pass and
    transformed lazily. With ``sklearn.set_config(array_api_dispatch=True)``,
    array API inputs (torch, CuPy, ...) are fitted and transformed on their
    device, and the fitted attributes stay in their namespace.

    Setting ``gamma = sqrt(var_ + epsilon)`` and ``beta = mean_`` makes the
    transform the identity: batch normalization can represent "no change".

    References
    ----------
    .. [1] S. Ioffe and C. Szegedy, "Batch Normalization: Accelerating Deep
       Network Training by Reducing Internal Covariate Shift", ICML 2015.

    Examples
    --------
    Two features on very different scales come out with zero mean and unit
    variance:

    >>> import numpy as np
    >>> from sklearn_bn import BatchNormScaler
    >>> X = np.array([[1.0, 100.0], [2.0, 300.0], [3.0, 500.0]])
    >>> scaler = BatchNormScaler(epsilon=0.0).fit(X)
    >>> scaler.mean_
    array([  2., 300.])
    >>> scaler.transform(X)
    array([[-1.22474487, -1.22474487],
           [ 0.        ,  0.        ],
           [ 1.22474487,  1.22474487]])

    ``gamma`` and ``beta`` rescale and shift the normalized features:

    >>> BatchNormScaler(gamma=2.0, beta=[0.0, 10.0], epsilon=0.0).fit_transform(X)
    array([[-2.44948974,  7.55051026],
           [ 0.        , 10.        ],
           [ 2.44948974, 12.44948974]])

    A constant column gets a divisor of 1 when ``epsilon=0``: it becomes
    ``beta``, never NaN or inf.

    >>> BatchNormScaler(epsilon=0.0).fit_transform([[5.0], [5.0]])
    array([[0.],
           [0.]])

    NaN is ignored by the statistics and kept in place:

    >>> BatchNormScaler(epsilon=0.0).fit_transform([[1.0], [np.nan], [3.0]])
    array([[-1.],
           [nan],
           [ 1.]])

    With ``momentum``, :meth:`partial_fit` keeps running statistics like a
    network's batch-normalization layer. The first batch sets them:

    >>> running = BatchNormScaler(momentum=0.1)
    >>> running.partial_fit([[0.0], [2.0]]).mean_
    array([1.])
    >>> running.partial_fit([[10.0], [12.0]]).mean_
    array([2.])
    """

    _parameter_constraints: dict = {
        "gamma": [Interval(Real, None, None, closed="neither"), "array-like"],
        "beta": [Interval(Real, None, None, closed="neither"), "array-like"],
        "epsilon": [Interval(Real, 0, None, closed="left")],
        "momentum": [Interval(Real, 0, 1, closed="right"), None],
        "ddof": [Options(Integral, {0, 1})],
        "with_mean": ["boolean"],
        "copy": ["boolean"],
    }

    def __init__(
        self,
        *,
        gamma=1.0,
        beta=0.0,
        epsilon=1e-5,
        momentum=None,
        ddof=0,
        with_mean=True,
        copy=True,
    ):
        self.gamma = gamma
        self.beta = beta
        self.epsilon = epsilon
        self.momentum = momentum
        self.ddof = ddof
        self.with_mean = with_mean
        self.copy = copy

    def _reset(self):
        """Forget the fitted state; parameters are kept."""
        for name in [
            "n_samples_seen_",
            "mean_",
            "var_",
            "multiplier_",
            "offset_",
            "_beta",
            "_var_ddof",
            "n_features_in_",
            "feature_names_in_",
        ]:
            self.__dict__.pop(name, None)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Compute the mean and variance of each feature from X.

        Any previous statistics are discarded; X is one batch.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array, dask DataFrame} of \
                shape (n_samples, n_features)
            The data. NaNs are ignored. Sparse input (CSR or CSC) needs
            ``with_mean=False``. A dask collection is summarised on its
            workers in one pass and never gathered; with ``momentum`` set,
            each of its row chunks is one batch, in order.

        y : None
            Ignored.

        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the samples, treated as frequencies. With
            a dask X, it may be a dask array or Series chunked like X's rows.

        Returns
        -------
        self : object
            Fitted scaler.
        """
        return self._fit(X, sample_weight, reset=True)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, sample_weight=None):
        """Update the statistics with one batch X.

        With ``momentum=None`` the batch is pooled exactly with all data seen
        so far. With ``momentum`` set, the first batch sets the running
        statistics and each later batch updates them. If it raises, the
        fitted state is left exactly as it was.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array, dask DataFrame} of \
                shape (n_samples, n_features)
            A batch of data, taken as in :meth:`fit`.

        y : None
            Ignored.

        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples, as in :meth:`fit`.

        Returns
        -------
        self : object
            Fitted scaler.
        """
        return self._fit(X, sample_weight, reset=not hasattr(self, "n_samples_seen_"))

    def _fit(self, X, sample_weight, reset):
        # One task per call, as StandardScaler's: it has no iterations. A
        # callback that raises at the task's end undoes the update too.
        callback_ctx = fit_callback_context(self)
        callback_ctx.call_on_fit_task_begin(
            estimator=self, X=X, metadata={"sample_weight": sample_weight}
        )
        with restored_on_error(self):
            if reset:
                self._reset()
            self._update(X, sample_weight, reset)
            callback_ctx.call_on_fit_task_end(
                estimator=self,
                X=X,
                metadata={"sample_weight": sample_weight},
                reconstruction_attributes={},
            )
        return self

    def _update(self, X, sample_weight, reset):
        if is_dask_collection(X):
            self._update_from_dask(X, sample_weight, reset)
            return
        xp, _, device = get_namespace_and_device(X)
        numpy_input = _is_numpy_namespace(xp)
        X = sparse_as_float(X)
        X = validate_data(
            self,
            X,
            accept_sparse=("csr", "csc"),
            dtype=float_dtype_for(X, xp, device),
            ensure_all_finite=finite_check(X, numpy_input),
            reset=reset,
        )
        gamma, beta, weighted = self._checked_params(X, sample_weight, reset)
        if sparse.issparse(X):
            self._check_sparse_allowed(beta)
        acc_dtype = np.float64 if numpy_input else _array_api.accumulation_dtype(X)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=acc_dtype, ensure_non_negative=True
            )
            with np.errstate(over="ignore"):
                check_weight_sum(xp.sum(sample_weight))
        batch = _backend(X).moments(X, sample_weight)
        self._apply_batch(batch, gamma, beta, weighted, reset, xp, acc_dtype, device)

    def _update_from_dask(self, X, sample_weight, reset):
        """Update from a dask collection, summarised on its workers in one pass."""
        # validate_data would compute X: check only what is known lazily.
        X, names = as_dask_array(X)
        _check_n_features(self, X, reset=reset)
        _check_feature_names(self, names, reset=reset)
        gamma, beta, weighted = self._checked_params(X, sample_weight, reset)
        xp, _, device = get_namespace_and_device(gamma)
        if self.momentum is None:
            batches = [dask_moments(X, sample_weight)]
        else:
            batches = dask_chunk_moments(X, sample_weight)
        for batch in batches:
            self._apply_batch(
                batch, gamma, beta, weighted, reset, xp, np.float64, device
            )
            reset = False

    def _checked_params(self, X, sample_weight, reset):
        """gamma and beta for X's features, and whether counts sum weights."""
        if not reset:
            self._check_same_ddof()
        gamma = check_affine_param(self.gamma, "gamma", X.shape[1])
        beta = check_affine_param(self.beta, "beta", X.shape[1])
        weighted = sample_weight is not None or (
            not reset and _is_weight_sum(self.n_samples_seen_)
        )
        return gamma, beta, weighted

    def _apply_batch(self, batch, gamma, beta, weighted, reset, xp, acc_dtype, device):
        """Fold the moments of one batch into the fitted state."""
        self._check_finite(batch, weighted, "")

        if self.momentum is None or reset:
            total = batch if reset else merge_moments(self._moments(), batch)
            if not reset:
                self._check_finite(total, weighted, " pooled with the data seen")
            self._check_ddof(total.count, "the data seen")
            mean, var = total.mean, moments_variance(total, self.ddof)
            count = total.count
        else:
            self._check_ddof(batch.count, "this batch")
            mean = exponential_average(self.mean_, batch.mean, self.momentum)
            var = exponential_average(
                self.var_, moments_variance(batch, self.ddof), self.momentum
            )
            count = self._counts() + batch.count

        gamma, beta = (
            xp.asarray(param, dtype=acc_dtype, device=device) for param in (gamma, beta)
        )
        self._install(mean, var, count, gamma, beta, _as_count(count, weighted))

    def _install(self, mean, var, count, gamma, beta, n_samples_seen):
        """Set the fitted state from per-feature statistics, gamma and beta.

        ``count`` is the per-feature count behind them (for the
        near-constant rule of ``epsilon=0``), ``n_samples_seen`` the value of
        ``n_samples_seen_``. ``from_torch`` sets a module's statistics
        through here too.
        """
        multiplier = self._multiplier(gamma, mean, var, count)
        self.mean_ = mean
        self.var_ = var
        self.n_samples_seen_ = n_samples_seen
        self.multiplier_ = multiplier
        self.offset_ = beta - mean * multiplier if self.with_mean else beta
        # beta as fitted: transform adds it after centering, which keeps the
        # precision that offset_ loses when |mean_| is much larger than the spread.
        self._beta = beta
        # The divisor of var_, to pool it exactly if ddof changes before the
        # next partial_fit.
        self._var_ddof = self.ddof

    def _inference_map(self):
        """The map that ``transform`` computes, from the fitted state, in float64.

        Returns ``(center, multiplier, beta)``: ``transform`` computes ``(x -
        center) * multiplier + beta``, or ``x * multiplier + beta`` where
        ``center`` is None (``with_mean=False``). ``multiplier`` is
        ``multiplier_`` and ``beta`` the ``beta`` of the last fit, so that
        ``set_params`` after the fit changes the exports no more than it
        changes ``transform``. The ONNX graph and the torch module both read
        this.
        """
        multiplier = np.asarray(to_numpy(self.multiplier_), dtype=np.float64)
        beta = np.asarray(to_numpy(self._beta), dtype=np.float64)
        beta = np.broadcast_to(beta, multiplier.shape)
        center = (
            np.asarray(to_numpy(self.mean_), dtype=np.float64)
            if self.with_mean
            else None
        )
        return center, multiplier, beta

    def _counts(self):
        """n_samples_seen_ as a float array of shape (n_features,)."""
        if isinstance(self.mean_, np.ndarray):
            return np.broadcast_to(
                np.asarray(self.n_samples_seen_, dtype=np.float64), self.mean_.shape
            )
        xp, _, device = get_namespace_and_device(self.mean_)
        count = xp.asarray(self.n_samples_seen_, dtype=self.mean_.dtype, device=device)
        return xp.broadcast_to(count, self.mean_.shape)

    def _moments(self):
        """The exact-mode state as Moments, to merge a new batch into."""
        xp = namespace_of(self.mean_)
        count = self._counts()
        m2 = self.var_ * (count - self._var_ddof)
        return Moments(count, self.mean_, xp.where(count > 0, m2, xp.nan))

    def _multiplier(self, gamma, mean, var, count):
        xp = namespace_of(var)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            divisor = xp.sqrt(var + self.epsilon)
            if self.epsilon == 0:
                constant = is_constant(var, mean, count)
                divisor = xp.where(constant, xp.ones_like(divisor), divisor)
            multiplier = gamma / divisor
        overflow = (to_numpy(count) > 0) & ~np.isfinite(to_numpy(multiplier))
        if overflow.any():
            features = np.flatnonzero(overflow)
            raise ValueError(
                f"gamma / sqrt(var_ + epsilon) overflows {to_numpy(var).dtype} "
                f"for features {features.tolist()}: gamma "
                f"{to_numpy(gamma)[features].tolist()} is too large for their "
                f"variance {to_numpy(var)[features].tolist()}. Use a smaller "
                "gamma or a larger epsilon."
            )
        return multiplier

    def _check_finite(self, moments, weighted, pooled):
        """Refuse moments that overflowed float64 (``pooled``: where, if
        merging them with the earlier ones did)."""
        count, mean, m2 = (to_numpy(a) for a in moments)
        if not np.isfinite(count).all():
            check_weight_sum(np.inf, pooled.strip() or "of X")
        overflow = (count > 0) & ~(np.isfinite(mean) & np.isfinite(m2))
        if overflow.any():
            culprit = "X or sample_weight" if weighted else "X"
            raise ValueError(
                "The mean or variance of features "
                f"{np.flatnonzero(overflow).tolist()} overflows float64{pooled}: "
                "the values, or the distances between the means of batches, "
                f"are too large (around 1e154 or more). Rescale {culprit}, for "
                "example by dividing by a power of ten, before fitting."
            )

    def _check_same_ddof(self):
        """Refuse a running variance of another divisor than ``ddof``'s."""
        if self.momentum is not None and self._var_ddof != self.ddof:
            raise ValueError(
                f"ddof changed from {self._var_ddof} to {self.ddof} since the "
                "last fit: running averages of variances with different "
                "divisors cannot be pooled. Set ddof back to "
                f"{self._var_ddof}, or call fit to start again."
            )

    def _check_ddof(self, count, what):
        if self.ddof == 0:
            return
        count = to_numpy(count)
        # A sum of weights carries rounding error: weights of 1/20 each sum to
        # 1 + 2.2e-16, which is one sample, not 1 + 2.2e-16 of them.
        too_few = (count > 0) & (count - self.ddof <= _WEIGHT_SUM_RTOL * count)
        if too_few.any():
            raise ValueError(
                f"ddof={self.ddof} needs more than {self.ddof} sample per "
                f"feature (a total sample_weight above {self.ddof}, beyond "
                f"rounding), but in {what} features "
                f"{np.flatnonzero(too_few).tolist()} have "
                f"{count[too_few].tolist()}. Pass more samples, or use ddof=0; "
                "sample weights count samples here, so weights normalized to "
                "sum to 1 are one sample."
            )

    def _check_sparse_allowed(self, beta):
        if self.with_mean:
            raise ValueError(
                "Cannot center sparse matrices: centering would make them dense. "
                "Pass with_mean=False, or convert X with X.toarray()."
            )
        if np.any(beta != 0):
            raise ValueError(
                "beta must be 0 for sparse input: a non-zero shift would make "
                f"the output dense. Got beta={self.beta!r}."
            )

    def _validate_for_transform(self, X, copy, method):
        """Validate X, and give the array to write the result into (None for
        a new one)."""
        check_is_fitted(self)
        _array_api.check_same_namespace(X, self, method)
        copy = self.copy if copy is None else copy
        xp, _, device = get_namespace_and_device(X)
        numpy_input = _is_numpy_namespace(xp)
        given = X
        X = sparse_as_float(X)
        X = validate_data(
            self,
            X,
            reset=False,
            accept_sparse=("csr", "csc"),
            # Sparse output is written into a new matrix, in one pass.
            copy=copy and not numpy_input,
            dtype=float_dtype_for(X, xp, device),
            force_writeable=True,
            # In place, an infinity found halfway would leave X half written.
            ensure_all_finite=finite_check(X, numpy_input and copy),
        )
        if sparse.issparse(X):
            self._check_sparse_allowed(to_numpy(self._beta))
            return X, (X if not copy or _sparse.is_new(X, given) else None)
        if not numpy_input:
            return X, None
        # A list, or an array converted to another dtype, is already a new
        # array: writing into it copies nothing the caller holds. Only a
        # numpy array is written in place: X may be a view of a DataFrame's
        # memory, which copy=False does not promise to change.
        new = isinstance(given, list | tuple) or (
            isinstance(given, np.ndarray) and given.dtype != X.dtype
        )
        in_place = not copy and isinstance(given, np.ndarray)
        return X, (X if new or in_place else np.empty_like(X))

    def _affine_params(self, inverse):
        """``factor``, ``offset`` and ``center`` of the map that transform
        computes, ``(X - center) * factor + offset``, or of its inverse."""
        xp = namespace_of(self.mean_)
        if inverse:
            offset = self.mean_ if self.with_mean else xp.zeros_like(self.mean_)
            center = self._beta if bool(xp.any(self._beta != 0)) else None
            return 1.0 / self.multiplier_, offset, center
        if not self.with_mean:
            return self.multiplier_, self._beta, None
        # X * multiplier_ + offset_ saves a pass, but loses digits to
        # cancellation where |mean_| is many standard deviations from zero.
        with np.errstate(divide="ignore", invalid="ignore"):
            spread = xp.sqrt(self.var_ + self.epsilon)
            far = xp.abs(self.mean_) > _CENTER_BEYOND * spread
        if bool(xp.any(far)):
            return self.multiplier_, self._beta, self.mean_
        return self.multiplier_, self.offset_, None

    def _apply(self, X, copy, method):
        """transform or inverse_transform of X, whatever its kind."""
        inverse = method == "inverse_transform"
        if is_dask_collection(X):
            check_is_fitted(self)
            if inverse:
                self._check_invertible()
            else:
                self._check_dask_output()
            X_array, names = as_dask_array(X)
            _check_n_features(self, X_array, reset=False)
            _check_feature_names(self, names, reset=False)
            # The parameters travel to the workers with the map: the lazy
            # result keeps this fit's statistics even if the scaler is
            # fitted again before it is computed.
            factor, offset, center = self._affine_params(inverse)
            return dask_apply_rows(
                X,
                functools.partial(
                    _dense.affine_map, factor=factor, offset=offset, center=center
                ),
            )
        X, out = self._validate_for_transform(X, copy, method)
        if inverse:
            self._check_invertible()
        return _backend(X).affine_map(X, out, *self._affine_params(inverse))

    def transform(self, X, copy=None):
        """Normalize X with the fitted statistics, then scale and shift it.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The data to transform. NaNs are kept in place.

        copy : bool, default=None
            Whether to copy X; None uses the ``copy`` parameter.

        Returns
        -------
        X_tr : {ndarray, sparse matrix, dask array, dask DataFrame} of \
                shape (n_samples, n_features)
            The transformed data, of the dtype of X (float32 or float64). A
            dask collection gives a lazy one of the same kind, chunks and
            columns.
        """
        return self._apply(X, copy, "transform")

    def _check_dask_output(self):
        """Refuse to gather a lazy dask result into a pandas or polars frame."""
        container = _get_output_config("transform", self)["dense"]
        if container != "default":
            raise ValueError(
                f"set_output(transform={container!r}) would gather the lazy "
                "dask result into memory: BatchNormScaler keeps a dask "
                "collection lazy. Use set_output(transform='default') to get a "
                "dask collection of the same kind as X, and convert the "
                "computed result."
            )

    def inverse_transform(self, X, copy=None):
        """Map transformed data back to the original space.

        The exact inverse of :meth:`transform`; it needs every ``gamma`` to be
        non-zero.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Transformed data. NaNs are kept in place.

        copy : bool, default=None
            Whether to copy X; None uses the ``copy`` parameter.

        Returns
        -------
        X_original : {ndarray, sparse matrix, dask array, dask DataFrame} of \
                shape (n_samples, n_features)
            The data in the original space, of the dtype of X. A dask
            collection gives a lazy one of the same kind, chunks and columns.
        """
        return self._apply(X, copy, "inverse_transform")

    def _check_invertible(self):
        """Refuse to invert features whose multiplier has no float64 reciprocal."""
        multiplier = to_numpy(self.multiplier_)
        with np.errstate(divide="ignore", over="ignore"):
            singular = (multiplier == 0) | np.isinf(1.0 / multiplier)
        if not singular.any():
            return
        gamma = np.broadcast_to(np.asarray(self.gamma, np.float64), multiplier.shape)
        zero = np.flatnonzero(singular & (gamma == 0))
        if zero.size:
            raise ValueError(
                f"gamma is 0 for features {zero.tolist()}: the transform "
                "maps them to a constant and cannot be inverted. Use a non-zero "
                "gamma."
            )
        features = np.flatnonzero(singular)
        raise ValueError(
            "gamma / sqrt(var_ + epsilon) is "
            f"{multiplier[features].tolist()} for features {features.tolist()}: "
            "too small for its reciprocal to be represented in float64, so the "
            "transform cannot be inverted. Use a larger gamma."
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.sparse = not self.with_mean
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.array_api_support = True
        return tags
