"""Every kind of normalization of the networks, written with other people's
layers, for ``test_normalizations.py``.

:func:`torch_network` builds a :class:`torch.nn.Sequential` holding a
network's weights and the state of its normalization: the layers of
:class:`torch.nn.BatchNorm1d` (before or after the activation), one
``BatchNorm1d`` called on each virtual batch (ghost batch norm),
:class:`torch.nn.LayerNorm`, :class:`torch.nn.RMSNorm`, and Keras 3's
``BatchNormalization(renorm=True)`` run on its torch backend, inside the
torch graph. :func:`sgd_epoch` trains it with plain SGD on the networks'
loss, and :func:`fitted_arrays` reads it back under the networks' attribute
names. :func:`population_statistics` computes the exact moments that
``BatchNorm(statistics="population")`` keeps, with numpy.

The module reads the networks' public fitted attributes and the parameters
of their normalization only. It is no test module (no ``test_`` prefix);
torch and Keras are imported by the functions that need them.
"""

import contextlib
import os
from functools import cache

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "torch")

ACTIVATIONS = {
    "identity": "Identity",
    "logistic": "Sigmoid",
    "relu": "ReLU",
    "tanh": "Tanh",
}

NUMPY_ACTIVATIONS = {
    "identity": lambda z: z,
    "logistic": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "relu": lambda z: np.maximum(z, 0.0),
    "tanh": np.tanh,
}


@contextlib.contextmanager
def keras_computes_float64():
    """Let Keras compute float64 layers in float64 on the torch backend.

    Outside TensorFlow, Keras' type promotion maps float64 to float32
    (``BIT64_TO_BIT32_DTYPE`` in ``keras/src/backend/common/dtypes.py``), so
    that a float64 ``BatchNormalization`` computes in float32 and stores
    float32-rounded values. Its TensorFlow backend keeps float64; this does
    the same for as long as the context lasts.
    """
    from keras.src.backend.common import dtypes

    before = dtypes.BIT64_TO_BIT32_DTYPE["float64"]
    dtypes.BIT64_TO_BIT32_DTYPE["float64"] = "float64"
    try:
        yield
    finally:
        dtypes.BIT64_TO_BIT32_DTYPE["float64"] = before


@cache
def _modules():
    """The reference modules, defined once torch is imported."""
    import torch

    class GhostBatchNorm1d(torch.nn.BatchNorm1d):
        """One BatchNorm1d called on each virtual batch, in training: the
        chunks of ``torch.split``, a last chunk of fewer than ``max(2,
        virtual_batch_size / 2)`` rows joined to the one before."""

        def __init__(self, n_units, virtual_batch_size, **kwargs):
            super().__init__(n_units, **kwargs)
            self.virtual_batch_size = virtual_batch_size

        def forward(self, x):
            if not self.training:
                return super().forward(x)
            chunks = list(torch.split(x, self.virtual_batch_size))
            small = max(2, self.virtual_batch_size / 2)
            if len(chunks) > 1 and chunks[-1].shape[0] < small:
                chunks[-2:] = [torch.cat(chunks[-2:])]
            return torch.cat([super(GhostBatchNorm1d, self).forward(c) for c in chunks])

    class KerasBatchRenorm(torch.nn.Module):
        """Keras' ``BatchNormalization(renorm=True)`` as a torch module."""

        def __init__(self, layer):
            super().__init__()
            self.layer = layer

        def forward(self, x):
            context = (
                keras_computes_float64()
                if x.dtype == torch.float64
                else contextlib.nullcontext()
            )
            with context:
                return self.layer(x, training=self.training)

    return GhostBatchNorm1d, KerasBatchRenorm


def _tensor(array):
    import torch

    return torch.from_numpy(np.array(array))


def _numpy(tensor):
    return tensor.detach().cpu().numpy().copy()


def _set(parameter, array):
    import torch

    with torch.no_grad():
        parameter.copy_(_tensor(array))


# One reference per kind: the module of a layer from its fitted arrays, and the
# arrays read back from the module.


def _batch_norm(kind, arrays, n_units, dtype):
    import torch

    module = torch.nn.BatchNorm1d(
        n_units,
        eps=kind.epsilon,
        momentum=kind.momentum,
        affine=kind.affine,
        dtype=dtype,
    )
    return _fill_batch_norm(module, kind, arrays)


def _ghost_batch_norm(kind, arrays, n_units, dtype):
    GhostBatchNorm1d, _ = _modules()
    module = GhostBatchNorm1d(
        n_units,
        kind.virtual_batch_size,
        eps=kind.epsilon,
        momentum=kind.momentum,
        dtype=dtype,
    )
    return _fill_batch_norm(module, kind, arrays)


def _fill_batch_norm(module, kind, arrays):
    if kind.affine:
        _set(module.weight, arrays["bn_gammas_"])
        _set(module.bias, arrays["bn_betas_"])
    _set(module.running_mean, arrays["bn_running_means_"])
    _set(module.running_var, arrays["bn_running_vars_"])
    _set(module.num_batches_tracked, arrays["bn_num_batches_tracked_"])
    return module


