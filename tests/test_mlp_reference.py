"""The networks give the results they gave before they were rebuilt.

``tests/data/mlp_reference.npz`` holds the predictions, coefficients, running
statistics and loss curves of the configurations in ``mlp_reference.py``
(sgd, adam and lbfgs, batch norm on and off, float64 and float32, sample
weights, early stopping, partial_fit, warm_start, a diverging fit), computed
by the code before the rebuild.
"""

import numpy as np
import pytest
from mlp_reference import CONFIGS, PATH, run
from numpy.testing import assert_allclose


@pytest.fixture(scope="module")
def reference():
    with np.load(PATH) as stored:
        return {key: stored[key] for key in stored.files}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_results_equal_those_before_the_rebuild(name, reference):
    expected = {
        key.split("/", 1)[1]: value
        for key, value in reference.items()
        if key.split("/", 1)[0] == name
    }
    actual = run(name)
    assert sorted(actual) == sorted(expected)
    float32 = CONFIGS[name][3] == "float32"
    for key, value in expected.items():
        if value.dtype.kind in "US":
            assert str(actual[key]) == str(value), key
            continue
        assert actual[key].dtype == value.dtype, key
        rtol = 1e-5 if float32 else 1e-12
        atol = rtol * max(float(np.max(np.abs(value), initial=0)), 1.0)
        assert_allclose(actual[key], value, rtol=rtol, atol=atol, err_msg=key)
