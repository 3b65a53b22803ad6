"""Parity with scikit-learn's MLPs: sample_weight, lbfgs, callbacks, fast inference.

Without batch norm the references are MLPClassifier and MLPRegressor, run side
by side; with batch norm, the laws of frequency weights (an integer weight is
that many copies of a row, a zero weight no row) and the training-mode
forward pass for lbfgs's statistics.
"""

import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_digits, make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.utils.fixes import parse_version

from sklearn_bn import (
    BatchNorm,
    BatchNormMLPClassifier,
    BatchNormMLPRegressor,
    BatchRenorm,
    GhostBatchNorm,
    LayerNorm,
    RMSNorm,
)
from sklearn_bn.neural_network._normalization import batch_norm_inference_affine
from sklearn_bn.utils._compat import SKLEARN_VERSION

# scikit-learn's MLPs take sample_weight and loss from 1.7 on; below it there
# is no reference to compare with (the oldest-versions CI job runs 1.6).
needs_sklearn_17 = pytest.mark.skipif(
    SKLEARN_VERSION < parse_version("1.7"),
    reason="scikit-learn's MLPs take sample_weight and loss from 1.7",
)


PAIRS = pytest.mark.parametrize(
    "ours, theirs",
    [(BatchNormMLPClassifier, MLPClassifier), (BatchNormMLPRegressor, MLPRegressor)],
)


def _quiet_fit(estimator, X, y, **fit_params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y, **fit_params)


def _digits(ours, n_samples=300):
    X, y = load_digits(return_X_y=True)
    X = X[:n_samples] / 16
    y = y[:n_samples] if ours is BatchNormMLPClassifier else y[:n_samples] / 9.0
    return X, y


def _assert_same_network(mine, reference, rtol=1e-10, atol=1e-12):
    for a, b in zip(
        mine.coefs_ + mine.intercepts_,
        reference.coefs_ + reference.intercepts_,
        strict=True,
    ):
        assert_allclose(a, b, rtol=rtol, atol=atol)


# sample_weight without batch norm: scikit-learn's MLP -----------------------------


@PAIRS
@pytest.mark.parametrize("solver", ["sgd", "adam"])
@needs_sklearn_17
def test_sample_weight_without_batch_norm_trains_like_sklearn_mlp(ours, theirs, solver):
    X, y = _digits(ours)
    sample_weight = np.random.default_rng(0).integers(0, 4, size=len(y)) * 0.7
    params = dict(
        hidden_layer_sizes=(20, 10),
        solver=solver,
        learning_rate_init=0.01,
        batch_size=64,
        max_iter=4,
        random_state=0,
    )
    mine = _quiet_fit(
        ours(batch_norm=False, **params), X, y, sample_weight=sample_weight
    )
    reference = _quiet_fit(theirs(**params), X, y, sample_weight=sample_weight)
    assert_allclose(mine.loss_curve_, reference.loss_curve_, rtol=1e-10)
    _assert_same_network(mine, reference)


@PAIRS
@needs_sklearn_17
def test_sample_weight_in_partial_fit_trains_like_sklearn_mlp(ours, theirs):
    X, y = _digits(ours, n_samples=200)
    sample_weight = np.random.default_rng(1).uniform(0, 2, size=len(y))
    params = dict(hidden_layer_sizes=(10,), solver="sgd", random_state=0)
    mine, reference = ours(batch_norm=False, **params), theirs(**params)
    for estimator in (mine, reference):
        extra = {"classes": np.arange(10)} if ours is BatchNormMLPClassifier else {}
        for _ in range(3):
            estimator.partial_fit(X, y, sample_weight=sample_weight, **extra)
    _assert_same_network(mine, reference)


@needs_sklearn_17
def test_sample_weight_with_early_stopping_scores_with_the_weights():
    # scikit-learn's split of X, y and the weights, and its weighted R².
    X, y = make_regression(n_samples=100, n_features=2, random_state=42)
    sample_weight = np.random.default_rng(0).uniform(0.5, 2, size=len(y))
    params = dict(
        hidden_layer_sizes=10, early_stopping=True, tol=1e-2, learning_rate_init=0.01,
        batch_size=10, random_state=42, max_iter=20,
    )  # fmt: skip
    mine = _quiet_fit(
        BatchNormMLPRegressor(batch_norm=False, **params), X, y / 100,
        sample_weight=sample_weight,
    )  # fmt: skip
    reference = _quiet_fit(
        MLPRegressor(**params), X, y / 100, sample_weight=sample_weight
    )
    assert_allclose(mine.validation_scores_, reference.validation_scores_, rtol=1e-9)
    _assert_same_network(mine, reference, rtol=1e-9)


