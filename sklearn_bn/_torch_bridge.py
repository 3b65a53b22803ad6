"""Fitted estimators to PyTorch modules and back.

torch is imported inside the functions only: ``import sklearn_bn`` never
loads it.
"""

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._mlp import BatchNormMLPClassifier, BatchNormMLPRegressor
from ._scaler import BatchNormScaler

_TORCH_ACTIVATIONS = {
    "identity": "Identity",
    "logistic": "Sigmoid",
    "tanh": "Tanh",
    "relu": "ReLU",
}


def to_torch(estimator, *, dtype=None):
    """Convert a fitted estimator into an equivalent PyTorch module in eval mode.

    A :class:`BatchNormScaler` becomes a :class:`torch.nn.BatchNorm1d` whose
    output in eval mode equals :meth:`BatchNormScaler.transform`. A
    :class:`BatchNormMLPClassifier` or :class:`BatchNormMLPRegressor` becomes a
    :class:`torch.nn.Sequential` of ``Linear``, ``BatchNorm1d`` and activation
    layers that outputs the last layer's pre-activation (the logits): its
    softmax equals ``predict_proba`` for a multiclass classifier, its sigmoid
    the probability of the positive class (of each label, for multilabel
    targets), and for a regressor it equals ``predict``. The module can then
    be fine-tuned with torch's losses and optimizers.

    Parameters
    ----------
    estimator : BatchNormScaler, BatchNormMLPClassifier or BatchNormMLPRegressor
        A fitted estimator.

    dtype : torch.dtype, numpy dtype or str, default=None
        The dtype of the module's parameters and buffers: float32 or float64.
        None takes the estimator's own: float64 for the scaler, whose
        statistics are float64, and the dtype of ``coefs_`` for a network.

    Returns
    -------
    module : torch.nn.Module
        A :class:`torch.nn.BatchNorm1d` for a scaler, a
        :class:`torch.nn.Sequential` for a network, in eval mode (it
        normalizes with the running statistics).

    See Also
    --------
    from_torch : The other way: a ``BatchNorm1d`` to a fitted scaler.

    Notes
    -----
    For the scaler, ``running_mean`` is ``mean_`` (zeros when
    ``with_mean=False``, which gives ``x * multiplier_ + beta``),
    ``running_var`` is ``var_``, ``weight`` and ``bias`` are ``gamma`` and
    ``beta``, and ``eps`` is ``epsilon``. Where ``epsilon=0`` made the scaler
    divide a constant feature by 1 instead of by its zero standard deviation,
    ``running_var`` is 1, so that the module does the same. ``momentum`` is
    the scaler's: PyTorch's convention, the weight of the new batch; None
    becomes torch's cumulative average of batch statistics, for which
    ``num_batches_tracked`` is 1, the fitted statistics counting as one
    batch. Training the module updates ``running_var`` with the unbiased
    batch variance, as ``BatchNormScaler(ddof=1)`` does.

    For a network, hidden layer ``i`` is ``Linear`` with weight
    ``coefs_[i].T`` (and bias ``intercepts_[i]`` with ``batch_norm=False``),
    then ``BatchNorm1d`` with ``weight=bn_gammas_[i]``, ``bias=bn_betas_[i]``,
    the running statistics, ``eps=bn_epsilon`` and ``momentum=bn_momentum``,
    then the activation; the output layer is ``Linear`` with
    ``intercepts_[-1]``. The network keeps the running variance as PyTorch
    does (unbiased), so training on in torch continues the same statistics.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from sklearn_bn import BatchNormScaler, to_torch
    >>> X = np.array([[1.0, 100.0], [2.0, 300.0], [3.0, 500.0]])
    >>> scaler = BatchNormScaler(gamma=2.0, beta=1.0).fit(X)
    >>> module = to_torch(scaler)
    >>> module
    BatchNorm1d(2, eps=1e-05, momentum=None, affine=True, ...)
    >>> with torch.no_grad():
    ...     out = module(torch.from_numpy(X)).numpy()
    >>> bool(np.abs(out - scaler.transform(X)).max() < 1e-12)
    True

    A network's module outputs the logits; their softmax is ``predict_proba``:

    >>> from sklearn.datasets import load_iris
    >>> from sklearn_bn import BatchNormMLPClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = BatchNormMLPClassifier((16,), learning_rate_init=0.01, max_iter=300,
    ...                              random_state=0)
    >>> clf = clf.fit(X, y)
    >>> net = to_torch(clf)
    >>> net
    Sequential(
      (0): Linear(in_features=4, out_features=16, bias=False)
      (1): BatchNorm1d(16, eps=1e-05, momentum=0.1, affine=True, ...)
      (2): ReLU()
      (3): Linear(in_features=16, out_features=3, bias=True)
    )
    >>> with torch.no_grad():
    ...     proba = torch.softmax(net(torch.from_numpy(X)), dim=1).numpy()
    >>> bool(np.abs(proba - clf.predict_proba(X)).max() < 1e-12)
    True
    """
    import torch

    if isinstance(estimator, BatchNormScaler):
        check_is_fitted(estimator)
        dtype = _torch_dtype(torch, dtype, torch.float64)
        return _scaler_to_torch(torch, estimator, dtype)
    if isinstance(estimator, BatchNormMLPClassifier | BatchNormMLPRegressor):
        check_is_fitted(estimator)
        dtype = _torch_dtype(torch, dtype, estimator.coefs_[0].dtype)
        return _network_to_torch(torch, estimator, dtype)
    raise TypeError(
        "to_torch converts a BatchNormScaler, BatchNormMLPClassifier or "
        f"BatchNormMLPRegressor; got an instance of {type(estimator).__name__}."
    )


