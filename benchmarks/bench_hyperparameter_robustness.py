"""A random search of the batch-norm MLP's hyperparameters, with and without batch norm.

Does batch normalization make the hyperparameter search easier? scikit-learn's
``ParameterSampler`` draws configurations of
:class:`~sklearn_bn.BatchNormMLPClassifier` (learning rate, solver, momentum
or Adam's betas, batch size, depth, width, activation, L2 alpha); one
``GridSearchCV`` then scores every configuration twice, with
``batch_norm=True`` and ``batch_norm=False``, on one held-out split. The
network exposes no initialization scale (it uses Glorot's uniform
initialization), so the search does not vary one.

Three datasets: the digits (10 classes, inputs standardized), breast cancer
(2 classes, inputs standardized), and a generated 3-class problem whose 20
features are left on scales from 1e-3 to 1e3. The tables report, per dataset
and per arm:

- the best test accuracy found, and the fraction of configurations within 2
  (and 10) points of the best found by either arm;
- how many diverge (``fit`` raises: the loss became non-finite) and how many
  stay at chance (test accuracy at most 2 points above the majority class's
  share);
- a per-hyperparameter importance: the spread (max minus min) of the mean
  accuracy across the bins of that hyperparameter, a diverged fit scoring the
  majority class's share. Momentum is binned over the SGD configurations only,
  Adam's betas over the Adam ones.

For scale, the summary also gives the held-out accuracy of
LogisticRegression behind a StandardScaler on the same split.

The time budget: 200 configurations per dataset, 10 epochs, at most 900
samples per dataset (two thirds to train, one third to test), widths of 16
to 64 units, two fits at a time (``--n-jobs 2``). On the 2-core development
machine, shared with other jobs, it took 236 s at a load average of 2 to 4,
367 s at 3 to 6 and 616 s at 8 to 10 (other jobs holding most of the 2
cores). The accuracies were the same in all three runs: every fit is seeded.
``--quick`` (CI) runs 12 configurations of 3 epochs on 300 samples in
seconds.

Usage::

    python benchmarks/bench_hyperparameter_robustness.py [--quick]
        [--n-configs 200] [--n-jobs 2] [--rst PATH]
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
from scipy.stats import loguniform, randint, uniform  # noqa: E402
from sklearn.datasets import load_breast_cancer, load_digits, make_classification  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, FitFailedWarning  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import (  # noqa: E402
    GridSearchCV,
    ParameterSampler,
    StratifiedShuffleSplit,
)
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import sklearn_bn  # noqa: E402
from sklearn_bn import BatchNormMLPClassifier  # noqa: E402

# What ParameterSampler draws. depth and width become hidden_layer_sizes.
SPACE = {
    "learning_rate_init": loguniform(1e-4, 10),
    "solver": ["sgd", "adam"],
    "momentum": uniform(0.0, 0.99),
    "beta_1": uniform(0.5, 0.49),
    "beta_2": [0.9, 0.99, 0.999],
    "batch_size": [32, 64, 128, 256],
    "depth": randint(1, 21),
    "width": [16, 32, 64],
    "activation": ["relu", "tanh", "logistic"],
    "alpha": loguniform(1e-6, 1),
}
# The bins of the importance measure: edges for numbers, None for categories.
# The last three count only where the solver uses them.
BINS = {
    "learning_rate_init": [1e-4, 1e-3, 1e-2, 1e-1, 1, 10],
    "depth": [1, 5, 9, 13, 17, 21],
    "width": None,
    "batch_size": None,
    "activation": None,
    "alpha": [1e-6, 1e-4, 1e-2, 1],
    "solver": None,
    "momentum": [0, 0.5, 0.9, 1],
    "beta_1": [0.5, 0.8, 0.9, 1],
    "beta_2": None,
}
USED_BY = {"momentum": "sgd", "beta_1": "adam", "beta_2": "adam"}
TOLERANCE = 0.02


def scaled_classification(n_samples, random_state=0):
    """A 3-class problem whose 20 features span scales from 1e-3 to 1e3."""
    X, y = make_classification(
        n_samples=n_samples,
        n_features=20,
        n_informative=6,
        n_redundant=4,
        n_classes=3,
        class_sep=2.0,
        random_state=random_state,
    )
    scales = 10.0 ** np.linspace(-3, 3, X.shape[1])
    return X * np.random.default_rng(random_state).permutation(scales), y


def datasets(max_samples):
    """name -> (X, y, whether the inputs are standardized)."""
    rng = np.random.default_rng(0)
    data = {
        "digits": (*load_digits(return_X_y=True), True),
        "breast_cancer": (*load_breast_cancer(return_X_y=True), True),
        "scaled_features": (*scaled_classification(max_samples), False),
    }
    for name, (X, y, standardize) in data.items():
        if X.shape[0] > max_samples:
            keep = np.sort(rng.choice(X.shape[0], max_samples, replace=False))
            data[name] = (X[keep], y[keep], standardize)
    return data


def sample_configs(n_configs, random_state=0):
    return list(ParameterSampler(SPACE, n_iter=n_configs, random_state=random_state))


def estimator_params(config):
    """The classifier's parameters for one sampled configuration."""
    params = {k: v for k, v in config.items() if k not in ("depth", "width")}
    params["hidden_layer_sizes"] = (config["width"],) * config["depth"]
    return params


