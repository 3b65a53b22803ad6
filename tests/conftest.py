"""Test-wide settings."""

import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True, scope="session")
def _one_blas_thread():
    # Tests fit many tiny models: on 2 cores a BLAS thread pool per library
    # makes them up to ten times slower.
    with threadpool_limits(limits=1):
        yield
