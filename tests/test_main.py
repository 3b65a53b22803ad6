"""The main job, ``python -m sklearn_bn``."""

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_bn._main_job import (
    DATASETS,
    SWEEP_NETWORK,
    compare,
    format_sweep_table,
    format_table,
    good_learning_rates,
    learning_rate_sweep,
    loss_curve,
    summarize_sweep,
)


def test_breast_cancer_lbfgs_needs_ten_times_fewer_iterations():
    rows = compare(datasets=["breast_cancer"], solvers=["lbfgs"])
    by_scaler = {row["scaler"]: row for row in rows}
    assert by_scaler["raw"]["n_iter"] >= 10 * by_scaler["BatchNormScaler"]["n_iter"]
    assert all(row["converged"] for row in rows)
    assert by_scaler["BatchNormScaler"]["accuracy"] >= by_scaler["raw"]["accuracy"]
    table = format_table(rows)
    assert table.count("\n") == 4 and "| breast_cancer | lbfgs | raw |" in table


def test_loss_curve_decreases_to_the_converged_loss():
    X, y = DATASETS["wine"](return_X_y=True)
    X, _, y, _ = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    from sklearn_bn import BatchNormScaler

    iterations, losses = loss_curve(X, y, "lbfgs", BatchNormScaler, 15)
    assert iterations[0] == 1 and iterations[-1] == 15
    assert losses[-1] < 0.2 * losses[0]


def _sklearn_mlp_accuracy(learning_rate):
    """scikit-learn's MLPClassifier, the sweep's network without batch norm."""
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=y
    )
    params = {k: v for k, v in SWEEP_NETWORK.items() if k != "random_state"}
    model = make_pipeline(
        StandardScaler(),
        MLPClassifier(learning_rate_init=learning_rate, random_state=0, **params),
    )
    # MLPClassifier does not raise where the loss overflows: it keeps going.
    with warnings.catch_warnings(), np.errstate(over="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_train, y_train)
    return model.score(X_test, y_test)


def test_deep_network_trains_at_a_learning_rate_that_fails_without_batch_norm():
    (row,) = learning_rate_sweep(learning_rates=[0.316])
    assert row["learning_rate"] == 0.316
    assert row["batch_norm"] >= 0.9
    # Without batch norm the same network diverges or learns next to nothing,
    # and so does scikit-learn's MLPClassifier with the same settings.
    assert np.isnan(row["no_batch_norm"]) or row["no_batch_norm"] < 0.3
    assert _sklearn_mlp_accuracy(0.316) < 0.3


def test_sweep_reports_divergence_as_nan_and_the_table_says_diverged():
    (row,) = learning_rate_sweep(learning_rates=[10.0], network={"max_iter": 2})
    assert np.isnan(row["no_batch_norm"])
    table = format_sweep_table([row])
    assert table.splitlines()[-1].endswith("| diverged |")
    assert "batch_norm=True" in table.splitlines()[0]


def test_good_learning_rates_are_those_within_two_points_of_the_best_of_both():
    rows = [
        {"learning_rate": 0.01, "batch_norm": 0.93, "no_batch_norm": 0.50},
        {"learning_rate": 0.1, "batch_norm": 0.95, "no_batch_norm": 0.94},
        {"learning_rate": 1.0, "batch_norm": 0.929, "no_batch_norm": np.nan},
    ]
    # The best of both columns is 0.95: within 2 points means >= 0.93.
    assert good_learning_rates(rows, "batch_norm") == [0.01, 0.1]
    assert good_learning_rates(rows, "no_batch_norm") == [0.1]
    summary = summarize_sweep(rows)
    assert "2 with batch norm (0.01 to 0.1)" in summary
    assert "1 without batch norm (0.1)" in summary
    assert summary.endswith("of the best test accuracy, 0.950.")


def test_sweep_table_has_one_line_per_learning_rate():
    rows = [
        {"learning_rate": rate, "batch_norm": 0.9, "no_batch_norm": 0.5}
        for rate in np.logspace(-3, 1, 9)
    ]
    lines = format_sweep_table(rows).splitlines()
    assert len(lines) == 2 + 9
    assert lines[2] == "| 0.001 | 0.900 | 0.500 |"
    assert lines[-1] == "| 10 | 0.900 | 0.500 |"


def test_readme_shows_the_sweep_table_the_job_prints():
    # The README's table was printed with scikit-learn 1.9; older versions
    # train the networks with other rounding.
    import sklearn
    from sklearn.utils.fixes import parse_version

    if parse_version(sklearn.__version__) < parse_version("1.9"):
        pytest.skip("the README's table was made with scikit-learn 1.9")
    # Every fit is seeded: the job prints the same table on every machine
    # with the same numerics, and the README must show it.
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    rows = learning_rate_sweep()
    assert format_sweep_table(rows) in readme
    assert summarize_sweep(rows) in readme


def test_command_line_prints_the_table_and_writes_the_plot(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "loss.png"
    result = subprocess.run(
        [sys.executable, "-m", "sklearn_bn", "--plot", str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    assert "| digits | saga | BatchNormScaler |" in result.stdout
    assert "breast_cancer, lbfgs:" in result.stdout
    assert "| learning_rate_init | test accuracy, batch_norm=True |" in result.stdout
    assert "| 0.316 |" in result.stdout
    assert "digits, 10 hidden layers: of 9 learning rates," in result.stdout
    assert path.stat().st_size > 10_000
