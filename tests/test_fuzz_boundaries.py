"""Fuzzing the boundaries: any sparse matrix or dask collection gives the
result of its dense twin, or a clear error, and never a crash.

Hypothesis builds scipy CSR and CSC matrices and arrays from arbitrary
``data``, ``indices`` and ``indptr`` (wrong lengths, indices out of range,
indptr decreasing, duplicates, unsorted rows, strided views, mixed and odd
index dtypes, data of any dtype with NaN and infinities, flags set wrongly),
and dask arrays and DataFrames with empty dimensions and chunks. Each case
runs in one worker subprocess, which runs case after case, so that a crash
of the interpreter fails the case that caused it, and the test run goes on.
For each case:

- fit, partial_fit (after a fit), transform and inverse_transform either
  raise a ValueError or TypeError, or give what the same call gives on the
  dense twin (``X.toarray()``, which sums duplicates; for dask, the computed
  array): to 1e-12 relative for float64, to the precision of float32 and
  float16 outputs;
- a matrix that scipy's ``check_format(full_check=True)`` refuses, or whose
  indptr does not run up from 0 to the number of entries (which scipy does
  not check without entries), is refused; one that scipy accepts as it is
  (no warning, nothing pruned) is refused only where the dense twin is;
- after an error, the fitted state and X's arrays are as they were.

Where the dense twin is no fair reference, any clear outcome will do:
duplicates whose sum hides an infinity or makes one (transform scales each
stored entry); ``has_canonical_format`` set on a matrix with duplicates
(trusted, as scipy trusts it: fit counts each duplicate as an entry); the
fit of values beyond 1e150 without the kernels (scikit-learn's
``mean_variance_axis`` adds ``0 * mean**2``, NaN); the lazy transform of a
dask DataFrame whose rows, not known yet, are none (its result is empty).

The number of examples comes from ``SKLEARN_BN_FUZZ_EXAMPLES`` (60 sparse
cases by default, a few seconds; dask cases are a fifth as many). CI runs::

    SKLEARN_BN_FUZZ_EXAMPLES=600 pytest -q tests/test_fuzz_boundaries.py
"""

import copy
import importlib.util
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import traceback
import warnings
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

N_EXAMPLES = int(os.environ.get("SKLEARN_BN_FUZZ_EXAMPLES", "60"))

# Seconds a case may take in the worker before it counts as hung.
_CASE_TIMEOUT = 120

METHODS = ["fit", "partial_fit", "transform", "inverse_transform"]

# The worker's compiled kernels; a case runs on them or on the numpy code.
_KERNELS = None


# %% The worker: builds each case and checks it, in a subprocess


# Differences this small are rounding of denormal numbers (1e-310 has a few
# digits), not of the results' digits.
_DENORMAL_NOISE = 1e-300


def _tolerance(dtype):
    """Relative tolerance for an output of ``dtype`` against the dense one."""
    return {"float64": 1e-12, "float32": 1e-5}.get(np.dtype(dtype).name, 1e-2)


def _validated_dtype(dtype):
    """The dtype that validation gives data of ``dtype``: float kept, else
    float64."""
    dtype = np.dtype(dtype)
    return dtype.newbyteorder("=") if dtype.kind == "f" else np.dtype(np.float64)


def _strided(array):
    """A view of ``array`` with a stride of two items."""
    buffer = np.zeros(2 * array.size, dtype=array.dtype)
    buffer[::2] = array
    return buffer[::2]


def _data_array(values, dtype):
    """The stored values as ``dtype``: integers and booleans without NaN or
    infinities (they have none), floats as they come, rounded."""
    values = np.asarray(values, dtype=np.float64)
    dtype = np.dtype(dtype)
    if dtype.kind in "iub":
        values = np.clip(np.nan_to_num(values, posinf=0, neginf=0), -100, 100)
    with np.errstate(all="ignore"):
        return values.astype(dtype)


def _index_array(values, dtype):
    """Indices as ``dtype``; values it cannot hold wrap around, as a cast does."""
    with np.errstate(all="ignore"):
        return np.asarray(values, dtype=np.int64).astype(dtype)


