"""Fit throughput on a dask array on a two-worker LocalCluster.

BatchNormScaler against dask-ml's StandardScaler and against dask's own
``X.mean(axis=0)`` and ``X.var(axis=0)`` computed together, on the same
persisted array in the same run. Prints an rst list-table; ``--output PATH``
also writes it there.

    python benchmarks/bench_dask.py [--gigabytes 4] [--repeat 3] [--output PATH]
"""

import argparse
import platform
import statistics
import time

from _report import machine, rst_list_table


def _timings(fit, repeat):
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        fit()
        seconds.append(time.perf_counter() - start)
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gigabytes", type=float, default=4.0)
    parser.add_argument("--n-features", type=int, default=50)
    parser.add_argument("--chunk-mb", type=float, default=100.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--output", default=None)
    args = parser.parse_args()

    import dask
    import dask.array as da
    import dask_ml
    import distributed
    import numpy as np
    import sklearn
    from dask_ml.preprocessing import StandardScaler

    import sklearn_bn
    from sklearn_bn import BatchNormScaler

    n_features = args.n_features
    n_samples = int(args.gigabytes * 1e9 / 8 / n_features)
    chunk_rows = int(args.chunk_mb * 1e6 / 8 / n_features)
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            memory_limit=None,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        rng = da.random.default_rng(0)
        X = rng.standard_normal((n_samples, n_features), chunks=(chunk_rows, -1))
        X = (X * np.logspace(-2, 3, n_features) + 7.0).persist()
        weights = rng.uniform(0.0, 2.0, n_samples, chunks=chunk_rows).persist()
        distributed.wait([X, weights])

        def mean_and_var():
            return da.compute(X.mean(axis=0), X.var(axis=0))

        contenders = [
            ("BatchNormScaler().fit(X)", lambda: BatchNormScaler().fit(X)),
            (
                "BatchNormScaler().fit(X, sample_weight=w)",
                lambda: BatchNormScaler().fit(X, sample_weight=weights),
            ),
            (
                "BatchNormScaler(momentum=0.1).fit(X)",
                lambda: BatchNormScaler(momentum=0.1).fit(X),
            ),
            ("dask_ml StandardScaler().fit(X)", lambda: StandardScaler().fit(X)),
            ("da.compute(X.mean(0), X.var(0))", mean_and_var),
        ]
        # Agreement, so that the contenders are seen to compute the same thing.
        ours, theirs = BatchNormScaler().fit(X), StandardScaler().fit(X)
        agreement = float(np.max(np.abs(ours.var_ / theirs.var_ - 1)))
        rows = []
        for name, fit in contenders:
            fit()  # warm up: imports and first-task costs on the workers
            seconds = _timings(fit, args.repeat)
            rows.append((name, min(seconds), statistics.median(seconds)))
        n_workers = len(client.scheduler_info()["workers"])

    gigabytes = X.nbytes / 1e9
    lines = [
        f"Fit on a persisted dask array of {gigabytes:.1f} GB (float64, "
        f"{n_samples:,} x {n_features}, chunks of {chunk_rows:,} rows, "
        f"{X.numblocks[0]} chunks) on a LocalCluster of {n_workers} worker "
        "processes with one thread each. Best and median of "
        f"{args.repeat} runs after a warm-up. dask-ml's StandardScaler has no "
        "``partial_fit`` and no ``sample_weight``; its variances agree with "
        f"BatchNormScaler's to {agreement:.1e} relative.",
        "",
        rst_list_table(
            "",
            ["Fit", "Best (s)", "Median (s)", "Throughput (GB/s, best)"],
            [
                [
                    f"``{name}``",
                    f"{best:.2f}",
                    f"{median:.2f}",
                    f"{gigabytes / best:.2f}",
                ]
                for name, best, median in rows
            ],
        ),
    ]
    lines += [
        "",
        "Machine: "
        + machine(
            [
                f"Python {platform.python_version()}",
                f"numpy {np.__version__}",
                f"scikit-learn {sklearn.__version__}",
                f"dask {dask.__version__}",
                f"distributed {distributed.__version__}",
                f"dask-ml {dask_ml.__version__}",
                f"sklearn-bn {sklearn_bn.__version__}",
            ]
        )
        + ".",
        "",
        "Command: ``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 "
        f"python benchmarks/bench_dask.py --gigabytes {args.gigabytes:g} "
        f"--repeat {args.repeat}``",
    ]
    table = "\n".join(lines) + "\n"
    print(table)
    if args.output:
        with open(args.output, "w") as output:
            output.write(table)


if __name__ == "__main__":
    main()
