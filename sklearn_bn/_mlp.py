"""Multi-layer perceptrons with batch-normalized hidden layers.

The estimators: their parameters, the network's state, the forward and
backward passes, and fit/partial_fit/predict. The numerics of layers and
losses are in ``_mlp_layers.py``, the optimizers in ``_mlp_optimizers.py``
and the training loops in ``_mlp_training.py``.
"""

import warnings
from itertools import pairwise
from numbers import Integral, Real
from typing import NamedTuple

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, is_classifier
from sklearn.metrics import accuracy_score, r2_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state, column_or_1d, gen_batches
from sklearn.utils.extmath import safe_sparse_dot
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import check_is_fitted, validate_data

from ._callbacks import CallbackSupportMixin, fit_callback_context
from ._compat import (
    Interval,
    Options,
    StrOptions,
    _check_partial_fit_first_call,
    _check_sample_weight,
    _fit_context,
)
from ._mlp_layers import (
    ACTIVATIONS,
    DERIVATIVES,
    LOSSES,
    batch_norm_backward,
    batch_norm_forward,
    fold_batch_norm,
    glorot_uniform,
    update_running_stats,
)
from ._mlp_training import NON_FINITE_MESSAGE, fit_lbfgs, fit_stochastic
from ._rollback import restored_on_error

# The smallest training mini-batch when batch normalization is on: the batch
# variance of one sample is zero, and its unbiased estimate is undefined.
# The last mini-batch of an epoch must also hold half a batch (see _batch_slices).
_MIN_BATCH_NORM_SAMPLES = 2

_STOCHASTIC_SOLVERS = ("sgd", "adam")

# The lists that training replaces element by element; each call works on
# new lists, so that the ones held before the call are left as they were.
_TRAINED_LISTS = (
    "coefs_",
    "intercepts_",
    "bn_gammas_",
    "bn_betas_",
    "bn_running_means_",
    "bn_running_vars_",
    "loss_curve_",
    "validation_scores_",
    "_best_state",
)


class _TrainingData(NamedTuple):
    """What the training loops see: X and y as the network takes them, and the
    data as given, for the callbacks."""

    X: object
    y: np.ndarray
    sample_weight: np.ndarray | None
    X_given: object
    y_given: object
    metadata: dict


def _check_solver(estimator):
    if estimator.solver not in _STOCHASTIC_SOLVERS:
        raise AttributeError(
            "partial_fit is only available for stochastic optimizers. "
            f"{estimator.solver} is not stochastic."
        )
    return True


