"""Fitted estimators to PyTorch modules and back.

torch is imported inside the functions only: ``import sklearn_bn`` never
loads it.
"""

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..neural_network import BatchNormMLPClassifier, BatchNormMLPRegressor
from ..neural_network._inference import inference_layers
from ..preprocessing._scaler import BatchNormScaler
from ._common import as_float64, float32_overflows
from ._torch_modules import torch_class

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
    :class:`torch.nn.Sequential` of ``Linear``, normalization and activation
    layers that outputs the last layer's pre-activation (the logits): its
    softmax equals ``predict_proba`` for a multiclass classifier, its sigmoid
    the probability of the positive class (of each label, for multilabel
    targets; the second column of ``predict_proba`` for a classifier fitted on
    one class). A regressor's module outputs ``predict``: the logits, then
    ``exp`` with ``loss='poisson'``. The module can then be fine-tuned with
    torch's losses and optimizers: in train mode each normalization trains as
    it did in the network.

    The module computes what the fitted estimator computes, from its fitted
    state: parameters changed with ``set_params`` since the last fit change
    it no more than they change ``transform`` or ``predict``.

    Parameters
    ----------
    estimator : BatchNormScaler, BatchNormMLPClassifier or BatchNormMLPRegressor
        A fitted estimator.

    dtype : torch.dtype, numpy dtype or str, default=None
        The dtype of the module's parameters and buffers: float32 or float64.
        None takes the estimator's own: float64 for the scaler, whose
        statistics are float64, and the dtype of ``coefs_`` for a network.
        float32 is refused where it cannot hold a constant of the module (a
        variance below its smallest normal number, a value beyond its
        largest), which would give infinities and NaN.

    Returns
    -------
    module : torch.nn.Module
        A :class:`torch.nn.BatchNorm1d` for a scaler, a
        :class:`torch.nn.Sequential` for a network, in eval mode (it
        normalizes with the running statistics).

    Raises
    ------
    TypeError
        For an estimator of another class.
    ValueError
        For a float32 module that cannot hold a constant, or a network whose
        normalization has no torch module here.

    See Also
    --------
    from_torch : The other way: a ``BatchNorm1d`` to a fitted scaler.

    Notes
    -----
    For the scaler, ``running_mean`` is ``mean_`` (zeros when
    ``with_mean=False``, which gives ``x * multiplier_ + beta``),
    ``running_var`` is ``var_``, ``weight`` and ``bias`` are the ``gamma`` and
    ``beta`` of the fit, and ``eps`` is ``epsilon``: the module multiplies by
    ``multiplier_`` and adds ``beta`` as ``transform`` does. Should
    ``set_params`` have changed ``gamma``, ``beta`` or ``epsilon`` since the
    fit, ``weight`` is ``multiplier_ * sqrt(running_var + eps)`` and ``bias``
    the fitted ``beta``, the values that give the fitted map. Where
    ``epsilon=0`` made the scaler divide a constant feature by 1 instead of
    by its zero standard deviation, ``running_var`` is 1, so that the module
    does the same. ``momentum`` is
    the scaler's: PyTorch's convention, the weight of the new batch; None
    becomes torch's cumulative average of batch statistics, for which
    ``num_batches_tracked`` is 1, the fitted statistics counting as one
    batch. Training the module updates ``running_var`` with the unbiased
    batch variance, as ``BatchNormScaler(ddof=1)`` does.

    For a network, the module is the network's inference layers (the view
    that ``predict`` and the ONNX graph read folded), unfolded. Hidden layer
    ``i`` is ``Linear`` with weight ``coefs_[i].T`` (and bias
    ``intercepts_[i]`` where the layer keeps its bias: without normalization,
    and with a normalization that does not replace it), then its
    normalization, then the activation; with
    ``BatchNorm(position="after_activation")``, ``Linear``, the activation,
    then the normalization. The normalization of the fit
    (``batch_norm``, with its hyperparameters) becomes:

    - :class:`BatchNorm`: ``torch.nn.BatchNorm1d`` with ``weight`` and
      ``bias`` ``bn_gammas_[i]`` and ``bn_betas_[i]`` (none with
      ``affine=False``), ``running_mean``, ``running_var`` and
      ``num_batches_tracked`` from ``bn_running_means_[i]``,
      ``bn_running_vars_[i]`` and ``bn_num_batches_tracked_[i]``, and the
      ``epsilon`` and ``momentum`` of the fit (None, the cumulative average,
      stays None). The network keeps the running variance as torch does
      (unbiased), so training on continues the same statistics; with
      ``statistics="population"`` they are the population's, which training
      then updates as running statistics.
    - :class:`GhostBatchNorm`: a ``GhostBatchNorm1d`` module around such a
      ``BatchNorm1d`` (its ``batch_norm``). In train mode it normalizes each
      virtual batch of ``virtual_batch_size`` rows with ``batch_norm`` (a
      last virtual batch of fewer than ``max(2, virtual_batch_size / 2)``
      rows joins the one before, as in the network), which updates
      the running statistics once per virtual batch; in eval mode it is
      ``batch_norm``.
    - :class:`BatchRenorm`: a ``BatchRenorm1d`` module around a
      ``BatchNorm1d`` that holds ``weight``, ``bias``, the running mean and
      the variance that inference uses, ``max(bn_running_stds_[i] ** 2 -
      epsilon, 0)``; in eval mode it is that ``BatchNorm1d``. Its buffers
      ``running_std``, ``renorm_mean`` and ``renorm_std`` hold Keras' moving
      standard deviation and the renormalization's averages, and in train
      mode it computes ``r`` and ``d``, clipped and detached from the graph,
      and updates them all as the network does.
    - :class:`LayerNorm`: ``torch.nn.LayerNorm(n_units, eps=epsilon,
      elementwise_affine=affine)``, with ``ln_gammas_[i]`` and
      ``ln_betas_[i]``.
    - :class:`RMSNorm`: ``torch.nn.RMSNorm(n_units, eps=epsilon,
      elementwise_affine=affine)``, with ``rms_gammas_[i]``.

    ``GhostBatchNorm1d`` and ``BatchRenorm1d`` are module classes of
    ``sklearn_bn.export._torch_modules`` that pickle finds again. With
    ``dropout > 0``, each hidden activation (and a normalization after it)
    is followed by ``torch.nn.Dropout(dropout)``, which drops nothing in
    eval mode and trains on as the network did. The output layer is
    ``Linear`` with ``intercepts_[-1]``, followed by ``exp`` for a regressor
    fitted with ``loss='poisson'`` (its ``out_activation_``).

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

    A layer normalization keeps the layer's bias and becomes
    ``torch.nn.LayerNorm``:

    >>> from sklearn_bn import GhostBatchNorm, LayerNorm
    >>> clf = BatchNormMLPClassifier((16,), batch_norm=LayerNorm(),
    ...                              learning_rate_init=0.01, max_iter=300,
    ...                              random_state=0).fit(X, y)
    >>> to_torch(clf)[:2]
    Sequential(
      (0): Linear(in_features=4, out_features=16, bias=True)
      (1): LayerNorm((16,), eps=1e-05, elementwise_affine=True, ...)
    )

    A ghost batch norm is a module that trains on virtual batches: here, in
    train mode, each batch of 32 rows is normalized as two of 16, and the
    running statistics take two steps:

    >>> clf = BatchNormMLPClassifier(
    ...     (16,), batch_norm=GhostBatchNorm(virtual_batch_size=16),
    ...     learning_rate_init=0.01, max_iter=300, random_state=0,
    ... ).fit(X, y)
    >>> ghost = to_torch(clf)[1]
    >>> ghost
    GhostBatchNorm1d(
      virtual_batch_size=16
      (batch_norm): BatchNorm1d(16, eps=1e-05, momentum=0.1, affine=True, ...)
    )
    >>> before = int(ghost.batch_norm.num_batches_tracked)
    >>> _ = ghost.train()(torch.randn(32, 16, dtype=torch.float64))
    >>> int(ghost.batch_norm.num_batches_tracked) - before
    2

    A float32 module cannot hold the statistics of data whose spread is below
    float32's smallest normal number; float64 can:

    >>> tiny = np.array([[1e-40], [2e-40], [3e-40]])
    >>> to_torch(BatchNormScaler(epsilon=0.0).fit(tiny), dtype=torch.float32)
    Traceback (most recent call last):
    ...
    ValueError: to_torch cannot build a float32 module ... Pass dtype=torch.float64...
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
    mode, which normalizes with the running statistics. ``momentum`` is the
    module's, ``ddof=1`` because torch keeps the unbiased variance in
    ``running_var``, and ``epsilon`` is ``eps``. The module's parameters and
    buffers may be of any floating dtype (float16 and bfloat16 included);
    the scaler holds them in float64.

    What :meth:`~BatchNormScaler.partial_fit` then does with a batch of ``n``
    rows depends on ``momentum``:

    - a float ``momentum`` weighs the new batch as torch does:
      ``mean_ = (1 - momentum) * mean_ + momentum * batch_mean`` and the same
      for ``var_`` with the batch's unbiased variance. This is exactly the
      update of ``running_mean`` and ``running_var`` when the module trains
      on that batch, so the two go on alike batch after batch.
    - ``momentum=None`` does not go on as torch would. torch's cumulative
      average gives each batch the weight ``1 / num_batches_tracked``,
      whatever its size, and averages the batch variances. The scaler takes
      ``mean_`` and ``var_`` as the exact mean and unbiased variance of
      ``n_samples_seen_`` samples and pools the batch with them: ``mean_``
      becomes ``(n_samples_seen_ * mean_ + n * batch_mean) /
      (n_samples_seen_ + n)``, and ``var_`` the unbiased variance of all those
      samples, the spread between the two means included. With the default
      ``n_samples_seen``, the number of batches, a batch of 32 rows outweighs
      the module's statistics; pass the number of samples the module saw to
      give them their weight.

    Parameters
    ----------
    module : torch.nn.BatchNorm1d
        A module that tracks running statistics (``track_running_stats=True``).
        It is left unchanged.

    n_samples_seen : int, float or None, default=None
        The number of samples behind the running statistics, which torch does
        not record. None takes ``num_batches_tracked``, the number of
        batches, not of samples. It becomes ``n_samples_seen_``, which weighs
        the module's statistics against a new batch in ``partial_fit`` when
        ``momentum`` is None (see above); with a float ``momentum`` it is only
        a count.

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

    With ``momentum=None``, ``partial_fit`` pools a batch with the module's
    statistics as with those of ``n_samples_seen_`` samples; here 64, the
    rows the module saw:

    >>> layer = torch.nn.BatchNorm1d(3, momentum=None, dtype=torch.float64)
    >>> for _ in range(2):
    ...     _ = layer(torch.randn(32, 3, dtype=torch.float64) * 5 + 2)
    >>> scaler = from_torch(layer.eval(), n_samples_seen=64)
    >>> batch = np.random.default_rng(1).normal(size=(32, 3))
    >>> before = scaler.mean_.copy()
    >>> scaler = scaler.partial_fit(batch)
    >>> pooled = (64 * before + 32 * batch.mean(axis=0)) / 96
    >>> bool(np.abs(scaler.mean_ - pooled).max() < 1e-12), scaler.n_samples_seen_
    (True, 96)
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
    # the statistics are then set to the module's, exactly, by the scaler's
    # own code.
    scaler.fit(np.stack([np.zeros(n_features), np.ones(n_features)]))
    count = np.full(n_features, float(n_samples_seen))
    scaler._install(mean, var, count, gamma, beta, n_samples_seen)
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
    # numpy has no bfloat16: torch widens every floating dtype, exactly. The
    # copy keeps the scaler's statistics apart from the module's buffers.
    return np.array(tensor.detach().cpu().double().numpy(), dtype=np.float64)


