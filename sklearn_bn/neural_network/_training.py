"""The training loops of the networks: stochastic epochs and L-BFGS.

:class:`TrainingMixin` gives the estimators the methods that train them, as
scikit-learn's ``BaseMultilayerPerceptron`` has ``_fit_stochastic`` and
``_fit_lbfgs``: they decide what data each step sees, call the optimizer,
keep the stopping rule and its counters on the estimator, and talk to
scikit-learn's callbacks (one subtask per epoch, or per L-BFGS iteration).
The network itself (its passes, parameters and state) is the estimator's
(``_network.py``).

Nothing here writes into an array or a list the estimator held before the
call (see ``_optimizers.py``), so that a failed call can be undone.
"""

import math
import time
import warnings
from typing import NamedTuple

import numpy as np
import scipy
import scipy.optimize
from sklearn.base import is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import gen_batches

from ._optimizers import OPTIMIZER_PARAMS, make_optimizer

# scipy.optimize.minimize ends on a StopIteration from its callback from 1.11.
_SCIPY_STOPS_ON_STOP_ITERATION = tuple(
    int(part) for part in scipy.__version__.split(".")[:2]
) >= (1, 11)

# The mini-batches whose batch statistics wait to be stepped into the running
# statistics together: few enough calls per epoch that each costs little per
# mini-batch, and a bounded memory (each keeps two vectors a layer) whatever
# the epoch's length.
_PENDING_BATCHES = 64

# scikit-learn's words, which users and wrapping libraries match on.
NON_FINITE_MESSAGE = (
    "Solver produced non-finite parameter weights. The input data may contain "
    "large values and need to be preprocessed."
)


class TrainingData(NamedTuple):
    """What the training loops see: X and y as the network takes them, and the
    data as given, for the callbacks."""

    X: object
    y: np.ndarray
    sample_weight: np.ndarray | None
    X_given: object
    y_given: object
    metadata: dict


class TrainingDiverged(Exception):
    """The loss of a mini-batch became non-finite; no step was taken on it."""


