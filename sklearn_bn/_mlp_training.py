"""The training loops of the batch-norm MLPs: stochastic epochs and L-BFGS.

The estimator (``_mlp.py``) validates the input, initializes the network and
computes the loss and its gradient (``_backprop``); the functions here decide
what data each step sees, call the optimizer, keep the stopping rule and talk
to scikit-learn's callbacks: one subtask per epoch, or per L-BFGS iteration.

Nothing here writes into an array or a list the estimator held before the
call (see ``_mlp_optimizers.py``), so that a failed call can be undone.
"""

import time
import warnings

import numpy as np
import scipy
import scipy.optimize
from sklearn.base import is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import shuffle

from ._mlp_optimizers import make_optimizer

# scipy.optimize.minimize ends on a StopIteration from its callback from 1.11.
_SCIPY_STOPS_ON_STOP_ITERATION = tuple(
    int(part) for part in scipy.__version__.split(".")[:2]
) >= (1, 11)

# scikit-learn's words, which users and wrapping libraries match on.
NON_FINITE_MESSAGE = (
    "Solver produced non-finite parameter weights. The input data may contain "
    "large values and need to be preprocessed."
)


class TrainingDiverged(Exception):
    """The loss of a mini-batch became non-finite; no step was taken on it."""


# Stochastic solvers ------------------------------------------------------------


def fit_stochastic(est, data, random_state, incremental, callback_ctx):
    """Train ``est`` with 'sgd' or 'adam' on ``data`` (a ``_TrainingData``)."""
    state = getattr(est, "_optimizer_state", None) if incremental else None
    optimizer = make_optimizer(est.get_params(), est._params(), state)
    est._optimizer_state = optimizer.state

    train, validation = _split_validation(est, data, random_state)
    batches = est._batch_slices(train.X.shape[0])
    _run_epochs(
        est,
        optimizer,
        train,
        validation,
        batches,
        random_state,
        incremental,
        data,
        callback_ctx,
    )
    if est.early_stopping:
        est._set_state(list(est._best_state))


def _split_validation(est, data, random_state):
    if not est.early_stopping:
        return data, None
    # Stratify single-output classification only, as MLPClassifier does.
    stratify = data.y if is_classifier(est) and est.n_outputs_ == 1 else None
    arrays = [data.X, data.y]
    if data.sample_weight is not None:
        arrays.append(data.sample_weight)
    split = train_test_split(
        *arrays,
        random_state=random_state,
        test_size=est.validation_fraction,
        stratify=stratify,
    )
    X_train, X_val, y_train, y_val = split[:4]
    sw_train, sw_val = split[4:] if data.sample_weight is not None else (None, None)
    if X_val.shape[0] < 2:
        raise ValueError(
            "The validation set is too small: it has "
            f"{X_val.shape[0]} sample. Increase validation_fraction="
            f"{est.validation_fraction} or the number of samples."
        )
    if is_classifier(est):
        y_val = est._label_binarizer.inverse_transform(y_val)
    return data._replace(X=X_train, y=y_train, sample_weight=sw_train), data._replace(
        X=X_val, y=y_val, sample_weight=sw_val
    )


def _run_epochs(
    est, optimizer, train, validation, batches, random_state, incremental, data, ctx
):
    n_samples = train.X.shape[0]
    sample_idx = np.arange(n_samples)
    est.n_iter_ = 0
    for _ in range(est.max_iter):
        epoch_ctx = ctx.subcontext(task_name="epoch")
        epoch_ctx.call_on_fit_task_begin(
            estimator=est, X=data.X_given, y=data.y_given, metadata=data.metadata
        )
        start = time.perf_counter()
        if est.shuffle:
            sample_idx = shuffle(sample_idx, random_state=random_state)
        try:
            est.loss_ = _run_epoch(est, optimizer, train, batches, sample_idx)
        except TrainingDiverged:
            est.loss_ = np.nan
        est.n_iter_ += 1
        est.t_ += n_samples
        est.loss_curve_.append(est.loss_)
        if est.verbose:
            print(
                f"Iteration {est.n_iter_}, loss = {est.loss_:.8f}, "
                f"time = {time.perf_counter() - start:.4f}s"
            )
        if not np.isfinite(est.loss_):
            epoch_ctx.call_on_fit_task_end(
                estimator=est, X=data.X_given, y=data.y_given, metadata=data.metadata
            )
            _diverged(est)
            return
        _update_no_improvement_count(est, validation)
        optimizer.iteration_ends(est.t_)
        if epoch_ctx.call_on_fit_task_end(
            estimator=est,
            X=data.X_given,
            y=data.y_given,
            metadata=data.metadata,
            reconstruction_attributes=est._reconstruction_attributes,
        ):
            break
        if est._no_improvement_count > est.n_iter_no_change:
            message = _stall_message(est)
            if optimizer.trigger_stopping(message, est.verbose):
                break
            est._no_improvement_count = 0
        if incremental:
            break
        if est.n_iter_ == est.max_iter:
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({est.max_iter}) "
                "reached and the optimization hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=4,
            )