# sample_weight with batch norm: the laws of weighted means ----------------------


def _one_batch_fit(Estimator, X, y, sample_weight=None, **params):
    """Full-batch training, so that the batch statistics are the data's."""
    estimator = Estimator(
        (6, 5), batch_size=X.shape[0], shuffle=False, max_iter=3,
        learning_rate_init=0.05, random_state=0, **params,
    )  # fmt: skip
    return _quiet_fit(estimator, X, y, sample_weight=sample_weight)


def _assert_same_state(a, b, rtol=1e-9, running_vars=True):
    assert_allclose(a.loss_curve_, b.loss_curve_, rtol=rtol)
    names = ["coefs_", "intercepts_", "bn_gammas_", "bn_betas_", "bn_running_means_"]
    if running_vars:
        names.append("bn_running_vars_")
    for name in names:
        for x, y in zip(getattr(a, name), getattr(b, name), strict=True):
            assert_allclose(x, y, rtol=rtol, atol=1e-12)


@settings(max_examples=15, deadline=None)
@given(
    counts=st.lists(st.integers(0, 3), min_size=12, max_size=12).filter(
        lambda c: sum(c) >= 4 and sum(1 for n in c if n) >= 3
    ),
    solver=st.sampled_from(["sgd", "adam"]),
    Estimator=st.sampled_from([BatchNormMLPClassifier, BatchNormMLPRegressor]),
)
def test_integer_weights_equal_repeated_rows_in_one_full_batch(
    counts, solver, Estimator
):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 4))
    y = (
        np.arange(12) % 2
        if Estimator is BatchNormMLPClassifier
        else rng.normal(size=12)
    )
    counts = np.array(counts)
    kept = counts > 0
    # Both classes among the rows kept, or the two label sets differ.
    assume(Estimator is BatchNormMLPRegressor or len(set(y[kept])) == 2)
    weighted = _one_batch_fit(
        Estimator, X[kept], y[kept], sample_weight=counts[kept], solver=solver
    )
    repeated = _one_batch_fit(
        Estimator, np.repeat(X, counts, axis=0), np.repeat(y, counts), solver=solver
    )
    _assert_same_state(weighted, repeated)


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_zero_weights_equal_removed_rows_in_one_full_batch(solver):
    X, y = make_classification(n_samples=30, n_features=5, random_state=0)
    sample_weight = np.ones(30)
    sample_weight[::4] = 0
    kept = sample_weight > 0
    weighted = _one_batch_fit(
        BatchNormMLPClassifier, X, y, sample_weight=sample_weight, solver=solver
    )
    removed = _one_batch_fit(BatchNormMLPClassifier, X[kept], y[kept], solver=solver)
    if solver == "lbfgs":
        assert weighted.n_iter_ == removed.n_iter_
        assert_allclose(weighted.loss_, removed.loss_, rtol=1e-9)
        for x, z in zip(weighted._state(), removed._state(), strict=True):
            assert_allclose(x, z, rtol=1e-7, atol=1e-10)
    else:
        _assert_same_state(weighted, removed)


def _one_batch_running_var(weights):
    """The running variance after one full batch with momentum 1, and z."""
    X, y = make_classification(n_samples=20, n_features=5, random_state=0)
    mlp = BatchNormMLPClassifier(
        (6,),
        batch_size=20,
        max_iter=1,
        batch_norm=BatchNorm(momentum=1.0),
        random_state=0,
    )
    _quiet_fit(mlp, X, y, sample_weight=weights)
    # With momentum 1 the running statistics are those of the one batch,
    # computed with the initial weights (scikit-learn's Glorot draws).
    reference = MLPClassifier((6,))
    reference._random_state = np.random.RandomState(0)
    coef, _ = reference._init_coef(5, 6, np.float64)
    z = X @ coef
    assert_allclose(
        mlp.bn_running_means_[0], np.average(z, axis=0, weights=weights), rtol=1e-12
    )
    return mlp.bn_running_vars_[0], z