def _build_sparse(case):
    """The sparse matrix of a case: by scipy's constructor where it accepts
    the arrays (it may convert them), else by setting them on an empty one."""
    from scipy import sparse

    cls = getattr(sparse, f"{case['format']}_{case['container']}")
    arrays = {
        "data": _data_array(case["data"], case["data_dtype"]),
        "indices": _index_array(case["indices"], case["indices_dtype"]),
        "indptr": _index_array(case["indptr"], case["indptr_dtype"]),
    }
    for name in case["strided"]:
        arrays[name] = _strided(arrays[name])
    X = None
    if case["build"] == "constructor":
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                X = cls(
                    (arrays["data"], arrays["indices"], arrays["indptr"]),
                    shape=case["shape"],
                )
        except (ValueError, TypeError, OverflowError):
            X = None
    if X is None:
        X = cls(case["shape"])
        X.data, X.indices, X.indptr = (arrays[n] for n in ("data", "indices", "indptr"))
    for flag in ("has_sorted_indices", "has_canonical_format"):
        if case[flag] is not None:
            setattr(X, flag, case[flag])
    return X


def _scipy_verdict(case):
    """What scipy makes of the case: ``("invalid", None, False)`` if
    ``check_format(full_check=True)`` refuses it, else ``(verdict, dense,
    duplicates)`` with verdict "valid" (accepted as it is) or "repaired"
    (accepted with a warning, or after pruning entries past ``indptr[-1]``),
    its dense twin (None if scipy cannot make one), and whether it holds
    duplicate entries."""
    X = _build_sparse(case)
    lengths, dtype = (X.data.size, X.indices.size), X.data.dtype
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            X.check_format(full_check=True)
        except (ValueError, TypeError, OverflowError, IndexError):
            return "invalid", None, False
    # scipy checks the order of indptr only where there are entries.
    if (np.diff(X.indptr) < 0).any() or X.indptr[-1] != X.indices.size:
        return "invalid", None, False
    repaired = bool(caught) or (X.data.size, X.indices.size) != lengths
    verdict = "repaired" if repaired else "valid"
    return verdict, _dense_twin(X, dtype), _has_duplicates(X)


def _dense_twin(X, dtype=None):
    """``X.toarray()`` as ``dtype`` (X's, by default: check_format makes it
    native), or None if scipy cannot make it. Integers and booleans, which
    validation makes float64 before their duplicates are summed, are summed
    in float64 (scipy sums booleans with a logical or), and so is float16,
    which scipy does not sum, then rounded to it."""
    dtype = np.dtype(X.data.dtype if dtype is None else dtype)
    if dtype.kind in "iub":
        dtype = np.dtype(np.float64)
    elif dtype != np.float16:
        try:
            return X.toarray().astype(dtype)
        except (ValueError, TypeError):
            return None
    try:
        data = X.data.astype(np.float64)
        wide = type(X)((data, X.indices, X.indptr), shape=X.shape)
        return wide.toarray().astype(dtype)
    except (ValueError, TypeError):
        return None


