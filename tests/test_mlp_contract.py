"""The MLPs keep scikit-learn's MLP contract where it is not about exact numbers.

Divergence, the regressor's ``loss``, scikit-learn's error messages,
``partial_fit`` with lbfgs, an interrupted fit, the rollback of a failed one
and skops persistence. The reference is scikit-learn's own MLP wherever it
can be run side by side.
"""

import re
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_iris, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import PoissonRegressor
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import LabelBinarizer
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
from sklearn_bn.neural_network._multilayer_perceptron import _fitted_label_binarizer
from sklearn_bn.neural_network._training import TrainingMixin
from sklearn_bn.utils._compat import SKLEARN_VERSION

# scikit-learn's MLPs take sample_weight and loss from 1.7 on; below it there
# is no reference to compare with (the oldest-versions CI job runs 1.6).
needs_sklearn_17 = pytest.mark.skipif(
    SKLEARN_VERSION < parse_version("1.7"),
    reason="scikit-learn's MLPs take sample_weight and loss from 1.7",
)


X_IRIS, Y_IRIS = load_iris(return_X_y=True)
BOTH = pytest.mark.parametrize("batch_norm", [True, False])
# Every kind of normalization, for the promises that hold for each.
KINDS = [
    True,
    False,
    BatchNorm(position="after_activation", statistics="population"),
    BatchNorm(momentum=None, affine=False),
    GhostBatchNorm(virtual_batch_size=8),
    BatchRenorm(),
    LayerNorm(),
    RMSNorm(affine=False),
]
EVERY_KIND = pytest.mark.parametrize("batch_norm", KINDS, ids=repr)
ESTIMATORS = pytest.mark.parametrize(
    "Estimator", [BatchNormMLPClassifier, BatchNormMLPRegressor]
)


def _quiet_fit(estimator, X, y, **fit_params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y, **fit_params)


def _snapshot(estimator):
    """Every attribute, with arrays (also inside lists and dicts) copied."""

    def copy(value):
        if isinstance(value, np.ndarray):
            return value.copy()
        if isinstance(value, list):
            return [copy(item) for item in value]
        if isinstance(value, dict):
            return {key: copy(item) for key, item in value.items()}
        return value

    return {key: copy(value) for key, value in vars(estimator).items()}


def _assert_same_state(before, after):
    assert before.keys() == after.keys()
    for key in before:
        a, b = before[key], after[key]
        if isinstance(a, np.ndarray | list | dict) or key == "_label_binarizer":
            _assert_equal_nested(a, b)
        else:
            assert a == b or (a != a and b != b), key


def _assert_equal_nested(a, b):
    if isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _assert_equal_nested(x, y)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            _assert_equal_nested(a[key], b[key])
    elif isinstance(a, np.ndarray):
        assert_array_equal(a, b)
    elif hasattr(a, "classes_"):
        assert_array_equal(a.classes_, b.classes_)
    else:
        assert a == b


# 1. Divergence ------------------------------------------------------------------

DIVERGING = dict(
    hidden_layer_sizes=100,
    activation="identity",
    solver="sgd",
    learning_rate_init=1,
    max_iter=20,
    random_state=0,
)


