"""Five claims about normalization layers, tested on the digits with more seeds.

The gallery examples ``plot_normalization_*.py`` test each claim with three
to five seeds so that they run in seconds; this script runs the fuller sweep
and writes it as tables. Every network is a
:class:`~sklearn_bn.BatchNormMLPClassifier` with ReLU units, trained on 1024
of the 1797 digits (standardized, stratified; 1024 rows split into whole
mini-batches of every size used) and tested on the other 773, for a fixed
number of epochs (``tol=0``, ``n_iter_no_change`` equal to ``max_iter``).
Each table gives the mean over the seeds and, where it matters, the standard
deviation.

1. Small mini-batches (Ioffe, 2017): test accuracy against the batch size
   (2 to 256) of BatchNorm, BatchRenorm, LayerNorm, RMSNorm, BatchNorm with
   population statistics and no normalization; two hidden layers of 64, SGD
   (Nesterov momentum 0.9, learning rate 0.01), under two budgets: 10 epochs
   (a smaller batch makes more updates) and 2560 updates (5 epochs with 2
   rows, 640 with 256).
2. Large mini-batches (Hoffer et al., 2017): a small batch of 32 against
   large ones of 256 and 512, with BatchNorm or GhostBatchNorm (virtual
   batches of 8 to 64), at the same number of epochs (10) and at the same
   number of updates (320); the large batches' learning rate is the small
   one's times the square root of the ratio of the sizes. Then a ragged last
   mini-batch: 898 training rows in batches of 256 leave a last batch of 130,
   four ghost batches of 32 and 2 rows, which join the one before (a last
   ghost batch under half the virtual batch size does); against 896 rows.
3. Stale statistics (Wu and Johnson, 2021): running averages with momentum
   0.1, 0.01, 0.001 and None (the cumulative average) against population
   statistics, after 1 to 20 epochs in batches of 32.
4. Position: BatchNorm before or after the activation, four hidden layers of
   64, 10 epochs in batches of 64, SGD or Adam, learning rates from 1e-3 to
   10.
5. Dropout before batch norm (Li et al., 2019): four hidden layers of 16 or
   64, dropout 0 to 0.5, the ratio of each batch norm's inference variance
   (its population statistics) to its running variance, and the test
   accuracy and log loss with running and with population statistics.

About 7 to 12 minutes on 2 cores (``--n-jobs 2``; 422 s and 692 s on the
shared 2-core development machine, with other jobs running), most of it in the 2560
updates of the first table; ``--quick`` (CI) runs a few settings with one
seed in 20 s.

Usage::

    python benchmarks/bench_normalizations.py [--quick] [--seeds 10]
        [--n-jobs 2] [--rst PATH]
"""

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import sklearn  # noqa: E402
from _report import machine, rst_list_table  # noqa: E402
from joblib import Parallel, delayed  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.metrics import log_loss  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import sklearn_bn  # noqa: E402
from sklearn_bn import (  # noqa: E402
    BatchNorm,
    BatchNormMLPClassifier,
    BatchRenorm,
    GhostBatchNorm,
    LayerNorm,
    RMSNorm,
)

N_TRAIN = 1024


def digits():
    """Standardized training and test sets: 1024 and 773 rows."""
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, train_size=N_TRAIN, stratify=y, random_state=0
    )
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


DATA = digits()


