"""What the export tests share: comparing an export's output with the
estimator's, and recording the largest error of each kind.

With ``SKLEARN_BN_EXPORT_ERRORS=PATH``, each test module that uses
``report_errors`` appends its largest errors to PATH as JSON lines
(``{"export", "dtype", "error", "case"}``), for the notes and the docs.
"""

import json
import os

import numpy as np
from numpy.testing import assert_array_equal

# (what, dtype name) -> (largest error, the test case that gave it).
LARGEST_ERROR = {}


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