# Without gamma a normalized identity layer's output keeps unit variance, and
# the output layer alone does not diverge at this learning rate.
@pytest.mark.parametrize(
    "batch_norm", [k for k in KINDS if getattr(k, "affine", True)], ids=repr
)
def test_diverging_fit_with_early_stopping_records_nan_and_keeps_the_best_epoch(
    batch_norm, monkeypatch
):
    # scikit-learn's test_mlp_diverging_loss (its issue #29504), on both networks.
    held_out = {}
    split = TrainingMixin._split_validation

    def spy(*args):
        train, validation = split(*args)
        held_out.update(X=validation.X, y=validation.y)
        return train, validation

    monkeypatch.setattr(TrainingMixin, "_split_validation", spy)
    mlp = BatchNormMLPRegressor(
        **DIVERGING, early_stopping=True, batch_norm=batch_norm, batch_size=32
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mlp.fit(X_IRIS, Y_IRIS)
    assert any("diverged" in str(w.message) for w in caught)
    assert str(mlp.validation_scores_[-1]) == str(np.nan)
    assert isinstance(mlp.validation_scores_[-1], float)
    assert np.isnan(mlp.loss_curve_[-1])
    assert all(np.isfinite(p).all() for p in mlp.coefs_ + mlp.intercepts_)
    # The kept parameters are the best epoch's, or the starting ones if no
    # epoch scored: they score best_validation_score_ again (but population
    # statistics, computed at the end of the fit, replace those it scored).
    best = mlp.best_validation_score_
    if np.isfinite(best) and not mlp._normalization.population:
        assert mlp.score(held_out["X"], held_out["y"]) == pytest.approx(best)
    # scikit-learn's own MLP finishes the same fit too, with NaN last.
    reference = MLPRegressor(**DIVERGING, early_stopping=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference.fit(X_IRIS, Y_IRIS)
    assert np.isnan(reference.validation_scores_[-1])


@EVERY_KIND
def test_diverging_first_epoch_with_early_stopping_keeps_the_starting_network(
    batch_norm,
):
    params = {**DIVERGING, "learning_rate_init": 1e150, "batch_size": 32}
    mlp = BatchNormMLPRegressor(**params, early_stopping=True, batch_norm=batch_norm)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.warns(ConvergenceWarning, match="diverged in epoch 1"):
            mlp.fit(X_IRIS, Y_IRIS)
    assert len(mlp.validation_scores_) == 1
    assert np.isnan(mlp.validation_scores_[0])
    # The starting network: scikit-learn's Glorot draws from random_state.
    reference = MLPRegressor(**DIVERGING)
    reference._random_state = np.random.RandomState(0)
    coef, _ = reference._init_coef(4, 100, np.float64)
    out_coef, out_intercept = reference._init_coef(100, 1, np.float64)
    assert_array_equal(mlp.coefs_[0], coef)
    assert_array_equal(mlp.coefs_[1], out_coef)
    assert_array_equal(mlp.intercepts_[-1], out_intercept)
    # The starting normalization: gamma 1, beta 0 and the statistics a new
    # layer has (the population's of the starting network, with those).
    kind = mlp._normalization
    trained, statistics = kind._initialize(100, np.float64)
    for name, start in zip(kind.trained_names, trained, strict=True):
        assert_array_equal(getattr(mlp, name)[0], start)
    if not kind.population:
        for name, start in zip(kind.statistics_names, statistics, strict=True):
            assert_array_equal(getattr(mlp, name)[0], start)


def _sklearn_non_finite_message():
    rng = np.random.RandomState(0)
    X = np.finfo(np.float64).max * rng.uniform(size=(10, 2))
    y = rng.standard_normal(size=10)
    with warnings.catch_warnings(), pytest.raises(ValueError) as error:
        warnings.simplefilter("ignore")
        MLPRegressor().fit(X, y)
    return X, y, str(error.value)


@BOTH
@ESTIMATORS
def test_non_finite_weights_error_is_sklearns_and_leaves_the_estimator(
    Estimator, batch_norm
):
    X, y, message = _sklearn_non_finite_message()
    if Estimator is BatchNormMLPClassifier:
        y = (y > 0).astype(int)
    # Seeded: with some starting weights (random_state=1, say) every hidden
    # ReLU is dead on X, no gradient flows, and the weights rightly stay
    # finite, in scikit-learn's MLP as in ours.
    params = dict(hidden_layer_sizes=(4,), max_iter=3, random_state=0)
    Reference = MLPClassifier if Estimator is BatchNormMLPClassifier else MLPRegressor
    with pytest.raises(ValueError, match="non-finite"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Reference(**params).fit(X, y)
    mlp = _quiet_fit(Estimator(**params, batch_norm=batch_norm), X / 1e300, y)
    before = _snapshot(mlp)
    with pytest.raises(ValueError) as error, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlp.fit(X, y)
    assert str(error.value) == message
    _assert_same_state(before, _snapshot(mlp))


# 2. The regressor's loss ---------------------------------------------------------


@BOTH
def test_poisson_loss_with_an_identity_network_equals_poisson_regressor(batch_norm):
    # scikit-learn's test_mlp_vs_poisson_glm_equivalent. With batch norm the
    # one hidden unit is still an affine function of x: the same model.
    n = 100
    rng = np.random.default_rng(0)
    X = np.linspace(0, 1, n)
    y = rng.poisson(np.exp(X + 1))
    X = X.reshape(n, -1)
    glm = PoissonRegressor(alpha=0, tol=1e-7).fit(X, y)
    params = dict(
        hidden_layer_sizes=(1,),
        activation="identity",
        alpha=0,
        solver="lbfgs",
        tol=1e-7,
        random_state=1,
        batch_norm=batch_norm,
    )
    mlp = BatchNormMLPRegressor(loss="poisson", **params).fit(X, y)
    assert mlp.out_activation_ == "exp"
    assert_allclose(mlp.predict(X), glm.predict(X), rtol=1e-4)
    squared = BatchNormMLPRegressor(loss="squared_error", **params).fit(X, y)
    assert not np.allclose(squared.predict(X), glm.predict(X), rtol=1e-4)


@needs_sklearn_17
def test_poisson_loss_equals_mlp_regressor_without_batch_norm():
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(60, 3))
    y = rng.poisson(np.exp(X.sum(axis=1)))
    params = dict(
        hidden_layer_sizes=(5,), loss="poisson", solver="sgd", max_iter=5,
        learning_rate_init=0.01, batch_size=20, random_state=0,
    )  # fmt: skip
    mine = _quiet_fit(BatchNormMLPRegressor(batch_norm=False, **params), X, y)
    reference = _quiet_fit(MLPRegressor(**params), X, y)
    assert_allclose(mine.loss_curve_, reference.loss_curve_, rtol=1e-10)
    assert_allclose(mine.predict(X), reference.predict(X), rtol=1e-10)


def test_poisson_loss_refuses_negative_targets():
    with pytest.raises(ValueError, match=r"loss='poisson' needs non-negative"):
        BatchNormMLPRegressor(loss="poisson").fit(X_IRIS, Y_IRIS - 1)


def test_loss_is_validated():
    with pytest.raises(ValueError, match="'loss' parameter"):
        BatchNormMLPRegressor(loss="absolute_error").fit(X_IRIS, Y_IRIS)


# 3./4. scikit-learn's messages ----------------------------------------------------


@BOTH
def test_warm_start_class_change_message_is_sklearns(batch_norm):
    y_other = np.array([0] * 50 + [1] * 50 + [3] * 50)
    params = dict(hidden_layer_sizes=2, warm_start=True, random_state=42, max_iter=5)
    messages = []
    for estimator in (
        BatchNormMLPClassifier(batch_norm=batch_norm, **params),
        MLPClassifier(**params),
    ):
        _quiet_fit(estimator, X_IRIS, Y_IRIS)
        with pytest.raises(ValueError) as error:
            estimator.fit(X_IRIS, y_other)
        messages.append(str(error.value))
    assert messages[0] == messages[1]


def test_partial_fit_unseen_class_message_is_sklearns():
    messages = []
    for estimator in (BatchNormMLPClassifier(), MLPClassifier()):
        estimator.partial_fit(X_IRIS[:100], Y_IRIS[:100], classes=[0, 1])
        with pytest.raises(ValueError) as error:
            estimator.partial_fit(X_IRIS, Y_IRIS)
        messages.append(str(error.value))
    assert messages[0] == messages[1]


# partial_fit and lbfgs -------------------------------------------------------------


@ESTIMATORS
def test_partial_fit_is_unavailable_with_lbfgs(Estimator):
    assert not hasattr(Estimator(solver="lbfgs"), "partial_fit")
    with pytest.raises(AttributeError) as error:
        getattr(Estimator(solver="lbfgs"), "partial_fit")  # noqa: B009
    assert "lbfgs is not stochastic" in str(error.value.__cause__)
    for solver in ("sgd", "adam"):
        assert hasattr(Estimator(solver=solver), "partial_fit")


# An interrupted fit, and the rollback of a failed one ------------------------------


def _interrupt_on_call(monkeypatch, estimator, n_calls):
    """Raise KeyboardInterrupt from the n-th mini-batch on, from now."""
    backprop = type(estimator)._backprop
    calls = []

    def interrupted(self, *args, **kwargs):
        calls.append(1)
        if len(calls) >= n_calls:
            raise KeyboardInterrupt
        return backprop(self, *args, **kwargs)

    monkeypatch.setattr(type(estimator), "_backprop", interrupted)


@EVERY_KIND
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_keyboard_interrupt_restores_the_fitted_network_exactly(
    monkeypatch, batch_norm, solver
):
    # The choice (issue 10): restore the state exactly and let the interrupt
    # through, as a failed fit does, rather than keep a half-trained network.
    X, y = make_classification(n_samples=60, random_state=0)
    mlp = BatchNormMLPClassifier(
        (8,), solver=solver, batch_norm=batch_norm, batch_size=20, max_iter=5,
        random_state=0,
    )  # fmt: skip
    _quiet_fit(mlp, X, y)
    before = _snapshot(mlp)
    mlp.set_params(warm_start=True)
    _interrupt_on_call(monkeypatch, mlp, n_calls=8)
    with pytest.raises(KeyboardInterrupt):
        mlp.fit(X, y)
    assert mlp.n_iter_ == 5
    before["warm_start"] = True
    _assert_same_state(before, _snapshot(mlp))
    with pytest.raises(KeyboardInterrupt):
        mlp.partial_fit(X, y)
    _assert_same_state(before, _snapshot(mlp))


def test_keyboard_interrupt_in_a_first_fit_leaves_the_estimator_unfitted(monkeypatch):
    X, y = make_classification(n_samples=60, random_state=0)
    mlp = BatchNormMLPClassifier((8,), batch_size=20)
    _interrupt_on_call(monkeypatch, mlp, n_calls=4)
    with pytest.raises(KeyboardInterrupt):
        mlp.fit(X, y)
    assert not hasattr(mlp, "coefs_")


@EVERY_KIND
def test_training_writes_into_no_array_held_before_the_call(batch_norm):
    # What makes the rollback cheap: a shallow copy of __dict__ is a snapshot.
    X, y = make_classification(n_samples=60, random_state=0)
    mlp = BatchNormMLPClassifier((8,), batch_norm=batch_norm, batch_size=20)
    mlp.partial_fit(X, y, classes=[0, 1])
    held = mlp.__dict__.copy()
    frozen = _snapshot(mlp)
    mlp.partial_fit(X, y)
    mlp.set_params(warm_start=True, max_iter=3)
    _quiet_fit(mlp, X, y)
    _assert_same_state(frozen, {key: held[key] for key in frozen})


# skops ------------------------------------------------------------------------------


@BOTH
@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
@pytest.mark.parametrize("early_stopping", [False, True])
def test_skops_round_trip_trusts_only_our_classes_and_keeps_training(
    batch_norm, solver, early_stopping
):
    sio = pytest.importorskip("skops.io")
    X, y = make_classification(n_samples=80, random_state=0)
    mlp = BatchNormMLPClassifier(
        (8,), solver=solver, batch_norm=batch_norm, early_stopping=early_stopping,
        max_iter=3, random_state=0,
    )  # fmt: skip
    _quiet_fit(mlp, X, y)
    data = sio.dumps(mlp)
    assert sio.get_untrusted_types(data=data) == [
        "sklearn_bn.neural_network._multilayer_perceptron.BatchNormMLPClassifier"
    ]
    loaded = sio.loads(
        data,
        trusted=[
            "sklearn_bn.neural_network._multilayer_perceptron.BatchNormMLPClassifier"
        ],
    )
    assert_array_equal(loaded.predict_proba(X), mlp.predict_proba(X))
    for estimator in (mlp, loaded):
        estimator.set_params(warm_start=True)
        _quiet_fit(estimator, X, y)
        if solver != "lbfgs" and not early_stopping:
            estimator.partial_fit(X, y)
    assert_allclose(loaded.predict_proba(X), mlp.predict_proba(X), rtol=1e-12)
    assert_allclose(loaded.loss_curve_, mlp.loss_curve_, rtol=1e-12)


@pytest.mark.parametrize("kind", ["BatchNorm", "GhostBatchNorm", "LayerNorm"])
def test_skops_round_trip_of_a_normalization_object_trusts_its_class_too(kind):
    # batch_norm=<a normalization> is a parameter, which skops saves as the
    # object: its class must be trusted as well as the estimator's.
    sio = pytest.importorskip("skops.io")
    import sklearn_bn

    batch_norm = getattr(sklearn_bn, kind)()
    X, y = make_classification(n_samples=80, random_state=0)
    mlp = BatchNormMLPClassifier(
        (8,), batch_norm=batch_norm, max_iter=3, random_state=0
    )
    _quiet_fit(mlp, X, y)
    data = sio.dumps(mlp)
    network_type = (
        "sklearn_bn.neural_network._multilayer_perceptron.BatchNormMLPClassifier"
    )
    kind_type = f"{type(batch_norm).__module__}.{type(batch_norm).__qualname__}"
    assert sio.get_untrusted_types(data=data) == sorted([network_type, kind_type])
    with pytest.raises(sio.exceptions.UntrustedTypesFoundException):
        sio.loads(data, trusted=[network_type])
    loaded = sio.loads(data, trusted=[network_type, kind_type])
    assert_array_equal(loaded.predict_proba(X), mlp.predict_proba(X))
    for estimator in (mlp, loaded):
        estimator.set_params(warm_start=True)
        _quiet_fit(estimator, X, y)
        estimator.partial_fit(X, y)
    assert_allclose(loaded.predict_proba(X), mlp.predict_proba(X), rtol=1e-12)
    assert_allclose(loaded.loss_curve_, mlp.loss_curve_, rtol=1e-12)


def test_skops_round_trip_of_the_regressor():
    sio = pytest.importorskip("skops.io")
    # Seeded: unseeded, the two partial_fit calls below shuffle the one batch
    # differently, and a prediction near 0 then misses rtol=1e-12 (~2% of seeds).
    mlp = _quiet_fit(
        BatchNormMLPRegressor((8,), max_iter=3, random_state=0), X_IRIS, Y_IRIS
    )
    data = sio.dumps(mlp)
    assert sio.get_untrusted_types(data=data) == [
        "sklearn_bn.neural_network._multilayer_perceptron.BatchNormMLPRegressor"
    ]
    loaded = sio.loads(
        data,
        trusted=[
            "sklearn_bn.neural_network._multilayer_perceptron.BatchNormMLPRegressor"
        ],
    )
    loaded.partial_fit(X_IRIS, Y_IRIS)
    mlp.partial_fit(X_IRIS, Y_IRIS)
    # Equal up to rounding: a loaded array may sit at another alignment, which
    # can change the order of BLAS's sums.
    assert_allclose(loaded.predict(X_IRIS), mlp.predict(X_IRIS), rtol=1e-12)


def test_message_of_a_too_small_validation_set():
    with pytest.raises(ValueError, match=re.escape("The validation set is too small")):
        BatchNormMLPRegressor(early_stopping=True).fit(X_IRIS[:3], Y_IRIS[:3])


@settings(max_examples=120, deadline=None)
@given(
    values=hnp.arrays("int64", st.integers(1, 30), elements=st.integers(0, 6)),
    dtype=st.sampled_from(["int8", "int64", "uint16", "bool", "float32", "float64"]),
)
def test_the_label_binarizer_is_fitted_as_scikit_learn_fits_it(values, dtype):
    labels = values.astype(dtype)
    # The shortcut of integer labels gives the attributes LabelBinarizer.fit
    # gives: the classes, and binary or multiclass.
    fitted, expected = _fitted_label_binarizer(labels), LabelBinarizer().fit(labels)
    assert fitted.y_type_ == expected.y_type_
    assert fitted.sparse_input_ == expected.sparse_input_
    assert_array_equal(fitted.classes_, expected.classes_, strict=True)