def _output_as_dense(Y):
    """A result as a dense array: a sparse one (which may be X itself, of
    any layout) through a copy with the index dtypes scipy sums with."""
    if not hasattr(Y, "toarray"):
        return np.asarray(Y)
    dtype, Y = Y.data.dtype, copy.deepcopy(Y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Y.check_format(full_check=True)
    return _dense_twin(Y, dtype)


def _has_duplicates(X):
    """Whether a major row of X, which scipy checked, stores an index twice."""
    indices, indptr = X.indices, X.indptr
    return any(
        len(set(indices[indptr[k] : indptr[k + 1]].tolist()))
        < indptr[k + 1] - indptr[k]
        for k in range(len(indptr) - 1)
    )


def _call(scaler, method, X, **kwargs):
    """``("ok", result)`` or ``("error", exception)``; an error of another
    type than ValueError or TypeError propagates."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = getattr(scaler, method)(X, **kwargs)
            if hasattr(result, "compute"):
                result = result.compute()
    except (ValueError, TypeError) as error:
        return "error", error
    return "ok", result


def _state(scaler):
    """The fitted state, copied."""
    params = scaler.get_params()
    return {
        name: copy.deepcopy(value)
        for name, value in vars(scaler).items()
        if name not in params
    }


def _same(a, b):
    """Whether two values of the fitted state are the same (NaN equal to NaN)."""
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, True)


def _state_problems(before, after):
    if before.keys() != after.keys():
        return [f"the fitted attributes changed: {sorted(before)} -> {sorted(after)}"]
    return [
        f"{name} changed from {before[name]!r} to {after[name]!r}"
        for name in before
        if not _same(before[name], after[name])
    ]


def _close(actual, desired, rtol, magnitude=None):
    """Whether two arrays agree to ``rtol`` of the largest finite magnitude,
    with NaN and infinities in the same places.

    ``magnitude`` is the size of the terms that made ``actual`` where it is a
    sum (of duplicate entries scaled one by one, which may cancel): their
    rounding is relative to them, not to the sum.
    """
    actual = np.asarray(actual, dtype=np.float64)
    desired = np.asarray(desired, dtype=np.float64)
    if actual.shape != desired.shape:
        return False
    finite = np.isfinite(desired)
    if not np.array_equal(finite, np.isfinite(actual)):
        return False
    if not np.array_equal(actual[~finite], desired[~finite], equal_nan=True):
        return False
    scale = np.abs(desired[finite]).max(initial=0.0)
    if magnitude is not None:
        magnitude = np.asarray(magnitude, dtype=np.float64)[finite]
        scale = max(scale, magnitude.max(initial=0.0))
    with np.errstate(all="ignore"):
        error = np.abs(actual - desired)[finite]
        return bool(np.all(error <= rtol * scale + _DENORMAL_NOISE))


def _fit_problems(ours, reference, rtol=1e-12):
    """Differences between two fitted scalers' statistics."""
    problems = []
    for name in ["mean_", "var_"]:
        a, b = getattr(ours, name), getattr(reference, name)
        # A mean near zero is compared to its feature's spread.
        scale = np.abs(b) + np.sqrt(np.abs(np.nan_to_num(reference.var_)))
        # Values off by rtol of the mean (duplicates summed in another
        # precision) move the variance by up to (rtol * mean) ** 2.
        slack = (rtol * np.abs(np.nan_to_num(reference.mean_))) ** 2
        if name == "mean_":
            slack = 0.0
        nan = np.isnan(b)
        if not np.array_equal(np.isnan(a), nan) or not np.all(
            np.abs(a - b)[~nan] <= (rtol * scale + slack)[~nan] + _DENORMAL_NOISE
        ):
            problems.append(f"{name}: {a!r}, the dense fit gives {b!r}")
    a, b = ours.n_samples_seen_, reference.n_samples_seen_
    if not _close(a, b, rtol):
        problems.append(f"n_samples_seen_: {a!r}, the dense fit gives {b!r}")
    return problems


def _compare(what, ours, reference, verdict, sum_rtol=1e-12):
    """Problems of one call's outcome against the dense twin's (None if
    there is no dense twin: then any clear outcome will do).

    Results must equal the reference's where both succeed, to ``sum_rtol``
    (how far sums of duplicates may differ) or the precision of the output,
    whichever is larger.
    """
    status, value = ours
    if status == "error":
        if verdict == "valid" and reference is not None and reference[0] == "ok":
            return [f"{what}: refused a matrix scipy accepts: {value!r}"]
        return []
    if verdict == "invalid":
        return [f"{what}: accepted a matrix scipy refuses"]
    if reference is None:
        return []
    ref_status, ref_value = reference
    if ref_status == "error":
        return [f"{what}: accepted, the dense twin is refused: {ref_value!r}"]
    if hasattr(value, "n_samples_seen_"):
        return [f"{what}: {p}" for p in _fit_problems(value, ref_value, sum_rtol)]
    dense = _output_as_dense(value)
    if dense.dtype != ref_value.dtype:
        return [f"{what}: dtype {dense.dtype}, the dense twin's {ref_value.dtype}"]
    # A sparse result keeps X's duplicate entries, each scaled on its own
    # (built from the arrays: scipy's abs sums the duplicates first).
    magnitude = None
    if hasattr(value, "toarray"):
        magnitude = _output_as_dense(
            type(value)(
                (np.abs(value.data), value.indices, value.indptr), shape=value.shape
            )
        )
    rtol = max(sum_rtol, _tolerance(ref_value.dtype))
    if not _close(dense, ref_value, rtol, magnitude):
        return [f"{what}: {dense!r}, the dense twin gives {ref_value!r}"]
    return []


def _arrays(X):
    return {name: getattr(X, name) for name in ("data", "indices", "indptr")}


def _array_problems(X, before):
    """Whether X's arrays are the same objects with the same contents."""
    problems = []
    for name, array in before.items():
        now = getattr(X, name)
        if now is not array[0]:
            problems.append(f"X.{name} was replaced")
        elif not _same(now, array[1]):
            problems.append(f"X.{name} changed: {array[1]!r} -> {now!r}")
    return problems


def _prefit_data(n_features):
    """Valid data to fit a scaler on before partial_fit and transform."""
    X = np.arange(1.0, 1.0 + 5 * max(n_features, 1)).reshape(5, -1) % 7
    X[::2] = 0.0
    return X


def _outcome_event(method, outcome):
    """A short name for an outcome, to count in hypothesis' statistics."""
    status, value = outcome
    if status == "ok":
        return f"{method}: accepted"
    message = str(value)
    for key in _ERROR_KEYS:
        if key in message:
            return f"{method}: refused, {key}"
    return f"{method}: refused, {type(value).__name__}: {message[:40]}"


_ERROR_KEYS = [
    "malformed",
    "infinity",
    "0 feature",
    "0 sample",
    "omplex",
    "overflow",
    "lies beyond",
    "non-zero",
    "integers",
    "features, but",
]


def _check_sparse(case, events):
    """The problems of one sparse case (an empty list if there are none);
    what happened is added to ``events``."""
    from scipy import sparse

    from sklearn_bn import BatchNormScaler
    from sklearn_bn.preprocessing import _native

    _native.kernels = _KERNELS if case["kernels"] else None

    verdict, dense, duplicates = _scipy_verdict(case)
    values = np.asarray(case["data"], dtype=np.float64)
    huge = not (np.abs(values) < 1e150).all()
    if duplicates and huge:
        # Duplicates summed by toarray hide an infinity (NaN + inf) or make
        # one (1e300 + 1e300): transform, which scales each stored entry,
        # may see another X than the dense twin. Any clear outcome will do.
        dense = None
    # Without the kernels, scikit-learn's mean_variance_axis adds 0 * mean**2
    # for a column without implicit zeros (of positive weight): NaN for a
    # mean beyond 1e154, where the dense fit has a variance. Its refusal
    # will do.
    fit_may_refuse = huge and not case["kernels"]
    # has_canonical_format set on a matrix with duplicates is trusted, as
    # scipy trusts it (its own sum_duplicates then does nothing): fit counts
    # each duplicate as an entry, and the numpy code's variance may come out
    # negative. Any clear outcome of fit will do; transform scales each entry.
    trusted_lie = duplicates and case["has_canonical_format"]
    # Duplicates are summed in the data's dtype or in float64, not always in
    # the order of toarray.
    sum_rtol = _tolerance(_validated_dtype(case["data_dtype"])) if duplicates else 1e-12
    weights = case["weights"]
    prefit_X = _prefit_data(case["shape"][1])
    prefit = BatchNormScaler(with_mean=False).fit(prefit_X)
    as_sparse = getattr(sparse, f"{case['format']}_{case['container']}")
    problems = []
    for method in METHODS:
        X = _build_sparse(case)
        before = {name: (a, a.copy()) for name, a in _arrays(X).items()}
        kwargs = {}
        if method in ("fit", "partial_fit") and weights is not None:
            kwargs["sample_weight"] = weights
        if method == "fit":
            scaler, reference = (BatchNormScaler(with_mean=False) for _ in "ab")
        elif method == "partial_fit":
            scaler = BatchNormScaler(with_mean=False).fit(as_sparse(prefit_X))
            reference = BatchNormScaler(with_mean=False).fit(prefit_X)
        else:
            scaler = reference = prefit
        saved = _state(scaler)
        ours = _call(scaler, method, X, **kwargs)
        events.append(_outcome_event(method, ours))
        if ours[0] == "ok" and method in ("fit", "partial_fit"):
            ours = ("ok", scaler)
        if ours[0] == "error":
            problems += [
                f"{method}: {p}" for p in _state_problems(saved, _state(scaler))
            ]
        problems += [f"{method}: {p}" for p in _array_problems(X, before)]
        ref = None if dense is None else _call(reference, method, dense, **kwargs)
        if ref is not None and ref[0] == "ok" and method in ("fit", "partial_fit"):
            ref = ("ok", reference)
        if (trusted_lie or fit_may_refuse) and method in ("fit", "partial_fit"):
            ref = None
        problems += _compare(method, ours, ref, verdict, sum_rtol)
    problems += _in_place_problems(case, prefit, dense, verdict, sum_rtol)
    return problems


def _in_place_problems(case, prefit, dense, verdict, sum_rtol):
    """transform with copy=False: X unchanged after an error, and where it
    succeeds, the dense twin's result."""
    X = _build_sparse(case)
    before = {name: (a, a.copy()) for name, a in _arrays(X).items()}
    saved = _state(prefit)
    status, value = _call(prefit, "transform", X, copy=False)
    problems = [
        f"transform(copy=False): {p}" for p in _state_problems(saved, _state(prefit))
    ]
    if status == "error":
        problems += [f"transform(copy=False): {p}" for p in _array_problems(X, before)]
        return problems
    reference = None if dense is None else _call(prefit, "transform", dense)
    return problems + _compare(
        "transform(copy=False)", (status, value), reference, verdict, sum_rtol
    )


def _build_dask(case):
    """The dask collection of a case, its numpy twin, and the numpy twin of
    each of its row chunks (each a batch with momentum), and the weights of
    each (None without weights)."""
    import dask.array as da
    import dask.dataframe as dd
    import pandas as pd

    n_rows, n_cols = case["n_rows"], case["n_cols"]
    values = np.resize(np.asarray(case["values"] or [0.0]), n_rows * n_cols)
    X = values.reshape(n_rows, n_cols)
    weights = np.resize(np.asarray(case["weights"] or [1.0]), n_rows)
    row_chunks = tuple(case["row_chunks"]) or (0,)
    if case["container"] == "array":
        bounds = np.cumsum((0, *row_chunks))
        chunks = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        dX = da.from_array(X, chunks=(row_chunks, (n_cols,)))
        dw = da.from_array(weights, chunks=(row_chunks,))
        parts = [(X[rows], weights[rows]) for rows in chunks]
    else:
        frame = pd.DataFrame(X, columns=[f"x{j}" for j in range(n_cols)])
        frame["w"] = weights
        frame["keep"] = np.resize(np.asarray(case["keep"] or [True]), n_rows)
        dframe = dd.from_pandas(frame, npartitions=max(1, len(case["row_chunks"])))
        if case["keep"] is not None:  # row counts no longer known
            dframe = dframe[dframe["keep"]]
        dX, dw = dframe.drop(columns=["w", "keep"]), dframe["w"]
        parts = [p.compute() for p in dframe.partitions]
        parts = [
            (p.drop(columns=["w", "keep"]).to_numpy(), p["w"].to_numpy()) for p in parts
        ]
        X = np.concatenate([p[0] for p in parts]) if parts else X[:0]
        weights = np.concatenate([p[1] for p in parts]) if parts else weights[:0]
    if not case["weighted"]:
        dw, weights = None, None
        parts = [(part, None) for part, _ in parts]
    return dX, dw, X, weights, parts


def _numpy_fit(scaler, X, weights, parts):
    """The reference for a dask fit or partial_fit: X in one batch, or each
    non-empty row chunk in turn with momentum; ``("ok", scaler)`` or
    ``("error", exception)``."""
    if scaler.momentum is None:
        status, value = _call(scaler, "partial_fit", X, sample_weight=weights)
        return (status, scaler if status == "ok" else value)
    saved = _state(scaler)
    batches = [(p, w) for p, w in parts if len(p)]
    if not batches:  # numpy refuses no rows
        return _call(scaler, "partial_fit", X, sample_weight=weights)
    for part, w in batches:
        status, value = _call(scaler, "partial_fit", part, sample_weight=w)
        if status == "error":
            scaler.__dict__.update(saved)
            return status, value
    return "ok", scaler


def _check_dask(case, events):
    """The problems of one dask case (an empty list if there are none);
    what happened is added to ``events``."""
    from sklearn_bn import BatchNormScaler

    dX, dw, X, weights, parts = _build_dask(case)
    momentum = case["momentum"]
    prefit_X = _prefit_data(case["n_cols"])
    problems = []
    for method in METHODS:
        scaler, reference = (BatchNormScaler(momentum=momentum) for _ in "ab")
        if method != "fit":
            scaler.fit(prefit_X)
            reference.fit(prefit_X)
        saved = _state(scaler)
        fitting = method in ("fit", "partial_fit")
        kwargs = {"sample_weight": dw} if fitting and dw is not None else {}
        ours = _call(scaler, method, dX, **kwargs)
        events.append(_outcome_event(method, ours))
        if fitting:
            ref = _numpy_fit(reference, X, weights, parts)
            ours = ("ok", scaler) if ours[0] == "ok" else ours
        else:
            ref = _call(reference, method, X)
        if ours[0] == "error":
            problems += [
                f"{method}: {p}" for p in _state_problems(saved, _state(scaler))
            ]
            if ref[0] == "ok":
                problems.append(f"{method}: refused, numpy accepts: {ours[1]!r}")
            continue
        if ref[0] == "error":
            # A lazy transform of a DataFrame whose rows are not known yet
            # cannot see that there are none: its result is empty.
            empty = "transform" in method and np.asarray(ours[1]).shape[0] == 0
            if not empty:
                problems.append(f"{method}: accepted, numpy refuses: {ref[1]!r}")
            continue
        if method in ("fit", "partial_fit"):
            problems += [f"{method}: {p}" for p in _fit_problems(scaler, reference)]
        elif not _close(np.asarray(ours[1]), ref[1], 1e-12):
            problems.append(f"{method}: {ours[1]!r}, numpy gives {ref[1]!r}")
    return problems


def _check(case):
    """The problems of a case (or the traceback of the checking code itself),
    and what happened."""
    events = []
    try:
        check = _check_sparse if case["kind"] == "sparse" else _check_dask
        return check(case, events), events
    except Exception:
        return [f"unexpected error:\n{traceback.format_exc()}"], events


def _serve():
    """The worker's loop: a case in, its problems out, until stdin closes."""
    import faulthandler

    faulthandler.enable()
    try:
        import dask

        dask.config.set(scheduler="synchronous")
    except ImportError:
        pass
    global _KERNELS
    from sklearn_bn.preprocessing import _native

    _KERNELS = _native.kernels
    read, write = sys.stdin.buffer, sys.stdout.buffer
    while header := read.read(8):
        case = pickle.loads(read.read(struct.unpack("<Q", header)[0]))
        reply = pickle.dumps(_check(case))
        write.write(struct.pack("<Q", len(reply)) + reply)
        write.flush()


# %% The parent: sends cases to the worker, restarts it after a crash


class _Worker:
    """A subprocess that checks cases, one after another; :meth:`check`
    gives a case's problems. If the worker dies (or hangs) on a case, the
    problem says how, with its last words, and whether the case kills a
    fresh worker too: if not, an earlier case may have broken its memory, and
    the cases it ran last are listed."""

    def __init__(self):
        self.process, self.history, self.hung = None, [], False
        self.reader = ThreadPoolExecutor(max_workers=1)

    def start(self):
        import sklearn_bn

        # The worker imports the package this process tests.
        root = os.path.dirname(os.path.dirname(sklearn_bn.__file__))
        path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}
        self.stderr = tempfile.TemporaryFile()
        self.history, self.hung = [], False
        self.process = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            env=env,
        )

    def _read(self):
        header = self.process.stdout.read(8)
        if len(header) < 8:
            return None
        return pickle.loads(self.process.stdout.read(struct.unpack("<Q", header)[0]))

    def _run(self, case):
        """The worker's reply for a case, or None if it died or hung."""
        if self.process is None:
            self.start()
        self.history = [*self.history[-4:], case]
        payload = pickle.dumps(case)
        try:
            self.process.stdin.write(struct.pack("<Q", len(payload)) + payload)
            self.process.stdin.flush()
            return self.reader.submit(self._read).result(timeout=_CASE_TIMEOUT)
        except BrokenPipeError:
            return None
        except FutureTimeout:
            self.process.kill()
            self.hung = True
            return None

    def check(self, case):
        """The problems of a case, and what happened (for statistics)."""
        reply = self._run(case)
        if reply is not None:
            return reply
        how, earlier = self._stop(), self.history[:-1]
        if self._run(case) is None:
            self._stop()
            alone = "kills a fresh worker too"
        else:
            alone = (
                "runs alone in a fresh worker: one of the cases before it, "
                "last one last, may have broken its memory:\n"
                + "\n".join(repr(before) for before in earlier)
            )
        return [f"the worker {how} on this case, which {alone}"], []

    def _stop(self):
        """Stop the worker; how it ended, with the end of its stderr."""
        if self.process is None:
            return "was stopped"
        if self.hung:
            how = f"hung for {_CASE_TIMEOUT} s"
        else:
            # Its output ends a moment before it can be waited for.
            how = f"died with exit code {self.process.wait(timeout=60)}"
        self.process.wait()
        self.stderr.seek(0)
        # faulthandler's traceback, before its list of extension modules.
        last_words = self.stderr.read().decode(errors="replace")
        last_words = last_words.split("\nExtension modules:")[0][-3000:]
        self.close()
        return f"{how}; its stderr:\n{last_words}\n"

    def close(self):
        if self.process is not None:
            if self.process.poll() is None:
                self.process.stdin.close()
                self.process.wait(timeout=60)
            self.stderr.close()
            self.process = None


