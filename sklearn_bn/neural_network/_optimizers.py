"""The stochastic optimizers of the batch-norm MLPs, with a plain-dict state.

Like scikit-learn's ``_stochastic_optimizers.py``: a base class and one
subclass per solver, with scikit-learn's update rules. Three differences:

- The state that must outlive a call to ``fit`` (velocities, Adam's moments and
  step count, the current learning rate) is a plain ``dict`` of numbers and
  lists of arrays, which the estimator keeps as ``_optimizer_state``. The
  optimizer objects are rebuilt around it on each call, so a fitted estimator
  holds no object of this module (skops can load it without trusting one).
- An optimizer copies the parameters and its state, when it is built, into
  new flat buffers of its own, one per kind of array, and hands back views
  of them shaped as the originals (``params``, and the lists of its state);
  the network trains those views, each step updates them in place. The
  arrays the estimator held before the call are left untouched, so that a
  call that fails can be undone by restoring a shallow copy of the
  estimator's ``__dict__``: rollback costs no copy of the network.
- The gradient goes in a flat buffer too (``grads``, views the network's
  backward pass writes into), as sums over the mini-batch: the step adds the
  L2 penalty's gradient, divides by the number of samples and updates, in
  one pass over each buffer (``_fused.py``), not a few numpy calls per
  parameter.
"""

import math

import numpy as np

from ._fused import adam_step, sgd_step


def flat_copy(arrays, dtype, copy=True):
    """A new buffer holding ``arrays`` end to end in ``dtype``, and views of
    it shaped as them (without their values unless ``copy``).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_bn.neural_network._optimizers import flat_copy
    >>> flat, views = flat_copy([np.ones((2, 2)), np.zeros(1)], np.float64)
    >>> flat, [view.shape for view in views]
    (array([1., 1., 1., 1., 0.]), [(2, 2), (1,)])
    """
    flat = np.empty(sum(array.size for array in arrays), dtype=dtype)
    views, start = [], 0
    for array in arrays:
        view = flat[start : start + array.size].reshape(array.shape)
        if copy:
            view[...] = array
        views.append(view)
        start += array.size
    return flat, views


class BaseOptimizer:
    """Base class of the optimizers: one step of ``param += update``.

    Parameters
    ----------
    state : dict
        The optimizer's state, updated by each step. Subclasses document
        its keys; ``"learning_rate"`` is common to all. Its lists of arrays
        are replaced by views of the optimizer's buffers.
    params : list of ndarray
        The parameters to train, copied: train ``self.params``.
    n_decayed : int
        The number of values, from the start of ``params``, that the L2
        penalty decays (the weights).
    alpha : float
        The L2 penalty.

    Attributes
    ----------
    params : list of ndarray
        Views of one buffer, updated in place by each step.
    grads : list of ndarray
        Views of one buffer shaped as ``params``: the gradient of the next
        step, written by the caller as sums over the samples, without the
        penalty (overwritten by the step).
    """

    # The keys of the state that hold one array per parameter.
    _state_lists = ()

    def __init__(self, state, params, n_decayed, alpha):
        self.state = state
        self.n_decayed, self.alpha = n_decayed, alpha
        self.dtype = params[0].dtype
        self.flat_params, self.params = flat_copy(params, self.dtype)
        self.flat_grads, self.grads = flat_copy(params, self.dtype, copy=False)
        self.flat_state = {}
        for key in self._state_lists:
            self.flat_state[key], state[key] = flat_copy(state[key], self.dtype)

    @property
    def learning_rate(self):
        return self.state["learning_rate"]

    def step(self, n_samples):
        """Take one step from ``self.grads``, the sums over ``n_samples``
        samples (their weights' sum), updating ``self.params`` in place."""
        raise NotImplementedError

    def iteration_ends(self, time_step):
        """Called at the end of each epoch, with the number of samples seen."""

    def trigger_stopping(self, message, verbose):
        """Whether to stop when the loss stalls."""
        if verbose:
            print(f"{message} Stopping.")
        return True


