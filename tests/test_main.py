"""The main job, ``python -m sklearn_bn``."""

import subprocess
import sys

import pytest
from sklearn.model_selection import train_test_split

from sklearn_bn._convergence import DATASETS, compare, format_table, loss_curve


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
    assert path.stat().st_size > 10_000