@pytest.fixture(scope="module")
def worker():
    worker = _Worker()
    yield worker
    worker.close()
    worker.reader.shutdown()


# %% Cases

_VALUES = [0.0, 1.0, -2.0, 0.5, 3.0, 100.0, -1e-3, 7.25]
_SPECIALS = [np.nan, np.inf, -np.inf, 1e300, -1e300, 1e-310]
_COMMON_INDEX_DTYPES = ["int32", "int64"]
_ODD_INDEX_DTYPES = ["int16", "int8", "uint32", "uint64", ">i4", ">i8", "float64"]
_COMMON_DATA_DTYPES = ["float64", "float32"]
_ODD_DATA_DTYPES = ["float16", "int64", "int32", "bool", "complex128", ">f8", ">f4"]


def _dtypes(common, odd):
    return st.one_of(st.sampled_from(common), st.sampled_from(odd))


@st.composite
def _mutated(draw, indices, indptr, values, n_minor):
    """The arrays with one thing wrong (or none)."""
    what = draw(
        st.sampled_from(
            [
                "index out of range",
                "indptr decreases",
                "indptr too long",
                "indptr too short",
                "indptr ends elsewhere",
                "indptr starts elsewhere",
                "data too long",
                "data too short",
                "indices too long",
                "indices too short",
            ]
        )
    )
    position = draw(st.integers(0, 50))
    if what == "index out of range" and indices:
        bad = [n_minor, n_minor + 3, -1, -7, 2**31 - 1, 2**31 + 1, 2**40]
        indices[position % len(indices)] = draw(st.sampled_from(bad))
    elif what == "indptr decreases" and len(indptr) > 2:
        k = 1 + position % (len(indptr) - 2)
        indptr[k] = indptr[k + 1] + draw(st.integers(1, 3))
    elif what == "indptr too long":
        indptr.append(indptr[-1])
    elif what == "indptr too short" and indptr:
        indptr.pop()
    elif what == "indptr ends elsewhere" and indptr:
        indptr[-1] += draw(st.sampled_from([-1, 1, 2**31]))
    elif what == "indptr starts elsewhere" and indptr:
        indptr[0] = draw(st.sampled_from([-1, 1]))
    elif what.startswith(("data", "indices")):
        array = values if what.startswith("data") else indices
        if what.endswith("long"):
            array.append(array[-1] if array else 1)
        elif array:
            array.pop()
    return indices, indptr, values


