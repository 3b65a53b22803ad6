"""Tests of the kinds of normalization: BatchNorm, GhostBatchNorm,
BatchRenorm, LayerNorm and RMSNorm, each against a reference that someone
else wrote (``normalization_references.py``: torch's layers, Keras'
BatchNormalization(renorm=True), numpy's moments), and their API."""

import re
import warnings

import numpy as np
import pytest
from normalization_references import (
    fitted_arrays,
    population_statistics,
    predict,
    sgd_epoch,
    torch_network,
)
from numpy.testing import assert_allclose
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_bn import (
    BatchNorm,
    BatchNormMLPClassifier,
    BatchNormMLPRegressor,
    BatchRenorm,
    GhostBatchNorm,
    LayerNorm,
    RMSNorm,
)
from sklearn_bn.neural_network import _training
from sklearn_bn.utils._compat import InvalidParameterError

NEW_KINDS = [
    BatchNorm(position="after_activation", statistics="population"),
    GhostBatchNorm(virtual_batch_size=4),
    BatchRenorm(),
    LayerNorm(),
    RMSNorm(),
]
SMALL = dict(hidden_layer_sizes=(8,), learning_rate_init=0.05, max_iter=15)


# Virtual batches are cut by rows: a row of weight 2 sits in one virtual batch
# where its two copies could sit in two, and a virtual batch whose weights
# stand for one sample or none is refused (the unbiased variance is undefined).
_GHOST_WEIGHTS_ARE_NOT_REPETITIONS = {
    "check_sample_weight_equivalence_on_dense_data": "virtual batches cut by rows",
    "check_sample_weight_equivalence_on_sparse_data": "virtual batches cut by rows",
    "check_classifiers_one_label_sample_weights": (
        "a virtual batch of 2 rows, one of weight 0, stands for 1 sample"
    ),
}


def _expected_failed_checks(estimator):
    if isinstance(estimator.batch_norm, GhostBatchNorm):
        return _GHOST_WEIGHTS_ARE_NOT_REPETITIONS
    return {}