def _run_epoch(est, optimizer, train, batches, sample_idx):
    """One pass over the mini-batches; returns the mean training loss."""
    X, y, sample_weight = train.X, train.y, train.sample_weight
    accumulated_loss = 0.0
    for batch in batches:
        batch_idx = sample_idx[batch] if est.shuffle else batch
        batch_weight = None if sample_weight is None else sample_weight[batch_idx]
        # Overflow shows as a non-finite loss, handled by the caller.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            loss, grads, stats = est._backprop(X[batch_idx], y[batch_idx], batch_weight)
        # Before the loss: a mini-batch of zero weight has a NaN loss.
        est._check_batch_stats(stats)
        if not np.isfinite(loss):
            raise TrainingDiverged
        accumulated_loss += loss * (batch.stop - batch.start)
        est._set_params(optimizer.update_params(est._params(), grads))
        est._update_running_stats(stats)
    return accumulated_loss / X.shape[0]


def _diverged(est):
    """A non-finite loss: an error, or with early stopping, the best epoch kept."""
    if not est.early_stopping:
        raise ValueError(NON_FINITE_MESSAGE)
    est.validation_scores_.append(np.nan)
    warnings.warn(
        f"Training diverged in epoch {est.n_iter_}: the loss became non-finite. "
        "The parameters of the epoch with the best validation score are kept "
        f"(best_validation_score_={est.best_validation_score_}). "
        f"learning_rate_init={est.learning_rate_init} may be too large.",
        ConvergenceWarning,
        stacklevel=5,
    )


def _stall_message(est):
    what = "Validation score" if est.early_stopping else "Training loss"
    return (
        f"{what} did not improve more than tol={est.tol:f} for "
        f"{est.n_iter_no_change} consecutive epochs."
    )


def _update_no_improvement_count(est, validation):
    if not est.early_stopping:
        if est.loss_curve_[-1] > est.best_loss_ - est.tol:
            est._no_improvement_count += 1
        else:
            est._no_improvement_count = 0
        est.best_loss_ = min(est.best_loss_, est.loss_curve_[-1])
        return

    # A diverging network predicts inf or NaN: scored NaN, without warnings.
    with np.errstate(over="ignore", invalid="ignore"):
        score = est._score(validation.X, validation.y, validation.sample_weight)
    est.validation_scores_.append(score)
    if est.verbose:
        print(f"Validation score: {score:f}")
    if score < est.best_validation_score_ + est.tol:
        est._no_improvement_count += 1
    else:
        est._no_improvement_count = 0
    if score > est.best_validation_score_:
        est.best_validation_score_ = score
        est._best_state = [param.copy() for param in est._state()]


# L-BFGS --------------------------------------------------------------------------


def fit_lbfgs(est, data, callback_ctx):
    """Train ``est`` with scipy's L-BFGS-B on the full batch.

    With batch normalization every evaluation normalizes with the statistics
    of the whole training set; at the end the running statistics are set to
    those statistics (the biased variance) at the final parameters, so that
    prediction computes the function L-BFGS minimized.
    """
    params = est._params()
    shapes = [param.shape for param in params]
    dtype = params[0].dtype
    bounds = np.cumsum([0] + [param.size for param in params])

    def unpack(packed):
        packed = packed.astype(dtype, copy=False)
        est._set_params(
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
            loss, grads, _ = est._backprop(data.X, data.y, data.sample_weight)
        # scipy's L-BFGS-B (Fortran before 1.15) takes float64 gradients only.
        return float(loss), np.concatenate([grad.ravel() for grad in grads]).astype(
            np.float64
        )

    packed = np.concatenate([param.ravel() for param in params])
    bridge = _LbfgsCallbackBridge(est, data, callback_ctx, unpack)
    result = scipy.optimize.minimize(
        loss_and_gradient,
        packed,
        method="L-BFGS-B",
        jac=True,
        options={"maxfun": est.max_fun, "maxiter": est.max_iter, "gtol": est.tol},
        callback=bridge,
    )
    bridge.close()
    est.n_iter_ = min(result.nit, est.max_iter)
    est.loss_ = float(result.fun)
    unpack(result.x)
    if result.status != 0:
        warnings.warn(
            f"lbfgs failed to converge after {est.n_iter_} iteration(s) "
            f"(status={result.status}): {result.message}. Increase max_iter="
            f"{est.max_iter} or max_fun={est.max_fun}, or scale the data.",
            ConvergenceWarning,
            stacklevel=4,
        )
    if est._is_batch_normalized:
        with np.errstate(over="ignore", invalid="ignore"):
            _, _, stats = est._forward_train(data.X, data.sample_weight)
        est.bn_running_means_ = [batch.mean for batch in stats]
        est.bn_running_vars_ = [batch.var for batch in stats]


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
        if est._is_batch_normalized:
            # Prediction at this iteration: the full batch's statistics.
            with np.errstate(over="ignore", invalid="ignore"):
                _, _, stats = est._forward_train(data.X, data.sample_weight)
            return est._reconstruction_attributes(
                running_means=[batch.mean for batch in stats],
                running_vars=[batch.var for batch in stats],
            )
        return est._reconstruction_attributes()

    def close(self):
        self.iteration_ctx.call_on_fit_task_end(estimator=self.est)
