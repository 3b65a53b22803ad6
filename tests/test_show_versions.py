"""show_versions reports the versions, whether the kernels were built, the threads."""

import importlib.metadata
import importlib.util
import sys

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import sklearn_bn
from sklearn_bn import show_versions


def _report(capsys):
    show_versions()
    sections = {}
    for block in capsys.readouterr().out.strip().split("\n\n"):
        title, *lines = block.splitlines()
        if title.endswith(":"):
            sections[title[:-1]] = dict(
                (part.strip() for part in line.split(": ", 1)) for line in lines
            )
    return sections


def test_show_versions_gives_the_installed_versions(capsys):
    report = _report(capsys)
    dependencies = report["Python dependencies"]
    assert dependencies["sklearn-bn"] == sklearn_bn.__version__
    for name in ["scikit-learn", "numpy", "scipy", "threadpoolctl"]:
        assert dependencies[name] == importlib.metadata.version(name)
    assert dependencies["numpy"] == np.__version__
    assert report["System"]["executable"] == sys.executable


def test_show_versions_says_whether_the_kernels_were_built(capsys):
    kernels = _report(capsys)["C kernels"]
    spec = importlib.util.find_spec("sklearn_bn.preprocessing._kernels")
    assert kernels["built"] == str(spec is not None)
    if spec is not None:
        assert kernels["file"] == spec.origin
        networks = importlib.util.find_spec("sklearn_bn.neural_network._kernels")
        assert kernels["networks' kernels"] == str(networks is not None)


def test_show_versions_gives_the_threads_within_the_pool_limits(capsys):
    # A large X gets the cores, capped by the BLAS and OpenMP limits.
    with threadpool_limits(limits=1):
        assert _report(capsys)["Threads"]["for large X"] == "1"
    with threadpool_limits(limits=None):
        threads = _report(capsys)["Threads"]
    assert 1 <= int(threads["for large X"]) <= int(threads["cores"])


def test_show_versions_says_which_build_of_the_kernels_runs(capsys):
    kernels = _report(capsys)["C kernels"]
    if kernels["built"] != "True":
        pytest.skip("the kernels are not built")
    assert kernels["variant"] in {"avx512", "avx2", "default", "portable"}
    from sklearn_bn.preprocessing import _native

    assert kernels["variant"] == _native.kernels.variant()
