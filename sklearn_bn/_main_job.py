"""The main job of ``python -m sklearn_bn``: the package's two claims, measured.

The input claim: on scikit-learn's bundled datasets, fit LogisticRegression on
raw features, behind BatchNormScaler and behind StandardScaler, and compare
iterations, fit time and accuracy.

The network claim: sweep the learning rate of a deep MLP on the digits, with
and without batch normalization in its hidden layers, and compare the test
accuracy at each learning rate.
"""

import time
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .neural_network import BatchNormMLPClassifier
from .preprocessing._scaler import BatchNormScaler

DATASETS = {
    "breast_cancer": load_breast_cancer,
    "wine": load_wine,
    "digits": load_digits,
}
SOLVERS = ("lbfgs", "saga")
SCALERS = {
    "raw": None,
    "BatchNormScaler": BatchNormScaler,
    "StandardScaler": StandardScaler,
}
# Raw features need thousands of iterations: give every fit room to converge,
# so that n_iter_ measures convergence rather than the cap.
MAX_ITER = 10_000
TOL = 1e-4


def _model(solver, scaler, max_iter=MAX_ITER):
    classifier = LogisticRegression(
        solver=solver, max_iter=max_iter, tol=TOL, random_state=0
    )
    if scaler is None:
        return classifier
    return make_pipeline(scaler(), classifier)


def _n_iter(model):
    classifier = model[-1] if hasattr(model, "steps") else model
    return int(np.max(classifier.n_iter_))


def compare(datasets=tuple(DATASETS), solvers=SOLVERS):
    """Fit LogisticRegression on raw and normalized features.

    Parameters
    ----------
    datasets : sequence of str, default=("breast_cancer", "wine", "digits")
        Names of scikit-learn's bundled datasets.
    solvers : sequence of str, default=("lbfgs", "saga")
        LogisticRegression solvers.

    Returns
    -------
    rows : list of dict
        One row per dataset, solver and scaler, with keys ``dataset``,
        ``solver``, ``scaler``, ``n_iter``, ``converged``, ``fit_time`` (seconds)
        and ``accuracy`` (on a held-out quarter of the data).
    """
    rows = []
    for name in datasets:
        X, y = DATASETS[name](return_X_y=True)
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=0.25, random_state=0, stratify=y
        )
        for solver in solvers:
            for label, scaler in SCALERS.items():
                model = _model(solver, scaler)
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", ConvergenceWarning)
                    start = time.perf_counter()
                    model.fit(X_train, y_train)
                    fit_time = time.perf_counter() - start
                converged = not any(
                    issubclass(w.category, ConvergenceWarning) for w in caught
                )
                rows.append(
                    {
                        "dataset": name,
                        "solver": solver,
                        "scaler": label,
                        "n_iter": _n_iter(model),
                        "converged": converged,
                        "fit_time": fit_time,
                        "accuracy": model.score(X_test, y_test),
                    }
                )
    return rows


def format_table(rows):
    """A markdown table of the rows returned by :func:`compare`."""
    lines = [
        "| dataset | solver | features | n_iter_ | converged | fit time (s) "
        "| test accuracy |",
        "|---|---|---|---:|---|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['dataset']} | {row['solver']} | {row['scaler']} "
            f"| {row['n_iter']} | {'yes' if row['converged'] else 'no'} "
            f"| {row['fit_time']:.3f} | {row['accuracy']:.3f} |"
        )
    return "\n".join(lines)


# The network claim: 10 hidden layers of 32 ReLU units, SGD with momentum 0.9,
# 10 epochs, at 9 learning rates half a decade apart. Few epochs on purpose:
# the question is which learning rates train a deep network quickly.
SWEEP_LEARNING_RATES = tuple(float(rate) for rate in np.logspace(-3, 1, 9))
SWEEP_NETWORK = {
    "hidden_layer_sizes": (32,) * 10,
    "solver": "sgd",
    "momentum": 0.9,
    "batch_size": 64,
    "max_iter": 10,
    "random_state": 0,
}
# A learning rate is good if its test accuracy is within this of the best.
GOOD_TOLERANCE = 0.02


