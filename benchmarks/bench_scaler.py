"""BatchNormScaler against StandardScaler and the memory-bandwidth references.

Run ``python benchmarks/bench_scaler.py`` (``--quick`` for small shapes, as CI
does). Every case is timed in this one process with interleaved repeats, and
the tables report medians (and, for the ratios to the references, the ratio
of the minima after a slash), throughput and ratios:

- ``fit`` against StandardScaler.fit, ``X.sum()`` (one read of X) and the
  same read on both cores (X split into two row halves, ``half.sum()`` on a
  thread each);
- ``transform`` and ``inverse_transform`` against StandardScaler's,
  ``np.multiply(X, c)`` into a new array (one read and one write) and the
  same multiply on both cores (each half into its half of a new array);
- the peak memory that ``fit`` and ``transform`` allocate beyond X, measured
  with tracemalloc in a child process per case;
- a stream of small ``partial_fit`` calls and a case with 1% NaN;
- sparse CSR and CSC matrices in float64 and float32, against
  ``StandardScaler(with_mean=False)``;
- the same ``fit`` and ``transform`` without the compiled kernels (the numpy
  code the package falls back on where it was built without a C compiler),
  the gain that justifies the kernels.
"""

import argparse
import multiprocessing
import os
import platform
import statistics
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy
import sklearn
from _report import machine, rst_list_table
from scipy import sparse
from sklearn.preprocessing import StandardScaler

import sklearn_bn
from sklearn_bn import BatchNormScaler
from sklearn_bn.preprocessing import _native, _threads

SHAPES = [(500_000, 100), (50_000, 1_000), (4_000_000, 10)]
QUICK_SHAPES = [(50_000, 100), (5_000, 1_000), (400_000, 10)]
SPARSE_SHAPE, QUICK_SPARSE_SHAPE = (200_000, 2_000), (20_000, 2_000)
MiB = 2**20