def test_running_variance_with_counts_is_numpys_with_fweights():
    weights = np.arange(20) % 3 + 1.0
    running_var, z = _one_batch_running_var(weights)
    expected = np.cov(z, rowvar=False, fweights=weights.astype(int)).diagonal()
    assert_allclose(running_var, expected, rtol=1e-12)


def test_running_variance_with_shares_is_numpys_with_aweights():
    weights = (np.arange(20) % 3 + 1.0) / 7
    running_var, z = _one_batch_running_var(weights)
    expected = np.cov(z, rowvar=False, aweights=weights).diagonal()
    assert_allclose(running_var, expected, rtol=1e-12)


def test_sample_weight_must_be_non_negative_with_batch_norm():
    X, y = make_classification(n_samples=20, random_state=0)
    weights = np.ones(20)
    weights[0] = -1
    with pytest.raises(ValueError, match="Negative values in data"):
        BatchNormMLPClassifier().fit(X, y, sample_weight=weights)
    _quiet_fit(
        BatchNormMLPClassifier(batch_norm=False, max_iter=2),
        X,
        y,
        sample_weight=weights,
    )


@pytest.mark.parametrize("Estimator", [BatchNormMLPClassifier, BatchNormMLPRegressor])
@pytest.mark.parametrize("n_samples", [7, 10, 20, 1000])
def test_normalized_weights_train_as_no_weights(Estimator, n_samples):
    # Equal weights summing to 1 (a few ulps either side of it) are n samples,
    # as no weights are. They were once refused for not summing to more than 1.
    # (alpha=0: see test_fit_does_not_change_when_the_weights_are_scaled.)
    X, y = make_classification(n_samples=n_samples, n_features=4, random_state=0)
    params = dict(
        hidden_layer_sizes=(5,), max_iter=3, batch_size=min(n_samples, 200),
        alpha=0.0, random_state=0,
    )  # fmt: skip
    weighted = _quiet_fit(
        Estimator(**params), X, y, sample_weight=np.full(n_samples, 1 / n_samples)
    )
    plain = _quiet_fit(Estimator(**params), X, y)
    _assert_same_state(weighted, plain, rtol=1e-9)


@pytest.mark.parametrize("Estimator", [BatchNormMLPClassifier, BatchNormMLPRegressor])
@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
@pytest.mark.parametrize("scale", [1 / 300, 1e-6, 1 / 3, 1e3])
def test_fit_does_not_change_when_the_weights_are_scaled(Estimator, solver, scale):
    # alpha=0: scikit-learn divides the L2 penalty by the sum of the weights,
    # so that with alpha > 0 neither its MLPs nor these are scale-invariant.
    X, y = make_classification(n_samples=300, n_features=5, random_state=0)
    weights = np.random.default_rng(0).uniform(0, 3, size=300)
    params = dict(
        hidden_layer_sizes=(6, 5), max_iter=4, batch_size=64, alpha=0.0,
        solver=solver, random_state=0,
    )  # fmt: skip
    scaled = _quiet_fit(Estimator(**params), X, y, sample_weight=weights * scale)
    plain = _quiet_fit(Estimator(**params), X, y, sample_weight=weights / 3)
    # Weights of at most 1 both times: the running variance's n is the
    # effective number of samples, the same. Otherwise it is the sum of the
    # weights, and only the running variance differs, by n / (n - 1).
    _assert_same_state(scaled, plain, rtol=1e-8, running_vars=scale <= 1 / 3)


def test_a_mini_batch_weighing_one_sample_is_an_error_with_batch_norm():
    X, y = make_classification(n_samples=20, random_state=0)
    mlp = BatchNormMLPClassifier((4,), max_iter=2, batch_size=10, shuffle=False)
    # One positive weight of at most 1 in the first mini-batch, none in the
    # second.
    for positive in ([3], [3, 12]):
        weights = np.zeros(20)
        weights[positive] = 0.5
        with pytest.raises(ValueError, match="must stand for more than 1 sample"):
            mlp.fit(X, y, sample_weight=weights)
        assert not hasattr(mlp, "coefs_")
    # Two positive weights in every mini-batch train.
    weights[[0, 11]] = 1e-3
    _quiet_fit(mlp, X, y, sample_weight=weights)