def learning_rate_sweep(learning_rates=SWEEP_LEARNING_RATES, network=None):
    """Test accuracy of a deep MLP on the digits against the learning rate.

    The same network, with the same initial weights, is trained with and
    without batch normalization in its hidden layers, behind a
    BatchNormScaler, on three quarters of the digits, and scored on the rest.

    Parameters
    ----------
    learning_rates : sequence of float, default=SWEEP_LEARNING_RATES
        Values of ``learning_rate_init``: nine, from 1e-3 to 10, half a decade
        apart.
    network : dict, default=None
        Parameters of :class:`BatchNormMLPClassifier` that replace those of
        ``SWEEP_NETWORK`` (10 hidden layers of 32 ReLU units, SGD with
        momentum 0.9, batches of 64, 10 epochs).

    Returns
    -------
    rows : list of dict
        One row per learning rate, with keys ``learning_rate``,
        ``batch_norm`` and ``no_batch_norm``: the test accuracies, NaN where
        training diverged (``fit`` raised).
    """
    params = SWEEP_NETWORK | (network or {})
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=y
    )
    rows = []
    for rate in learning_rates:
        row = {"learning_rate": rate}
        for key, batch_norm in (("batch_norm", True), ("no_batch_norm", False)):
            model = make_pipeline(
                BatchNormScaler(),
                BatchNormMLPClassifier(
                    learning_rate_init=rate, batch_norm=batch_norm, **params
                ),
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                try:
                    model.fit(X_train, y_train)
                except ValueError as error:
                    # The network raises when its loss or weights overflow.
                    if not any(w in str(error) for w in ("non-finite", "diverge")):
                        raise
                    row[key] = np.nan
                    continue
            row[key] = model.score(X_test, y_test)
        rows.append(row)
    return rows


def good_learning_rates(rows, key, tolerance=GOOD_TOLERANCE):
    """The learning rates whose accuracy is within ``tolerance`` of the best.

    The best is taken over both columns of :func:`learning_rate_sweep`'s rows.
    """
    best = np.nanmax([[row["batch_norm"], row["no_batch_norm"]] for row in rows])
    return [
        row["learning_rate"]
        for row in rows
        if not np.isnan(row[key]) and row[key] >= best - tolerance
    ]


def _accuracy(value):
    return "diverged" if np.isnan(value) else f"{value:.3f}"


def format_sweep_table(rows):
    """A markdown table of the rows returned by :func:`learning_rate_sweep`."""
    lines = [
        "| learning_rate_init | test accuracy, batch_norm=True "
        "| test accuracy, batch_norm=False |",
        "|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['learning_rate']:.3g} | {_accuracy(row['batch_norm'])} "
            f"| {_accuracy(row['no_batch_norm'])} |"
        )
    return "\n".join(lines)


def summarize_sweep(rows, tolerance=GOOD_TOLERANCE):
    """One sentence: how many learning rates come within ``tolerance`` of the best."""
    parts = []
    for key, label in (("batch_norm", "with"), ("no_batch_norm", "without")):
        good = good_learning_rates(rows, key, tolerance)
        span = ""
        if good:
            low, high = f"{min(good):.3g}", f"{max(good):.3g}"
            span = f" ({low})" if low == high else f" ({low} to {high})"
        parts.append(f"{len(good)} {label} batch norm{span}")
    best = np.nanmax([[row["batch_norm"], row["no_batch_norm"]] for row in rows])
    return (
        f"digits, 10 hidden layers: of {len(rows)} learning rates, "
        f"{parts[0]} and {parts[1]} come within {100 * tolerance:.0f} points "
        f"of the best test accuracy, {best:.3f}."
    )


def loss_curve(X, y, solver, scaler, n_iter):
    """Training log-loss after k iterations, for k on a geometric grid.

    LogisticRegression keeps no loss history, but its solvers are
    deterministic given ``random_state``, so a fit stopped at ``max_iter=k``
    is the k-th iterate of the full fit.

    Returns
    -------
    iterations : ndarray of int
    losses : ndarray of float
    """
    iterations = np.unique(np.geomspace(1, max(n_iter, 1), num=25).astype(int))
    losses = []
    for k in iterations:
        model = _model(solver, scaler, max_iter=int(k))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, y)
        losses.append(log_loss(y, model.predict_proba(X)))
    return iterations, np.asarray(losses)


def plot_loss_curves(rows, path, dataset="breast_cancer"):
    """Write the training-loss-per-iteration curves of one dataset to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    X, y = DATASETS[dataset](return_X_y=True)
    X_train, _, y_train, _ = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=y
    )
    solvers = sorted({row["solver"] for row in rows}, key=SOLVERS.index)
    fig, axes = plt.subplots(
        1, len(solvers), figsize=(5 * len(solvers), 4), squeeze=False
    )
    for ax, solver in zip(axes[0], solvers, strict=True):
        for row in rows:
            if row["dataset"] != dataset or row["solver"] != solver:
                continue
            iterations, losses = loss_curve(
                X_train, y_train, solver, SCALERS[row["scaler"]], row["n_iter"]
            )
            ax.plot(iterations, losses, marker=".", label=row["scaler"])
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("iteration")
        ax.set_ylabel("training log-loss")
        ax.set_title(f"LogisticRegression({solver!r}) on {dataset}")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
