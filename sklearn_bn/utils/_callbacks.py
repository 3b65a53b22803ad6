"""scikit-learn's callbacks (``sklearn.callback``, new in 1.9), or nothing.

scikit-learn before 1.9 has no ``sklearn.callback``: there the mixin (from
``_compat``) has a ``set_callbacks`` that says which version it needs, and
the estimators talk to a context that does nothing. This module is the one
place where the estimators open their fit task.
"""

from ._compat import SKLEARN_HAS_CALLBACKS, CallbackSupportMixin


class _NoCallbackContext:
    """The part of ``CallbackContext`` the estimators use, doing nothing."""

    def subcontext(self, *args, **kwargs):
        return self

    def call_on_fit_task_begin(self, **kwargs):
        return self

    def call_on_fit_task_end(self, **kwargs):
        return False


def fit_callback_context(estimator, max_subtasks=0):
    """The root context of one fit task: ``_init_callback_context``, if it exists.

    With scikit-learn 1.9 this sets up the callbacks; their teardown is done by
    ``_fit_context`` when the fit method returns or raises.
    """
    if not SKLEARN_HAS_CALLBACKS:
        return _NoCallbackContext()
    return estimator._init_callback_context(max_subtasks=max_subtasks)


__all__ = ["CallbackSupportMixin", "fit_callback_context"]