def test_unit_weights_equal_no_weights():
    X, y = make_classification(n_samples=50, random_state=0)
    params = dict(hidden_layer_sizes=(8,), max_iter=3, batch_size=16, random_state=0)
    weighted = _quiet_fit(
        BatchNormMLPClassifier(**params), X, y, sample_weight=np.ones(50)
    )
    plain = _quiet_fit(BatchNormMLPClassifier(**params), X, y)
    _assert_same_state(weighted, plain, rtol=1e-12)


# lbfgs -------------------------------------------------------------------------------


@PAIRS
@pytest.mark.parametrize("weighted", [False, True])
@needs_sklearn_17
def test_lbfgs_without_batch_norm_equals_sklearn_lbfgs(ours, theirs, weighted):
    X, y = _digits(ours, n_samples=200)
    sample_weight = (
        np.random.default_rng(0).uniform(0.5, 2, size=len(y)) if weighted else None
    )
    params = dict(
        hidden_layer_sizes=(15,), solver="lbfgs", max_iter=25, random_state=0,
        activation="tanh",
    )  # fmt: skip
    mine = _quiet_fit(
        ours(batch_norm=False, **params), X, y, sample_weight=sample_weight
    )
    reference = _quiet_fit(theirs(**params), X, y, sample_weight=sample_weight)
    assert mine.n_iter_ == reference.n_iter_
    assert_allclose(mine.loss_, reference.loss_, rtol=1e-8)
    _assert_same_network(mine, reference, rtol=1e-6, atol=1e-8)


def test_lbfgs_max_fun_and_max_iter_stop_with_a_convergence_warning():
    X, y = _digits(BatchNormMLPClassifier, n_samples=150)
    for limit in (dict(max_fun=10), dict(max_iter=5)):
        mlp = BatchNormMLPClassifier((20,), solver="lbfgs", random_state=0, **limit)
        with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
            mlp.fit(X, y)
        assert mlp.n_iter_ <= min(limit.get("max_fun", 99), limit.get("max_iter", 99))


@pytest.mark.parametrize("weighted", [False, True])
def test_lbfgs_with_batch_norm_predicts_what_it_trained(weighted):
    # Training normalizes with the full batch's statistics; the statistics
    # kept for prediction are those, at the final parameters: predict on the
    # training data reproduces the training-mode output exactly.
    X, y = make_classification(n_samples=80, n_features=6, random_state=0)
    sample_weight = np.arange(80) % 3 + 0.5 if weighted else None
    mlp = _quiet_fit(
        BatchNormMLPClassifier((7, 5), solver="lbfgs", max_iter=40, random_state=0),
        X, y, sample_weight=sample_weight,
    )  # fmt: skip
    train_output = mlp._forward_train(X, sample_weight)[0][-1].ravel()
    assert_allclose(mlp.predict_proba(X)[:, 1], train_output, rtol=1e-9, atol=1e-12)
    z = X @ mlp.coefs_[0]
    assert_allclose(
        mlp.bn_running_means_[0], np.average(z, axis=0, weights=sample_weight)
    )
    assert mlp.score(X, y) > 0.9


# Callbacks (scikit-learn 1.9) --------------------------------------------------------