def fit_and_score(params, seed, n_train=N_TRAIN):
    """Train and test accuracy, test log loss and the fitted running variances.

    A fit whose loss becomes non-finite raises; it scores NaN.
    """
    warnings.simplefilter("ignore", ConvergenceWarning)
    warnings.simplefilter("ignore", RuntimeWarning)  # overflow while diverging
    X_train, X_test, y_train, y_test = DATA
    X_train, y_train = X_train[:n_train], y_train[:n_train]
    defaults = dict(
        hidden_layer_sizes=(64, 64),
        solver="sgd",
        momentum=0.9,
        learning_rate_init=0.01,
        batch_size=32,
        tol=0,
    )
    params = defaults | params
    mlp = BatchNormMLPClassifier(
        **params, n_iter_no_change=params["max_iter"], random_state=seed
    )
    try:
        mlp.fit(X_train, y_train)
    except ValueError:
        return dict(train=np.nan, test=np.nan, log_loss=np.nan, variances=None)
    variances = mlp.bn_running_vars_
    return dict(
        train=mlp.score(X_train, y_train),
        test=mlp.score(X_test, y_test),
        log_loss=log_loss(y_test, mlp.predict_proba(X_test), labels=mlp.classes_),
        variances=None if variances is None else np.array(variances),
    )


def run_all(jobs, seeds, n_jobs):
    """name -> list of results, one per seed, for every job (name, params, n)."""
    results = Parallel(n_jobs=n_jobs)(
        delayed(fit_and_score)(params, seed, n_train)
        for _, params, n_train in jobs
        for seed in seeds
    )
    return {
        name: results[i * len(seeds) : (i + 1) * len(seeds)]
        for i, (name, _, _) in enumerate(jobs)
    }


def mean_std(results, key="test"):
    values = np.array([result[key] for result in results], dtype=float)
    if np.isnan(values).all():
        return "diverged"
    text = f"{np.nanmean(values):.3f} ± {np.nanstd(values):.3f}"
    failed = int(np.isnan(values).sum())
    return text + (f" ({failed} diverged)" if failed else "")


# 1. Small mini-batches ----------------------------------------------------------

SMALL_BATCH_KINDS = {
    "BatchNorm()": BatchNorm(),
    "BatchRenorm()": BatchRenorm(),
    "LayerNorm()": LayerNorm(),
    "RMSNorm()": RMSNorm(),
    'BatchNorm(statistics="population")': BatchNorm(statistics="population"),
    "none (batch_norm=False)": False,
}


def small_batch_jobs(quick):
    sizes = [2, 32, 256] if quick else [2, 4, 8, 16, 32, 64, 128, 256]
    updates = 256 if quick else 2560
    budgets = [("10 epochs", None), (f"{updates} updates", updates)]
    jobs = []
    for budget, updates in budgets:
        for size in sizes:
            epochs = 10 if updates is None else updates * size // N_TRAIN
            for name, kind in SMALL_BATCH_KINDS.items():
                params = dict(batch_norm=kind, batch_size=size, max_iter=max(epochs, 1))
                jobs.append(((budget, size, name), params, N_TRAIN))
    return jobs


def small_batch_table(results):
    budgets = sorted({budget for budget, _, _ in results})
    sizes = sorted({size for _, size, _ in results})
    header = ["budget", "batch_size", *SMALL_BATCH_KINDS]
    rows = [
        [budget, str(size)]
        + [mean_std(results[budget, size, name]) for name in SMALL_BATCH_KINDS]
        for budget in budgets
        for size in sizes
    ]
    return ("Test accuracy against the mini-batch size", header, rows)


# 2. Large mini-batches ------------------------------------------------------------