def _batch_norm_arrays(kind, module):
    arrays = {
        "bn_running_means_": module.running_mean,
        "bn_running_vars_": module.running_var,
        "bn_num_batches_tracked_": module.num_batches_tracked,
    }
    if kind.affine:
        arrays.update(bn_gammas_=module.weight, bn_betas_=module.bias)
    return arrays


# Keras' variables under the networks' names.
_RENORM_VARIABLES = {
    "bn_gammas_": "gamma",
    "bn_betas_": "beta",
    "bn_running_means_": "moving_mean",
    "bn_running_stds_": "moving_stddev",
    "bn_renorm_means_": "renorm_mean",
    "bn_renorm_stds_": "renorm_stddev",
}


def _batch_renorm(kind, arrays, n_units, dtype):
    import keras

    _, KerasBatchRenorm = _modules()
    layer = keras.layers.BatchNormalization(
        # Keras' momenta weigh the old value, the networks' the new batch.
        momentum=1.0 - kind.momentum,
        renorm_momentum=1.0 - kind.renorm_momentum,
        epsilon=kind.epsilon,
        renorm=True,
        renorm_clipping={
            "rmin": 1.0 / kind.r_max,
            "rmax": kind.r_max,
            "dmax": kind.d_max,
        },
        dtype=str(dtype).removeprefix("torch."),
    )
    layer.build((None, n_units))
    for name, variable in _RENORM_VARIABLES.items():
        getattr(layer, variable).assign(arrays[name])
    # Keras keeps the inference variance apart; after any training step it
    # is this function of the moving standard deviation.
    std = np.asarray(arrays["bn_running_stds_"])
    layer.moving_variance.assign(np.maximum(std * std - kind.epsilon, 0.0))
    return KerasBatchRenorm(layer)


def _batch_renorm_arrays(kind, module):
    return {
        name: getattr(module.layer, variable).value
        for name, variable in _RENORM_VARIABLES.items()
    }


def _layer_norm(kind, arrays, n_units, dtype):
    import torch

    module = torch.nn.LayerNorm(
        n_units,
        eps=kind.epsilon,
        elementwise_affine=kind.affine,
        bias=kind.affine,
        dtype=dtype,
    )
    if kind.affine:
        _set(module.weight, arrays["ln_gammas_"])
        _set(module.bias, arrays["ln_betas_"])
    return module


def _layer_norm_arrays(kind, module):
    if not kind.affine:
        return {}
    return {"ln_gammas_": module.weight, "ln_betas_": module.bias}


def _rms_norm(kind, arrays, n_units, dtype):
    import torch

    module = torch.nn.RMSNorm(
        n_units,
        eps=kind.epsilon,
        elementwise_affine=kind.affine,
        dtype=dtype,
    )
    if kind.affine:
        _set(module.weight, arrays["rms_gammas_"])
    return module


def _rms_norm_arrays(kind, module):
    return {"rms_gammas_": module.weight} if kind.affine else {}


#: name -> (the module of a layer from its arrays, its number of units and
#: the dtype; the layer's arrays read back from the module).
REFERENCES = {
    "batch_norm": (_batch_norm, _batch_norm_arrays),
    "ghost_batch_norm": (_ghost_batch_norm, _batch_norm_arrays),
    "batch_renorm": (_batch_renorm, _batch_renorm_arrays),
    "layer_norm": (_layer_norm, _layer_norm_arrays),
    "rms_norm": (_rms_norm, _rms_norm_arrays),
}

# The kinds whose layers have no bias: the normalization's shift replaces it.
_NO_BIAS = {"ghost_batch_norm", "batch_renorm"}


def _has_bias(kind):
    if kind.name == "batch_norm":
        return kind.position == "after_activation"
    return kind.name not in _NO_BIAS


def torch_network(estimator):
    """A :class:`torch.nn.Sequential` with the weights and normalization state
    of ``estimator``, in its dtype.

    Each hidden layer is a ``Linear`` (with or without bias, as the
    normalization wants), the normalization's module and the activation, the
    last two in the order of the normalization's ``position``.
    """
    import torch

    kind = estimator._normalization
    dtype = getattr(torch, str(estimator.coefs_[0].dtype))
    n_hidden = len(estimator.coefs_) - 1
    with_bias = kind.name == "none" or _has_bias(kind)
    layers = []
    for i, coef in enumerate(estimator.coefs_):
        is_output = i == n_hidden
        linear = torch.nn.Linear(*coef.shape, bias=is_output or with_bias, dtype=dtype)
        _set(linear.weight, coef.T)
        if is_output or with_bias:
            _set(linear.bias, estimator.intercepts_[i if with_bias else -1])
        layers.append(linear)
        if is_output:
            break
        activation = getattr(torch.nn, ACTIVATIONS[estimator.activation])()
        if kind.name == "none":
            layers.append(activation)
            continue
        build, _ = REFERENCES[kind.name]
        arrays = {
            name: getattr(estimator, name)[i] for name in _attribute_names(estimator)
        }
        norm = build(kind, arrays, coef.shape[1], dtype)
        if kind.position == "after_activation":
            layers += [activation, norm]
        else:
            layers += [norm, activation]
    return torch.nn.Sequential(*layers)