def _callback_utils():
    pytest.importorskip("sklearn.callback", reason="scikit-learn < 1.9")
    from sklearn.callback.tests import _utils

    return _utils


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
@pytest.mark.parametrize("batch_norm", [True, False])
def test_callbacks_see_one_fit_task_with_a_subtask_per_iteration(solver, batch_norm):
    utils = _callback_utils()
    X, y = make_classification(n_samples=60, random_state=0)
    callback = utils.RecordingCallback()
    mlp = BatchNormMLPClassifier(
        (6,), solver=solver, batch_norm=batch_norm, max_iter=4, random_state=0
    ).set_callbacks(callback)
    _quiet_fit(mlp, X, y)
    names = [record["name"] for record in callback.record]
    assert names[0] == "setup" and names[-1] == "teardown"
    begins = [r for r in callback.record if r["name"] == "on_fit_task_begin"]
    ends = [r for r in callback.record if r["name"] == "on_fit_task_end"]
    assert len(begins) == len(ends)
    root = begins[0]["context"]
    assert root.task_name == "fit" and root.parent is None
    subtasks = list(root._children_map.values())
    n_run = len(subtasks) - (solver == "lbfgs")  # lbfgs: the last begun never runs
    assert n_run == mlp.n_iter_
    assert all(task.parent is root for task in subtasks)


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_a_callback_can_stop_training_after_an_iteration(solver):
    utils = _callback_utils()
    X, y = make_classification(n_samples=60, random_state=0)
    params = dict(hidden_layer_sizes=(6,), solver=solver, random_state=0)
    mlp = BatchNormMLPClassifier(max_iter=20, **params)
    # lbfgs reports the stop, or the limit, as a ConvergenceWarning.
    _quiet_fit(mlp.set_callbacks(utils.StopFitCallback()), X, y)
    assert mlp.n_iter_ == 1
    # The model stopped after one iteration is the one trained for one.
    one = _quiet_fit(BatchNormMLPClassifier(max_iter=1, **params), X, y)
    assert_allclose(mlp.predict_proba(X), one.predict_proba(X), rtol=1e-12)


@pytest.mark.parametrize(
    "batch_norm",
    [
        True,
        False,
        BatchNorm(position="after_activation"),
        BatchNorm(momentum=None, affine=False),
        GhostBatchNorm(virtual_batch_size=8),
        BatchRenorm(),
        LayerNorm(),
        RMSNorm(),
    ],
    ids=repr,
)
def test_scoring_monitor_scores_the_model_as_it_trains(batch_norm):
    # scikit-learn's test_score_after_fit: each epoch's logged score is the
    # score of the model trained for that many epochs (the copy the callbacks
    # get has the normalization of the network, whatever its kind).
    _callback_utils()
    from sklearn.callback import ScoringMonitor
    from sklearn.metrics import check_scoring

    X, y = make_regression(n_samples=80, n_features=4, random_state=0)
    y = y / 100
    monitor = ScoringMonitor(scoring="r2")
    params = dict(
        hidden_layer_sizes=(8,), batch_norm=batch_norm, random_state=0,
        learning_rate_init=0.01, batch_size=20,
    )  # fmt: skip
    max_iter = 5
    mlp = BatchNormMLPRegressor(max_iter=max_iter, **params).set_callbacks(monitor)
    _quiet_fit(mlp, X, y)
    epochs = [row for row in monitor.get_logs().data if row["task_name"] == "epoch"]
    assert len(epochs) == max_iter
    scorer = check_scoring(None, "r2")
    for i, row in enumerate(epochs):
        trained = _quiet_fit(BatchNormMLPRegressor(max_iter=i + 1, **params), X, y)
        assert_allclose(row["r2"], scorer(trained, X, y), rtol=1e-12)


def test_scoring_monitor_scores_lbfgs_iterations():
    _callback_utils()
    from sklearn.callback import ScoringMonitor

    X, y = make_classification(n_samples=80, random_state=0)
    monitor = ScoringMonitor(scoring="accuracy")
    mlp = BatchNormMLPClassifier((6,), solver="lbfgs", max_iter=15, random_state=0)
    _quiet_fit(mlp.set_callbacks(monitor), X, y)
    rows = [r for r in monitor.get_logs().data if r["task_name"] == "lbfgs iteration"]
    assert len(rows) == mlp.n_iter_
    # The last iteration's model is the fitted one.
    assert rows[-1]["accuracy"] == mlp.score(X, y)


def test_progress_bar_runs_on_an_mlp(capsys):
    _callback_utils()
    pytest.importorskip("rich")
    from sklearn.callback import ProgressBar

    X, y = make_classification(n_samples=60, random_state=0)
    mlp = BatchNormMLPClassifier((6,), max_iter=3).set_callbacks(ProgressBar())
    _quiet_fit(mlp, X, y)
    assert mlp.n_iter_ == 3
    # As scikit-learn's test_progressbar checks its bars: named, and complete.
    out = capsys.readouterr().out
    assert "BatchNormMLPClassifier - fit" in out
    assert "100%" in out