def _make(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal(shape, dtype=np.float32 if dtype == "float32" else None)
    X *= 3.0
    X += 10.0
    return X


def _without_kernels(task):
    """``task`` on BatchNormScaler's numpy code, as if built without a compiler."""

    def run():
        kernels, _native.kernels = _native.kernels, None
        try:
            return task()
        finally:
            _native.kernels = kernels

    return run


class Times(dict):
    """Median seconds of each task; ``minima`` holds the fastest run."""

    def __init__(self, samples):
        super().__init__({k: statistics.median(v) for k, v in samples.items()})
        self.minima = {name: min(values) for name, values in samples.items()}

    def ratio(self, numerator, denominator):
        """The ratio of the medians, then that of the minima: ``1.23x / 1.10x``."""
        medians = self[numerator] / self[denominator]
        minima = self.minima[numerator] / self.minima[denominator]
        return f"{medians:.2f}x / {minima:.2f}x"


def _interleaved(tasks, repeats):
    """The seconds of each task, running them in turn ``repeats`` times."""
    times = {name: [] for name in tasks}
    for _ in range(repeats):
        for name, task in tasks.items():
            start = time.perf_counter()
            task()
            times[name].append(time.perf_counter() - start)
    return Times(times)


def _two_core(X, c, pool):
    """The references on both cores: X split into two row halves, each read
    (``half.sum()``) or multiplied into its half of a new array on a thread
    of its own, as BatchNormScaler's threads share X."""
    bounds = [(0, len(X) // 2), (len(X) // 2, len(X))]

    def read():
        return sum(pool.map(lambda b: X[b[0] : b[1]].sum(), bounds))

    def multiply():
        out = np.empty_like(X)
        list(
            pool.map(
                lambda b: np.multiply(X[b[0] : b[1]], c, out=out[b[0] : b[1]]),
                bounds,
            )
        )
        return out

    return read, multiply


def _peak_extra_memory(args):
    """Peak bytes allocated by one method call beyond its input (child process)."""
    shape, dtype, method, copy = args
    X = _make(shape, dtype)
    scaler = BatchNormScaler(copy=copy)
    if method != "fit":
        scaler.fit(X)
    tracemalloc.start()
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    result = getattr(scaler, method)(X)
    peak = tracemalloc.get_traced_memory()[1] - before
    tracemalloc.stop()
    del result
    return peak


def _memory(shape, dtype):
    cases = [
        ("fit", True),
        ("transform", True),
        ("transform", False),
    ]
    context = multiprocessing.get_context("spawn")
    peaks = {}
    for method, copy in cases:
        with context.Pool(1) as pool:
            peaks[method, copy] = pool.apply(
                _peak_extra_memory, ((shape, dtype, method, copy),)
            )
    return peaks


def bench_dense(shape, dtype, repeats):
    X = _make(shape, dtype)
    gb = X.nbytes / 1e9
    ours = BatchNormScaler().fit(X)
    theirs = StandardScaler().fit(X)
    Xt = ours.transform(X)
    c = np.float32(1.5) if dtype == "float32" else 1.5
    pool = ThreadPoolExecutor(2)
    read, multiply = _two_core(X, c, pool)
    # Each reference runs right beside what it is compared with, so that a
    # slow spell of the shared machine tends to hit both.
    times = _interleaved(
        {
            "X.sum()": X.sum,
            "2-core read": read,
            "BN fit": lambda: BatchNormScaler().fit(X),
            "SS fit": lambda: StandardScaler().fit(X),
            "BN transform": lambda: ours.transform(X),
            "np.multiply(X, c)": lambda: np.multiply(X, c),
            "2-core multiply": multiply,
            "BN inverse": lambda: ours.inverse_transform(Xt),
            "SS transform": lambda: theirs.transform(X),
            "SS inverse": lambda: theirs.inverse_transform(Xt),
            "numpy fit": _without_kernels(lambda: BatchNormScaler().fit(X)),
            "numpy transform": _without_kernels(lambda: ours.transform(X)),
        },
        repeats,
    )
    pool.shutdown()
    peaks = _memory(shape, dtype)
    return {
        "case": f"{shape[0]}x{shape[1]} {dtype}",
        "gb": gb,
        "times": times,
        "peaks": peaks,
        "X_bytes": X.nbytes,
    }


def bench_nan(shape, repeats):
    X = _make(shape, "float64")
    rng = np.random.default_rng(1)
    X[rng.random(shape) < 0.01] = np.nan
    ours, theirs = BatchNormScaler().fit(X), StandardScaler().fit(X)
    return _interleaved(
        {
            "BN fit": lambda: BatchNormScaler().fit(X),
            "SS fit": lambda: StandardScaler().fit(X),
            "BN transform": lambda: ours.transform(X),
            "SS transform": lambda: theirs.transform(X),
        },
        repeats,
    )


def bench_sparse(shape, fmt, dtype, repeats):
    X = sparse.random(
        *shape, density=0.01, format=fmt, random_state=0, dtype=np.dtype(dtype)
    )
    X.data *= 3
    ours = BatchNormScaler(with_mean=False).fit(X)
    theirs = StandardScaler(with_mean=False).fit(X)
    return _interleaved(
        {
            "BN fit": lambda: BatchNormScaler(with_mean=False).fit(X),
            "SS fit": lambda: StandardScaler(with_mean=False).fit(X),
            "BN transform": lambda: ours.transform(X),
            "SS transform": lambda: theirs.transform(X),
        },
        repeats,
    )


def bench_stream(n_calls, repeats):
    batches = [_make((256, 20), "float64", seed=i) for i in range(n_calls)]

    def stream(make):
        scaler = make()
        for batch in batches:
            scaler.partial_fit(batch)

    return _interleaved(
        {
            "BN partial_fit": lambda: stream(BatchNormScaler),
            "SS partial_fit": lambda: stream(StandardScaler),
        },
        repeats,
    )


def _ms(seconds):
    return f"{seconds * 1e3:.1f}"


def _fit_table(rows):
    header = [
        "case",
        "X.sum() ms",
        "2-core read ms",
        "BN fit ms",
        "BN fit GB/s",
        "SS fit ms",
        "SS / BN",
        "BN / X.sum()",
        "BN / 2-core read",
    ]
    cells = []
    for row in rows:
        t = row["times"]
        fit = t["BN fit"]
        cells.append(
            [
                row["case"],
                _ms(t["X.sum()"]),
                _ms(t["2-core read"]),
                _ms(fit),
                f"{row['gb'] / fit:.1f}",
                _ms(t["SS fit"]),
                f"{t['SS fit'] / fit:.1f}x",
                f"{fit / t['X.sum()']:.2f}x",
                t.ratio("BN fit", "2-core read"),
            ]
        )
    return header, cells


def _transform_table(rows):
    header = [
        "case",
        "multiply ms",
        "2-core multiply ms",
        "BN transform ms",
        "SS / BN",
        "BN / multiply",
        "BN / 2-core multiply",
        "BN inverse ms",
        "SS / BN inverse",
        "BN inverse / 2-core multiply",
    ]
    cells = []
    for row in rows:
        t = row["times"]
        multiply, tr, inv = t["np.multiply(X, c)"], t["BN transform"], t["BN inverse"]
        cells.append(
            [
                row["case"],
                _ms(multiply),
                _ms(t["2-core multiply"]),
                _ms(tr),
                f"{t['SS transform'] / tr:.1f}x",
                f"{tr / multiply:.2f}x",
                t.ratio("BN transform", "2-core multiply"),
                _ms(inv),
                f"{t['SS inverse'] / inv:.1f}x",
                t.ratio("BN inverse", "2-core multiply"),
            ]
        )
    return header, cells


def _fallback_table(rows):
    header = [
        "case",
        "numpy fit ms",
        "numpy fit / X.sum()",
        "kernel gain, fit",
        "numpy transform ms",
        "numpy transform / multiply",
        "kernel gain, transform",
    ]
    cells = []
    for row in rows:
        t = row["times"]
        fit, tr = t["numpy fit"], t["numpy transform"]
        cells.append(
            [
                row["case"],
                _ms(fit),
                f"{fit / t['X.sum()']:.2f}x",
                f"{fit / t['BN fit']:.1f}x",
                _ms(tr),
                f"{tr / t['np.multiply(X, c)']:.2f}x",
                f"{tr / t['BN transform']:.1f}x",
            ]
        )
    return header, cells


def _memory_table(rows):
    header = [
        "case",
        "X MiB",
        "fit extra MiB",
        "transform extra MiB (copy=True)",
        "transform extra MiB (copy=False)",
    ]
    cells = [
        [
            row["case"],
            f"{row['X_bytes'] / MiB:.0f}",
            f"{row['peaks']['fit', True] / MiB:.1f}",
            f"{row['peaks']['transform', True] / MiB:.1f}",
            f"{row['peaks']['transform', False] / MiB:.1f}",
        ]
        for row in rows
    ]
    return header, cells


def _pair_table(cases):
    header = ["case", "BatchNormScaler ms", "StandardScaler ms", "SS / BN"]
    cells = []
    for title, times in cases:
        for step in ["fit", "transform", "partial_fit"]:
            if f"BN {step}" in times:
                ours, theirs = times[f"BN {step}"], times[f"SS {step}"]
                cells.append(
                    [
                        f"{title} {step}",
                        _ms(ours),
                        _ms(theirs),
                        times.ratio(f"SS {step}", f"BN {step}"),
                    ]
                )
    return header, cells


def _markdown(header, cells):
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines)


def _machine():
    return machine(
        [
            f"Python {platform.python_version()}",
            f"numpy {np.__version__}",
            f"scipy {scipy.__version__}",
            f"scikit-learn {sklearn.__version__}",
            f"sklearn-bn {sklearn_bn.__version__}",
            "kernels: "
            + (_native.kernels.variant() if _native.kernels else "not built"),
            f"BatchNormScaler threads: {_scaler_threads()}",
        ]
    )


def _scaler_threads():
    """The threads BatchNormScaler takes for a large X: the cores, unless a
    BLAS limit (OMP_NUM_THREADS, OPENBLAS_NUM_THREADS) holds it to fewer,
    when the two-core references are no fair comparison."""
    return _threads.n_threads(np.empty(_threads.THREADED_BYTES, dtype=np.uint8))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small shapes, 3 repeats")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--rst", help="also write the tables as reStructuredText")
    args = parser.parse_args(argv)
    shapes = QUICK_SHAPES if args.quick else SHAPES
    repeats = args.repeats or (3 if args.quick else 7)
    n_calls = 200 if args.quick else 2000

    machine = _machine()
    print(f"Machine: {machine}")
    if _scaler_threads() < 2 <= (os.cpu_count() or 1):
        print(
            "Note: a BLAS thread limit (OMP_NUM_THREADS, OPENBLAS_NUM_THREADS) "
            "holds BatchNormScaler to one thread, while the two-core references "
            "take two: run without it to compare them."
        )
    print(
        f"Medians of {repeats} interleaved repeats; ratios to the references: "
        "of the medians / of the minima.\n"
    )
    rows = [
        bench_dense(shape, dtype, repeats)
        for shape in shapes
        for dtype in ("float64", "float32")
    ]
    nan_shape = shapes[0]
    sparse_shape = QUICK_SPARSE_SHAPE if args.quick else SPARSE_SHAPE
    pairs = [
        (f"{nan_shape[0]}x{nan_shape[1]}, 1% NaN,", bench_nan(nan_shape, repeats)),
        (f"{n_calls} calls on 256x20:", bench_stream(n_calls, repeats)),
    ]
    sparse_pairs = [
        (
            f"{fmt.upper()} {sparse_shape[0]}x{sparse_shape[1]} {dtype}, 1% stored,",
            bench_sparse(sparse_shape, fmt, dtype, repeats),
        )
        for fmt in ("csr", "csc")
        for dtype in ("float64", "float32")
    ]
    tables = [
        (
            "fit: BatchNormScaler (BN) vs StandardScaler (SS) and X.sum()",
            _fit_table(rows),
        ),
        (
            "transform and inverse_transform vs np.multiply(X, c)",
            _transform_table(rows),
        ),
        (
            "Peak memory allocated beyond X (tracemalloc, child process)",
            _memory_table(rows),
        ),
        (
            "Sparse input: StandardScaler(with_mean=False) vs BatchNormScaler",
            _pair_table(sparse_pairs),
        ),
        ("NaN and a stream of small partial_fit calls", _pair_table(pairs)),
        (
            "Without the compiled kernels: the numpy fallback, and the kernels' gain",
            _fallback_table(rows),
        ),
    ]
    for title, (header, cells) in tables:
        print(f"{title}\n\n{_markdown(header, cells)}\n")
    if args.rst:
        command = "python benchmarks/bench_scaler.py" + (
            " --quick" if args.quick else ""
        )
        with open(args.rst, "w") as f:
            f.write(
                f"Measured with ``{command}`` on: {machine}. "
                f"Medians of {repeats} interleaved repeats; ratios to the "
                "references: of the medians / of the minima.\n\n"
            )
            for title, (header, cells) in tables:
                f.write(rst_list_table(title, header, cells) + "\n\n")


if __name__ == "__main__":
    main()