@st.composite
def sparse_cases(draw):
    """A sparse matrix described by its arrays, to build in the worker."""
    fmt = draw(st.sampled_from(["csr", "csc"]))
    shape = (draw(st.integers(0, 6)), draw(st.integers(0, 6)))
    n_major, n_minor = shape if fmt == "csr" else shape[::-1]
    # Each major row's minor indices, in any order, maybe repeated.
    minor = st.integers(0, max(n_minor - 1, 0))
    rows = draw(
        st.lists(st.lists(minor, max_size=4), min_size=n_major, max_size=n_major)
    )
    indices = [j for row in rows for j in row]
    indptr = np.cumsum([0] + [len(row) for row in rows]).tolist()
    values = draw(
        st.lists(st.sampled_from(_VALUES), min_size=len(indices), max_size=len(indices))
    )
    specials = st.tuples(st.integers(0, 50), st.sampled_from(_SPECIALS))
    for position, special in draw(st.lists(specials, max_size=2)):
        if values:
            values[position % len(values)] = special
    if draw(st.booleans()):
        indices, indptr, values = draw(_mutated(indices, indptr, values, n_minor))
    flag = st.sampled_from([None, None, True, False])
    weights = st.none() | st.lists(
        st.sampled_from([0.0, 1.0, 2.5, 1e-3]), min_size=shape[0], max_size=shape[0]
    )
    return {
        "kind": "sparse",
        "format": fmt,
        "container": draw(st.sampled_from(["matrix", "array"])),
        "shape": shape,
        "data": values,
        "data_dtype": draw(_dtypes(_COMMON_DATA_DTYPES, _ODD_DATA_DTYPES)),
        "indices": indices,
        "indices_dtype": draw(_dtypes(_COMMON_INDEX_DTYPES, _ODD_INDEX_DTYPES)),
        "indptr": indptr,
        "indptr_dtype": draw(_dtypes(_COMMON_INDEX_DTYPES, _ODD_INDEX_DTYPES)),
        "strided": sorted(
            draw(st.sets(st.sampled_from(["data", "indices", "indptr"])))
        ),
        "build": draw(st.sampled_from(["constructor", "assign"])),
        "has_sorted_indices": draw(flag),
        "has_canonical_format": draw(flag),
        "weights": draw(weights),
        "kernels": draw(st.booleans()),
    }