def test_without_sklearn_callback_the_mlps_fit_without_callbacks():
    # scikit-learn < 1.9 has no sklearn.callback: simulated by blocking it
    # while sklearn_bn is imported (scikit-learn 1.9 itself needs it).
    code = (
        "import sys, warnings; warnings.simplefilter('ignore')\n"
        "from sklearn.datasets import make_classification\n"
        "import sklearn.model_selection, sklearn.metrics, sklearn.pipeline\n"
        "import sklearn.linear_model, sklearn.neural_network\n"
        "callback = sys.modules['sklearn.callback']\n"
        "sys.modules['sklearn.callback'] = None\n"
        "from sklearn_bn import BatchNormMLPClassifier\n"
        "sys.modules['sklearn.callback'] = callback\n"
        "X, y = make_classification(n_samples=40, random_state=0)\n"
        "for solver in ('adam', 'lbfgs'):\n"
        "    mlp = BatchNormMLPClassifier((4,), solver=solver, max_iter=3).fit(X, y)\n"
        "    assert mlp.n_iter_ == 3, mlp.n_iter_\n"
        "try:\n"
        "    mlp.set_callbacks()\n"
        "except ValueError as error:\n"
        "    assert 'needs scikit-learn >= 1.9' in str(error)\n"
        "else:\n"
        "    raise AssertionError('set_callbacks did not say what it needs')\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.stdout.strip() == "ok", result.stderr


# Folded batch norm at predict time ----------------------------------------------------


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_folded_prediction_equals_batch_norm_with_running_statistics(dtype, rtol):
    X, y = make_classification(n_samples=100, n_features=8, random_state=0)
    X = X.astype(dtype)
    mlp = BatchNormMLPClassifier((7, 6, 5), activation="tanh", max_iter=5)
    mlp = _quiet_fit(mlp.set_params(random_state=0), X, y)
    # The reference: the unfolded layers, z * scale + shift, in float64.
    a = X.astype(np.float64)
    for i in range(3):
        scale, shift = batch_norm_inference_affine(
            *(
                p[i].astype(np.float64)
                for p in (
                    mlp.bn_gammas_, mlp.bn_betas_, mlp.bn_running_means_,
                    mlp.bn_running_vars_,
                )
            ),
            mlp._normalization.epsilon,
        )  # fmt: skip
        a = np.tanh(a @ mlp.coefs_[i].astype(np.float64) * scale + shift)
    logits = a @ mlp.coefs_[-1].astype(np.float64) + mlp.intercepts_[-1]
    expected = 1 / (1 + np.exp(-logits.ravel()))
    proba = mlp.predict_proba(X)
    assert proba.dtype == dtype
    assert_allclose(proba[:, 1], expected, rtol=rtol)


def test_batch_norm_is_folded_once_per_fit():
    X, y = make_classification(n_samples=60, random_state=0)
    mlp = _quiet_fit(BatchNormMLPClassifier((6,), max_iter=2), X, y)
    folded = mlp._inference_coefs
    mlp.predict(X)
    assert mlp._inference_coefs is folded
    mlp.partial_fit(X, y)
    assert mlp._inference_coefs is not folded
    assert_array_equal(mlp._inference_coefs[-1], mlp.coefs_[-1])


def test_user_guide_callback_example_runs():
    # The user guide's MLP callback example, run as written.
    _callback_utils()
    pytest.importorskip("rich")
    import pathlib
    import re

    guide = pathlib.Path(__file__).parents[1] / "docs" / "user_guide.rst"
    if not guide.exists():  # the installed wheel's tests run without docs/
        pytest.skip("needs the source tree's docs/")
    text = guide.read_text()
    section = text[text.index("Batch-norm MLPs\n---") :]
    block = re.search(r"\.\. code-block:: python\n\n((?:    .*\n|\n)+)", section)
    code = "\n".join(line[4:] for line in block.group(1).splitlines())
    namespace = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        exec(compile(code, str(guide), "exec"), namespace)
    rows = [
        r for r in namespace["monitor"].get_logs().data if r["task_name"] == "epoch"
    ]
    assert len(rows) == namespace["clf"].n_iter_ == 20
    assert rows[-1]["accuracy"] > 0.95