def _set(torch, parameter, values):
    """Copy numpy values into a parameter or buffer, keeping its dtype."""
    with torch.no_grad():
        parameter.copy_(torch.tensor(np.array(values, dtype=np.float64)))


def _check_float32_holds(dtype, torch, estimator, constants):
    """Refuse a float32 module that would round a constant to zero or infinity.

    ``constants`` maps a description to float64 values; one that ends with
    ``+ eps`` is a variance under a square root, which must also stay above
    float32's smallest normal number.
    """
    if dtype != torch.float32:
        return
    tiny = np.finfo(np.float32).tiny
    for what, values in constants.items():
        values = np.asarray(values, dtype=np.float64)
        lost = float32_overflows(values)
        if what.endswith("+ eps"):
            lost |= (values > 0) & (values < tiny)
        if lost.any():
            index = np.flatnonzero(lost.ravel())[0]
            raise ValueError(
                f"to_torch cannot build a float32 module for this "
                f"{type(estimator).__name__}: float32 cannot hold its {what}, "
                f"{values.ravel()[index]:.3g} (entry {index}), which it would "
                "round to zero or infinity, giving NaN or infinities. Pass "
                "dtype=torch.float64, which holds it."
            )


def _current(param, n_features):
    """A scaler parameter as a float64 array of n_features, NaN if it has not."""
    try:
        return np.broadcast_to(np.asarray(param, dtype=np.float64), (n_features,))
    except (TypeError, ValueError):
        return np.full(n_features, np.nan)