def large_batch_jobs(quick):
    small = 32
    larges = [256] if quick else [256, 512]
    virtual_sizes = [32] if quick else [8, 16, 32, 64]
    small_epochs = 2 if quick else 10
    small_updates = small_epochs * N_TRAIN // small
    jobs = [
        (
            ("small", small, "BatchNorm()", "-"),
            dict(batch_norm=BatchNorm(), batch_size=small, max_iter=small_epochs),
            N_TRAIN,
        )
    ]
    for large in larges:
        rate = 0.01 * np.sqrt(large / small)
        budgets = {
            f"same epochs ({small_epochs})": small_epochs,
            f"same updates ({small_updates})": small_updates * large // N_TRAIN,
        }
        kinds = {"BatchNorm()": BatchNorm()} | {
            f"GhostBatchNorm({size})": GhostBatchNorm(virtual_batch_size=size)
            for size in virtual_sizes
        }
        for budget, epochs in budgets.items():
            for name, kind in kinds.items():
                params = dict(
                    batch_norm=kind,
                    batch_size=large,
                    max_iter=epochs,
                    learning_rate_init=rate,
                )
                jobs.append((("large", large, name, budget), params, N_TRAIN))
    # A ragged last mini-batch: 898 rows leave 130, cut into 4 x 32 + 2.
    large = 256
    epochs = small_updates * large // N_TRAIN
    for n_train in (898, 896):
        for name, kind in {
            "BatchNorm()": BatchNorm(),
            "GhostBatchNorm(32)": GhostBatchNorm(32),
        }.items():
            params = dict(
                batch_norm=kind,
                batch_size=large,
                max_iter=epochs,
                learning_rate_init=0.01 * np.sqrt(large / small),
            )
            jobs.append(
                (
                    ("ragged", large, name, f"{n_train} rows, {epochs} epochs"),
                    params,
                    n_train,
                )
            )
    return jobs


def large_batch_tables(results):
    header = [
        "batch_size",
        "normalization",
        "budget",
        "test accuracy",
        "worst seed",
        "train - test",
    ]
    rows, ragged = [], []
    for (part, size, name, budget), runs in results.items():
        gap = mean_std([dict(gap=r["train"] - r["test"]) for r in runs], "gap")
        worst = f"{np.nanmin([r['test'] for r in runs]):.3f}"
        row = [str(size), name, budget, mean_std(runs), worst, gap]
        (ragged if part == "ragged" else rows).append(row)
    return [
        ("Large mini-batches, with and without ghost batches", header, rows),
        (
            "A ragged last mini-batch (batches of 256, as many updates as above)",
            header,
            ragged,
        ),
    ]


# 3. Stale statistics ----------------------------------------------------------------

MOMENTUMS = [0.1, 0.01, 0.001, None]


def statistics_jobs(quick):
    epochs_grid = [1, 5] if quick else [1, 2, 5, 10, 20]
    kinds = {"population": BatchNorm(statistics="population")} | {
        f"running, momentum={m}": BatchNorm(momentum=m) for m in MOMENTUMS
    }
    return [
        ((epochs, name), dict(batch_norm=kind, max_iter=epochs), N_TRAIN)
        for epochs in epochs_grid
        for name, kind in kinds.items()
    ]


def statistics_table(results):
    epochs_grid = sorted({epochs for epochs, _ in results})
    names = list(dict.fromkeys(name for _, name in results))
    header = ["epochs", *names, "running / population variance, layer 2 (median)"]
    rows = []
    for epochs in epochs_grid:
        population = [r["variances"][1] for r in results[epochs, "population"]]
        ratios = []
        for m in MOMENTUMS:
            running = [
                r["variances"][1] for r in results[epochs, f"running, momentum={m}"]
            ]
            ratio = np.median(np.array(running) / np.array(population))
            ratios.append(f"{m}: {ratio:.2f}")
        rows.append(
            [str(epochs)]
            + [mean_std(results[epochs, name]) for name in names]
            + ["; ".join(ratios)]
        )
    return ("Running averages or population statistics", header, rows)


# 4. Position ------------------------------------------------------------------------


def position_jobs(quick):
    rates = np.logspace(-3, 1, 3 if quick else 9)
    return [
        (
            (solver, rate, position),
            dict(
                batch_norm=BatchNorm(position=position),
                hidden_layer_sizes=(64,) * 4,
                solver=solver,
                learning_rate_init=rate,
                batch_size=64,
                max_iter=10,
            ),
            N_TRAIN,
        )
        for solver in ("sgd", "adam")
        for rate in rates
        for position in ("before_activation", "after_activation")
    ]