@parametrize_with_checks(
    [
        Estimator(batch_norm=kind, **SMALL)
        for kind in NEW_KINDS
        for Estimator in (BatchNormMLPClassifier, BatchNormMLPRegressor)
    ],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_compatible_estimator(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


# Helpers ------------------------------------------------------------------------

N_SAMPLES = 30
LEARNING_RATE = 0.1
TOLERANCE = {np.float64: 1e-10, np.float32: 1e-5}


def _quiet(method, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return method(*args, **kwargs)


def _regression(dtype=np.float64, n_samples=N_SAMPLES, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 6)) * [1.0, 2.0, 0.5, 1.0, 3.0, 1.0] + 0.5
    y = np.column_stack([np.sin(X[:, 0]) + X[:, 1], X[:, 2] * X[:, 3]])
    return X.astype(dtype), y.astype(dtype)


def _classification(n_samples=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 4))
    return X, (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1)


def _sgd_network(kind, batch_size, **params):
    """A regressor trained by plain SGD, one epoch per partial_fit."""
    return BatchNormMLPRegressor(
        **{
            "hidden_layer_sizes": (5, 4),
            "activation": "tanh",
            "solver": "sgd",
            "momentum": 0.0,
            "nesterovs_momentum": False,
            "alpha": 0.0,
            "batch_size": batch_size,
            "learning_rate_init": LEARNING_RATE,
            "shuffle": False,
            "batch_norm": clone(kind),
            "random_state": 0,
            **params,
        }
    )


# How each fitted attribute is moved off its initial value: gamma 1, beta 0,
# the running statistics 0 and 1, where some terms of a step vanish.
def _draw(name, shape, rng, renorm_far):
    if name == "bn_num_batches_tracked_":
        return np.asarray(2, dtype=np.int64)
    if name in ("bn_renorm_means_", "bn_renorm_stds_") and renorm_far:
        # Far from the batch statistics: r and d are clipped for some units.
        return (
            rng.normal(0, 1.5, shape) if "means" in name else rng.uniform(0.1, 2, shape)
        )
    if "means" in name or "betas" in name:
        return rng.normal(0, 0.5, shape)
    return rng.uniform(0.6, 1.5, shape)


def _network_at_random_state(kind, dtype, batch_size, renorm_far=False):
    """A network whose weights and normalization state are all random, set
    by hand after a first partial_fit has built it."""
    X, y = _regression(dtype)
    estimator = _sgd_network(kind, batch_size).partial_fit(X, y)
    rng = np.random.default_rng(1)
    for name in estimator._normalization.attribute_names:
        arrays = getattr(estimator, name)
        setattr(
            estimator,
            name,
            [
                np.asarray(_draw(name, a.shape, rng, renorm_far), dtype=a.dtype)
                for a in arrays
            ],
        )
    return estimator, X, y


def _differences(estimator, network, X):
    """The largest difference between the estimator and the network, for each
    fitted array and for the inference output."""
    theirs = fitted_arrays(estimator, network)
    differences = {}
    for name, arrays in theirs.items():
        ours = getattr(estimator, name)
        assert len(ours) == len(arrays), name
        differences[name] = max(
            np.max(np.abs(np.asarray(a, np.float64) - b), initial=0.0)
            for a, b in zip(ours, arrays, strict=True)
        )
    expected = predict(network, X)
    differences["predict"] = np.max(np.abs(estimator.predict(X) - expected))
    return differences, theirs, expected


# Each kind against its reference ---------------------------------------------------

REFERENCE_KINDS = {
    "batch_norm": BatchNorm(momentum=0.3),
    "batch_norm-momentum-none": BatchNorm(momentum=None),
    "batch_norm-no-affine": BatchNorm(affine=False),
    "batch_norm-after-activation": BatchNorm(position="after_activation"),
    "batch_norm-after-activation-no-affine-momentum-none": BatchNorm(
        position="after_activation", affine=False, momentum=None
    ),
    # Mini-batches of 10: virtual batches of 3, 3 and 4 (a last one of one row
    # joined to the one before); of 4, 4 and 2; of 10 (8 and a last 2, under
    # half of 8, joined). The full batch of 30: 8, 8, 8 and 6.
    "ghost-3-momentum-none": GhostBatchNorm(virtual_batch_size=3, momentum=None),
    "ghost-4": GhostBatchNorm(virtual_batch_size=4, momentum=0.2),
    "ghost-8": GhostBatchNorm(virtual_batch_size=8),
    "batch_renorm": BatchRenorm(momentum=0.2, renorm_momentum=0.3),
    # d_max a float32 number: Keras' torch backend rounds it to float32.
    "batch_renorm-clipped": BatchRenorm(r_max=1.5, d_max=0.5),
    "layer_norm": LayerNorm(),
    "layer_norm-no-affine": LayerNorm(affine=False, epsilon=1e-3),
    "rms_norm": RMSNorm(),
    "rms_norm-no-affine": RMSNorm(affine=False, epsilon=1e-3),
}


def _reference_step(name, dtype, batch_size):
    """One epoch of SGD of our network and of its reference from the same
    random state: the differences, and the reference's arrays."""
    pytest.importorskip("torch")
    kind = REFERENCE_KINDS[name]
    if kind.name == "batch_renorm":
        keras = pytest.importorskip("keras")
        if keras.backend.backend() != "torch":
            pytest.skip("Keras runs on another backend than torch")
    estimator, X, y = _network_at_random_state(
        kind, dtype, batch_size, renorm_far=name == "batch_renorm-clipped"
    )
    network = torch_network(estimator)
    estimator.partial_fit(X, y)
    sgd_epoch(estimator, network, X, y, batch_size, LEARNING_RATE)
    return _differences(estimator, network, X)


def _renorm_clipping(kind, dtype, batch_size, renorm_far):
    """Whether the first step clips r and d: (any clipped, all clipped)."""
    estimator, X, _ = _network_at_random_state(kind, dtype, batch_size, renorm_far)
    _, caches, _ = estimator._forward_train(X[:batch_size])
    r = np.concatenate([cache.normalization.r for cache in caches])
    d = np.concatenate([cache.normalization.d for cache in caches])
    r_clipped = np.isclose(r, kind.r_max) | np.isclose(r, 1 / kind.r_max)
    clipped = np.concatenate([r_clipped, np.isclose(np.abs(d), kind.d_max)])
    return clipped.any(), clipped.all()


@pytest.mark.parametrize("batch_size", [N_SAMPLES, 10], ids=["full-batch", "3-batches"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(REFERENCE_KINDS))
def test_sgd_steps_equal_the_reference_implementation(name, dtype, batch_size):
    """Weights, gammas and betas, statistics and inference output after one
    full-batch step, or three mini-batch steps, of SGD from the same state."""
    differences, theirs, expected = _reference_step(name, dtype, batch_size)
    assert set(differences) >= {"coefs_", "intercepts_", "predict"}
    for what, difference in differences.items():
        scale = max(
            1.0, np.max([np.abs(a).max() for a in theirs.get(what, [expected])])
        )
        assert difference <= TOLERANCE[dtype] * scale, (what, difference)


@pytest.mark.parametrize(
    "kind, renorm_far, clipped",
    [
        (REFERENCE_KINDS["batch_renorm"], False, False),
        (REFERENCE_KINDS["batch_renorm-clipped"], True, True),
    ],
)
def test_renorm_reference_cases_clip_as_intended(kind, renorm_far, clipped):
    # The clipped case clips r or d for some units, not all; the other none.
    for batch_size in (N_SAMPLES, 10):
        any_clipped, all_clipped = _renorm_clipping(
            kind, np.float64, batch_size, renorm_far
        )
        assert any_clipped == clipped
        assert not all_clipped


# Population statistics, ghost batches and momentum=None -----------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("position", ["before_activation", "after_activation"])
def test_population_statistics_are_the_exact_moments_layer_by_layer(
    position, weighted, dtype
):
    X, y = _regression(dtype, n_samples=40)
    rng = np.random.default_rng(0)
    sample_weight = rng.uniform(0.2, 3.0, size=len(X)) if weighted else None
    estimator = BatchNormMLPRegressor(
        (5, 4),
        batch_norm=BatchNorm(position=position, statistics="population"),
        batch_size=8,
        learning_rate_init=0.05,
        max_iter=3,
        random_state=0,
    )
    _quiet(estimator.fit, X, y, sample_weight=sample_weight)
    means, variances = population_statistics(estimator, X, sample_weight)
    for ours, expected in [
        (estimator.bn_running_means_, means),
        (estimator.bn_running_vars_, variances),
    ]:
        for a, b in zip(ours, expected, strict=True):
            assert_allclose(a, b, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])


@pytest.mark.parametrize("virtual_batch_size", [10, 64])
def test_ghost_batch_norm_of_whole_mini_batches_is_batch_norm(virtual_batch_size):
    X, y = _regression(n_samples=40)
    params = dict(hidden_layer_sizes=(5, 4), batch_size=10, max_iter=3, random_state=0)
    ghost = GhostBatchNorm(virtual_batch_size=virtual_batch_size, momentum=0.2)
    fitted = [
        _quiet(BatchNormMLPRegressor(batch_norm=kind, **params).fit, X, y)
        for kind in (ghost, BatchNorm(momentum=0.2))
    ]
    names = ["coefs_", "intercepts_", *BatchNorm().attribute_names]
    for name in names:
        for a, b in zip(*(getattr(e, name) for e in fitted), strict=True):
            assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    assert_allclose(fitted[0].predict(X), fitted[1].predict(X), rtol=1e-12)


@pytest.mark.parametrize(
    "kind, n_batches",
    [
        (BatchNorm(momentum=None), 4),
        (GhostBatchNorm(virtual_batch_size=5, momentum=None), 8),
    ],
)
def test_momentum_none_keeps_the_plain_average_of_the_batches(kind, n_batches):
    """The k-th (virtual) batch weighs 1 / k; the initial statistics nothing."""
    X, y = _regression(n_samples=40)
    # At a learning rate too small to move the weights, z is known.
    estimator = _quiet(
        BatchNormMLPRegressor(
            (5,),
            solver="sgd",
            learning_rate_init=1e-300,
            batch_size=10,
            shuffle=False,
            max_iter=1,
            batch_norm=kind,
            random_state=0,
        ).fit,
        X,
        y,
    )
    batches = np.split(X @ estimator.coefs_[0], n_batches)
    assert_allclose(
        estimator.bn_running_means_[0],
        np.mean([z.mean(axis=0) for z in batches], axis=0),
        rtol=1e-12,
    )
    assert_allclose(
        estimator.bn_running_vars_[0],
        np.mean([z.var(axis=0, ddof=1) for z in batches], axis=0),
        rtol=1e-12,
    )
    assert estimator.bn_num_batches_tracked_[0] == n_batches


# The parameters ------------------------------------------------------------------

PARAMS = [
    (
        BatchNorm,
        dict(
            momentum=None,
            epsilon=1e-3,
            position="after_activation",
            statistics="population",
            affine=False,
        ),
    ),
    (GhostBatchNorm, dict(virtual_batch_size=8, momentum=0.5, epsilon=1e-4)),
    (
        BatchRenorm,
        dict(momentum=0.2, renorm_momentum=0.3, epsilon=1e-4, r_max=2.0, d_max=1.0),
    ),
    (LayerNorm, dict(epsilon=1e-3, affine=False)),
    (RMSNorm, dict(epsilon=1e-3, affine=False)),
]
ALL_KINDS = [BatchNorm(), GhostBatchNorm(), BatchRenorm(), LayerNorm(), RMSNorm()]
BATCH_STATISTICS = (BatchNorm, GhostBatchNorm, BatchRenorm)


@pytest.mark.parametrize(
    "Kind, params", PARAMS, ids=lambda p: getattr(p, "__name__", "")
)
def test_each_kind_has_get_params_set_params_clone_and_repr(Kind, params):
    kind = Kind(**params)
    assert kind.get_params() == params
    copy = clone(kind)
    assert copy is not kind and copy.get_params() == params
    assert repr(Kind()) == f"{Kind.__name__}()"
    shown = repr(kind)
    assert shown.startswith(f"{Kind.__name__}(")
    for name, value in params.items():
        assert f"{name}={value!r}" in shown
    default = Kind()
    assert default.set_params(**params) is default
    assert default.get_params() == params
    # The same parameters, through the network.
    network = BatchNormMLPRegressor(batch_norm=Kind())
    network.set_params(**{f"batch_norm__{name}": v for name, v in params.items()})
    assert network.get_params()["batch_norm"].get_params() == params
    for name, value in params.items():
        assert network.get_params()[f"batch_norm__{name}"] == value


def test_grid_search_picks_a_normalization_and_its_momentum():
    X, y = _classification()
    network = BatchNormMLPClassifier(
        (8,), batch_size=10, learning_rate_init=0.05, max_iter=5, random_state=0
    )
    kinds = [BatchNorm(), BatchRenorm(), LayerNorm(), False]
    search = _quiet(GridSearchCV(network, {"batch_norm": kinds}, cv=2).fit, X, y)
    assert len(search.cv_results_["params"]) == 4
    assert any(search.best_params_["batch_norm"] is kind for kind in kinds)
    assert repr(search.best_estimator_.batch_norm) == repr(
        search.best_params_["batch_norm"]
    )

    # The nested momentum reaches each fit: score the momentum it trained with.
    def trained_momentum(estimator, X, y):
        return estimator._normalization.momentum

    grid = {
        "batch_norm": [BatchNorm(), BatchRenorm()],
        "batch_norm__momentum": [0.2, 0.5],
    }
    search = _quiet(
        GridSearchCV(network, grid, cv=2, scoring=trained_momentum).fit, X, y
    )
    momenta = [
        params["batch_norm__momentum"] for params in search.cv_results_["params"]
    ]
    assert_allclose(search.cv_results_["mean_test_score"], momenta)
    assert search.best_params_["batch_norm__momentum"] == 0.5
    assert search.best_estimator_.batch_norm.momentum == 0.5


@pytest.mark.parametrize(
    "kind, name",
    [
        (BatchNorm(position="x"), "position"),
        (BatchNorm(statistics="exact"), "statistics"),
        (BatchNorm(momentum=0.0), "momentum"),
        (GhostBatchNorm(virtual_batch_size=1), "virtual_batch_size"),
        (BatchRenorm(r_max=0.5), "r_max"),
        (BatchRenorm(d_max=-1.0), "d_max"),
        (LayerNorm(epsilon=0.0), "epsilon"),
        (RMSNorm(affine="yes"), "affine"),
    ],
)
def test_invalid_parameters_are_refused_naming_the_parameter(kind, name):
    X, y = _regression()
    message = f"The '{name}' parameter of {type(kind).__name__} must be"
    with pytest.raises(InvalidParameterError, match=re.escape(message)):
        BatchNormMLPRegressor((4,), batch_norm=kind).fit(X, y)


@pytest.mark.parametrize("kind", [GhostBatchNorm(), BatchRenorm()])
def test_lbfgs_is_refused_for_kinds_it_cannot_train(kind):
    X, y = _regression()
    with pytest.raises(ValueError, match=r"cannot be trained with solver='lbfgs'"):
        BatchNormMLPRegressor((4,), solver="lbfgs", batch_norm=kind).fit(X, y)


@pytest.mark.parametrize("kind", [*ALL_KINDS, False], ids=repr)
def test_one_row_partial_fit_is_refused_only_with_batch_statistics(kind):
    X, y = _regression()
    fresh = BatchNormMLPRegressor((4,), batch_norm=kind, random_state=0)
    trained = BatchNormMLPRegressor((4,), batch_norm=kind, random_state=0)
    trained.partial_fit(X, y)
    if isinstance(kind, BATCH_STATISTICS):
        for network in (fresh, trained):
            with pytest.raises(ValueError, match="needs at least 2 samples"):
                network.partial_fit(X[:1], y[:1])
        assert not hasattr(fresh, "coefs_")
    else:
        fresh.partial_fit(X[:1], y[:1])
        trained.partial_fit(X[:1], y[:1])
        assert np.isfinite(trained.predict(X)).all()


def test_deprecated_bn_momentum_and_bn_epsilon_train_as_batch_norm():
    X, y = _regression()
    params = dict(hidden_layer_sizes=(4,), max_iter=3, random_state=0)
    with pytest.warns(
        FutureWarning, match="bn_momentum and bn_epsilon were deprecated"
    ):
        old = _quiet(
            BatchNormMLPRegressor(bn_momentum=0.3, bn_epsilon=1e-3, **params).fit, X, y
        )
    new = _quiet(
        BatchNormMLPRegressor(
            batch_norm=BatchNorm(momentum=0.3, epsilon=1e-3), **params
        ).fit,
        X,
        y,
    )
    assert old._normalization.get_params() == new._normalization.get_params()
    for a, b in zip(old._state(), new._state(), strict=True):
        assert_allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize("kind", [BatchNorm(), LayerNorm()], ids=repr)
def test_deprecated_bn_momentum_with_a_normalization_object_is_an_error(kind):
    X, y = _regression()
    network = BatchNormMLPRegressor((4,), batch_norm=kind, bn_momentum=0.3)
    with pytest.raises(ValueError, match=r"bn_momentum apply to batch_norm=True only"):
        network.fit(X, y)


@pytest.mark.parametrize(
    "first, second",
    [
        (BatchNorm(), LayerNorm()),
        (BatchNorm(), BatchNorm(position="after_activation")),
        (BatchNorm(), BatchNorm(affine=False)),
        (LayerNorm(), LayerNorm(affine=False)),
        (RMSNorm(), False),
        (BatchNorm(), BatchRenorm()),
    ],
    ids=repr,
)
@pytest.mark.parametrize("how", ["warm_start", "partial_fit"])
def test_continuing_with_another_kind_position_or_affine_is_an_error(
    first, second, how
):
    X, y = _regression()
    network = _quiet(
        BatchNormMLPRegressor((4,), batch_norm=first, max_iter=2, random_state=0).fit,
        X,
        y,
    )
    network.set_params(batch_norm=second, warm_start=True)
    with pytest.raises(ValueError, match="kind, position or affine"):
        network.fit(X, y) if how == "warm_start" else network.partial_fit(X, y)


def test_momentum_may_change_between_partial_fit_calls():
    X, y = _regression()
    network = BatchNormMLPRegressor(
        (4,), batch_norm=BatchNorm(momentum=0.1), batch_size=len(X), random_state=0
    )
    network.partial_fit(X, y)
    coef = network.coefs_[0].copy()
    network.set_params(batch_norm__momentum=1.0)
    network.partial_fit(X, y)
    # Momentum 1: the running mean is the one full batch's mean.
    assert_allclose(network.bn_running_means_[0], (X @ coef).mean(axis=0), rtol=1e-12)
    assert network._normalization.momentum == 1.0


@pytest.mark.parametrize(
    "kind", [BatchNorm(), BatchRenorm(), LayerNorm(), RMSNorm(), False], ids=repr
)
def test_integer_weights_equal_repeated_rows_in_one_full_batch(kind):
    X, y = _regression(n_samples=20)
    weights = np.arange(20) % 4  # 0 (no row), 1, 2 or 3 copies
    params = dict(
        hidden_layer_sizes=(5, 4), max_iter=3, random_state=0, batch_norm=kind
    )
    weighted = _quiet(
        BatchNormMLPRegressor(batch_size=20, **params).fit, X, y, sample_weight=weights
    )
    repeated = _quiet(
        BatchNormMLPRegressor(batch_size=int(weights.sum()), **params).fit,
        np.repeat(X, weights, axis=0),
        np.repeat(y, weights, axis=0),
    )
    for a, b in zip(weighted._state(), repeated._state(), strict=True):
        assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    assert_allclose(weighted.predict(X), repeated.predict(X), rtol=1e-10)


def test_ghost_batch_norm_weights_equal_repeated_rows_of_matching_virtual_batches():
    # Pairs of rows whose weights sum to 4 are the virtual batches of 4 rows
    # of the repeated data.
    X, y = _regression(n_samples=20)
    weights = np.tile([1, 3, 2, 2, 4, 0, 3, 1], 3)[:20]
    params = dict(hidden_layer_sizes=(5, 4), max_iter=3, shuffle=False, random_state=0)
    weighted = _quiet(
        BatchNormMLPRegressor(
            batch_size=20, batch_norm=GhostBatchNorm(virtual_batch_size=2), **params
        ).fit,
        X,
        y,
        sample_weight=weights,
    )
    repeated = _quiet(
        BatchNormMLPRegressor(
            batch_size=int(weights.sum()),
            batch_norm=GhostBatchNorm(virtual_batch_size=4),
            **params,
        ).fit,
        np.repeat(X, weights, axis=0),
        np.repeat(y, weights, axis=0),
    )
    for a, b in zip(weighted._state(), repeated._state(), strict=True):
        assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    assert_allclose(weighted.predict(X), repeated.predict(X), rtol=1e-10)


@pytest.mark.parametrize("kind", [*ALL_KINDS, False], ids=repr)
def test_early_stopping_and_warm_start_train_every_kind(kind):
    X, y = _classification()
    params = dict(
        batch_norm=kind, batch_size=10, learning_rate_init=0.05, random_state=0
    )
    stopped = _quiet(
        BatchNormMLPClassifier(
            (8,), early_stopping=True, n_iter_no_change=2, max_iter=20, **params
        ).fit,
        X,
        y,
    )
    assert len(stopped.validation_scores_) == stopped.n_iter_
    assert stopped.best_validation_score_ == max(stopped.validation_scores_)
    # Better than always the largest class.
    assert stopped.score(X, y) > np.bincount(y).max() / len(y)
    warm = _quiet(
        BatchNormMLPClassifier((8,), max_iter=3, warm_start=True, **params).fit, X, y
    )
    first = [a.copy() for a in warm._state()]
    _quiet(warm.fit, X, y)
    assert warm.t_ == 6 * len(X)
    assert len(warm.loss_curve_) == 6
    assert any(
        not np.array_equal(a, b) for a, b in zip(first, warm._state(), strict=True)
    )


@pytest.mark.parametrize("kind", [*ALL_KINDS, False], ids=repr)
def test_set_params_after_fit_leaves_predict_unchanged(kind):
    X, y = _regression()
    network = _quiet(
        BatchNormMLPRegressor((4,), batch_norm=kind, max_iter=3, random_state=0).fit,
        X,
        y,
    )
    before = network.predict(X)
    for other in [*ALL_KINDS, False]:
        network.set_params(batch_norm=other)
        assert_allclose(network.predict(X), before, rtol=0, atol=0)


@pytest.mark.parametrize(
    "kind",
    [
        BatchNorm(momentum=None),
        BatchNorm(position="after_activation", statistics="population"),
        GhostBatchNorm(virtual_batch_size=8, momentum=None),
        GhostBatchNorm(virtual_batch_size=8),
        BatchRenorm(),
        LayerNorm(),
        RMSNorm(),
    ],
    ids=repr,
)
def test_float32_data_keeps_every_fitted_array_float32(kind):
    # momentum=None's 1 / k used to be a numpy float64, which made the running
    # statistics of a float32 network float64.
    X, y = _classification()
    mlp = _quiet(
        BatchNormMLPClassifier(batch_norm=kind, batch_size=16, **SMALL).fit,
        X.astype(np.float32),
        y,
    )
    for name in mlp._normalization.attribute_names:
        expected = np.int64 if name == "bn_num_batches_tracked_" else np.float32
        assert {array.dtype for array in getattr(mlp, name)} == {np.dtype(expected)}


def test_batch_norm_true_is_batch_norm_with_its_defaults_bit_for_bit():
    X, y = _classification()
    fits = [
        _quiet(
            BatchNormMLPClassifier(
                batch_norm=batch_norm, batch_size=16, random_state=0, **SMALL
            ).fit,
            X,
            y,
        )
        for batch_norm in (True, BatchNorm())
    ]
    for name in ("coefs_", "intercepts_", *fits[0]._normalization.attribute_names):
        for a, b in zip(getattr(fits[0], name), getattr(fits[1], name), strict=True):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(fits[0].predict_proba(X), fits[1].predict_proba(X))


@pytest.mark.parametrize(
    "kind",
    [
        BatchNorm(),
        BatchNorm(momentum=None),
        BatchNorm(position="after_activation"),
        GhostBatchNorm(virtual_batch_size=4),
    ],
    ids=repr,
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weighted", [False, True])
def test_statistics_stepped_once_an_epoch_are_those_stepped_every_mini_batch(
    kind, dtype, weighted, monkeypatch
):
    # A kind whose forward pass does not read its statistics has them stepped
    # for a whole epoch in one _update_many call per layer: the bits of a step
    # after each mini-batch (statistics_in_training forces those).
    rng = np.random.default_rng(0)
    X = rng.standard_normal((70, 5)).astype(dtype)
    y = rng.integers(0, 3, 70)
    sample_weight = rng.uniform(0.5, 2.0, 70) if weighted else None
    calls = []
    update_many = type(kind)._update_many

    def counted(self, statistics, batch_stats):
        calls.append(len(batch_stats))
        return update_many(self, statistics, batch_stats)

    monkeypatch.setattr(type(kind), "_update_many", counted)

    def fit():
        network = BatchNormMLPClassifier(
            (6, 4), batch_norm=clone(kind), batch_size=16, max_iter=3, random_state=0
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return network.fit(X, y, sample_weight=sample_weight)

    once_an_epoch = fit()
    # 4 mini-batches (the last 6 rows join the one before), 3 epochs, 2 layers.
    assert calls == [4] * 6
    calls.clear()
    # At most _PENDING_BATCHES mini-batches a call, whatever the epoch's length.
    monkeypatch.setattr(_training, "_PENDING_BATCHES", 3)
    three_at_most = fit()
    assert calls == [3, 3, 1, 1] * 3
    calls.clear()
    monkeypatch.setattr(type(kind), "statistics_in_training", True)
    every_mini_batch = fit()
    assert calls == [1] * 24
    for name in kind.statistics_names:
        for network in (once_an_epoch, three_at_most):
            for got, expected in zip(
                getattr(network, name), getattr(every_mini_batch, name), strict=True
            ):
                np.testing.assert_array_equal(got, expected, strict=True)


def test_statistics_take_no_step_without_a_mini_batch():
    statistics = (np.zeros(3), np.ones(3), np.asarray(5, dtype=np.int64))
    for kind in (BatchNorm(), BatchNorm(momentum=None), GhostBatchNorm()):
        stepped = kind._update_many(statistics, [])
        assert all(a is b for a, b in zip(stepped, statistics, strict=True))
