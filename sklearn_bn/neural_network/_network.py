"""The network of the batch-norm MLPs: its parameters, state and passes.

``BaseBatchNormMLP`` holds what the classifier and the regressor share: the
parameters, the fitted arrays, the forward and backward passes, and ``fit``.
The hidden layers' normalization is a kind from ``_normalization.py``,
selected by ``batch_norm``: the passes loop over the layers and call it. The
activations and losses are the tables of ``_base.py``, the training loops
are ``TrainingMixin``'s (``_training.py``) and the inference layers are
``_inference.py``'s one view.
"""

from itertools import pairwise
from numbers import Integral, Real
from typing import NamedTuple

import numpy as np
from sklearn.base import BaseEstimator, is_classifier
from sklearn.utils import check_random_state
from sklearn.utils.extmath import safe_sparse_dot

from ..utils._callbacks import CallbackSupportMixin, fit_callback_context
from ..utils._compat import (
    Interval,
    Options,
    StrOptions,
    _check_sample_weight,
    _fit_context,
)
from ..utils._params import ParamNamesMixin
from ..utils._rollback import restored_on_error
from . import _fused
from ._base import ACTIVATIONS, LOSSES, dot, glorot_uniform
from ._inference import inference_layers
from ._normalization import (
    Normalization,
    all_attributes,
    fitted_normalization,
    layer_arrays,
    normalization_record,
    requested_normalization,
)
from ._training import NON_FINITE_MESSAGE, TrainingData, TrainingMixin

STOCHASTIC_SOLVERS = ("sgd", "adam")


class LayerCache(NamedTuple):
    """What the backward pass needs of a hidden layer's forward pass.

    ``normalization`` is the normalization's own cache. ``activation`` is
    the activation's output where it is not the layer's output (with dropout,
    or a normalization after the activation), None where it is. ``mask`` is
    the dropout mask (0 or ``1 / (1 - dropout)``), None without dropout.
    """

    normalization: object
    activation: np.ndarray | None = None
    mask: np.ndarray | None = None


def _dropout_mask(shape, rate, random_state, dtype):
    """An inverted-dropout mask: 0 with probability ``rate``, else
    ``1 / (1 - rate)``, so that the expected output is the output."""
    keep = random_state.uniform(size=shape) >= rate
    return keep * np.asarray(1.0 / (1.0 - rate), dtype=dtype)


# The lists that training replaces element by element; each call works on
# new lists, so that the ones held before the call are left as they were.
# The normalization's lists are added to these (``all_attributes``).
_TRAINED_LISTS = (
    "coefs_",
    "intercepts_",
    "loss_curve_",
    "validation_scores_",
    "_best_state",
)


