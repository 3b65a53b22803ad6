"""scikit-learn's callbacks (``sklearn.callback``, new in 1.9) for the MLPs.

scikit-learn before 1.9 has no ``sklearn.callback``: there the mixin is an
empty class, the estimators have no ``set_callbacks``, and the training loop
talks to a context that does nothing. This module is the one place that
knows which of the two it is.
"""

try:
    from sklearn.callback import CallbackSupportMixin
except ImportError:  # scikit-learn < 1.9

    class CallbackSupportMixin:
        """Stands in for ``sklearn.callback.CallbackSupportMixin`` before 1.9."""


class _NoCallbackContext:
    """The part of ``CallbackContext`` the MLPs use, doing nothing."""

    def subcontext(self, *args, **kwargs):
        return self

    def call_on_fit_task_begin(self, **kwargs):
        return self

    def call_on_fit_task_end(self, **kwargs):
        return False


def fit_callback_context(estimator, max_subtasks):
    """The root context of one fit task: ``_init_callback_context``, if it exists.

    With scikit-learn 1.9 this sets up the callbacks; their teardown is done by
    ``_fit_context`` when the fit method returns or raises.
    """
    if not hasattr(estimator, "_init_callback_context"):
        return _NoCallbackContext()
    return estimator._init_callback_context(max_subtasks=max_subtasks)
