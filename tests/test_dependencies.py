"""The declared dependencies: ranges in the extras, exact pins in CI alone."""

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(
    not (ROOT / ".ci" / "constraints.txt").is_file(), reason="needs the source tree"
)


def _extras():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {
        extra: [Requirement(line) for line in lines]
        for extra, lines in project["optional-dependencies"].items()
    }


def _requirement(extra, name):
    (requirement,) = [r for r in _extras()[extra] if r.name == name]
    return requirement


def test_no_extra_pins_an_exact_version():
    # A user who has another release within the range keeps it.
    for extra, requirements in _extras().items():
        for requirement in requirements:
            assert "==" not in str(requirement.specifier), (extra, requirement)


@pytest.mark.parametrize("extra", ["torch", "docs"])
def test_torch_extra_keeps_an_installed_torch_within_the_tested_range(extra):
    specifier = _requirement(extra, "torch").specifier
    assert specifier.contains("2.13.0") and specifier.contains("2.14.1")


def test_ci_pins_the_torch_it_tests_with():
    lines = (ROOT / ".ci" / "constraints.txt").read_text().splitlines()
    assert "torch==2.13.0" in lines
    assert _requirement("torch", "torch").specifier.contains("2.13.0")


@pytest.mark.parametrize("extra", ["docs", "test"])
def test_extras_exclude_the_dask_ml_that_scikit_learn_1_9_breaks(extra):
    # dask-ml 2024.4.4 imports sklearn.utils._tags._safe_tags, which
    # scikit-learn 1.9 removed; pip resolved it for `pip install ".[docs]"`.
    # The Dask example needs dask-ml, and so does tests/test_dask_incremental.py.
    specifier = _requirement(extra, "dask-ml").specifier
    assert not specifier.contains("2024.4.4")
    assert specifier.contains("2025.1.0")
