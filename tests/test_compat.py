"""Private scikit-learn (and skl2onnx) names come from sklearn_bn.utils._compat
alone."""

import ast
import importlib.util
from pathlib import Path

import pytest
import sklearn

import sklearn_bn
from sklearn_bn.neural_network._normalization import NORMALIZATIONS
from sklearn_bn.utils import _compat, _params

PACKAGE = Path(sklearn_bn.__file__).parent
TESTS = Path(__file__).parent

# The lead switches these modules' imports to _compat at merge (issue 13):
# empty this set then, and the test covers them too.
NOT_YET_SWITCHED = set()

# Suites ported from scikit-learn's own tests, or built on its test helpers
# (sklearn.utils._testing, sklearn.callback.tests): they keep scikit-learn's
# imports as they are there, so that they can be compared line by line.
PORTED_SUITES = {
    "test_mlp_parity.py",
    "test_mlp_sklearn.py",
    "test_sklearn_scaler_suite.py",
}


def _private_sklearn_imports(path):
    """(module, name) for each private scikit-learn name that path imports."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
            ("sklearn.", "skl2onnx.")
        ):
            private_module = any(
                part.startswith("_") for part in node.module.split(".")
            )
            for alias in node.names:
                if private_module or alias.name.startswith("_"):
                    found.append((node.module, alias.name))
        elif isinstance(node, ast.Import):
            found += [
                (alias.name, "")
                for alias in node.names
                if alias.name.startswith(("sklearn.", "skl2onnx."))
                and any(part.startswith("_") for part in alias.name.split("."))
            ]
    return found


def _sources():
    modules = [
        path
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name not in NOT_YET_SWITCHED | {"_compat.py"}
    ]
    # Every module of every folder of the package, not the top level alone.
    assert PACKAGE / "neural_network" / "_network.py" in modules
    # This file imports scikit-learn's own objects to compare them with _compat's.
    tests = [
        path
        for path in sorted(TESTS.glob("*.py"))
        if path.name != Path(__file__).name and path.name not in PORTED_SUITES
    ]
    return modules + tests


@pytest.mark.parametrize(
    "path", _sources(), ids=lambda path: str(path.relative_to(path.parents[1]))
)
def test_private_sklearn_names_are_imported_from_compat_only(path):
    assert _private_sklearn_imports(path) == []


def test_the_check_finds_a_private_import(tmp_path):
    # The check above must not pass by finding nothing.
    source = tmp_path / "module.py"
    source.write_text(
        "from sklearn.base import _fit_context, clone\n"
        "from sklearn.utils._array_api import get_namespace\n"
        "import sklearn.utils._param_validation\n"
        "from skl2onnx._parse import _parse_sklearn_classifier\n"
    )
    assert _private_sklearn_imports(source) == [
        ("sklearn.base", "_fit_context"),
        ("sklearn.utils._array_api", "get_namespace"),
        ("sklearn.utils._param_validation", ""),
        ("skl2onnx._parse", "_parse_sklearn_classifier"),
    ]


def test_compat_names_are_scikit_learn_objects():
    # Re-exported unchanged: switching a module to _compat changes nothing.
    from sklearn.base import _fit_context
    from sklearn.utils._array_api import get_namespace_and_device
    from sklearn.utils.validation import _check_sample_weight

    assert _compat._fit_context is _fit_context
    assert _compat.get_namespace_and_device is get_namespace_and_device
    assert _compat._check_sample_weight is _check_sample_weight
    assert set(_compat.__all__) <= set(dir(_compat))


def test_callbacks_are_scikit_learns_where_it_has_them():
    has_callbacks = importlib.util.find_spec("sklearn.callback") is not None
    assert _compat.SKLEARN_HAS_CALLBACKS == has_callbacks
    major_minor = tuple(int(part) for part in sklearn.__version__.split(".")[:2])
    assert _compat.SKLEARN_VERSION.release[:2] == major_minor
    if has_callbacks:
        from sklearn.callback import CallbackSupportMixin

        assert _compat.CallbackSupportMixin is CallbackSupportMixin
    else:
        with pytest.raises(ValueError, match=r"scikit-learn >= 1\.9"):
            _compat.CallbackSupportMixin().set_callbacks(object())


@pytest.mark.parametrize(
    "cls",
    [
        sklearn_bn.BatchNormScaler,
        sklearn_bn.BatchNormMLPClassifier,
        sklearn_bn.BatchNormMLPRegressor,
        *NORMALIZATIONS.values(),
    ],
    ids=lambda cls: cls.__name__,
)
def test_param_names_are_scikit_learns_read_once(cls):
    # ParamNamesMixin keeps what BaseEstimator reads with inspect.signature.
    from sklearn.base import BaseEstimator

    expected = BaseEstimator._get_param_names.__func__(cls)
    assert cls._get_param_names() == expected
    assert sorted(cls().get_params()) == expected
    # Read once: a second call does not read the signature again.
    assert cls.__dict__[_params._CACHE] == tuple(expected)
    # A list of its own each call, as scikit-learn's.
    names = cls._get_param_names()
    names.append("changed")
    assert cls._get_param_names() == expected


def test_a_subclass_reads_its_own_param_names():
    # Read by the parent first: the subclass must not inherit its cache.
    parent = sklearn_bn.BatchNormScaler
    parent().get_params()

    class Fixed(parent):
        def __init__(self, gamma=1.0):
            super().__init__(gamma=gamma)

    assert Fixed._get_param_names() == ["gamma"]
    assert Fixed().get_params() == {"gamma": 1.0}
    assert parent._get_param_names() == sorted(parent().get_params())
    assert parent._get_param_names() != ["gamma"]