@st.composite
def dask_cases(draw):
    """A dask array or DataFrame with few or no rows, columns or chunks."""
    row_chunks = draw(st.lists(st.integers(0, 4), max_size=4))
    n_rows, n_cols = sum(row_chunks), draw(st.integers(0, 3))
    container = draw(st.sampled_from(["array", "frame"]))
    values = st.sampled_from(_VALUES + [np.nan])
    return {
        "kind": "dask",
        "container": container,
        "n_rows": n_rows,
        "n_cols": n_cols,
        "row_chunks": row_chunks,
        "values": draw(
            st.lists(values, min_size=n_rows * n_cols, max_size=n_rows * n_cols)
        ),
        # A DataFrame filtered by keep has row counts dask does not know.
        "keep": draw(
            st.none() | st.lists(st.booleans(), min_size=n_rows, max_size=n_rows)
        )
        if container == "frame"
        else None,
        "weighted": draw(st.booleans()),
        "weights": draw(
            st.lists(st.sampled_from([0.0, 1.0, 2.5]), min_size=n_rows, max_size=n_rows)
        ),
        "momentum": draw(st.sampled_from([None, 0.5])),
    }


def _check_case(worker, case):
    problems, events = worker.check(case)
    for name in events:
        event(name)
    assert not problems, "\n".join([f"case: {case!r}", *problems])


_SETTINGS = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    "print_blob": True,
}


@settings(max_examples=N_EXAMPLES, **_SETTINGS)
@given(case=sparse_cases())
def test_sparse_input_gives_the_dense_result_or_a_clear_error(worker, case):
    _check_case(worker, case)


@pytest.mark.skipif(
    not all(importlib.util.find_spec(name) for name in ("dask", "pandas")),
    reason="needs dask and pandas",
)
@settings(max_examples=max(10, N_EXAMPLES // 5), **_SETTINGS)
@given(case=dask_cases())
def test_dask_input_gives_the_numpy_result_or_a_clear_error(worker, case):
    _check_case(worker, case)


if __name__ == "__main__" and sys.argv[1:] == ["--worker"]:
    _serve()