def _attribute_names(estimator):
    """The fitted attributes of the estimator's normalization: those of its
    names that the estimator holds (the others are None)."""
    candidates = (
        "bn_gammas_",
        "bn_betas_",
        "bn_running_means_",
        "bn_running_vars_",
        "bn_num_batches_tracked_",
        "bn_running_stds_",
        "bn_renorm_means_",
        "bn_renorm_stds_",
        "ln_gammas_",
        "ln_betas_",
        "rms_gammas_",
    )
    return [name for name in candidates if getattr(estimator, name, None) is not None]


def _norms(estimator, network):
    import torch

    skip = (torch.nn.Linear, *(getattr(torch.nn, a) for a in ACTIVATIONS.values()))
    return [module for module in network if not isinstance(module, skip)]


def fitted_arrays(estimator, network):
    """The network's weights and state as numpy arrays, under the estimator's
    attribute names (``coefs_``, ``intercepts_``, ``bn_gammas_``...)."""
    import torch

    kind = estimator._normalization
    linears = [module for module in network if isinstance(module, torch.nn.Linear)]
    arrays = {
        "coefs_": [_numpy(linear.weight).T for linear in linears],
        "intercepts_": [_numpy(m.bias) for m in linears if m.bias is not None],
    }
    if kind.name == "none":
        return arrays
    _, read = REFERENCES[kind.name]
    for module in _norms(estimator, network):
        for name, tensor in read(kind, module).items():
            arrays.setdefault(name, []).append(_numpy(tensor))
    return arrays


def _trained_parameters(network):
    """Every parameter that SGD trains, Keras' gamma and beta among them."""
    parameters = []
    for module in network:
        layer = getattr(module, "layer", None)
        if layer is None:
            parameters += list(module.parameters())
        else:
            parameters += [layer.gamma.value, layer.beta.value]
    return parameters


def network_loss(estimator, out, Y):
    """The networks' loss (``alpha=0``): half the squared error summed over
    outputs and averaged over samples, or the mean cross-entropy."""
    import torch

    if estimator.out_activation_ == "softmax":
        return torch.nn.functional.cross_entropy(out, Y.argmax(dim=1))
    return 0.5 * ((out - Y) ** 2).sum(dim=1).mean()


def sgd_epoch(estimator, network, X, Y, batch_size, learning_rate):
    """One epoch of plain SGD (no momentum, no penalty) over consecutive
    mini-batches of ``batch_size`` rows of ``X``; ``Y`` as the network
    sees the targets (2-d, label indicators for a classifier)."""
    import torch

    if len(X) % batch_size:
        # The networks merge a short last mini-batch into the one before.
        raise ValueError(f"batch_size={batch_size} must divide the {len(X)} rows.")
    network.train()
    parameters = _trained_parameters(network)
    X, Y = _tensor(X), _tensor(Y).to(_tensor(X).dtype)
    for start in range(0, X.shape[0], batch_size):
        for parameter in parameters:
            parameter.grad = None
        batch = slice(start, start + batch_size)
        loss = network_loss(estimator, network(X[batch]), Y[batch])
        loss.backward()
        with torch.no_grad():
            for parameter in parameters:
                parameter -= learning_rate * parameter.grad
    return network


def predict(network, X):
    """The network's output in inference mode (before any output activation)."""
    import torch

    network.eval()
    with torch.no_grad():
        return _numpy(network(_tensor(X)))


def population_statistics(estimator, X, sample_weight=None):
    """The exact weighted mean and variance (divisor the weights' sum) of each
    normalized layer's input over ``X``, in float64, in inference mode: each
    layer normalized with the statistics computed for it before the next
    layer's are. ``estimator`` has ``BatchNorm(statistics="population")``.
    """
    kind = estimator._normalization
    after = kind.position == "after_activation"
    activation = NUMPY_ACTIVATIONS[estimator.activation]
    weights = np.ones(len(X)) if sample_weight is None else sample_weight
    weights = np.asarray(weights, dtype=np.float64) / np.sum(weights)
    a = np.asarray(X, dtype=np.float64)
    means, variances = [], []
    for i, coef in enumerate(estimator.coefs_[:-1]):
        x = a @ coef.astype(np.float64)
        if after:
            x = activation(x + estimator.intercepts_[i])
        mean = weights @ x
        var = weights @ (x - mean) ** 2
        means.append(mean)
        variances.append(var)
        x = (x - mean) / np.sqrt(var + kind.epsilon)
        if kind.affine:
            x = x * estimator.bn_gammas_[i] + estimator.bn_betas_[i]
        a = x if after else activation(x)
    return means, variances
