"""scikit-learn's callback API (``sklearn.callback``, new in 1.9), or a stand-in.

With scikit-learn 1.9 or newer, the estimators support ``set_callbacks``
(ProgressBar, ScoringMonitor, ...). With an older scikit-learn they work as
before, without callbacks: the stand-in below opens no task and calls nothing.
"""

try:
    from sklearn.callback import CallbackSupportMixin
except ImportError:  # scikit-learn < 1.9

    class _NoCallbackContext:
        """A callback context that calls nothing."""

        def subcontext(self, *args, **kwargs):
            return self

        def call_on_fit_task_begin(self, *args, **kwargs):
            return None

        def call_on_fit_task_end(self, *args, **kwargs):
            return False

    class CallbackSupportMixin:  # type: ignore[no-redef]
        """Stands in for sklearn.callback.CallbackSupportMixin before 1.9."""

        def _init_callback_context(self, *args, **kwargs):
            return _NoCallbackContext()


__all__ = ["CallbackSupportMixin"]