class TrainingMixin:
    """The training loops, as methods of the networks."""

    # Stochastic solvers --------------------------------------------------------

    def _fit_stochastic(self, data, random_state, incremental, callback_ctx):
        """Train ``self`` with 'sgd' or 'adam' on ``data`` (a ``TrainingData``)."""
        state = getattr(self, "_optimizer_state", None) if incremental else None
        n_decayed = sum(coef.size for coef in self.coefs_)
        # The optimizers' parameters, without get_params' introspection.
        params = {name: getattr(self, name) for name in OPTIMIZER_PARAMS}
        optimizer = make_optimizer(params, self._trained(), state, n_decayed)
        self._optimizer_state = optimizer.state
        # The optimizer's copies: training updates them in place.
        self._set_trained(optimizer.params)

        train, validation = self._split_validation(data, random_state)
        batches = self._batch_slices(train.X.shape[0])
        self._run_epochs(
            optimizer,
            train,
            validation,
            batches,
            random_state,
            incremental,
            data,
            callback_ctx,
        )
        if self.early_stopping:
            self._set_state(list(self._best_state))

    def _batch_slices(self, n_samples):
        """The mini-batches of one epoch.

        With a normalization by batch statistics a last mini-batch of fewer
        than ``max(2, batch_size / 2)`` samples is merged into the one before
        it.
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
        min_batch = self._normalization.min_batch
        if min_batch <= 1:
            return slices
        self._check_batch_norm_samples(n_samples)
        if batch_size < min_batch:
            raise ValueError(
                f"batch_norm={self._normalization.describe()} normalizes with "
                "the statistics of each training mini-batch, which needs at "
                f"least 2 samples; got batch_size={self.batch_size}, mini-batches "
                "of 1 sample. Use batch_size >= 2, or LayerNorm(), RMSNorm() or "
                "batch_norm=False."
            )
        last = slices[-1]
        if last.stop - last.start < max(min_batch, batch_size / 2):
            slices[-2:] = [slice(slices[-2].start, last.stop)]
        return slices

    def _check_batch_norm_samples(self, n_samples):
        if n_samples < self._normalization.min_batch:
            raise ValueError(
                f"batch_norm={self._normalization.describe()} normalizes with "
                "the statistics of each training mini-batch, which needs at "
                f"least 2 samples; got n_samples={n_samples} training sample. "
                "Use more samples, or LayerNorm(), RMSNorm() or "
                "batch_norm=False, which accept one."
            )

    def _split_validation(self, data, random_state):
        if not self.early_stopping:
            return data, None
        # Stratify single-output classification only, as MLPClassifier does.
        stratify = data.y if is_classifier(self) and self.n_outputs_ == 1 else None
        arrays = [data.X, data.y]
        if data.sample_weight is not None:
            arrays.append(data.sample_weight)
        split = train_test_split(
            *arrays,
            random_state=random_state,
            test_size=self.validation_fraction,
            stratify=stratify,
        )
        X_train, X_val, y_train, y_val = split[:4]
        sw_train, sw_val = split[4:] if data.sample_weight is not None else (None, None)
        if X_val.shape[0] < 2:
            raise ValueError(
                "The validation set is too small: it has "
                f"{X_val.shape[0]} sample. Increase validation_fraction="
                f"{self.validation_fraction} or the number of samples."
            )
        if is_classifier(self):
            y_val = self._label_binarizer.inverse_transform(y_val)
        return data._replace(
            X=X_train, y=y_train, sample_weight=sw_train
        ), data._replace(X=X_val, y=y_val, sample_weight=sw_val)

    def _run_epochs(
        self,
        optimizer,
        train,
        validation,
        batches,
        random_state,
        incremental,
        data,
        ctx,
    ):
        n_samples = train.X.shape[0]
        sample_idx = np.arange(n_samples)
        self.n_iter_ = 0
        for _ in range(self.max_iter):
            epoch_ctx = ctx.subcontext(task_name="epoch")
            epoch_ctx.call_on_fit_task_begin(
                estimator=self, X=data.X_given, y=data.y_given, metadata=data.metadata
            )
            start = time.perf_counter()
            if self.shuffle:
                # sklearn.utils.shuffle's draw, without its checks.
                order = np.arange(n_samples)
                random_state.shuffle(order)
                sample_idx = sample_idx[order]
            try:
                self.loss_ = self._run_epoch(
                    optimizer, train, batches, sample_idx, random_state
                )
            except TrainingDiverged:
                self.loss_ = np.nan
            self.n_iter_ += 1
            self.t_ += n_samples
            self.loss_curve_.append(self.loss_)
            if self.verbose:
                print(
                    f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}, "
                    f"time = {time.perf_counter() - start:.4f}s"
                )
            if not np.isfinite(self.loss_):
                epoch_ctx.call_on_fit_task_end(
                    estimator=self,
                    X=data.X_given,
                    y=data.y_given,
                    metadata=data.metadata,
                )
                self._diverged()
                return
            self._update_no_improvement_count(validation)
            optimizer.iteration_ends(self.t_)
            if epoch_ctx.call_on_fit_task_end(
                estimator=self,
                X=data.X_given,
                y=data.y_given,
                metadata=data.metadata,
                reconstruction_attributes=self._reconstruction_attributes,
            ):
                break
            if self._no_improvement_count > self.n_iter_no_change:
                message = self._stall_message()
                if optimizer.trigger_stopping(message, self.verbose):
                    break
                self._no_improvement_count = 0
            if incremental:
                break
            if self.n_iter_ == self.max_iter:
                warnings.warn(
                    f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) "
                    "reached and the optimization hasn't converged yet.",
                    ConvergenceWarning,
                    stacklevel=4,
                )

    def _run_epoch(self, optimizer, train, batches, sample_idx, random_state):
        """One pass over the mini-batches; returns the mean training loss.

        ``random_state`` draws the dropout masks, a fresh one for every
        mini-batch and every layer (none when ``dropout=0``).
        """
        X, y, sample_weight = train.X, train.y, train.sample_weight
        kind = self._normalization
        accumulated_loss = 0.0
        # The batch statistics not yet stepped into the running statistics:
        # stepped in one call per layer for up to _PENDING_BATCHES mini-batches
        # (and at the end of the epoch), unless the forward pass reads the
        # running statistics.
        pending = []
        # Overflow shows as a non-finite loss, handled by the caller.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            try:
                for batch in batches:
                    batch_idx = sample_idx[batch] if self.shuffle else batch
                    batch_weight = (
                        None if sample_weight is None else sample_weight[batch_idx]
                    )
                    loss, n_samples, stats = self._backprop(
                        X[batch_idx],
                        y[batch_idx],
                        batch_weight,
                        random_state,
                        out=optimizer.grads,
                        kind=kind,
                    )
                    # Before the loss: a mini-batch of zero weight has a NaN loss.
                    self._check_batch_stats(stats, kind)
                    if not math.isfinite(loss):
                        raise TrainingDiverged
                    accumulated_loss += loss * (batch.stop - batch.start)
                    optimizer.step(n_samples)
                    pending.append(stats)
                    if kind.statistics_in_training or len(pending) == _PENDING_BATCHES:
                        stepped, pending = pending, []
                        self._update_running_stats(stepped, kind)
            finally:
                # Also on an error: the statistics of every step taken (once).
                if pending:
                    self._update_running_stats(pending, kind)
        return accumulated_loss / X.shape[0]

    def _diverged(self):
        """A non-finite loss: an error, or with early stopping, the best epoch kept."""
        if not self.early_stopping:
            raise ValueError(NON_FINITE_MESSAGE)
        self.validation_scores_.append(np.nan)
        warnings.warn(
            f"Training diverged in epoch {self.n_iter_}: the loss became non-finite. "
            "The parameters of the epoch with the best validation score are kept "
            f"(best_validation_score_={self.best_validation_score_}). "
            f"learning_rate_init={self.learning_rate_init} may be too large.",
            ConvergenceWarning,
            stacklevel=5,
        )

    def _stall_message(self):
        what = "Validation score" if self.early_stopping else "Training loss"
        return (
            f"{what} did not improve more than tol={self.tol:f} for "
            f"{self.n_iter_no_change} consecutive epochs."
        )

    def _update_no_improvement_count(self, validation):
        if not self.early_stopping:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            self.best_loss_ = min(self.best_loss_, self.loss_curve_[-1])
            return

        # A diverging network predicts inf or NaN: scored NaN, without warnings.
        with np.errstate(over="ignore", invalid="ignore"):
            score = self._score(validation.X, validation.y, validation.sample_weight)
        self.validation_scores_.append(score)
        if self.verbose:
            print(f"Validation score: {score:f}")
        if score < self.best_validation_score_ + self.tol:
            self._no_improvement_count += 1
        else:
            self._no_improvement_count = 0
        if score > self.best_validation_score_:
            self.best_validation_score_ = score
            self._best_state = [param.copy() for param in self._state()]

    # L-BFGS ------------------------------------------------------------------

    def _fit_lbfgs(self, data, callback_ctx):
        """Train ``self`` with scipy's L-BFGS-B on the full batch.

        With batch normalization every evaluation normalizes with the statistics
        of the whole training set; at the end the running statistics are set to
        those statistics (the biased variance) at the final parameters, so that
        prediction computes the function L-BFGS minimized.
        """
        params = self._trained()
        shapes = [param.shape for param in params]
        dtype = params[0].dtype
        bounds = np.cumsum([0] + [param.size for param in params])

        def unpack(packed):
            packed = packed.astype(dtype, copy=False)
            self._set_trained(
                [
                    packed[start:stop].reshape(shape)
                    for start, stop, shape in zip(
                        bounds[:-1], bounds[1:], shapes, strict=True
                    )
                ]
            )

        def loss_and_gradient(packed):
            unpack(packed)
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                loss, grads, _ = self._backprop(data.X, data.y, data.sample_weight)
            # scipy's L-BFGS-B (Fortran before 1.15) takes float64 gradients only.
            return float(loss), np.concatenate([grad.ravel() for grad in grads]).astype(
                np.float64
            )

        packed = np.concatenate([param.ravel() for param in params])
        bridge = _LbfgsCallbackBridge(self, data, callback_ctx, unpack)
        result = scipy.optimize.minimize(
            loss_and_gradient,
            packed,
            method="L-BFGS-B",
            jac=True,
            options={
                "maxfun": self.max_fun,
                "maxiter": self.max_iter,
                "gtol": self.tol,
            },
            callback=bridge,
        )
        bridge.close()
        self.n_iter_ = min(result.nit, self.max_iter)
        self.loss_ = float(result.fun)
        unpack(result.x)
        if result.status != 0:
            warnings.warn(
                f"lbfgs failed to converge after {self.n_iter_} iteration(s) "
                f"(status={result.status}): {result.message}. Increase max_iter="
                f"{self.max_iter} or max_fun={self.max_fun}, or scale the data.",
                ConvergenceWarning,
                stacklevel=4,
            )
        if self._normalization.statistics_names:
            with np.errstate(over="ignore", invalid="ignore"):
                _, _, stats = self._forward_train(data.X, data.sample_weight)
            self._set_statistics(self._full_batch_statistics(stats))


class _LbfgsCallbackBridge:
    """One callback subtask per L-BFGS iteration, as LogisticRegression does.

    scipy calls ``callback(xk)`` at the end of each iteration: that ends the
    current subtask and begins the next. The last one begun never runs and
    is ended, empty, by ``close``. A callback asking to stop ends the
    minimization (scipy 1.11 or later; before, it is not asked).
    """

    def __init__(self, est, data, ctx, unpack):
        self.est, self.data, self.ctx, self.unpack = est, data, ctx, unpack
        self.n_iter = 0
        self.iteration_ctx = self._begin()

    def _begin(self):
        iteration_ctx = self.ctx.subcontext(task_name="lbfgs iteration")
        iteration_ctx.call_on_fit_task_begin(
            estimator=self.est,
            X=self.data.X_given,
            y=self.data.y_given,
            metadata=self.data.metadata,
        )
        return iteration_ctx

    def __call__(self, xk):
        self.n_iter += 1
        self.unpack(xk)
        if self.est.verbose:
            print(f"Iteration {self.n_iter}")
        stop = self.iteration_ctx.call_on_fit_task_end(
            estimator=self.est,
            X=self.data.X_given,
            y=self.data.y_given,
            metadata=self.data.metadata,
            reconstruction_attributes=self._reconstruction_attributes,
        )
        self.iteration_ctx = self._begin()
        if stop and _SCIPY_STOPS_ON_STOP_ITERATION:
            raise StopIteration

    def _reconstruction_attributes(self):
        est, data = self.est, self.data
        if not est._normalization.statistics_names:
            return est._reconstruction_attributes()
        # Prediction at this iteration: the full batch's statistics.
        with np.errstate(over="ignore", invalid="ignore"):
            _, _, stats = est._forward_train(data.X, data.sample_weight)
        return est._reconstruction_attributes(est._full_batch_statistics(stats))

    def close(self):
        self.iteration_ctx.call_on_fit_task_end(estimator=self.est)
