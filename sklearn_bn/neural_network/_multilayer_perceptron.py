"""The batch-norm networks: BatchNormMLPClassifier and BatchNormMLPRegressor.

Each adds to ``BaseBatchNormMLP`` (``_network.py``) what is its own: the
targets it takes, its output layer and score, ``partial_fit`` and
``predict``. Their docstrings share one template (``_docstrings.py``).
"""

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.metrics import accuracy_score, r2_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import column_or_1d
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import check_is_fitted, validate_data

from ..utils._compat import StrOptions, _check_partial_fit_first_call, _fit_context
from ._docstrings import CLASSIFIER_PASSAGES, REGRESSOR_PASSAGES, network_docstring
from ._network import STOCHASTIC_SOLVERS, BaseBatchNormMLP


def _check_solver(estimator):
    if estimator.solver not in STOCHASTIC_SOLVERS:
        raise AttributeError(
            "partial_fit is only available for stochastic optimizers. "
            f"{estimator.solver} is not stochastic."
        )
    return True


def _fitted_label_binarizer(y):
    """``LabelBinarizer().fit(y)``; for numeric labels of one column, the
    same attributes from one ``np.unique`` and, for floats, one
    ``type_of_target`` (the fit calls the latter twice, through
    ``unique_labels``: a tenth of a small network's epoch).

    Examples
    --------
    >>> import numpy as np
    >>> binarizer = _fitted_label_binarizer(np.array([3, 1, 3]))
    >>> binarizer.y_type_, binarizer.classes_
    ('binary', array([1, 3]))
    """
    if not (isinstance(y, np.ndarray) and y.ndim == 1 and y.dtype.kind in "biuf"):
        return LabelBinarizer().fit(y)
    classes = np.unique(y)
    if y.dtype.kind == "f":
        y_type = type_of_target(y, input_name="y")
        if y_type not in ("binary", "multiclass"):
            return LabelBinarizer().fit(y)
    else:
        # type_of_target's answer for integers of one column, without its
        # checks and its second np.unique.
        y_type = "multiclass" if len(classes) > 2 else "binary"
    binarizer = LabelBinarizer()
    binarizer.y_type_, binarizer.sparse_input_ = y_type, False
    binarizer.classes_ = classes
    return binarizer


def _label_indicators(binarizer, y):
    """``binarizer.transform(y)`` as booleans: for the labels of one column,
    compared with the classes directly, without the binarizer's checks of a
    target it has already seen (a fraction of a millisecond, which counts in
    the small fits of a grid search).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.preprocessing import LabelBinarizer
    >>> y = np.array(["b", "a", "c"])
    >>> _label_indicators(LabelBinarizer().fit(y), y).astype(int)
    array([[0, 1, 0],
           [1, 0, 0],
           [0, 0, 1]])
    """
    classes = binarizer.classes_
    if y.ndim == 1 and binarizer.y_type_ == "multiclass":
        return y[:, np.newaxis] == classes
    if y.ndim == 1 and binarizer.y_type_ == "binary" and len(classes) == 2:
        return (y == classes[1])[:, np.newaxis]
    return binarizer.transform(y).astype(bool)


class BatchNormMLPClassifier(ClassifierMixin, BaseBatchNormMLP):
    __doc__ = network_docstring(CLASSIFIER_PASSAGES)

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
            self._label_binarizer = _fitted_label_binarizer(y)
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
        return X, _label_indicators(self._label_binarizer, y)

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


class BatchNormMLPRegressor(RegressorMixin, BaseBatchNormMLP):
    __doc__ = network_docstring(REGRESSOR_PASSAGES)

    _parameter_constraints: dict = {
        **BaseBatchNormMLP._parameter_constraints,
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
        bn_momentum="deprecated",
        bn_epsilon="deprecated",
        dropout=0.0,
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
            dropout=dropout,
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
