"""A fit that raises leaves the estimator exactly as it was.

BatchNormScaler and the networks share this one mechanism. Fitting writes
into no array or list that existed before the call (each fit assigns new
ones), so a shallow copy of ``__dict__`` is all it takes to put the state
back.
"""

from contextlib import contextmanager

# Attributes that scikit-learn's callback machinery sets for the time of a fit
# and removes when the fit method returns or raises: a restored estimator keeps
# them, so that the callbacks' teardown still finds them.
_CALLBACK_ATTRIBUTES = ("_callback_fit_ctx", "_skl_callbacks_to_teardown")


@contextmanager
def restored_on_error(estimator):
    """Put every attribute of ``estimator`` back as it was if the body raises.

    Any exception counts, ``KeyboardInterrupt`` and an error raised by a
    callback at the end of the fit included; the exception goes on.

    Examples
    --------
    >>> from sklearn_bn import BatchNormScaler
    >>> from sklearn_bn.utils._rollback import restored_on_error
    >>> scaler = BatchNormScaler().fit([[0.0], [2.0]])
    >>> try:
    ...     with restored_on_error(scaler):
    ...         scaler.mean_ = None
    ...         raise KeyboardInterrupt
    ... except KeyboardInterrupt:
    ...     pass
    >>> scaler.mean_
    array([1.])
    """
    saved = estimator.__dict__.copy()
    try:
        yield
    except BaseException:
        callbacks = {
            key: estimator.__dict__[key]
            for key in _CALLBACK_ATTRIBUTES
            if key in estimator.__dict__
        }
        estimator.__dict__.clear()
        estimator.__dict__.update(saved)
        estimator.__dict__.update(callbacks)
        raise
