"""show_versions: what a bug report needs, and which code path is active."""

import importlib.metadata
import importlib.util
import os
import platform
import sys
import types

# Installed distributions worth naming in a bug report. Their versions are
# read from the package metadata: nothing here is imported.
_DEPENDENCIES = [
    "sklearn-bn",
    "scikit-learn",
    "numpy",
    "scipy",
    "threadpoolctl",
    "pandas",
    "polars",
    "pyarrow",
    "dask",
    "distributed",
    "array-api-strict",
    "torch",
    "matplotlib",
]


def _sys_info():
    return {
        "python": sys.version.replace("\n", " "),
        "executable": sys.executable,
        "machine": platform.platform(),
    }


def _deps_info():
    info = {}
    for name in _DEPENDENCIES:
        try:
            info[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            info[name] = None
    return info


def _kernels_info():
    """Whether the C kernels were built, the file they were loaded from, and
    the version of them running (the AVX2 clone, or not)."""
    spec = importlib.util.find_spec("sklearn_bn.preprocessing._kernels")
    if spec is None or spec.origin is None:
        return {"built": False, "file": None, "limited API (abi3)": None}
    from ..neural_network import _fused
    from ..preprocessing import _native

    filename = os.path.basename(spec.origin)
    kernels = _native.kernels
    return {
        "built": True,
        "file": spec.origin,
        "limited API (abi3)": ".abi3." in filename or filename == "_kernels.pyd",
        "variant": kernels.variant() if kernels is not None else None,
        "networks' kernels": _fused.kernels is not None,
    }


def _threads_info():
    """The threads BatchNormScaler uses on a large input, and the pools it obeys."""
    from threadpoolctl import threadpool_info

    from ..preprocessing._threads import n_threads as _n_threads

    large_input = types.SimpleNamespace(nbytes=sys.maxsize)
    pools = threadpool_info()
    return {
        "cores": os.cpu_count(),
        "for large X": _n_threads(large_input),
        "pools": pools,
    }


def show_versions():
    """Print the versions, the active code path and the threads, for bug reports.

    Lists the platform, the versions of sklearn-bn and of its required and
    optional dependencies (``None`` where one is not installed; none of them
    is imported to find out), whether the C kernels were built, and how many
    threads :class:`BatchNormScaler` uses on a large input: the cores, capped
    by the smallest limit of the BLAS and OpenMP thread pools loaded, which
    are listed as in :func:`sklearn.show_versions`.

    Without the C kernels (a source install where no C compiler was found),
    sklearn-bn runs its numpy code paths: the same results, more slowly.
    ``C kernels: built: False`` says so.

    See Also
    --------
    sklearn.show_versions : The same report for scikit-learn.

    Examples
    --------
    The report goes to standard output, in four sections:

    >>> from sklearn_bn import show_versions
    >>> show_versions()
    <BLANKLINE>
    System:
    ...
    Python dependencies:
      sklearn-bn: ...
    ...
    C kernels:
    ...
    Threads:
    ...
    """
    sections = [
        ("System", _sys_info()),
        ("Python dependencies", _deps_info()),
        ("C kernels", _kernels_info()),
    ]
    threads = _threads_info()
    pools = threads.pop("pools")
    sections.append(("Threads", threads))
    for title, info in sections:
        print(f"\n{title}:")
        width = max(len(key) for key in info)
        for key, value in info.items():
            print(f"{key:>{width}}: {value}")
    for pool in pools:
        print()
        width = max(len(key) for key in pool)
        for key, value in pool.items():
            print(f"{key:>{width}}: {value}")
