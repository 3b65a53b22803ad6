"""The stochastic optimizers of the batch-norm MLPs, with a plain-dict state.

Like scikit-learn's ``_stochastic_optimizers.py``: a base class and one
subclass per solver, with scikit-learn's update rules. Two differences:

- The state that must outlive a call to ``fit`` (velocities, Adam's moments and
  step count, the current learning rate) is a plain ``dict`` of numbers and
  lists of arrays, which the estimator keeps as ``_optimizer_state``. The
  optimizer objects are rebuilt around it on each call, so a fitted estimator
  holds no object of this module (skops can load it without trusting one).
- The first step of a call writes new arrays instead of updating in place
  (``copy_on_write``), parameters and state alike; later steps update in
  place. The arrays the estimator held before the call are left untouched,
  so that a call that fails can be undone by restoring a shallow copy of the
  estimator's ``__dict__``: rollback costs no copy of the network.
"""

import math

import numpy as np


class BaseOptimizer:
    """Base class of the optimizers: one step of ``param += update``.

    Parameters
    ----------
    state : dict
        The optimizer's state, updated by each step. Subclasses document
        its keys; ``"learning_rate"`` is common to all.
    copy_on_write : bool, default=True
        Whether the next step writes its results to new arrays.
    """

    def __init__(self, state, copy_on_write=True):
        self.state = state
        self.copy_on_write = copy_on_write

    @property
    def learning_rate(self):
        return self.state["learning_rate"]

    def _target(self, array):
        """Where the new value of ``array`` goes: itself, or a new array."""
        return np.empty_like(array) if self.copy_on_write else array

    def update_params(self, params, grads):
        """Take one step; return the updated parameters.

        ``grads`` are scratch and get overwritten. After the first step of a
        ``copy_on_write`` optimizer the returned arrays are new ones; later
        steps update ``params`` in place and return them.
        """
        updates = self._get_updates(grads)
        params = [
            np.add(param, update, out=self._target(param))
            for param, update in zip(params, updates, strict=True)
        ]
        self.copy_on_write = False
        return params

    def _get_updates(self, grads):
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

    def __init__(self, state, params, copy_on_write=True):
        super().__init__(state, copy_on_write)
        self.lr_schedule = params["learning_rate"]
        self.learning_rate_init = params["learning_rate_init"]
        self.momentum = params["momentum"]
        self.nesterov = params["nesterovs_momentum"]
        self.power_t = params["power_t"]

    @staticmethod
    def initial_state(params, estimator_params):
        return {
            "learning_rate": float(estimator_params["learning_rate_init"]),
            "velocities": [np.zeros_like(param) for param in params],
        }

    def _get_updates(self, grads):
        learning_rate = self.state["learning_rate"]
        velocities = self.state["velocities"]
        updates = []
        for i, grad in enumerate(grads):
            grad *= -learning_rate
            velocity = np.multiply(
                velocities[i], self.momentum, out=self._target(velocities[i])
            )
            velocity += grad
            velocities[i] = velocity
            if self.nesterov:
                grad += self.momentum * velocity
                updates.append(grad)
            else:
                updates.append(velocity)
        return updates

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

    def __init__(self, state, params, copy_on_write=True):
        super().__init__(state, copy_on_write)
        self.learning_rate_init = params["learning_rate_init"]
        self.beta_1 = params["beta_1"]
        self.beta_2 = params["beta_2"]
        self.epsilon = params["epsilon"]

    @staticmethod
    def initial_state(params, estimator_params):
        return {
            "learning_rate": float(estimator_params["learning_rate_init"]),
            "t": 0,
            "ms": [np.zeros_like(param) for param in params],
            "vs": [np.zeros_like(param) for param in params],
        }

    def _get_updates(self, grads):
        state = self.state
        state["t"] += 1
        t = state["t"]
        learning_rate = (
            self.learning_rate_init
            * math.sqrt(1 - self.beta_2**t)
            / (1 - self.beta_1**t)
        )
        state["learning_rate"] = learning_rate
        ms, vs = state["ms"], state["vs"]
        updates = []
        for i, grad in enumerate(grads):
            m = np.multiply(ms[i], self.beta_1, out=self._target(ms[i]))
            m += (1 - self.beta_1) * grad
            v = np.multiply(vs[i], self.beta_2, out=self._target(vs[i]))
            np.square(grad, out=grad)
            grad *= 1 - self.beta_2
            v += grad
            ms[i], vs[i] = m, v
            step = np.sqrt(v, out=grad)
            step += self.epsilon
            np.divide(-learning_rate * m, step, out=step)
            updates.append(step)
        return updates


OPTIMIZERS = {"sgd": SGDOptimizer, "adam": AdamOptimizer}


def make_optimizer(estimator_params, params, state=None):
    """The optimizer of ``estimator_params["solver"]``, around ``state``.

    Parameters
    ----------
    estimator_params : dict
        The estimator's parameters (``get_params()``).
    params : list of ndarray
        The parameters the optimizer will update, for a new state's shapes.
    state : dict or None
        The state of an earlier call to continue from; None, or the state of
        another solver, starts afresh.
        A continued state is copied shallowly (its lists too): its arrays are
        replaced, never written into, by the first step.

    Returns
    -------
    optimizer : BaseOptimizer
        Its ``state`` is the dict to keep for the next call.
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
    return cls(state, estimator_params)