class SGDOptimizer(BaseOptimizer):
    """Stochastic gradient descent with momentum.

    The update is scikit-learn's: ``velocity = momentum * velocity -
    learning_rate * grad``, then ``param += velocity``, or with Nesterov's
    momentum ``param += momentum * velocity - learning_rate * grad``.

    The state holds ``learning_rate`` and ``velocities`` (one array per
    parameter). See :func:`make_optimizer` for the other arguments.
    """

    _state_lists = ("velocities",)

    def __init__(self, state, estimator_params, params, n_decayed=0):
        super().__init__(state, params, n_decayed, estimator_params["alpha"])
        self.lr_schedule = estimator_params["learning_rate"]
        self.learning_rate_init = estimator_params["learning_rate_init"]
        self.momentum = estimator_params["momentum"]
        self.nesterov = estimator_params["nesterovs_momentum"]
        self.power_t = estimator_params["power_t"]

    @staticmethod
    def initial_state(params, estimator_params):
        return {
            "learning_rate": float(estimator_params["learning_rate_init"]),
            "velocities": [np.zeros_like(param) for param in params],
        }

    def step(self, n_samples):
        sgd_step(
            self.flat_params,
            self.flat_grads,
            self.flat_state["velocities"],
            self.state["learning_rate"],
            self.momentum,
            self.nesterov,
            self.n_decayed,
            self.alpha,
            n_samples,
        )

    def iteration_ends(self, time_step):
        """Decay the learning rate after an epoch, for ``"invscaling"``."""
        if self.lr_schedule == "invscaling":
            self.state["learning_rate"] = (
                float(self.learning_rate_init) / (time_step + 1) ** self.power_t
            )

    def trigger_stopping(self, message, verbose):
        """Whether to stop when the loss stalls; ``"adaptive"`` divides by 5 first."""
        if self.lr_schedule != "adaptive" or self.state["learning_rate"] <= 1e-6:
            return super().trigger_stopping(message, verbose)
        self.state["learning_rate"] /= 5.0
        if verbose:
            print(f"{message} Setting learning rate to {self.learning_rate:f}")
        return False


class AdamOptimizer(BaseOptimizer):
    """Adam (Kingma and Ba, 2014).

    The same update as scikit-learn's, written so that float32 parameters
    stay float32: the step size is a Python float. The state holds
    ``learning_rate``, the step count ``t`` and the moment estimates ``ms``
    and ``vs`` (one array per parameter each).
    """

    _state_lists = ("ms", "vs")

    def __init__(self, state, estimator_params, params, n_decayed=0):
        super().__init__(state, params, n_decayed, estimator_params["alpha"])
        self.learning_rate_init = estimator_params["learning_rate_init"]
        self.beta_1 = estimator_params["beta_1"]
        self.beta_2 = estimator_params["beta_2"]
        self.epsilon = estimator_params["epsilon"]

    @staticmethod
    def initial_state(params, estimator_params):
        return {
            "learning_rate": float(estimator_params["learning_rate_init"]),
            "t": 0,
            "ms": [np.zeros_like(param) for param in params],
            "vs": [np.zeros_like(param) for param in params],
        }

    def step(self, n_samples):
        state = self.state
        state["t"] += 1
        t = state["t"]
        learning_rate = (
            self.learning_rate_init
            * math.sqrt(1 - self.beta_2**t)
            / (1 - self.beta_1**t)
        )
        state["learning_rate"] = learning_rate
        adam_step(
            self.flat_params,
            self.flat_grads,
            self.flat_state["ms"],
            self.flat_state["vs"],
            learning_rate,
            self.beta_1,
            self.beta_2,
            self.epsilon,
            self.n_decayed,
            self.alpha,
            n_samples,
        )


OPTIMIZERS = {"sgd": SGDOptimizer, "adam": AdamOptimizer}
# The estimator's parameters that the optimizers read.
OPTIMIZER_PARAMS = (
    "solver",
    "alpha",
    "learning_rate",
    "learning_rate_init",
    "momentum",
    "nesterovs_momentum",
    "power_t",
    "beta_1",
    "beta_2",
    "epsilon",
)


def make_optimizer(estimator_params, params, state=None, n_decayed=0):
    """The optimizer of ``estimator_params["solver"]``, around ``state``.

    Parameters
    ----------
    estimator_params : dict
        The estimator's parameters, those of ``OPTIMIZER_PARAMS`` at least.
    params : list of ndarray
        The parameters the optimizer will train (copied: see ``params``).
    state : dict or None
        The state of an earlier call to continue from; None, or the state of
        another solver, starts afresh.
        A continued state is copied shallowly (its lists too) and its arrays
        copied into the optimizer's buffers, never written into.
    n_decayed : int, default=0
        The number of values, from the start of ``params``, that the L2
        penalty ``estimator_params["alpha"]`` decays.

    Returns
    -------
    optimizer : BaseOptimizer
        Its ``state`` is the dict to keep for the next call, its ``params``
        the arrays to train and its ``grads`` those to write each step's
        gradient into.
    """
    solver = estimator_params["solver"]
    cls = OPTIMIZERS[solver]
    if state is None or state["solver"] != solver:
        state = {"solver": solver, **cls.initial_state(params, estimator_params)}
    else:
        state = {
            key: list(value) if isinstance(value, list) else value
            for key, value in state.items()
        }
    return cls(state, estimator_params, params, n_decayed)