def run_search(X, y, configs, standardize, max_iter, n_jobs):
    """Test accuracy of each configuration, shape (n_configs, 2): with, without BN.

    NaN marks a fit that failed (the training diverged).
    """
    classifier = BatchNormMLPClassifier(max_iter=max_iter, random_state=0)
    model = make_pipeline(StandardScaler(), classifier) if standardize else classifier
    prefix = "batchnormmlpclassifier__" if standardize else ""
    grid = [
        {prefix + k: [v] for k, v in estimator_params(config).items()}
        | {prefix + "batch_norm": [True, False]}
        for config in configs
    ]
    holdout = StratifiedShuffleSplit(n_splits=1, test_size=1 / 3, random_state=0)
    search = GridSearchCV(
        model, grid, cv=holdout, n_jobs=n_jobs, refit=False, error_score=np.nan
    )
    # scikit-learn hands these filters to its workers. The few epochs are on
    # purpose, the tables count the failed fits, and numpy's overflow warnings
    # come from the configurations that blow up; batch sizes are clipped on
    # the small data of --quick.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", FitFailedWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.filterwarnings("ignore", message="One or more of the test scores")
        warnings.filterwarnings("ignore", message="batch_size=.* is larger than")
        search.fit(X, y)
    results = search.cv_results_
    # ParameterGrid keeps the order of the list, and batch_norm's True first.
    assert [p[prefix + "batch_norm"] for p in results["params"][:2]] == [True, False]
    scores = results["split0_test_score"].reshape(-1, 2)
    fit_times = results["mean_fit_time"].reshape(-1, 2)
    train, test = next(holdout.split(X, y))
    chance = np.bincount(y[test]).max() / len(test)
    reference = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    reference_score = reference.fit(X[train], y[train]).score(X[test], y[test])
    return scores, fit_times, chance, reference_score


def binned_means(values, scores, edges):
    """Mean score per bin of ``values`` (bins with no value left out)."""
    if edges is None:
        labels = np.asarray(values, dtype=object)
        return [scores[labels == v].mean() for v in sorted(set(labels))]
    which = np.digitize(np.asarray(values, dtype=float), edges[1:-1])
    return [
        scores[which == b].mean() for b in range(len(edges) - 1) if (which == b).any()
    ]


def importance(configs, scores, chance):
    """name -> spread of the mean score across bins, per arm (with, without BN)."""
    filled = np.where(np.isnan(scores), chance, scores)
    solvers = np.array([c["solver"] for c in configs])
    spreads = {}
    for name, edges in BINS.items():
        rows = (
            solvers == USED_BY[name] if name in USED_BY else np.ones(len(configs), bool)
        )
        values = [c[name] for c, keep in zip(configs, rows, strict=True) if keep]
        spreads[name] = [
            np.ptp(binned_means(values, filled[rows, arm], edges)) for arm in (0, 1)
        ]
    return spreads


def summarize(scores, fit_times, chance):
    """One row per arm (with, without BN) of the summary table."""
    best = np.nanmax(scores)
    rows = []
    for arm in (0, 1):
        arm_scores = scores[:, arm]
        finite = arm_scores[~np.isnan(arm_scores)]
        rows.append(
            {
                "batch_norm": arm == 0,
                "configs": len(arm_scores),
                "best": finite.max() if finite.size else np.nan,
                "median": np.median(np.where(np.isnan(arm_scores), chance, arm_scores)),
                "within_2": np.mean(arm_scores >= best - TOLERANCE),
                "within_10": np.mean(arm_scores >= best - 0.10),
                "diverged": int(np.isnan(arm_scores).sum()),
                "at_chance": int((finite <= chance + TOLERANCE).sum()),
                "fit_time": fit_times[:, arm].sum(),
            }
        )
    return rows