def position_table(results):
    keys = sorted({(solver, rate) for solver, rate, _ in results})
    header = ["solver", "learning_rate_init", "before_activation", "after_activation"]
    rows = [
        [solver, f"{rate:.3g}"]
        + [
            mean_std(results[solver, rate, p])
            for p in ("before_activation", "after_activation")
        ]
        for solver, rate in keys
    ]
    return ("BatchNorm before or after the activation: test accuracy", header, rows)


# 5. Dropout --------------------------------------------------------------------------


def dropout_jobs(quick):
    rates = [0.0, 0.5] if quick else [0.0, 0.1, 0.2, 0.3, 0.5]
    return [
        (
            (width, rate, statistics),
            dict(
                batch_norm=BatchNorm(statistics=statistics),
                hidden_layer_sizes=(width,) * 4,
                dropout=rate,
                max_iter=10,
            ),
            N_TRAIN,
        )
        for width in (16, 64)
        for rate in rates
        for statistics in ("running", "population")
    ]


def dropout_table(results):
    keys = sorted({(width, rate) for width, rate, _ in results})
    header = [
        "width",
        "dropout",
        "inference / running variance, layers 1 to 4",
        "accuracy, running",
        "accuracy, population",
        "log loss, running",
        "log loss, population",
    ]
    rows = []
    for width, rate in keys:
        running, population = (
            results[width, rate, s] for s in ("running", "population")
        )
        ratio = np.mean(
            [
                p["variances"] / r["variances"]
                for p, r in zip(population, running, strict=True)
            ],
            axis=(0, 2),
        )
        rows.append(
            [str(width), str(rate), ", ".join(f"{v:.2f}" for v in ratio)]
            + [mean_std(runs) for runs in (running, population)]
            + [mean_std(runs, "log_loss") for runs in (running, population)]
        )
    return ("Dropout before batch norm: the variance shift and its cost", header, rows)


# -------------------------------------------------------------------------------------

SECTIONS = [
    (small_batch_jobs, lambda results: [small_batch_table(results)]),
    (large_batch_jobs, large_batch_tables),
    (statistics_jobs, lambda results: [statistics_table(results)]),
    (position_jobs, lambda results: [position_table(results)]),
    (dropout_jobs, lambda results: [dropout_table(results)]),
]


def markdown(header, cells):
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few settings, 1 seed")
    parser.add_argument("--seeds", type=int, default=None, help="10 by default")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--rst", help="also write the tables as reStructuredText")
    args = parser.parse_args(argv)
    seeds = list(range(args.seeds or (1 if args.quick else 10)))

    machine_line = machine(
        [
            f"Python {platform.python_version()}",
            f"numpy {np.__version__}",
            f"scikit-learn {sklearn.__version__}",
            f"sklearn-bn {sklearn_bn.__version__}",
        ]
    )
    print(f"Machine: {machine_line}")
    start = time.perf_counter()
    all_tables = []
    for make_jobs, make_tables in SECTIONS:
        section_start = time.perf_counter()
        jobs = make_jobs(args.quick)
        tables = make_tables(run_all(jobs, seeds, args.n_jobs))
        for title, header, cells in tables:
            print(f"\n{title}\n\n{markdown(header, cells)}")
        print(
            f"({len(jobs) * len(seeds)} fits in "
            f"{time.perf_counter() - section_start:.0f} s)"
        )
        all_tables += tables
    elapsed = time.perf_counter() - start
    setup = (
        f"{len(seeds)} seed{'s' * (len(seeds) > 1)} per setting "
        "(mean ± standard deviation), "
        f"n_jobs={args.n_jobs}: {elapsed:.0f} s in all."
    )
    print("\n" + setup)
    if args.rst:
        command = "python benchmarks/bench_normalizations.py" + (
            " --quick" if args.quick else ""
        )
        with open(args.rst, "w") as f:
            f.write(f"Measured with ``{command}`` on: {machine_line}. {setup}\n\n")
            for title, header, cells in all_tables:
                f.write(rst_list_table(title, header, cells) + "\n\n")


if __name__ == "__main__":
    main()