def from_torch(module, *, n_samples_seen=None):
    """Convert a :class:`torch.nn.BatchNorm1d` into a fitted BatchNormScaler.

    The scaler's :meth:`~BatchNormScaler.transform` equals the module in eval
    mode, which normalizes with the running statistics. The conventions carry
    over, so that :meth:`~BatchNormScaler.partial_fit` goes on as training the
    module would update its running statistics: ``momentum`` is the module's
    (both are the weight of the new batch; torch's None, a cumulative
    average, becomes exact statistics), ``ddof=1`` because torch keeps the
    unbiased variance in ``running_var``, and ``epsilon`` is ``eps``.

    Parameters
    ----------
    module : torch.nn.BatchNorm1d
        A module that tracks running statistics (``track_running_stats=True``).
        It is left unchanged.

    n_samples_seen : int, float or None, default=None
        The number of samples behind the running statistics, which torch does
        not record. None takes ``num_batches_tracked``, the number of
        batches. It becomes ``n_samples_seen_``, which weighs the module's
        statistics against a new batch in ``partial_fit`` when ``momentum``
        is None; with a float ``momentum`` it is only a count.

    Returns
    -------
    scaler : BatchNormScaler
        A fitted scaler with ``gamma`` the module's ``weight`` (1 without
        ``affine``), ``beta`` its ``bias`` (0), ``mean_`` and ``var_`` its
        running statistics in float64, and ``n_samples_seen_`` as above.

    See Also
    --------
    to_torch : The other way: a fitted scaler or network to a module.

    Examples
    --------
    A layer that saw two training batches, then the scaler that does what it
    does in eval mode:

    >>> import numpy as np
    >>> import torch
    >>> from sklearn_bn import from_torch
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> layer = torch.nn.BatchNorm1d(3, dtype=torch.float64)
    >>> for _ in range(2):
    ...     _ = layer(torch.randn(32, 3, dtype=torch.float64) * 5 + 2)
    >>> _ = layer.eval()
    >>> scaler = from_torch(layer)
    >>> scaler.momentum, scaler.ddof, scaler.n_samples_seen_
    (0.1, 1, 2)
    >>> X = np.random.default_rng(0).normal(size=(4, 3))
    >>> with torch.no_grad():
    ...     expected = layer(torch.from_numpy(X)).numpy()
    >>> bool(np.abs(scaler.transform(X) - expected).max() < 1e-12)
    True
    """
    import torch

    if not isinstance(module, torch.nn.BatchNorm1d):
        raise TypeError(
            "from_torch converts a torch.nn.BatchNorm1d; got an instance of "
            f"{type(module).__name__}."
        )
    if module.running_mean is None or module.running_var is None:
        raise ValueError(
            "from_torch needs running statistics, but the module was created "
            "with track_running_stats=False: in eval mode it normalizes each "
            "batch with its own statistics, which no fitted scaler can do."
        )
    momentum = module.momentum
    if momentum is not None and not 0 < momentum <= 1:
        raise ValueError(
            "BatchNormScaler's momentum must be in (0, 1] or None; the module has "
            f"momentum={momentum!r}."
        )
    mean, var = _numpy64(module.running_mean), _numpy64(module.running_var)
    n_features = mean.shape[0]
    gamma = _numpy64(module.weight) if module.affine else np.ones(n_features)
    beta = _numpy64(module.bias) if module.affine else np.zeros(n_features)
    if n_samples_seen is None:
        n_samples_seen = int(module.num_batches_tracked)

    scaler = BatchNormScaler(
        gamma=gamma,
        beta=beta,
        epsilon=float(module.eps),
        momentum=momentum,
        ddof=1,
    )
    # Two rows give the scaler its whole fitted state through the public API;
    # the statistics are then set to the module's, exactly.
    scaler.fit(np.stack([np.zeros(n_features), np.ones(n_features)]))
    scaler.mean_, scaler.var_ = mean, var
    scaler.multiplier_ = gamma / np.sqrt(var + scaler.epsilon)
    scaler.offset_ = beta - mean * scaler.multiplier_
    scaler.n_samples_seen_ = n_samples_seen
    return scaler