def describe(config):
    """A short description of one configuration."""
    optimizer = (
        f"sgd (momentum {config['momentum']:.2f})"
        if config["solver"] == "sgd"
        else f"adam (betas {config['beta_1']:.2f}, {config['beta_2']})"
    )
    return (
        f"lr {config['learning_rate_init']:.2g}, {optimizer}, "
        f"{config['depth']}x{config['width']} {config['activation']}, "
        f"batch {config['batch_size']}, alpha {config['alpha']:.1g}"
    )


def tables(results, configs):
    summary_header = [
        "dataset",
        "batch_norm",
        "configs",
        "best accuracy",
        "within 2 points of the best",
        "within 10 points",
        "median accuracy",
        "diverged",
        "at chance",
        "fit time (s, sum)",
        "LogisticRegression, standardized",
    ]
    summary, importances, best_configs = [], [], []
    for name, (scores, fit_times, chance, reference) in results.items():
        for row in summarize(scores, fit_times, chance):
            summary.append(
                [
                    name,
                    str(row["batch_norm"]),
                    str(row["configs"]),
                    f"{row['best']:.3f}",
                    f"{row['within_2']:.1%}",
                    f"{row['within_10']:.1%}",
                    f"{row['median']:.3f}",
                    str(row["diverged"]),
                    str(row["at_chance"]),
                    f"{row['fit_time']:.0f}",
                    f"{reference:.3f}",
                ]
            )
            arm = 0 if row["batch_norm"] else 1
            best = int(np.nanargmax(scores[:, arm]))
            best_configs.append(
                [
                    name,
                    str(row["batch_norm"]),
                    f"{scores[best, arm]:.3f}",
                    describe(configs[best]),
                ]
            )
        spreads = importance(configs, scores, chance)
        for param in sorted(spreads, key=lambda p: -max(spreads[p])):
            with_bn, without_bn = spreads[param]
            importances.append(
                [name, param, f"{100 * with_bn:.1f}", f"{100 * without_bn:.1f}"]
            )
    importance_header = [
        "dataset",
        "hyperparameter",
        "spread with batch norm (points)",
        "spread without (points)",
    ]
    best_header = ["dataset", "batch_norm", "best accuracy", "configuration"]
    return [
        ("Accuracy of the sampled configurations", summary_header, summary),
        (
            "Importance: spread of the mean accuracy across each hyperparameter's "
            "bins (a diverged fit scores chance)",
            importance_header,
            importances,
        ),
        ("The best configuration of each arm", best_header, best_configs),
    ]


def markdown(header, cells):
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="12 configurations, 3 epochs, 300 samples"
    )
    parser.add_argument("--n-configs", type=int, default=None)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--rst", help="also write the tables as reStructuredText")
    args = parser.parse_args(argv)
    n_configs = args.n_configs or (12 if args.quick else 200)
    max_iter, max_samples = (3, 300) if args.quick else (10, 900)

    machine_line = machine(
        [
            f"Python {platform.python_version()}",
            f"numpy {np.__version__}",
            f"scikit-learn {sklearn.__version__}",
            f"sklearn-bn {sklearn_bn.__version__}",
        ]
    )
    print(f"Machine: {machine_line}")
    configs = sample_configs(n_configs)
    start = time.perf_counter()
    results = {}
    for name, (X, y, standardize) in datasets(max_samples).items():
        dataset_start = time.perf_counter()
        results[name] = run_search(X, y, configs, standardize, max_iter, args.n_jobs)
        print(
            f"{name}: {X.shape[0]} samples, {2 * n_configs} fits in "
            f"{time.perf_counter() - dataset_start:.0f} s"
        )
    elapsed = time.perf_counter() - start
    setup = (
        f"{n_configs} configurations per dataset, each with and without batch norm, "
        f"{max_iter} epochs, at most {max_samples} samples (a stratified third held "
        f"out), n_jobs={args.n_jobs}: {elapsed:.0f} s in all."
    )
    print(setup + "\n")
    all_tables = tables(results, configs)
    for title, header, cells in all_tables:
        print(f"{title}\n\n{markdown(header, cells)}\n")
    if args.rst:
        command = "python benchmarks/bench_hyperparameter_robustness.py" + (
            " --quick" if args.quick else ""
        )
        with open(args.rst, "w") as f:
            f.write(f"Measured with ``{command}`` on: {machine_line}. {setup}\n\n")
            for title, header, cells in all_tables:
                f.write(rst_list_table(title, header, cells) + "\n\n")


if __name__ == "__main__":
    main()
