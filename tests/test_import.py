"""``import sklearn_bn`` (and show_versions) import none of the optional extras."""

import json
import subprocess
import sys

import pytest

OPTIONAL = ["torch", "dask", "distributed", "dask_ml", "polars", "array_api_strict"]
OPTIONAL += ["matplotlib", "skl2onnx", "onnxruntime", "skops"]


def _imported_after(statement):
    code = (
        f"import json, sys\n{statement}\n"
        f"print(json.dumps([m for m in {OPTIONAL + ['pandas']!r} if m in sys.modules]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return set(json.loads(result.stdout))


@pytest.mark.parametrize(
    "statement",
    [
        "import sklearn_bn",
        # Versions are read from the package metadata, not by importing.
        "import contextlib, io, sklearn_bn\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    sklearn_bn.show_versions()",
    ],
    ids=["import", "show_versions"],
)
def test_import_sklearn_bn_loads_no_optional_dependency(statement):
    loaded = _imported_after(statement)
    # scikit-learn itself imports pandas when it is installed: not ours to avoid.
    by_sklearn = _imported_after("import sklearn.base, sklearn.utils.validation")
    assert loaded - by_sklearn == set()
    assert loaded & set(OPTIONAL) == set()
