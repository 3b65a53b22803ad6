"""What the export tests share: the fitted networks they convert, comparing
an export's output with the estimator's, and recording the largest error of
each kind.

The networks are fitted once for test_onnx and test_torch_bridge together
(``fitted_classifier``, ``fitted_regressor``): each kind of normalization of
``NORMALIZATIONS`` with the hidden activations ``network_cases`` gives it.

With ``SKLEARN_BN_EXPORT_ERRORS=PATH``, each test module that uses
``report_errors`` appends its largest errors to PATH as JSON lines
(``{"export", "dtype", "error", "case"}``), for the notes and the docs.
"""

import functools
import json
import os
import warnings

import numpy as np
from numpy.testing import assert_array_equal
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from sklearn_bn import (
    BatchNorm,
    BatchNormMLPClassifier,
    BatchNormMLPRegressor,
    BatchRenorm,
    GhostBatchNorm,
    LayerNorm,
    RMSNorm,
)

# (what, dtype name) -> (largest error, the test case that gave it).
LARGEST_ERROR = {}

ACTIVATIONS = ["identity", "logistic", "tanh", "relu"]
CLASSIFIER_TARGETS = ["binary", "multiclass", "one class"]
REGRESSOR_LOSSES = sorted(
    BatchNormMLPRegressor._parameter_constraints["loss"][0].options
)

#: The networks' ``batch_norm`` of each kind of normalization, by test id.
#: A small virtual batch and tight clipping, so that the ghost batches and
#: the renormalization's clipping show.
NORMALIZATIONS = {
    "BatchNorm": True,
    "none": False,
    "BatchNorm(after_activation)": BatchNorm(position="after_activation"),
    "BatchNorm(affine=False)": BatchNorm(affine=False),
    "BatchNorm(momentum=None)": BatchNorm(momentum=None),
    "BatchNorm(population)": BatchNorm(statistics="population"),
    "GhostBatchNorm": GhostBatchNorm(virtual_batch_size=16),
    "BatchRenorm": BatchRenorm(r_max=1.5, d_max=0.5),
    "LayerNorm": LayerNorm(),
    "LayerNorm(affine=False)": LayerNorm(affine=False),
    "RMSNorm": RMSNorm(),
    "RMSNorm(affine=False)": RMSNorm(affine=False),
}

# The kinds crossed with every output and every activation. The others are
# tested with relu and one other activation (each of the others in turn) and
# fewer outputs: the outputs differ in the last layer only, which no
# normalization touches.
_FULL_CROSS = ("BatchNorm", "none")


def network_cases(outputs, other_outputs):
    """``(*output, kind, activation)`` tuples for a test's parametrize.

    ``outputs`` (tuples: a target, or a loss and a number of outputs) are
    crossed with every activation for ``BatchNorm`` and ``none``;
    ``other_outputs`` with relu and one other activation for the other kinds.
    """
    cases = []
    others = [name for name in NORMALIZATIONS if name not in _FULL_CROSS]
    for kind in NORMALIZATIONS:
        if kind in _FULL_CROSS:
            activations, kind_outputs = ACTIVATIONS, outputs
        else:
            other = ACTIVATIONS[others.index(kind) % 3]
            activations, kind_outputs = ["relu", other], other_outputs
        cases += [(*out, kind, act) for out in kind_outputs for act in activations]
    return cases


def make_data(n_samples=300, n_classes=3, seed=0):
    """Features on very different scales and offsets, and class labels."""
    X, y = make_classification(
        n_samples=n_samples,
        n_features=6,
        n_informative=4,
        n_classes=n_classes,
        random_state=seed,
    )
    X = X * [1.0, 10.0, 100.0, 0.1, 3.0, 1.0] + [0.0, 5.0, -50.0, 3.0, 1.0, -2.0]
    return X, y


def fit_quietly(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


def classes(target, dtype=np.float64, seed=0):
    """Standardized X in dtype and labels for a classifier target."""
    X, y = make_data(n_classes=3 if target == "multiclass" else 2, seed=seed)
    X = StandardScaler().fit_transform(X).astype(dtype)
    if target == "one class":
        y = np.full_like(y, 7)
    return X, y


def regression(loss, n_outputs, dtype=np.float64):
    """Standardized X in dtype and a target for loss: non-negative for 'poisson'."""
    X, _ = make_data()
    X = StandardScaler().fit_transform(X).astype(dtype)
    y = X[:, :n_outputs] * 2 + np.sin(X[:, 1:2])
    if loss == "poisson":
        y = np.exp(0.5 * y)
    return X, y.ravel() if n_outputs == 1 else y


@functools.cache
def fitted_classifier(target, activation, kind, dtype=np.float64):
    """A small classifier fitted in dtype with the normalization ``kind`` (a
    key of NORMALIZATIONS), and its X; cached, so tests must not change it."""
    X, y = classes(target, dtype)
    clf = BatchNormMLPClassifier(
        (8, 6),
        activation=activation,
        batch_norm=NORMALIZATIONS[kind],
        max_iter=15,
        random_state=0,
    )
    return fit_quietly(clf, X, y), X


@functools.cache
def fitted_regressor(loss, n_outputs, activation, kind, dtype=np.float64):
    """A small regressor fitted in dtype with the normalization ``kind``, and
    its X; cached, so tests must not change it."""
    X, y = regression(loss, n_outputs, dtype)
    reg = BatchNormMLPRegressor(
        (8, 6),
        activation=activation,
        loss=loss,
        batch_norm=NORMALIZATIONS[kind],
        max_iter=15,
        random_state=0,
    )
    return fit_quietly(reg, X, y), X


def report_errors():
    """Fixture body: after a module's tests, append its largest errors."""
    yield
    path = os.environ.get("SKLEARN_BN_EXPORT_ERRORS")
    if path:
        with open(path, "a") as file:
            for (what, dtype), (error, case) in sorted(LARGEST_ERROR.items()):
                record = {"export": what, "dtype": dtype, "error": error, "case": case}
                print(json.dumps(record), file=file)
    LARGEST_ERROR.clear()


def case_id(value):
    """A readable test id: ``gamma=2.0,beta=5.0`` for parameters."""
    if isinstance(value, dict):
        return ",".join(f"{key}={param}" for key, param in value.items())
    return str(value)


def assert_close(actual, desired, dtype, what, tolerance):
    """Within ``tolerance[dtype]``, and NaN where desired is NaN.

    The error is absolute where ``|desired| <= 1`` and relative beyond; the
    largest one of each kind is recorded.
    """
    actual, desired = np.asarray(actual, np.float64), np.asarray(desired, np.float64)
    assert actual.shape == desired.shape
    assert_array_equal(np.isnan(actual), np.isnan(desired))
    errors = np.abs(actual - desired) / np.maximum(1.0, np.abs(desired))
    error = float(np.nanmax(errors, initial=0.0))
    key = (what, np.dtype(dtype).name)
    if error >= LARGEST_ERROR.get(key, (0.0, None))[0]:
        case = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" ", 1)[0]
        LARGEST_ERROR[key] = (error, case)
    assert error <= tolerance[dtype], f"{what}: error {error:.3g} in {dtype.__name__}"