class BaseBatchNormMLP(
    TrainingMixin, CallbackSupportMixin, ParamNamesMixin, BaseEstimator
):
    """The network, its passes and fit, shared by the classifier and the regressor.

    The hidden layers' normalization is the kind of ``_normalization.py``
    that ``batch_norm`` selects; the methods here call it and ask nothing
    else of it. The training loops are ``TrainingMixin``'s.
    """

    _parameter_constraints: dict = {
        "hidden_layer_sizes": [
            "array-like",
            Interval(Integral, 1, None, closed="left"),
        ],
        "activation": [StrOptions({"identity", "logistic", "tanh", "relu"})],
        "solver": [StrOptions({"lbfgs", "sgd", "adam"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
        ],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [
            Interval(Integral, 1, None, closed="left"),
            Options(Real, {np.inf}),
        ],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "batch_norm": ["boolean", Normalization],
        "bn_momentum": [
            Interval(Real, 0, 1, closed="right"),
            StrOptions({"deprecated"}),
        ],
        "bn_epsilon": [
            Interval(Real, 0, None, closed="neither"),
            StrOptions({"deprecated"}),
        ],
        "dropout": [Interval(Real, 0, 1, closed="left")],
    }

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        batch_norm=True,
        bn_momentum="deprecated",
        bn_epsilon="deprecated",
        dropout=0.0,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.batch_norm = batch_norm
        self.bn_momentum = bn_momentum
        self.bn_epsilon = bn_epsilon
        self.dropout = dropout

    # Network structure -----------------------------------------------------

    def _hidden_layer_sizes(self):
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, Integral) else list(sizes)
        if not all(
            isinstance(size, Integral) and not isinstance(size, bool) and size >= 1
            for size in sizes
        ):
            raise ValueError(
                "hidden_layer_sizes must be a positive integer or a sequence of "
                f"positive integers; got {self.hidden_layer_sizes!r}."
            )
        return sizes

    @property
    def _n_hidden(self):
        return len(self.coefs_) - 1

    @property
    def _normalization(self):
        """The normalization of the *fitted* network, whatever batch_norm says
        now (no normalization before the first fit)."""
        return fitted_normalization(self.__dict__.get("_normalization_record"))

    def _requested_normalization(self):
        """A copy of the normalization the parameters ask for, validated."""
        return requested_normalization(
            self.batch_norm, self.bn_momentum, self.bn_epsilon
        )

    def _initialize(self, kind, layer_units, dtype, random_state):
        self.n_iter_ = 0
        self.t_ = 0
        self.n_layers_ = len(layer_units)
        self.n_outputs_ = layer_units[-1]
        self.out_activation_ = self._output_activation()

        self.coefs_, self.intercepts_ = [], []
        for fan_in, fan_out in pairwise(layer_units):
            # The biases of normalized layers are drawn and dropped, so that a
            # random_state gives the same weights with and without batch norm.
            coef, intercept = glorot_uniform(
                fan_in, fan_out, self.activation, random_state, dtype
            )
            self.coefs_.append(coef)
            self.intercepts_.append(intercept)

        if kind.replaces_bias:
            self.intercepts_ = self.intercepts_[-1:]
        # Every kind's attributes: None, but the fitted kind's.
        for name in all_attributes():
            setattr(self, name, None)
        layers = [kind._initialize(n, dtype) for n in layer_units[1:-1]]
        for j, name in enumerate(kind.trained_names):
            setattr(self, name, [trained[j] for trained, _ in layers])
        for j, name in enumerate(kind.statistics_names):
            setattr(self, name, [statistics[j] for _, statistics in layers])

        self.loss_curve_ = []
        self.__dict__.pop("_optimizer_state", None)
        self._init_stopping()

    def _init_stopping(self):
        """The bookkeeping of the stopping rule that ``early_stopping`` picks."""
        self._no_improvement_count = 0
        if self.early_stopping:
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
            # Kept if no epoch ever scores: the starting state. Training never
            # writes into these arrays (see _optimizers.py), so no copy.
            self._best_state = list(self._state())
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None
            self.best_loss_ = np.inf

    def _check_same_network(self, kind, layer_units):
        """Refuse to continue training a network of another shape."""
        fitted_units = [self.coefs_[0].shape[0]] + [c.shape[1] for c in self.coefs_]
        if fitted_units != layer_units:
            raise ValueError(
                "warm_start and partial_fit need the network that was fitted: "
                f"it has layer sizes {fitted_units}, the data and "
                f"hidden_layer_sizes={self.hidden_layer_sizes!r} give {layer_units}."
            )
        fitted = self._normalization
        if (type(kind), kind.attribute_names, kind.position) != (
            type(fitted),
            fitted.attribute_names,
            fitted.position,
        ):
            raise ValueError(
                "warm_start and partial_fit need the network that was fitted: "
                f"it was fitted with batch_norm={fitted.describe()}, got "
                f"batch_norm={self.batch_norm!r}. Its hyperparameters may "
                "change, not its kind, position or affine."
            )
        if self._output_activation() != self.out_activation_:
            raise ValueError(
                "warm_start and partial_fit need the network that was fitted: "
                f"its output activation is {self.out_activation_!r}, the "
                f"parameters now give {self._output_activation()!r}."
            )

    def _trained(self):
        """The arrays trained by gradient descent (the network's weights, not
        ``get_params``), in the order _backprop returns their gradients."""
        params = self.coefs_ + self.intercepts_
        for name in self._normalization.trained_names:
            params += getattr(self, name)
        return params

    def _set_trained(self, params):
        """Install ``params``, in the order of ``_trained()``, in new lists."""
        n_coefs, n_intercepts = len(self.coefs_), len(self.intercepts_)
        self.coefs_ = list(params[:n_coefs])
        self.intercepts_ = list(params[n_coefs : n_coefs + n_intercepts])
        self._set_layer_lists(
            self._normalization.trained_names, params[n_coefs + n_intercepts :]
        )

    def _set_layer_lists(self, names, arrays):
        """Install ``arrays`` as ``names``: one list of ``n_hidden`` each, in order."""
        n_hidden = self._n_hidden
        for j, name in enumerate(names):
            setattr(self, name, list(arrays[j * n_hidden : (j + 1) * n_hidden]))

    def _state(self):
        """The parameters and the statistics: what prediction uses."""
        state = self._trained()
        for name in self._normalization.statistics_names:
            state += getattr(self, name)
        return state

    def _set_state(self, state):
        """Install ``state``, in the order of ``_state()``."""
        n_params = len(self._trained())
        self._set_trained(state[:n_params])
        self._set_layer_lists(self._normalization.statistics_names, state[n_params:])

    def _set_statistics(self, statistics, kind=None):
        """Install per-layer statistics (tuples in the kind's order)."""
        if kind is None:
            kind = self._normalization
        for j, name in enumerate(kind.statistics_names):
            setattr(self, name, [layer[j] for layer in statistics])

    # Forward and backward passes -------------------------------------------

    def _forward_train(
        self, X, sample_weight=None, random_state=None, kind=None, trained=None
    ):
        """The forward pass in training mode, normalizing with batch statistics.

        Returns the activations of every layer (the input first, the output
        last), a ``LayerCache`` per hidden layer for the backward pass, and
        the normalization's batch statistics of each hidden layer, weighted
        by ``sample_weight``. The normalization comes before or after the
        activation, as its ``position`` says. With a ``random_state`` and
        ``dropout > 0``, each hidden layer's output is multiplied by a fresh
        mask of ``0`` (with probability ``dropout``) and ``1 / (1 -
        dropout)`` (inverted dropout); without one, nothing is dropped.
        ``kind`` is the fitted normalization and ``trained`` its arrays per
        layer (``layer_arrays``), where the caller has them.
        """
        if kind is None:
            kind = self._normalization
        if trained is None:
            trained = layer_arrays(self, kind.trained_names)
        statistics = layer_arrays(self, kind.statistics_names)
        name = self.activation
        hidden_activation = ACTIVATIONS[name]
        after = kind.position == "after_activation"
        # The activation is applied in the pass that comes before it where
        # it can be: the bias's (without normalization, or with one after
        # the activation), or the normalization's (batch norm before it).
        with_bias = not kind.replaces_bias and (after or not kind.normalizes)
        fused = {"activation": name} if kind.fuses_activation and not after else {}
        rate = self.dropout if random_state is not None else 0.0
        activations, caches, stats = [X], [], []
        for i in range(self._n_hidden):
            z = dot(activations[i], self.coefs_[i])
            if not kind.replaces_bias:
                _fused.shift_activate(
                    z, self.intercepts_[i], name if with_bias else "identity"
                )
            elif after:
                hidden_activation(z)
            activation = z if after else None
            z, cache, batch_stats = kind._forward(
                z, trained[i], statistics[i], sample_weight, **fused
            )
            stats.append(batch_stats)
            if not (after or with_bias or fused):
                hidden_activation(z)
            if rate:
                mask = _dropout_mask(z.shape, rate, random_state, z.dtype)
                if activation is None:
                    activation = z
                caches.append(LayerCache(cache, activation, mask))
                z = z * mask
            else:
                caches.append(LayerCache(cache, activation))
            activations.append(z)
        out = dot(activations[-1], self.coefs_[-1])
        out += self.intercepts_[-1]
        if self.out_activation_ == "softmax":
            _fused.softmax(out)
        else:
            ACTIVATIONS[self.out_activation_](out)
        activations.append(out)
        return activations, caches, stats

    def _folded_layers(self, statistics=None):
        """The weights and biases of the network with its normalization folded in,
        from the one inference view (:func:`._inference.inference_layers`)."""
        layers = inference_layers(self, statistics)
        return (
            [layer.folded_coef for layer in layers],
            [layer.folded_intercept for layer in layers],
        )

    def _folded_weights(self):
        if not self._normalization.folds:
            return self.coefs_, self.intercepts_
        if getattr(self, "_inference_coefs", None) is None:
            # An estimator changed by hand since its fit.
            return self._folded_layers()
        return self._inference_coefs, self._inference_intercepts

    def _update_folded_weights(self):
        """Fold the normalization once per fit, for every prediction until the next."""
        if not self._normalization.folds:
            self._inference_coefs = self._inference_intercepts = None
        else:
            self._inference_coefs, self._inference_intercepts = self._folded_layers()

    def _forward_predict(self, X):
        """The forward pass in inference mode: the folded layers, and the
        normalization where it does not fold (``Normalization.computed``)."""
        coefs, intercepts = self._folded_weights()
        kind = self._normalization
        trained = layer_arrays(self, kind.trained_names)
        hidden_activation = ACTIVATIONS[self.activation]
        activation = X
        for i in range(self._n_hidden):
            activation = safe_sparse_dot(activation, coefs[i])
            activation += intercepts[i]
            if kind.computed:
                activation = kind._infer(activation, trained[i], ())
            hidden_activation(activation)
        out = safe_sparse_dot(activation, coefs[-1])
        out += intercepts[-1]
        ACTIVATIONS[self.out_activation_](out)
        return out

    def _reconstruction_attributes(self, statistics=None):
        """Copies of the fitted attributes as they are now, for the callbacks.

        A copy of the estimator with these predicts as if training had stopped
        here (scikit-learn's ``reconstruction_attributes``); ``statistics``
        replaces the kept ones (see :func:`._inference.inference_layers`).
        """
        kind = self._normalization
        attributes = {
            "coefs_": [coef.copy() for coef in self.coefs_],
            "intercepts_": [intercept.copy() for intercept in self.intercepts_],
            "n_iter_": self.n_iter_,
            "_normalization_record": self._normalization_record,
        }
        for name in kind.trained_names:
            attributes[name] = [array.copy() for array in getattr(self, name)]
        for j, name in enumerate(kind.statistics_names):
            arrays = (
                getattr(self, name)
                if statistics is None
                else [layer[j] for layer in statistics]
            )
            attributes[name] = [array.copy() for array in arrays]
        if not kind.folds:
            attributes.update(_inference_coefs=None, _inference_intercepts=None)
        else:
            coefs, intercepts = self._folded_layers(statistics)
            attributes.update(_inference_coefs=coefs, _inference_intercepts=intercepts)
        return attributes

    def _backprop(
        self, X, Y, sample_weight=None, random_state=None, out=None, kind=None
    ):
        """The training loss on one mini-batch and its exact gradient.

        The loss is the (weighted) mean over samples of the output loss, plus
        ``alpha / 2 * sum(||W||**2) / n_samples``, where ``n_samples`` is the
        sum of the weights if any. The gradients come in the order of
        ``_trained()``, in new arrays. The batch statistics are returned for
        the running averages, which this method does not touch.
        ``random_state`` draws the dropout masks (see ``_forward_train``).

        With ``out`` (the optimizer's arrays, of the gradients' shapes) the
        gradients are written there as sums over the samples, without the
        L2 penalty, which the optimizer's step adds before it divides by
        ``n_samples``; ``n_samples`` is returned in their place. ``kind`` is
        the fitted normalization, where the caller has it.
        """
        if kind is None:
            kind = self._normalization
        trained = layer_arrays(self, kind.trained_names)
        activations, caches, stats = self._forward_train(
            X, sample_weight, random_state, kind, trained
        )
        weight_sum = X.shape[0] if sample_weight is None else sample_weight.sum()
        loss = LOSSES[self.out_activation_](Y, activations[-1], sample_weight)
        if self.alpha:  # (a penalty of 0 adds 0.0, which changes no loss)
            squared_norm = sum(np.vdot(coef, coef) for coef in self.coefs_)
            loss += 0.5 * self.alpha * squared_norm / weight_sum

        n_hidden = self._n_hidden
        n_coefs, n_intercepts = n_hidden + 1, len(self.intercepts_)
        grads = [None] * (n_coefs + n_intercepts + n_hidden * len(kind.trained_names))
        after = kind.position == "after_activation"

        def mean_over_samples(k, total):
            """Install ``total / weight_sum`` as gradient ``k`` (``total``
            in ``out``)."""
            if out is None:
                grads[k] = total / weight_sum
            else:
                out[k][...] = total

        def column_sums(k, delta):
            """Install the column means of ``delta`` as gradient ``k`` (the
            sums in ``out``)."""
            if out is None:
                grads[k] = delta.sum(axis=0) / weight_sum
            else:
                np.add.reduce(delta, axis=0, out=out[k])

        # With the canonical link of each output loss, the gradient with
        # respect to the output pre-activation is out - Y.
        delta = activations[-1] - Y
        if sample_weight is not None:
            delta *= sample_weight[:, np.newaxis]
        column_sums(n_coefs + n_intercepts - 1, delta)
        for i in range(n_hidden, -1, -1):
            inputs = activations[i]
            if out is not None and type(inputs) is np.ndarray:
                coef_grad = np.matmul(inputs.T, delta, out=out[i])
            elif out is not None:
                coef_grad = out[i]
                coef_grad[...] = safe_sparse_dot(inputs.T, delta)
            else:
                coef_grad = safe_sparse_dot(inputs.T, delta)
            if out is None:
                coef_grad += self.alpha * self.coefs_[i]
                coef_grad /= weight_sum
                grads[i] = coef_grad
            if i < n_hidden and not kind.replaces_bias:
                column_sums(n_coefs + i, delta)
            if i == 0:
                break
            delta = delta @ self.coefs_[i].T
            layer_cache = caches[i - 1]
            if layer_cache.mask is not None:
                delta *= layer_cache.mask
            activation = layer_cache.activation
            if activation is None:
                activation = activations[i]
            # Back through the normalization and the activation, in the
            # reverse of their order; the kind's first pass takes the
            # activation's derivative where it fuses the activation.
            normalization, arrays = layer_cache.normalization, trained[i - 1]
            if after:
                delta, layer_grads = kind._backward(delta, normalization, arrays)
                _fused.activation_backward(self.activation, activation, delta)
            elif kind.fuses_activation:
                delta, layer_grads = kind._backward(
                    delta, normalization, arrays, (self.activation, activation)
                )
            else:
                _fused.activation_backward(self.activation, activation, delta)
                delta, layer_grads = kind._backward(delta, normalization, arrays)
            # (strict: every trained array gets its gradient written.)
            pairs = zip(kind.trained_names, layer_grads, strict=True)
            for j, (_, grad) in enumerate(pairs):
                mean_over_samples(n_coefs + n_intercepts + j * n_hidden + i - 1, grad)
        return float(loss), grads if out is None else weight_sum, stats

    # Training ----------------------------------------------------------------

    def _check_batch_stats(self, stats, kind=None):
        """Refuse a mini-batch that cannot update the statistics."""
        if kind is None:
            kind = self._normalization
        for batch_stats in stats:
            kind._check(batch_stats)

    def _update_running_stats(self, stats, kind=None):
        """Step the statistics with ``stats``, each mini-batch's per layer."""
        if kind is None:
            kind = self._normalization
        statistics = layer_arrays(self, kind.statistics_names)
        self._set_statistics(
            [
                kind._update_many(layer, [batch[i] for batch in stats])
                for i, layer in enumerate(statistics)
            ],
            kind,
        )

    def _full_batch_statistics(self, stats):
        """The statistics of the full batch's ``stats``, per hidden layer."""
        return [self._normalization._full_batch(batch_stats) for batch_stats in stats]

    def _set_population_statistics(self, X, sample_weight):
        """Recompute the inference statistics over ``X``, layer by layer, in
        inference mode (each layer already using its new statistics), where
        the normalization asks for it (``statistics="population"``)."""
        kind = self._normalization
        if not kind.population:
            return
        trained = layer_arrays(self, kind.trained_names)
        statistics = layer_arrays(self, kind.statistics_names)
        hidden_activation = ACTIVATIONS[self.activation]
        after = kind.position == "after_activation"
        activation, population = X, []
        for i in range(self._n_hidden):
            z = safe_sparse_dot(activation, self.coefs_[i])
            if not kind.replaces_bias:
                z += self.intercepts_[i]
            if after:
                hidden_activation(z)
            layer = kind._population(z, sample_weight, statistics[i])
            population.append(layer)
            scale, shift = kind._affine(trained[i], layer)
            z *= scale.astype(z.dtype)
            z += shift.astype(z.dtype)
            if not after:
                hidden_activation(z)
            activation = z
        self._set_statistics(population)

    def _restoring(self, train, *args, **kwargs):
        """Run ``train``; if it raises, put every attribute back as it was.

        A fit that fails (bad input, a batch too small, divergence without
        early stopping) or is interrupted (KeyboardInterrupt) leaves a fitted
        network exactly as it was and an unfitted one unfitted. Training
        writes into no array or list that existed before the call (see
        ``_begin_training``).
        """
        with restored_on_error(self):
            return train(*args, **kwargs)

    def _begin_training(self):
        """Give training new lists to write into (see ``_restoring``)."""
        for name in _TRAINED_LISTS + all_attributes():
            value = getattr(self, name, None)
            if isinstance(value, list):
                setattr(self, name, list(value))

    def _fit(self, X, y, sample_weight, incremental):
        hidden_layer_sizes = self._hidden_layer_sizes()
        first_pass = not hasattr(self, "coefs_") or (
            not self.warm_start and not incremental
        )
        if incremental and self.early_stopping:
            raise ValueError(
                "partial_fit does not support early_stopping=True: there is no "
                "held-out set across calls. Use fit, or early_stopping=False."
            )
        kind = self._requested_normalization()
        if self.solver == "lbfgs" and not kind.lbfgs:
            raise ValueError(
                f"batch_norm={kind!r} cannot be trained with solver='lbfgs': "
                "inference could not compute what its training on one full "
                "batch computes. Use solver='sgd' or 'adam', or BatchNorm()."
            )
        if self.solver == "lbfgs" and self.dropout:
            raise ValueError(
                f"dropout={self.dropout} needs a stochastic solver: L-BFGS "
                "minimizes one deterministic loss over the full batch, which "
                "random masks would change at every evaluation. Use "
                "solver='sgd' or 'adam', or dropout=0."
            )
        X_given, y_given = X, y
        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        if sample_weight is not None:
            # Batch statistics are weighted means: a negative weight means nothing.
            sample_weight = _check_sample_weight(
                sample_weight,
                X,
                dtype=X.dtype,
                ensure_non_negative=kind.batch_statistics,
            )
        if y.ndim == 1:
            y = y.reshape(-1, 1)
        layer_units = [X.shape[1], *hidden_layer_sizes, y.shape[1]]
        random_state = check_random_state(self.random_state)
        metadata = {} if sample_weight is None else {"sample_weight": sample_weight}
        max_subtasks = 1 if incremental else self.max_iter
        if self.solver == "lbfgs":
            max_subtasks += 1  # the last iteration begun, never run
        callback_ctx = fit_callback_context(self, max_subtasks)
        callback_ctx.call_on_fit_task_begin(
            estimator=self, X=X_given, y=y_given, metadata=metadata
        )

        if not first_pass:
            self._check_same_network(kind, layer_units)
        # The normalization the network is trained with: inference reads it,
        # not the parameter, which set_params may change after the fit.
        self._normalization_record = normalization_record(kind)
        if first_pass:
            self._initialize(kind, layer_units, X.dtype, random_state)
        else:
            X = X.astype(self.coefs_[0].dtype, copy=False)
            if sample_weight is not None:
                sample_weight = sample_weight.astype(X.dtype, copy=False)
            # early_stopping may have been switched since the last fit.
            if (self.validation_scores_ is None) == bool(self.early_stopping):
                self._init_stopping()
        self._begin_training()
        if not is_classifier(self):
            y = y.astype(X.dtype, copy=False)

        data = TrainingData(X, y, sample_weight, X_given, y_given, metadata)
        if self.solver == "lbfgs":
            self._check_batch_norm_samples(X.shape[0])
            self._fit_lbfgs(data, callback_ctx)
        else:
            self._fit_stochastic(data, random_state, incremental, callback_ctx)
        if not incremental:
            with np.errstate(over="ignore", invalid="ignore"):
                self._set_population_statistics(X, sample_weight)

        if not all(np.isfinite(param).all() for param in self._state()):
            raise ValueError(NON_FINITE_MESSAGE)
        self._update_folded_weights()
        callback_ctx.call_on_fit_task_end(
            estimator=self,
            X=X_given,
            y=y_given,
            metadata=metadata,
            reconstruction_attributes={},
        )
        return self

    def _score(self, X, y, sample_weight=None):
        """The validation score for early stopping; NaN if predictions are not."""
        y_pred = self._predict(X, check_input=False)
        if np.issubdtype(y_pred.dtype, np.floating) and not np.isfinite(y_pred).all():
            return np.nan
        return self._score_function(y, y_pred, sample_weight=sample_weight)

    # Public API ------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the network to data matrix X and target(s) y.

        If the loss becomes non-finite (the training diverged), then without
        early stopping the fit raises ``ValueError("Solver produced non-finite
        parameter weights...")`` and leaves the estimator as it was before the
        call; with ``early_stopping=True`` it stops, records NaN in
        ``validation_scores_``, warns with a ``ConvergenceWarning`` and keeps
        the parameters of the epoch with the best validation score (the
        starting ones if no epoch scored). A ``KeyboardInterrupt`` leaves the
        estimator exactly as it was before the call.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The target values: class labels for the classifier, real numbers
            for the regressor.

        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples: the loss is their weighted mean, as in
            scikit-learn's MLPs, and with batch normalization the batch
            statistics are weighted means too, so that only the weights'
            ratios matter (weights that sum to 1 train as any multiple of
            them), an integer weight counts as that many copies of the row
            and a zero weight as no row (exactly so in one full batch). The
            running variance is unbiased, ``n / (n - 1)`` times the batch's,
            with ``n`` the larger of ``sum(w)`` and the effective number of
            samples ``sum(w) ** 2 / sum(w ** 2)``: the sum for weights of 1
            or more (counts), the effective number for weights of at most 1
            (shares, normalized weights among them), which does not change
            when they are multiplied by a constant. With batch normalization
            the weights must be non-negative and that ``n`` must exceed 1 in
            each mini-batch.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._restoring(self._fit, X, y, sample_weight, incremental=False)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
