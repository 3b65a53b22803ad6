"""Building without a C compiler: a source install falls back, a release fails.

These tests build the package from the source tree with a compiler that always
fails (``CC=false``). Where the tests run against an installed wheel, without
the source tree, there is nothing to build and they are skipped.
"""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.skipif(
        not (ROOT / "setup.py").is_file(), reason="needs the source tree"
    ),
    pytest.mark.skipif(sys.platform == "win32", reason="CC=false is POSIX"),
]


def _build_wheel(tmp_path, **environ):
    """pip wheel of a copy of the sources, with a C compiler that fails."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ["setup.py", "pyproject.toml", "README.md"]:
        shutil.copy(ROOT / name, source)
    shutil.copytree(
        ROOT / "sklearn_bn",
        source / "sklearn_bn",
        ignore=shutil.ignore_patterns("*.so", "*.pyd", "__pycache__"),
    )
    environ = {
        **os.environ,
        "CC": "false",
        "SKLEARN_BN_REQUIRE_KERNELS": "0",
        "CIBUILDWHEEL": "0",
        **environ,
    }
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps"]
    command += ["--no-build-isolation", "--wheel-dir", str(tmp_path / "dist")]
    result = subprocess.run(
        [*command, str(source)], env=environ, capture_output=True, text=True
    )
    return result, sorted((tmp_path / "dist").glob("*.whl"))


def test_without_a_compiler_a_source_install_falls_back_to_numpy(tmp_path):
    result, wheels = _build_wheel(tmp_path)
    assert result.returncode == 0, result.stderr
    # No compiled code inside, and the tag says so.
    assert [wheel.name.split("-", 2)[2] for wheel in wheels] == ["py3-none-any.whl"]
    target = tmp_path / "installed"
    with zipfile.ZipFile(wheels[0]) as wheel:
        assert not [name for name in wheel.namelist() if "_kernels" in name]
        wheel.extractall(target)
    # An editable install of the source tree (the tests' set-up) would supply
    # the kernels the wheel lacks: its finder is left out.
    code = (
        "import sys\n"
        "sys.meta_path = [f for f in sys.meta_path if 'editable' not in repr(f)]\n"
        "import sklearn_bn, numpy as np\n"
        "from sklearn_bn.utils._show_versions import _kernels_info\n"
        f"assert sklearn_bn.__file__.startswith({str(target)!r})\n"
        "X = np.arange(12.0).reshape(4, 3)\n"
        "Y = sklearn_bn.BatchNormScaler(epsilon=0).fit_transform(X)\n"
        "print(_kernels_info()['built'], np.allclose(Y, (X - X.mean(0)) / X.std(0)))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(target)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert run.stdout.split() == ["False", "True"]


@pytest.mark.parametrize("variable", ["SKLEARN_BN_REQUIRE_KERNELS", "CIBUILDWHEEL"])
def test_a_release_build_fails_loudly_without_the_kernels(tmp_path, variable):
    result, wheels = _build_wheel(tmp_path, **{variable: "1"})
    assert result.returncode != 0
    assert wheels == []
    assert "sklearn-bn's C kernels did not compile" in result.stdout + result.stderr