def _torch_dtype(torch, dtype, default):
    """A floating torch dtype from a torch dtype, a numpy dtype or a name."""
    dtype = default if dtype is None else dtype
    if not isinstance(dtype, torch.dtype):
        try:
            dtype = {np.float32: torch.float32, np.float64: torch.float64}.get(
                np.dtype(dtype).type
            )
        except TypeError:
            dtype = None
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(
            "dtype must be float32 or float64 (a torch dtype, a numpy dtype or "
            f"their name), or None; got {default if dtype is None else dtype!r}."
        )
    return dtype


def _numpy64(tensor):
    return tensor.detach().cpu().numpy().astype(np.float64)


def _as_float64(array):
    """A numpy float64 copy of a fitted attribute, from any array namespace."""
    if not isinstance(array, np.ndarray) and hasattr(array, "cpu"):
        array = array.cpu()  # a torch tensor fitted with array API dispatch
    return np.asarray(array, dtype=np.float64)


def _set(torch, parameter, values):
    """Copy numpy values into a parameter or buffer, keeping its dtype."""
    with torch.no_grad():
        parameter.copy_(torch.tensor(np.array(values, dtype=np.float64)))


def _scaler_to_torch(torch, scaler, dtype):
    mean, var, multiplier = (
        _as_float64(attr) for attr in (scaler.mean_, scaler.var_, scaler.multiplier_)
    )
    n_features = mean.shape[0]
    gamma, beta = (
        np.broadcast_to(np.asarray(param, dtype=np.float64), (n_features,))
        for param in (scaler.gamma, scaler.beta)
    )
    # With epsilon=0 the scaler divides a constant feature by 1 (then
    # multiplier_ is gamma), where the module would divide by zero.
    divided_by_one = (scaler.epsilon == 0) & (multiplier == gamma)
    module = torch.nn.BatchNorm1d(
        n_features,
        eps=float(scaler.epsilon),
        momentum=scaler.momentum,
        dtype=dtype,
    )
    _set(torch, module.weight, gamma)
    _set(torch, module.bias, beta)
    _set(torch, module.running_mean, mean if scaler.with_mean else 0.0)
    _set(torch, module.running_var, np.where(divided_by_one, 1.0, var))
    module.num_batches_tracked.fill_(1)
    return module.eval()


def _network_to_torch(torch, mlp, dtype):
    nn = torch.nn
    batch_norm = mlp.bn_gammas_ is not None
    layers = []
    for i, coef in enumerate(mlp.coefs_):
        linear = nn.Linear(
            *coef.shape,
            bias=not batch_norm or i == len(mlp.coefs_) - 1,
            dtype=dtype,
        )
        _set(torch, linear.weight, np.asarray(coef).T)
        layers.append(linear)
        if i == len(mlp.coefs_) - 1:
            _set(torch, linear.bias, mlp.intercepts_[-1])
            break
        if batch_norm:
            norm = nn.BatchNorm1d(
                coef.shape[1], eps=mlp.bn_epsilon, momentum=mlp.bn_momentum, dtype=dtype
            )
            _set(torch, norm.weight, mlp.bn_gammas_[i])
            _set(torch, norm.bias, mlp.bn_betas_[i])
            _set(torch, norm.running_mean, mlp.bn_running_means_[i])
            _set(torch, norm.running_var, mlp.bn_running_vars_[i])
            layers.append(norm)
        else:
            _set(torch, linear.bias, mlp.intercepts_[i])
        layers.append(getattr(nn, _TORCH_ACTIVATIONS[mlp.activation])())
    return nn.Sequential(*layers).eval()