class _BaseBatchNormMLP(CallbackSupportMixin, BaseEstimator):
    """The network, its passes and fit, shared by the classifier and the regressor."""

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
        "batch_norm": ["boolean"],
        "bn_momentum": [Interval(Real, 0, 1, closed="right")],
        "bn_epsilon": [Interval(Real, 0, None, closed="neither")],
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
        bn_momentum=0.1,
        bn_epsilon=1e-5,
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
    def _is_batch_normalized(self):
        """Whether the *fitted* network normalizes, whatever batch_norm says now."""
        return self.bn_gammas_ is not None

    def _initialize(self, layer_units, dtype, random_state):
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

        hidden_units = layer_units[1:-1]
        if self.batch_norm:
            self.intercepts_ = self.intercepts_[-1:]
            self.bn_gammas_ = [np.ones(n, dtype=dtype) for n in hidden_units]
            self.bn_betas_ = [np.zeros(n, dtype=dtype) for n in hidden_units]
            self.bn_running_means_ = [np.zeros(n, dtype=dtype) for n in hidden_units]
            self.bn_running_vars_ = [np.ones(n, dtype=dtype) for n in hidden_units]
        else:
            self.bn_gammas_ = self.bn_betas_ = None
            self.bn_running_means_ = self.bn_running_vars_ = None

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
            # writes into these arrays (see _mlp_optimizers), so no copy.
            self._best_state = list(self._state())
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None
            self.best_loss_ = np.inf

    def _check_same_network(self, layer_units):
        """Refuse to continue training a network of another shape."""
        fitted_units = [self.coefs_[0].shape[0]] + [c.shape[1] for c in self.coefs_]
        if fitted_units != layer_units:
            raise ValueError(
                "warm_start and partial_fit need the network that was fitted: "
                f"it has layer sizes {fitted_units}, the data and "
                f"hidden_layer_sizes={self.hidden_layer_sizes!r} give {layer_units}."
            )
        if bool(self.batch_norm) != self._is_batch_normalized:
            raise ValueError(
                "warm_start and partial_fit need the network that was fitted: "
                f"it was fitted with batch_norm={not self.batch_norm}, got "
                f"batch_norm={self.batch_norm}."
            )
        if self._output_activation() != self.out_activation_:
            raise ValueError(
                "warm_start and partial_fit need the network that was fitted: "
                f"its output activation is {self.out_activation_!r}, the "
                f"parameters now give {self._output_activation()!r}."
            )

    def _params(self):
        """The trained parameters, in the order _backprop returns their gradients."""
        params = self.coefs_ + self.intercepts_
        if self._is_batch_normalized:
            params += self.bn_gammas_ + self.bn_betas_
        return params

    def _set_params(self, params):
        """Install ``params``, in the order of ``_params()``, in new lists."""
        n_coefs, n_intercepts = len(self.coefs_), len(self.intercepts_)
        self.coefs_ = list(params[:n_coefs])
        self.intercepts_ = list(params[n_coefs : n_coefs + n_intercepts])
        if self._is_batch_normalized:
            n_hidden = len(self.bn_gammas_)
            start = n_coefs + n_intercepts
            self.bn_gammas_ = list(params[start : start + n_hidden])
            self.bn_betas_ = list(params[start + n_hidden :])

    def _state(self):
        """The parameters and the running statistics: what prediction uses."""
        if self._is_batch_normalized:
            return self._params() + self.bn_running_means_ + self.bn_running_vars_
        return self._params()

    def _set_state(self, state):
        """Install ``state``, in the order of ``_state()``."""
        n_params = len(self._params())
        self._set_params(state[:n_params])
        if self._is_batch_normalized:
            n_hidden = len(self.bn_gammas_)
            self.bn_running_means_ = list(state[n_params : n_params + n_hidden])
            self.bn_running_vars_ = list(state[n_params + n_hidden :])

    # Forward and backward passes -------------------------------------------

    def _forward_train(self, X, sample_weight=None):
        """The forward pass in training mode, normalizing with batch statistics.

        Returns the activations of every layer (the input first, the output
        last), the batch-norm caches and the batch statistics of each hidden
        layer, weighted by ``sample_weight``.
        """
        hidden_activation = ACTIVATIONS[self.activation]
        activations, caches, stats = [X], [], []
        for i in range(self._n_hidden):
            z = safe_sparse_dot(activations[i], self.coefs_[i])
            if self._is_batch_normalized:
                z, cache, batch_stats = batch_norm_forward(
                    z,
                    self.bn_gammas_[i],
                    self.bn_betas_[i],
                    self.bn_epsilon,
                    sample_weight,
                )
                caches.append(cache)
                stats.append(batch_stats)
            else:
                z += self.intercepts_[i]
            hidden_activation(z)
            activations.append(z)
        out = safe_sparse_dot(activations[-1], self.coefs_[-1])
        out += self.intercepts_[-1]
        ACTIVATIONS[self.out_activation_](out)
        activations.append(out)
        return activations, caches, stats

    def _fold_batch_norm(self, running_means=None, running_vars=None):
        """The weights and biases of the network with batch norm folded in.

        Each hidden layer's inference-mode batch norm is folded into the
        layer's weights (see :func:`~sklearn_bn._mlp_layers.fold_batch_norm`),
        so that prediction costs what it costs without batch norm.
        """
        running_means = running_means or self.bn_running_means_
        running_vars = running_vars or self.bn_running_vars_
        coefs, intercepts = [], []
        for i in range(self._n_hidden):
            coef, intercept = fold_batch_norm(
                self.coefs_[i],
                self.bn_gammas_[i],
                self.bn_betas_[i],
                running_means[i],
                running_vars[i],
                self.bn_epsilon,
            )
            coefs.append(coef)
            intercepts.append(intercept)
        coefs.append(self.coefs_[-1])
        intercepts.append(self.intercepts_[-1])
        return coefs, intercepts

    def _inference_layers(self):
        if not self._is_batch_normalized:
            return self.coefs_, self.intercepts_
        if getattr(self, "_inference_coefs", None) is None:
            # An estimator fitted before folding existed, or changed by hand.
            return self._fold_batch_norm()
        return self._inference_coefs, self._inference_intercepts

    def _update_inference_layers(self):
        """Fold batch norm once per fit, for every prediction until the next."""
        if self._is_batch_normalized:
            self._inference_coefs, self._inference_intercepts = self._fold_batch_norm()
        else:
            self._inference_coefs = self._inference_intercepts = None

    def _forward_predict(self, X):
        """The forward pass in inference mode, normalizing with running statistics."""
        coefs, intercepts = self._inference_layers()
        hidden_activation = ACTIVATIONS[self.activation]
        activation = X
        for coef, intercept in zip(coefs[:-1], intercepts[:-1], strict=True):
            activation = safe_sparse_dot(activation, coef)
            activation += intercept
            hidden_activation(activation)
        out = safe_sparse_dot(activation, coefs[-1])
        out += intercepts[-1]
        ACTIVATIONS[self.out_activation_](out)
        return out

    def _reconstruction_attributes(self, running_means=None, running_vars=None):
        """Copies of the fitted attributes as they are now, for the callbacks.

        A copy of the estimator with these predicts as if training had stopped
        here (scikit-learn's ``reconstruction_attributes``).
        """
        attributes = {
            "coefs_": [coef.copy() for coef in self.coefs_],
            "intercepts_": [intercept.copy() for intercept in self.intercepts_],
            "n_iter_": self.n_iter_,
        }
        if self._is_batch_normalized:
            running_means = running_means or self.bn_running_means_
            running_vars = running_vars or self.bn_running_vars_
            attributes.update(
                bn_gammas_=[gamma.copy() for gamma in self.bn_gammas_],
                bn_betas_=[beta.copy() for beta in self.bn_betas_],
                bn_running_means_=[mean.copy() for mean in running_means],
                bn_running_vars_=[var.copy() for var in running_vars],
            )
            coefs, intercepts = self._fold_batch_norm(running_means, running_vars)
            attributes.update(_inference_coefs=coefs, _inference_intercepts=intercepts)
        else:
            attributes.update(_inference_coefs=None, _inference_intercepts=None)
        return attributes

    def _backprop(self, X, Y, sample_weight=None):
        """The training loss on one mini-batch and its exact gradient.

        The loss is the (weighted) mean over samples of the output loss, plus
        ``alpha / 2 * sum(||W||**2) / n_samples``, where ``n_samples`` is the
        sum of the weights if any. The gradients come in the order of
        ``_params()``; the batch statistics are returned for the running
        averages, which this method does not touch.
        """
        activations, caches, stats = self._forward_train(X, sample_weight)
        weight_sum = X.shape[0] if sample_weight is None else sample_weight.sum()
        squared_norm = sum(np.vdot(coef, coef) for coef in self.coefs_)
        loss = LOSSES[self.out_activation_](Y, activations[-1], sample_weight)
        loss += 0.5 * self.alpha * squared_norm / weight_sum

        n_hidden = self._n_hidden
        coef_grads = [None] * (n_hidden + 1)
        intercept_grads = [None] * len(self.intercepts_)
        gamma_grads, beta_grads = [None] * n_hidden, [None] * n_hidden
        derivative = DERIVATIVES[self.activation]

        # With the canonical link of each output loss, the gradient with
        # respect to the output pre-activation is out - Y.
        delta = activations[-1] - Y
        if sample_weight is not None:
            delta *= sample_weight[:, np.newaxis]
        intercept_grads[-1] = delta.sum(axis=0) / weight_sum
        for i in range(n_hidden, -1, -1):
            coef_grads[i] = safe_sparse_dot(activations[i].T, delta)
            coef_grads[i] += self.alpha * self.coefs_[i]
            coef_grads[i] /= weight_sum
            if i < n_hidden and not self._is_batch_normalized:
                intercept_grads[i] = delta.sum(axis=0) / weight_sum
            if i == 0:
                break
            delta = delta @ self.coefs_[i].T
            derivative(activations[i], delta)
            if self._is_batch_normalized:
                delta, dgamma, dbeta = batch_norm_backward(
                    delta, caches[i - 1], self.bn_gammas_[i - 1]
                )
                gamma_grads[i - 1] = dgamma / weight_sum
                beta_grads[i - 1] = dbeta / weight_sum

        grads = coef_grads + intercept_grads
        if self._is_batch_normalized:
            grads += gamma_grads + beta_grads
        return float(loss), grads, stats

    # Training ----------------------------------------------------------------

    def _batch_slices(self, n_samples):
        """The mini-batches of one epoch.

        With batch normalization a last mini-batch of fewer than
        ``max(2, batch_size / 2)`` samples is merged into the one before it.
        """
        if self.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if self.batch_size > n_samples:
                warnings.warn(
                    f"batch_size={self.batch_size} is larger than the number of "
                    f"training samples, {n_samples}; it is clipped to {n_samples}.",
                    stacklevel=2,
                )
            batch_size = min(self.batch_size, n_samples)
        slices = list(gen_batches(n_samples, batch_size))
        if not self.batch_norm:
            return slices
        self._check_batch_norm_samples(n_samples)
        if batch_size < _MIN_BATCH_NORM_SAMPLES:
            raise ValueError(
                "Batch normalization needs at least 2 samples in each training "
                f"mini-batch; got batch_size={self.batch_size}, mini-batches of 1 "
                "sample. Use batch_size >= 2 or batch_norm=False."
            )
        last = slices[-1]
        if last.stop - last.start < max(_MIN_BATCH_NORM_SAMPLES, batch_size / 2):
            slices[-2:] = [slice(slices[-2].start, last.stop)]
        return slices

    def _check_batch_norm_samples(self, n_samples):
        if self.batch_norm and n_samples < _MIN_BATCH_NORM_SAMPLES:
            raise ValueError(
                "Batch normalization needs at least 2 samples in each training "
                f"mini-batch; got n_samples={n_samples} training sample. Use more "
                "samples or batch_norm=False."
            )

    def _check_batch_stats(self, stats):
        """Refuse a mini-batch whose weights stand for one sample or less."""
        for batch_stats in stats:
            if not batch_stats.count > 1:
                raise ValueError(
                    "With batch normalization the sample weights of each "
                    "training mini-batch must stand for more than 1 sample: "
                    "the running variance is unbiased, n / (n - 1) times the "
                    "batch's, with n the larger of sum(w) and the effective "
                    "number of samples sum(w)**2 / sum(w**2); got a mini-batch "
                    f"with n = {batch_stats.count:.17g}. Give positive weight "
                    "to at least 2 samples of each mini-batch, or use "
                    "batch_norm=False."
                )

    def _update_running_stats(self, stats):
        for i, batch_stats in enumerate(stats):
            self.bn_running_means_[i], self.bn_running_vars_[i] = update_running_stats(
                self.bn_running_means_[i],
                self.bn_running_vars_[i],
                batch_stats,
                self.bn_momentum,
            )

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
        for name in _TRAINED_LISTS:
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
        X_given, y_given = X, y
        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        if sample_weight is not None:
            # Batch statistics are weighted means: a negative weight is meaningless.
            sample_weight = _check_sample_weight(
                sample_weight,
                X,
                dtype=X.dtype,
                ensure_non_negative=bool(self.batch_norm),
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

        if first_pass:
            self._initialize(layer_units, X.dtype, random_state)
        else:
            self._check_same_network(layer_units)
            X = X.astype(self.coefs_[0].dtype, copy=False)
            if sample_weight is not None:
                sample_weight = sample_weight.astype(X.dtype, copy=False)
            # early_stopping may have been switched since the last fit.
            if (self.validation_scores_ is None) == bool(self.early_stopping):
                self._init_stopping()
        self._begin_training()
        if not is_classifier(self):
            y = y.astype(X.dtype, copy=False)

        data = _TrainingData(X, y, sample_weight, X_given, y_given, metadata)
        if self.solver == "lbfgs":
            self._check_batch_norm_samples(X.shape[0])
            fit_lbfgs(self, data, callback_ctx)
        else:
            fit_stochastic(self, data, random_state, incremental, callback_ctx)

        if not all(np.isfinite(param).all() for param in self._state()):
            raise ValueError(NON_FINITE_MESSAGE)
        self._update_inference_layers()
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


class BatchNormMLPClassifier(ClassifierMixin, _BaseBatchNormMLP):
    r"""Multi-layer perceptron classifier with batch-normalized hidden layers.

    Each hidden layer computes, on a mini-batch ``B`` in training,

    .. code-block:: text

        z       = a_prev @ W
        z_tilde = gamma * (z - mean_B(z)) / sqrt(var_B(z) + bn_epsilon) + beta
        a       = activation(z_tilde)

    (Ioffe and Szegedy, 2015). The gradient goes through ``mean_B`` and
    ``var_B``. Prediction replaces them by running averages kept during
    training. ``beta`` plays the part of the bias, so a normalized layer has
    none. With ``batch_norm=False`` the same network has biases and no
    normalization, like :class:`~sklearn.neural_network.MLPClassifier`, so
    that a grid search can compare the two.

    The output layer is ``a_prev @ W + b`` followed by the softmax
    (multiclass) or the logistic function (binary and multilabel), trained on
    the cross-entropy plus ``alpha / 2 * sum(||W||**2) / n_samples``.

    Parameters
    ----------
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
        The number of units of each hidden layer.

    activation : {'identity', 'logistic', 'tanh', 'relu'}, default='relu'
        The activation of the hidden layers: ``x``, ``1 / (1 + exp(-x))``,
        ``tanh(x)`` or ``max(0, x)``.

    solver : {'lbfgs', 'sgd', 'adam'}, default='adam'
        The optimizer: scipy's L-BFGS-B on the full batch, stochastic
        gradient descent with ``momentum``, or Adam (Kingma and Ba, 2014).
        With 'lbfgs' and batch normalization, training normalizes with the
        statistics of the whole training set, and prediction with the same
        statistics at the final parameters (see ``bn_running_vars_``).
        :meth:`partial_fit` exists only for 'sgd' and 'adam'.

    alpha : float, default=0.0001
        Strength of the L2 penalty on the weights ``W`` (not on biases,
        ``gamma`` or ``beta``).

    batch_size : int or 'auto', default='auto'
        Size of the training mini-batches; 'auto' is ``min(200, n_samples)``.
        With batch normalization it must be at least 2, and the last
        mini-batch of an epoch, which holds the samples left over, is merged
        into the one before it when it would hold fewer than
        ``max(2, batch_size / 2)`` samples: no sample is dropped, and no
        mini-batch is too small for its statistics (see Notes).

    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        Learning rate schedule of the 'sgd' solver: constant, divided by
        ``t ** power_t`` after each epoch (``t`` the number of samples seen),
        or divided by 5 each time the loss stalls (see ``n_iter_no_change``).

    learning_rate_init : float, default=0.001
        The initial learning rate.

    power_t : float, default=0.5
        The exponent of the 'invscaling' schedule.

    max_iter : int, default=200
        The maximum number of epochs (passes over the training data).

    shuffle : bool, default=True
        Whether to shuffle the samples before each epoch.

    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialization, the shuffling and the early-stopping
        split. Pass an int for reproducible results.

    tol : float, default=1e-4
        Training stops when the loss (or the validation score, with early
        stopping) has not improved by at least ``tol`` for
        ``n_iter_no_change`` consecutive epochs.

    verbose : bool, default=False
        Whether to print the loss and the time of each epoch.

    warm_start : bool, default=False
        If True, :meth:`fit` starts from the previous solution (the same
        network must fit the data) instead of a fresh initialization.

    momentum : float, default=0.9
        Momentum of the 'sgd' solver, in [0, 1].

    nesterovs_momentum : bool, default=True
        Whether the 'sgd' solver uses Nesterov's momentum.

    early_stopping : bool, default=False
        Whether to hold out ``validation_fraction`` of the training data
        (stratified for binary targets, as MLPClassifier does) and stop when
        its accuracy stalls; the parameters of the best epoch are kept. If
        the loss becomes non-finite, training stops, NaN is recorded in
        ``validation_scores_``, a ConvergenceWarning is given and the best
        epoch's parameters are kept (as scikit-learn does since its issue
        #29504). Without early stopping a non-finite loss raises
        ``ValueError("Solver produced non-finite parameter weights...")``
        and leaves the estimator as it was. Ignored by 'lbfgs'.

    validation_fraction : float, default=0.1
        The share of the training data held out for early stopping.

    beta_1 : float, default=0.9
        Decay rate of Adam's first-moment estimates, in [0, 1).

    beta_2 : float, default=0.999
        Decay rate of Adam's second-moment estimates, in [0, 1).

    epsilon : float, default=1e-8
        Adam's term for numerical stability. The batch-norm ``epsilon`` is
        ``bn_epsilon``.

    n_iter_no_change : int, default=10
        The number of epochs without an improvement of ``tol`` that stop
        training.

    max_fun : int, default=15000
        The maximum number of loss evaluations of the 'lbfgs' solver; it
        stops at ``max_iter`` iterations or ``max_fun`` evaluations, and
        ``tol`` is its gradient tolerance, as in scikit-learn's MLPs.

    batch_norm : bool, default=True
        Whether the hidden layers are batch-normalized. False gives the same
        network with a bias per hidden layer instead.

    bn_momentum : float in (0, 1], default=0.1
        The weight of each mini-batch in the running statistics, PyTorch's
        convention: ``running = (1 - bn_momentum) * running + bn_momentum *
        batch``. Keras' ``momentum`` is ``1 - bn_momentum``.

    bn_epsilon : float, default=1e-5
        Added to the variance inside the square root of batch normalization.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels.

    loss_ : float
        The training loss of the last epoch.

    best_loss_ : float or None
        The smallest training loss reached; None with early stopping.

    loss_curve_ : list of float
        The training loss of each epoch: the mean over its samples (each
        mini-batch's loss weighted by its size). 'lbfgs' adds nothing to it;
        its final loss is ``loss_``.

    validation_scores_ : list of float or None
        The accuracy on the held-out set after each epoch, with early
        stopping; None otherwise.

    best_validation_score_ : float or None
        The best of ``validation_scores_``; None without early stopping.

    t_ : int
        The number of training samples seen.

    coefs_ : list of ndarray
        ``coefs_[i]`` is the weight matrix of layer ``i + 1``, of shape
        (units of layer ``i``, units of layer ``i + 1``).

    intercepts_ : list of ndarray
        The biases. With ``batch_norm=True`` only the output layer has one, and
        the list holds it alone; otherwise ``intercepts_[i]`` is the bias of
        layer ``i + 1``. ``intercepts_[-1]`` is always the output layer's.

    bn_gammas_, bn_betas_ : list of ndarray or None
        The learned scale and shift of each hidden layer's batch
        normalization; None with ``batch_norm=False``.

    bn_running_means_, bn_running_vars_ : list of ndarray or None
        The running mean and unbiased variance of each hidden layer's
        pre-activations ``z``, used for prediction; None with
        ``batch_norm=False``. They start at 0 and 1, as in PyTorch. With
        ``solver='lbfgs'`` they are the mean and the biased variance of the
        whole training set (weighted by ``sample_weight``) at the final
        parameters: exactly the statistics L-BFGS trained with.

    n_features_in_ : int
        Number of features seen during :term:`fit`.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :term:`fit`. Defined only when `X`
        has feature names that are all strings.

    n_iter_ : int
        The number of epochs (L-BFGS iterations with 'lbfgs') run by the last
        call to :meth:`fit` (1 after :meth:`partial_fit`).

    n_layers_ : int
        The number of layers, input and output included.

    n_outputs_ : int
        The number of output units.

    out_activation_ : str
        The output activation: 'softmax' or 'logistic'.

    See Also
    --------
    BatchNormMLPRegressor : The same network for regression.
    sklearn.neural_network.MLPClassifier : The network without normalization.
    BatchNormScaler : Batch normalization of the input features.

    Notes
    -----
    Training normalizes with the statistics of each mini-batch, so a sample's
    output in training depends on the other samples of its batch; prediction
    does not, and gives each sample the same output whatever it is predicted
    with. The running statistics follow :class:`torch.nn.BatchNorm1d`: the
    variance kept is the unbiased one, ``n / (n - 1)`` times the batch
    variance used for normalization.

    The statistics of a very small mini-batch are noise: normalizing 3 samples
    gives outputs of about +-1 whatever their values. A small left-over
    batch at the end of each epoch is enough to stop a deep network from
    training (20 hidden layers on the digits with ``batch_size=64`` and
    1347 training samples, which leave 3 over), which is why it is merged
    into the previous mini-batch. PyTorch users drop it (``drop_last=True``).

    Prediction folds each batch norm into the weights and biases of its
    layer, ``W * scale`` and ``beta - running_mean * scale`` with ``scale =
    gamma / sqrt(running_var + bn_epsilon)``, computed in float64 once per fit:
    a normalized network predicts as fast as one without normalization.

    Float32 input trains in float32, float64 input in float64.

    References
    ----------
    :arxiv:`Ioffe, Sergey, and Christian Szegedy (2015). "Batch normalization:
    Accelerating deep network training by reducing internal covariate shift."
    <1502.03167>`

    Examples
    --------
    A network of three batch-normalized hidden layers on the digits:

    >>> from sklearn.datasets import load_digits
    >>> from sklearn.model_selection import train_test_split
    >>> from sklearn_bn import BatchNormMLPClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> X_train, X_test, y_train, y_test = train_test_split(X / 16, y, random_state=0)
    >>> clf = BatchNormMLPClassifier((64, 64, 64), random_state=0)
    >>> clf = clf.fit(X_train, y_train)
    >>> [gamma.shape for gamma in clf.bn_gammas_]
    [(64,), (64,), (64,)]
    >>> clf.score(X_test, y_test) > 0.95
    True

    A single sample cannot be batch-normalized in training:

    >>> clf.partial_fit(X_train[:1], y_train[:1])
    Traceback (most recent call last):
    ...
    ValueError: Batch normalization needs at least 2 samples ...
    """

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse="csr",
            multi_output=True,
            dtype=(np.float64, np.float32),
            reset=reset,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)

        # fit without warm start learns the classes; warm_start must see the
        # same ones; partial_fit's were given by its first call.
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer().fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            # scikit-learn's words, which users and wrapping libraries match on.
            if self.warm_start and not incremental:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same "
                        "classes as in the previous call to fit. Previously "
                        f"got {self.classes_}, `y` has {classes}"
                    )
            elif np.setdiff1d(classes, self.classes_, assume_unique=True).size:
                raise ValueError(
                    "`y` has classes not in `self.classes_`. "
                    f"`self.classes_` has {self.classes_}. 'y' has {classes}."
                )
        # bool keeps float32 training in float32.
        return X, self._label_binarizer.transform(y).astype(bool)

    def _output_activation(self):
        if self._label_binarizer.y_type_ == "multiclass":
            return "softmax"
        return "logistic"

    def _score_function(self, y, y_pred, sample_weight=None):
        return accuracy_score(y, y_pred, sample_weight=sample_weight)

    def _predict(self, X, check_input=True):
        if check_input:
            X = validate_data(self, X, accept_sparse="csr", reset=False)
        y_pred = self._forward_predict(X)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        return self._label_binarizer.inverse_transform(y_pred)

    @available_if(_check_solver)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Train for one epoch on the given data, continuing from the current state.

        Only with the stochastic solvers ('sgd', 'adam'), as in MLPClassifier.
        A diverging epoch raises ``ValueError("Solver produced non-finite
        parameter weights...")`` and leaves the estimator as it was.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data. With batch normalization, at least 2 samples.

        y : array-like of shape (n_samples,) or (n_samples, n_classes)
            The class labels, or a label-indicator matrix for multilabel data.

        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples, as in :meth:`fit`.

        classes : array-like of shape (n_classes,), default=None
            All the classes that will ever be seen. Required on the first call;
            later calls may omit it or must give ``classes_`` again.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._restoring(self._partial_fit, X, y, sample_weight, classes)

    def _partial_fit(self, X, y, sample_weight, classes):
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X):
        """Predict the class of each sample, using the running statistics.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_classes)
            The predicted classes, or label indicators for multilabel data.
        """
        check_is_fitted(self)
        return self._predict(X)

    def predict_proba(self, X):
        """Probability of each class, using the running statistics.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            The probability of each class, in the order of ``classes_``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse="csr", reset=False)
        proba = self._forward_predict(X)
        if self.n_outputs_ == 1:
            return np.hstack([1 - proba, proba])
        return proba

    def predict_log_proba(self, X):
        """Logarithm of the probability of each class.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            ``log(predict_proba(X))``.
        """
        proba = self.predict_proba(X)
        return np.log(proba, out=proba)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class BatchNormMLPRegressor(RegressorMixin, _BaseBatchNormMLP):
    r"""Multi-layer perceptron regressor with batch-normalized hidden layers.

    Each hidden layer computes, on a mini-batch ``B`` in training,

    .. code-block:: text

        z       = a_prev @ W
        z_tilde = gamma * (z - mean_B(z)) / sqrt(var_B(z) + bn_epsilon) + beta
        a       = activation(z_tilde)

    (Ioffe and Szegedy, 2015). The gradient goes through ``mean_B`` and
    ``var_B``. Prediction replaces them by running averages kept during
    training. ``beta`` plays the part of the bias, so a normalized layer has
    none. With ``batch_norm=False`` the same network has biases and no
    normalization, like :class:`~sklearn.neural_network.MLPRegressor`, so
    that a grid search can compare the two.

    The output layer is linear, ``a_prev @ W + b``, trained on half the
    squared error summed over outputs and averaged over samples, plus
    ``alpha / 2 * sum(||W||**2) / n_samples``; with ``loss='poisson'`` it is
    ``exp(a_prev @ W + b)``, trained on half the Poisson deviance.

    Parameters
    ----------
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
        The number of units of each hidden layer.

    activation : {'identity', 'logistic', 'tanh', 'relu'}, default='relu'
        The activation of the hidden layers: ``x``, ``1 / (1 + exp(-x))``,
        ``tanh(x)`` or ``max(0, x)``.

    loss : {'squared_error', 'poisson'}, default='squared_error'
        The loss of the output layer: half the squared error with an identity
        output, or half the Poisson deviance with an exponential output (a log
        link; the targets must be non-negative), as in MLPRegressor.

    solver : {'lbfgs', 'sgd', 'adam'}, default='adam'
        The optimizer: scipy's L-BFGS-B on the full batch, stochastic
        gradient descent with ``momentum``, or Adam (Kingma and Ba, 2014).
        With 'lbfgs' and batch normalization, training normalizes with the
        statistics of the whole training set, and prediction with the same
        statistics at the final parameters (see ``bn_running_vars_``).
        :meth:`partial_fit` exists only for 'sgd' and 'adam'.

    alpha : float, default=0.0001
        Strength of the L2 penalty on the weights ``W`` (not on biases,
        ``gamma`` or ``beta``).

    batch_size : int or 'auto', default='auto'
        Size of the training mini-batches; 'auto' is ``min(200, n_samples)``.
        With batch normalization it must be at least 2, and the last
        mini-batch of an epoch, which holds the samples left over, is merged
        into the one before it when it would hold fewer than
        ``max(2, batch_size / 2)`` samples: no sample is dropped, and no
        mini-batch is too small for its statistics (see Notes).

    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        Learning rate schedule of the 'sgd' solver: constant, divided by
        ``t ** power_t`` after each epoch (``t`` the number of samples seen),
        or divided by 5 each time the loss stalls (see ``n_iter_no_change``).

    learning_rate_init : float, default=0.001
        The initial learning rate.

    power_t : float, default=0.5
        The exponent of the 'invscaling' schedule.

    max_iter : int, default=200
        The maximum number of epochs (passes over the training data).

    shuffle : bool, default=True
        Whether to shuffle the samples before each epoch.

    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialization, the shuffling and the early-stopping
        split. Pass an int for reproducible results.

    tol : float, default=1e-4
        Training stops when the loss (or the validation score, with early
        stopping) has not improved by at least ``tol`` for
        ``n_iter_no_change`` consecutive epochs.

    verbose : bool, default=False
        Whether to print the loss and the time of each epoch.

    warm_start : bool, default=False
        If True, :meth:`fit` starts from the previous solution (the same
        network must fit the data) instead of a fresh initialization.

    momentum : float, default=0.9
        Momentum of the 'sgd' solver, in [0, 1].

    nesterovs_momentum : bool, default=True
        Whether the 'sgd' solver uses Nesterov's momentum.

    early_stopping : bool, default=False
        Whether to hold out ``validation_fraction`` of the training data and
        stop when its R² stalls; the parameters of the best epoch are kept.
        If the loss becomes non-finite, training stops, NaN is recorded in
        ``validation_scores_``, a ConvergenceWarning is given and the best
        epoch's parameters are kept (as scikit-learn does since its issue
        #29504). Without early stopping a non-finite loss raises
        ``ValueError("Solver produced non-finite parameter weights...")``
        and leaves the estimator as it was. Ignored by 'lbfgs'.

    validation_fraction : float, default=0.1
        The share of the training data held out for early stopping.

    beta_1 : float, default=0.9
        Decay rate of Adam's first-moment estimates, in [0, 1).

    beta_2 : float, default=0.999
        Decay rate of Adam's second-moment estimates, in [0, 1).

    epsilon : float, default=1e-8
        Adam's term for numerical stability. The batch-norm ``epsilon`` is
        ``bn_epsilon``.

    n_iter_no_change : int, default=10
        The number of epochs without an improvement of ``tol`` that stop
        training.

    max_fun : int, default=15000
        The maximum number of loss evaluations of the 'lbfgs' solver; it
        stops at ``max_iter`` iterations or ``max_fun`` evaluations, and
        ``tol`` is its gradient tolerance, as in scikit-learn's MLPs.

    batch_norm : bool, default=True
        Whether the hidden layers are batch-normalized. False gives the same
        network with a bias per hidden layer instead.

    bn_momentum : float in (0, 1], default=0.1
        The weight of each mini-batch in the running statistics, PyTorch's
        convention: ``running = (1 - bn_momentum) * running + bn_momentum *
        batch``. Keras' ``momentum`` is ``1 - bn_momentum``.

    bn_epsilon : float, default=1e-5
        Added to the variance inside the square root of batch normalization.

    Attributes
    ----------
    loss_ : float
        The training loss of the last epoch.

    best_loss_ : float or None
        The smallest training loss reached; None with early stopping.

    loss_curve_ : list of float
        The training loss of each epoch: the mean over its samples (each
        mini-batch's loss weighted by its size). 'lbfgs' adds nothing to it;
        its final loss is ``loss_``.

    validation_scores_ : list of float or None
        The R² on the held-out set after each epoch, with early stopping;
        None otherwise.

    best_validation_score_ : float or None
        The best of ``validation_scores_``; None without early stopping.

    t_ : int
        The number of training samples seen.

    coefs_ : list of ndarray
        ``coefs_[i]`` is the weight matrix of layer ``i + 1``, of shape
        (units of layer ``i``, units of layer ``i + 1``).

    intercepts_ : list of ndarray
        The biases. With ``batch_norm=True`` only the output layer has one, and
        the list holds it alone; otherwise ``intercepts_[i]`` is the bias of
        layer ``i + 1``. ``intercepts_[-1]`` is always the output layer's.

    bn_gammas_, bn_betas_ : list of ndarray or None
        The learned scale and shift of each hidden layer's batch
        normalization; None with ``batch_norm=False``.

    bn_running_means_, bn_running_vars_ : list of ndarray or None
        The running mean and unbiased variance of each hidden layer's
        pre-activations ``z``, used for prediction; None with
        ``batch_norm=False``. They start at 0 and 1, as in PyTorch. With
        ``solver='lbfgs'`` they are the mean and the biased variance of the
        whole training set (weighted by ``sample_weight``) at the final
        parameters: exactly the statistics L-BFGS trained with.

    n_features_in_ : int
        Number of features seen during :term:`fit`.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :term:`fit`. Defined only when `X`
        has feature names that are all strings.

    n_iter_ : int
        The number of epochs (L-BFGS iterations with 'lbfgs') run by the last
        call to :meth:`fit` (1 after :meth:`partial_fit`).

    n_layers_ : int
        The number of layers, input and output included.

    n_outputs_ : int
        The number of outputs.

    out_activation_ : str
        The output activation: 'identity', or 'exp' with ``loss='poisson'``.

    See Also
    --------
    BatchNormMLPClassifier : The same network for classification.
    sklearn.neural_network.MLPRegressor : The network without normalization.
    BatchNormScaler : Batch normalization of the input features.

    Notes
    -----
    Training normalizes with the statistics of each mini-batch, so a sample's
    output in training depends on the other samples of its batch; prediction
    does not. The running statistics follow :class:`torch.nn.BatchNorm1d`: the
    variance kept is the unbiased one, ``n / (n - 1)`` times the batch
    variance used for normalization.

    The statistics of a very small mini-batch are noise, so with batch
    normalization a small left-over batch at the end of an epoch is merged
    into the previous mini-batch (see ``batch_size``); PyTorch users drop it
    (``drop_last=True``).

    With several outputs, the loss is summed over them; MLPRegressor reports
    their mean in ``loss_curve_`` while following the gradient of the sum.

    Prediction folds each batch norm into the weights and biases of its
    layer, ``W * scale`` and ``beta - running_mean * scale`` with ``scale =
    gamma / sqrt(running_var + bn_epsilon)``, computed in float64 once per fit:
    a normalized network predicts as fast as one without normalization.

    Float32 input trains in float32, float64 input in float64.

    References
    ----------
    :arxiv:`Ioffe, Sergey, and Christian Szegedy (2015). "Batch normalization:
    Accelerating deep network training by reducing internal covariate shift."
    <1502.03167>`

    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> from sklearn.model_selection import train_test_split
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_bn import BatchNormMLPRegressor
    >>> X, y = make_regression(n_samples=400, n_features=10, noise=1, random_state=0)
    >>> X_train, X_test, y_train, y_test = train_test_split(X, y / 100, random_state=0)
    >>> reg = make_pipeline(
    ...     StandardScaler(),
    ...     BatchNormMLPRegressor((32, 32), learning_rate_init=0.01, random_state=0),
    ... )
    >>> reg = reg.fit(X_train, y_train)
    >>> reg.score(X_test, y_test) > 0.9
    True
    """

    _parameter_constraints: dict = {
        **_BaseBatchNormMLP._parameter_constraints,
        "loss": [StrOptions({"squared_error", "poisson"})],
    }

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        loss="squared_error",
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
        bn_momentum=0.1,
        bn_epsilon=1e-5,
    ):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            solver=solver,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            power_t=power_t,
            max_iter=max_iter,
            shuffle=shuffle,
            random_state=random_state,
            tol=tol,
            verbose=verbose,
            warm_start=warm_start,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            n_iter_no_change=n_iter_no_change,
            max_fun=max_fun,
            batch_norm=batch_norm,
            bn_momentum=bn_momentum,
            bn_epsilon=bn_epsilon,
        )
        self.loss = loss

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse="csr",
            multi_output=True,
            y_numeric=True,
            dtype=(np.float64, np.float32),
            reset=reset,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and y.size and y.min() < 0:
            raise ValueError(
                "loss='poisson' needs non-negative targets; got y with a minimum "
                f"of {y.min()}."
            )
        return X, y

    def _output_activation(self):
        return "exp" if self.loss == "poisson" else "identity"

    def _score_function(self, y, y_pred, sample_weight=None):
        return r2_score(y, y_pred, sample_weight=sample_weight)

    def _predict(self, X, check_input=True):
        if check_input:
            X = validate_data(self, X, accept_sparse="csr", reset=False)
        y_pred = self._forward_predict(X)
        if self.n_outputs_ == 1:
            return y_pred.ravel()
        return y_pred

    @available_if(_check_solver)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Train for one epoch on the given data, continuing from the current state.

        Only with the stochastic solvers ('sgd', 'adam'), as in MLPRegressor.
        A diverging epoch raises ``ValueError("Solver produced non-finite
        parameter weights...")`` and leaves the estimator as it was.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data. With batch normalization, at least 2 samples.

        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The target values.

        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples, as in :meth:`fit`.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._restoring(self._fit, X, y, sample_weight, incremental=True)

    def predict(self, X):
        """Predict the target of each sample, using the running statistics.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The predicted values.
        """
        check_is_fitted(self)
        return self._predict(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