def _scaler_to_torch(torch, scaler, dtype):
    center, multiplier, beta = scaler._inference_map()
    var = as_float64(scaler.var_)
    eps = float(scaler.epsilon)
    gamma = _current(scaler.gamma, multiplier.shape[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        # With epsilon=0 the scaler divides a constant feature by 1 (then
        # multiplier_ is gamma), where the module would divide by zero.
        by_one = (np.sqrt(var + eps) == 0) | ((eps == 0) & (multiplier == gamma))
        running_var = np.where(by_one, 1.0, var)
        divisor = np.sqrt(running_var + eps)
        # gamma itself, unless set_params changed gamma or epsilon since the
        # fit: then the gamma of the fit, which gives multiplier_ again.
        weight = np.where(gamma / divisor == multiplier, gamma, multiplier * divisor)
    constants = {"gamma": weight, "beta": beta, "multiplier_": multiplier}
    if center is not None:
        constants["mean_"] = center
    constants["var_ + eps"] = running_var + eps
    _check_float32_holds(dtype, torch, scaler, constants)
    module = torch.nn.BatchNorm1d(
        multiplier.shape[0], eps=eps, momentum=scaler.momentum, dtype=dtype
    )
    _set(torch, module.weight, weight)
    _set(torch, module.bias, beta)
    _set(torch, module.running_mean, 0.0 if center is None else center)
    _set(torch, module.running_var, running_var)
    module.num_batches_tracked.fill_(1)
    return module.eval()


# The networks' normalizations as torch modules ----------------------------------
#
# Each kind is built unfolded, as a module that trains on as the kind does, so
# that the network can be fine-tuned; each entry of _TORCH_NORMALIZATIONS also
# names the constants the module holds, for the float32 check.


def _set_batch_norm1d(torch, module, gamma, beta, running_mean, running_var):
    """Copy a batch norm's parameters and inference statistics into a
    ``torch.nn.BatchNorm1d``; ``gamma`` None for an ``affine=False`` one."""
    if gamma is not None:
        _set(torch, module.weight, gamma)
        _set(torch, module.bias, beta)
    _set(torch, module.running_mean, running_mean)
    _set(torch, module.running_var, running_var)


def _batch_norm1d(torch, layer, dtype):
    """A batch-norm layer of the inference view as ``torch.nn.BatchNorm1d``."""
    kind, trained, statistics = layer.normalizer, layer.trained, layer.statistics
    module = torch.nn.BatchNorm1d(
        layer.coef.shape[1],
        eps=kind.epsilon,
        momentum=kind.momentum,
        affine=kind.affine,
        dtype=dtype,
    )
    _set_batch_norm1d(
        torch,
        module,
        trained.get("gamma"),
        trained.get("beta"),
        statistics["running_mean"],
        statistics["running_var"],
    )
    module.num_batches_tracked.fill_(int(statistics["num_batches_tracked"]))
    return module


def _ghost_batch_norm1d(torch, layer, dtype):
    """A ghost batch norm as :class:`GhostBatchNorm1d` around the BatchNorm1d."""
    module = torch_class("GhostBatchNorm1d")(
        layer.coef.shape[1],
        virtual_batch_size=layer.normalizer.virtual_batch_size,
        dtype=dtype,
    )
    module.batch_norm = _batch_norm1d(torch, layer, dtype)
    return module


def _renorm_running_var(layer):
    """The variance inference divides by: ``max(running_std ** 2 - eps, 0)``."""
    running_std = as_float64(layer.statistics["running_std"])
    return np.maximum(running_std * running_std - layer.epsilon, 0.0)


def _batch_renorm1d(torch, layer, dtype):
    """A batch renorm as :class:`BatchRenorm1d`, its inference statistics in
    the BatchNorm1d it holds."""
    kind, trained, statistics = layer.normalizer, layer.trained, layer.statistics
    module = torch_class("BatchRenorm1d")(
        layer.coef.shape[1],
        eps=kind.epsilon,
        momentum=kind.momentum,
        renorm_momentum=kind.renorm_momentum,
        r_max=kind.r_max,
        d_max=kind.d_max,
        dtype=dtype,
    )
    _set_batch_norm1d(
        torch,
        module.batch_norm,
        trained["gamma"],
        trained["beta"],
        statistics["running_mean"],
        _renorm_running_var(layer),
    )
    _set(torch, module.running_std, statistics["running_std"])
    _set(torch, module.renorm_mean, statistics["renorm_mean"])
    _set(torch, module.renorm_std, statistics["renorm_std"])
    return module


def _row_norm(module_name):
    """A builder of ``torch.nn.LayerNorm`` or ``torch.nn.RMSNorm``, which take
    the same arguments; the weight is gamma and the bias (layer norm's) beta."""

    def build(torch, layer, dtype):
        kind = layer.normalizer
        module = getattr(torch.nn, module_name)(
            layer.coef.shape[1],
            eps=kind.epsilon,
            elementwise_affine=kind.affine,
            dtype=dtype,
        )
        for role, parameter in (("gamma", "weight"), ("beta", "bias")):
            if role in layer.trained:
                _set(torch, getattr(module, parameter), layer.trained[role])
        return module

    return build


def _batch_norm_constants(layer):
    """What a BatchNorm1d holds, by name, for the float32 check."""
    constants = dict(layer.trained)
    constants["running_mean"] = layer.statistics["running_mean"]
    running_var = as_float64(layer.statistics["running_var"])
    constants["running_var + eps"] = running_var + layer.epsilon
    return constants


def _batch_renorm_constants(layer):
    """What a BatchRenorm1d holds, by name, for the float32 check."""
    constants = {**layer.trained, **layer.statistics}
    constants["running_var + eps"] = _renorm_running_var(layer) + layer.epsilon
    return constants


def _trained_constants(layer):
    """What a layer or RMS norm holds: its gamma and beta, if affine."""
    return dict(layer.trained)


# Each kind of normalization of the inference view (by name): the module that
# to_torch builds for it, and the constants that module holds.
_TORCH_NORMALIZATIONS = {
    "batch_norm": (_batch_norm1d, _batch_norm_constants),
    "ghost_batch_norm": (_ghost_batch_norm1d, _batch_norm_constants),
    "batch_renorm": (_batch_renorm1d, _batch_renorm_constants),
    "layer_norm": (_row_norm("LayerNorm"), _trained_constants),
    "rms_norm": (_row_norm("RMSNorm"), _trained_constants),
}


def _network_constants(layers):
    """The values a network's module holds, by name, for the float32 check."""
    constants = {}
    for i, layer in enumerate(layers):
        constants[f"coefs_[{i}]"] = as_float64(layer.coef)
        if layer.intercept is not None:
            constants[f"bias of layer {i}"] = as_float64(layer.intercept)
        if layer.normalization != "none":
            _, normalization_constants = _TORCH_NORMALIZATIONS[layer.normalization]
            for what, values in normalization_constants(layer).items():
                constants[f"normalization {what} of layer {i}"] = as_float64(values)
    return constants


def _network_to_torch(torch, mlp, dtype):
    """The inference view's layers, unfolded, as a ``torch.nn.Sequential``."""
    nn = torch.nn
    layers = inference_layers(mlp)
    for layer in layers:
        if layer.normalization not in ("none", *_TORCH_NORMALIZATIONS):
            raise ValueError(
                f"to_torch has no torch module for the normalization "
                f"{layer.normalization!r}; it would leave it out and compute "
                "something else than predict."
            )
    _check_float32_holds(dtype, torch, mlp, _network_constants(layers))
    modules = []
    for i, layer in enumerate(layers):
        has_bias = layer.intercept is not None
        linear = nn.Linear(*layer.coef.shape, bias=has_bias, dtype=dtype)
        _set(torch, linear.weight, np.asarray(layer.coef).T)
        if has_bias:
            _set(torch, linear.bias, layer.intercept)
        modules.append(linear)
        normalization = []
        if layer.normalization != "none":
            build, _ = _TORCH_NORMALIZATIONS[layer.normalization]
            normalization.append(build(torch, layer, dtype))
        if i == len(layers) - 1:
            if layer.activation in _TORCH_OUTPUTS:
                modules.append(torch_class(_TORCH_OUTPUTS[layer.activation])())
            break
        activation = getattr(nn, _TORCH_ACTIVATIONS[layer.activation])()
        if layer.position == "after_activation":
            modules += [activation, *normalization]
        else:
            modules += [*normalization, activation]
        if layer.dropout:
            modules.append(nn.Dropout(layer.dropout))
    return nn.Sequential(*modules).eval()


# The layer after a network's output layer, by out_activation_, so that a
# regressor's module outputs predict; a classifier's outputs its logits.
_TORCH_OUTPUTS = {"exp": "Exp"}
