"""``import sklearn_bn`` imports none of the optional extras."""

import json
import subprocess
import sys

OPTIONAL = ["torch", "dask", "distributed", "polars", "array_api_strict", "matplotlib"]


def _imported_after(statement):
    code = (
        f"import json, sys; {statement}; "
        f"print(json.dumps([m for m in {OPTIONAL + ['pandas']!r} if m in sys.modules]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return set(json.loads(result.stdout))


def test_import_sklearn_bn_loads_no_optional_dependency():
    loaded = _imported_after("import sklearn_bn")
    # scikit-learn itself imports pandas when it is installed: not ours to avoid.
    by_sklearn = _imported_after("import sklearn.base, sklearn.utils.validation")
    assert loaded - by_sklearn == set()
    assert loaded & set(OPTIONAL) == set()
